"""The database itself refuses to change or remove audit events."""

from django.db import migrations

POSTGRES_FORWARD = """
CREATE FUNCTION payments_auditevent_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'The audit log is append-only: % on payments_auditevent is refused.', TG_OP;
END
$$;
CREATE TRIGGER payments_auditevent_append_only
    BEFORE UPDATE OR DELETE ON payments_auditevent
    FOR EACH ROW EXECUTE FUNCTION payments_auditevent_append_only();
"""
POSTGRES_BACKWARD = """
DROP TRIGGER payments_auditevent_append_only ON payments_auditevent;
DROP FUNCTION payments_auditevent_append_only();
"""
SQLITE_FORWARD = [
    "CREATE TRIGGER payments_auditevent_no_update BEFORE UPDATE ON payments_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'The audit log is append-only: UPDATE is refused.'); END;",
    "CREATE TRIGGER payments_auditevent_no_delete BEFORE DELETE ON payments_auditevent "
    "BEGIN SELECT RAISE(ABORT, 'The audit log is append-only: DELETE is refused.'); END;",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER payments_auditevent_no_update;",
    "DROP TRIGGER payments_auditevent_no_delete;",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_FORWARD, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_BACKWARD, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
