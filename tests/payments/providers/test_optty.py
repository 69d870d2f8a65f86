"""The Optty adapter against the sandbox, over real HTTP."""

from decimal import Decimal
from types import SimpleNamespace

import pytest

from payments.providers import tokens as token_cache
from payments.providers.base import Modification, Outcome
from payments.providers.registry import provider_for


def modification(reference, amount, currency="AUD", key="bo-key-1", completes=False):
    return Modification(payment_reference=reference, currency=currency, amount=amount,
                        idempotency_key=key, description="Returned goods", completes=completes)


@pytest.fixture
def optty():
    return provider_for("optty")


def order(sandbox, reference, *, amount=5_000, captured=5_000, **options):
    sandbox.create_payment(provider="optty", reference=reference, currency="AUD", amount=amount,
                           captured=captured, **options)


def test_full_refund(optty, sandbox):
    order(sandbox, "o-1")

    confirmation = optty.refund(modification("o-1", 5_000))

    assert (confirmation.outcome, confirmation.amount) == (Outcome.SUCCEEDED, 5_000)
    assert confirmation.provider_reference
    assert sandbox.payment(provider="optty", reference="o-1")["refunded"] == 5_000


def test_partial_refunds_until_nothing_is_left(optty, sandbox):
    order(sandbox, "o-2", amount=2_498, captured=2_498)

    for number, amount in enumerate((1_000, 1_000, 498)):
        assert optty.refund(modification("o-2", amount, key=f"bo-{number}")).amount == amount
    refused = optty.refund(modification("o-2", 1, key="bo-9"))

    assert refused.outcome == Outcome.FAILED
    assert refused.message == "Optty refused: You can only refund amount up to AUD 0.00"


def test_over_refund_is_refused_with_optty_s_reason(optty, sandbox):
    order(sandbox, "o-3", amount=2_498, captured=2_498)

    refused = optty.refund(modification("o-3", 2_499))

    assert (refused.outcome, refused.status) == (Outcome.FAILED, 400)
    assert refused.message == "Optty refused: You can only refund amount up to AUD 24.98"


def test_refund_of_an_uncaptured_order_is_refused(optty, sandbox):
    order(sandbox, "o-4", captured=0)

    refused = optty.refund(modification("o-4", 100))

    assert refused.outcome == Outcome.FAILED
    assert "up to AUD 0.00" in refused.message


def test_a_reused_reference_refunds_nothing_more_and_proves_nothing(optty, sandbox):
    # Our reference is unique to one operation: Optty knowing it says an earlier attempt of
    # this operation may have been carried out, never that this one failed.
    order(sandbox, "o-5")
    optty.refund(modification("o-5", 1_000, key="bo-same"))

    answer = optty.refund(modification("o-5", 1_000, key="bo-same"))

    assert answer.outcome == Outcome.UNKNOWN
    assert "an earlier attempt may have been carried out" in answer.message
    assert sandbox.payment(provider="optty", reference="o-5")["refunded"] == 1_000


def test_void_of_an_authorized_order(optty, sandbox):
    order(sandbox, "o-6", captured=0)

    confirmation = optty.cancel(modification("o-6", 5_000))

    assert confirmation.amount == 5_000
    assert sandbox.payment(provider="optty", reference="o-6")["cancelled"] == 5_000


def test_void_of_a_captured_order_is_refused(optty, sandbox):
    order(sandbox, "o-7")

    refused = optty.cancel(modification("o-7", 5_000))

    assert refused.outcome == Outcome.FAILED
    assert "Only authorized orders can be voided" in refused.message


def test_unknown_order(optty):
    refused = optty.refund(modification("nobody", 100))

    assert (refused.outcome, refused.message) == (Outcome.FAILED, "Optty does not know this order.")


def test_the_token_is_cached_and_fetched_again_once_when_refused(optty, sandbox):
    order(sandbox, "o-9")
    optty.refund(modification("o-9", 100, key="bo-a"))
    optty.refund(modification("o-9", 100, key="bo-b"))
    assert [r["endpoint"] for r in sandbox.requests("optty")] == ["token", "refund", "refund"]

    sandbox.expire_tokens("optty")
    provider_for("optty").refund(modification("o-9", 100, key="bo-c"))

    assert [r["endpoint"] for r in sandbox.requests("optty")][3:] == ["refund", "token", "refund"]
    assert sandbox.payment(provider="optty", reference="o-9")["refunded"] == 300


