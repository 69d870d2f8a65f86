"""Notifications from the providers (webhooks): kept as received, then acted on by asking the
provider, which stays the source of truth. A notification is only a hint that something moved:
acting on it twice, or late, or out of order changes nothing twice."""

import base64
import hashlib
from collections.abc import Mapping
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from payments.models import AuditAction, Payment, ProviderNotification
from payments.selectors import payments_by_reference
from payments.services.audit import Actor, audit_record
from payments.services.sync import SyncOutcome, payment_sync

# Headers that carry credentials are not kept.
SECRET_HEADERS = {"authorization", "cookie", "x-api-key"}
# All that is kept of a refused notification's headers (besides its size and hash): enough to
# tell what sent it, not so much that anybody's requests can fill the database.
REFUSED_HEADERS = {"content-type", "content-length", "user-agent", "x-ms-date", "x-forwarded-for"}
MAX_HEADER_CHARS = 200
# A body is kept as the text it is when it is UTF-8 that PostgreSQL's text can hold (no NUL).
# Any other body is kept as this marker followed by its bytes in base64; so is a text body
# that happens to begin with the marker, so that every stored body reads back unambiguously
# to the bytes received (notification_body).
BASE64_MARKER = "base64:"


def _stored_body(body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text or text.startswith(BASE64_MARKER):
        return BASE64_MARKER + base64.b64encode(body).decode("ascii")
    return text


def notification_body(notification: ProviderNotification) -> bytes:
    """The body of a ProviderNotification as the bytes that were received."""
    if notification.body.startswith(BASE64_MARKER):
        return base64.b64decode(notification.body[len(BASE64_MARKER) :])
    return notification.body.encode("utf-8")


def notification_refuse(
    *,
    provider: str,
    headers: Mapping[str, str],
    body: bytes | None,
    size: int,
    source_ip: str | None,
    refusal: str,
) -> ProviderNotification | None:
    """Keep what tells a refused notification apart, never its body: its size (`size`, bytes,
    as received or as declared when it was too long to read), the SHA-256 of `body` when it
    was read (None otherwise), a few headers (REFUSED_HEADERS) and the address it came from.
    A source that had REFUSED_NOTIFICATIONS_PER_MINUTE kept in the last minute gets nothing
    more kept. Returns the ProviderNotification, or None when nothing was kept."""
    recent = ProviderNotification.objects.filter(
        verified=False, source_ip=source_ip, received_at__gte=timezone.now() - timedelta(minutes=1)
    )
    if recent.count() >= settings.REFUSED_NOTIFICATIONS_PER_MINUTE:
        return None
    return ProviderNotification.objects.create(
        provider=provider,
        verified=False,
        headers={
            name: value[:MAX_HEADER_CHARS] for name, value in headers.items() if name.lower() in REFUSED_HEADERS
        },
        body="",
        body_size=size,
        body_sha256=hashlib.sha256(body).hexdigest() if body is not None else "",
        source_ip=source_ip,
        outcome=refusal,
    )


def notification_receive(
    *,
    provider: str,
    headers: Mapping[str, str],
    body: bytes,
    reference: str | None,
    reference_problem: str = "",
    source_ip: str | None = None,
) -> ProviderNotification:
    """Keep a verified notification whole: its headers (less credentials) and its body (bytes,
    as received) faithfully (see BASE64_MARKER); when it names a payment of ours, settle what
    it may concern (unresolved operations, money moved elsewhere) through payment_sync.
    `reference_problem`: why `reference` can be no payment's (the sender's check, in words);
    such a notification is kept with that as its outcome, and not acted on. Returns the
    ProviderNotification with its outcome."""
    kept_headers = {
        name: value for name, value in headers.items() if name.lower() not in SECRET_HEADERS
    }
    payment = None
    if reference and not reference_problem:
        payment = payments_by_reference(reference).filter(provider=provider).first()
    with transaction.atomic(durable=True):
        notification = ProviderNotification.objects.create(
            provider=provider,
            verified=True,
            headers=kept_headers,
            body=_stored_body(body),
            body_size=len(body),
            body_sha256=hashlib.sha256(body).hexdigest(),
            source_ip=source_ip,
            payment=payment,
            outcome=(
                f"Not acted on: its reference is unusable. {reference_problem}"
                if reference_problem
                else "" if payment else "No payment of ours has this reference."
            ),
        )
    if payment is None:
        return notification
    by = f"notification: {provider}"
    actor = Actor.system(by)
    # One read of the provider, so that the provider's request ends in time: what must be sent
    # again is left to the background.
    report = payment_sync(payment_id=payment.pk, actor=actor, resends=0)
    outcome = " ".join(report.notes) or (
        "Checked with the provider: nothing to change." if report.synced else "The provider could not be read."
    )
    if report.outcome == SyncOutcome.BUSY:
        # The provider answered 200 and will not send this again: the payment is synced as soon
        # as the other process lets it go, or the news could be lost (an old payment is not in
        # the periodic sync).
        from payments.tasks import sync_payment_later

        transaction.on_commit(partial(sync_payment_later, payment_id=payment.pk, by=by))
        outcome += " It is synced again shortly."
    ProviderNotification.objects.filter(pk=notification.pk).update(outcome=outcome)
    notification.outcome = outcome
    audit_record(
        actor=actor,
        action=AuditAction.NOTIFICATION_RECEIVED,
        payment=Payment.objects.select_related("order").get(pk=payment.pk),
        message=outcome,
    )
    return notification
