"""The Optty adapter against the sandbox, over real HTTP."""

from decimal import Decimal
from types import SimpleNamespace

import pytest

from payments.providers import tokens as token_cache
from payments.providers.base import (
    Modification,
    Outcome,
    ProviderCredentialsRejected,
    ProviderRejected,
    ProviderUnavailable,
)
from payments.providers.registry import provider_for


def modification(reference, amount, currency="AUD", key="bo-key-1"):
    return Modification(payment_reference=reference, currency=currency, amount=amount,
                        idempotency_key=key, description="Returned goods")


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
    with pytest.raises(ProviderRejected) as refused:
        optty.refund(modification("o-2", 1, key="bo-9"))

    assert refused.value.message == "Optty refused: You can only refund amount up to AUD 0.00"


def test_over_refund_is_refused_with_optty_s_reason(optty, sandbox):
    order(sandbox, "o-3", amount=2_498, captured=2_498)

    with pytest.raises(ProviderRejected) as refused:
        optty.refund(modification("o-3", 2_499))

    assert refused.value.message == "Optty refused: You can only refund amount up to AUD 24.98"
    assert refused.value.status == 400


def test_refund_of_an_uncaptured_order_is_refused(optty, sandbox):
    order(sandbox, "o-4", captured=0)

    with pytest.raises(ProviderRejected, match="up to AUD 0.00"):
        optty.refund(modification("o-4", 100))


def test_a_reused_reference_is_refused_and_refunds_nothing_more(optty, sandbox):
    order(sandbox, "o-5")
    optty.refund(modification("o-5", 1_000, key="bo-same"))

    with pytest.raises(ProviderRejected, match="already been used"):
        optty.refund(modification("o-5", 1_000, key="bo-same"))

    assert sandbox.payment(provider="optty", reference="o-5")["refunded"] == 1_000


def test_void_of_an_authorized_order(optty, sandbox):
    order(sandbox, "o-6", captured=0)

    confirmation = optty.cancel(modification("o-6", 5_000))

    assert confirmation.amount == 5_000
    assert sandbox.payment(provider="optty", reference="o-6")["cancelled"] == 5_000


def test_void_of_a_captured_order_is_refused(optty, sandbox):
    order(sandbox, "o-7")

    with pytest.raises(ProviderRejected, match="Only authorized orders can be voided"):
        optty.cancel(modification("o-7", 5_000))


def test_unknown_order(optty):
    with pytest.raises(ProviderRejected) as refused:
        optty.refund(modification("nobody", 100))

    assert refused.value.message == "Optty does not know this order."


def test_bad_credentials(settings, sandbox):
    order(sandbox, "o-8")
    settings.PROVIDERS["optty"]["client_secret"] = "wrong"

    with pytest.raises(ProviderCredentialsRejected):
        provider_for("optty").refund(modification("o-8", 100))

    assert sandbox.payment(provider="optty", reference="o-8")["refunded"] == 0


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


@pytest.mark.parametrize(
    ("mode", "status", "carried_out"),
    [("timeout", None, False), ("error", 503, False), ("drop", None, False),
     ("garbage", None, False), ("lost_answer", None, True)],
)
def test_faults_leave_the_outcome_unknown(sandbox, settings, mode, status, carried_out):
    settings.PROVIDER_TIMEOUT = 0.5
    order(sandbox, "o-13")
    sandbox.inject_fault(provider="optty", endpoint="refund", mode=mode, status=status)

    with pytest.raises(ProviderUnavailable):
        provider_for("optty").refund(modification("o-13", 1_000))

    assert sandbox.payment(provider="optty", reference="o-13")["refunded"] == (1_000 if carried_out else 0)


def test_rate_limit_is_a_refusal(optty, sandbox):
    order(sandbox, "o-14")
    sandbox.inject_fault(provider="optty", endpoint="refund", mode="status", status=429)

    with pytest.raises(ProviderRejected, match="too many requests"):
        optty.refund(modification("o-14", 1_000))
