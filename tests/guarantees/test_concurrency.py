"""Many people at once, through the running server: money never moves twice and never more
than there is."""

import re

import pytest
from django.urls import reverse

from payments.models import Operation, RefundLine
from payments.order_lines import RefundItems
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.orders import NewLine, NewPayment, order_create
from payments.services.refunds import refund_request
from payments.statuses import OperationStatus
from tests.guarantees.helpers import at_once, form_value, refund_forms

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("ledger_is_consistent")]


def test_twenty_refunds_at_once_move_only_what_is_refundable(person, make_user, make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    agents = [person(make_user(group="Support agents")) for _ in range(20)]
    forms = refund_forms(agents, payment, "10.00")

    responses = at_once(*[
        (lambda a=agent, p=page, d=data: a.post(reverse("refund", args=[payment.pk]), d, csrf_from=p))
        for agent, page, data in forms
    ])

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [302] * 10 + [422] * 10
    for refused in (r for r in responses if r.status_code == 422):
        errors = re.search(r'<ul class="errorlist"[^>]*>(.*?)</ul>', refused.text, re.S)
        assert errors, refused.text[refused.text.find("<main"):][:3000]
        errors = errors[1]
        assert "Nothing can be refunded on this payment now." in errors, errors
    payment.refresh_from_db()
    assert payment.refunded == payment.captured == 10_000
    at_provider = sandbox.payment(provider="bambora", reference=payment.reference)
    assert at_provider["refunded"] == 10_000
    assert at_provider["operations"] == [{"kind": "refund", "amount": 1_000}] * 10


@pytest.fixture
def large_request(make_user, make_payment):
    agent = make_user("requesting-agent", group="Support agents")
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    operation = refund_request(
        payment_id=payment.pk, amount=60_000, reason="goodwill",
        actor=Actor.of_user(agent), idempotency_key=new_idempotency_key(),
    )
    assert operation.status == OperationStatus.AWAITING_APPROVAL
    return agent, payment, operation


def test_two_managers_approving_the_same_request_refund_once(person, make_user, large_request, sandbox):
    _, payment, operation = large_request
    managers = [person(make_user(group="Managers")) for _ in range(2)]
    pages = [manager.get(reverse("approvals")) for manager in managers]

    responses = at_once(*[
        (lambda m=m, p=p: m.post(reverse("approve", args=[operation.pk]), {}, htmx=True, csrf_from=p))
        for m, p in zip(managers, pages, strict=True)
    ])

    texts = sorted(response.text for response in responses)
    assert sum("approved. Refunded 600.00" in text for text in texts) == 1
    assert sum("no longer waiting for approval" in text for text in texts) == 1
    assert sandbox.payment(provider="bambora", reference=payment.reference)["operations"] == [
        {"kind": "refund", "amount": 60_000}
    ]


def test_approve_against_withdraw_one_wins(person, make_user, large_request, sandbox):
    agent_user, payment, operation = large_request
    manager, agent = person(make_user(group="Managers")), person(agent_user)
    manager_page = manager.get(reverse("approvals"))
    agent_page = agent.get(reverse("order", args=[payment.order_id]))

    approve, withdraw = at_once(
        lambda: manager.post(reverse("approve", args=[operation.pk]), {}, htmx=True, csrf_from=manager_page),
        lambda: agent.post(reverse("withdraw", args=[operation.pk]), {}, htmx=True, csrf_from=agent_page),
    )

    operation.refresh_from_db()
    refunds_sent = len(sandbox.payment(provider="bambora", reference=payment.reference)["operations"])
    if operation.status == OperationStatus.WITHDRAWN:
        assert "no longer waiting for approval" in approve.text
        assert refunds_sent == 0
    else:
        assert operation.status == OperationStatus.SUCCEEDED
        assert "no longer waiting for approval" in withdraw.text
        assert refunds_sent == 1


def test_cancel_against_refund_both_land_in_the_aggregate(person, agent, make_payment, sandbox):
    payment = make_payment("vipps", currency="NOK", amount=100_000, captured=40_000)
    clerk = person(agent)
    page = clerk.get(reverse("order", args=[payment.order_id]))
    confirm = clerk.get(reverse("cancel", args=[payment.pk]))
    refund_prefix, cancel_prefix = f"refund-{payment.pk}", f"cancel-{payment.pk}"

    refund, cancel = at_once(
        lambda: clerk.post(reverse("refund", args=[payment.pk]), {
            f"{refund_prefix}-amount": "400.00",
            f"{refund_prefix}-reason": "returned_goods",
            f"{refund_prefix}-idempotency_key": form_value(page, f"{refund_prefix}-idempotency_key"),
        }, csrf_from=page),
        lambda: clerk.post(reverse("cancel", args=[payment.pk]), {
            f"{cancel_prefix}-expected_amount": "60000",
            f"{cancel_prefix}-idempotency_key": form_value(confirm, f"{cancel_prefix}-idempotency_key"),
        }, csrf_from=confirm),
    )

    assert (refund.status_code, cancel.status_code) == (302, 302)
    payment.refresh_from_db()
    assert (payment.authorized, payment.captured, payment.cancelled, payment.refunded) == (100_000, 40_000, 60_000, 40_000)
    at_provider = sandbox.payment(provider="vipps", reference=payment.reference)
    assert (at_provider["cancelled"], at_provider["refunded"]) == (60_000, 40_000)
    assert Operation.objects.filter(payment=payment, status=OperationStatus.SUCCEEDED).count() == 3


@pytest.fixture
def last_tent(sandbox):
    """An order of two tents, one refunded already, paid by Vipps and Bambora half each: the
    last tent can be refunded from either payment."""
    order, _ = order_create(
        number="TENTS-1", customer_name="Kari Nordmann", customer_email="kari@example.com", currency="EUR",
        total=60_000, lines=[NewLine(sku="TENT", name="Tent", quantity=2, unit_price=30_000)],
        payments=[NewPayment(provider=provider, reference=f"tents-1-{provider}", amount=30_000, captured=30_000)
                  for provider in ("vipps", "bambora")],
        actor=Actor.system("tests"),
    )
    for payment in order.payments.all():
        sandbox.create_payment(provider=payment.provider, reference=payment.reference, currency="EUR",
                               amount=30_000, captured=30_000)
    tent = order.lines.get()
    refund_request(payment_id=order.payments.get(provider="vipps").pk, amount=10_000, reason="returned_goods",
                   actor=Actor.system("tests"), idempotency_key=new_idempotency_key(),
                   items=RefundItems(quantities={tent.pk: 1}))
    return order, tent


@pytest.mark.parametrize("payments", [("bambora", "bambora"), ("vipps", "bambora")], ids=["one payment", "two"])
def test_two_agents_refunding_the_last_unit_of_a_line_at_once_refund_it_once(
    person, make_user, last_tent, sandbox, payments
):
    order, tent = last_tent
    agents = [person(make_user(group="Support agents")) for _ in payments]
    sent = []
    for agent, provider in zip(agents, payments, strict=True):
        payment = order.payments.get(provider=provider)
        [(_, page, data)] = refund_forms([agent], payment, "200.00")
        data[f"refund-{payment.pk}-quantity-{tent.pk}"] = "1"
        sent.append((agent, payment, page, data))

    responses = at_once(*[
        (lambda a=agent, p=payment, pg=page, d=data: a.post(reverse("refund", args=[p.pk]), d, csrf_from=pg))
        for agent, payment, page, data in sent
    ])

    assert sorted(response.status_code for response in responses) == [302, 422]
    [refused] = [response for response in responses if response.status_code == 422]
    assert "“Tent” is refunded already, or being refunded." in refused.text
    assert RefundLine.objects.filter(order_line=tent).count() == 2
    refunds_sent = [
        operation
        for provider in ("vipps", "bambora")
        for operation in sandbox.payment(provider=provider, reference=f"tents-1-{provider}")["operations"]
        if operation["kind"] == "refund"
    ]
    assert sorted(operation["amount"] for operation in refunds_sent) == [10_000, 20_000]
