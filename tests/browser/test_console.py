"""The browser's console stays clean through the desk's actions, and what goes wrong is said in
the page: nothing refused by the Content Security Policy, no htmx complaint, no missing file."""

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import card, open_order, refund_button

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def console_errors(page):
    """Errors the page reports from now on: console errors (CSP refusals, htmx's complaints,
    failed loads) and uncaught exceptions."""
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    return errors


def test_no_console_errors_during_a_refund_a_cancel_and_a_check_with_provider(
    page, log_in, agent, make_payment, sandbox, console_errors
):
    refunded = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)
    cancelled = make_payment("bambora", currency="EUR", amount=12_000)
    unknown = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)
    log_in(agent)

    # a refund
    open_order(page, refunded.order.number)
    bambora = card(page, "Bambora")
    bambora.get_by_label("Amount").fill("50.00")
    bambora.get_by_label("Reason").select_option(label="Returned goods")
    refund_button(bambora).click()
    expect(bambora.get_by_role("status")).to_have_text("Refunded 50.00\xa0EUR.")

    # a cancel, changing one's mind once first
    open_order(page, cancelled.order.number)
    bambora = card(page, "Bambora")
    bambora.get_by_role("button", name="Cancel payment").click()
    bambora.get_by_role("link", name="Keep the payment").click()
    expect(bambora.get_by_role("button", name="Confirm cancellation")).to_have_count(0)
    bambora.get_by_role("button", name="Cancel payment").click()
    bambora.get_by_role("button", name="Confirm cancellation").click()
    expect(bambora.get_by_role("status")).to_have_text("Cancelled: 120.00\xa0EUR released.")

    # a refund of unknown outcome, then a check with the provider
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="lost_answer")
    open_order(page, unknown.order.number)
    bambora = card(page, "Bambora")
    bambora.get_by_label("Amount").fill("30.00")
    bambora.get_by_label("Reason").select_option(label="Customer request")
    refund_button(bambora).click()
    bambora.get_by_role("button", name="Check with provider").click()
    expect(bambora.get_by_role("status")).to_contain_text("The provider confirms the refund.")

    assert console_errors == []
    # htmx adds no style of its own (the policy would refuse it): the desk's CSS has its classes.
    assert page.evaluate("document.querySelectorAll('style, [style]').length") == 0


def test_with_debug_on_a_refused_action_is_said_in_the_page(
    page, log_in, agent, make_payment, sandbox, settings, console_errors
):
    # given: the demo's DEBUG, and an agent whose role is taken away while their page is open
    settings.DEBUG = True
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)
    log_in(agent)
    open_order(page, payment.order.number)
    agent.groups.clear()

    # when
    bambora = card(page, "Bambora")
    bambora.get_by_label("Reason").select_option(label="Goodwill")
    refund_button(bambora).click()

    # then: the page stays, and says what happened
    expect(page.get_by_role("alert").filter(has_text="You are not allowed to do that.")).to_be_visible()
    expect(page.get_by_role("heading", name=f"Order {payment.order.number}")).to_be_visible()
    assert sandbox.requests("bambora") == []


def test_with_debug_on_a_failed_request_brings_no_error_page_the_policy_refuses(
    page, log_in, agent, make_payment, settings, console_errors
):
    # given: the demo's DEBUG, where Django answers a 404 with its own page and inline styles
    settings.DEBUG = True
    payment = make_payment("bambora", currency="EUR", amount=20_000, captured=20_000)
    log_in(agent)
    open_order(page, payment.order.number)

    # when: a request of the card finds nothing (as for a payment that no longer exists)
    page.evaluate(f"htmx.ajax('GET', '/payments/999999/', {{target: '#payment-{payment.pk}'}})")

    # then
    expect(page.get_by_role("alert").filter(has_text="That no longer exists.")).to_be_visible()
    expect(page.get_by_role("heading", name=f"Order {payment.order.number}")).to_be_visible()
    assert not [error for error in console_errors if "Content Security Policy" in error]
