"""Search terms (payments.search_terms): the table, its rows for the orders already stored (by
PostgreSQL but for emails not in ASCII, whose lower case Python makes), then its index, made
once the rows are in (at ten million orders, some fifty million rows)."""

import django.db.models.deletion
from django.db import migrations, models

from payments.models import SearchTermKind
from payments.search_terms import ASCII_EMAIL, BACKFILL_SQL, search_terms


def backfill(apps, schema_editor):
    Order = apps.get_model("payments", "Order")
    OrderSearchTerm = apps.get_model("payments", "OrderSearchTerm")
    orders = Order.objects.all()
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKFILL_SQL)
        orders = orders.exclude(customer_email__regex=ASCII_EMAIL)
        name_terms = False
    else:
        name_terms = True
    terms = []
    for order in orders.order_by("pk").iterator(chunk_size=2000):
        terms += [
            OrderSearchTerm(order=order, kind=kind, head=head, text=text, created_at=order.created_at)
            for kind, head, text in search_terms(order.customer_name_folded, order.customer_email)
            if name_terms or kind == SearchTermKind.EMAIL
        ]
        if len(terms) >= 2000:
            OrderSearchTerm.objects.bulk_create(terms)
            terms = []
    OrderSearchTerm.objects.bulk_create(terms)


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0023_refold_decomposed_capitals'),
    ]

    operations = [
        migrations.CreateModel(
            name='OrderSearchTerm',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('n', 'name'), ('e', 'email')], max_length=1)),
                ('head', models.CharField(max_length=7)),
                ('text', models.TextField()),
                ('created_at', models.DateTimeField()),
                ('order', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='payments.order')),
            ],
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name='ordersearchterm',
            index=models.Index(fields=['kind', 'head', '-created_at', '-order'], include=('text',), name='search_term_stream_idx'),
        ),
    ]
