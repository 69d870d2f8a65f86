"""The search terms of the orders stored before 0024's trigger (at ten million orders, some sixty
million rows: minutes), then their index, built once they are in. Each step commits on its own
(a long transaction would hold back vacuum, and the foreign key's checks, deferred, would keep
the index from being built in it); run again after a failure, the backfill skips the orders that
have their terms.

Orders stored while this runs get their terms from the trigger; an order whose transaction began
before the trigger and ended after the backfill began is caught by the last step, which looks
for the orders of the last hour without their email's term (every email has one)."""

from datetime import timedelta

from django.db import migrations, models
from django.utils import timezone

from payments.search_terms import backfill_sql


def backfill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            backfill_sql("WHERE NOT EXISTS (SELECT 1 FROM payments_ordersearchterm t WHERE t.order_id = o.id)")
        )


def catch_up(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("ANALYZE payments_ordersearchterm")
    missing = (
        "WHERE o.created_at >= %s AND length(o.customer_email) >= 3 AND NOT EXISTS ("
        "SELECT 1 FROM payments_ordersearchterm t WHERE t.kind = 'e' AND t.head = left(upper(o.customer_email), 3) "
        "AND t.created_at = o.created_at AND t.order_id = o.id)"
    )
    schema_editor.execute(backfill_sql(missing), [timezone.now() - timedelta(hours=1)])


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ('payments', '0024_order_search_terms'),
    ]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name='ordersearchterm',
            index=models.Index(fields=['kind', 'head', '-created_at', '-order'], include=('text',), name='search_term_stream_idx'),
        ),
        migrations.RunPython(catch_up, migrations.RunPython.noop),
    ]
