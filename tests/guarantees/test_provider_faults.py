"""Every fault the sandbox can inject, at every provider: the refund ends in a defined state,
and after reconciliation the provider and the ledger agree, with no money moved twice."""

import pytest
from django.core.management import call_command

from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request
from payments.statuses import OperationStatus

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_is_consistent")]

CURRENCY = {"bambora": "EUR", "optty": "AUD", "simpleps": "USD", "vipps": "NOK"}
UNKNOWN, FAILED, SUCCEEDED = OperationStatus.UNKNOWN, OperationStatus.FAILED, OperationStatus.SUCCEEDED
TOKEN_PROVIDERS = {"optty", "simpleps", "vipps"}

FAULTS = {
    # fault: (mode, status, the refund's state before reconciliation)
    "timeout": ("timeout", None, UNKNOWN),
    "5xx": ("error", 503, UNKNOWN),
    "dropped connection": ("drop", None, UNKNOWN),
    "garbage body": ("garbage", None, UNKNOWN),
    "answer lost": ("lost_answer", None, UNKNOWN),
    "answer late": ("late_answer", None, UNKNOWN),
    "401": ("status", 401, None),  # see below: depends on the provider
    "429": ("status", 429, FAILED),
}


@pytest.mark.parametrize("provider", list(CURRENCY))
@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_then_reconcile(provider, fault, make_payment, sandbox, settings):
    settings.PROVIDER_TIMEOUT = 0.5
    mode, status, expected = FAULTS[fault]
    if fault == "401":
        # A token provider takes a 401 for a stale token: new token, one retry, success.
        # Bambora has no token: its credentials were refused.
        expected = SUCCEEDED if provider in TOKEN_PROVIDERS else FAILED
    payment = make_payment(provider, currency=CURRENCY[provider], amount=10_000, captured=10_000)
    sandbox.inject_fault(provider=provider, endpoint="refund", mode=mode, status=status)

    operation = refund_request(
        payment_id=payment.pk, amount=2_500, reason="customer_request",
        actor=Actor.system("tests"), idempotency_key=new_idempotency_key(),
    )

    assert operation.status == expected, operation.failure_message
    settings.PROVIDER_TIMEOUT = 5
    call_command("reconcile", stale_after=0)
    operation.refresh_from_db()
    payment.refresh_from_db()
    at_provider = sandbox.payment(provider=provider, reference=payment.reference)
    assert operation.status in (SUCCEEDED, FAILED)
    assert at_provider["refunded"] == payment.refunded
    refunds_at_provider = [op for op in at_provider["operations"] if op["kind"] == "refund"]
    assert len(refunds_at_provider) == (1 if operation.status == SUCCEEDED else 0)
