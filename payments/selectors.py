"""Reads shared by views, services and commands."""

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import MD5, Coalesce

from payments.models import Operation, OperationKind, Payment
from payments.money import to_minor
from payments.providers.registry import PROVIDER_CLASSES
from payments.statuses import RESERVING_STATUSES, OperationStatus


@dataclass(frozen=True)
class Balances:
    """What can still be done with a payment's money. Amounts held by operations that may yet
    move money (awaiting approval, in flight, pending, unknown) are not available."""

    refundable: int
    cancellable: int
    reserved_refunds: int
    reserved_cancels: int
    # Refunded plus refunds that may still happen: what counts toward the approval limit.
    refunds_so_far: int


def _reserved(kind):
    return Coalesce(
        Sum(
            "operations__amount",
            filter=Q(operations__kind=kind, operations__status__in=RESERVING_STATUSES),
        ),
        Value(0),
    )


def payment_balances(*, payment, reserved_refunds=None, reserved_cancels=None):
    """The payment's Balances: the one place where refundable and cancellable are computed.

    Pass the reserved sums when they are already known (payments_with_balances annotates
    them); otherwise they are read from the ledger.
    """
    if reserved_refunds is None or reserved_cancels is None:
        sums = Payment.objects.filter(pk=payment.pk).aggregate(
            refunds=_reserved(OperationKind.REFUND),
            cancels=_reserved(OperationKind.CANCEL) + _reserved(OperationKind.CAPTURE),
        )
        reserved_refunds, reserved_cancels = sums["refunds"], sums["cancels"]
    uncaptured = payment.authorized - payment.captured - payment.cancelled
    if payment.captured and not PROVIDER_CLASSES[payment.provider].cancels_after_capture:
        uncaptured = 0
    return Balances(
        refundable=max(payment.captured - payment.refunded - reserved_refunds, 0),
        cancellable=max(uncaptured - reserved_cancels, 0),
        reserved_refunds=reserved_refunds,
        reserved_cancels=reserved_cancels,
        refunds_so_far=payment.refunded + reserved_refunds,
    )


def payments_with_balances(queryset):
    """The payments of `queryset`, each with `.balances` set, in one query."""
    payments = queryset.annotate(
        reserved_refunds_sum=_reserved(OperationKind.REFUND),
        reserved_cancels_sum=_reserved(OperationKind.CANCEL) + _reserved(OperationKind.CAPTURE),
    )
    result = list(payments)
    for payment in result:
        payment.balances = payment_balances(
            payment=payment,
            reserved_refunds=payment.reserved_refunds_sum,
            reserved_cancels=payment.reserved_cancels_sum,
        )
    return result


def _settled_sum(kind):
    return Coalesce(
        Subquery(
            Operation.objects.filter(
                payment=OuterRef("pk"), kind=kind, status=OperationStatus.SUCCEEDED
            )
            .values("payment")
            .annotate(total=Sum("settled_amount"))
            .values("total")
        ),
        Value(0),
    )


def ledger_mismatches():
    """Payments whose aggregate differs from the sum of their settled operations, each with
    `ledger_captured`, `ledger_cancelled` and `ledger_refunded` annotated."""
    return (
        Payment.objects.annotate(
            ledger_captured=_settled_sum(OperationKind.CAPTURE),
            ledger_cancelled=_settled_sum(OperationKind.CANCEL),
            ledger_refunded=_settled_sum(OperationKind.REFUND),
        )
        .filter(
            ~Q(captured=F("ledger_captured"))
            | ~Q(cancelled=F("ledger_cancelled"))
            | ~Q(refunded=F("ledger_refunded"))
        )
        .select_related("order")
        .order_by("pk")
    )


def refund_approval_limit(*, currency):
    """The currency's approval limit in minor units, or None when the currency has none (then
    every refund needs approval). From settings.REFUND_APPROVAL_LIMITS, in major units."""
    limit = settings.REFUND_APPROVAL_LIMITS.get(currency)
    return None if limit is None else to_minor(Decimal(str(limit).strip()), currency)


def refund_without_approval(*, payment, balances):
    """How much more can be refunded on the payment without a manager's approval: approval is
    cumulative per payment, so refunds so far (and those under way) count against the limit."""
    limit = refund_approval_limit(currency=payment.currency)
    if limit is None:
        return 0
    return max(0, min(limit - balances.refunds_so_far, balances.refundable))


def payments_by_reference(reference):
    """Payments whose provider reference is exactly `reference`, found through the MD5 index
    (references of up to 2,000 characters are too long for a plain btree)."""
    digest = hashlib.md5(reference.encode()).hexdigest()
    return Payment.objects.alias(reference_md5=MD5("reference")).filter(
        reference_md5=digest, reference=reference
    )
