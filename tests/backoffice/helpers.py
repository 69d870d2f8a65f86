"""Helpers shared by the back office's test modules (fixtures are in conftest.py)."""

import csv
import hashlib
import io
import itertools
import json
import os
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from payments.models import Operation, OperationKind, Order, Payment
from payments.services.ledger import new_idempotency_key
from payments.statuses import OperationStatus

INTAKE_URL = "/api/v1/orders"


def body(**changes):
    """The README's order, without lines, with `changes`."""
    order = {
        "order_number": "100045",
        "customer": {"name": "Kari Nordmann", "email": "kari@example.com"},
        "currency": "NOK",
        "total": "1250.00",
        "payments": [{"provider": "vipps", "reference": "acme-100045-1", "amount": "1250.00", "captured": "1250.00"}],
    }
    order.update(changes)
    return order


def send(client, token, data, **headers):
    """`data` sent to the intake API as JSON with the shop's `token`."""
    return client.post(INTAKE_URL, json.dumps(data), content_type="application/json",
                       headers={"Authorization": f"Bearer {token}", **headers})


def stored():
    return (Order.objects.count(), Payment.objects.count(), Operation.objects.count())


def refund_data(payment, amount, *, reason="customer_request", note="", key=None):
    """What the refund form of `payment`'s card sends."""
    prefix = f"refund-{payment.pk}"
    return {
        f"{prefix}-amount": amount,
        f"{prefix}-reason": reason,
        f"{prefix}-note": note,
        f"{prefix}-idempotency_key": key or new_idempotency_key(),
    }


def make_orders(count, *, start=0):
    orders = Order.objects.bulk_create(
        Order(number=f"EXP-{start + i:05d}", customer_name=f"Customer {i}", customer_email=f"c{i}@example.com",
              currency="EUR", total=1_000 + i)
        for i in range(count)
    )
    Payment.objects.bulk_create(
        Payment(order=order, provider="bambora", reference=f"exp-ref-{order.number}", currency="EUR",
                authorized=order.total)
        for order in orders
    )


def checked_rows(body):
    """The rows of an export's file, once its last line has been checked: the number of rows,
    and the SHA-256 of everything above it."""
    above, check = body[: body.rindex(b"# rows=")], body[body.rindex(b"# rows="):]
    rows = list(csv.DictReader(io.StringIO(above.decode())))
    assert check.decode() == f"# rows={len(rows)} sha256={hashlib.sha256(above).hexdigest()}\r\n"
    return rows


# Each currency with its exponent; the providers that take it.
CURRENCIES = [("EUR", 2, "bambora"), ("NOK", 2, "vipps"), ("AUD", 2, "optty"), ("USD", 2, "simpleps"),
              ("JPY", 0, "bambora"), ("KWD", 3, "bambora")]
STATES = ["", "Captured", "AUTHORIZED", "PARTIALLY_REFUNDED", "Canceled"]
# Operations that hold a refund's amount back, and one that does not (failed).
RESERVING = [OperationStatus.AWAITING_APPROVAL, OperationStatus.UNKNOWN, OperationStatus.PENDING,
             OperationStatus.IN_FLIGHT, OperationStatus.APPROVED]


def major(amount, exponent):
    return f"{Decimal(amount).scaleb(-exponent):.{exponent}f}"


