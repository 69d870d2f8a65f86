"""Row locks on payments and their operations, always taken in the same order (payments by
id, then their order, then the operation) so that two transactions cannot deadlock each other.

They are FOR NO KEY UPDATE locks: they exclude each other, but not the key-share locks that
PostgreSQL takes to check a foreign key when a row referring to a locked one is inserted (an
audit event, an operation). A FOR UPDATE lock would make such an insert wait, and an insert
that had already key-share-locked the operation while waiting for its payment deadlocked with
an approver holding the payment and asking for the operation.
"""

from payments.models import Operation, Order, Payment


def lock_payments(*, ids):
    """Lock the payments with these ids until the transaction ends; returns them by id.

    Must run inside transaction.atomic(). Missing ids are left out of the result.
    """
    payments = Payment.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk")
    return {payment.pk: payment for payment in payments}


def lock_payment(*, payment_id):
    """Lock one payment until the transaction ends, and return it fresh from the database."""
    return (
        Payment.objects.select_for_update(no_key=True, of=("self",))
        .select_related("order")
        .get(pk=payment_id)
    )


def lock_operation(*, operation_id):
    """Lock one operation until the transaction ends (after its payment: lock_payment), and
    return it fresh from the database."""
    return Operation.objects.select_for_update(no_key=True).get(pk=operation_id)


def lock_order(*, order_id):
    """Lock an order until the transaction ends (after its payment: lock_payment), and return
    it fresh. Its lines are refunded from any of its payments: refunds by line take this lock
    so that two of them, on one payment or on two, cannot claim the same units."""
    return Order.objects.select_for_update(no_key=True).get(pk=order_id)
