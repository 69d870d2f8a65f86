"""The agent's journeys in a real browser: log in, find an order, refund, cancel, resolve an
unknown outcome. Elements are found by their labels and roles, as a person finds them."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import card, open_order, refund_button

pytestmark = pytest.mark.django_db(transaction=True)


def test_log_in_and_out(page, agent):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))

    page.get_by_label("Username").fill("agent")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("didn’t match")

    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_label("Password").press("Enter")
    expect(page.get_by_role("heading", name="Newest orders")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def test_search_by_each_key(page, log_in, agent, make_payment):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000,
                           reference="shop-ref-" + "x" * 1500, customer_email="Kari@Example.com")
    log_in(agent)

    open_order(page, payment.order.number)

    page.get_by_label("Search").fill(payment.reference)
    page.get_by_label("Search").press("Enter")
    expect(page.get_by_role("heading", name=f"Order {payment.order.number}")).to_be_visible()

    # An order found alone opens, whatever found it.
    for query in ["KARI@example.com", "kari@ex", payment.order.number[:-1], "kari nord"]:
        page.goto("/")
        page.get_by_label("Search").fill(query)
        page.get_by_label("Search").press("Enter")
        expect(page.get_by_role("heading", name=f"Order {payment.order.number}")).to_be_visible()


def test_refund_part_then_the_rest(page, log_in, agent, make_payment, sandbox, screenshot):
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)
    log_in(agent)
    open_order(page, payment.order.number)
    bambora = card(page, "Bambora")
    # Nothing is refunded by accident: the amount starts empty, and the button says so.
    expect(bambora.get_by_label("Amount")).to_have_value("")
    expect(refund_button(bambora)).to_have_accessible_name("Refund")
    screenshot("order-page")

    bambora.get_by_label("Amount").fill("50.00")
    expect(refund_button(bambora)).to_have_accessible_name("Refund 50.00\xa0EUR")
    bambora.get_by_label("Reason").select_option(label="Returned goods")
    refund_button(bambora).click()

    expect(bambora.get_by_role("status")).to_have_text("Refunded 50.00\xa0EUR.")
    expect(bambora.locator("dt:text-is('Refundable') + dd")).to_have_text("150.00\xa0EUR")
    expect(bambora.get_by_label("Amount")).to_have_value("")

    bambora.get_by_role("button", name="Whole refundable amount").click()
    expect(bambora.get_by_label("Amount")).to_have_value("150.00")
    bambora.get_by_label("Reason").select_option(label="Returned goods")
    expect(refund_button(bambora)).to_have_accessible_name("Refund 150.00\xa0EUR")
    refund_button(bambora).click()

    expect(bambora.get_by_role("status")).to_have_text("Refunded 150.00\xa0EUR.")
    expect(bambora.locator("dt:text-is('Refunded') + dd")).to_have_text("200.00\xa0EUR")
    expect(refund_button(bambora)).to_have_count(0)
    assert sandbox.payment(provider="bambora", reference=payment.reference)["refunded"] == 20_000
    screenshot("order-page-after-refunds")


def test_a_refusal_shows_the_providers_reason(page, log_in, agent, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000, at_provider=False)
    sandbox.create_payment(provider="bambora", reference=payment.reference, currency="EUR", amount=20_000)
    log_in(agent)
    open_order(page, payment.order.number)
    bambora = card(page, "Bambora")

    bambora.get_by_role("button", name="Whole refundable amount").click()
    bambora.get_by_label("Reason").select_option(label="Damaged")
    refund_button(bambora).click()

    expect(bambora.get_by_role("alert").first).to_contain_text("Not refunded: Bambora refused the refund")
    expect(bambora.locator("dt:text-is('Refunded') + dd")).to_have_text("0.00\xa0EUR")


def test_invalid_amount_is_explained_in_place(page, log_in, agent, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)
    log_in(agent)
    open_order(page, payment.order.number)
    bambora = card(page, "Bambora")

    bambora.get_by_label("Amount").fill("10.001")
    bambora.get_by_label("Reason").select_option(label="Goodwill")
    refund_button(bambora).click()

    expect(bambora.get_by_text("EUR amounts have at most 2 decimals.")).to_be_visible()
    assert sandbox.requests("bambora") == []


def test_cancel_with_confirmation(page, log_in, agent, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=12_000)
    log_in(agent)
    open_order(page, payment.order.number)
    bambora = card(page, "Bambora")

    bambora.get_by_role("button", name="Cancel payment").click()
    expect(bambora.get_by_text("120.00\xa0EUR of the authorization will be released")).to_be_visible()
    expect(bambora.get_by_role("button", name="Confirm cancellation")).not_to_be_focused()
    expect(bambora.get_by_role("link", name="Keep the payment")).to_be_focused()
    bambora.get_by_role("button", name="Confirm cancellation").click()

    expect(bambora.get_by_role("status")).to_have_text("Cancelled: 120.00\xa0EUR released.")
    expect(bambora.locator("dt:text-is('Cancelled') + dd")).to_have_text("120.00\xa0EUR")
    assert sandbox.payment(provider="bambora", reference=payment.reference)["cancelled"] == 12_000


def test_unknown_outcome_then_check_with_provider(page, log_in, agent, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="lost_answer")
    log_in(agent)
    open_order(page, payment.order.number)
    bambora = card(page, "Bambora")

    bambora.get_by_label("Amount").fill("30.00")
    bambora.get_by_label("Reason").select_option(label="Customer request")
    refund_button(bambora).click()

    expect(bambora.get_by_role("alert").first).to_contain_text("Outcome unknown.")
    expect(bambora.locator("dt:text-is('Refundable') + dd")).to_have_text("170.00\xa0EUR")
    bambora.get_by_role("button", name="Check with provider").click()

    expect(bambora.get_by_role("status")).to_contain_text("The provider confirms the refund.")
    expect(bambora.locator("dt:text-is('Refunded') + dd")).to_have_text("30.00\xa0EUR")
    expect(bambora.get_by_role("button", name="Check with provider")).to_have_count(0)


def test_a_double_click_refunds_once(page, log_in, agent, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)
    log_in(agent)
    open_order(page, payment.order.number)
    bambora = card(page, "Bambora")

    bambora.get_by_label("Amount").fill("10.00")
    bambora.get_by_label("Reason").select_option(label="Customer request")
    refund_button(bambora).dblclick()

    expect(bambora.get_by_role("status")).to_have_text("Refunded 10.00\xa0EUR.")
    assert sandbox.payment(provider="bambora", reference=payment.reference)["operations"] == [
        {"kind": "refund", "amount": 1_000}
    ]


def test_works_without_javascript(browser, live_server, agent, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("agent")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    open_order(page, payment.order.number)
    bambora = card(page, "Bambora")

    bambora.get_by_label("Amount").fill("20.00")
    bambora.get_by_label("Reason").select_option(label="Goodwill")
    refund_button(bambora).click()

    expect(page.get_by_role("status").first).to_have_text("Refunded 20.00\xa0EUR.")
    expect(card(page, "Bambora").locator("dt:text-is('Refunded') + dd")).to_have_text("20.00\xa0EUR")
    context.close()


def test_the_order_page_fits_a_narrow_window_and_works_by_keyboard(page, log_in, agent, make_payment, sandbox, screenshot):
    payment = make_payment("vipps", currency="NOK", amount=150_000, captured=100_000,
                           reference="acme-100045-1")
    log_in(agent)
    page.set_viewport_size({"width": 390, "height": 844})
    open_order(page, payment.order.number)
    screenshot("order-page-narrow")

    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    vipps = card(page, "Vipps MobilePay")
    vipps.get_by_label("Amount").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("100.00")
    page.keyboard.press("Tab")
    expect(vipps.get_by_role("button", name="Whole refundable amount")).to_be_focused()
    page.keyboard.press("Tab")
    expect(vipps.get_by_label("Reason")).to_be_focused()
    vipps.get_by_label("Reason").select_option(label="Damaged")
    vipps.get_by_label("Amount").press("Enter")

    expect(vipps.get_by_role("status")).to_have_text("Refunded 100.00\xa0NOK.")


@pytest.mark.parametrize("width", [1280, 390])
def test_the_user_and_log_out_sit_at_the_right_end_of_the_top_bar(page, log_in, agent, make_payment, screenshot, width):
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)
    page.set_viewport_size({"width": width, "height": 800})
    log_in(agent)
    open_order(page, payment.order.number)
    screenshot(f"top-bar-{width}")

    bar = page.locator("header.topbar").bounding_box()
    padding = page.locator("header.topbar").evaluate("bar => parseFloat(getComputedStyle(bar).paddingRight)")
    log_out = page.get_by_role("button", name="Log out").bounding_box()
    user = page.locator("header.topbar").get_by_text("agent", exact=True).bounding_box()

    assert abs((log_out["x"] + log_out["width"]) - (bar["x"] + bar["width"] - padding)) < 1
    assert user["x"] + user["width"] <= log_out["x"]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
