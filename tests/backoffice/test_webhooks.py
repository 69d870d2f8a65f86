"""Notifications from the providers: verified as each documents, kept as received, acted on
once, however often and in whatever order they come."""

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, replace
from datetime import timedelta
from email.utils import format_datetime

import pytest
from django.core.management import call_command
from django.utils import timezone

from backoffice.views.webhooks import MAX_BODY_BYTES
from payments.models import OperationKind, OperationSource, ProviderNotification
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.provider_notifications import BASE64_MARKER, notification_body
from payments.services.refunds import refund_request
from payments.statuses import OperationStatus

pytestmark = pytest.mark.django_db

VIPPS_SECRET = "test-vipps-webhook-secret"
SIMPLEPS_SECRET = "test-simpleps-webhook-secret"
OPTTY_SECRET = "test-optty-webhook-secret"


@dataclass(frozen=True)
class Delivery:
    """One request as a provider sends it. Sending it again replays it byte for byte."""

    path: str
    body: bytes
    headers: dict

    def to(self, client):
        return client.post(self.path, self.body, content_type="application/json", headers=self.headers)


def vipps_request(body, *, secret=VIPPS_SECRET, sent_at=None, signed_path="/webhooks/vipps/", host="testserver"):
    """Signed as Vipps signs (providers.md): the body's hash, the date, the host, HMAC-SHA256."""
    content_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
    date = format_datetime(sent_at or timezone.now(), usegmt=True)
    signed = f"POST\n{signed_path}\n{date};{host};{content_hash}"
    signature = base64.b64encode(hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest()).decode()
    return Delivery("/webhooks/vipps/", body, {
        "x-ms-date": date,
        "x-ms-content-sha256": content_hash,
        "Authorization": f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}",
    })


def simpleps_request(body, *, authorization=f"Bearer {SIMPLEPS_SECRET}"):
    return Delivery("/webhooks/simpleps/", body, {} if authorization is None else {"Authorization": authorization})


def optty_request(body, *, secret=OPTTY_SECRET):
    return Delivery(f"/webhooks/optty/{secret}/", body, {})


def _decimal(amount):
    return f"{amount // 100}.{amount % 100:02d}"


def vipps_event(payment, kind, amount, key=None):
    name = {"capture": "CAPTURED", "cancel": "CANCELLED", "refund": "REFUNDED"}[kind]
    return {"msn": "123456", "reference": payment.reference, "pspReference": "psp-1", "name": name,
            "amount": {"currency": payment.currency, "value": amount}, "timestamp": timezone.now().isoformat(),
            "idempotencyKey": key, "success": True}


def simpleps_event(payment, kind, amount, key=None):
    status = {"capture": "CAPTURED", "cancel": "VOIDED", "refund": "PARTIALLY_REFUNDED"}[kind]
    return {"externalPaymentId": payment.reference, "status": status,
            "amount": {"total": _decimal(amount), "currency": payment.currency}}


def optty_event(payment, kind, amount, key=None):
    if kind == "refund" and key:  # a refund of ours that Optty had answered PENDING
        return {"type": "REFUND_CALLBACK", "orderReference": payment.reference, "refundReference": key,
                "refundStatus": "SUCCESSFUL", "refundedAmount": {"amount": _decimal(amount), "currency": payment.currency}}
    status = {"capture": "CAPTURED", "cancel": "VOIDED", "refund": "REFUNDED"}[kind]
    return {"type": "ORDER_STATUS_UPDATE", "orderReference": payment.reference, "status": status}


@dataclass(frozen=True)
class Channel:
    """How one provider notifies us: what it says (event) and how it sends it (request)."""

    code: str
    currency: str
    event: object
    request: object

    def deliver(self, payment, kind="refund", amount=0, key=None):
        return self.request(json.dumps(self.event(payment, kind, amount, key)).encode())


CHANNELS = {
    "vipps": Channel("vipps", "NOK", vipps_event, vipps_request),
    "simpleps": Channel("simpleps", "USD", simpleps_event, simpleps_request),
    "optty": Channel("optty", "AUD", optty_event, optty_request),
}


@pytest.fixture(params=list(CHANNELS))
def channel(request):
    return CHANNELS[request.param]


@pytest.fixture
def paid(make_payment, channel):
    """A payment of 1,000.00 captured in full, here and at the provider."""
    return make_payment(channel.code, currency=channel.currency, amount=100_000, captured=100_000)


