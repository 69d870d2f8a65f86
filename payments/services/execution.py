"""Sending an operation to its provider and recording the answer (DESIGN.md, "Calling a
provider safely", steps 2 and 3).

The operation was committed `in_flight` (step 1, by the service that accepted it), so a crash
from here on leaves a trace that reconciliation finds. The provider is called outside any
transaction and without any lock held; the answer is then recorded in a transaction of its
own by payments.services.ledger.
"""

import logging
from decimal import Decimal
from typing import Any

from django.db import transaction

from payments.models import AuditAction, Operation, OperationKind
from payments.providers.base import Modification, Outcome, ProviderAnswer
from payments.providers.http import Deadline
from payments.providers.registry import provider_for
from payments.selectors import payment_balances
from payments.services.audit import Actor, audit_record
from payments.services.ledger import operation_settle
from payments.statuses import OperationStatus

logger = logging.getLogger("payments")

UNKNOWN_OUTCOME = (
    "{reason} Whether the provider carried it out is not known yet, so the amount stays "
    "reserved until it is checked with the provider."
)
# The operation's status for each outcome of a provider's answer.
STATUS_OF = {
    Outcome.SUCCEEDED: OperationStatus.SUCCEEDED,
    Outcome.FAILED: OperationStatus.FAILED,
    Outcome.PENDING: OperationStatus.PENDING,
    Outcome.UNKNOWN: OperationStatus.UNKNOWN,
}


def _response_record(value: object) -> object:
    """A provider's answer as JSON-ready data for the ledger, decimals as text. Adapters only
    ever hand over the answer's body, never the request's credentials."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(key): _response_record(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_response_record(item) for item in value]
    return value


def _completes(operation: Operation) -> bool:
    """Whether a refund takes everything that is left of the captured amount, with nothing
    else under way: Optty then adds the order's surcharge."""
    payment = operation.payment
    if operation.kind != OperationKind.REFUND:
        return False
    others = payment_balances(payment=payment, excluding=operation).reserved_refunds
    return others == 0 and payment.refunded + operation.amount == payment.captured


def operation_execute(*, operation_id: int, actor: Actor, resend: bool = False) -> Operation:
    """Send the in-flight operation to the payment's provider, within the call's deadline
    stored on it, and record its answer: succeeded (the aggregate moves), pending, failed (with
    the provider's reason in plain words) or unknown (the amount stays reserved for
    reconciliation). `resend`: an earlier attempt was sent (reconciliation's retry). Returns
    the operation.

    Must not run inside a transaction (RuntimeError): the call may take until its deadline,
    and no lock may be held meanwhile.
    """
    # A durable block refuses to open inside another transaction: the cheapest proof that
    # none is open around this call.
    with transaction.atomic(durable=True):
        pass
    operation = Operation.objects.select_related("payment__order").get(pk=operation_id)
    if operation.status != OperationStatus.IN_FLIGHT:
        raise RuntimeError(f"Operation {operation.pk} is {operation.status}, not in flight.")
    payment = operation.payment
    provider = provider_for(payment.provider)
    modification = Modification(
        payment_reference=payment.reference,
        currency=payment.currency,
        amount=operation.amount,
        idempotency_key=operation.idempotency_key,
        description=operation.get_reason_display() or f"Order {payment.order.number}",
        completes=_completes(operation),
        resend=resend,
    )
    audit_record(
        actor=actor,
        action=AuditAction.PROVIDER_CALLED,
        operation=operation,
        amount=operation.amount,
        message=f"{operation.get_kind_display()} sent to {provider.name}",
    )
    attempt_deadline = operation.deadline
    deadline = Deadline.at(attempt_deadline) if attempt_deadline else None
    send = provider.refund if operation.kind == OperationKind.REFUND else provider.cancel
    answer = send(modification, deadline=deadline)
    if answer.credentials_rejected:
        logger.error(
            "provider_configuration_error provider=%s operation=%s: the provider rejected our "
            "credentials; check its settings",
            payment.provider,
            operation.pk,
        )
    return operation_settle(
        operation_id=operation.pk,
        actor=actor,
        audit_action=AuditAction.PROVIDER_ANSWERED,
        # Reconciliation may have sent it again meanwhile (this process stalled past the
        # deadline and margin): then this answer is not the current attempt's.
        attempt_deadline=attempt_deadline,
        **answer_outcome(answer, provider_name=provider.name),
    )


def answer_outcome(answer: ProviderAnswer, *, provider_name: str) -> dict[str, Any]:
    """What a ProviderAnswer records on its operation: the keyword arguments of
    operation_settle. The one place where an answer's outcome becomes a status."""
    status = STATUS_OF[answer.outcome]
    outcome: dict[str, Any] = {
        "status": status,
        "provider_code": answer.code,
        "provider_reference": answer.provider_reference,
        "provider_response": _response_record(answer.response),
        "retry_after": answer.retry_after,
    }
    if status == OperationStatus.SUCCEEDED:
        outcome["settled_amount"] = answer.amount
    elif status == OperationStatus.FAILED:
        outcome["failure_message"] = answer.message
    elif status == OperationStatus.PENDING:
        outcome["message"] = answer.message or f"{provider_name} accepted it; the final answer comes later."
    else:
        outcome["failure_message"] = UNKNOWN_OUTCOME.format(reason=answer.message)
    return outcome
