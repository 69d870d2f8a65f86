"""Helpers shared by the back office's test modules (fixtures are in conftest.py)."""

import json

from payments.models import Operation, Order, Payment
from payments.services.ledger import new_idempotency_key

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
