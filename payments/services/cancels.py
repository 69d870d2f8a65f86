"""Cancelling a payment: releasing the part of the authorization that was never captured."""

from django.db import transaction

from payments.exceptions import ActionRefused
from payments.locks import lock_payment
from payments.models import AuditAction, Operation, OperationKind
from payments.money import format_money
from payments.selectors import payment_balances
from payments.services.audit import Actor, audit_record
from payments.services.execution import operation_execute
from payments.services.ledger import operation_for_submission, operation_open
from payments.statuses import OperationStatus


def payment_cancel(
    *, payment_id: int, expected_amount: int, actor: Actor, idempotency_key: str | None
) -> Operation:
    """Release everything of the payment's authorization that is not captured, through the
    provider. `expected_amount` is what the agent confirmed; when the cancellable amount has
    changed since, nothing is sent and they are asked to confirm again.

    The same confirmation sent twice (same `idempotency_key`) cancels once. Returns the
    operation as the provider left it: succeeded, failed, pending or unknown.
    Raises ActionRefused when nothing can be cancelled or the amount has changed.
    """
    with transaction.atomic(durable=True):
        payment = lock_payment(payment_id=payment_id)
        existing = operation_for_submission(
            idempotency_key=idempotency_key,
            payment=payment,
            kind=OperationKind.CANCEL,
            amount=expected_amount,
            actor=actor,
        )
        if existing is not None:
            return existing
        cancellable = payment_balances(payment=payment).cancellable
        if cancellable == 0:
            raise ActionRefused("Nothing can be cancelled on this payment now.")
        if cancellable != expected_amount:
            raise ActionRefused(
                "The amount to release has changed to "
                f"{format_money(cancellable, payment.currency)}; check it and confirm again."
            )
        operation = operation_open(
            payment=payment,
            kind=OperationKind.CANCEL,
            amount=cancellable,
            status=OperationStatus.IN_FLIGHT,
            actor=actor,
            idempotency_key=idempotency_key,
        )
        audit_record(
            actor=actor, action=AuditAction.CANCEL_REQUESTED, operation=operation, amount=cancellable
        )
    return operation_execute(operation_id=operation.pk, actor=actor)
