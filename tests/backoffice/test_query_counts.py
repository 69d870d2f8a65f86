"""Each desk page makes a fixed number of queries, however many orders, payments and events
there are: session, user, permissions, and at most three for the page itself."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request

pytestmark = pytest.mark.django_db

MAX_QUERIES = 6


def queries_for(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured.captured_queries)


@pytest.fixture
def grow(make_payment, make_user):
    """Add orders with several payments and operations each; returns the last order's id."""
    requester = make_user(group="Support agents")

    def add(count):
        order_id = None
        for _ in range(count):
            payment = make_payment("vipps", currency="NOK", amount=900_000, captured=900_000,
                                   at_provider=False, customer_email="many@example.com")
            # A request waiting for approval adds operations, events and an approvals row.
            refund_request(payment_id=payment.pk, amount=600_000, reason="goodwill",
                           actor=Actor.of_user(requester), idempotency_key=new_idempotency_key())
            order_id = payment.order_id
        return order_id

    return add


@pytest.mark.parametrize("role", ["agent", "manager"])
def test_desk_pages_query_counts_do_not_grow_with_rows(client, request, grow, role):
    client.force_login(request.getfixturevalue(role))
    client.get(reverse("home"))  # the first request after login refreshes the session
    pages = {
        "newest orders": lambda order_id: reverse("home"),
        "second page": lambda order_id: reverse("home") + "?page=2",
        "search by email": lambda order_id: reverse("home") + "?q=many@example.com",
        "search by number prefix": lambda order_id: reverse("home") + "?q=0",
        "order": lambda order_id: reverse("order", args=[order_id]),
    }
    if role == "manager":
        pages["approvals"] = lambda order_id: reverse("approvals")

    few = grow(55)  # more than a page, so that the second page has rows
    counts_few = {name: queries_for(client, url(few)) for name, url in pages.items()}
    many = grow(100)
    counts_many = {name: queries_for(client, url(many)) for name, url in pages.items()}

    assert counts_many == counts_few
    assert max(counts_many.values()) <= MAX_QUERIES, counts_many