def recorded_outside(payment, kind=OperationKind.REFUND):
    """Amounts of the operations booked because the provider showed money we had not moved."""
    return list(payment.operations.filter(kind=kind, source=OperationSource.PROVIDER).values_list("amount", flat=True))


def refund_of_ours(payment, amount):
    return refund_request(payment_id=payment.pk, amount=amount, reason="goodwill", actor=Actor.system("tests"),
                          idempotency_key=new_idempotency_key())


# Every provider: valid, replayed, out of order, settling.


def test_money_moved_at_the_provider_is_recorded_once_however_often_it_is_told(client, channel, paid, sandbox, ledger_is_consistent):
    sandbox.portal(provider=channel.code, reference=paid.reference, kind="refund", amount=25_000)
    delivery = channel.deliver(paid, "refund", 25_000)

    answers = [delivery.to(client).status_code for _ in range(3)]  # the identical request, replayed

    assert answers == [200, 200, 200]
    paid.refresh_from_db()
    assert paid.refunded == 25_000
    assert recorded_outside(paid) == [25_000]
    assert ProviderNotification.objects.filter(verified=True, payment=paid).count() == 3


def test_notifications_out_of_order_or_late_change_nothing_twice(client, channel, paid, sandbox, ledger_is_consistent):
    sandbox.portal(provider=channel.code, reference=paid.reference, kind="refund", amount=5_000)
    earlier = channel.deliver(paid, "refund", 5_000)
    sandbox.portal(provider=channel.code, reference=paid.reference, kind="refund", amount=7_000)
    later = channel.deliver(paid, "refund", 7_000)

    later.to(client)
    earlier.to(client)
    ours = refund_of_ours(paid, 3_000)
    earlier.to(client)  # old news, once more, after a refund of ours

    assert ours.status == OperationStatus.SUCCEEDED
    paid.refresh_from_db()
    assert paid.refunded == 15_000
    assert sum(recorded_outside(paid)) == 12_000
    assert sandbox.payment(provider=channel.code, reference=paid.reference)["refunded"] == 15_000


def test_a_notification_settles_a_refund_whose_outcome_was_unknown(client, channel, paid, sandbox, ledger_is_consistent):
    sandbox.inject_fault(provider=channel.code, endpoint="refund", mode="lost_answer")
    unknown = refund_of_ours(paid, 10_000)
    assert unknown.status == OperationStatus.UNKNOWN

    response = channel.deliver(paid, "refund", 10_000, key=unknown.idempotency_key).to(client)

    assert response.status_code == 200
    unknown.refresh_from_db()
    paid.refresh_from_db()
    assert unknown.status == OperationStatus.SUCCEEDED
    assert paid.refunded == 10_000
    assert recorded_outside(paid) == []
    assert sandbox.payment(provider=channel.code, reference=paid.reference)["refunded"] == 10_000


def test_a_capture_made_at_the_provider_is_recorded(client, channel, make_payment, sandbox, ledger_is_consistent):
    payment = make_payment(channel.code, currency=channel.currency, amount=100_000)
    sandbox.portal(provider=channel.code, reference=payment.reference, kind="capture", amount=40_000)

    response = channel.deliver(payment, "capture", 40_000).to(client)

    assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.captured == 40_000
    assert recorded_outside(payment, OperationKind.CAPTURE) == [40_000]


# Every provider: refused.


def _without_authorization(delivery):
    return replace(delivery, headers={k: v for k, v in delivery.headers.items() if k != "Authorization"})


FORGERIES = {
    "vipps": {
        "wrong secret": lambda body: vipps_request(body, secret="guess"),
        "body changed after signing": lambda body: replace(vipps_request(body), body=body.replace(b"REFUNDED", b"CAPTURED")),
        "stale date": lambda body: vipps_request(body, sent_at=timezone.now() - timedelta(minutes=6)),
        "future date": lambda body: vipps_request(body, sent_at=timezone.now() + timedelta(minutes=6)),
        "no signature": lambda body: _without_authorization(vipps_request(body)),
        "signed for another path": lambda body: vipps_request(body, signed_path="/webhooks/vipps/?x=1"),
        "signed for another host": lambda body: vipps_request(body, host="evil.example"),
    },
    "simpleps": {
        "no credential": lambda body: simpleps_request(body, authorization=None),
        "wrong bearer": lambda body: simpleps_request(body, authorization="Bearer wrong"),
        "unreadable basic": lambda body: simpleps_request(body, authorization="Basic !!!"),
        "basic with a wrong password": lambda body: simpleps_request(
            body, authorization="Basic " + base64.b64encode(b"simpleps:wrong").decode()),
        "another scheme": lambda body: simpleps_request(body, authorization=f"Token {SIMPLEPS_SECRET}"),
    },
    "optty": {
        "wrong secret": lambda body: optty_request(body, secret="guess"),
        "the secret and more": lambda body: optty_request(body, secret=OPTTY_SECRET + "x"),
    },
}
# Optty's credential is its URL: a wrong one is an address that does not exist.
REFUSAL_STATUS = {"vipps": 401, "simpleps": 401, "optty": 404}


