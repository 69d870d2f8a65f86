"""Logins, successful or not, go to the audit log: Django's auth signals are the hook for it."""

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.models import User
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from payments.models import AuditAction
from payments.services.audit import Actor, audit_record, client_ip


def _ip(request: HttpRequest | None) -> str | None:
    return client_ip(request) if request is not None else None


@receiver(user_logged_in)
def record_login(sender: type[User], request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    audit_record(actor=Actor.of_user(user, ip=_ip(request)), action=AuditAction.LOGIN_SUCCEEDED)


@receiver(user_login_failed)
def record_failed_login(
    sender: str, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Django has already masked the password in `credentials`; only the name is kept.
    username = str(credentials.get("username", ""))[:100]
    audit_record(
        actor=Actor(user=None, label=f"anonymous ({username})" if username else "anonymous", ip=_ip(request)),
        action=AuditAction.LOGIN_FAILED,
        message=f"Failed login for “{username}”.",
    )


@receiver(user_locked_out)
def record_lockout(
    sender: str, request: HttpRequest, username: str, ip_address: str | None, **kwargs: Any
) -> None:
    audit_record(
        actor=Actor(user=None, label=f"anonymous ({username})", ip=ip_address or None),
        action=AuditAction.LOGIN_LOCKED_OUT,
        message=f"A login for “{username}” from {ip_address} was refused: it came too soon after "
        "repeated failures.",
    )
