"""Comparing our aggregates with the providers' and recording what moved without us."""

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from payments.locks import lock_payment
from payments.models import AuditAction, Operation, OperationKind, Payment
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
from payments.services.reconcile import payment_reconcile
from payments.statuses import UNRESOLVED_STATUSES, OperationStatus


@dataclass
class SyncReport:
    payment: Payment
    synced: bool = False
    notes: list[str] = field(default_factory=list)


def _kinds_under_way(payment, read_at):
    """The kinds of operation whose money may be at the provider but not yet in our aggregate,
    or the other way round: any operation still unresolved, whatever its age (one in flight may
    have been carried out already, its answer not yet back), and any settled since the
    provider was read."""
    return set(
        Operation.objects.filter(payment=payment)
        .filter(
            Q(status__in=UNRESOLVED_STATUSES)
            | Q(status=OperationStatus.SUCCEEDED, updated_at__gte=read_at)
        )
        .values_list("kind", flat=True)
    )


def payment_sync(*, payment_id, actor):
    """Read the payment at its provider and bring our record in line: unresolved operations
    are reconciled first; money the provider shows moved beyond our ledger (in its own portal,
    say) is booked as an external operation and audited; a provider showing less than our
    ledger is reported and audited, never corrected silently. Kinds of operation still under
    way are not compared: their outcome must be known first. Returns a SyncReport."""
    payment_reconcile(payment_id=payment_id, actor=actor)
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
        busy_kinds = _kinds_under_way(payment, read_at)
        if seen.authorized > payment.authorized:
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
        # Captures first: a refund found at the provider needs its capture booked before it.
        for kind in (OperationKind.CAPTURE, OperationKind.CANCEL, OperationKind.REFUND):
            name = AGGREGATE_FIELD[kind]
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
                message = (
                    f"The provider shows {amount} less {name} than our ledger"
                    if difference < 0
                    else f"The provider shows {amount} more {name}, more than the payment holds"
                ) + "; left unchanged for a person to check."
                audit_record(
                    actor=actor, action=AuditAction.PAYMENT_SYNCED, payment=payment, message=message
                )
                report.notes.append(message)
        payment.provider_state = seen.state[:40]
        payment.synced_at = timezone.now()
        payment.save(update_fields=["provider_state", "synced_at"])
        report.synced = True
    return report