@pytest.mark.parametrize(("code", "forgery"), [(code, name) for code, forged in FORGERIES.items() for name in forged])
def test_forged_or_stale_notifications_are_refused_kept_and_change_nothing(client, make_payment, sandbox, code, forgery, ledger_is_consistent):
    channel = CHANNELS[code]
    paid = make_payment(code, currency=channel.currency, amount=100_000, captured=100_000)
    sandbox.portal(provider=code, reference=paid.reference, kind="refund", amount=25_000)
    sandbox.clear_requests()
    delivery = FORGERIES[code][forgery](json.dumps(channel.event(paid, "refund", 25_000)).encode())

    response = delivery.to(client)

    assert response.status_code == REFUSAL_STATUS[code]
    paid.refresh_from_db()
    assert (paid.captured, paid.refunded) == (100_000, 0)
    assert recorded_outside(paid) == []
    assert sandbox.requests(code) == []  # not even read from the provider
    notification = ProviderNotification.objects.get()
    assert (notification.verified, notification.payment) == (False, None)
    assert notification.outcome
    # Kept: what tells it apart, not the body (anybody can send one).
    assert (notification.body, notification.body_size) == ("", len(delivery.body))
    assert notification.body_sha256 == hashlib.sha256(delivery.body).hexdigest()
    assert notification.source_ip == "127.0.0.1"
    assert "authorization" not in {name.lower() for name in notification.headers}


def test_without_a_configured_secret_every_notification_is_refused(client, channel, paid, sandbox, settings, ledger_is_consistent):
    setattr(settings, f"{channel.code.upper()}_WEBHOOK_SECRET", "")
    sandbox.portal(provider=channel.code, reference=paid.reference, kind="refund", amount=25_000)

    response = channel.deliver(paid, "refund", 25_000).to(client)

    assert response.status_code == REFUSAL_STATUS[channel.code]
    paid.refresh_from_db()
    assert paid.refunded == 0
    assert ProviderNotification.objects.get().verified is False


def test_vipps_a_signed_request_replayed_after_five_minutes_is_refused(client, make_payment, sandbox, monkeypatch, ledger_is_consistent):
    paid = make_payment("vipps", currency="NOK", amount=100_000, captured=100_000)
    sandbox.portal(provider="vipps", reference=paid.reference, kind="refund", amount=25_000)
    overheard = CHANNELS["vipps"].deliver(paid, "refund", 25_000)
    assert overheard.to(client).status_code == 200
    sandbox.portal(provider="vipps", reference=paid.reference, kind="refund", amount=10_000)
    later = timezone.now() + timedelta(minutes=5, seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)

    replayed = overheard.to(client)

    assert replayed.status_code == 401
    paid.refresh_from_db()
    assert paid.refunded == 25_000  # the replay made us read nothing
    assert ProviderNotification.objects.filter(verified=False).count() == 1


# SimplePS and Optty particulars.


@pytest.mark.parametrize("scheme", ["Bearer", "Basic"])
def test_simpleps_takes_its_credential_as_bearer_or_as_basic_password(client, make_payment, sandbox, scheme, ledger_is_consistent):
    payment = make_payment("simpleps", currency="USD", amount=10_000, captured=10_000)
    sandbox.portal(provider="simpleps", reference=payment.reference, kind="refund", amount=1_000)
    credential = SIMPLEPS_SECRET
    if scheme == "Basic":
        credential = base64.b64encode(f"simpleps:{credential}".encode()).decode()
    body = json.dumps(simpleps_event(payment, "refund", 1_000)).encode()

    response = simpleps_request(body, authorization=f"{scheme} {credential}").to(client)

    assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.refunded == 1_000


@pytest.fixture
def optty_pending_refund(make_payment, sandbox):
    payment = make_payment("optty", currency="AUD", amount=10_000, captured=10_000, at_provider=False)
    sandbox.create_payment(provider="optty", reference=payment.reference, currency="AUD",
                           amount=10_000, captured=10_000, pending_refunds=True)
    pending = refund_of_ours(payment, 2_000)
    assert pending.status == OperationStatus.PENDING
    return payment, pending


