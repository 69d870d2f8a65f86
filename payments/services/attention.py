"""Operations that no machine can prove: a person resolves them.

Reconciliation marks an operation as needing a person when no check with the provider could
prove what became of it (payments.services.reconcile). A manager other than the person who
asked for it checks the payment in the provider's portal and says what happened there:
"Carried out at the provider" books it as succeeded, "Did not happen" as failed, each with a
note. The ledger moves as for any other settled operation, under the payment's lock; the
decision is audited, and so is every refused attempt.
"""

from django.db import transaction

from payments.exceptions import ActionForbidden, ActionRefused
from payments.locks import lock_operation, lock_payment, payment_check_lock
from payments.models import AuditAction, Operation, OperationKind
from payments.money import format_money
from payments.roles import may
from payments.selectors import approval_conflict, needs_person
from payments.services.audit import Actor, audit_refusal
from payments.services.ledger import AGGREGATE_FIELD, aggregate_fits, operation_settle_locked
from payments.statuses import OperationStatus


def operation_resolve(
    *, operation_id: int, actor: Actor, carried_out: bool | None, note: str
) -> Operation:
    """Settle an operation that needs a person as a manager found it in the provider's portal:
    succeeded for its amount when `carried_out`, failed otherwise, with `note` saying what they
    saw; `carried_out` None when the person chose neither. Returns the operation.

    Raises ActionForbidden (audited) without the permission to resolve, for an operation one
    asked for oneself, or when one's account was made or made an approver by the requester or
    too recently (payments.selectors.approval_conflict, as for approvals); ActionRefused
    without a note, when the operation no longer needs a person (a check with the provider
    settled it meanwhile), when the payment is being checked with its provider at this moment,
    or when its amount no longer fits the payment.
    """
    operation = Operation.objects.filter(pk=operation_id).select_related("payment__order").first()
    if operation is None:
        raise ActionRefused("There is no such operation.")
    if actor.user is None or not may(actor.user, "payments.resolve_operation"):
        audit_refusal(actor=actor, operation=operation, refusal=ActionForbidden("Only managers can resolve operations."))
    if operation.requested_by_id is not None and operation.requested_by_id == actor.user.pk:
        audit_refusal(
            actor=actor,
            operation=operation,
            refusal=ActionForbidden(
                "You asked for this operation: another manager has to resolve it."
            ),
        )
    conflict = approval_conflict(approver=actor.user, requester=operation.requested_by)
    if conflict is not None:
        # The same four eyes as an approval: "Did not happen" releases money to be refunded
        # again, so an account the requester made (or one made too recently) decides nothing.
        audit_refusal(
            actor=actor,
            operation=operation,
            refusal=ActionForbidden(f"You cannot resolve this operation: {conflict.reason}"),
        )
    note = note.strip()
    if carried_out is None:
        raise ActionRefused("Choose “Carried out at the provider” or “Did not happen”.")
    if not note:
        raise ActionRefused("Write a note saying what the provider's portal shows.")
    with payment_check_lock(payment_id=operation.payment_id) as acquired:
        if not acquired:
            raise ActionRefused(
                "The payment is being checked with the provider right now; try again in a moment."
            )
        with transaction.atomic(durable=True):
            payment = lock_payment(payment_id=operation.payment_id)
            operation = lock_operation(operation_id=operation_id)
            operation.payment = payment
            if not needs_person(operation):
                raise ActionRefused(
                    "This operation no longer needs a person: it is "
                    f"{operation.get_status_display().lower()}."
                )
            if carried_out and not aggregate_fits(payment, operation.kind, operation.amount):
                raise ActionRefused(
                    f"{format_money(operation.amount, payment.currency)} more "
                    f"{AGGREGATE_FIELD[OperationKind(operation.kind)]} does not fit this payment's ledger; check "
                    "its other operations first."
                )
            outcome = "Carried out at the provider" if carried_out else "Did not happen"
            return operation_settle_locked(
                payment=payment,
                operation=operation,
                status=OperationStatus.SUCCEEDED if carried_out else OperationStatus.FAILED,
                settled_amount=operation.amount if carried_out else None,
                failure_message="" if carried_out else f"Did not happen, says {actor.label}: {note}",
                actor=actor,
                decided_by=actor.user,
                decision_note=note,
                audit_action=AuditAction.OPERATION_RESOLVED,
                message=f"{outcome}: {note}",
            )
