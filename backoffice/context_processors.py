from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest

from payments.roles import may


class _Acting:
    """`{% if may.approve_refund %}`: what payments.roles.may() says of the person, for the
    payments app's permissions. Templates ask this, not `perms`, about the desk's actions:
    `perms` would say yes to any superuser."""

    def __init__(self, user: User | AnonymousUser) -> None:
        self.user = user

    def __getitem__(self, codename: str) -> bool:
        return self.user.is_authenticated and may(self.user, f"payments.{codename}")


def acting(request: HttpRequest) -> dict[str, _Acting]:
    return {"may": _Acting(request.user)}
