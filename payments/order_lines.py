"""Refunds by line: what is left to refund of an itemized order's lines and shipping, and what
a choice of them comes to. Read from the ledger by selectors.order_refund_offer()."""

from dataclasses import dataclass, field

from payments.models import OrderLine


@dataclass(frozen=True)
class LineOffer:
    """One order line with what its refunds have claimed so far: `refunded` units (the refund
    succeeded) and `held` units (by refunds that may still move money: awaiting approval, in
    flight, pending, unknown); `claimed_amount` is what those units came to."""

    line: OrderLine
    refunded: int
    held: int
    claimed_amount: int

    @property
    def remaining(self) -> int:
        """Units that can still be refunded."""
        return self.line.quantity - self.refunded - self.held

    @property
    def remaining_amount(self) -> int:
        return self.line.total - self.claimed_amount

    def amount_for(self, quantity: int) -> int:
        """What `quantity` of the remaining units come to: their share of what is left of the
        line, rounded down, so that the last units take the rest and a line's refunds add up
        to exactly its amount however it is split (tax included). desk.js computes the same
        from the same two numbers."""
        if quantity >= self.remaining:
            return self.remaining_amount
        return self.remaining_amount * quantity // self.remaining


@dataclass(frozen=True)
class RefundItems:
    """What an agent chose to refund by line: units per order line id, and the shipping."""

    quantities: dict[int, int] = field(default_factory=dict)
    shipping: bool = False

    def __bool__(self) -> bool:
        return self.shipping or any(self.quantities.values())


@dataclass(frozen=True)
class RefundOffer:
    """What can still be refunded of an order's lines and shipping."""

    lines: list[LineOffer]  # in the shop's order
    shipping: int
    shipping_refunded: bool
    shipping_held: bool

    @property
    def shipping_refundable(self) -> bool:
        return self.shipping > 0 and not self.shipping_refunded and not self.shipping_held

    def line(self, line_id: int) -> LineOffer | None:
        """The LineOffer of order line `line_id`, or None when the order has no such line."""
        return next((offer for offer in self.lines if offer.line.pk == line_id), None)

    def amount_for(self, items: RefundItems) -> int:
        """What `items` (RefundItems within what remains) come to, in minor units."""
        offers = {offer.line.pk: offer for offer in self.lines}
        amount = sum(
            offers[line_id].amount_for(quantity) for line_id, quantity in items.quantities.items() if quantity
        )
        return amount + (self.shipping if items.shipping else 0)
