"""What can still be done with a payment's money: the one place where refundable, cancellable
and the room left in its aggregate are computed (DESIGN.md, "Domain").

Pure functions of a payment's aggregate and of the amounts its operations hold back; the
reserved amounts are read by payments.selectors (payment_balances for one payment,
with_reserved_sums for a queryset of them)."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from payments.capabilities import CAPABILITIES

if TYPE_CHECKING:
    from payments.models import Payment

REFUND = "refund"


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


def balances_of(payment: "Payment", *, reserved_refunds: int, reserved_cancels: int) -> Balances:
    """The payment's Balances, given what its operations hold back of refunds and of cancels
    (captures under way included). A provider that cancels nothing once part of a payment is
    captured (payments.capabilities) has nothing cancellable then."""
    uncaptured = aggregate_room(payment, "cancel")
    if payment.captured and not CAPABILITIES[payment.provider].cancels_after_capture:
        uncaptured = 0
    return Balances(
        refundable=max(aggregate_room(payment, REFUND) - reserved_refunds, 0),
        cancellable=max(uncaptured - reserved_cancels, 0),
        reserved_refunds=reserved_refunds,
        reserved_cancels=reserved_cancels,
        refunds_so_far=payment.refunded + reserved_refunds,
    )


def aggregate_room(payment: "Payment", kind: str) -> int:
    """How much more of `kind` ("capture", "cancel", "refund") the payment's aggregate can
    hold, whatever is under way: a refund what is captured and not refunded, a capture or a
    cancel what is authorized and neither captured nor cancelled."""
    if kind == REFUND:
        return payment.captured - payment.refunded
    return payment.authorized - payment.captured - payment.cancelled


def money_state(payment: "Payment") -> str:
    """A short word for where the payment's money stands, from its aggregate alone (nothing
    under way counts): "refunded", "partly captured", "cancelled" ..."""
    if payment.refunded:
        return "refunded" if aggregate_room(payment, REFUND) == 0 else "partly refunded"
    if payment.captured:
        return "captured" if aggregate_room(payment, "capture") == 0 else "partly captured"
    if payment.cancelled and aggregate_room(payment, "cancel") == 0:
        return "cancelled"
    return "authorized"
