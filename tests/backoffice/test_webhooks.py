"""Notifications from the providers: verified as each documents, kept, acted on once."""

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from email.utils import format_datetime

import pytest
from django.core.management import call_command
from django.utils import timezone

from payments.models import OperationSource, ProviderNotification
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request
from payments.statuses import OperationStatus

pytestmark = pytest.mark.django_db

VIPPS_SECRET = "test-vipps-webhook-secret"


def vipps_signed(payload, *, secret=VIPPS_SECRET, sent_at=None, path="/webhooks/vipps/", host="testserver", tamper=None):
    """The request as Vipps signs it (providers.md): body hash, date, host, HMAC-SHA256."""
    body = json.dumps(payload).encode()
    content_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
    date = format_datetime(sent_at or timezone.now(), usegmt=True)
    signed = f"POST\n{path}\n{date};{host};{content_hash}"
    signature = base64.b64encode(hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest()).decode()
    if tamper:
        body = tamper(body)
    return body, {
        "x-ms-date": date,
        "x-ms-content-sha256": content_hash,
        "Authorization": f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}",
    }


def post_vipps(client, payload, **options):
    body, headers = vipps_signed(payload, **options)
    return client.post("/webhooks/vipps/", body, content_type="application/json", headers=headers)


def vipps_event(payment, name="REFUNDED", value=25_000, key=None):
    return {"msn": "123456", "reference": payment.reference, "pspReference": "psp-1", "name": name,
            "amount": {"currency": payment.currency, "value": value}, "timestamp": timezone.now().isoformat(),
            "idempotencyKey": key, "success": True}


@pytest.fixture
def vipps_payment(make_payment):
    return make_payment("vipps", currency="NOK", amount=100_000, captured=100_000)


class TestVipps:
    def test_a_refund_made_in_the_portal_is_recorded_once_however_often_it_is_told(self, client, vipps_payment, sandbox):
        sandbox.portal(provider="vipps", reference=vipps_payment.reference, kind="refund", amount=25_000)

        first = post_vipps(client, vipps_event(vipps_payment))
        again = post_vipps(client, vipps_event(vipps_payment))

        assert (first.status_code, again.status_code) == (200, 200)
        vipps_payment.refresh_from_db()
        assert vipps_payment.refunded == 25_000
        assert vipps_payment.operations.filter(source=OperationSource.PROVIDER).count() == 1
        assert ProviderNotification.objects.filter(verified=True, payment=vipps_payment).count() == 2
        call_command("check_ledger")

    def test_a_notification_settles_an_unknown_refund(self, client, vipps_payment, sandbox):
        sandbox.inject_fault(provider="vipps", endpoint="refund", mode="lost_answer")
        unknown = refund_request(payment_id=vipps_payment.pk, amount=10_000, reason="goodwill",
                                 actor=Actor.system("tests"), idempotency_key=new_idempotency_key())
        assert unknown.status == OperationStatus.UNKNOWN

        post_vipps(client, vipps_event(vipps_payment, value=10_000, key=unknown.idempotency_key))

        unknown.refresh_from_db()
        vipps_payment.refresh_from_db()
        assert unknown.status == OperationStatus.SUCCEEDED
        assert vipps_payment.refunded == 10_000
        assert sandbox.payment(provider="vipps", reference=vipps_payment.reference)["refunded"] == 10_000

    def test_out_of_order_notifications_change_nothing_twice(self, client, vipps_payment, sandbox):
        sandbox.portal(provider="vipps", reference=vipps_payment.reference, kind="refund", amount=5_000)
        sandbox.portal(provider="vipps", reference=vipps_payment.reference, kind="refund", amount=7_000)

        post_vipps(client, vipps_event(vipps_payment, value=7_000))
        post_vipps(client, vipps_event(vipps_payment, value=5_000))

        vipps_payment.refresh_from_db()
        assert vipps_payment.refunded == 12_000
        call_command("check_ledger")

    @pytest.mark.parametrize(
        "forgery",
        ["wrong secret", "body changed", "stale date", "future date", "no signature", "other path"],
    )
    def test_forged_or_stale_notifications_are_refused_and_change_nothing(self, client, vipps_payment, sandbox, forgery):
        sandbox.portal(provider="vipps", reference=vipps_payment.reference, kind="refund", amount=25_000)
        options = {
            "wrong secret": {"secret": "guess"},
            "body changed": {"tamper": lambda body: body.replace(b"REFUNDED", b"CAPTURED")},
            "stale date": {"sent_at": timezone.now() - timedelta(minutes=6)},
            "future date": {"sent_at": timezone.now() + timedelta(minutes=6)},
            "other path": {"path": "/webhooks/vipps/?x=1"},
            "no signature": {},
        }[forgery]
        body, headers = vipps_signed(vipps_event(vipps_payment), **options)
        if forgery == "no signature":
            del headers["Authorization"]

        response = client.post("/webhooks/vipps/", body, content_type="application/json", headers=headers)

        assert response.status_code == 401
        vipps_payment.refresh_from_db()
        assert vipps_payment.refunded == 0
        notification = ProviderNotification.objects.get()
        assert not notification.verified and notification.outcome
        assert "authorization" not in {name.lower() for name in notification.headers}


