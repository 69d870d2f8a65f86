"""Refunds by line in a real browser: the agent picks items, sees the amount and what the button
will do, and refunds; with the keyboard alone, without JavaScript, and in their own locale."""

import pytest
from playwright.sync_api import expect

from backoffice.models import Preferences
from payments.models import RefundLine
from payments.services.orders import NewLine
from tests.browser.helpers import card, open_order, refund_button

pytestmark = pytest.mark.django_db(transaction=True)

TENT = NewLine(sku="TENT-2P", name="Tent, 2 persons", quantity=1, unit_price=30_000)
PEGS = NewLine(sku="PEG-10", name="Tent pegs, 10", quantity=3, unit_price=1_000, tax=100)
SHIPPING = 900
TOTAL = TENT.total + PEGS.total + SHIPPING  # 340.00 EUR


@pytest.fixture
def itemized(make_payment):
    return make_payment("bambora", currency="EUR", amount=TOTAL, captured=TOTAL, lines=[TENT, PEGS],
                        shipping=SHIPPING)


def items_row(page, name):
    return page.get_by_role("table", name="Items").get_by_role("row").filter(
        has=page.get_by_role("rowheader", name=name, exact=True))


def test_refund_two_items_by_line(page, log_in, agent, itemized, sandbox, screenshot):
    log_in(agent)
    open_order(page, itemized.order.number)
    expect(items_row(page, "Tent pegs, 10")).to_contain_text("None")
    bambora = card(page, "Bambora")

    bambora.get_by_label("Refund quantity for Tent pegs, 10").fill("2")
    bambora.get_by_label("Include shipping").check()

    # Two thirds of the pegs' 31.00, rounded down, and the shipping: as the server computes it.
    expect(bambora.get_by_label("Amount")).to_have_value("29.66")
    expect(refund_button(bambora)).to_have_accessible_name("Refund 29.66\xa0EUR")
    screenshot("refund-by-line")
    bambora.get_by_label("Reason").select_option(label="Returned goods")
    refund_button(bambora).click()

    expect(bambora.get_by_role("status")).to_have_text("Refunded 29.66\xa0EUR.")
    expect(items_row(page, "Tent pegs, 10")).to_contain_text("2 of 3")
    expect(items_row(page, "Shipping")).to_contain_text("Refunded")
    expect(bambora.get_by_label("Refund quantity for Tent pegs, 10")).to_have_attribute("max", "1")
    expect(bambora.get_by_label("Include shipping")).to_have_count(0)
    assert sandbox.payment(provider="bambora", reference=itemized.reference)["refunded"] == 2_966
    assert sorted(RefundLine.objects.values_list("quantity", "amount")) == [(1, 900), (2, 2_066)]
    screenshot("refund-by-line-done")


def test_the_computed_amount_can_be_lowered_and_the_button_follows(page, log_in, agent, itemized, sandbox):
    log_in(agent)
    open_order(page, itemized.order.number)
    bambora = card(page, "Bambora")
    bambora.get_by_label("Refund quantity for Tent, 2 persons").fill("1")
    expect(bambora.get_by_label("Amount")).to_have_value("300.00")

    bambora.get_by_label("Amount").fill("250.00")
    expect(refund_button(bambora)).to_have_accessible_name("Refund 250.00\xa0EUR")
    bambora.get_by_label("Reason").select_option(label="Damaged")
    refund_button(bambora).click()

    expect(bambora.get_by_role("status")).to_have_text("Refunded 250.00\xa0EUR.")
    expect(items_row(page, "Tent, 2 persons")).to_contain_text("All 1")
    expect(bambora.get_by_label("Refund quantity for Tent, 2 persons")).to_have_count(0)


