"""Four eyes with no way around them: an insider with admin rights cannot approve their own
refund through an account they made, and every change to people, groups and permissions is in
the audit log. Each attack goes through the admin and the desk as a person would."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from payments.models import AuditAction, AuditEvent, Operation
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request
from payments.statuses import OperationStatus

pytestmark = pytest.mark.django_db

PASSWORD = "a long enough password 42"


def _request_refund(user, payment, amount=75_000):
    operation = refund_request(
        payment_id=payment.pk, amount=amount, reason="goodwill",
        actor=Actor.of_user(user), idempotency_key=new_idempotency_key(),
    )
    assert operation.status == OperationStatus.AWAITING_APPROVAL
    return operation


def _admin_creates_user(admin, username):
    """The admin's two steps: the add form, then the change form with the new person's groups."""
    response = admin.post(
        reverse("admin:auth_user_add"),
        {"username": username, "password1": PASSWORD, "password2": PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return User.objects.get(username=username)


def _admin_puts_into(admin, user, *group_names, **flags):
    groups = Group.objects.filter(name__in=group_names)
    data = {
        "username": user.username, "first_name": "", "last_name": "", "email": user.email,
        "is_active": "on" if flags.get("is_active", user.is_active) else "",
        "is_staff": "on" if flags.get("is_staff", user.is_staff) else "",
        "is_superuser": "on" if flags.get("is_superuser", user.is_superuser) else "",
        "groups": [group.pk for group in groups],
        "last_login_0": "", "last_login_1": "",
        "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
    }
    data = {key: value for key, value in data.items() if value != ""}
    response = admin.post(reverse("admin:auth_user_change", args=[user.pk]), data)
    assert response.status_code == 302, response.content.decode()[:3000]


def _logged_in(username):
    client = Client()
    response = client.post(reverse("login"), {"username": username, "password": PASSWORD})
    assert response.status_code == 302
    return client


@pytest.fixture
def insider(make_user):
    """A superuser who is also a support agent: the attacker of the report."""
    return make_user("insider", group="Support agents", is_staff=True, is_superuser=True)


@pytest.fixture
def insider_admin(insider):
    client = Client()
    client.force_login(insider)
    return client


@pytest.fixture
def large_refund(insider, make_payment):
    payment = make_payment("optty", currency="AUD", amount=200_000, captured=200_000)
    return _request_refund(insider, payment, amount=90_000)  # over AUD's limit of 800.00


def test_an_account_the_requester_made_and_put_into_managers_cannot_approve(
    insider_admin, insider, large_refund, sandbox
):
    # given: the requester makes a second account in the admin and puts it into Managers
    _admin_creates_user(insider_admin, "sidekick")
    sidekick = User.objects.get(username="sidekick")
    _admin_puts_into(insider_admin, sidekick, "Managers")
    # when: they log in as it and approve their own request
    as_sidekick = _logged_in("sidekick")
    response = as_sidekick.post(reverse("approve", args=[large_refund.pk]))

    # then: refused and audited; nothing reached the provider
    assert response.status_code == 403
    assert ("You cannot approve this request: your account was given the right to approve refunds by insider, "
            "who asked for this refund.") in response.content.decode()
    refused = AuditEvent.objects.get(action=AuditAction.ACTION_REFUSED, operation=large_refund)
    assert refused.actor == sidekick
    assert Operation.objects.get(pk=large_refund.pk).status == OperationStatus.AWAITING_APPROVAL
    assert sandbox.requests("optty") == []


def test_an_account_made_through_another_made_account_cannot_approve_either(
    insider_admin, insider, large_refund
):
    # given: the requester makes a helper superuser, and the helper makes the approver
    helper = _admin_creates_user(insider_admin, "helper")
    _admin_puts_into(insider_admin, helper, is_staff=True, is_superuser=True)
    as_helper = Client()
    as_helper.force_login(helper)
    approver = _admin_creates_user(as_helper, "approver")
    _admin_puts_into(as_helper, approver, "Managers")
    as_approver = Client()
    as_approver.force_login(approver)

    response = as_approver.post(reverse("approve", args=[large_refund.pk]))

    assert response.status_code == 403
    assert "You cannot approve this request: your account was" in response.content.decode()
    assert "by helper, an account made by insider, who asked for this refund." in response.content.decode()


def test_a_manager_the_requester_activated_cannot_approve(insider_admin, insider, large_refund, make_user):
    dormant = make_user("dormant", group="Managers", is_active=False)
    _admin_puts_into(insider_admin, dormant, "Managers", is_active=True)
    as_dormant = Client()
    as_dormant.force_login(User.objects.get(pk=dormant.pk))

    response = as_dormant.post(reverse("approve", args=[large_refund.pk]))

    assert response.status_code == 403
    assert "your account was activated by insider" in response.content.decode()


def test_a_manager_whose_password_the_requester_set_cannot_approve(insider_admin, large_refund, manager):
    # Setting a manager's password hands their account to whoever set it.
    response = insider_admin.post(
        reverse("admin:auth_user_password_change", args=[manager.pk]),
        {"password1": PASSWORD, "password2": PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 302
    as_manager = _logged_in("manager")

    response = as_manager.post(reverse("approve", args=[large_refund.pk]))

    assert response.status_code == 403
    assert "your account was given a password by insider" in response.content.decode()


def test_a_new_approver_waits_out_the_cooling_off_whoever_made_them(
    client, make_user, superuser, agent, make_payment, sandbox, settings, monkeypatch
):
    # given: another admin (not the requester) puts a person into Managers
    settings.APPROVAL_COOLING_OFF_HOURS = 24
    newcomer = make_user("newcomer", group="Support agents")
    admin = Client()
    admin.force_login(superuser)
    _admin_puts_into(admin, newcomer, "Managers")
    request = _request_refund(agent, make_payment("bambora", currency="EUR", amount=100_000, captured=100_000))
    client.force_login(newcomer)

    # when: they approve at once
    refused = client.post(reverse("approve", args=[request.pk]))

    # then: refused until the cooling-off has passed; afterwards the approval goes through
    assert refused.status_code == 403
    assert "You cannot approve refunds yet: your account was given the right to approve refunds by admin" in (
        refused.content.decode()
    )
    assert AuditEvent.objects.filter(action=AuditAction.ACTION_REFUSED, actor=newcomer).exists()
    later = timezone.now() + timedelta(hours=24, minutes=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    client.force_login(newcomer)  # the session of a day ago has ended
    approved = client.post(reverse("approve", args=[request.pk]))
    assert approved.status_code == 302
    assert Operation.objects.get(pk=request.pk).status == OperationStatus.SUCCEEDED


def test_managers_made_by_others_before_the_cooling_off_approve_as_before(client, manager, agent, make_payment, sandbox):
    request = _request_refund(agent, make_payment("bambora", currency="EUR", amount=100_000, captured=100_000))
    client.force_login(manager)

    response = client.post(reverse("approve", args=[request.pk]))

    assert response.status_code == 302
    assert Operation.objects.get(pk=request.pk).status == OperationStatus.SUCCEEDED


def test_a_superuser_without_a_group_takes_no_desk_action(client, superuser, agent, make_payment, sandbox):
    request = _request_refund(agent, make_payment("bambora", currency="EUR", amount=100_000, captured=100_000))
    client.force_login(superuser)

    order_page = client.get(reverse("order", args=[request.payment.order_id])).content.decode()
    approve = client.post(reverse("approve", args=[request.pk]))

    assert approve.status_code == 403
    assert f'action="{reverse("approve", args=[request.pk])}"' not in order_page
    assert 'href="/approvals/"' not in order_page
    assert f'name="refund-{request.payment_id}-amount"' not in order_page
    assert Operation.objects.get(pk=request.pk).status == OperationStatus.AWAITING_APPROVAL


# The audit log of people and groups ------------------------------------------------------


def test_changes_in_the_admin_are_audited_with_who_and_from_where(insider_admin, insider):
    user = _admin_creates_user(insider_admin, "newbie")
    _admin_puts_into(insider_admin, user, "Support agents", "Managers", is_staff=True)
    group_page = insider_admin.post(reverse("admin:auth_group_add"), {"name": "Night shift", "permissions": []})
    assert group_page.status_code == 302

    events = AuditEvent.objects.filter(actor=insider, action__regex=r"^(user|group)\.").order_by("pk")
    summary = [(event.action, event.account.username if event.account else None) for event in events]
    assert summary == [
        (AuditAction.USER_CREATED, "newbie"),
        (AuditAction.USER_CHANGED, "newbie"),
        (AuditAction.USER_GROUPS_CHANGED, "newbie"),
        (AuditAction.USER_MADE_APPROVER, "newbie"),
        (AuditAction.GROUP_CREATED, None),
    ]
    assert {event.ip for event in events} == {"127.0.0.1"}
    groups = events.get(action=AuditAction.USER_GROUPS_CHANGED)
    assert (groups.before, groups.after) == ({"groups": []}, {"groups": ["Managers", "Support agents"]})
    assert events.get(action=AuditAction.USER_CHANGED).after == {"is_staff": True}


def test_group_permission_changes_are_audited_and_make_members_approvers(superuser, agent):
    admin = Client()
    admin.force_login(superuser)
    agents = Group.objects.get(name="Support agents")
    permissions = list(agents.permissions.values_list("pk", flat=True))
    approve = Permission.objects.get(codename="approve_refund")

    response = admin.post(
        reverse("admin:auth_group_change", args=[agents.pk]),
        {"name": agents.name, "permissions": [*permissions, approve.pk]},
    )

    assert response.status_code == 302
    changed = AuditEvent.objects.get(action=AuditAction.GROUP_PERMISSIONS_CHANGED)
    assert "added payments.approve_refund" in changed.message
    assert changed.actor == superuser
    assert AuditEvent.objects.get(action=AuditAction.USER_MADE_APPROVER, account=agent).actor == superuser


def test_commands_that_change_people_are_audited(db, roles, capsys):
    call_command("createsuperuser", username="root", email="root@example.com", interactive=False)

    created = AuditEvent.objects.get(action=AuditAction.USER_CREATED, account__username="root")
    assert created.actor is None
    assert created.actor_label.startswith("system: ")
    assert "(superuser)" in created.message


def test_a_person_with_a_history_cannot_be_deleted_in_the_admin(superuser, make_user):
    someone = make_user("someone")
    admin = Client()
    admin.force_login(superuser)

    response = admin.post(reverse("admin:auth_user_delete", args=[someone.pk]), {"post": "yes"})

    assert response.status_code in (200, 403)
    assert User.objects.filter(pk=someone.pk).exists()


def test_a_login_does_not_count_as_a_change(client, agent):
    client.post(reverse("login"), {"username": "agent", "password": "correct horse battery"})

    assert not AuditEvent.objects.filter(action=AuditAction.USER_CHANGED).exists()


def test_an_auditor_reads_whom_a_change_of_people_was_about(client, auditor, make_user):
    make_user("someone")
    event = AuditEvent.objects.get(action=AuditAction.USER_CREATED, account__username="someone")
    client.force_login(auditor)

    page = client.get(reverse("admin:payments_auditevent_change", args=[event.pk])).content.decode()

    assert "About the person" in page
    assert "someone" in page


def test_the_queue_offers_no_approval_that_would_be_refused(insider_admin, insider, large_refund, make_user, make_payment):
    # given: the requester's made approver, and another agent's request beside the insider's
    sidekick = _admin_creates_user(insider_admin, "sidekick")
    _admin_puts_into(insider_admin, sidekick, "Managers")
    other = _request_refund(make_user(group="Support agents"), make_payment("optty", currency="AUD", amount=200_000,
                                                                          captured=200_000), amount=90_000)
    as_sidekick = _logged_in("sidekick")

    html = as_sidekick.get(reverse("approvals")).content.decode()

    # then: the insider's request says why it cannot be approved, and offers rejection only
    card = re.search(rf'<li class="card approval" id="request-{large_refund.pk}".*?</li>\n', html, re.S)[0]
    assert ("You cannot approve this request: your account was given the right to approve refunds by insider, "
            "who asked for this refund.") in card
    assert reverse("approve", args=[large_refund.pk]) not in card
    assert reverse("reject", args=[large_refund.pk]) in card
    # and the other request is offered as before
    card = re.search(rf'<li class="card approval" id="request-{other.pk}".*?</li>\n', html, re.S)[0]
    assert reverse("approve", args=[other.pk]) in card and "You cannot approve" not in card


def test_the_queue_of_an_approver_in_the_cooling_off_offers_no_approval(client, make_user, agent, make_payment, settings):
    settings.APPROVAL_COOLING_OFF_HOURS = 24
    newcomer = make_user("newcomer", group="Managers")
    request = _request_refund(agent, make_payment("optty", currency="AUD", amount=200_000, captured=200_000),
                              amount=90_000)  # fmt: skip
    client.force_login(newcomer)

    html = client.get(reverse("approvals")).content.decode()

    assert "You cannot approve this request: your account was given the right to approve refunds by" in html
    assert reverse("approve", args=[request.pk]) not in html
