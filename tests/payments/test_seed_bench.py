"""seed_bench writes benchmark data with COPY, on a connection of its own and without
per-row foreign key checks: the rows must still be whole and add up."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, F, Sum

from payments.models import AuditEvent, Operation, Order, OrderLine, OrderSearchTerm, Payment
from payments.selectors import ledger_mismatches

# The writer's connection commits on its own, and VACUUM runs outside any transaction.
pytestmark = pytest.mark.django_db(transaction=True)


def test_seeded_orders_are_whole_and_add_up(roles, capsys):
    call_command("seed_bench", orders=500, seed=7)

    assert Order.objects.count() == 500
    payments, operations = Payment.objects.count(), Operation.objects.count()
    assert 1.1 <= payments / 500 <= 1.3
    assert 2.5 <= operations / payments <= 3.5
    assert AuditEvent.objects.filter(action="order.received").count() == payments
    # Each kind of outcome the desk shows is there.
    statuses = set(Operation.objects.values_list("status", flat=True))
    assert {"succeeded", "failed"} <= statuses
    assert set(Payment.objects.values_list("provider", flat=True)) == {"bambora", "optty", "simpleps", "vipps"}
    # Foreign key checks were off during the load: every reference points at a row.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM payments_payment p LEFT JOIN payments_order o ON o.id = p.order_id "
            "WHERE o.id IS NULL"
        )
        assert cursor.fetchone() == (0,)
        cursor.execute(
            "SELECT count(*) FROM payments_operation op LEFT JOIN payments_payment p ON p.id = op.payment_id "
            "WHERE p.id IS NULL"
        )
        assert cursor.fetchone() == (0,)
    assert not ledger_mismatches().exists()
    assert_every_order_has_its_search_terms_once()
    # Making the bench's people was audited, and the load into the emptied tables kept that.
    assert AuditEvent.objects.filter(order=None, actor_label__startswith="system:").exists()
    assert "Done in" in capsys.readouterr().out


def test_a_second_run_adds_after_the_first_and_new_rows_get_fresh_ids(roles, make_payment):
    call_command("seed_bench", orders=50, seed=1)
    call_command("seed_bench", orders=50, seed=2)

    assert Order.objects.count() == 100
    assert not Order.objects.values("number").annotate(n=Count("id")).filter(n__gt=1).exists()
    # The sequences were moved past the copied ids: the app can add rows as usual.
    payment = make_payment(at_provider=False)
    assert payment.pk > Payment.objects.exclude(pk=payment.pk).order_by("-pk").first().pk
    assert not ledger_mismatches().exists()
    assert_every_order_has_its_search_terms_once()


def assert_every_order_has_its_search_terms_once():
    """Search finds seeded orders as it finds those the shop sends."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT o.id, term_kind, term_head, term_text, o.created_at FROM payments_order o "
            "CROSS JOIN LATERAL payments_search_terms(o.customer_name_folded, o.customer_email)"
        )
        expected = sorted(cursor.fetchall())
    assert sorted(OrderSearchTerm.objects.values_list("order_id", "kind", "head", "text", "created_at")) == expected
    assert len(expected) > 4 * Order.objects.count()


def test_unless_seeded_seeds_an_empty_database_once(roles):
    # scripts/bench runs this on every start: the first seeds, the next leave the data alone.
    call_command("seed_bench", orders=20, unless_seeded=True)
    call_command("seed_bench", orders=20, unless_seeded=True)

    assert Order.objects.count() == 20


def test_unless_seeded_says_when_the_database_holds_another_size(roles):
    call_command("seed_bench", orders=20, unless_seeded=True)

    with pytest.raises(CommandError, match="holds 20 orders, not 30: 'make clean-bench'"):
        call_command("seed_bench", orders=30, unless_seeded=True)
    assert Order.objects.count() == 20


def indexes():
    """Every index of the seeded tables, as PostgreSQL would make it again."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
            "('payments_order', 'payments_orderline', 'payments_payment', 'payments_operation', 'payments_auditevent')"
        )
        return dict(cursor.fetchall())


def test_into_an_empty_database_the_indexes_are_built_again_as_they_were(roles):
    # The load drops the secondary indexes and unique constraints, and builds them at the end.
    before = indexes()

    call_command("seed_bench", orders=300, seed=3)

    assert indexes() == before
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'payments_operation'::regclass AND contype = 'u'"
        )
        assert cursor.fetchall() == [("operation_idempotency_key_uniq",)]


def test_orders_with_lines_add_up_and_customers_order_again(roles):
    call_command("seed_bench", orders=2_000, seed=5)

    itemized = Order.objects.filter(itemized=True)
    assert 0.15 < itemized.count() / 2_000 < 0.35
    worth = dict(
        OrderLine.objects.values("order").annotate(worth=Sum(F("quantity") * F("unit_price") + F("tax")))
        .values_list("order", "worth")
    )
    assert set(worth) == set(itemized.values_list("pk", flat=True))
    assert all(worth[order.pk] + order.shipping == order.total for order in itemized)
    assert not Order.objects.filter(itemized=False, shipping__gt=0).exists()
    # Customers come back: some emails have several orders, with the same name each time.
    repeated = Order.objects.values("customer_email").annotate(n=Count("id"), names=Count("customer_name", distinct=True))
    assert repeated.filter(n__gt=1).exists()
    assert not repeated.filter(names__gt=1).exclude(customer_email__regex=r"^[a-z]+\.[a-z]+@").exists()
    # Each market pays in its own currency, with the providers that take it.
    pairs = set(Payment.objects.values_list("currency", "provider").distinct())
    assert ("NOK", "vipps") in pairs and ("JPY", "bambora") in pairs and ("AUD", "optty") in pairs
    assert not any(currency == "JPY" and provider != "bambora" for currency, provider in pairs)
