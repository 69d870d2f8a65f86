"""Refunds: asked for by an agent, approved by another person when they are large, sent to the
provider exactly once."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from payments.exceptions import ActionForbidden, ActionRefused
from payments.locks import lock_operation, lock_payment
from payments.models import AuditAction, Operation, OperationKind, RefundReason
from payments.money import format_money
from payments.selectors import payment_balances, refund_request_expiry_cutoff, refund_without_approval
from payments.services.audit import Actor, audit_record
from payments.services.execution import operation_execute
from payments.services.ledger import operation_for_submission, operation_open
from payments.services.notifications import notify_managers_of_request
from payments.statuses import OperationStatus, transition_to


def refund_request(*, payment_id, amount, reason, note="", actor, idempotency_key):
    """Refund `amount` (minor units) of a payment, or file the refund for a manager's approval
    when the payment's refunds, this one included, would exceed the currency's limit.

    `idempotency_key` comes with the form the agent submitted: the same form sent twice makes
    one refund, and the second call returns the first one's operation. Returns the operation:
    succeeded, failed, pending, unknown, or awaiting_approval (nothing sent yet).

    Raises ActionRefused when the amount is more than can be refunded now (amounts under way
    are held back), or when the reason is missing.
    """
    if reason not in RefundReason.values:
        raise ActionRefused("Choose a reason for the refund.")
    if reason == RefundReason.OTHER and not note.strip():
        raise ActionRefused("Describe the reason when it is “Other”.")
    with transaction.atomic(durable=True):
        payment = lock_payment(payment_id=payment_id)
        existing = operation_for_submission(
            idempotency_key=idempotency_key,
            payment=payment,
            kind=OperationKind.REFUND,
            amount=amount,
            actor=actor,
        )
        if existing is not None:
            return existing
        balances = payment_balances(payment=payment)
        if amount > balances.refundable:
            raise ActionRefused(
                "Nothing can be refunded on this payment now."
                if balances.refundable == 0
                else f"At most {format_money(balances.refundable, payment.currency)} can be "
                "refunded now."
            )
        needs_approval = amount > refund_without_approval(payment=payment, balances=balances)
        operation = operation_open(
            payment=payment,
            kind=OperationKind.REFUND,
            amount=amount,
            status=OperationStatus.AWAITING_APPROVAL if needs_approval else OperationStatus.IN_FLIGHT,
            actor=actor,
            reason=reason,
            note=note.strip(),
            idempotency_key=idempotency_key,
        )
        audit_record(
            actor=actor,
            action=AuditAction.REFUND_REQUESTED,
            operation=operation,
            amount=amount,
            message="Waiting for a manager's approval." if needs_approval else "",
        )
        if needs_approval:
            transaction.on_commit(lambda: notify_managers_of_request(operation_id=operation.pk))
            return operation
    return operation_execute(operation_id=operation.pk, actor=actor)


def _lock_request(operation_id):
    """The refund request, with its payment's row lock and its own taken; ActionRefused when
    there is no such request."""
    payment_id = (
        Operation.objects.filter(pk=operation_id, kind=OperationKind.REFUND)
        .values_list("payment_id", flat=True)
        .first()
    )
    if payment_id is None:
        raise ActionRefused("There is no such refund request.")
    payment = lock_payment(payment_id=payment_id)
    operation = lock_operation(operation_id=operation_id)
    operation.payment = payment
    return operation


def _ensure_waiting(operation):
    if operation.status != OperationStatus.AWAITING_APPROVAL:
        raise ActionRefused(
            "This request is no longer waiting for approval: it is "
            f"{operation.get_status_display().lower()}."
        )


def _is_requester(operation, actor):
    return actor.user is not None and operation.requested_by_id == actor.user.pk


def _awaiting_decision(*, operation_id, actor, verb):
    """Lock the request's payment and the request; refuse when it is no longer waiting, or
    when the person deciding asked for it. Returns (operation, refusal) where refusal is an
    ActionForbidden to audit and raise once the transaction is over, or None."""
    operation = _lock_request(operation_id)
    if _is_requester(operation, actor):
        return operation, ActionForbidden(f"You cannot {verb} your own refund request.")
    _ensure_waiting(operation)
    return operation, None


def _refuse(*, actor, operation, refusal):
    """Write a refused action to the audit log (in its own transaction) and raise it."""
    audit_record(
        actor=actor, action=AuditAction.ACTION_REFUSED, operation=operation, message=refusal.message
    )
    raise refusal


def refund_approve(*, operation_id, actor):
    """Approve another person's refund request and send it to the provider. Returns the
    operation as the provider left it (see refund_request).

    Raises ActionForbidden (audited) for one's own request or without the approval permission;
    ActionRefused when the request is no longer waiting, has expired, or asks for more than the
    payment can refund now; then nothing is sent.
    """
    if not actor.user.has_perm("payments.approve_refund"):
        _refuse(
            actor=actor,
            operation=Operation.objects.filter(pk=operation_id).first(),
            refusal=ActionForbidden("Only managers can approve refunds."),
        )
    with transaction.atomic(durable=True):
        operation, forbidden = _awaiting_decision(
            operation_id=operation_id, actor=actor, verb="approve"
        )
        expired = forbidden is None and refund_request_expired(operation=operation)
        if expired:
            # Past its time, it is expired now rather than at the next `reconcile`: its amount
            # is released at once.
            _expire(operation=operation, actor=Actor.system("expiry"))
        elif forbidden is None:
            payment = operation.payment
            balances = payment_balances(payment=payment)
            # What the payment could refund were this request not there: its own amount is
            # among the reserved ones.
            available = payment_balances(
                payment=payment,
                reserved_refunds=balances.reserved_refunds - operation.amount,
                reserved_cancels=balances.reserved_cancels,
            ).refundable
            if operation.amount > available:
                raise ActionRefused(
                    "The payment can no longer refund this amount: at most "
                    f"{format_money(available, payment.currency)} is refundable now. "
                    "Reject the request, or ask for a new one."
                )
            transition_to(operation, OperationStatus.APPROVED)
            transition_to(operation, OperationStatus.IN_FLIGHT)
            operation.decided_by = actor.user
            operation.decided_at = timezone.now()
            operation.save()
            audit_record(
                actor=actor,
                action=AuditAction.REFUND_APPROVED,
                operation=operation,
                amount=operation.amount,
            )
    if forbidden is not None:
        _refuse(actor=actor, operation=operation, refusal=forbidden)
    if expired:
        raise ActionRefused(
            f"This request waited more than {settings.REFUND_APPROVAL_EXPIRY_DAYS} days and has "
            "expired: nothing was sent, and its amount is released. If the refund is still due, "
            "it has to be asked for again."
        )
    return operation_execute(operation_id=operation.pk, actor=actor)


def refund_reject(*, operation_id, actor, note):
    """Reject another person's refund request with a note saying why; its amount is released.

    Raises ActionForbidden (audited) for one's own request or without the approval permission;
    ActionRefused without a note or when the request is no longer waiting.
    """
    if not actor.user.has_perm("payments.approve_refund"):
        _refuse(
            actor=actor,
            operation=Operation.objects.filter(pk=operation_id).first(),
            refusal=ActionForbidden("Only managers can reject refunds."),
        )
    with transaction.atomic(durable=True):
        operation, forbidden = _awaiting_decision(
            operation_id=operation_id, actor=actor, verb="reject"
        )
        # The note is asked for only of somebody who may reject: a forged rejection of one's
        # own request is refused (and audited) whatever it carries.
        if forbidden is None and not note.strip():
            raise ActionRefused("Write a note saying why the request is rejected.")
        if forbidden is None:
            transition_to(operation, OperationStatus.REJECTED)
            operation.decided_by = actor.user
            operation.decided_at = timezone.now()
            operation.decision_note = note.strip()
            operation.save()
            audit_record(
                actor=actor,
                action=AuditAction.REFUND_REJECTED,
                operation=operation,
                amount=operation.amount,
                message=operation.decision_note,
            )
    if forbidden is not None:
        _refuse(actor=actor, operation=operation, refusal=forbidden)
    return operation


def refund_withdraw(*, operation_id, actor):
    """Withdraw one's own refund request while it waits for approval; its amount is released.

    Raises ActionForbidden (audited) for somebody else's request; ActionRefused when the
    request is no longer waiting.
    """
    with transaction.atomic(durable=True):
        operation = _lock_request(operation_id)
        mine = _is_requester(operation, actor)
        if mine:
            _ensure_waiting(operation)
            transition_to(operation, OperationStatus.WITHDRAWN)
            operation.decided_by = actor.user
            operation.decided_at = timezone.now()
            operation.save()
            audit_record(
                actor=actor,
                action=AuditAction.REFUND_WITHDRAWN,
                operation=operation,
                amount=operation.amount,
            )
    if not mine:
        _refuse(
            actor=actor,
            operation=operation,
            refusal=ActionForbidden("Only the person who asked for a refund can withdraw it."),
        )
    return operation


def refund_request_expired(*, operation):
    """Whether a refund request has waited longer than REFUND_APPROVAL_EXPIRY_DAYS: then it
    can no longer be approved, even before refunds_expire() has released it."""
    return operation.created_at < refund_request_expiry_cutoff()


def _expire(*, operation, actor):
    transition_to(operation, OperationStatus.EXPIRED)
    operation.decided_at = timezone.now()
    operation.save()
    audit_record(
        actor=actor,
        action=AuditAction.REFUND_EXPIRED,
        operation=operation,
        amount=operation.amount,
        message=f"Not decided within {settings.REFUND_APPROVAL_EXPIRY_DAYS} days.",
    )


def refunds_expire(*, actor=None):
    """Expire the refund requests that have waited longer than REFUND_APPROVAL_EXPIRY_DAYS,
    releasing their amounts. Returns how many expired."""
    actor = actor or Actor.system("expiry")
    expired = 0
    stale = Operation.objects.filter(
        kind=OperationKind.REFUND,
        status=OperationStatus.AWAITING_APPROVAL,
        created_at__lt=refund_request_expiry_cutoff(),
    ).values_list("pk", "payment_id")
    for operation_id, payment_id in stale:
        with transaction.atomic(durable=True):
            lock_payment(payment_id=payment_id)
            operation = lock_operation(operation_id=operation_id)
            if operation.status == OperationStatus.AWAITING_APPROVAL:
                _expire(operation=operation, actor=actor)
                expired += 1
    return expired