class TestSimplePS:
    @pytest.mark.parametrize("scheme", ["Bearer", "Basic"])
    def test_a_notification_with_the_credential_is_acted_on(self, client, make_payment, sandbox, scheme):
        payment = make_payment("simpleps", currency="USD", amount=10_000, captured=10_000)
        sandbox.portal(provider="simpleps", reference=payment.reference, kind="refund", amount=1_000)
        credential = "test-simpleps-webhook-secret"
        if scheme == "Basic":
            credential = base64.b64encode(f"simpleps:{credential}".encode()).decode()

        response = client.post("/webhooks/simpleps/", {"externalPaymentId": payment.reference, "status": "PARTIALLY_REFUNDED"},
                               content_type="application/json", headers={"Authorization": f"{scheme} {credential}"})

        assert response.status_code == 200
        payment.refresh_from_db()
        assert payment.refunded == 1_000

    @pytest.mark.parametrize("authorization", ["", "Bearer wrong", "Basic !!!", "Token test-simpleps-webhook-secret"])
    def test_without_the_credential_nothing_changes(self, client, make_payment, sandbox, authorization):
        payment = make_payment("simpleps", currency="USD", amount=10_000, captured=10_000)
        sandbox.portal(provider="simpleps", reference=payment.reference, kind="refund", amount=1_000)

        response = client.post("/webhooks/simpleps/", {"externalPaymentId": payment.reference},
                               content_type="application/json", headers={"Authorization": authorization})

        assert response.status_code == 401
        payment.refresh_from_db()
        assert payment.refunded == 0
        assert ProviderNotification.objects.get().verified is False


class TestOptty:
    def test_a_refund_callback_settles_a_pending_refund(self, client, make_payment, sandbox):
        payment = make_payment("optty", currency="AUD", amount=10_000, captured=10_000, at_provider=False)
        sandbox.create_payment(provider="optty", reference=payment.reference, currency="AUD",
                               amount=10_000, captured=10_000, pending_refunds=True)
        pending = refund_request(payment_id=payment.pk, amount=2_000, reason="goodwill",
                                 actor=Actor.system("tests"), idempotency_key=new_idempotency_key())
        assert pending.status == OperationStatus.PENDING
        sandbox.advance(provider="optty", reference=payment.reference)

        for _ in range(2):  # delivered twice
            response = client.post("/webhooks/optty/test-optty-webhook-secret/", {
                "type": "REFUND_CALLBACK", "orderReference": payment.reference,
                "refundReference": pending.idempotency_key, "refundStatus": "SUCCESSFUL",
            }, content_type="application/json")
            assert response.status_code == 200

        pending.refresh_from_db()
        payment.refresh_from_db()
        assert pending.status == OperationStatus.SUCCEEDED
        assert payment.refunded == 2_000
        call_command("check_ledger")

    def test_a_wrong_secret_is_not_found_and_changes_nothing(self, client, make_payment, sandbox):
        payment = make_payment("optty", currency="AUD", amount=10_000, captured=10_000)
        sandbox.portal(provider="optty", reference=payment.reference, kind="refund", amount=1_000)

        response = client.post("/webhooks/optty/guess/", {"type": "ORDER_STATUS_UPDATE", "orderReference": payment.reference},
                               content_type="application/json")

        assert response.status_code == 404
        payment.refresh_from_db()
        assert payment.refunded == 0
        assert ProviderNotification.objects.get().verified is False


def test_a_notification_about_a_payment_we_do_not_have_is_kept(client):
    response = client.post("/webhooks/optty/test-optty-webhook-secret/", {"orderReference": "nobody"},
                           content_type="application/json")

    assert response.status_code == 200
    assert ProviderNotification.objects.get().outcome == "No payment of ours has this reference."