def test_an_expired_token_is_renewed_before_use(optty, sandbox, monkeypatch):
    # Only the token cache's clock moves: Optty issues 86,400-second tokens, which the cache
    # renews 60 seconds early.
    now = [1000.0]
    monkeypatch.setattr(token_cache, "time", SimpleNamespace(monotonic=lambda: now[0]))
    order(sandbox, "o-10")
    optty.refund(modification("o-10", 100, key="bo-a"))

    now[0] += 86_339
    optty.refund(modification("o-10", 100, key="bo-b"))
    assert [r["endpoint"] for r in sandbox.requests("optty")] == ["token", "refund", "refund"]

    now[0] += 1
    optty.refund(modification("o-10", 100, key="bo-c"))
    assert [r["endpoint"] for r in sandbox.requests("optty")][3:] == ["token", "refund"]
    assert sandbox.payment(provider="optty", reference="o-10")["refunded"] == 300


def test_a_pending_refund_and_its_later_outcome(optty, sandbox):
    order(sandbox, "o-11", pending_refunds=True)

    confirmation = optty.refund(modification("o-11", 1_000))
    pending = optty.fetch("o-11")
    sandbox.advance(provider="optty", reference="o-11")
    settled = optty.fetch("o-11")

    assert confirmation.outcome == Outcome.PENDING
    [movement] = [m for m in pending.movements if m.kind == "refund"]
    assert (movement.outcome, movement.provider_reference) == (Outcome.PENDING, confirmation.provider_reference)
    assert pending.refunded == 0 and settled.refunded == 1_000


def test_the_exact_request_optty_receives(optty, sandbox, settings):
    reference = "shop/2026 #17"
    order(sandbox, reference)

    optty.refund(modification(reference, 1_250))

    token, refund = sandbox.requests("optty")
    assert token["raw_path"] == "/optty/auth/token"
    assert "grant_type=client_credentials" in token["body"] and "scope=api-user" in token["body"]
    assert refund["method"] == "POST"
    assert refund["raw_path"] == "/optty/api/orders/shop%2F2026%20%2317/refund"
    assert refund["headers"]["authorization"].startswith("Bearer ")
    assert refund["headers"]["content-type"] == "application/json"
    assert refund["json"] == {
        "refundReference": "bo-key-1",
        "refundAmount": {"amount": Decimal("12.50"), "currency": "AUD"},
        "refundDescription": "Returned goods",
        "isActivatedViaOAuth": False,
    }
    assert '"amount": 12.50' in refund["body"]  # a decimal number of major units


def test_fetch_reads_the_details(optty, sandbox):
    order(sandbox, "o-12", amount=5_000, captured=4_000)
    optty.refund(modification("o-12", 1_500))

    payment = optty.fetch("o-12")

    assert (payment.authorized, payment.captured, payment.refunded, payment.cancelled) == (5_000, 4_000, 1_500, 0)
    assert [(m.kind, m.amount) for m in payment.movements] == [("capture", 4_000), ("refund", 1_500)]


@pytest.mark.parametrize("status", ["INITIATED", "PROCESSING", "REQUESTED", "PENDING", "SOMETHING_NEW"])
def test_a_refund_neither_successful_nor_failed_is_pending(optty, sandbox, status):
    order(sandbox, "o-15")
    sandbox.inject_fault(provider="optty", endpoint="refund", mode="answer", body={
        "refundReference": "bo-key-1", "bnplProvider": "KLARNA_AU", "refundedAmount": "10.00",
        "refundStatus": status, "description": "Returned goods", "refundDate": "Fri, 08 Oct 2021 06:22:20 GMT",
        "bnplRefundId": "8ba78198",
    })

    answer = optty.refund(modification("o-15", 1_000))

    assert (answer.outcome, answer.provider_reference, answer.code) == (Outcome.PENDING, "8ba78198", status)


def test_a_failed_refund_is_failed(optty, sandbox):
    order(sandbox, "o-16")
    sandbox.inject_fault(provider="optty", endpoint="refund", mode="answer", body={
        "refundReference": "bo-key-1", "bnplProvider": "KLARNA_AU", "refundedAmount": "10.00",
        "refundStatus": "FAILED", "description": "Declined by Klarna", "refundDate": "Fri, 08 Oct 2021 06:22:20 GMT",
        "bnplRefundId": "8ba78199",
    })

    answer = optty.refund(modification("o-16", 1_000))

    assert answer.outcome == Outcome.FAILED
    assert answer.message == "Optty did not refund: the refund failed (Declined by Klarna)."


