"""Notifications from the providers (webhooks): kept as received, then acted on by asking the
provider, which stays the source of truth. A notification is only a hint that something moved:
acting on it twice, or late, or out of order changes nothing twice."""

from django.db import transaction

from payments.models import AuditAction, Payment, ProviderNotification
from payments.selectors import payments_by_reference
from payments.services.audit import Actor, audit_record
from payments.services.sync import payment_sync

# Headers that carry credentials are not kept.
SECRET_HEADERS = {"authorization", "cookie", "x-api-key"}


def notification_receive(*, provider, headers, body, verified, reference, refusal=""):
    """Keep the notification; when it is verified and names a payment of ours, settle what it
    may concern (unresolved operations, money moved elsewhere) through payment_sync. Returns
    the ProviderNotification with its outcome."""
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
            body=body,
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
