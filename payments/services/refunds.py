"""Refunds: asked for by an agent, approved by another person when they are large, sent to the
provider exactly once."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from payments.approval_limits import refund_without_approval
from payments.exceptions import ActionForbidden, ActionRefused
from payments.locks import lock_operation, lock_order, lock_payment
from payments.models import AuditAction, Operation, OperationKind, Payment, RefundLine, RefundReason
from payments.money import format_money
from payments.order_lines import RefundItems
from payments.roles import may
from payments.selectors import (
    approval_conflict,
    order_refund_offer,
    payment_balances,
    refund_request_expiry_cutoff,
)
from payments.services.audit import Actor, audit_record, audit_refusal
from payments.services.decision_notices import decision_notice_add
from payments.services.execution import operation_execute
from payments.services.ledger import operation_for_submission, operation_open, operation_put_in_flight
from payments.services.notifications import notify_managers_of_request, notify_requester_of_decision
from payments.statuses import OperationStatus, transition_to


def refund_request(
    *,
    payment_id: int,
    amount: int,
    reason: str,
    note: str = "",
    actor: Actor,
    idempotency_key: str | None,
    items: RefundItems | None = None,
) -> Operation:
    """Refund `amount` (minor units) of a payment, or file the refund for a manager's approval
    when the payment's refunds, this one included, would exceed the currency's limit.

    `items` (RefundItems), on an order with lines: the units of each line, and the shipping,
    that the refund gives back. They are recorded with the operation, and `amount` may be at
    most what they come to (less is fine: a deduction). A line's units are never refunded
    beyond its quantity, by this payment or another of the order: they are claimed under the
    order's lock, and given back when the refund fails or is never sent.

    `idempotency_key` comes with the form the agent submitted: the same form sent twice makes
    one refund, and the second call returns the first one's operation. Returns the operation:
    succeeded, failed, pending, unknown, or awaiting_approval (nothing sent yet).

    Raises ActionRefused when the amount is more than can be refunded now (amounts under way
    are held back), when the items are no longer there to refund or come to less than the
    amount, or when the reason is missing.
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
        # Items first: that they were refunded meanwhile says more than what is left to refund.
        claims = _claim_items(payment=payment, items=items, amount=amount) if items else []
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
        for claim in claims:
            claim.operation = operation
        RefundLine.objects.bulk_create(claims)
        audit_record(
            actor=actor,
            action=AuditAction.REFUND_REQUESTED,
            operation=operation,
            amount=amount,
            message=" ".join(
                filter(None, [_items_text(claims), "Waiting for a manager's approval." if needs_approval else ""])
            ),
        )
        if needs_approval:
            transaction.on_commit(lambda: notify_managers_of_request(operation_id=operation.pk))
            return operation
    return operation_execute(operation_id=operation.pk, actor=actor)


def _claim_items(*, payment: Payment, items: RefundItems, amount: int) -> list[RefundLine]:
    """The RefundLines (unsaved) that give back `items` of the payment's order, claimed under
    the order's lock, which the caller's transaction holds from here on. Raises ActionRefused
    when a line has fewer units left, the shipping is refunded already, or the items come to
    less than `amount`."""
    offer = order_refund_offer(order=lock_order(order_id=payment.order_id))
    if offer is None:
        raise ActionRefused("This order has no lines to refund by. Refund an amount instead.")
    claims: list[RefundLine] = []
    for line_id, quantity in items.quantities.items():
        if not quantity:
            continue
        line = offer.line(line_id)
        if line is None or quantity < 0:
            raise ActionRefused("This form lists items of another order. Reload the page and try again.")
        if quantity > line.remaining:
            raise ActionRefused(
                f"“{line.line.name}” is refunded already, or being refunded."
                if line.remaining == 0
                else f"Only {line.remaining} of “{line.line.name}” can still be refunded; the "
                "others are refunded already, or being refunded."
            )
        claims.append(
            RefundLine(order_line=line.line, quantity=quantity, amount=line.amount_for(quantity))
        )
    if items.shipping:
        if not offer.shipping_refundable:
            raise ActionRefused(
                "The shipping is refunded already, or being refunded."
                if offer.shipping
                else "This order has no shipping to refund."
            )
        claims.append(RefundLine(order_line=None, quantity=1, amount=offer.shipping))
    worth = sum(claim.amount for claim in claims)
    if amount > worth:
        raise ActionRefused(
            f"The items chosen come to {format_money(worth, payment.currency)}: refund at most "
            "that, or choose more items."
        )
    return claims


def _items_text(claims: list[RefundLine]) -> str:
    """The items of a refund by line in words, for its history: "2 × Tent pegs; shipping."."""
    if not claims:
        return ""
    parts = [
        f"{claim.quantity} × {claim.order_line.name}" if claim.order_line else "shipping"
        for claim in claims
    ]
    return "Items: " + "; ".join(parts) + "."


def _lock_request(operation_id: int) -> Operation:
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


