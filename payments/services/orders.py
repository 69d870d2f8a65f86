"""Orders as they arrive from the shop, with the payments that paid for them."""

import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from payments.customer_names import folded_name
from payments.models import AuditAction, Order, OrderLine
from payments.money import format_money
from payments.selectors import payments_by_reference
from payments.services.audit import Actor, audit_record
from payments.services.ledger import aggregate_of, payment_open
from payments.services.sync import payment_sync


@dataclass(frozen=True, kw_only=True)
class NewPayment:
    provider: str
    reference: str
    amount: int  # authorized, minor units of the order's currency
    captured: int = 0


@dataclass(frozen=True, kw_only=True)
class NewLine:
    sku: str
    name: str
    quantity: int
    unit_price: int  # minor units of the order's currency
    tax: int = 0  # the whole line's, minor units

    @property
    def total(self) -> int:
        return self.quantity * self.unit_price + self.tax


class PaymentTaken(Exception):
    """Another order holds one of the payments already. `indexes`: the positions, in the
    payments given, of those found taken. Nothing was stored."""

    message = "Another order already has this payment."

    def __init__(self, indexes: list[int]) -> None:
        super().__init__(indexes)
        self.indexes = indexes


class PaymentTakenMeanwhile(PaymentTaken):
    """Another request stored one of the payments while this one was being stored (both
    passed the check, the database's unique index refused the second). Nothing was stored."""

    message = "Another order has just been stored with one of these payments."


def order_receive(
    *,
    number: str,
    customer_name: str,
    customer_email: str,
    currency: str,
    total: int,
    payments: Sequence[NewPayment],
    actor: Actor,
    lines: Sequence[NewLine] = (),
    shipping: int = 0,
) -> tuple[Order, bool]:
    """Take an order the shop sent (the intake API): the stored order when its number is known
    already, nothing duplicated; otherwise store it with its payments (order_create) and read
    each payment's aggregate at its provider. A provider that does not answer, or payments left
    when reading has taken a PROVIDER_TIMEOUT already, stay not yet synced, for
    `manage.py sync_payments`. Returns `(order, created)`.

    The caller has checked the shape of the input (amounts fit the currency, references the
    provider takes, lines and shipping add up to the total). Raises PaymentTaken when another order holds one of the payments, and
    PaymentTakenMeanwhile when a concurrent request stored one of them first.
    """
    existing = Order.objects.filter(number=number).first()
    if existing is not None:
        return existing, False
    taken = [
        index
        for index, new in enumerate(payments)
        if payments_by_reference(new.reference).filter(provider=new.provider).exists()
    ]
    if taken:
        raise PaymentTaken(taken)
    try:
        order, created = order_create(
            number=number,
            customer_name=customer_name,
            customer_email=customer_email,
            currency=currency,
            total=total,
            payments=payments,
            actor=actor,
            lines=lines,
            shipping=shipping,
        )
    except IntegrityError as error:
        # The order number's own race is settled by get_or_create; what is left is a payment
        # reference stored by another order after the check above.
        raise PaymentTakenMeanwhile(list(range(len(payments)))) from error
    if created:
        # The shop waits for this answer (and a server worker with it): the providers are read
        # for about one PROVIDER_TIMEOUT at most; payments left over stay not yet synced.
        deadline = time.monotonic() + settings.PROVIDER_TIMEOUT
        for payment_id in order.payments.order_by("pk").values_list("pk", flat=True):
            if time.monotonic() >= deadline:
                break
            payment_sync(payment_id=payment_id, actor=actor)
    return order, created


def order_create(
    *,
    number: str,
    customer_name: str,
    customer_email: str,
    currency: str,
    total: int,
    payments: Sequence[NewPayment],
    actor: Actor,
    lines: Sequence[NewLine] = (),
    shipping: int = 0,
) -> tuple[Order, bool]:
    """Store an order, its lines (NewLine, in the shop's order) and shipping, and its payments,
    or return the stored one when the order number is already known (the shop sent it again).
    Returns `(order, created)`.

    The caller has validated the input (see backoffice.api); money the shop has already
    captured is booked as a succeeded capture, so the aggregate equals the ledger from the
    first moment.
    """
    with transaction.atomic(durable=True):
        order, created = Order.objects.get_or_create(
            number=number,
            defaults={
                "customer_name": customer_name,
                "customer_name_folded": folded_name(customer_name),
                "customer_email": customer_email,
                "currency": currency,
                "total": total,
                "itemized": bool(lines),
                "shipping": shipping,
            },
        )
        if not created:
            return order, False
        OrderLine.objects.bulk_create(
            OrderLine(
                order=order,
                position=position,
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
                unit_price=line.unit_price,
                tax=line.tax,
            )
            for position, line in enumerate(lines)
        )
        for new in payments:
            payment = payment_open(
                order=order,
                provider=new.provider,
                reference=new.reference,
                currency=currency,
                authorized=new.amount,
                captured=new.captured,
                actor=actor,
            )
            audit_record(
                actor=actor,
                action=AuditAction.ORDER_RECEIVED,
                payment=payment,
                amount=new.amount,
                after=aggregate_of(payment),
                message=f"Authorized {format_money(new.amount, currency)}, captured "
                f"{format_money(new.captured, currency)} by the shop.",
            )
        if not payments:
            audit_record(
                actor=actor,
                action=AuditAction.ORDER_RECEIVED,
                order=order,
                amount=total,
                currency=currency,
                message="No payments.",
            )
    return order, True
