"""Auditors see everybody's exports (in the admin) and may download them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CODENAMES = ["view_export"]


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    auditors, _ = Group.objects.get_or_create(name="Auditors")
    auditors.permissions.add(
        *Permission.objects.filter(content_type__app_label="payments", codename__in=CODENAMES)
    )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group in Group.objects.filter(name="Auditors"):
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label="payments", codename__in=CODENAMES)
        )


class Migration(migrations.Migration):
    dependencies = [("payments", "0011_exports_as_jobs")]

    operations = [migrations.RunPython(grant, revoke)]
