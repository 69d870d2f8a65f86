"""Who may act on the desk. Refunds, cancels and approvals come only with an explicit grant:
the groups of the roles (or a permission given to the person by name, audited alike). Being a
superuser grants none of them: a superuser who could also approve would need nobody else to
move money (README, "Guarantees")."""

from django.contrib.auth.models import AnonymousUser, User

# The desk's actions that move money or decide on it.
ACTING_PERMISSIONS = frozenset(
    {
        "payments.request_refund",
        "payments.cancel_payment",
        "payments.approve_refund",
        # Resolving an operation that needs a person books money as moved, or releases it.
        "payments.resolve_operation",
    }
)


# Taking everybody's export files (customers' data in bulk): auditors have it through their
# group. A superuser reads every record in the admin, but takes only their own files unless
# granted it (README, "Exports").
GRANTED_ONLY = ACTING_PERMISSIONS | {"payments.view_export"}


def may(user: User | AnonymousUser, permission: str) -> bool:
    """Whether `user` holds `permission`. For the acting permissions and the others in
    GRANTED_ONLY, superuser status counts for nothing; any other permission is Django's
    `has_perm`."""
    if permission not in GRANTED_ONLY:
        return user.has_perm(permission)
    # get_all_permissions() asks the backends only (backoffice.auth.ModelBackend reads the
    # person's own and their groups' permissions, superuser or not); has_perm() would answer
    # True for any active superuser before asking them.
    return user.is_active and permission in user.get_all_permissions()
