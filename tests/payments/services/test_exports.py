"""Exports belong to a person: the system asks for none and downloads none. (The exports
themselves, made and downloaded through the desk: tests/backoffice/test_exports.py.)"""

import pytest

from payments.exceptions import ActionForbidden, ActionRefused
from payments.models import AuditEvent, Export, ExportKind
from payments.services.audit import Actor
from payments.services.exports import export_open, export_request, payments_export_request

pytestmark = pytest.mark.django_db


def test_the_system_asks_for_no_export():
    with pytest.raises(ActionRefused, match="Exports are made for a person, not for system: sync"):
        export_request(
            actor=Actor.system("sync"), kind=ExportKind.PAYMENTS, selection={"query": ""}, description="all"
        )

    assert not Export.objects.exists()
    assert not AuditEvent.objects.exists()


def test_the_system_downloads_no_export(manager):
    export = payments_export_request(actor=Actor.of_user(manager))

    with pytest.raises(ActionForbidden, match="Only the person who asked for this export"):
        export_open(export_id=export.pk, actor=Actor.system("cleanup"))
