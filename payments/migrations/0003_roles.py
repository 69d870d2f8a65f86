"""The three groups of people who use the back office (README, "Roles")."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW_LEDGER = ["view_order", "view_payment", "view_operation", "view_auditevent"]

GROUPS = {
    "Support agents": VIEW_LEDGER + ["request_refund", "cancel_payment"],
    "Managers": VIEW_LEDGER
    + ["request_refund", "cancel_payment", "approve_refund", "export_payments"],
    "Auditors": VIEW_LEDGER + ["export_payments"],
}


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations ran; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = Permission.objects.filter(
            content_type__app_label="payments", codename__in=codenames
        )
        assert permissions.count() == len(codenames), f"missing permissions for {name}"
        group.permissions.set(permissions)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0002_audit_append_only"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
