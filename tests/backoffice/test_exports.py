"""CSV exports: everything the database holds, streamed, and inert in a spreadsheet."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from payments.models import Order, Payment
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request

pytestmark = pytest.mark.django_db


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


def rows_of(response):
    assert response.status_code == 200
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_a_thousand_rows_come_back_equal_to_the_database(client, manager):
    make_orders(1_000)
    client.force_login(manager)

    rows = rows_of(client.get(reverse("export_payments")))

    assert len(rows) == 1_000
    expected = {
        payment.reference: payment
        for payment in Payment.objects.select_related("order")
    }
    for row in rows:
        payment = expected[row["reference"]]
        assert row["order_number"] == payment.order.number
        assert row["customer_email"] == payment.order.customer_email
        assert row["currency"] == "EUR"
        assert row["authorized"] == f"{payment.authorized / 100:.2f}"
        assert row["order_total"] == f"{payment.order.total / 100:.2f}"
        assert (row["captured"], row["refunded"], row["refundable"]) == ("0.00", "0.00", "0.00")


def test_refundable_counts_amounts_under_way(client, manager, agent, make_payment):
    payment = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000, at_provider=False)
    refund_request(payment_id=payment.pk, amount=60_000, reason="goodwill",
                   actor=Actor.of_user(agent), idempotency_key=new_idempotency_key())  # awaits approval
    client.force_login(manager)

    [row] = rows_of(client.get(reverse("export_payments")))

    assert (row["captured"], row["refunded"], row["refundable"]) == ("1000.00", "0.00", "400.00")


def test_cells_that_a_spreadsheet_would_run_are_inert(client, manager, make_payment):
    make_payment("bambora", currency="EUR", customer_name="=HYPERLINK(\"http://evil\",\"x\")",
                 customer_email="a@example.com", at_provider=False)
    make_payment("bambora", currency="EUR", customer_name="@SUM(A1)", at_provider=False)
    make_payment("bambora", currency="EUR", customer_name="+1", at_provider=False)
    client.force_login(manager)

    names = [row["customer_name"] for row in rows_of(client.get(reverse("export_payments")))]

    assert names == ["'=HYPERLINK(\"http://evil\",\"x\")", "'@SUM(A1)", "'+1"]


def test_a_search_and_a_date_range_narrow_the_export(client, manager):
    make_orders(30)
    Order.objects.filter(number="EXP-00003").update(created_at=timezone.now() - timezone.timedelta(days=40))
    client.force_login(manager)

    prefix = rows_of(client.get(reverse("export_payments"), {"q": "EXP-0001"}))
    recent = rows_of(client.get(reverse("export_payments"), {"from": (timezone.localdate() - timezone.timedelta(days=1)).isoformat()}))
    bad = client.get(reverse("export_payments"), {"from": "yesterday"})

    assert sorted(row["order_number"] for row in prefix) == [f"EXP-{i:05d}" for i in range(10, 20)]
    assert len(recent) == 29
    assert bad.status_code == 400


def test_the_export_makes_the_same_queries_for_ten_rows_or_a_thousand(client, manager):
    client.force_login(manager)
    client.get(reverse("home"))  # the first request after login refreshes the session
    make_orders(10)
    with CaptureQueriesContext(connection) as few:
        rows_of(client.get(reverse("export_payments")))
    make_orders(2_490, start=10)
    with CaptureQueriesContext(connection) as many:
        rows_of(client.get(reverse("export_payments")))

    # The rows come in chunks of 2,000 through one server-side cursor.
    assert len(many.captured_queries) == len(few.captured_queries)


def test_auditors_export_from_the_admin_with_its_filters(client, auditor, make_payment):
    make_orders(5)
    make_payment("vipps", currency="NOK", at_provider=False)
    client.force_login(auditor)

    payments = rows_of(client.get(reverse("admin:payments_payment_export"), {"provider__exact": "vipps"}))
    audit = rows_of(client.get(reverse("admin:payments_auditevent_export")))

    assert [row["provider"] for row in payments] == ["vipps"]
    assert audit and {"time", "actor", "action", "message"} <= set(audit[0])
    page = client.get(reverse("admin:payments_payment_changelist")).content.decode()
    assert "Export CSV" in page
