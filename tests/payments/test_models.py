"""What PostgreSQL itself refuses, whatever the Python code does: an impossible aggregate, an
impossible ledger row, a change to the audit log, a second payment with the same reference.
Each write goes around the services (queryset .update() or raw SQL), as a bug or a person at
a SQL prompt would."""

import pytest
from django.db import DataError, IntegrityError, ProgrammingError, connection, transaction
from django.db.models import F

from payments.models import AuditAction, AuditEvent, Operation, OperationKind, Order, Payment
from payments.services.audit import Actor, audit_record
from payments.services.ledger import new_idempotency_key
from payments.statuses import OperationStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def payment():
    """EUR 100.00 authorized, 60.00 captured, 10.00 cancelled, 20.00 refunded."""
    order = Order.objects.create(
        number="M-1", customer_name="Kari", customer_email="kari@example.com", currency="EUR", total=10_000
    )
    return Payment.objects.create(
        order=order,
        provider="vipps",
        reference="models-1",
        currency="EUR",
        authorized=10_000,
        captured=6_000,
        cancelled=1_000,
        refunded=2_000,
    )


def refused_by(constraint, write):
    """Run `write` in a savepoint; the database must refuse it naming `constraint`."""
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        write()


@pytest.mark.parametrize(
    ("change", "constraint"),
    [
        ({"refunded": F("captured") + 1}, "payment_refunded_within_captured"),
        ({"captured": 1_000}, "payment_refunded_within_captured"),
        ({"captured": F("authorized") - F("cancelled") + 1}, "payment_captured_cancelled_within_authorized"),
        ({"cancelled": 4_001}, "payment_captured_cancelled_within_authorized"),
        ({"authorized": 6_999}, "payment_captured_cancelled_within_authorized"),
        ({"authorized": -1, "captured": 0, "cancelled": 0, "refunded": 0}, "payment_amounts_not_negative"),
        ({"refunded": -1}, "payment_amounts_not_negative"),
        ({"cancelled": -1}, "payment_amounts_not_negative"),
        ({"captured": 0, "refunded": 0, "cancelled": -5}, "payment_amounts_not_negative"),
    ],
)
def test_the_database_refuses_an_impossible_aggregate(payment, change, constraint):
    refused_by(constraint, lambda: Payment.objects.filter(pk=payment.pk).update(**change))

    payment_now = Payment.objects.get(pk=payment.pk)
    assert (payment_now.authorized, payment_now.captured, payment_now.cancelled, payment_now.refunded) == (
        10_000,
        6_000,
        1_000,
        2_000,
    )


def test_the_aggregate_may_reach_its_limits_exactly(payment):
    Payment.objects.filter(pk=payment.pk).update(captured=9_000, refunded=9_000)

    payment.refresh_from_db()
    assert payment.captured + payment.cancelled == payment.authorized
    assert payment.refunded == payment.captured


def test_raw_sql_cannot_refund_more_than_was_captured(payment):
    def write():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE payments_payment SET refunded = 999999 WHERE id = %s", [payment.pk])

    refused_by("payment_refunded_within_captured", write)


def test_an_order_total_cannot_be_negative(payment):
    refused_by("order_total_not_negative", lambda: Order.objects.filter(pk=payment.order_id).update(total=-1))


def operation(payment, **fields):
    return Operation.objects.create(
        **{
            "payment": payment,
            "kind": OperationKind.REFUND,
            "amount": 1_000,
            "status": OperationStatus.IN_FLIGHT,
            "idempotency_key": new_idempotency_key(),
            **fields,
        }
    )


@pytest.mark.parametrize("amount", [0, -1, -1_000])
def test_an_operation_amount_must_be_positive(payment, amount):
    refused_by("operation_amount_positive", lambda: operation(payment, amount=amount))
    existing = operation(payment)
    refused_by(
        "operation_amount_positive", lambda: Operation.objects.filter(pk=existing.pk).update(amount=amount)
    )


@pytest.mark.parametrize(
    ("status", "settled_amount"),
    [
        # A success says how much moved, and something did (without any amount: see below).
        (OperationStatus.SUCCEEDED, 0),
        (OperationStatus.SUCCEEDED, -100),
        # Anything else moved nothing (yet).
        (OperationStatus.IN_FLIGHT, 1_000),
        (OperationStatus.FAILED, 1_000),
        (OperationStatus.UNKNOWN, 1_000),
        (OperationStatus.PENDING, 1),
        (OperationStatus.AWAITING_APPROVAL, 1_000),
        (OperationStatus.REJECTED, 1_000),
    ],
)
def test_a_settled_amount_belongs_to_succeeded_operations_only(payment, status, settled_amount):
    refused_by(
        "operation_settled_amount_iff_succeeded",
        lambda: operation(payment, status=status, settled_amount=settled_amount),
    )


def test_an_operation_that_moved_money_cannot_be_turned_into_a_failure(payment):
    succeeded = operation(payment, status=OperationStatus.SUCCEEDED, settled_amount=1_000)

    refused_by(
        "operation_settled_amount_iff_succeeded",
        lambda: Operation.objects.filter(pk=succeeded.pk).update(status=OperationStatus.FAILED),
    )


