"""Comparing our aggregates with the providers' and recording what moved without us."""

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from payments.locks import lock_payment, payment_check_lock
from payments.models import AuditAction, Payment
from payments.selectors import currency_mismatch, operations_under_way
from payments.services.audit import Actor, audit_record
from payments.services.ledger import aggregate_of, payment_book_provider_view
from payments.services.reconcile import Check, background_check_for, payment_check, provider_read


class SyncOutcome(StrEnum):
    # The provider agrees with our ledger, or showed only money moved without us, now booked.
    SYNCED = "synced"
    # The provider was read but disagrees in a way nobody may correct silently (another
    # currency, less than our ledger, more than the payment can hold): the payment is marked
    # not synced and the difference audited, for a person to check.
    DISAGREES = "disagrees"
    # The provider could not be read: nothing changed.
    UNREADABLE = "unreadable"
    # Another process is checking the payment with its provider right now: nothing was read or
    # changed; the next sync takes it up.
    BUSY = "busy"


BUSY_NOTE = (
    "The payment is being checked with the provider by another process right now; nothing was "
    "read or changed."
)


@dataclass
class SyncReport:
    payment: Payment
    outcome: SyncOutcome = SyncOutcome.UNREADABLE
    notes: list[str] = field(default_factory=list)

    @property
    def synced(self) -> bool:
        """Whether the payment is in step with its provider (its synced_at was set now)."""
        return self.outcome == SyncOutcome.SYNCED

    @property
    def disagrees(self) -> bool:
        return self.outcome == SyncOutcome.DISAGREES


def payment_sync(*, payment_id: int, actor: Actor, resends: int | None = None) -> SyncReport:
    """Read the payment at its provider and bring our record in line: unresolved operations
    are reconciled first (sending at most `resends` of them again: payment_reconcile), and
    what the provider shows beyond our ledger is booked by the ledger
    (payment_book_provider_view: a larger authorization, money moved in its own portal, say,
    as external operations, audited), all from one read of the provider. Kinds of operation
    still under way are not compared: their outcome must be known first.

    The payment is checked with its provider by one process at a time (payment_check_lock,
    as reconciliation): while another holds it, nothing is read or changed (BUSY).

    A provider that holds the payment in another currency, or shows less than our ledger (or
    more than the payment can hold), is never corrected silently: the difference is audited
    and noted, and the payment is marked not synced (synced_at cleared) until a sync finds it
    in step. Returns a SyncReport: its outcome is SYNCED, DISAGREES, UNREADABLE (the provider
    could not be read; nothing changed) or BUSY."""
    with payment_check_lock(payment_id=payment_id) as acquired:
        if not acquired:
            return SyncReport(
                payment=Payment.objects.get(pk=payment_id),
                outcome=SyncOutcome.BUSY,
                notes=[BUSY_NOTE],
            )
        check = payment_check(payment_id=payment_id, actor=actor, resends=resends)
        report = _book_the_read(payment_id=payment_id, check=check, actor=actor)
    background_check_for(check.findings)
    return report


def _book_the_read(*, payment_id: int, check: Check, actor: Actor) -> SyncReport:
    """The rest of payment_sync, under the payment's check lock, from the read its check
    made (or a read of its own when nothing needed checking)."""
    payment = Payment.objects.get(pk=payment_id)
    read = check.read or provider_read(payment=payment)
    report = SyncReport(payment=payment)
    if read.error is not None:
        report.notes.append(f"The provider could not be read: {read.error.message}")
        return report
    seen = read.seen
    # A read without an error showed the payment (provider_read).
    assert seen is not None
    with transaction.atomic(durable=True):
        payment = lock_payment(payment_id=payment_id)
        report.payment = payment
        if mismatch := currency_mismatch(payment=payment, seen=seen):
            # Amounts in two currencies cannot be compared: nothing is booked from them.
            _disagree(
                report,
                actor=actor,
                state=seen.state,
                message=f"{mismatch}; nothing compared or changed, for a person to check.",
            )
            return report
        # The kinds whose outcome must be known before their totals can be compared: those
        # the check booked from this very read are in it and in our aggregate alike.
        busy_kinds = set(
            operations_under_way(payment_id=payment.pk, since=read.at)
            .exclude(pk__in=check.booked_from_read)
            .values_list("kind", flat=True)
        )
        booking = payment_book_provider_view(payment=payment, seen=seen, busy_kinds=busy_kinds, actor=actor)
        report.notes += booking.notes
        if booking.disagreements:
            _disagree(report, actor=actor, state=seen.state, message=" ".join(booking.disagreements))
            return report
        payment.provider_state = seen.state[:40]
        payment.synced_at = timezone.now()
        payment.save(update_fields=["provider_state", "synced_at"])
        report.outcome = SyncOutcome.SYNCED
    return report


def _disagree(report: SyncReport, *, actor: Actor, state: str, message: str) -> None:
    """Mark the locked payment not synced, audit why and note it in the report."""
    payment = report.payment
    payment.provider_state = state[:40]
    payment.synced_at = None
    payment.save(update_fields=["provider_state", "synced_at"])
    audit_record(
        actor=actor,
        action=AuditAction.PAYMENT_SYNCED,
        payment=payment,
        after=aggregate_of(payment),
        message=f"Not in step with the provider: {message}",
    )
    report.notes.append(message)
    report.outcome = SyncOutcome.DISAGREES


def payments_sync(
    *,
    days: int,
    actor: Actor,
    payment_ids: Iterable[int] | None = None,
    report: Callable[[SyncReport], object] | None = None,
) -> Counter[SyncOutcome]:
    """payment_sync for each payment created in the last `days` days and each never synced (or
    for `payment_ids` only), one at a time. `report(SyncReport)` is called after each.
    Returns a Counter of outcomes."""
    if payment_ids:
        payments = Payment.objects.filter(pk__in=payment_ids)
    else:
        since = timezone.now() - timedelta(days=days)
        payments = Payment.objects.filter(Q(synced_at__isnull=True) | Q(created_at__gte=since))
    counts: Counter[SyncOutcome] = Counter()
    for payment_id in payments.order_by("pk").values_list("pk", flat=True).iterator():
        sync_report = payment_sync(payment_id=payment_id, actor=actor)
        counts[sync_report.outcome] += 1
        if report is not None:
            report(sync_report)
    return counts
