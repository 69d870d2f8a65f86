"""Notifications from the providers (webhooks): kept as received, then acted on by asking the
provider, which stays the source of truth. A notification is only a hint that something moved:
acting on it twice, or late, or out of order changes nothing twice."""

import base64

from django.db import transaction

from payments.models import AuditAction, Payment, ProviderNotification
from payments.selectors import payments_by_reference
from payments.services.audit import Actor, audit_record
from payments.services.sync import payment_sync

# Headers that carry credentials are not kept.
SECRET_HEADERS = {"authorization", "cookie", "x-api-key"}
# A body is kept as the text it is when it is UTF-8 that PostgreSQL's text can hold (no NUL).
# Any other body is kept as this marker followed by its bytes in base64; so is a text body
# that happens to begin with the marker, so that every stored body reads back unambiguously
# to the bytes received (notification_body).
BASE64_MARKER = "base64:"


def _stored_body(body):
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text or text.startswith(BASE64_MARKER):
        return BASE64_MARKER + base64.b64encode(body).decode("ascii")
    return text


def notification_body(notification):
    """The body of a ProviderNotification as the bytes that were received."""
    if notification.body.startswith(BASE64_MARKER):
        return base64.b64decode(notification.body[len(BASE64_MARKER) :])
    return notification.body.encode("utf-8")


def notification_receive(*, provider, headers, body, verified, reference, refusal=""):
    """Keep the notification, its body (bytes, as received) faithfully (see BASE64_MARKER);
    when it is verified and names a payment of ours, settle what it may concern (unresolved
    operations, money moved elsewhere) through payment_sync. Returns the ProviderNotification
    with its outcome."""
    kept_headers = {
        name: value for name, value in headers.items() if name.lower() not in SECRET_HEADERS
    }
    payment = None
    if verified and reference:
        payment = payments_by_reference(reference).filter(provider=provider).first()
    with transaction.atomic(durable=True):
        notification = ProviderNotification.objects.create(
            provider=provider,
            verified=verified,
            headers=kept_headers,
            body=_stored_body(body),
            payment=payment,
            outcome=refusal or ("" if payment else "No payment of ours has this reference."),
        )
    if payment is None:
        return notification
    actor = Actor.system(f"notification: {provider}")
    report = payment_sync(payment_id=payment.pk, actor=actor)
    outcome = " ".join(report.notes) or (
        "Checked with the provider: nothing to change." if report.synced else "The provider could not be read."
    )
    ProviderNotification.objects.filter(pk=notification.pk).update(outcome=outcome)
    notification.outcome = outcome
    audit_record(
        actor=actor,
        action=AuditAction.NOTIFICATION_RECEIVED,
        payment=Payment.objects.select_related("order").get(pk=payment.pk),
        message=outcome,
    )
    return notification
