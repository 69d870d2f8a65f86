"""Comparing our aggregates with the providers' and recording what moved without us."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from payments.locks import lock_payment
from payments.models import AuditAction, OperationKind, Payment
from payments.money import format_money
from payments.providers.base import ProviderError
from payments.providers.registry import provider_for
from payments.services.audit import audit_record
from payments.services.ledger import (
    AGGREGATE_FIELD,
    aggregate_fits,
    aggregate_of,
    operation_record_external,
)
from payments.services.reconcile import currency_mismatch, operations_under_way, payment_reconcile


class SyncOutcome(StrEnum):
    # The provider agrees with our ledger, or showed only money moved without us, now booked.
    SYNCED = "synced"
    # The provider was read but disagrees in a way nobody may correct silently (another
    # currency, less than our ledger, more than the payment can hold): the payment is marked
    # not synced and the difference audited, for a person to check.
    DISAGREES = "disagrees"
    # The provider could not be read: nothing changed.
    UNREADABLE = "unreadable"


@dataclass
class SyncReport:
    payment: Payment
    outcome: SyncOutcome = SyncOutcome.UNREADABLE
    notes: list[str] = field(default_factory=list)

    @property
    def synced(self):
        """Whether the payment is in step with its provider (its synced_at was set now)."""
        return self.outcome == SyncOutcome.SYNCED

    @property
    def disagrees(self):
        return self.outcome == SyncOutcome.DISAGREES


def payment_sync(*, payment_id, actor, resends=None):
    """Read the payment at its provider and bring our record in line: unresolved operations
    are reconciled first (sending at most `resends` of them again: payment_reconcile); money the provider shows moved beyond our ledger (in its own portal,
    say) is booked as an external operation and audited. Kinds of operation still under way
    are not compared: their outcome must be known first.

    A provider that holds the payment in another currency, or shows less than our ledger (or
    more than the payment can hold), is never corrected silently: the difference is audited
    and noted, and the payment is marked not synced (synced_at cleared) until a sync finds it
    in step. Returns a SyncReport: its outcome is SYNCED, DISAGREES or UNREADABLE (the
    provider could not be read; nothing changed)."""
    payment_reconcile(payment_id=payment_id, actor=actor, resends=resends)
    payment = Payment.objects.get(pk=payment_id)
    report = SyncReport(payment=payment)
    read_at = timezone.now()
    try:
        seen = provider_for(payment.provider).fetch(payment.reference)
    except ProviderError as error:
        report.notes.append(f"The provider could not be read: {error.message}")
        return report
    seen_totals = {
        OperationKind.CAPTURE: seen.captured,
        OperationKind.CANCEL: seen.cancelled,
        OperationKind.REFUND: seen.refunded,
    }
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
        # The kinds whose outcome must be known before their totals can be compared.
        busy_kinds = set(
            operations_under_way(payment_id=payment.pk, since=read_at).values_list("kind", flat=True)
        )
        disagreements = []
        if seen.authorized is None:
            report.notes.append("The provider's answer does not show the authorized amount; not compared.")
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
            amount = format_money(payment.authorized - seen.authorized, payment.currency)
            disagreements.append(
                f"The provider shows {amount} less authorized than our ledger; left unchanged "
                "for a person to check."
            )
        # Captures first: a refund found at the provider needs its capture booked before it.
        for kind in (OperationKind.CAPTURE, OperationKind.CANCEL, OperationKind.REFUND):
            name = AGGREGATE_FIELD[kind]
            if seen_totals[kind] is None:
                # Bambora's published read shows no refunds, for one: nothing to compare.
                report.notes.append(f"The provider's answer does not show what was {name}; not compared.")
                continue
            difference = seen_totals[kind] - getattr(payment, name)
            if difference == 0:
                continue
            if kind in busy_kinds:
                report.notes.append(
                    f"{kind.label}s under way; their outcome must be known before comparing."
                )
                continue
            if difference > 0 and aggregate_fits(payment, kind, difference):
                operation_record_external(
                    payment=payment,
                    kind=kind,
                    amount=difference,
                    actor=actor,
                    provider_response={"state": seen.state, name: seen_totals[kind]},
                    message=(
                        f"The provider shows {format_money(difference, payment.currency)} more "
                        f"{name} than the back office did."
                    ),
                )
                report.notes.append(
                    f"{kind.label} of {format_money(difference, payment.currency)} made outside "
                    "the back office recorded."
                )
            else:
                amount = format_money(abs(difference), payment.currency)
                disagreements.append(
                    (
                        f"The provider shows {amount} less {name} than our ledger"
                        if difference < 0
                        else f"The provider shows {amount} more {name}, more than the payment "
                        "holds"
                    )
                    + "; left unchanged for a person to check."
                )
        if disagreements:
            _disagree(report, actor=actor, state=seen.state, message=" ".join(disagreements))
            return report
        payment.provider_state = seen.state[:40]
        payment.synced_at = timezone.now()
        payment.save(update_fields=["provider_state", "synced_at"])
        report.outcome = SyncOutcome.SYNCED
    return report


def _disagree(report, *, actor, state, message):
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


def payments_sync(*, days, actor, payment_ids=None, report=None):
    """payment_sync for each payment created in the last `days` days and each never synced (or
    for `payment_ids` only), one at a time. `report(SyncReport)` is called after each.
    Returns a Counter of outcomes."""
    if payment_ids:
        payments = Payment.objects.filter(pk__in=payment_ids)
    else:
        since = timezone.now() - timedelta(days=days)
        payments = Payment.objects.filter(Q(synced_at__isnull=True) | Q(created_at__gte=since))
    counts = Counter()
    for payment_id in payments.order_by("pk").values_list("pk", flat=True).iterator():
        sync_report = payment_sync(payment_id=payment_id, actor=actor)
        counts[sync_report.outcome] += 1
        if report is not None:
            report(sync_report)
    return counts
