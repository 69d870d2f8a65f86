"""The Vipps MobilePay adapter against the sandbox, over real HTTP."""

import json
from datetime import datetime
from types import SimpleNamespace

import pytest

from payments.providers import tokens as token_cache
from payments.providers.base import Modification, Outcome, ProviderRejected, ProviderUnavailable
from payments.providers.registry import provider_for


def modification(reference, amount, *, key="bo-key-1", currency="NOK"):
    return Modification(
        payment_reference=reference, currency=currency, amount=amount, idempotency_key=key
    )


def token_requests(sandbox):
    return [entry for entry in sandbox.requests("vipps") if entry["path"] == "/accesstoken/get"]


def refund_requests(sandbox):
    return [entry for entry in sandbox.requests("vipps") if entry["path"].endswith("/refund")]


@pytest.fixture
def vipps():
    return provider_for("vipps")


def test_full_refund(vipps, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-1", currency="NOK", amount=5000, captured=5000)

    confirmation = vipps.refund(modification("acme-order-1", 5000))

    assert confirmation.outcome == Outcome.SUCCEEDED
    assert confirmation.amount == 5000
    assert confirmation.provider_reference
    assert confirmation.response["aggregate"]["refundedAmount"] == {"currency": "NOK", "value": 5000}
    assert sandbox.payment(provider="vipps", reference="acme-order-1")["refunded"] == 5000


def test_partial_refunds_until_nothing_is_left(vipps, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-2", currency="NOK", amount=5000, captured=5000)

    for number, amount in enumerate((1000, 2500, 1500)):
        assert vipps.refund(modification("acme-order-2", amount, key=f"bo-refund-{number}")).amount == amount
    refused = vipps.refund(modification("acme-order-2", 1, key="bo-refund-last"))

    assert (refused.outcome, refused.code) == (Outcome.FAILED, "payment-already-refunded")
    assert refused.message == (
        "Vipps refused the refund: the captured amount has already been refunded in full."
    )
    assert sandbox.payment(provider="vipps", reference="acme-order-2")["refunded"] == 5000


def test_over_refund_is_refused_with_the_reason(vipps, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-3", currency="NOK", amount=5000, captured=5000)

    refused = vipps.refund(modification("acme-order-3", 5001))

    assert (refused.outcome, refused.status, refused.code) == (Outcome.FAILED, 400, "not-enough-refundable")
    assert refused.message == (
        "Vipps refused the refund: it is more than what is left of the captured amount."
    )
    assert refused.response["title"] == "Not enough refundable"
    assert sandbox.payment(provider="vipps", reference="acme-order-3")["refunded"] == 0


def test_refund_of_an_uncaptured_payment_is_refused(vipps, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-4", currency="NOK", amount=5000)

    refused = vipps.refund(modification("acme-order-4", 100))

    assert (refused.outcome, refused.code) == (Outcome.FAILED, "payment-cannot-be-refunded")
    assert refused.message == (
        "Vipps refused the refund: only captured payments can be refunded, and this one has not "
        "been captured."
    )
    assert sandbox.payment(provider="vipps", reference="acme-order-4")["refunded"] == 0


def test_cancel_of_an_authorized_payment(vipps, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-5", currency="DKK", amount=5000)

    confirmation = vipps.cancel(modification("acme-order-5", 5000, currency="DKK"))

    assert confirmation.amount == 5000
    held = sandbox.payment(provider="vipps", reference="acme-order-5")
    assert (held["state"], held["cancelled"]) == ("AUTHORIZED", 5000)


@pytest.mark.parametrize(
    "aggregate",
    [None, ["5000"], {"cancelledAmount": None}, {"cancelledAmount": {"currency": "NOK"}}, {"cancelledAmount": "5000"}],
)
def test_a_cancel_confirmed_without_a_readable_released_amount_names_none(vipps, sandbox, aggregate):
    # Off the spec: the 2xx stands (the cancel happened), and what it released is not known,
    # rather than the answer failing to be read at all.
    sandbox.create_payment(provider="vipps", reference="acme-order-15", currency="NOK", amount=5000)
    sandbox.inject_fault(provider="vipps", endpoint="cancel", mode="answer", status=200, off_spec=True, body={
        "pspReference": "psp-1", "aggregate": aggregate,
    })

    confirmation = vipps.cancel(modification("acme-order-15", 5000))

    assert (confirmation.outcome, confirmation.amount) == (Outcome.SUCCEEDED, None)


def test_cancel_after_a_partial_capture_releases_the_rest(vipps, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-6", currency="NOK", amount=10_000, captured=2500)

    confirmation = vipps.cancel(modification("acme-order-6", 7500))

    assert confirmation.amount == 7500
    payment = vipps.fetch("acme-order-6")
    assert (payment.state, payment.captured, payment.cancelled) == ("AUTHORIZED", 2500, 7500)


def test_cancel_confirms_what_vipps_released_when_the_portal_captured_meanwhile(vipps, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-7", currency="NOK", amount=10_000)
    sandbox.portal(provider="vipps", reference="acme-order-7", kind="capture", amount=3000)

    confirmation = vipps.cancel(modification("acme-order-7", 10_000))

    assert confirmation.amount == 7000
    assert sandbox.payment(provider="vipps", reference="acme-order-7")["cancelled"] == 7000


def test_cancel_of_a_fully_captured_payment_is_refused(vipps, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-8", currency="NOK", amount=5000, captured=5000)

    refused = vipps.cancel(modification("acme-order-8", 5000))

    assert (refused.outcome, refused.code) == (Outcome.FAILED, "cannot-cancel-a-captured-payment")
    assert refused.message == (
        "Vipps refused to cancel: the payment has been captured in full, so nothing is left to "
        "release."
    )
    assert sandbox.payment(provider="vipps", reference="acme-order-8")["cancelled"] == 0


def test_a_second_cancel_is_refused(vipps, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-9", currency="NOK", amount=5000)
    vipps.cancel(modification("acme-order-9", 5000, key="bo-cancel-1"))

    refused = vipps.cancel(modification("acme-order-9", 5000, key="bo-cancel-2"))

    assert (refused.outcome, refused.code) == (Outcome.FAILED, "payment-cannot-be-cancelled")
    assert refused.message.startswith("Vipps refused to cancel: the payment has already been cancelled")
    assert sandbox.payment(provider="vipps", reference="acme-order-9")["cancelled"] == 5000


def test_unknown_payment(vipps):
    refused = vipps.refund(modification("nobody-knows-me", 100))

    assert (refused.outcome, refused.status, refused.code) == (Outcome.FAILED, 404, "reference-not-found")
    assert refused.message == "Vipps does not know this payment reference."


@pytest.mark.off_spec_requests("a reference Vipps cannot have, stored before the check on intake")
def test_a_reference_vipps_cannot_have_is_refused_as_invalid(vipps, sandbox):
    refused = vipps.refund(modification("shop/../2026 #17", 100))

    [received] = refund_requests(sandbox)
    assert received["raw_path"] == "/vipps/epayment/v1/payments/shop%2F..%2F2026%20%2317/refund"
    assert (refused.outcome, refused.status) == (Outcome.FAILED, 400)
    assert refused.message.startswith("Vipps refused the request as invalid: The reference")


def test_a_token_refused_twice_is_a_credentials_problem(vipps, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-11", currency="NOK", amount=5000, captured=5000)
    sandbox.inject_fault(provider="vipps", endpoint="refund", mode="status", status=401, times=2)

    refused = vipps.refund(modification("acme-order-11", 100))

    assert (refused.outcome, refused.credentials_rejected) == (Outcome.FAILED, True)

    assert len(token_requests(sandbox)) == 2
    assert len(refund_requests(sandbox)) == 2
    assert sandbox.payment(provider="vipps", reference="acme-order-11")["refunded"] == 0


def test_the_token_is_fetched_once_for_two_refunds(vipps, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-12", currency="NOK", amount=5000, captured=5000)

    vipps.refund(modification("acme-order-12", 1000, key="bo-refund-1"))
    provider_for("vipps").refund(modification("acme-order-12", 1000, key="bo-refund-2"))

    assert len(token_requests(sandbox)) == 1
    assert sandbox.payment(provider="vipps", reference="acme-order-12")["refunded"] == 2000


def test_a_token_vipps_no_longer_takes_is_replaced_once(vipps, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-13", currency="NOK", amount=5000, captured=5000)
    vipps.refund(modification("acme-order-13", 1000, key="bo-refund-1"))
    sandbox.expire_tokens("vipps")

    vipps.refund(modification("acme-order-13", 1000, key="bo-refund-2"))

    paths = [entry["path"].rsplit("/", 1)[-1] for entry in sandbox.requests("vipps")]
    assert paths == ["get", "refund", "refund", "get", "refund"]
    assert sandbox.payment(provider="vipps", reference="acme-order-13")["refunded"] == 2000


def test_the_token_is_fetched_again_when_its_lifetime_is_over(vipps, sandbox, monkeypatch):
    # Only the token cache's clock moves: the sandbox issues 3600-second tokens, which the cache
    # renews 60 seconds early.
    now = [1000.0]
    monkeypatch.setattr(token_cache, "time", SimpleNamespace(monotonic=lambda: now[0]))
    sandbox.create_payment(provider="vipps", reference="acme-order-14", currency="NOK", amount=5000, captured=5000)
    vipps.refund(modification("acme-order-14", 1000, key="bo-refund-1"))

    now[0] += 3539
    vipps.refund(modification("acme-order-14", 1000, key="bo-refund-2"))
    assert len(token_requests(sandbox)) == 1

    now[0] += 1
    vipps.refund(modification("acme-order-14", 1000, key="bo-refund-3"))
    assert len(token_requests(sandbox)) == 2
    assert sandbox.payment(provider="vipps", reference="acme-order-14")["refunded"] == 3000


def test_the_same_modification_sent_twice_refunds_once(vipps, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-15", currency="NOK", amount=5000, captured=5000)

    first = vipps.refund(modification("acme-order-15", 1000, key="bo-double-click"))
    second = vipps.refund(modification("acme-order-15", 1000, key="bo-double-click"))

    assert len(refund_requests(sandbox)) == 2
    assert second == first  # Vipps answered the retry with the first answer
    held = sandbox.payment(provider="vipps", reference="acme-order-15")
    assert held["refunded"] == 1000
    assert [(op["kind"], op["amount"]) for op in held["operations"]] == [("refund", 1000)]


def test_the_same_key_with_a_different_amount_is_no_refusal(vipps, sandbox):
    # Whatever was done under our key may be this operation: the event log decides.
    sandbox.create_payment(provider="vipps", reference="acme-order-16", currency="NOK", amount=5000, captured=5000)
    vipps.refund(modification("acme-order-16", 1000, key="bo-reused"))

    answer = vipps.refund(modification("acme-order-16", 2000, key="bo-reused"))

    assert (answer.outcome, answer.status, answer.code) == (Outcome.UNKNOWN, 409, "refund-idempotency-conflict")
    assert "used before for a different request" in answer.message
    assert sandbox.payment(provider="vipps", reference="acme-order-16")["refunded"] == 1000


def test_the_sixth_change_in_a_minute_is_refused(vipps, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-17", currency="NOK", amount=5000, captured=5000)
    for number in range(5):
        vipps.refund(modification("acme-order-17", 100, key=f"bo-refund-{number}"))

    answer = vipps.refund(modification("acme-order-17", 100, key="bo-refund-5"))

    # Refused for now only, which proves nothing: the event log decides later.
    assert (answer.outcome, answer.status) == (Outcome.UNKNOWN, 429)
    assert answer.message.startswith("Vipps allows 5 changes a minute per payment and refused this one for now.")
    assert sandbox.payment(provider="vipps", reference="acme-order-17")["refunded"] == 500


def test_a_raised_rate_limit_lets_more_changes_through(vipps, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-18", currency="NOK", amount=5000,
                           captured=5000, modifications_per_minute=7)

    for number in range(7):
        vipps.refund(modification("acme-order-18", 100, key=f"bo-refund-{number}"))
    answer = vipps.refund(modification("acme-order-18", 100, key="bo-refund-7"))

    assert (answer.outcome, answer.status) == (Outcome.UNKNOWN, 429)
    assert sandbox.payment(provider="vipps", reference="acme-order-18")["refunded"] == 700


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_token_endpoint_that_fails_is_no_credentials_problem_and_leaves_nothing_done(vipps, sandbox, status):
    sandbox.create_payment(provider="vipps", reference="acme-order-20", currency="NOK", amount=5000, captured=5000)
    sandbox.inject_fault(provider="vipps", endpoint="token", mode="status", status=status)

    answer = vipps.refund(modification("acme-order-20", 1000))

    # Nothing was sent, so nothing can have happened; and the credentials are not to blame.
    assert (answer.outcome, answer.credentials_rejected) == (Outcome.FAILED, False)
    assert answer.message.startswith("The provider's sign-in did not answer")
    assert "Nothing was sent" in answer.message
    assert refund_requests(sandbox) == []


def test_after_a_lost_answer_the_event_log_shows_our_refund(vipps, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-21", currency="NOK", amount=5000, captured=5000)
    sandbox.inject_fault(provider="vipps", endpoint="refund", mode="lost_answer")
    assert vipps.refund(modification("acme-order-21", 1000, key="bo-lost")).outcome == Outcome.UNKNOWN

    payment = vipps.fetch("acme-order-21")

    assert payment.keys_recorded is True
    assert payment.refunded == 1000
    [ours] = [movement for movement in payment.movements if movement.key == "bo-lost"]
    assert (ours.kind, ours.amount, ours.outcome) == ("refund", 1000, Outcome.SUCCEEDED)
    # Sending it again with the same key is answered, not done again.
    assert vipps.refund(modification("acme-order-21", 1000, key="bo-lost")).provider_reference == ours.provider_reference
    assert sandbox.payment(provider="vipps", reference="acme-order-21")["refunded"] == 1000


def test_the_exact_request_vipps_receives(vipps, sandbox, settings, sandbox_server):
    sandbox.create_payment(provider="vipps", reference="acme-shop-2026-17", currency="EUR", amount=5000, captured=5000)

    vipps.refund(modification("acme-shop-2026-17", 1250, key="bo-5f0c2a", currency="EUR"))

    token_request, received = sandbox.requests("vipps")
    config = settings.PROVIDERS["vipps"]
    [token] = sandbox_server.sandbox.simulators["vipps"].tokens.expiry_by_token
    assert (token_request["method"], token_request["raw_path"], token_request["body"]) == (
        "POST", "/vipps/accesstoken/get", ""
    )
    assert token_request["headers"]["client_id"] == config["client_id"]
    assert token_request["headers"]["client_secret"] == config["client_secret"]
    assert token_request["headers"]["ocp-apim-subscription-key"] == config["subscription_key"]
    assert token_request["headers"]["merchant-serial-number"] == config["merchant_serial_number"]
    assert received["method"] == "POST"
    assert received["raw_path"] == "/vipps/epayment/v1/payments/acme-shop-2026-17/refund"
    headers = received["headers"]
    assert headers["authorization"] == f"Bearer {token}"
    assert headers["ocp-apim-subscription-key"] == config["subscription_key"]
    assert headers["merchant-serial-number"] == config["merchant_serial_number"]
    assert headers["vipps-system-name"] == config["system_name"] == "merchant-backoffice"
    assert headers["vipps-system-version"] == config["system_version"] == "0.1.0"
    assert headers["vipps-system-plugin-name"] == "merchant-backoffice"
    assert headers["vipps-system-plugin-version"] == "0.1.0"
    assert headers["idempotency-key"] == "bo-5f0c2a"
    assert headers["content-type"] == "application/json"
    assert json.loads(received["body"]) == {"modificationAmount": {"currency": "EUR", "value": 1250}}
    assert type(json.loads(received["body"])["modificationAmount"]["value"]) is int  # minor units


def test_cancel_sends_no_body(vipps, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-22", currency="NOK", amount=5000)

    vipps.cancel(modification("acme-order-22", 5000, key="bo-cancel"))

    [received] = [entry for entry in sandbox.requests("vipps") if entry["path"].endswith("/cancel")]
    assert received["raw_path"] == "/vipps/epayment/v1/payments/acme-order-22/cancel"
    assert received["body"] == ""
    assert received["headers"]["idempotency-key"] == "bo-cancel"


def test_fetch_reads_the_totals_and_every_movement_with_its_key(vipps, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-23", currency="NOK", amount=10_000, captured=6000)
    refund = vipps.refund(modification("acme-order-23", 1500, key="bo-refund-1"))
    sandbox.portal(provider="vipps", reference="acme-order-23", kind="refund", amount=500)
    vipps.cancel(modification("acme-order-23", 4000, key="bo-cancel-1"))

    payment = vipps.fetch("acme-order-23")

    assert (payment.state, payment.currency) == ("AUTHORIZED", "NOK")
    assert (payment.authorized, payment.captured, payment.cancelled, payment.refunded) == (10_000, 6000, 4000, 2000)
    assert [(m.kind, m.amount, m.outcome) for m in payment.movements] == [
        ("capture", 6000, Outcome.SUCCEEDED),
        ("refund", 1500, Outcome.SUCCEEDED),
        ("refund", 500, Outcome.SUCCEEDED),
        ("cancel", 4000, Outcome.SUCCEEDED),
    ]
    shop_capture, our_refund, portal_refund, our_cancel = payment.movements
    assert shop_capture.key not in ("", "bo-refund-1", "bo-cancel-1")  # the shop's own key
    assert (our_refund.key, portal_refund.key, our_cancel.key) == ("bo-refund-1", "", "bo-cancel-1")
    assert our_refund.provider_reference == refund.provider_reference
    assert all(isinstance(m.at, datetime) and m.at.tzinfo is not None for m in payment.movements)
    assert payment.keys_recorded is True


def test_fetch_of_an_unknown_payment(vipps):
    with pytest.raises(ProviderRejected) as refused:
        vipps.fetch("nobody-knows-me")

    assert refused.value.message == "Vipps MobilePay does not know this payment."


def test_an_unreadable_event_log_is_an_unknown(vipps, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-24", currency="NOK", amount=5000)
    sandbox.inject_fault(provider="vipps", endpoint="events", mode="garbage")

    with pytest.raises(ProviderUnavailable):
        vipps.fetch("acme-order-24")


@pytest.mark.parametrize(
    ("kind", "days", "captured", "words"),
    [
        ("refund", 366, 5000, "Vipps refused the refund: payments can only be refunded within 365 days."),
        ("cancel", 181, 0, "Vipps refused to cancel: payments can only be cancelled within 180 days."),
    ],
)
def test_vipps_time_limits_are_refusals_in_plain_words(vipps, sandbox, kind, days, captured, words):
    sandbox.create_payment(provider="vipps", reference="acme-order-old", currency="NOK", amount=5000,
                           captured=captured, authorized_days_ago=days)

    refused = getattr(vipps, kind)(modification("acme-order-old", 5000))

    assert (refused.outcome, refused.code, refused.message) == (Outcome.FAILED, f"{kind}-period-expired", words)
    held = sandbox.payment(provider="vipps", reference="acme-order-old")
    assert (held["refunded"], held["cancelled"]) == (0, 0)