def test_optty_a_refund_callback_settles_a_pending_refund(client, optty_pending_refund, sandbox, ledger_is_consistent):
    payment, pending = optty_pending_refund
    sandbox.advance(provider="optty", reference=payment.reference)
    callback = CHANNELS["optty"].deliver(payment, "refund", 2_000, key=pending.idempotency_key)

    answers = [callback.to(client).status_code for _ in range(2)]  # delivered twice

    assert answers == [200, 200]
    pending.refresh_from_db()
    payment.refresh_from_db()
    assert pending.status == OperationStatus.SUCCEEDED
    assert payment.refunded == 2_000


def test_optty_news_ahead_of_the_provider_waits_for_it_and_late_news_changes_nothing(client, optty_pending_refund, sandbox, ledger_is_consistent):
    payment, pending = optty_pending_refund
    callback = CHANNELS["optty"].deliver(payment, "refund", 2_000, key=pending.idempotency_key)
    status_update = CHANNELS["optty"].deliver(payment, "refund", 2_000)

    # The callback arrives before Optty's own API shows the refund done: nothing is settled on
    # its word alone.
    assert callback.to(client).status_code == 200
    pending.refresh_from_db()
    assert pending.status == OperationStatus.PENDING
    sandbox.advance(provider="optty", reference=payment.reference)
    assert status_update.to(client).status_code == 200
    assert callback.to(client).status_code == 200  # the first news, late and again

    pending.refresh_from_db()
    payment.refresh_from_db()
    assert pending.status == OperationStatus.SUCCEEDED
    assert payment.refunded == 2_000
    assert recorded_outside(payment) == []


def test_a_notification_about_a_payment_we_do_not_have_is_kept(client):
    response = optty_request(b'{"type": "ORDER_STATUS_UPDATE", "orderReference": "nobody"}').to(client)

    assert response.status_code == 200
    assert ProviderNotification.objects.get().outcome == "No payment of ours has this reference."


# Storage: the body as received; a bounded size.

