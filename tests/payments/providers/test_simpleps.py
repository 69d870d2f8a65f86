"""The SimplePS adapter against the sandbox, over real HTTP."""

from types import SimpleNamespace

import pytest

from payments.providers import tokens as token_cache
from payments.providers.base import Modification, Outcome
from payments.providers.registry import provider_for
from payments.providers.simpleps import CODE_WORDS


def modification(reference, amount, currency="USD"):
    return Modification(payment_reference=reference, currency=currency, amount=amount, idempotency_key="bo-k")


@pytest.fixture
def simpleps():
    return provider_for("simpleps")


def payment(sandbox, reference, *, amount=10_010, captured=10_010, currency="USD"):
    sandbox.create_payment(provider="simpleps", reference=reference, currency=currency, amount=amount, captured=captured)


def test_full_refund(simpleps, sandbox):
    payment(sandbox, "s-1")

    confirmation = simpleps.refund(modification("s-1", 10_010))

    assert (confirmation.outcome, confirmation.amount) == (Outcome.SUCCEEDED, 10_010)
    assert confirmation.response["status"] == "REFUNDED"
    assert sandbox.payment(provider="simpleps", reference="s-1")["refunded"] == 10_010


def test_partial_refunds_until_nothing_is_left_in_plain_words(simpleps, sandbox):
    payment(sandbox, "s-2")

    assert simpleps.refund(modification("s-2", 2_500)).response["status"] == "PARTIALLY_REFUNDED"
    simpleps.refund(modification("s-2", 7_510))
    refused = simpleps.refund(modification("s-2", 1))

    assert (refused.outcome, refused.code) == (Outcome.FAILED, "PAY_016")
    assert refused.message == "SimplePS refused the refund: the balance left to refund is not enough."


def test_over_refund_is_refused_in_plain_words(simpleps, sandbox):
    payment(sandbox, "s-3")

    refused = simpleps.refund(modification("s-3", 10_011))

    assert (refused.outcome, refused.code) == (Outcome.FAILED, "PAY_016")
    assert refused.message == "SimplePS refused the refund: the balance left to refund is not enough."
    assert sandbox.payment(provider="simpleps", reference="s-3")["refunded"] == 0


def test_refund_of_an_uncaptured_payment_is_refused(simpleps, sandbox):
    payment(sandbox, "s-4", captured=0)

    refused = simpleps.refund(modification("s-4", 100))

    assert (refused.outcome, refused.message) == (Outcome.FAILED, "SimplePS refused the request (HTTP 400).")
    assert sandbox.payment(provider="simpleps", reference="s-4")["refunded"] == 0


def test_void_of_an_authorized_payment(simpleps, sandbox):
    payment(sandbox, "s-5", captured=0)

    confirmation = simpleps.cancel(modification("s-5", 10_010))

    assert confirmation.response["voided"] is True
    assert sandbox.payment(provider="simpleps", reference="s-5")["cancelled"] == 10_010


def test_void_of_a_captured_payment_is_refused(simpleps, sandbox):
    payment(sandbox, "s-6")

    refused = simpleps.cancel(modification("s-6", 10_010))

    assert (refused.outcome, refused.message) == (Outcome.FAILED, "SimplePS refused the request (HTTP 400).")
    assert sandbox.payment(provider="simpleps", reference="s-6")["cancelled"] == 0


def test_the_token_is_cached_and_fetched_again_once_when_refused(simpleps, sandbox):
    payment(sandbox, "s-8")
    simpleps.refund(modification("s-8", 100))
    simpleps.refund(modification("s-8", 100))
    assert [r["endpoint"] for r in sandbox.requests("simpleps")] == ["token", "refund", "refund"]
    sandbox.expire_tokens("simpleps")

    answer = provider_for("simpleps").refund(modification("s-8", 100))

    assert answer.outcome == Outcome.SUCCEEDED
    assert [r["endpoint"] for r in sandbox.requests("simpleps")][3:] == ["refund", "token", "refund"]
    assert sandbox.payment(provider="simpleps", reference="s-8")["refunded"] == 300


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (403, {"status": 403, "message": "Forbidden", "responseCode": "SE_003"}),
        # A 401 whose body does not show the token was refused (a gateway's, say).
        (401, {"message": "Unauthorized"}),
    ],
    ids=["403", "401 without SE_001"],
)
def test_a_refusal_that_does_not_show_a_refused_token_is_never_sent_again(simpleps, sandbox, status, body):
    # The refund may have been carried out behind the refusal: SimplePS takes no idempotency
    # key, so sending it again could refund twice.
    payment(sandbox, "s-13")
    sandbox.inject_fault(provider="simpleps", endpoint="refund", mode="answer", status=status, body=body,
                         off_spec=status == 401)

    answer = simpleps.refund(modification("s-13", 100))

    assert answer.outcome == Outcome.UNKNOWN
    assert [r["endpoint"] for r in sandbox.requests("simpleps")] == ["token", "refund"]


