"""Search by customer name, by the beginning of an email, and by a reference in any case.

The trigram index (names) and the pattern index (emails) are PostgreSQL's own kinds, so they
are made here on PostgreSQL only and are not in the models' Meta: SQLite, which serves only the
demo, reads its few rows without them.
"""

import django.db.models.functions.text
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

from payments.customer_names import folded_name

# LIKE '% word%' on the folded name, for any word and any number of orders.
NAME_INDEX = GinIndex(fields=["customer_name_folded"], opclasses=["gin_trgm_ops"], name="order_name_trgm_idx")
# UPPER(email) LIKE 'KARI%' whatever the database's collation (`istartswith`); it serves
# `iexact` too. Written out: Django composes an operator class with an expression only when
# django.contrib.postgres is an installed app, which the SQLite demo does without.
EMAIL_INDEX = (
    "CREATE INDEX order_email_prefix_idx ON payments_order (UPPER(customer_email) text_pattern_ops)",
    "DROP INDEX order_email_prefix_idx",
)


def fold_names(apps, schema_editor):
    Order = apps.get_model("payments", "Order")
    batch = []
    for order in Order.objects.only("pk", "customer_name").order_by("pk").iterator(chunk_size=2000):
        order.customer_name_folded = folded_name(order.customer_name)
        batch.append(order)
        if len(batch) == 2000:
            Order.objects.bulk_update(batch, ["customer_name_folded"])
            batch = []
    Order.objects.bulk_update(batch, ["customer_name_folded"])


def add_postgres_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(apps.get_model("payments", "Order"), NAME_INDEX)
        schema_editor.execute(EMAIL_INDEX[0])


def remove_postgres_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("payments", "Order"), NAME_INDEX)
        schema_editor.execute(EMAIL_INDEX[1])


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0013_order_lines'),
    ]

    operations = [
        migrations.AddField(
            model_name='order',
            name='customer_name_folded',
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.RunPython(fold_names, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name='payment',
            index=models.Index(django.db.models.functions.text.MD5(django.db.models.functions.text.Upper('reference')), name='payment_reference_upper_idx'),
        ),
        # pg_trgm is a trusted extension (PostgreSQL 13 and later): the database's owner may
        # create it. Nothing happens on other databases.
        TrigramExtension(),
        migrations.RunPython(add_postgres_indexes, remove_postgres_indexes),
    ]