BODIES = {
    "UTF-8 text": '{"note": "blåbærsyltetøy ✓"}'.encode(),
    "not UTF-8": b'{"note": "\xff\xfe latin-1 \xe6"}',
    "a NUL byte": b'{"note": "nul \x00 byte"}',
    "text that begins like the marker": (BASE64_MARKER + "not really").encode(),
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_every_body_is_kept_byte_for_byte(client, channel, body):
    response = channel.request(body).to(client)

    assert response.status_code == 200
    notification = ProviderNotification.objects.get()
    assert notification.verified
    assert notification_body(notification) == body


def test_a_utf8_body_is_kept_as_the_text_it_is(client, channel):
    channel.request(BODIES["UTF-8 text"]).to(client)

    assert ProviderNotification.objects.get().body == '{"note": "blåbærsyltetøy ✓"}'


def test_a_body_over_the_limit_is_refused_unread(client, channel, paid, sandbox, ledger_is_consistent):
    sandbox.portal(provider=channel.code, reference=paid.reference, kind="refund", amount=25_000)
    sandbox.clear_requests()
    event = channel.event(paid, "refund", 25_000)
    body = json.dumps({**event, "padding": "x" * MAX_BODY_BYTES}).encode()

    response = channel.request(body).to(client)

    assert response.status_code == 413
    paid.refresh_from_db()
    assert paid.refunded == 0
    assert sandbox.requests(channel.code) == []
    notification = ProviderNotification.objects.get()
    assert (notification.verified, notification.body) == (False, "")
    assert f"{len(body):,} bytes" in notification.outcome


def test_a_body_of_exactly_the_limit_is_taken(client, channel, paid, sandbox):
    sandbox.portal(provider=channel.code, reference=paid.reference, kind="refund", amount=25_000)
    event = channel.event(paid, "refund", 25_000)
    unpadded = len(json.dumps({**event, "padding": ""}).encode())
    body = json.dumps({**event, "padding": "x" * (MAX_BODY_BYTES - unpadded)}).encode()
    assert len(body) == MAX_BODY_BYTES

    response = channel.request(body).to(client)

    assert response.status_code == 200
    paid.refresh_from_db()
    assert paid.refunded == 25_000
    assert notification_body(ProviderNotification.objects.get()) == body


def test_optty_a_long_body_at_a_wrong_secret_is_not_found_and_not_read(client):
    response = optty_request(b" " * (MAX_BODY_BYTES + 1), secret="guess").to(client)

    assert response.status_code == 404
    notification = ProviderNotification.objects.get()
    assert (notification.verified, notification.body) == (False, "")


# Refused notifications: anybody can send them, so what is kept of them is bounded.


def test_a_flood_of_unsigned_bodies_keeps_no_body_and_only_a_few_records(client, settings):
    # given: what an attacker sends without any credential, 200 times 63 KiB
    settings.REFUSED_NOTIFICATIONS_PER_MINUTE = 10
    body = json.dumps({"padding": "x" * (63 * 1024)}).encode()

    statuses = {client.post("/webhooks/vipps/", body, content_type="application/json").status_code
                for _ in range(200)}

    # then: every one refused; ten kept, each by its size and hash, none by its body
    assert statuses == {401}
    kept = ProviderNotification.objects.all()
    assert kept.count() == 10
    assert {(n.body, n.body_size, n.body_sha256) for n in kept} == {
        ("", len(body), hashlib.sha256(body).hexdigest())
    }
    assert all(len(json.dumps(n.headers)) < 1_000 for n in kept)


def test_refused_notifications_of_one_source_leave_room_for_the_others(client, settings, paid, channel):
    settings.REFUSED_NOTIFICATIONS_PER_MINUTE = 2
    for _ in range(5):
        client.post("/webhooks/vipps/", b"{}", content_type="application/json", REMOTE_ADDR="203.0.113.9")

    client.post("/webhooks/vipps/", b"{}", content_type="application/json", REMOTE_ADDR="198.51.100.1")
    verified = channel.deliver(paid, "refund", 0).to(client)

    assert verified.status_code == 200
    sources = list(ProviderNotification.objects.filter(verified=False).values_list("source_ip", flat=True))
    assert sorted(sources) == ["198.51.100.1", "203.0.113.9", "203.0.113.9"]
    assert ProviderNotification.objects.get(verified=True).body  # accepted ones are kept whole


def test_a_signed_vipps_body_nested_5000_deep_is_kept_not_a_500(client):
    body = b'{"reference": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"

    response = vipps_request(body).to(client)

    assert response.status_code == 200
    notification = ProviderNotification.objects.get()
    assert notification.verified and notification.payment is None
    assert notification_body(notification) == body


@pytest.mark.django_db(transaction=True)
def test_a_notification_sends_nothing_again_in_its_request_the_background_does(
    client, make_payment, sandbox, settings, clock
):
    # given: two refunds SimplePS never got, their calls long over
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    payment = make_payment("simpleps", currency="USD", amount=100_000, captured=100_000)
    sandbox.inject_fault(provider="simpleps", endpoint="refund", mode="error", status=503, times=2)
    unknown = [refund_of_ours(payment, amount) for amount in (1_000, 2_000)]
    clock.advance(settings.PROVIDER_TIMEOUT + settings.RECONCILE_IN_FLIGHT_MARGIN + 1)
    sandbox.clear_requests()

    # when: SimplePS notifies us about the payment
    response = CHANNELS["simpleps"].deliver(payment, "capture", 100_000).to(client)

    # then: its request only read the payment (twice at most: within two calls' time)
    assert response.status_code == 200
    calls = [(r["method"], r["endpoint"]) for r in sandbox.requests("simpleps") if r["endpoint"] != "token"]
    assert calls == [("GET", "fetch")] * len(calls) and 1 <= len(calls) <= 2
    # and the background check sends both again, once each
    call_command("worker", batch=True)
    for operation in unknown:
        operation.refresh_from_db()
        assert operation.status == OperationStatus.SUCCEEDED
    assert sandbox.payment(provider="simpleps", reference=payment.reference)["refunded"] == 3_000
    call_command("check_ledger")


@pytest.mark.parametrize("reference", ["abc\u0000def", "abc\r\ndef", "abc\u202edef"], ids=["NUL", "CR/LF", "bidi override"])
@pytest.mark.parametrize("code", ["vipps", "simpleps"])
def test_a_signed_notification_whose_reference_no_payment_can_have_is_kept_not_a_500(client, code, reference):
    key = {"vipps": "reference", "simpleps": "externalPaymentId"}[code]
    body = json.dumps({key: reference, "name": "REFUNDED"}).encode()

    response = CHANNELS[code].request(body).to(client)

    assert response.status_code == 200
    notification = ProviderNotification.objects.get()
    assert notification.verified and notification_body(notification) == body
    assert notification.payment is None
    assert notification.outcome.startswith(
        "Not acted on: its reference is unusable. Must not contain control or invisible characters"
    )