def inert(text):
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def make_varied_payments(count):
    """`count` orders of one payment each, whose aggregates, reserved refunds, currencies,
    providers, states, dates and names all vary, with a ledger that adds up. Returns the
    refundable amount each payment should show, by reference."""
    now = timezone.now()
    orders = Order.objects.bulk_create(
        Order(number=f"VAR-{i:05d}", customer_name=["Kari Nordmann", "=1+1", "Åse Ødegård", "-Anne", "Li, Wei \"W\""][i % 5] + f" {i}",
              customer_email=f"c{i}@example.com", currency=CURRENCIES[i % 6][0], total=10_000 + 7 * i,
              created_at=now - timedelta(days=i % 400, minutes=i))
        for i in range(count)
    )
    payments, refundable = [], {}
    for i, order in enumerate(orders):
        authorized = order.total
        captured = authorized * (i % 4) // 4
        cancelled = (authorized - captured) // 2 if i % 5 == 0 else 0
        refunded = captured // 3 if i % 3 == 0 else 0
        payments.append(Payment(order=order, provider=CURRENCIES[i % 6][2], reference=f"var-ref-{i:05d}",
                                currency=order.currency, authorized=authorized, captured=captured,
                                cancelled=cancelled, refunded=refunded, provider_state=STATES[i % 5]))
    payments = Payment.objects.bulk_create(payments)
    keys = itertools.count()
    operations = []

    def operation(payment, kind, amount, status):
        operations.append(Operation(
            payment=payment, kind=kind, amount=amount, status=status, idempotency_key=f"var-{next(keys)}",
            settled_amount=amount if status == OperationStatus.SUCCEEDED else None))

    for i, payment in enumerate(payments):
        for kind, amount in ((OperationKind.CAPTURE, payment.captured), (OperationKind.CANCEL, payment.cancelled),
                             (OperationKind.REFUND, payment.refunded)):
            if amount:
                operation(payment, kind, amount, OperationStatus.SUCCEEDED)
        reserved = (payment.captured - payment.refunded) // 2 if i % 7 < 3 else 0
        if reserved:
            operation(payment, OperationKind.REFUND, reserved, RESERVING[i % len(RESERVING)])
        if i % 2 and payment.captured > payment.refunded:
            operation(payment, OperationKind.REFUND, 1, OperationStatus.FAILED)  # holds nothing back
        refundable[payment.reference] = payment.captured - payment.refunded - reserved
    Operation.objects.bulk_create(operations)
    return refundable


def expected_rows(refundable):
    """The rows an export of every payment must hold, from the database and `refundable`."""
    exponents = {currency: exponent for currency, exponent, _ in CURRENCIES}
    expected = []
    for payment in Payment.objects.select_related("order").order_by("pk"):
        order, exponent = payment.order, exponents[payment.currency]
        expected.append({
            "order_number": order.number,
            "order_date": order.created_at.isoformat(),
            "customer_name": inert(order.customer_name),
            "customer_email": order.customer_email,
            "order_total": major(order.total, exponent),
            "currency": payment.currency,
            "provider": payment.provider,
            "reference": payment.reference,
            "provider_state": payment.provider_state,
            "authorized": major(payment.authorized, exponent),
            "captured": major(payment.captured, exponent),
            "cancelled": major(payment.cancelled, exponent),
            "refunded": major(payment.refunded, exponent),
            "refundable": major(refundable[payment.reference], exponent),
        })
    return expected


def production_env(**overrides):
    """The environment of a production deployment (backoffice.settings, DEBUG off, fake
    credentials), for a subprocess; `overrides` set or (None) remove variables."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BAMBORA_", "OPTTY_", "SIMPLEPS_", "VIPPS_", "SECURE_", "DJANGO_"))
        and key not in {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DATABASE_URL"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="backoffice.settings",
        DEBUG="false",
        SECRET_KEY="k3#Rz8!pQw2@Lm5^Tn7&Vb9*Xc1(Yd4)Ze6_Af0+Gh3-Ji8=Ku2~Lo5",
        ALLOWED_HOSTS="backoffice.example.com",
        DATABASE_URL="sqlite:////tmp/deploy-check.sqlite3",
        BAMBORA_MERCHANT_NUMBER="P1", BAMBORA_MERCHANT_TOKEN="t", BAMBORA_MERCHANT_SECRET="s",
        OPTTY_CLIENT_ID="c", OPTTY_CLIENT_SECRET="s",
        SIMPLEPS_CLIENT_ID="c", SIMPLEPS_SECRET_ID="s",
        VIPPS_CLIENT_ID="c", VIPPS_CLIENT_SECRET="s", VIPPS_SUBSCRIPTION_KEY="k",
        VIPPS_MERCHANT_SERIAL_NUMBER="1",
    )
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}
