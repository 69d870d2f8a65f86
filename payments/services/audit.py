"""The audit log: every service that acts writes an AuditEvent naming who did it."""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, NoReturn, Self

from django.contrib.auth.models import User
from django.http import HttpRequest

from payments.exceptions import ActionRefused
from payments.models import AuditAction, AuditEvent, Operation, Order, Payment

# The request being served, for what is recorded without one at hand: the changes to people
# and groups that Django's admin and commands make (payments.services.account_audit).
_current_request: ContextVar[HttpRequest | None] = ContextVar("audit_current_request", default=None)


def client_ip(request: HttpRequest) -> str | None:
    """The address of whoever sent `request`, for the audit log and the login throttle alike:
    behind the proxies that TRUSTED_PROXY_COUNT counts, the one they saw (X-Forwarded-For),
    otherwise the connection's. None when there is none. One place decides it, so that the
    audit log and django-axes never disagree about who someone was."""
    from django.conf import settings
    from ipware import get_client_ip

    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        # Each proxy appends the address it was called from, so the client is the entry
        # `proxies` from the right (the nearest proxy itself is REMOTE_ADDR): what a client
        # writes into the header itself stands further left and is never taken. ipware
        # counts only the proxies named in the header, hence one less.
        address, _ = get_client_ip(
            request,
            proxy_order="left-most",
            proxy_count=proxies - 1,
            request_header_order=["HTTP_X_FORWARDED_FOR"],
            strict=False,
        )
        if address is not None:
            return address
    return request.META.get("REMOTE_ADDR") or None


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in person, or the system itself (a command, a webhook)."""

    user: User | None
    label: str
    ip: str | None = None

    @classmethod
    def of_user(cls, user: User, *, ip: str | None = None) -> Self:
        return cls(user=user, label=user.get_username(), ip=ip)

    @classmethod
    def of_request(cls, request: HttpRequest) -> Self:
        """The person signed in on `request`, or an anonymous visitor, with their address."""
        if not request.user.is_authenticated:
            return cls(user=None, label="anonymous", ip=client_ip(request))
        return cls.of_user(request.user, ip=client_ip(request))

    @classmethod
    def system(cls, name: str) -> Self:
        """The machine acting on its own, e.g. Actor.system("reconcile")."""
        return cls(user=None, label=f"system: {name}")


@contextmanager
def serving(request: HttpRequest) -> Iterator[None]:
    """While a request is served: current_actor() names whoever sent it."""
    token = _current_request.set(request)
    try:
        yield
    finally:
        _current_request.reset(token)


def current_actor() -> Actor:
    """Who is acting where no service was told: the person of the request being served
    (see serving), or else the process itself, e.g. "system: manage.py createsuperuser"."""
    request = _current_request.get()
    if request is not None:
        return Actor.of_request(request)
    path = sys.argv[0] if sys.argv and sys.argv[0] else "python"
    program = os.path.basename(path)
    if program == "__main__.py":  # python -m <package>
        program = os.path.basename(os.path.dirname(path))
    if program == "manage.py" and len(sys.argv) > 1:
        program = f"manage.py {sys.argv[1]}"
    return Actor.system(program)


def audit_refusal(*, actor: Actor, operation: Operation | None, refusal: ActionRefused) -> NoReturn:
    """Write a refused action (an ActionRefused or ActionForbidden, whose message says why) to
    the audit log, in its own transaction, and raise it."""
    audit_record(
        actor=actor, action=AuditAction.ACTION_REFUSED, operation=operation, message=refusal.message
    )
    raise refusal


def audit_record(
    *,
    actor: Actor,
    action: AuditAction,
    order: Order | None = None,
    payment: Payment | None = None,
    operation: Operation | None = None,
    account: User | None = None,
    amount: int | None = None,
    currency: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    message: str = "",
) -> AuditEvent:
    """Append one event to the audit log. The objects it names fill in each other: an
    operation gives its payment, a payment its order and currency. `account`: the person an
    event about people and their rights is about."""
    if operation is not None and payment is None:
        payment = operation.payment
    if payment is not None:
        order = order or payment.order
        currency = currency or payment.currency
    user = actor.user if actor.user is not None and actor.user.is_authenticated else None
    return AuditEvent.objects.create(
        actor=user,
        actor_label=actor.label[:150],
        action=action,
        order=order,
        payment=payment,
        operation=operation,
        account=account,
        amount=amount,
        currency=currency,
        before=before,
        after=after,
        ip=actor.ip,
        message=message,
    )
