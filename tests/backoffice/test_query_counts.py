"""Each page makes a fixed number of queries however many orders, payments, operations and
events there are. Desk pages: session, user, permissions, and at most three for the page
itself. Admin lists: a fixed number too (tests/perf/bench.py measures their time)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.orders import NewPayment, order_create
from payments.services.refunds import refund_request

pytestmark = pytest.mark.django_db

MAX_DESK_QUERIES = 6


def queries_for(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(captured.captured_queries)


@pytest.fixture
def grow(make_user):
    """Add `count` orders of `payments` payments each, every payment with a refund request
    waiting for approval (operations, events, a row in the approvals queue); returns the last
    order's id."""
    requester = make_user(group="Support agents")
    numbers = iter(range(10**6))

    def add(count, *, payments=1):
        order = None
        for _ in range(count):
            number = f"Q{next(numbers):06d}"
            order, _ = order_create(
                number=number, customer_name="Many Orders", customer_email="many@example.com",
                currency="NOK", total=900_000 * payments,
                payments=[
                    NewPayment(provider="vipps", reference=f"q-{number}-{position}", amount=900_000,
                               captured=900_000)
                    for position in range(payments)
                ],
                actor=Actor.system("tests"),
            )
            for payment in order.payments.all():
                refund_request(payment_id=payment.pk, amount=600_000, reason="goodwill",
                               actor=Actor.of_user(requester), idempotency_key=new_idempotency_key())
        return order.pk

    return add


@pytest.mark.parametrize("role", ["agent", "manager"])
def test_desk_pages_query_counts_do_not_grow_with_rows(client, request, grow, role):
    client.force_login(request.getfixturevalue(role))
    client.get(reverse("home"))  # the first request after login refreshes the session
    pages = {
        "newest orders": lambda order_id: reverse("home"),
        "second page": lambda order_id: reverse("home") + "?page=2",
        "search by email": lambda order_id: reverse("home") + "?q=many@example.com",
        "search by number prefix": lambda order_id: reverse("home") + "?q=Q0",
        "order": lambda order_id: reverse("order", args=[order_id]),
    }
    if role == "manager":
        pages["approvals"] = lambda order_id: reverse("approvals")
        pages["approvals, second page"] = lambda order_id: reverse("approvals") + "?page=2"

    few = grow(55)  # more than a page of orders and of requests, so that second pages have rows
    counts_few = {name: queries_for(client, url(few)) for name, url in pages.items()}
    # The measured order now has five payments, each with its operations and events.
    many = grow(60, payments=5)
    counts_many = {name: queries_for(client, url(many)) for name, url in pages.items()}

    assert counts_many == counts_few
    assert max(counts_many.values()) <= MAX_DESK_QUERIES, counts_many


def test_admin_lists_query_counts_do_not_grow_with_rows(client, auditor, grow):
    client.force_login(auditor)
    admin = "/admin/payments"
    pages = [
        f"{admin}/order/",
        f"{admin}/order/?q=Q0",
        f"{admin}/order/?q=MANY@example.com",
        f"{admin}/payment/",
        f"{admin}/payment/?q=Q00001",
        f"{admin}/payment/?currency=NOK",
        f"{admin}/operation/",
        f"{admin}/operation/?status__exact=awaiting_approval",
        f"{admin}/operation/?q=q-Q000001-0",
        f"{admin}/auditevent/",
        f"{admin}/auditevent/?q=system:%20tests",
        f"{admin}/providernotification/",
    ]
    client.get(pages[0])
    grow(55)
    counts_few = [queries_for(client, url) for url in pages]
    grow(60, payments=3)
    counts_many = [queries_for(client, url) for url in pages]

    assert counts_many == counts_few
