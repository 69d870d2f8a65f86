"""What the money state machine (test_money_machine.py) found, each pinned by a focused test
that fails without its fix."""

import pytest

from payments.selectors import payment_balances
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request
from payments.statuses import OperationStatus

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_is_consistent")]


@pytest.mark.parametrize("status", ["DECLINED", "ERROR"])
def test_an_optty_refund_answered_declined_or_error_failed_and_holds_nothing_back(make_payment, sandbox, status):
    # providers.md: a refundStatus may be "a failure such as DECLINED/ERROR/FAILED". Found by the
    # machine as a refund held pending for ever while Optty had moved nothing.
    payment = make_payment("optty", currency="AUD", amount=10_000, captured=10_000, at_provider=False)
    sandbox.create_payment(
        provider="optty", reference=payment.reference, currency="AUD", amount=10_000, captured=10_000,
        refund_status=status,
    )

    operation = refund_request(
        payment_id=payment.pk, amount=10_000, reason="customer_request", actor=Actor.system("tests"),
        idempotency_key=new_idempotency_key(),
    )

    assert operation.status == OperationStatus.FAILED
    assert "Optty did not refund" in operation.failure_message
    assert payment_balances(payment=payment).refundable == 10_000
    assert sandbox.payment(provider="optty", reference=payment.reference)["refunded"] == 0
