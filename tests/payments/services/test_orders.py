"""Orders as the shop sends them (payments/services/orders.py): stored once with their
payments, money the shop captured booked in the ledger, a payment another order holds refused."""

import pytest

from payments.models import AuditAction, AuditEvent, Operation, OperationKind, OperationSource, Order, Payment
from payments.services.audit import Actor
from payments.services.orders import NewPayment, PaymentTaken, order_create, order_receive
from payments.statuses import OperationStatus

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_is_consistent")]

SHOP = Actor.system("tests")
BAMBORA = NewPayment(provider="bambora", reference="acme-100045-1", amount=10_000, captured=4_000)


def order(number="100045", payments=(BAMBORA,)):
    return {
        "number": number, "customer_name": "Kari Nordmann", "customer_email": "kari@example.com",
        "currency": "EUR", "total": 10_000, "payments": list(payments), "actor": SHOP,
    }


def test_money_the_shop_captured_is_booked_as_a_capture_from_the_first_moment():
    stored, created = order_create(**order())

    payment = stored.payments.get()
    assert created
    assert (payment.authorized, payment.captured) == (10_000, 4_000)
    [capture] = Operation.objects.filter(payment=payment)
    assert (capture.kind, capture.status, capture.source, capture.settled_amount) == (
        OperationKind.CAPTURE, OperationStatus.SUCCEEDED, OperationSource.SHOP, 4_000
    )
    [received] = AuditEvent.objects.filter(action=AuditAction.ORDER_RECEIVED)
    assert (received.payment, received.actor_label) == (payment, "system: tests")
    assert received.message == "Authorized 100.00\xa0EUR, captured 40.00\xa0EUR by the shop."


def test_an_order_number_known_already_returns_the_stored_order_and_adds_nothing():
    first, _ = order_create(**order())

    again, created = order_create(**order(payments=[NewPayment(provider="vipps", reference="acme-other", amount=1)]))

    assert (again, created) == (first, False)
    assert (Order.objects.count(), Payment.objects.count(), Operation.objects.count()) == (1, 1, 1)
    assert AuditEvent.objects.filter(action=AuditAction.ORDER_RECEIVED).count() == 1


def test_a_payment_another_order_holds_is_refused_by_its_position_and_nothing_is_stored(sandbox):
    order_create(**order())
    sandbox.clear_requests()
    payments = [
        NewPayment(provider="vipps", reference="acme-100046-1", amount=5_000),
        NewPayment(provider="bambora", reference="acme-100045-1", amount=5_000),
    ]

    with pytest.raises(PaymentTaken) as refused:
        order_receive(**order(number="100046", payments=payments))

    assert refused.value.indexes == [1]
    assert list(Order.objects.values_list("number", flat=True)) == ["100045"]
    assert sandbox.requests() == []


def test_a_new_order_s_payments_are_read_at_their_provider(sandbox):
    sandbox.create_payment(provider="bambora", reference="acme-100045-1", currency="EUR", amount=10_000,
                           captured=4_000)

    stored, created = order_receive(**order())

    assert created
    assert stored.payments.get().synced_at is not None
