"""Reconciliation: settling operations whose outcome we do not know by reading the provider.

An operation is unresolved when its outcome is unknown (a timeout, a lost answer, a 5xx),
when the provider said it is pending, or when it is still in flight after its call's deadline
and a margin (RECONCILE_IN_FLIGHT_MARGIN): the process that sent it stopped. A younger call may
still be running, and is left alone. For each, the provider's view of the payment decides:

- Vipps records our idempotency key on every event: the operation happened exactly when an
  event carries its key.
- Optty lists refunds with its own ids: an operation whose id we know is matched by it.
- Otherwise (Bambora, SimplePS, and operations whose answer was lost) the provider's totals
  are compared with our settled sums: the difference must be made of exactly one choice of
  the unresolved operations, or nothing is decided. A total the provider's answer does not
  show (Bambora's published GET has no refunds) decides nothing.

The totals say nothing while another operation of the same kind is under way (in flight,
or settled while the provider was being read): the provider may already have done it, and its
money must not be taken for an unresolved operation's. Those operations stay unresolved until
the next check.

Only an operation that the provider's answer positively shows never happened is sent again,
with the same key, amount and reference, and not before the provider's Retry-After. "Not
there" proves nothing while the call may still be carried out: a provider that was too slow to
answer (a timeout, a 5xx, a dropped connection) may finish it after we gave up. So the read
that proves it never happened must have been taken after the call's deadline and the margin
(call_may_run_until); before then it is left for a later check. What no
check can prove stays unresolved, its amount reserved; after NEEDS_PERSON_AFTER_CHECKS checks
or NEEDS_PERSON_AFTER_HOURS hours it is marked as needing a person (payments.services.attention),
and a later check that finds proof still settles it. One payment is checked by one process at
a time (payments.locks.payment_check_lock).
"""

import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from payments.locks import lock_operation, lock_payment, payment_check_lock
from payments.models import AuditAction, Operation, OperationKind, Payment
from payments.providers.base import Movement, Outcome, ProviderError, ProviderPayment
from payments.providers.registry import provider_for
from payments.selectors import currency_mismatch, operations_under_way
from payments.services.audit import Actor, audit_record
from payments.services.execution import operation_execute
from payments.services.ledger import (
    AGGREGATE_FIELD,
    call_deadline,
    operation_put_in_flight,
    operation_settle,
)
from payments.statuses import (
    AWAITING_OUTCOME_STATUSES,
    FINAL_STATUSES,
    UNRESOLVED_STATUSES,
    OperationStatus,
    transition_to,
)

# Beyond this many unresolved operations of one kind on one payment, totals cannot tell them
# apart in reasonable time; a person has to.
MAX_OPERATIONS_TO_MATCH = 12

BUSY = (
    "This payment is being checked with the provider right now (by somebody else, or by the "
    "scheduled check); look again in a moment."
)
NEEDS_PERSON = (
    " No check could prove what happened, so it now needs a person: a manager checks the "
    "payment in the provider's portal and resolves it."
)


class Verdict:
    HAPPENED = "happened"
    FAILED = "failed"
    PENDING = "pending"
    NOT_HAPPENED = "not happened"
    UNCLEAR = "unclear"


@dataclass(frozen=True)
class Judgement:
    verdict: str
    amount: int = 0
    message: str = ""


@dataclass(frozen=True)
class Finding:
    """What reconciliation did with one operation, in words for the agent."""

    operation: Operation
    message: str
    resolved: bool
    # Sent again now; or proven never to have happened but left to the background check,
    # which sends it again (a request sends at most `resends`: payment_reconcile).
    resent: bool = False
    queued: bool = False


def unresolved_operations(*, margin: float | None = None) -> QuerySet[Operation]:
    """Operations whose outcome must be read from the provider, oldest first: unknown, pending,
    and in flight for `margin` seconds (RECONCILE_IN_FLIGHT_MARGIN by default) after their
    call's deadline. An operation without a stored deadline (sent before deadlines were
    stored) counts from its last change plus PROVIDER_TIMEOUT."""
    margin = settings.RECONCILE_IN_FLIGHT_MARGIN if margin is None else margin
    abandoned_before = timezone.now() - timedelta(seconds=margin)
    return Operation.objects.filter(
        Q(status__in=AWAITING_OUTCOME_STATUSES)
        | Q(status=OperationStatus.IN_FLIGHT, deadline__lt=abandoned_before)
        | Q(
            status=OperationStatus.IN_FLIGHT,
            deadline__isnull=True,
            updated_at__lt=abandoned_before - timedelta(seconds=settings.PROVIDER_TIMEOUT),
        )
    ).order_by("created_at", "pk")