def _ensure_waiting(operation: Operation) -> None:
    if operation.status != OperationStatus.AWAITING_APPROVAL:
        raise ActionRefused(
            "This request is no longer waiting for approval: it is "
            f"{operation.get_status_display().lower()}."
        )


def _is_requester(operation: Operation, actor: Actor) -> bool:
    return actor.user is not None and operation.requested_by_id == actor.user.pk


def _awaiting_decision(
    *, operation_id: int, actor: Actor, verb: str
) -> tuple[Operation, ActionForbidden | None]:
    """Lock the request's payment and the request; refuse when it is no longer waiting, or
    when the person deciding asked for it. Returns (operation, refusal) where refusal is an
    ActionForbidden to audit and raise once the transaction is over, or None."""
    operation = _lock_request(operation_id)
    if _is_requester(operation, actor):
        return operation, ActionForbidden(f"You cannot {verb} your own refund request.")
    _ensure_waiting(operation)
    return operation, None


def refund_approve(*, operation_id: int, actor: Actor) -> Operation:
    """Approve another person's refund request and send it to the provider. Returns the
    operation as the provider left it (see refund_request).

    Raises ActionForbidden (audited) for one's own request, without the approval permission, or
    when the approver's account was made or made an approver by the requester or too recently
    (payments.selectors.approval_conflict); ActionRefused when the request is no longer
    waiting, has expired, or asks for more than the payment can refund now; then nothing is
    sent.
    """
    if actor.user is None or not may(actor.user, "payments.approve_refund"):
        audit_refusal(
            actor=actor,
            operation=Operation.objects.filter(pk=operation_id).first(),
            refusal=ActionForbidden("Only managers can approve refunds."),
        )
    with transaction.atomic(durable=True):
        operation, forbidden = _awaiting_decision(
            operation_id=operation_id, actor=actor, verb="approve"
        )
        if forbidden is None:
            conflict = approval_conflict(approver=actor.user, requester=operation.requested_by)
            forbidden = ActionForbidden(conflict.message) if conflict else None
        expired = forbidden is None and refund_request_expired(operation=operation)
        if expired:
            # Past its time, it is expired now rather than at the next `reconcile`: its amount
            # is released at once.
            _expire(operation=operation, actor=Actor.system("expiry"))
        elif forbidden is None:
            payment = operation.payment
            # What the payment could refund were this request not there: its own amount is
            # among the reserved ones.
            available = payment_balances(payment=payment, excluding=operation).refundable
            if operation.amount > available:
                raise ActionRefused(
                    "The payment can no longer refund this amount: at most "
                    f"{format_money(available, payment.currency)} is refundable now. "
                    "Reject the request, or ask for a new one."
                )
            transition_to(operation, OperationStatus.APPROVED)
            operation_put_in_flight(operation)
            operation.decided_by = actor.user
            operation.decided_at = timezone.now()
            operation.save()
            audit_record(
                actor=actor,
                action=AuditAction.REFUND_APPROVED,
                operation=operation,
                amount=operation.amount,
            )
            decision_notice_add(operation=operation)
    if forbidden is not None:
        audit_refusal(actor=actor, operation=operation, refusal=forbidden)
    if expired:
        raise ActionRefused(
            f"This request waited more than {settings.REFUND_APPROVAL_EXPIRY_DAYS} days and has "
            "expired: nothing was sent, and its amount is released. If the refund is still due, "
            "it has to be asked for again."
        )
    executed = operation_execute(operation_id=operation.pk, actor=actor)
    # Told once the provider has answered, so that the e-mail says what became of the money.
    transaction.on_commit(lambda: notify_requester_of_decision(operation_id=executed.pk))
    return executed


def refund_reject(*, operation_id: int, actor: Actor, note: str) -> Operation:
    """Reject another person's refund request with a note saying why; its amount is released.

    Raises ActionForbidden (audited) for one's own request or without the approval permission;
    ActionRefused without a note or when the request is no longer waiting.
    """
    if actor.user is None or not may(actor.user, "payments.approve_refund"):
        audit_refusal(
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
            decision_notice_add(operation=operation)
            transaction.on_commit(lambda: notify_requester_of_decision(operation_id=operation.pk))
    if forbidden is not None:
        audit_refusal(actor=actor, operation=operation, refusal=forbidden)
    return operation


def refund_withdraw(*, operation_id: int, actor: Actor) -> Operation:
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
        audit_refusal(
            actor=actor,
            operation=operation,
            refusal=ActionForbidden("Only the person who asked for a refund can withdraw it."),
        )
    return operation


def refund_request_expired(*, operation: Operation) -> bool:
    """Whether a refund request has waited longer than REFUND_APPROVAL_EXPIRY_DAYS: then it
    can no longer be approved, even before refunds_expire() has released it."""
    return operation.created_at < refund_request_expiry_cutoff()


def _expire(*, operation: Operation, actor: Actor) -> None:
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
    decision_notice_add(operation=operation)
    transaction.on_commit(lambda: notify_requester_of_decision(operation_id=operation.pk))


def refunds_expire(*, actor: Actor | None = None) -> int:
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
