"""Orders as they arrive from the shop, with the payments that paid for them."""

from dataclasses import dataclass

from django.db import transaction

from payments.models import AuditAction, OperationKind, OperationSource, Order, Payment
from payments.money import format_money
from payments.services.audit import audit_record
from payments.services.ledger import aggregate_of, operation_open
from payments.statuses import OperationStatus


@dataclass(frozen=True, kw_only=True)
class NewPayment:
    provider: str
    reference: str
    amount: int  # authorized, minor units of the order's currency
    captured: int = 0


def order_create(*, number, customer_name, customer_email, currency, total, payments, actor):
    """Store an order and its payments, or return the stored one when the order number is
    already known (the shop sent it again). Returns `(order, created)`.

    The caller has validated the input (see backoffice.api); money the shop has already
    captured is booked as a succeeded capture, so the aggregate equals the ledger from the
    first moment.
    """
    with transaction.atomic(durable=True):
        order, created = Order.objects.get_or_create(
            number=number,
            defaults={
                "customer_name": customer_name,
                "customer_email": customer_email,
                "currency": currency,
                "total": total,
            },
        )
        if not created:
            return order, False
        for new in payments:
            payment = Payment.objects.create(
                order=order,
                provider=new.provider,
                reference=new.reference,
                currency=currency,
                authorized=new.amount,
            )
            if new.captured:
                operation_open(
                    payment=payment,
                    kind=OperationKind.CAPTURE,
                    amount=new.captured,
                    status=OperationStatus.SUCCEEDED,
                    actor=actor,
                    source=OperationSource.SHOP,
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