def call_may_run_until(operation: Operation, *, margin: float) -> datetime:
    """Until when the provider may still carry out the operation's last call: its deadline and
    `margin` seconds (the provider does not stop when our client gives up). An operation sent
    before deadlines were stored counts from its creation plus PROVIDER_TIMEOUT."""
    deadline = operation.deadline or operation.created_at + timedelta(seconds=settings.PROVIDER_TIMEOUT)
    return deadline + timedelta(seconds=margin)


def _judge_by_movements(movements: Sequence[Movement]) -> Judgement:
    if any(movement.outcome == Outcome.SUCCEEDED for movement in movements):
        succeeded = [m for m in movements if m.outcome == Outcome.SUCCEEDED]
        return Judgement(Verdict.HAPPENED, amount=sum(m.amount for m in succeeded))
    if any(movement.outcome == Outcome.PENDING for movement in movements):
        return Judgement(Verdict.PENDING)
    if movements:
        return Judgement(Verdict.FAILED)
    return Judgement(Verdict.NOT_HAPPENED)


def _unique_choice(operations: Sequence[Operation], difference: int) -> list[Operation] | None:
    """The operations that make up `difference`, when exactly one choice of amounts does
    (operations of equal amounts are interchangeable: the earliest are taken); else None."""
    if difference < 0 or len(operations) > MAX_OPERATIONS_TO_MATCH:
        return None
    choices: set[tuple[int, ...]] = set()
    for size in range(len(operations) + 1):
        for combination in itertools.combinations(operations, size):
            if sum(operation.amount for operation in combination) == difference:
                choices.add(tuple(sorted(operation.amount for operation in combination)))
    if len(choices) != 1:
        return None
    wanted = Counter(choices.pop())
    chosen: list[Operation] = []
    for operation in operations:
        if wanted[operation.amount]:
            wanted[operation.amount] -= 1
            chosen.append(operation)
    return chosen


def judge(
    *,
    payment: Payment,
    operations: Sequence[Operation],
    seen: ProviderPayment,
    under_way: Iterable[Operation] = (),
) -> dict[Operation, Judgement]:
    """Decide, from the provider's view `seen` (a ProviderPayment) of `payment`, what became of
    each unresolved operation. `under_way`: the payment's other operations whose outcome may be
    in `seen` but not yet in `payment` (in flight, or settled while the provider was read); the
    totals of their kind decide nothing. Returns {operation: Judgement}."""
    judgements: dict[Operation, Judgement] = {}
    by_totals: list[Operation] = []
    for operation in operations:
        if seen.keys_recorded:
            matches = [m for m in seen.movements if m.key == operation.idempotency_key]
            judgements[operation] = _judge_by_movements(matches)
            continue
        matches = [
            m
            for m in seen.movements
            if operation.provider_reference and m.provider_reference == operation.provider_reference
        ]
        if matches:
            judgements[operation] = _judge_by_movements(matches)
        else:
            by_totals.append(operation)

    known_references = {operation.provider_reference for operation in operations} - {""}
    kinds_under_way = {operation.kind for operation in under_way}
    for kind, field in AGGREGATE_FIELD.items():
        candidates = [operation for operation in by_totals if operation.kind == kind]
        if not candidates:
            continue
        label = OperationKind(kind).label.lower()
        total = seen.total(kind)
        if total is None or kind in kinds_under_way:
            message = (
                f"The provider's answer does not show its {label}s, so it cannot tell whether "
                "this happened; check the payment in the provider's portal."
                if total is None
                else f"Another {label} of this payment is still under way; the provider's totals "
                "can tell about this one once that one's outcome is known."
            )
            for operation in candidates:
                judgements[operation] = Judgement(Verdict.UNCLEAR, message=message)
            continue
        unmatched_pending = [
            m
            for m in seen.movements
            if m.kind == kind
            and m.outcome == Outcome.PENDING
            and m.provider_reference not in known_references
        ]
        just_settled = sum(
            judgement.amount
            for operation, judgement in judgements.items()
            if operation.kind == kind and judgement.verdict == Verdict.HAPPENED
        )
        difference = total - getattr(payment, field) - just_settled
        chosen = None if unmatched_pending else _unique_choice(candidates, difference)
        if chosen is None:
            message = (
                "The provider's totals do not tell whether this happened; check the payment "
                "in the provider's portal."
            )
            for operation in candidates:
                judgements[operation] = Judgement(Verdict.UNCLEAR, message=message)
            continue
        for operation in candidates:
            if operation in chosen:
                judgements[operation] = Judgement(Verdict.HAPPENED, amount=operation.amount)
            else:
                judgements[operation] = Judgement(Verdict.NOT_HAPPENED)
    return judgements


