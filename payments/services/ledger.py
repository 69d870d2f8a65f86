"""The ledger: opening payments and operations and settling them, with the payment's aggregate
(`authorized`, `captured`, `cancelled`, `refunded`) moved in the same transaction, under the
payment's row lock. Nothing else writes the aggregate (tests/payments/services/test_ledger.py
scans the code for any other writer)."""

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from payments.balances import aggregate_room
from payments.exceptions import ActionRefused
from payments.locks import lock_operation, lock_payment
from payments.models import AuditAction, Operation, OperationKind, OperationSource, Order, Payment
from payments.money import format_money
from payments.services.audit import Actor, audit_record
from payments.statuses import FINAL_STATUSES, INITIAL_STATUSES, OperationStatus, transition_to

if TYPE_CHECKING:
    from payments.providers.base import ProviderPayment

AGGREGATE_FIELD: dict[str, str] = {
    OperationKind.CAPTURE: "captured",
    OperationKind.CANCEL: "cancelled",
    OperationKind.REFUND: "refunded",
}


def new_idempotency_key() -> str:
    """A fresh operation key: short enough for every provider (Vipps allows 50 characters)."""
    return f"bo-{uuid.uuid4().hex}"


def call_deadline(now: datetime | None = None) -> datetime:
    """When a call to a provider that starts now ends at the latest (PROVIDER_TIMEOUT)."""
    return (now or timezone.now()) + timedelta(seconds=settings.PROVIDER_TIMEOUT)


def operation_put_in_flight(operation: Operation) -> None:
    """Move `operation` (locked, unsaved) in flight, with its call's deadline: until that has
    passed, and a margin after, nobody may take the call for abandoned."""
    transition_to(operation, OperationStatus.IN_FLIGHT)
    operation.deadline = call_deadline()
    operation.retry_not_before = None


def aggregate_of(payment: Payment) -> dict[str, int]:
    return {
        "authorized": payment.authorized,
        "captured": payment.captured,
        "cancelled": payment.cancelled,
        "refunded": payment.refunded,
    }


def aggregate_fits(payment: Payment, kind: str, amount: int) -> bool:
    """Whether booking `amount` of `kind` keeps the payment's aggregate possible."""
    return amount <= aggregate_room(payment, kind)


def _apply(payment: Payment, kind: str, amount: int) -> None:
    field = AGGREGATE_FIELD[kind]
    setattr(payment, field, getattr(payment, field) + amount)
    payment.save(update_fields=[field])


