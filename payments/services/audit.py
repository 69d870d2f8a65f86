"""The audit log: every service that acts writes an AuditEvent naming who did it."""

from dataclasses import dataclass

from payments.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in person, or the system itself (a command, a webhook)."""

    user: object | None
    label: str
    ip: str | None = None

    @classmethod
    def of_user(cls, user, *, ip=None):
        return cls(user=user, label=user.get_username(), ip=ip)

    @classmethod
    def of_request(cls, request):
        return cls.of_user(request.user, ip=request.META.get("REMOTE_ADDR") or None)

    @classmethod
    def system(cls, name):
        """The machine acting on its own, e.g. Actor.system("reconcile")."""
        return cls(user=None, label=f"system: {name}")


def audit_record(
    *,
    actor,
    action,
    order=None,
    payment=None,
    operation=None,
    amount=None,
    currency="",
    before=None,
    after=None,
    message="",
):
    """Append one event to the audit log. The objects it names fill in each other: an
    operation gives its payment, a payment its order and currency."""
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
        amount=amount,
        currency=currency,
        before=before,
        after=after,
        ip=actor.ip,
        message=message,
    )
