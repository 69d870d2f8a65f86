"""Every change to people, groups, memberships and permissions is an audit event, whether the
admin, a command (createsuperuser, changepassword) or a shell made it. Django's own models
make these changes, so Django's model signals are where they are seen; what is recorded is
only the audit event, never a decision.

The events about a person name them as `account`: the four-eyes rule reads those that made
somebody able to approve (payments.selectors.approval_conflict).
"""

from collections.abc import Iterable
from typing import Any, TypeAlias

from django.contrib.auth.models import Group, Permission, User
from django.db.models import Q
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from payments.models import AuditAction
from payments.services.audit import audit_record, current_actor

# What a person's record says about them and their rights; last_login changes at every login
# and password is said apart (never its hash).
USER_FIELDS = ["username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser"]
APPROVE = {"content_type__app_label": "payments", "codename": "approve_refund"}
# Where a receiver leaves the state before a change for the receiver after it: on the instance
# being changed, the one object both are given.
_BEFORE_SAVE = "_audit_before"
_BEFORE_RELATION = "_audit_relation"

# A person's rights ({"groups": [...], "permissions": [...], "approver": bool}) and a group's
# ({"name": ..., "permissions": [...]}), as the audit events record them.
Rights: TypeAlias = dict[str, Any]


def _record(
    action: AuditAction,
    *,
    account: User | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    message: str,
) -> None:
    audit_record(
        actor=current_actor(), action=action, account=account, before=before, after=after, message=message
    )


def _user_fields(user: User) -> dict[str, Any]:
    return {field: getattr(user, field) for field in USER_FIELDS}


def _user_before_save(
    sender: type[User], instance: User, update_fields: Iterable[str] | None = None, **kwargs: Any
) -> None:
    setattr(instance, _BEFORE_SAVE, None)
    if instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return
    stored = User.objects.filter(pk=instance.pk).values(*USER_FIELDS, "password").first()
    setattr(instance, _BEFORE_SAVE, stored)


def _user_saved(sender: type[User], instance: User, created: bool, **kwargs: Any) -> None:
    name = instance.get_username()
    if created:
        _record(
            AuditAction.USER_CREATED,
            account=instance,
            after=_user_fields(instance),
            message=f"User “{name}” created"
            + (" (superuser)" if instance.is_superuser else "")
            + ("" if instance.is_active else ", inactive")
            + ".",
        )
        return
    before = getattr(instance, _BEFORE_SAVE, None)
    if before is None:
        return
    after = _user_fields(instance)
    if before["is_active"] != after["is_active"]:
        _record(
            AuditAction.USER_ACTIVATED if after["is_active"] else AuditAction.USER_DEACTIVATED,
            account=instance,
            message=f"User “{name}” {'activated' if after['is_active'] else 'deactivated'}.",
        )
    changed = [field for field in USER_FIELDS if field != "is_active" and before[field] != after[field]]
    if changed:
        _record(
            AuditAction.USER_CHANGED,
            account=instance,
            before={field: before[field] for field in changed},
            after={field: after[field] for field in changed},
            message=f"User “{name}” changed: {', '.join(changed)}.",
        )
    # `_password` holds the new password from set_password() until the save is over; a hash
    # merely upgraded at login (same password) comes without it.
    if before["password"] != instance.password and getattr(instance, "_password", None) is not None:
        _record(AuditAction.USER_PASSWORD_SET, account=instance, message=f"Password of “{name}” set.")


def _user_deleted(sender: type[User], instance: User, **kwargs: Any) -> None:
    _record(
        AuditAction.USER_DELETED,
        before=_user_fields(instance) | {"id": instance.pk},
        message=f"User “{instance.get_username()}” (#{instance.pk}) deleted.",
    )


def _group_before_save(sender: type[Group], instance: Group, **kwargs: Any) -> None:
    setattr(
        instance,
        _BEFORE_SAVE,
        None
        if instance._state.adding
        else Group.objects.filter(pk=instance.pk).values_list("name", flat=True).first(),
    )


def _group_saved(sender: type[Group], instance: Group, created: bool, **kwargs: Any) -> None:
    if created:
        _record(
            AuditAction.GROUP_CREATED,
            after={"id": instance.pk, "name": instance.name},
            message=f"Group “{instance.name}” created.",
        )
        return
    before = getattr(instance, _BEFORE_SAVE, None)
    if before is not None and before != instance.name:
        _record(
            AuditAction.GROUP_CHANGED,
            before={"id": instance.pk, "name": before},
            after={"id": instance.pk, "name": instance.name},
            message=f"Group “{before}” renamed “{instance.name}”.",
        )


def _group_deleted(sender: type[Group], instance: Group, **kwargs: Any) -> None:
    _record(
        AuditAction.GROUP_DELETED,
        before={"id": instance.pk, "name": instance.name},
        message=f"Group “{instance.name}” deleted.",
    )


# Memberships and permissions ------------------------------------------------------------


def _people(user_ids: Iterable[int]) -> dict[int, Rights]:
    """What each person's rights are: their groups, their own permissions, whether they may
    approve refunds."""
    people: dict[int, Rights] = {pk: {"groups": [], "permissions": [], "approver": False} for pk in user_ids}
    memberships = User.groups.through.objects.filter(user_id__in=user_ids)
    for user_id, name in memberships.values_list("user_id", "group__name").order_by("group__name"):
        people[user_id]["groups"].append(name)
    own = User.user_permissions.through.objects.filter(user_id__in=user_ids).values_list(
        "user_id", "permission__content_type__app_label", "permission__codename"
    )
    for user_id, app_label, codename in own:
        people[user_id]["permissions"].append(f"{app_label}.{codename}")
    approve = Permission.objects.filter(**APPROVE)
    approvers = (
        User.objects.filter(pk__in=user_ids)
        .filter(Q(user_permissions__in=approve) | Q(groups__permissions__in=approve))
        .values_list("pk", flat=True)
        .distinct()
    )
    for user_id in approvers:
        people[user_id]["approver"] = True
    for person in people.values():
        person["permissions"].sort()
    return people


