"""Fewer, smaller indexes: the ones another index already serves are dropped (the pattern
indexes Django adds beside unique order numbers and idempotency keys, foreign key indexes that
begin a composite index, the email index the pattern index of 0014 serves), and the status
index keeps only operations not yet settled. About a sixth of the database's size at a million
orders, and less to write for every operation.

On PostgreSQL the existing unique indexes are kept and renamed, and the foreign keys are left as
they are (Django would drop and re-validate them, reading every row of the largest tables under
a lock): only indexes are dropped. SQLite, which serves the demo only, keeps its indexes."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# Indexes that others serve, by the names Django gave them.
REDUNDANT = [
    "payments_operation_idempotency_key_911e328e_like",
    "payments_order_number_aa137969_like",
    "payments_operation_payment_id_33bd387a",
    "payments_operation_requested_by_id_7d0917ea",
    "payments_operation_decided_by_id_89d0ef87",
    "payments_auditevent_actor_id_3c4aae55",
    "payments_orderline_order_id_97856323",
]
RENAMED = [
    ("payments_order", "payments_order_number_key", "order_number_uniq"),
    ("payments_operation", "payments_operation_idempotency_key_key", "operation_idempotency_key_uniq"),
]


def drop_redundant_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for index in REDUNDANT:
        schema_editor.execute(f"DROP INDEX IF EXISTS {index}")
    for table, old, new in RENAMED:
        schema_editor.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {old} TO {new}")


def restore_redundant_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, old, new in RENAMED:
        schema_editor.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {new} TO {old}")
    schema_editor.execute(
        "CREATE INDEX payments_operation_idempotency_key_911e328e_like "
        "ON payments_operation (idempotency_key varchar_pattern_ops)"
    )
    schema_editor.execute(
        "CREATE INDEX payments_order_number_aa137969_like ON payments_order (number varchar_pattern_ops)"
    )
    for index, table, column in [
        ("payments_operation_payment_id_33bd387a", "payments_operation", "payment_id"),
        ("payments_operation_requested_by_id_7d0917ea", "payments_operation", "requested_by_id"),
        ("payments_operation_decided_by_id_89d0ef87", "payments_operation", "decided_by_id"),
        ("payments_auditevent_actor_id_3c4aae55", "payments_auditevent", "actor_id"),
        ("payments_orderline_order_id_97856323", "payments_orderline", "order_id"),
    ]:
        schema_editor.execute(f"CREATE INDEX {index} ON {table} ({column})")


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0019_managers_resolve_operations'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='operation',
            name='operation_status_created_idx',
        ),
        migrations.RemoveIndex(
            model_name='order',
            name='order_email_upper_idx',
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_redundant_indexes, restore_redundant_indexes)],
            state_operations=[
            migrations.AlterField(
                model_name='auditevent',
                name='actor',
                field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='audit_events', to=settings.AUTH_USER_MODEL),
            ),
            migrations.AlterField(
                model_name='operation',
                name='decided_by',
                field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='decided_operations', to=settings.AUTH_USER_MODEL),
            ),
            migrations.AlterField(
                model_name='operation',
                name='idempotency_key',
                field=models.CharField(max_length=50),
            ),
            migrations.AlterField(
                model_name='operation',
                name='payment',
                field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='operations', to='payments.payment'),
            ),
            migrations.AlterField(
                model_name='operation',
                name='requested_by',
                field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='requested_operations', to=settings.AUTH_USER_MODEL),
            ),
            migrations.AlterField(
                model_name='order',
                name='number',
                field=models.CharField(max_length=64, verbose_name='order number'),
            ),
            migrations.AlterField(
                model_name='orderline',
                name='order',
                field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='lines', to='payments.order'),
            ),
            migrations.AddConstraint(
                model_name='operation',
                constraint=models.UniqueConstraint(fields=('idempotency_key',), name='operation_idempotency_key_uniq'),
            ),
            migrations.AddConstraint(
                model_name='order',
                constraint=models.UniqueConstraint(fields=('number',), name='order_number_uniq'),
            ),
            ],
        ),
        migrations.AddIndex(
            model_name='operation',
            index=models.Index(condition=models.Q(('status__in', ['succeeded', 'failed']), _negated=True), fields=['status', 'created_at'], name='operation_unsettled_idx'),
        ),
        migrations.AddIndex(
            model_name='operation',
            index=models.Index(condition=models.Q(('requested_by__isnull', False)), fields=['requested_by'], name='operation_requester_idx'),
        ),
        migrations.AddIndex(
            model_name='operation',
            index=models.Index(condition=models.Q(('decided_by__isnull', False)), fields=['decided_by'], name='operation_decider_idx'),
        ),
    ]