def operation_for_submission(
    *, idempotency_key: str | None, payment: Payment, kind: str, amount: int, actor: Actor
) -> Operation | None:
    """The operation already made from this same form (a double click, the back button), or
    None (always None without a key). Call with the payment locked. A key that was used for anything else (another
    payment, amount, kind or person) is refused: it cannot be borrowed."""
    existing = Operation.objects.filter(idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    same = (
        existing.payment_id == payment.pk
        and existing.kind == kind
        and existing.amount == amount
        and existing.requested_by_id == getattr(actor.user, "pk", None)
    )
    if not same:
        raise ActionRefused("This form has already been used. Reload the page and try again.")
    return existing


def operation_open(
    *,
    payment: Payment,
    kind: str,
    amount: int,
    status: str,
    actor: Actor,
    source: str = OperationSource.BACKOFFICE,
    reason: str = "",
    note: str = "",
    idempotency_key: str | None = None,
    provider_reference: str = "",
    provider_response: Any = None,  # the provider's answer as JSON, for the record
) -> Operation:
    """Write a new operation on `payment`, which the caller has locked (payments.locks) in the
    current transaction. An operation born `succeeded` (found at the provider, or captured by
    the shop before the order reached us) moves the aggregate at once."""
    if status not in INITIAL_STATUSES:
        raise ValueError(f"An operation cannot start as {status}.")
    now = timezone.now()
    operation = Operation(
        payment=payment,
        kind=kind,
        source=source,
        amount=amount,
        status=status,
        reason=reason,
        note=note,
        idempotency_key=idempotency_key or new_idempotency_key(),
        requested_by=actor.user if actor.user is not None else None,
        approval_required=status == OperationStatus.AWAITING_APPROVAL,
        provider_reference=provider_reference,
        provider_response=provider_response,
        created_at=now,
        deadline=call_deadline(now) if status == OperationStatus.IN_FLIGHT else None,
    )
    if status == OperationStatus.SUCCEEDED:
        operation.settled_amount = amount
        operation.settled_at = now
        _apply(payment, kind, amount)
    operation.save()
    return operation


def operation_settle(
    *,
    operation_id: int,
    expected_updated_at: datetime | None = None,
    attempt_deadline: datetime | None = None,
    **outcome: Any,  # operation_settle_locked's keyword arguments
) -> Operation:
    """Record where an operation has got to (succeeded, failed, pending, unknown), and move
    the payment's aggregate when it succeeded, in one transaction under the payment's lock
    (see operation_settle_locked for `outcome`). With `expected_updated_at`, nothing changes
    when the operation has moved since (somebody else settled it meanwhile). With
    `attempt_deadline` (the deadline of the call whose answer this is), nothing changes when
    the operation has been sent again since, with a deadline of its own: the answer of an
    earlier attempt must not settle a newer one, which may still be in the air. That answer
    is audited. Returns the operation."""
    with transaction.atomic(durable=True):
        payment_id = Operation.objects.values_list("payment_id", flat=True).get(pk=operation_id)
        payment = lock_payment(payment_id=payment_id)
        operation = lock_operation(operation_id=operation_id)
        operation.payment = payment
        if expected_updated_at is not None and operation.updated_at != expected_updated_at:
            return operation
        if attempt_deadline is not None and operation.deadline != attempt_deadline:
            said = OperationStatus(outcome["status"]).label.lower()
            words = outcome.get("failure_message") or outcome.get("message")
            audit_record(
                actor=outcome["actor"],
                action=outcome.get("audit_action", AuditAction.OPERATION_SETTLED),
                operation=operation,
                amount=operation.amount,
                after={"status": operation.status, "answer": outcome["status"]},
                message="The answer to an earlier attempt came after the operation was sent "
                f"again; not booked. It said: {said}" + (f" ({words})." if words else "."),
            )
            return operation
        return operation_settle_locked(payment=payment, operation=operation, **outcome)


def operation_settle_locked(
    *,
    payment: Payment,
    operation: Operation,
    status: str,
    actor: Actor,
    settled_amount: int | None = None,
    failure_message: str = "",
    provider_code: str = "",
    provider_reference: str = "",
    provider_response: Any = None,  # the provider's answer as JSON, for the record
    retry_after: int | None = None,
    decided_by: User | None = None,
    decision_note: str = "",
    audit_action: AuditAction = AuditAction.OPERATION_SETTLED,
    message: str = "",
) -> Operation:
    """operation_settle for an operation and its payment that the caller has locked
    (payments.locks) in the current transaction.

    A success is booked at `settled_amount` (what the provider confirmed), or the operation's
    amount when it is None (the provider names no amount). Recording a final status the
    operation already has changes nothing (a notification delivered twice). A confirmed amount
    of nothing (0 or less: a success that moved no money contradicts itself) or one that the
    payment cannot hold leaves the operation `unknown`, its amount reserved, for a person to
    check. `retry_after` (seconds) keeps reconciliation from sending it again before then;
    `decided_by` and `decision_note` record a person's decision. Raises IllegalTransition for
    any other move the status table does not allow.
    """
    if operation.status == status and status in FINAL_STATUSES:
        return operation
    before = aggregate_of(payment)
    if status == OperationStatus.SUCCEEDED:
        amount = operation.amount if settled_amount is None else settled_amount
        if amount <= 0:
            status = OperationStatus.UNKNOWN
            failure_message = (
                "The provider confirmed it but named no money moved; check the payment at "
                "the provider."
            )
        elif not aggregate_fits(payment, operation.kind, amount):
            status = OperationStatus.UNKNOWN
            failure_message = (
                "The provider confirmed an amount that does not fit this payment; "
                "check the payment at the provider."
            )
        else:
            transition_to(operation, status)
            operation.settled_amount = amount
            _apply(payment, operation.kind, amount)
    if operation.status != status:
        transition_to(operation, status)
    now = timezone.now()
    if status in FINAL_STATUSES:
        operation.settled_at = now
    operation.failure_message = failure_message
    operation.provider_code = provider_code or operation.provider_code
    operation.provider_reference = provider_reference or operation.provider_reference
    if provider_response is not None:
        operation.provider_response = provider_response
    if retry_after is not None:
        operation.retry_not_before = now + timedelta(seconds=retry_after)
    if decided_by is not None:
        operation.decided_by = decided_by
        operation.decided_at = now
        operation.decision_note = decision_note
    operation.save()
    audit_record(
        actor=actor,
        action=audit_action,
        operation=operation,
        amount=operation.settled_amount or operation.amount,
        before=before,
        after=aggregate_of(payment) | {"status": operation.status},
        message=message or failure_message,
    )
    return operation


def operation_record_external(
    *,
    payment: Payment,
    kind: str,
    amount: int,
    actor: Actor,
    provider_reference: str = "",
    provider_response: Any = None,  # the provider's answer as JSON, for the record
    message: str = "",
) -> Operation:
    """Book money that moved outside the back office (in a provider's own portal, say) as a
    succeeded operation of source "provider", so that it is shown and audited, never silently
    merged into the aggregate. `payment` is locked by the caller's transaction."""
    before = aggregate_of(payment)
    operation = operation_open(
        payment=payment,
        kind=kind,
        amount=amount,
        status=OperationStatus.SUCCEEDED,
        actor=actor,
        source=OperationSource.PROVIDER,
        provider_reference=provider_reference,
        provider_response=provider_response,
    )
    audit_record(
        actor=actor,
        action=AuditAction.EXTERNAL_RECORDED,
        operation=operation,
        amount=amount,
        before=before,
        after=aggregate_of(payment),
        message=message,
    )
    return operation


def payment_open(
    *, order: Order, provider: str, reference: str, currency: str, authorized: int, captured: int, actor: Actor
) -> Payment:
    """Store a payment of `order` (in the caller's transaction) with its authorized amount, and
    what the shop has captured of it already as a succeeded capture of source "shop": the
    aggregate equals the ledger from the first moment."""
    payment = Payment.objects.create(
        order=order, provider=provider, reference=reference, currency=currency, authorized=authorized
    )
    if captured:
        operation_open(
            payment=payment,
            kind=OperationKind.CAPTURE,
            amount=captured,
            status=OperationStatus.SUCCEEDED,
            actor=actor,
            source=OperationSource.SHOP,
        )
    return payment


@dataclass
class ProviderViewBooking:
    """What payment_book_provider_view did, in words: `notes` on what was booked or not
    compared, and `disagreements`: what the provider shows that nobody may book silently."""

    notes: list[str] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)