@pytest.mark.parametrize(
    ("status", "outcome"),
    [("REFUNDED", Outcome.SUCCEEDED), ("PARTIALLY_REFUNDED", Outcome.SUCCEEDED), ("DECLINED", Outcome.FAILED),
     ("CHALLENGE", Outcome.UNKNOWN), (None, Outcome.UNKNOWN)],
)  # fmt: skip
def test_a_refunds_200_is_read_by_the_payments_status(simpleps, sandbox, status, outcome):
    # providers.md: a refund succeeded when the payment object says REFUNDED or
    # PARTIALLY_REFUNDED; a 200 saying anything else is no proof that money moved.
    payment(sandbox, "s-15")
    body = {"paymentId": "p-15", "parentPaymentId": "p-1", "externalPaymentId": "s-15", "amount": 1.0,
            "created": "2026-12-01T10:00:00Z", "approved": status != "DECLINED", "message": "", "captured": True,
            "voided": False, "authCode": "A1"}  # fmt: skip
    # Without a status, the answer breaks the spec (status is required): marked off-spec.
    sandbox.inject_fault(provider="simpleps", endpoint="refund", mode="answer", off_spec=status is None,
                         body=body if status is None else {**body, "status": status})  # fmt: skip

    answer = simpleps.refund(modification("s-15", 100))

    assert answer.outcome == outcome


@pytest.mark.parametrize("code", ["PAY_012", "PAY_016", "PAY_020", "PAY_021", "PAY_022", "SE_001"])
def test_every_response_code_of_inyos_table_in_plain_words(simpleps, sandbox, code):
    payment(sandbox, "s-14")
    sandbox.inject_fault(provider="simpleps", endpoint="refund", mode="status", status=400, code=code)

    refused = simpleps.refund(modification("s-14", 100))

    assert (refused.outcome, refused.code, refused.message) == (Outcome.FAILED, code, CODE_WORDS[code])
    assert code not in refused.message


@pytest.mark.parametrize("status", ["AUTHORIZED", "CAPTURED", "REFUNDED"])
def test_history_statuses_of_inyos_table_are_understood(simpleps, sandbox, status):
    payment(sandbox, "s-15")
    sandbox.inject_fault(provider="simpleps", endpoint="fetch", mode="answer", body={
        "externalId": "s-15", "amount": 100.10, "capturedAmount": 100.10, "refundedAmount": 10.00,
        "currency": "USD", "status": "PARTIALLY_REFUNDED",
        "history": [{"code": "REFUND", "status": status, "requestedAmount": 10.00, "requestedOn": "2026-01-01"}],
    })

    seen = simpleps.fetch("s-15")

    assert [(m.kind, m.amount, m.outcome) for m in seen.movements] == [("refund", 1_000, Outcome.SUCCEEDED)]


def test_an_expired_token_is_renewed_before_use(simpleps, sandbox, monkeypatch):
    # Only the token cache's clock moves: SimplePS issues 3,600-second tokens, which the cache
    # renews 60 seconds early.
    now = [1000.0]
    monkeypatch.setattr(token_cache, "time", SimpleNamespace(monotonic=lambda: now[0]))
    payment(sandbox, "s-9")
    simpleps.refund(modification("s-9", 100))

    now[0] += 3_539
    simpleps.refund(modification("s-9", 100))
    assert [r["endpoint"] for r in sandbox.requests("simpleps")] == ["token", "refund", "refund"]

    now[0] += 1
    simpleps.refund(modification("s-9", 100))
    assert [r["endpoint"] for r in sandbox.requests("simpleps")][3:] == ["token", "refund"]
    assert sandbox.payment(provider="simpleps", reference="s-9")["refunded"] == 300


def test_the_exact_request_simpleps_receives(simpleps, sandbox):
    reference = "order/12345 #2"
    payment(sandbox, reference)
    payment(sandbox, "s-yen", currency="JPY", amount=15_800, captured=15_800)

    simpleps.refund(modification(reference, 1_250))
    simpleps.refund(modification("s-yen", 1_500, currency="JPY"))

    token, refund, refund_yen = sandbox.requests("simpleps")
    assert token["raw_path"] == "/simpleps/oauth/token"
    assert token["json"] == {"clientId": "test-simpleps-client", "secretId": "test-simpleps-secret"}
    assert refund["method"] == "POST"
    assert refund["raw_path"] == "/simpleps/payments/order%2F12345%20%232/refund"
    assert refund["headers"]["authorization"].startswith("Bearer ")
    assert refund["headers"]["content-type"] == "application/json"
    assert refund["body"] == '{"amount": {"total": 12.50, "currency": "USD"}}'
    assert refund_yen["body"] == '{"amount": {"total": 1500, "currency": "JPY"}}'


def test_fetch_reads_totals_and_history(simpleps, sandbox):
    payment(sandbox, "s-10", amount=10_000, captured=8_000)
    simpleps.refund(modification("s-10", 1_500))

    seen = simpleps.fetch("s-10")

    assert (seen.state, seen.authorized, seen.captured, seen.refunded) == ("PARTIALLY_REFUNDED", 10_000, 8_000, 1_500)
    assert [(m.kind, m.amount) for m in seen.movements] == [("capture", 8_000), ("refund", 1_500)]