@pytest.mark.parametrize("activated", [False, True])
def test_is_activated_via_oauth_comes_from_the_settings(sandbox, settings, activated):
    settings.PROVIDERS["optty"]["activated_via_oauth"] = activated
    order(sandbox, "o-17")

    provider_for("optty").refund(modification("o-17", 1_000))

    [refund] = [r for r in sandbox.requests("optty") if r["endpoint"] == "refund"]
    assert refund["json"]["isActivatedViaOAuth"] is activated


def test_the_details_are_asked_with_the_order_reference_in_the_body(optty, sandbox):
    order(sandbox, "shop/o-18")

    optty.fetch("shop/o-18")

    [details] = [r for r in sandbox.requests("optty") if r["endpoint"] == "details"]
    assert details["json"] == {"merchantReference": "shop/o-18"}


ORDER = {"merchantReference": "o-19", "amount": "50.00", "surcharge": "2.50", "currency": "AUD",
         "provider": "KLARNA_AU", "captureStatus": "CAPTURED", "cancelledBy": None}


def test_a_full_refund_includes_the_orders_surcharge(optty, sandbox):
    # Optty's refund spec: "For full refund, this should equal the order amount + surcharge".
    order(sandbox, "o-19")
    sandbox.inject_fault(provider="optty", endpoint="fetch", mode="answer", body={**ORDER, "status": "CAPTURED"})
    sandbox.inject_fault(provider="optty", endpoint="refund", mode="answer", body={
        "refundReference": "bo-key-1", "bnplProvider": "KLARNA_AU", "refundedAmount": "52.50",
        "refundStatus": "SUCCESSFUL", "description": "Returned goods", "refundDate": "Fri, 08 Oct 2021 06:22:20 GMT",
        "bnplRefundId": "8ba78200",
    })

    answer = optty.refund(modification("o-19", 5_000, completes=True))

    [refund] = [r for r in sandbox.requests("optty") if r["endpoint"] == "refund"]
    assert refund["json"]["refundAmount"] == {"amount": Decimal("52.50"), "currency": "AUD"}
    # The surcharge is Optty's, not in our ledger: what is booked is the order's amount.
    assert (answer.outcome, answer.amount) == (Outcome.SUCCEEDED, 5_000)


def test_a_partial_refund_sends_no_surcharge_and_reads_no_order(optty, sandbox):
    order(sandbox, "o-20")

    optty.refund(modification("o-20", 1_000))

    assert [r["endpoint"] for r in sandbox.requests("optty")] == ["token", "refund"]


def test_a_void_is_read_from_the_orders_status(optty, sandbox):
    # Optty's details list captures and refunds, no voids: the order's status shows one.
    order(sandbox, "o-21", captured=0)
    sandbox.inject_fault(provider="optty", endpoint="fetch", mode="answer", body={
        **ORDER, "merchantReference": "o-21", "status": "VOIDED", "captureStatus": "NOT_CAPTURED",
    })
    sandbox.inject_fault(provider="optty", endpoint="details", mode="answer", body={
        **ORDER, "merchantReference": "o-21", "status": "VOIDED", "refunds": [], "orderCaptures": [],
    })

    seen = optty.fetch("o-21")

    assert (seen.authorized, seen.captured, seen.cancelled, seen.refunded) == (5_000, 0, 5_000, 0)


def test_an_authorized_order_shows_no_void(optty, sandbox):
    order(sandbox, "o-22", captured=0)

    seen = optty.fetch("o-22")

    assert (seen.state, seen.cancelled) == ("AUTHORIZED", 0)


def test_the_surcharge_a_full_refund_carried_is_not_counted_as_refunded(optty, sandbox):
    order(sandbox, "o-23")
    sandbox.inject_fault(provider="optty", endpoint="fetch", mode="answer", body={**ORDER, "status": "REFUNDED"})
    sandbox.inject_fault(provider="optty", endpoint="details", mode="answer", body={
        **ORDER, "status": "REFUNDED", "orderCaptures": [{"captureId": "c1", "amount": "50.00", "status": "SUCCESSFUL"}],
        "refunds": [{"refundId": "r1", "amount": "52.50", "currency": "AUD", "status": "SUCCESSFUL",
                     "createdAt": "Fri, 08 Oct 2021 06:22:20 GMT"}],
    })

    seen = optty.fetch("o-23")

    assert (seen.captured, seen.refunded) == (5_000, 5_000)
    assert [(m.provider_reference, m.amount) for m in seen.movements if m.kind == "refund"] == [("r1", 5_000)]
