"""The requester's side of an approval in a real browser: told of the decision at the next
page, once; "My requests" with every request's state; withdrawing there or on the card."""

import pytest
from playwright.sync_api import expect

from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request
from tests.browser.helpers import open_order, request_refund

pytestmark = pytest.mark.django_db(transaction=True)


def test_my_requests_after_a_rejection(page, new_page, log_in, agent, manager, make_payment, screenshot):
    # given: the agent asks for a large refund, and a manager rejects it with a note
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    log_in(agent)
    open_order(page, payment.order.number)
    expect(request_refund(page, "800.00").get_by_role("status")).to_contain_text("Waiting for approval")
    boss = log_in(manager, on=new_page())
    boss.goto("/approvals/")
    row = boss.get_by_role("listitem").filter(has_text=payment.order.number)
    row.get_by_label("Note").fill("Goods not returned yet")
    row.get_by_role("button", name="Reject").click()
    expect(boss.get_by_role("status")).to_contain_text("rejected")

    # when: the agent goes on to their next page
    page.get_by_role("link", name="Orders", exact=True).click()

    # then: the desk tells them, with a link to the request
    told = page.locator("#decision-notices")
    expect(told).to_contain_text(f"Your refund of 800.00\xa0EUR on order {payment.order.number}: rejected.")
    expect(told).to_contain_text("manager wrote: “Goods not returned yet”")
    screenshot("decision-shown-at-next-page")
    told.get_by_role("link", name="See it in My requests").click()

    # and "My requests" shows the request, rejected with the note, nothing left to withdraw
    expect(page.get_by_role("heading", name="My requests", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="My requests")).to_have_attribute("aria-current", "page")
    request = page.get_by_role("listitem").filter(has_text=f"order {payment.order.number}")
    expect(request).to_contain_text("Rejected")
    expect(request).to_contain_text("manager wrote: “Goods not returned yet”")
    expect(request.get_by_role("button", name="Withdraw request")).to_have_count(0)
    screenshot("my-requests-after-a-rejection")
    # the desk told them once
    expect(page.locator("#decision-notices")).to_be_empty()


def test_withdrawing_on_my_requests(page, log_in, agent, make_payment, settings):
    settings.REFUND_APPROVAL_LIMITS = {}
    payment = make_payment("vipps", currency="NOK", amount=100_000, captured=100_000, at_provider=False)
    refund_request(payment_id=payment.pk, amount=40_000, reason="goodwill", actor=Actor.of_user(agent),
                   idempotency_key=new_idempotency_key())
    log_in(agent)

    page.get_by_role("link", name="My requests").click()
    request = page.get_by_role("listitem").filter(has_text=f"order {payment.order.number}")
    expect(request).to_contain_text("Waiting for approval")
    request.get_by_role("button", name="Withdraw request").click()

    expect(request.get_by_role("status")).to_have_text(
        "Your refund request was withdrawn; its amount is available again.")
    expect(request.get_by_role("status")).to_be_focused()
    expect(request).to_contain_text("Withdrawn")
    expect(request.get_by_role("button", name="Withdraw request")).to_have_count(0)


def test_withdrawing_on_the_card(page, log_in, agent, make_payment):
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    log_in(agent)
    open_order(page, payment.order.number)
    bambora = request_refund(page, "700.00")
    expect(bambora.get_by_role("status")).to_contain_text("Waiting for approval")
    expect(bambora).to_contain_text("Refund of 700.00\xa0EUR asked for by you.")

    bambora.get_by_role("button", name="Withdraw request").click()

    expect(bambora.get_by_role("status")).to_have_text(
        "Your refund request was withdrawn; its amount is available again.")
    expect(bambora.locator("dt:text-is('Refundable') + dd")).to_have_text("1,000.00\xa0EUR")
    expect(bambora.get_by_role("button", name="Withdraw request")).to_have_count(0)