def _retry(*, operation: Operation, actor: Actor) -> Operation | None:
    """Send an operation again that the provider shows never happened: same key, same amount,
    a new deadline. Does nothing (returns None) when somebody else moved the operation
    meanwhile."""
    with transaction.atomic(durable=True):
        lock_payment(payment_id=operation.payment_id)
        current = lock_operation(operation_id=operation.pk)
        if current.updated_at != operation.updated_at or current.status != operation.status:
            return None
        if current.status == OperationStatus.IN_FLIGHT:
            # Abandoned by the process that sent it: this is a new call, with its own deadline.
            current.deadline = call_deadline()
        else:
            operation_put_in_flight(current)
        current.save()
        audit_record(
            actor=actor,
            action=AuditAction.OPERATION_RECONCILED,
            operation=current,
            amount=current.amount,
            message="The provider shows it never happened: sent again with the same key.",
        )
    return operation_execute(operation_id=current.pk, actor=actor, resend=True)


def _apply(
    *,
    operation: Operation,
    judgement: Judgement,
    actor: Actor,
    read_at: datetime,
    margin: float,
    may_resend: bool,
) -> Finding:
    """Act on one judgement of a read taken at `read_at`: settle what the provider proves, send
    again what it proves never happened (not before its Retry-After, and only when the read was
    taken after the call could have ended: call_may_run_until; when not `may_resend`, leave it
    to the background check), and record a check on what it leaves unproven."""
    settle: dict[str, Any] = {
        "operation_id": operation.pk,
        "actor": actor,
        "audit_action": AuditAction.OPERATION_RECONCILED,
        "expected_updated_at": operation.updated_at,
    }
    kind = operation.get_kind_display().lower()
    match judgement.verdict:
        case Verdict.HAPPENED:
            settled = operation_settle(
                **settle,
                status=OperationStatus.SUCCEEDED,
                settled_amount=judgement.amount,
                message="Confirmed by the provider.",
            )
            return Finding(settled, f"The provider confirms the {kind}.", True)
        case Verdict.FAILED:
            operation_settle(
                **settle,
                status=OperationStatus.FAILED,
                failure_message=f"The provider lists this {kind} as failed.",
            )
            return Finding(operation, f"The provider lists the {kind} as failed.", True)
        case Verdict.PENDING:
            if operation.status != OperationStatus.PENDING:
                operation = operation_settle(**settle, status=OperationStatus.PENDING)
            return _unproven(
                operation, f"The provider is still processing the {kind}.", actor=actor, pending=True
            )
        case Verdict.NOT_HAPPENED if operation.status != OperationStatus.PENDING:
            may_run_until = call_may_run_until(operation, margin=margin)
            retry_not_before = max(operation.retry_not_before or may_run_until, may_run_until)
            if read_at <= may_run_until or timezone.now() < retry_not_before:
                # Too early: not a check that proved nothing (none is counted).
                wait = timezone.localtime(retry_not_before)
                if retry_not_before > may_run_until:
                    message = (
                        f"The provider does not show the {kind}; it is sent again after "
                        f"{wait:%H:%M:%S}, when the provider asked us to try again, if it does "
                        "not show it then either."
                    )
                else:
                    message = (
                        f"The provider does not show the {kind} yet, but it may still carry out "
                        f"the call until {wait:%H:%M:%S}; only a check after then can show that "
                        "it never happened. The scheduled check takes it up then."
                    )
                return Finding(operation, message, False)
            if not may_resend:
                return Finding(
                    operation,
                    f"The provider never received the {kind}; the background check sends it "
                    "again in a moment.",
                    False,
                    queued=True,
                )
            retried = _retry(operation=operation, actor=actor)
            if retried is None:
                return Finding(operation, "Somebody else is resolving this already.", False)
            return Finding(
                retried,
                f"The provider never received the {kind}; it was sent again: "
                f"{retried.get_status_display().lower()}.",
                retried.status in FINAL_STATUSES,
                resent=True,
            )
    message = judgement.message or (
        f"The provider no longer lists this pending {kind}; check the payment in its portal."
    )
    return _unproven(operation, message, actor=actor)


