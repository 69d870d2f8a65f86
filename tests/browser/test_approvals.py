"""Large refunds in a real browser: an agent asks, a manager decides, the money moves once."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from payments.models import Operation
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request
from tests.browser.helpers import card, open_order, request_refund

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_manager_approves_an_agents_large_refund(page, new_page, log_in, agent, manager, make_payment, sandbox, screenshot):
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    log_in(agent)
    open_order(page, payment.order.number)

    bambora = card(page, "Bambora")
    bambora.get_by_label("Amount").fill("600.00")
    expect(bambora.get_by_text("This amount needs a manager’s approval")).to_be_visible()
    bambora = request_refund(page, "600.00")

    expect(bambora.get_by_role("status")).to_contain_text("Waiting for approval")
    expect(bambora.locator("dt:text-is('Refundable') + dd")).to_have_text("400.00\xa0EUR")
    assert sandbox.requests("bambora") == []

    boss = log_in(manager, on=new_page())
    expect(boss.get_by_role("link", name="Approvals")).to_contain_text("1")
    boss.get_by_role("link", name="Approvals").click()
    request = boss.get_by_role("listitem").filter(has_text=payment.order.number)
    expect(request).to_contain_text("600.00\xa0EUR")
    expect(request).to_contain_text("agent")
    screenshot("approvals-page", on=boss)
    request.get_by_role("button", name="Approve").click()

    expect(boss.get_by_role("status")).to_contain_text("approved. Refunded 600.00\xa0EUR.")
    expect(boss.get_by_role("link", name="Approvals")).to_contain_text("0")
    assert sandbox.payment(provider="bambora", reference=payment.reference)["refunded"] == 60_000


def test_a_manager_cannot_approve_their_own_request(page, log_in, manager, make_payment):
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    log_in(manager)
    open_order(page, payment.order.number)
    # Wait for the answer: leaving the page earlier would race the request being stored.
    expect(request_refund(page, "700.00").get_by_role("status")).to_contain_text("Waiting for approval")

    page.get_by_role("link", name="Approvals").click()

    request = page.get_by_role("listitem").filter(has_text=payment.order.number)
    expect(request).to_contain_text("This is your own request")
    expect(request.get_by_role("button", name="Approve")).to_have_count(0)
    expect(request.get_by_role("button", name="Reject")).to_have_count(0)


def test_a_rejection_with_its_note_is_shown_to_the_agent(page, new_page, log_in, agent, manager, make_payment):
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    log_in(agent)
    open_order(page, payment.order.number)
    expect(request_refund(page, "800.00").get_by_role("status")).to_contain_text("Waiting for approval")

    boss = log_in(manager, on=new_page())
    boss.goto("/approvals/")
    request = boss.get_by_role("listitem").filter(has_text=payment.order.number)
    request.get_by_label("Note").fill("Goods not returned yet")
    request.get_by_role("button", name="Reject").click()
    expect(boss.get_by_role("status")).to_contain_text("rejected")

    page.reload()
    history = card(page, "Bambora").locator(".timeline")
    expect(history).to_contain_text("Refund rejected")
    expect(history).to_contain_text("Goods not returned yet")
    expect(card(page, "Bambora").locator("dt:text-is('Refundable') + dd")).to_have_text("1,000.00\xa0EUR")


def test_splitting_a_large_refund_still_ends_in_the_queue(page, log_in, agent, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    log_in(agent)
    open_order(page, payment.order.number)

    expect(request_refund(page, "300.00").get_by_role("status")).to_have_text("Refunded 300.00\xa0EUR.")
    expect(request_refund(page, "300.00").get_by_role("status")).to_contain_text("Waiting for approval")

    assert sandbox.payment(provider="bambora", reference=payment.reference)["refunded"] == 30_000


def test_an_expired_request_is_offered_for_rejection_only(page, log_in, agent, manager, make_payment, screenshot):
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    request = refund_request(payment_id=payment.pk, amount=60_000, reason="goodwill",
                             actor=Actor.of_user(agent), idempotency_key=new_idempotency_key())
    Operation.objects.filter(pk=request.pk).update(created_at=timezone.now() - timedelta(days=30))
    log_in(manager)

    page.get_by_role("link", name="Approvals").click()

    row = page.get_by_role("listitem").filter(has_text=payment.order.number)
    expect(row).to_contain_text("can no longer be approved")
    expect(row.get_by_role("button", name="Approve")).to_have_count(0)
    expect(row.get_by_role("button", name="Reject")).to_be_visible()
    screenshot("approvals-expired", on=page)
    row.get_by_label("Note").fill("Expired; the customer was refunded by voucher")
    row.get_by_role("button", name="Reject").click()
    expect(page.get_by_role("status")).to_contain_text("rejected")
    expect(page.get_by_role("status")).to_be_focused()
