"""The groups the roles migration creates, as the migrations left them (these tests do not use
the `roles` fixture, which would make missing groups itself): exactly the permissions
DESIGN.md gives each role, and nothing that changes data through the admin."""

import pytest
from django.contrib.auth.models import Group, User

pytestmark = pytest.mark.django_db

VIEW_LEDGER = {"view_order", "view_payment", "view_operation", "view_auditevent"}

EXPECTED = {
    "Support agents": VIEW_LEDGER | {"request_refund", "cancel_payment"},
    "Managers": VIEW_LEDGER
    | {"request_refund", "cancel_payment", "approve_refund", "export_payments", "resolve_operation"},
    # Read-only: the ledger, the audit log, provider notifications and API tokens (their hashes),
    # the CSV export of what they can read, and everybody's exports.
    "Auditors": VIEW_LEDGER | {"export_payments", "view_providernotification", "view_apitoken", "view_export"},
}


def permissions_of(name):
    return set(
        Group.objects.get(name=name).permissions.values_list("content_type__app_label", "codename")
    )


def test_the_migration_created_the_three_groups():
    assert set(Group.objects.filter(name__in=EXPECTED).values_list("name", flat=True)) == set(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_group_has_exactly_its_permissions(name):
    assert permissions_of(name) == {("payments", codename) for codename in EXPECTED[name]}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_no_group_may_add_change_or_delete_anything(name):
    codenames = {codename for _, codename in permissions_of(name)}

    assert not {c for c in codenames if c.startswith(("add_", "change_", "delete_"))}


def member_of(name):
    user = User.objects.create_user(username=f"member of {name}", password="correct horse battery")
    user.groups.add(Group.objects.get(name=name))
    return User.objects.get(pk=user.pk)  # a fresh object: no permission cache


@pytest.mark.parametrize(
    ("name", "allowed", "refused"),
    [
        (
            "Support agents",
            {"view_payment", "view_auditevent", "request_refund", "cancel_payment"},
            {"approve_refund", "export_payments", "change_payment", "delete_auditevent"},
        ),
        (
            "Managers",
            {"view_payment", "request_refund", "cancel_payment", "approve_refund", "export_payments"},
            {"change_payment", "change_operation", "delete_auditevent"},
        ),
        (
            "Auditors",
            {"view_order", "view_payment", "view_operation", "view_auditevent", "export_payments"},
            {"request_refund", "cancel_payment", "approve_refund", "change_payment", "delete_auditevent"},
        ),
    ],
)
def test_a_member_can_do_what_the_role_allows_and_nothing_more(name, allowed, refused):
    user = member_of(name)

    assert {c for c in allowed if user.has_perm(f"payments.{c}")} == allowed
    assert {c for c in refused if user.has_perm(f"payments.{c}")} == set()
