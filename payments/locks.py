"""Row locks on payments and their operations, always taken in the same order (payments by
id, then their order, then the operation) so that two transactions cannot deadlock each other.

They are FOR NO KEY UPDATE locks: they exclude each other, but not the key-share locks that
PostgreSQL takes to check a foreign key when a row referring to a locked one is inserted (an
audit event, an operation). A FOR UPDATE lock would make such an insert wait, and an insert
that had already key-share-locked the operation while waiting for its payment deadlocked with
an approver holding the payment and asking for the operation.

Checking a payment with its provider is guarded by payment_check_lock, which is not a row lock:
no transaction may stay open across a call to a provider.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from payments.models import Operation, Order, Payment


def lock_payment(*, payment_id: int) -> Payment:
    """Lock one payment until the transaction ends, and return it fresh from the database."""
    return (
        Payment.objects.select_for_update(no_key=True, of=("self",))
        .select_related("order")
        .get(pk=payment_id)
    )


def lock_operation(*, operation_id: int) -> Operation:
    """Lock one operation until the transaction ends (after its payment: lock_payment), and
    return it fresh from the database."""
    return Operation.objects.select_for_update(no_key=True).get(pk=operation_id)


def lock_order(*, order_id: int) -> Order:
    """Lock an order until the transaction ends (after its payment: lock_payment), and return
    it fresh. Its lines are refunded from any of its payments: refunds by line take this lock
    so that two of them, on one payment or on two, cannot claim the same units."""
    return Order.objects.select_for_update(no_key=True).get(pk=order_id)


# The first key of the advisory locks on payments ("RECN"): the second is the payment's id.
RECONCILE_LOCK_CLASS = 0x5245434E
_local_locks: set[int] = set()
_local_locks_guard = threading.Lock()


@contextmanager
def payment_check_lock(*, payment_id: int) -> Iterator[bool]:
    """Hold, while the block runs, the right to check the payment with its provider and settle
    what the check finds (payments.services.reconcile, payments.services.sync, a person
    resolving an operation); yields whether it was had: False when somebody else holds it
    now. It does not wait.

    On PostgreSQL it is a session advisory lock, which lives outside any transaction: the block
    may call the provider with no transaction open, and a process that dies lets go of it with
    its connection. Elsewhere (SQLite: the demo, whose web server and task worker are two
    processes) it is a lock of this process only, so two processes may check one payment at
    once. That costs a second read of the provider at most, never a second send or booking:
    every write of a check re-reads the operation under SQLite's write lock (its transactions
    take it at BEGIN, see settings) and leaves it alone when it has moved since it was read
    (operation_settle's expected_updated_at, reconciliation's retry), as a person's decision
    does (needs_person).
    """
    if connection.vendor == "postgresql":
        key = [RECONCILE_LOCK_CLASS, _int4(payment_id)]
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
            acquired = cursor.fetchone()[0]
        try:
            yield acquired
        finally:
            if acquired:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
        return
    with _local_locks_guard:
        acquired = payment_id not in _local_locks
        _local_locks.add(payment_id)
    try:
        yield acquired
    finally:
        if acquired:
            with _local_locks_guard:
                _local_locks.discard(payment_id)


def _int4(number: int) -> int:
    """A payment id as the signed 32-bit key PostgreSQL's two-key advisory locks take. Ids
    2**32 apart share a key: they would only wait for each other, which is harmless."""
    return (number + 2**31) % 2**32 - 2**31
