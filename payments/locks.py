"""Row locks on payments, always taken in the same order so that two transactions that lock
several payments cannot deadlock each other."""

from payments.models import Payment


def lock_payments(*, ids):
    """Lock the payments with these ids until the transaction ends; returns them by id.

    Must run inside transaction.atomic(). Missing ids are left out of the result.
    """
    payments = Payment.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    return {payment.pk: payment for payment in payments}


def lock_payment(*, payment_id):
    """Lock one payment until the transaction ends, and return it fresh from the database."""
    return Payment.objects.select_for_update(of=("self",)).select_related("order").get(pk=payment_id)