def test_a_succeeded_operation_must_say_how_much_moved(payment):
    refused_by(
        "operation_settled_amount_iff_succeeded",
        lambda: operation(payment, status=OperationStatus.SUCCEEDED, settled_amount=None),
    )


def test_a_succeeded_operation_cannot_lose_its_settled_amount(payment):
    succeeded = operation(payment, status=OperationStatus.SUCCEEDED, settled_amount=1_000)

    refused_by(
        "operation_settled_amount_iff_succeeded",
        lambda: Operation.objects.filter(pk=succeeded.pk).update(settled_amount=None),
    )


def test_two_operations_cannot_share_an_idempotency_key(payment):
    key = new_idempotency_key()
    operation(payment, idempotency_key=key)

    refused_by("idempotency_key", lambda: operation(payment, idempotency_key=key, amount=500))


@pytest.fixture
def event(payment):
    return audit_record(
        actor=Actor.system("tests"), action=AuditAction.ORDER_RECEIVED, payment=payment, amount=10_000
    )


def append_only_refusal(operation_name, write):
    """Run `write`; PostgreSQL's trigger must refuse it (RAISE EXCEPTION, SQLSTATE P0001,
    which psycopg and Django report as ProgrammingError)."""
    with pytest.raises(ProgrammingError) as refused, transaction.atomic():
        write()
    assert refused.value.__cause__.sqlstate == "P0001"
    assert f"The audit log is append-only: {operation_name} on payments_auditevent is refused." in str(
        refused.value
    )


def test_the_audit_log_refuses_updates_through_the_orm(event):
    append_only_refusal("UPDATE", lambda: AuditEvent.objects.filter(pk=event.pk).update(message="nothing happened"))
    event.message = "edited"
    append_only_refusal("UPDATE", lambda: event.save())

    assert AuditEvent.objects.get(pk=event.pk).message == ""


def test_the_audit_log_refuses_deletes_through_the_orm(event):
    append_only_refusal("DELETE", lambda: AuditEvent.objects.filter(pk=event.pk).delete())
    append_only_refusal("DELETE", lambda: event.delete())

    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.parametrize(
    ("operation_name", "sql"),
    [
        ("UPDATE", "UPDATE payments_auditevent SET actor_label = 'somebody else' WHERE id = %s"),
        ("UPDATE", "UPDATE payments_auditevent SET amount = 0 WHERE id = %s"),
        ("DELETE", "DELETE FROM payments_auditevent WHERE id = %s"),
    ],
)
def test_the_audit_log_refuses_changes_in_raw_sql(event, operation_name, sql):
    def write():
        with connection.cursor() as cursor:
            cursor.execute(sql, [event.pk])

    append_only_refusal(operation_name, write)

    kept = AuditEvent.objects.get(pk=event.pk)
    assert (kept.actor_label, kept.amount) == ("system: tests", 10_000)


def test_the_audit_log_still_takes_new_events(event):
    audit_record(actor=Actor.system("tests"), action=AuditAction.PAYMENT_SYNCED, payment=event.payment)

    assert AuditEvent.objects.filter(payment=event.payment).count() == 2


def new_payment(order, *, provider="bambora", reference):
    return Payment.objects.create(
        order=order, provider=provider, reference=reference, currency="EUR", authorized=1_000
    )


def test_a_reference_of_two_thousand_characters_is_stored_and_found(payment):
    # Bambora's limit; a plain btree index on it would pass PostgreSQL's row size limit.
    reference = "b" * 1_000 + "é" * 999 + "x"  # 2,000 characters, about 3,000 bytes in UTF-8

    stored = new_payment(payment.order, reference=reference)

    assert Payment.objects.get(provider="bambora", reference=reference).pk == stored.pk


def test_a_reference_over_two_thousand_characters_is_refused(payment):
    with pytest.raises(DataError), transaction.atomic():
        new_payment(payment.order, reference="b" * 2_001)


def test_the_same_long_reference_twice_at_one_provider_is_refused(payment):
    reference = "r" * 2_000
    new_payment(payment.order, reference=reference)

    refused_by("payment_reference_uniq", lambda: new_payment(payment.order, reference=reference))
    assert Payment.objects.filter(reference=reference).count() == 1


def test_references_differing_only_in_the_last_character_are_two_payments(payment):
    new_payment(payment.order, reference="r" * 1_999 + "1")
    new_payment(payment.order, reference="r" * 1_999 + "2")

    assert Payment.objects.filter(reference__startswith="r" * 1_999).count() == 2


def test_the_same_reference_at_another_provider_is_another_payment(payment):
    reference = "shared-" + "z" * 1_993
    new_payment(payment.order, provider="bambora", reference=reference)

    new_payment(payment.order, provider="optty", reference=reference)

    assert set(Payment.objects.filter(reference=reference).values_list("provider", flat=True)) == {
        "bambora",
        "optty",
    }