def _unproven(operation: Operation, message: str, *, actor: Actor, pending: bool = False) -> Finding:
    """Record a check that proved nothing about `operation`: it stays reserved. One still in
    flight (abandoned by its process) becomes unknown. Past NEEDS_PERSON_AFTER_CHECKS such
    checks, or NEEDS_PERSON_AFTER_HOURS after its call (a pending one: the hours only), it is
    marked as needing a person. Returns the Finding."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        payment = lock_payment(payment_id=operation.payment_id)
        current = lock_operation(operation_id=operation.pk)
        current.payment = payment
        if current.status not in UNRESOLVED_STATUSES:
            # Settled meanwhile (a notification, an answer that came after all).
            return Finding(current, f"Settled meanwhile: {current.get_status_display().lower()}.", True)
        if current.updated_at != operation.updated_at:
            # Moved since it was read (sent again, or checked, by another process): what this
            # check found is not about it any more.
            return Finding(current, "Somebody else is resolving this already.", False)
        if current.status == OperationStatus.IN_FLIGHT:
            transition_to(current, OperationStatus.UNKNOWN)
            current.failure_message = (
                "The call to the provider ended without an answer (the process that sent it "
                f"stopped). {message}"
            )
            audit_record(
                actor=actor,
                action=AuditAction.OPERATION_RECONCILED,
                operation=current,
                amount=current.amount,
                after={"status": current.status},
                message=current.failure_message,
            )
        if not pending:
            current.checks += 1
        current.last_checked_at = now
        current.last_check = message
        sent_at = current.deadline or current.created_at
        overdue = now - sent_at >= timedelta(hours=settings.NEEDS_PERSON_AFTER_HOURS)
        checked_enough = not pending and current.checks >= settings.NEEDS_PERSON_AFTER_CHECKS
        marked = current.needs_person_since is None and (overdue or checked_enough)
        if marked:
            current.needs_person_since = now
            audit_record(
                actor=actor,
                action=AuditAction.OPERATION_NEEDS_PERSON,
                operation=current,
                amount=current.amount,
                message=f"{message}{NEEDS_PERSON}",
            )
        current.save()
    return Finding(current, message + (NEEDS_PERSON if marked else ""), False)


@dataclass(frozen=True)
class ProviderRead:
    """One read of a payment at its provider: what it showed (`seen`, a ProviderPayment), or
    why it could not be read (`error`); `at`: when the read began."""

    at: datetime
    seen: ProviderPayment | None = None
    error: ProviderError | None = None


def provider_read(*, payment: Payment) -> ProviderRead:
    """Read `payment` at its provider, once."""
    at = timezone.now()
    try:
        return ProviderRead(at=at, seen=provider_for(payment.provider).fetch(payment.reference))
    except ProviderError as error:
        return ProviderRead(at=at, error=error)


@dataclass(frozen=True)
class Check:
    """What a check of one payment with its provider found: a Finding per unresolved
    operation, and the read that judged them (None when nothing needed checking), so that a
    sync goes on from the same read rather than asking again. `booked_from_read`: the ids of
    the operations the read showed carried out, now succeeded: their money is in the read and
    in our aggregate alike."""

    findings: list[Finding]
    read: ProviderRead | None = None
    booked_from_read: frozenset[int] = frozenset()


def payment_reconcile(
    *, payment_id: int, actor: Actor, margin: float | None = None, resends: int | None = None
) -> list[Finding]:
    """Resolve the payment's unresolved operations by reading the provider ("Check with
    provider"). Returns a Finding per operation; an empty list when there was nothing to
    check. When the provider cannot be read, nothing is settled and each finding says so.

    One read of the provider, and at most `resends` operations sent again (None: all that the
    read proves never happened). A request passes a bound so that it ends well within its
    time (each call may take PROVIDER_TIMEOUT); what is left is queued for the background
    reconcile task, and its finding says so.

    Only one process checks a payment at a time (payment_check_lock): while another does,
    nothing is asked or changed, and each finding says so. `margin`: see unresolved_operations.
    """
    with payment_check_lock(payment_id=payment_id) as acquired:
        if not acquired:
            operations = unresolved_operations(margin=margin).filter(payment_id=payment_id)
            return [Finding(operation, BUSY, False) for operation in operations]
        check = payment_check(payment_id=payment_id, actor=actor, margin=margin, resends=resends)
    background_check_for(check.findings)
    return check.findings


def background_check_for(findings: list[Finding]) -> None:
    """Queue the background reconcile task (once the transaction, if any, commits) when one of
    `findings` left an operation to it. Called once the payment's check lock is let go: the
    task checks the payment itself."""
    if any(finding.queued for finding in findings):
        transaction.on_commit(_queue_background_check)


def _queue_background_check() -> None:
    from payments.tasks import reconcile

    reconcile.enqueue()


def payment_check(
    *, payment_id: int, actor: Actor, margin: float | None = None, resends: int | None = None
) -> Check:
    """payment_reconcile for a caller that holds the payment's payment_check_lock, returning
    the whole Check: the findings and the provider's read they were judged by. The caller
    hands the findings to background_check_for once it has let go of the lock."""
    operations = list(unresolved_operations(margin=margin).filter(payment_id=payment_id))
    if not operations:
        return Check(findings=[])
    margin = settings.RECONCILE_IN_FLIGHT_MARGIN if margin is None else margin
    payment = Payment.objects.get(pk=payment_id)
    read = provider_read(payment=payment)
    if read.error is not None:
        message = f"The provider could not be asked: {read.error.message}"
        return Check(findings=[_unproven(op, message, actor=actor) for op in operations], read=read)
    # A read without an error showed the payment (provider_read).
    assert read.seen is not None
    if mismatch := currency_mismatch(payment=payment, seen=read.seen):
        message = f"{mismatch}; check the payment in the provider's portal."
        return Check(findings=[_unproven(op, message, actor=actor) for op in operations], read=read)
    under_way = operations_under_way(payment_id=payment_id, since=read.at).exclude(
        pk__in=[operation.pk for operation in operations]
    )
    judgements = judge(payment=payment, operations=operations, seen=read.seen, under_way=list(under_way))
    findings: list[Finding] = []
    booked: set[int] = set()
    for operation in operations:
        may_resend = resends is None or sum(finding.resent for finding in findings) < resends
        finding = _apply(
            operation=operation,
            judgement=judgements[operation],
            actor=actor,
            read_at=read.at,
            margin=margin,
            may_resend=may_resend,
        )
        happened = judgements[operation].verdict == Verdict.HAPPENED
        if happened and finding.operation.status == OperationStatus.SUCCEEDED:
            booked.add(operation.pk)
        findings.append(finding)
    return Check(findings=findings, read=read, booked_from_read=frozenset(booked))


def reconcile_all(*, actor: Actor, margin: float | None = None) -> list[Finding]:
    """payment_reconcile for every payment with unresolved operations. Returns the findings."""
    payment_ids = (
        unresolved_operations(margin=margin)
        .order_by()
        .values_list("payment_id", flat=True)
        .distinct()
    )
    findings: list[Finding] = []
    for payment_id in list(payment_ids):
        findings += payment_reconcile(payment_id=payment_id, actor=actor, margin=margin)
    return findings
