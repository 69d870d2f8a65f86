"""Sending an operation to its provider and recording the answer (payments/services/execution.py),
against the sandbox: only an operation in flight is sent, never inside a transaction; what the
provider is sent (a refund of everything left, for Optty's surcharge); refused credentials are logged as a configuration error."""

import logging

import pytest
from django.db import transaction

from payments.models import OperationKind
from payments.selectors import payment_balances
from payments.services.audit import Actor
from payments.services.execution import operation_execute
from payments.services.ledger import new_idempotency_key, operation_open
from payments.statuses import OperationStatus
from tests.helpers import CURRENCY, break_credentials, refund

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_is_consistent")]

FAILED = OperationStatus.FAILED


def in_flight_refund(payment, amount):
    return operation_open(
        payment=payment, kind=OperationKind.REFUND, amount=amount, status=OperationStatus.IN_FLIGHT,
        actor=Actor.system("tests"), reason="customer_request", idempotency_key=new_idempotency_key(),
    )


def test_an_operation_is_never_sent_from_inside_a_transaction(make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    operation = in_flight_refund(payment, 1_000)
    sandbox.clear_requests()

    with pytest.raises(RuntimeError), transaction.atomic():
        operation_execute(operation_id=operation.pk, actor=Actor.system("tests"))

    assert sandbox.requests() == []


def test_only_an_operation_in_flight_is_sent(make_payment, sandbox):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    operation = refund(payment, 1_000)
    assert operation.status == OperationStatus.SUCCEEDED
    sandbox.clear_requests()

    with pytest.raises(RuntimeError, match="not in flight"):
        operation_execute(operation_id=operation.pk, actor=Actor.system("tests"))

    assert sandbox.requests() == []
    assert sandbox.payment(provider="bambora", reference=payment.reference)["refunded"] == 1_000


def test_a_refund_of_all_that_is_left_reads_optty_s_order_for_its_surcharge(make_payment, sandbox):
    # Optty wants a full refund to carry the order's surcharge, which only its order shows.
    payment = make_payment("optty", currency="AUD", amount=5_000, captured=5_000)
    sandbox.clear_requests()

    refund(payment, 5_000)

    assert [r["endpoint"] for r in sandbox.requests("optty") if r["endpoint"] != "token"] == ["fetch", "refund"]


def test_a_refund_of_part_of_what_is_left_reads_no_order(make_payment, sandbox):
    payment = make_payment("optty", currency="AUD", amount=5_000, captured=5_000)
    refund(payment, 1_000)
    sandbox.clear_requests()

    refund(payment, 3_000)

    assert [r["endpoint"] for r in sandbox.requests("optty") if r["endpoint"] != "token"] == ["refund"]


def configuration_errors(caplog, provider):
    return [
        record
        for record in caplog.records
        if record.name == "payments"
        and record.levelno == logging.ERROR
        and record.getMessage().startswith(f"provider_configuration_error provider={provider} ")
    ]


@pytest.mark.parametrize("provider", list(CURRENCY))
@pytest.mark.parametrize("refusal", ["bad credentials", "401 on every call"])
def test_refused_credentials_fail_the_refund_and_log_a_configuration_error(
    provider, refusal, make_payment, sandbox, settings, caplog
):
    payment = make_payment(provider, currency=CURRENCY[provider], amount=10_000, captured=10_000)
    if refusal == "bad credentials":
        break_credentials(settings, provider)
    else:
        # Twice: a token provider fetches a new token once and tries again.
        sandbox.inject_fault(provider=provider, endpoint="refund", mode="status", status=401, times=2)

    with caplog.at_level(logging.INFO):
        operation = refund(payment)

    payment.refresh_from_db()
    assert operation.status == FAILED
    assert operation.failure_message == "The provider rejected our credentials."
    [logged] = configuration_errors(caplog, provider)
    assert f"operation={operation.pk}" in logged.getMessage()
    assert payment.refunded == 0
    assert payment_balances(payment=payment).refundable == 10_000
    assert sandbox.payment(provider=provider, reference=payment.reference)["refunded"] == 0