def test_refund_by_line_without_javascript(browser, live_server, agent, itemized, sandbox):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("agent")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    open_order(page, itemized.order.number)
    bambora = card(page, "Bambora")

    bambora.get_by_label("Refund quantity for Tent pegs, 10").fill("3")
    bambora.get_by_role("button", name="Compute amount").click()

    bambora = card(page, "Bambora")
    expect(bambora.get_by_label("Amount")).to_have_value("31.00")
    expect(refund_button(bambora)).to_have_accessible_name("Refund 31.00\xa0EUR")
    bambora.get_by_label("Reason").select_option(label="Returned goods")
    refund_button(bambora).click()

    expect(page.get_by_role("status").first).to_have_text("Refunded 31.00\xa0EUR.")
    expect(items_row(page, "Tent pegs, 10")).to_contain_text("All 3")

    # "Whole refundable amount" fills the form in by asking the server.
    card(page, "Bambora").get_by_role("button", name="Whole refundable amount").click()
    expect(card(page, "Bambora").get_by_label("Amount")).to_have_value("309.00")
    context.close()


def test_an_amount_in_the_agents_locale_and_the_approval_it_needs(page, log_in, agent, make_payment, sandbox):
    Preferences.objects.create(user=agent, money_locale="nb")
    payment = make_payment("vipps", currency="NOK", amount=900_000, captured=900_000)
    log_in(agent)
    open_order(page, payment.order.number)
    vipps = card(page, "Vipps MobilePay")
    warning = vipps.get_by_text("This amount needs a manager’s approval")

    vipps.get_by_label("Amount").fill("kr 1.234,50")
    expect(refund_button(vipps)).to_have_accessible_name("Refund 1\xa0234,50\xa0NOK")
    expect(warning).to_be_hidden()
    vipps.get_by_label("Amount").fill("5 000,01")
    expect(warning).to_be_visible()
    expect(refund_button(vipps)).to_have_accessible_name("Request approval")
    vipps.get_by_label("Amount").fill("12.50")  # a point, where Norwegians write a comma: the server asks
    expect(refund_button(vipps)).to_have_accessible_name("Refund")
    vipps.get_by_label("Reason").select_option(label="Goodwill")
    refund_button(vipps).click()
    expect(vipps.get_by_text("did you mean 1\xa0250,00 or 12,50?")).to_be_visible()

    vipps.get_by_label("Amount").fill("1 234,50")
    refund_button(vipps).click()

    expect(vipps.get_by_role("status")).to_have_text("Refunded 1\xa0234,50\xa0NOK.")
    assert sandbox.payment(provider="vipps", reference=payment.reference)["refunded"] == 123_450


def tab_to(page, locator, *, limit=60):
    """Press Tab until `locator` has focus, as a keyboard user moves through the page."""
    for _ in range(limit):
        if locator.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {locator}")


def test_a_refund_by_line_with_the_keyboard_alone(page, log_in, agent, itemized, sandbox, screenshot):
    log_in(agent)
    page.get_by_label("Search").focus()
    page.keyboard.type(itemized.order.number)
    page.keyboard.press("Enter")
    bambora = card(page, "Bambora")

    tab_to(page, bambora.get_by_label("Refund quantity for Tent pegs, 10"))
    page.keyboard.type("1")
    page.keyboard.press("Tab")
    expect(bambora.get_by_label("Include shipping")).to_be_focused()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    expect(bambora.get_by_label("Amount")).to_be_focused()
    expect(bambora.get_by_label("Amount")).to_have_value("19.33")  # 10.33 of pegs, 9.00 shipping
    page.keyboard.press("Tab")
    expect(bambora.get_by_role("button", name="Whole refundable amount")).to_be_focused()
    page.keyboard.press("Tab")
    expect(bambora.get_by_label("Reason")).to_be_focused()
    page.keyboard.press("ArrowDown")  # the first reason: "Customer request"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(refund_button(bambora)).to_be_focused()
    expect(refund_button(bambora)).to_have_accessible_name("Refund 19.33\xa0EUR")
    page.keyboard.press("Enter")

    notice = bambora.get_by_role("status")
    expect(notice).to_have_text("Refunded 19.33\xa0EUR.")
    expect(notice).to_be_focused()
    expect(items_row(page, "Tent pegs, 10")).to_contain_text("1 of 3")
    screenshot("refund-by-line-keyboard")
