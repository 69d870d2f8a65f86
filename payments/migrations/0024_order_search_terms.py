"""Search terms (payments.search_terms): the table, empty (its foreign key is made at once), and
the trigger that writes the terms of every order stored from now on. The orders already stored
get theirs in 0025."""

import django.db.models.deletion
from django.db import migrations, models

from payments.search_terms import DROP_SQL, TERMS_FUNCTION_SQL, TRIGGER_SQL


def create_trigger(apps, schema_editor):
    # Search reads the terms on PostgreSQL only (selectors.order_search).
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TERMS_FUNCTION_SQL)
        schema_editor.execute(TRIGGER_SQL)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL)


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
        migrations.RunPython(create_trigger, drop_trigger),
    ]