def _groups(group_ids: Iterable[int]) -> dict[int, Rights]:
    groups: dict[int, Rights] = {
        pk: {"name": name, "permissions": []}
        for pk, name in Group.objects.filter(pk__in=group_ids).values_list("pk", "name")
    }
    rows = Group.permissions.through.objects.filter(group_id__in=group_ids).values_list(
        "group_id", "permission__content_type__app_label", "permission__codename"
    )
    for group_id, app_label, codename in rows:
        groups[group_id]["permissions"].append(f"{app_label}.{codename}")
    for group in groups.values():
        group["permissions"].sort()
    return groups


def _affected(
    sender: type[Any], instance: User | Group | Permission, reverse: bool, pk_set: set[int] | None
) -> tuple[set[int], set[int]]:
    """(user ids, group ids) whose rights a change of the relation `sender` touches. For a
    clear (pk_set None) every row of the relation on `instance`'s side is."""
    if sender is User.groups.through:
        if not reverse:
            return {instance.pk}, set()
        members = User.objects.filter(groups=instance.pk)  # `instance` is the group
        return set(pk_set if pk_set is not None else members.values_list("pk", flat=True)), set()
    if sender is User.user_permissions.through:
        if not reverse:
            return {instance.pk}, set()
        holders = User.objects.filter(user_permissions=instance.pk)  # `instance` is the permission
        return set(pk_set if pk_set is not None else holders.values_list("pk", flat=True)), set()
    # Group.permissions
    if not reverse:
        groups = {instance.pk}
    else:
        holding = Group.objects.filter(permissions=instance.pk)  # `instance` is the permission
        groups = set(pk_set if pk_set is not None else holding.values_list("pk", flat=True))
    users = set(User.objects.filter(groups__in=groups).values_list("pk", flat=True))
    return users, groups


def _relation_changing(
    sender: type[Any],
    instance: User | Group | Permission,
    action: str,
    reverse: bool,
    pk_set: set[int] | None,
    **kwargs: Any,
) -> None:
    if action.startswith("pre_"):
        users, groups = _affected(sender, instance, reverse, pk_set)
        setattr(instance, _BEFORE_RELATION, (users, groups, _people(users), _groups(groups)))
        return
    nothing: tuple[set[int], set[int], dict[int, Rights], dict[int, Rights]] = (set(), set(), {}, {})
    users, groups, people_before, groups_before = getattr(instance, _BEFORE_RELATION, nothing)
    people_after = _people(users)
    for group_id, after in _groups(groups).items():
        before = groups_before.get(group_id)
        if before is not None and before["permissions"] != after["permissions"]:
            added = sorted(set(after["permissions"]) - set(before["permissions"]))
            removed = sorted(set(before["permissions"]) - set(after["permissions"]))
            _record(
                AuditAction.GROUP_PERMISSIONS_CHANGED,
                before={"id": group_id, "name": before["name"], "permissions": before["permissions"]},
                after={"id": group_id, "name": after["name"], "permissions": after["permissions"]},
                message=f"Permissions of group “{after['name']}”: {_changes(added, removed)}.",
            )
    accounts = User.objects.in_bulk(people_after.keys())
    for user_id, after in sorted(people_after.items()):
        before, account = people_before[user_id], accounts[user_id]
        name = account.get_username()
        for key, action_changed, what in (
            ("groups", AuditAction.USER_GROUPS_CHANGED, "Groups"),
            ("permissions", AuditAction.USER_PERMISSIONS_CHANGED, "Permissions"),
        ):
            if before[key] != after[key]:
                added = sorted(set(after[key]) - set(before[key]))
                removed = sorted(set(before[key]) - set(after[key]))
                _record(
                    action_changed,
                    account=account,
                    before={key: before[key]},
                    after={key: after[key]},
                    message=f"{what} of “{name}”: {_changes(added, removed)}.",
                )
        if after["approver"] and not before["approver"]:
            _record(
                AuditAction.USER_MADE_APPROVER,
                account=account,
                message=f"“{name}” may approve refunds from now on.",
            )


def _changes(added: list[str], removed: list[str]) -> str:
    parts = []
    if added:
        parts.append("added " + ", ".join(added))
    if removed:
        parts.append("removed " + ", ".join(removed))
    return "; ".join(parts) or "unchanged"


def connect() -> None:
    """Connect the receivers (PaymentsConfig.ready). Only the real models are watched: the
    historical ones of migrations (the roles migration making the groups) are not."""
    pre_save.connect(_user_before_save, sender=User, dispatch_uid="audit_user_pre_save")
    post_save.connect(_user_saved, sender=User, dispatch_uid="audit_user_saved")
    post_delete.connect(_user_deleted, sender=User, dispatch_uid="audit_user_deleted")
    pre_save.connect(_group_before_save, sender=Group, dispatch_uid="audit_group_pre_save")
    post_save.connect(_group_saved, sender=Group, dispatch_uid="audit_group_saved")
    post_delete.connect(_group_deleted, sender=Group, dispatch_uid="audit_group_deleted")
    for relation in (User.groups.through, User.user_permissions.through, Group.permissions.through):
        m2m_changed.connect(_relation_changing, sender=relation, dispatch_uid=f"audit_{relation.__name__}")
