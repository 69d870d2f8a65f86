"""What a person sees and hears while an action runs and once it is done: the button says what is
happening, and focus lands on the answer, not at the top of the page."""

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import card, open_order, refund_button

pytestmark = pytest.mark.django_db(transaction=True)


def test_while_the_provider_is_called_the_button_shows_progress(
    page, log_in, agent, make_payment, sandbox, sandbox_server, settings, screenshot
):
    # given: Bambora carries the refund out, then holds its answer until the test releases it
    settings.PROVIDER_TIMEOUT = 60  # long enough never to give up on the held answer first
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="held")
    log_in(agent)
    open_order(page, payment.order.number)
    bambora = card(page, "Bambora")
    bambora.get_by_label("Amount").fill("30.00")
    bambora.get_by_label("Reason").select_option(label="Goodwill")

    # when
    refund_button(bambora).click()
    assert sandbox_server.sandbox.wait_for_held(1, provider="bambora", endpoint="refund")

    # then: while Bambora holds its answer
    busy = bambora.get_by_role("button", name="Refunding…")
    expect(busy).to_be_visible()
    expect(busy).to_be_disabled()
    expect(bambora).to_have_attribute("aria-busy", "true")
    screenshot("refund-in-progress")

    # and once it answers, the card shows the new aggregate
    sandbox.release()
    expect(bambora.get_by_role("status")).to_have_text("Refunded 30.00\xa0EUR.")
    expect(bambora).not_to_have_attribute("aria-busy", "true")
    expect(bambora.locator("dt:text-is('Refundable') + dd")).to_have_text("170.00\xa0EUR")
    expect(refund_button(bambora)).to_be_enabled()
    assert sandbox.payment(provider="bambora", reference=payment.reference)["refunded"] == 3_000


def test_after_a_refund_by_keyboard_focus_is_on_its_notice(page, log_in, agent, make_payment, sandbox, screenshot):
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)
    log_in(agent)
    open_order(page, payment.order.number)
    bambora = card(page, "Bambora")

    bambora.get_by_label("Amount").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("20.00")
    page.keyboard.press("Tab")
    expect(bambora.get_by_role("button", name="Whole refundable amount")).to_be_focused()
    page.keyboard.press("Tab")
    expect(bambora.get_by_label("Reason")).to_be_focused()
    bambora.get_by_label("Reason").select_option(label="Customer request")
    page.keyboard.press("Tab")
    expect(bambora.get_by_label("Note")).to_be_focused()
    page.keyboard.press("Tab")
    expect(refund_button(bambora)).to_be_focused()
    page.keyboard.press("Enter")

    notice = bambora.get_by_role("status")
    expect(notice).to_have_text("Refunded 20.00\xa0EUR.")
    expect(notice).to_be_focused()
    screenshot("refund-done-by-keyboard")


def test_an_invalid_amount_by_keyboard_puts_focus_on_the_field(page, log_in, agent, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)
    log_in(agent)
    open_order(page, payment.order.number)
    bambora = card(page, "Bambora")
    bambora.get_by_label("Amount").fill("10.001")
    bambora.get_by_label("Reason").select_option(label="Goodwill")

    refund_button(bambora).focus()
    page.keyboard.press("Enter")

    expect(bambora.get_by_text("EUR amounts have at most 2 decimals.")).to_be_visible()
    expect(bambora.get_by_label("Amount")).to_be_focused()


def test_the_search_field_is_described_on_every_page(page, log_in, agent, make_payment):
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)
    log_in(agent)

    open_order(page, payment.order.number)

    expect(page.get_by_label("Search")).to_have_accessible_description(
        "Finds orders by order number or its beginning, provider reference, customer name or the "
        "beginnings of its words, or email or its beginning; an order found alone opens. Press “/” to "
        "come here from anywhere."
    )


def test_the_approval_warning_is_announced_as_it_appears(page, log_in, agent, make_payment):
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    log_in(agent)
    open_order(page, payment.order.number)
    bambora = card(page, "Bambora")

    bambora.get_by_label("Amount").fill("600.00")

    warning = bambora.get_by_text("This amount needs a manager’s approval")
    expect(warning).to_be_visible()
    # Shown inside a live region that was there before: screen readers announce the change.
    expect(warning.locator("xpath=ancestor::*[@aria-live='polite']")).to_have_count(1)


def test_escape_backs_out_of_the_cancel_confirmation(page, log_in, agent, make_payment, sandbox, screenshot):
    payment = make_payment("bambora", currency="EUR", amount=12_000)
    log_in(agent)
    open_order(page, payment.order.number)
    bambora = card(page, "Bambora")
    bambora.get_by_role("button", name="Cancel payment").click()
    expect(bambora.get_by_role("link", name="Keep the payment")).to_be_focused()
    screenshot("cancel-confirmation")

    page.keyboard.press("Escape")

    expect(bambora.get_by_role("button", name="Confirm cancellation")).to_have_count(0)
    expect(bambora.get_by_role("button", name="Cancel payment")).to_be_focused()
    expect(bambora.locator("dt:text-is('Cancelled') + dd")).to_have_text("0.00\xa0EUR")
    assert sandbox.requests("bambora") == []


def test_keep_the_payment_by_keyboard_returns_to_cancel_payment(page, log_in, agent, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=12_000)
    log_in(agent)
    open_order(page, payment.order.number)
    bambora = card(page, "Bambora")
    bambora.get_by_role("button", name="Cancel payment").click()
    # The safe choice has focus: Enter by habit keeps the money where it is.
    expect(bambora.get_by_role("link", name="Keep the payment")).to_be_focused()

    page.keyboard.press("Enter")

    expect(bambora.get_by_role("button", name="Cancel payment")).to_be_focused()
    assert sandbox.requests("bambora") == []


def test_escape_works_from_the_moment_the_confirmation_appears(page, log_in, agent, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=12_000)
    log_in(agent)
    open_order(page, payment.order.number)
    # A person quicker than the page: Escape as soon as the confirmation is in it.
    page.evaluate("""() => new MutationObserver((changes, observer) => {
        const confirm = document.querySelector(".confirm");
        if (!confirm) return;
        observer.disconnect();
        confirm.dispatchEvent(new KeyboardEvent("keydown", {key: "Escape", bubbles: true}));
        document.body.dataset.escapedAtOnce = "yes";
    }).observe(document.body, {childList: true, subtree: true})""")
    bambora = card(page, "Bambora")

    bambora.get_by_role("button", name="Cancel payment").click()
    expect(page.locator("body[data-escaped-at-once]")).to_have_count(1)

    expect(bambora.get_by_role("button", name="Confirm cancellation")).to_have_count(0)
    expect(bambora.get_by_role("button", name="Cancel payment")).to_be_focused()
    assert sandbox.requests("bambora") == []
