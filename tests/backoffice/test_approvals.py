"""The approvals page and its actions through Django's test client, against the sandbox."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from payments.models import AuditAction, AuditEvent, Operation
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request
from payments.services.sync import payment_sync
from payments.statuses import OperationStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


def ask(payment, amount, user):
    operation = refund_request(
        payment_id=payment.pk, amount=amount, reason="goodwill",
        actor=Actor.of_user(user), idempotency_key=new_idempotency_key(),
    )
    assert operation.status == OperationStatus.AWAITING_APPROVAL
    return operation


def hx_post(client, url, data=None):
    return client.post(url, data or {}, headers={"HX-Request": "true"})


def facts(html, request):
    """The facts listed for one request on the approvals page: {label: value}."""
    row = re.search(rf'<li class="card approval" id="request-{request.pk}".*?</li>', html, re.S)[0]
    return dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", row))


def test_approval_fails_with_a_clear_message_when_refundable_dropped(manager_client, agent, make_payment, sandbox):
    # given: a request for 6,000 NOK; meanwhile 5,000 NOK were refunded in Vipps's portal
    payment = make_payment("vipps", currency="NOK", amount=1_000_000, captured=1_000_000)
    request = ask(payment, 600_000, agent)
    sandbox.portal(provider="vipps", reference=payment.reference, kind="refund", amount=500_000)
    payment_sync(payment_id=payment.pk, actor=Actor.system("tests"))
    sandbox.clear_requests()

    # when
    response = hx_post(manager_client, reverse("approve", args=[request.pk]))

    # then
    html = response.content.decode()
    assert "The payment can no longer refund this amount: at most 5,000.00\xa0NOK is refundable now." in html
    assert 'role="alert"' in html
    request.refresh_from_db()
    assert request.status == OperationStatus.AWAITING_APPROVAL
    assert [r for r in sandbox.requests("vipps") if r["endpoint"] == "refund"] == []


def test_the_page_shows_refundable_now_as_the_order_page_does(manager_client, agent, make_payment):
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    request = ask(payment, 60_000, agent)

    approvals = manager_client.get(reverse("approvals")).content.decode()
    order_page = manager_client.get(reverse("order", args=[payment.order_id])).content.decode()

    assert re.search(r"<dt>Refundable</dt><dd>400.00\xa0EUR</dd>", order_page)
    assert facts(approvals, request)["Refundable now"] == "400.00\xa0EUR"
    assert facts(approvals, request)["Refundable if rejected"] == "1,000.00\xa0EUR"


def test_an_expired_request_is_not_offered_for_approval_and_cannot_be_approved(
    manager_client, agent, make_payment, sandbox, settings
):
    settings.REFUND_APPROVAL_EXPIRY_DAYS = 7
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    request = ask(payment, 60_000, agent)
    Operation.objects.filter(pk=request.pk).update(created_at=timezone.now() - timedelta(days=8))

    page = manager_client.get(reverse("approvals")).content.decode()
    response = hx_post(manager_client, reverse("approve", args=[request.pk]))

    assert f'action="{reverse("approve", args=[request.pk])}"' not in page
    assert "this request waited more than 7 days, so it can no longer be approved" in page
    assert "This request waited more than 7 days and has expired: nothing was sent" in response.content.decode()
    request.refresh_from_db()
    assert request.status == OperationStatus.EXPIRED
    assert AuditEvent.objects.filter(action=AuditAction.REFUND_EXPIRED, operation=request).exists()
    assert sandbox.requests("bambora") == []