def payment_book_provider_view(
    *, payment: Payment, seen: "ProviderPayment", busy_kinds: Collection[str], actor: Actor
) -> ProviderViewBooking:
    """Bring `payment` (locked by the caller's transaction) up to what its provider shows:
    `seen`, a ProviderPayment in the payment's currency. A larger authorization is taken;
    money the provider shows moved beyond our ledger (in its own portal, say) is booked as a
    succeeded operation of source "provider" (operation_record_external), captures first, so
    that a refund found there has its capture booked before it. Both are audited.

    A total the provider does not show, or of a kind in `busy_kinds` (operations under way:
    their outcome must be known first), is not compared. Less than our ledger, or more than
    the payment can hold, is never booked: it comes back among the disagreements, for a
    person to check."""
    booking = ProviderViewBooking()
    currency = payment.currency
    if seen.authorized is None:
        booking.notes.append("The provider's answer does not show the authorized amount; not compared.")
    elif seen.authorized > payment.authorized:
        before = aggregate_of(payment)
        payment.authorized = seen.authorized
        payment.save(update_fields=["authorized"])
        audit_record(
            actor=actor,
            action=AuditAction.PAYMENT_SYNCED,
            payment=payment,
            before=before,
            after=aggregate_of(payment),
            message="Authorized amount taken from the provider.",
        )
    elif seen.authorized < payment.authorized:
        amount = format_money(payment.authorized - seen.authorized, currency)
        booking.disagreements.append(
            f"The provider shows {amount} less authorized than our ledger; left unchanged "
            "for a person to check."
        )
    for kind in (OperationKind.CAPTURE, OperationKind.CANCEL, OperationKind.REFUND):
        name = AGGREGATE_FIELD[kind]
        total = seen.total(kind)
        if total is None:
            # Bambora's published read shows no refunds, for one: nothing to compare.
            booking.notes.append(f"The provider's answer does not show what was {name}; not compared.")
            continue
        difference = total - getattr(payment, name)
        if difference == 0:
            continue
        if kind in busy_kinds:
            booking.notes.append(f"{kind.label}s under way; their outcome must be known before comparing.")
            continue
        if difference > 0 and aggregate_fits(payment, kind, difference):
            operation_record_external(
                payment=payment,
                kind=kind,
                amount=difference,
                actor=actor,
                provider_response={"state": seen.state, name: total},
                message=f"The provider shows {format_money(difference, currency)} more {name} than the "
                "back office did.",
            )
            booking.notes.append(
                f"{kind.label} of {format_money(difference, currency)} made outside the back office recorded."
            )
        else:
            amount = format_money(abs(difference), currency)
            booking.disagreements.append(
                (
                    f"The provider shows {amount} less {name} than our ledger"
                    if difference < 0
                    else f"The provider shows {amount} more {name}, more than the payment holds"
                )
                + "; left unchanged for a person to check."
            )
    return booking
