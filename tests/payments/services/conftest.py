"""Fixtures of the service tests."""

import pytest

from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request


@pytest.fixture
def requester(make_user):
    return make_user("kari", group="Support agents", email="kari@shop.example")


@pytest.fixture
def boss(make_user):
    return make_user("boss", group="Managers", email="")  # no address: only the requester is mailed


@pytest.fixture
def waiting(make_payment, requester, settings):
    """A refund request of 600.00 EUR by `requester`, waiting for approval."""
    settings.SITE_URL = "https://backoffice.example.com"
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    return refund_request(payment_id=payment.pk, amount=60_000, reason="goodwill",
                          actor=Actor.of_user(requester), idempotency_key=new_idempotency_key())
