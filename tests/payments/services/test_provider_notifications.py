"""Notifications from the providers as the service keeps them
(payments/services/provider_notifications.py): a verified one whole, its body read back as the
bytes received and its credentials dropped; a refused one as a few bounded facts. The webhooks'
own checks (signatures, sizes, replays) are tested with their views, tests/backoffice/test_webhooks.py."""

import hashlib

import pytest

from payments.models import ProviderNotification
from payments.services.provider_notifications import (
    notification_body,
    notification_receive,
    notification_refuse,
)

pytestmark = pytest.mark.django_db

HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer secret-4711", "Cookie": "s=1",
           "X-Api-Key": "key-4711", "User-Agent": "Vipps"}


@pytest.mark.parametrize(
    "body",
    [b'{"note": "bl\xc3\xa5b\xc3\xa6r"}', b'{"note": "\xff\xfe"}', b'{"nul": "\x00"}', b"base64:not really"],
    ids=["utf-8", "not utf-8", "nul", "begins like the marker"],
)
def test_a_verified_notification_keeps_its_body_as_received_and_no_credentials(body, sandbox):
    notification = notification_receive(provider="vipps", headers=HEADERS, body=body, reference="nobody",
                                        source_ip="192.0.2.7")

    kept = ProviderNotification.objects.get(pk=notification.pk)
    assert notification_body(kept) == body
    assert (kept.body_size, kept.body_sha256) == (len(body), hashlib.sha256(body).hexdigest())
    assert kept.headers == {"Content-Type": "application/json", "User-Agent": "Vipps"}
    assert kept.outcome == "No payment of ours has this reference."


def test_a_reference_no_payment_can_have_is_kept_and_not_acted_on(make_payment, sandbox):
    payment = make_payment("vipps")
    sandbox.clear_requests()

    notification = notification_receive(provider="vipps", headers={}, body=b"{}", reference=payment.reference,
                                        reference_problem="It holds a line break.")

    assert notification.payment is None
    assert notification.outcome == "Not acted on: its reference is unusable. It holds a line break."
    assert sandbox.requests() == []


def test_a_refused_notification_keeps_a_few_short_headers_its_size_and_hash_never_its_body():
    body = b'{"forged": true}'
    headers = {**HEADERS, "User-Agent": "x" * 1_000, "X-Custom": "kept nowhere"}

    refused = notification_refuse(provider="optty", headers=headers, body=body, size=len(body),
                                  source_ip="192.0.2.7", refusal="The signature does not match.")

    assert (refused.verified, refused.body, refused.body_size) == (False, "", len(body))
    assert refused.body_sha256 == hashlib.sha256(body).hexdigest()
    assert refused.headers == {"Content-Type": "application/json", "User-Agent": "x" * 200}
    assert refused.outcome == "The signature does not match."


def test_a_source_that_had_its_refusals_of_the_minute_kept_gets_nothing_more_kept(settings):
    settings.REFUSED_NOTIFICATIONS_PER_MINUTE = 2

    kept = [
        notification_refuse(provider="optty", headers={}, body=None, size=10**6, source_ip=address, refusal="No.")
        for address in ["192.0.2.7", "192.0.2.7", "192.0.2.7", "198.51.100.1"]
    ]

    assert [notification is not None for notification in kept] == [True, True, False, True]
    assert kept[0].body_sha256 == ""
    assert ProviderNotification.objects.count() == 3
