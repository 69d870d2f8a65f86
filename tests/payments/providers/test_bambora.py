"""The Bambora adapter against the sandbox, over real HTTP."""

import base64

import pytest

from payments.providers.base import Modification, Outcome, ProviderUnavailable
from payments.providers.registry import provider_for


def modification(reference, amount, currency="EUR"):
    return Modification(
        payment_reference=reference, currency=currency, amount=amount, idempotency_key="bo-key-1"
    )


@pytest.fixture
def bambora():
    return provider_for("bambora")


def test_full_refund(bambora, sandbox):
    sandbox.create_payment(provider="bambora", reference="ord-1", currency="EUR", amount=5000, captured=5000)

    confirmation = bambora.refund(modification("ord-1", 5000))

    assert confirmation.outcome == Outcome.SUCCEEDED
    assert confirmation.amount == 5000
    assert sandbox.payment(provider="bambora", reference="ord-1")["refunded"] == 5000


def test_partial_refunds_until_nothing_is_left(bambora, sandbox):
    sandbox.create_payment(provider="bambora", reference="ord-2", currency="EUR", amount=5000, captured=5000)

    for amount in (1000, 2500, 1500):
        assert bambora.refund(modification("ord-2", amount)).amount == amount
    refused = bambora.refund(modification("ord-2", 1))

    assert refused.outcome == Outcome.FAILED
    assert "never more than what is left" in refused.message
    assert refused.code == "cannot_refund"
    assert sandbox.payment(provider="bambora", reference="ord-2")["refunded"] == 5000


def test_over_refund_is_refused_with_the_reason(bambora, sandbox):
    sandbox.create_payment(provider="bambora", reference="ord-3", currency="EUR", amount=5000, captured=5000)

    refused = bambora.refund(modification("ord-3", 5001))

    assert (refused.outcome, refused.status) == (Outcome.FAILED, 402)
    assert "Bambora refused the refund" in refused.message
    assert sandbox.payment(provider="bambora", reference="ord-3")["refunded"] == 0


def test_refund_of_an_uncaptured_payment_is_refused(bambora, sandbox):
    sandbox.create_payment(provider="bambora", reference="ord-4", currency="EUR", amount=5000)

    refused = bambora.refund(modification("ord-4", 100))

    assert (refused.outcome, refused.code) == (Outcome.FAILED, "cannot_refund")


def test_cancel_of_an_authorized_payment(bambora, sandbox):
    sandbox.create_payment(provider="bambora", reference="ord-5", currency="EUR", amount=5000)

    confirmation = bambora.cancel(modification("ord-5", 5000))

    assert confirmation.amount == 5000
    assert sandbox.payment(provider="bambora", reference="ord-5")["cancelled"] == 5000


def test_cancel_of_a_captured_payment_is_refused(bambora, sandbox):
    sandbox.create_payment(provider="bambora", reference="ord-6", currency="EUR", amount=5000, captured=5000)

    refused = bambora.cancel(modification("ord-6", 5000))

    assert (refused.outcome, refused.code) == (Outcome.FAILED, "cannot_cancel")
    assert "only payments that are authorized" in refused.message


def test_unknown_payment(bambora):
    refused = bambora.refund(modification("nobody-knows-me", 100))

    assert (refused.outcome, refused.status) == (Outcome.FAILED, 404)
    assert refused.message == "Bambora does not know this payment reference."


def test_the_exact_request_bambora_receives(bambora, sandbox, settings):
    reference = "shop/2026 #17?x=1"
    sandbox.create_payment(provider="bambora", reference=reference, currency="EUR", amount=5000, captured=5000)

    bambora.refund(modification(reference, 1250))

    [received] = sandbox.requests("bambora")
    config = settings.PROVIDERS["bambora"]
    credentials = f"{config['merchant_token']}@{config['merchant_number']}:{config['merchant_secret']}"
    assert received["method"] == "POST"
    assert received["raw_path"] == "/bambora/payments/shop%2F2026%20%2317%3Fx%3D1/refund/"
    assert received["headers"]["authorization"] == "Basic " + base64.b64encode(credentials.encode()).decode()
    assert received["headers"]["api-version"] == "1"
    assert received["headers"]["content-type"] == "application/json"
    assert received["json"] == {"amount": 1250}  # integer minor units


def test_fetch_reads_the_totals(bambora, sandbox):
    sandbox.create_payment(provider="bambora", reference="ord-8", currency="EUR", amount=5000, captured=4000)
    bambora.refund(modification("ord-8", 1500))

    payment = bambora.fetch("ord-8")

    assert (payment.state, payment.authorized, payment.captured, payment.refunded) == ("Captured", 5000, 4000, 1500)
    assert [(m.kind, m.amount) for m in payment.movements] == [("capture", 4000), ("refund", 1500)]
    assert payment.keys_recorded is False


def test_a_refund_answer_is_confirmed_by_its_own_amount_not_the_last_listed(bambora, sandbox):
    # The order of Bambora's `refunds` is not documented: our refund is the one of our amount.
    sandbox.create_payment(provider="bambora", reference="ord-10", currency="EUR", amount=5000, captured=5000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="answer", status=201, body={
        "payment": "ord-10", "state": "Captured", "currency": "EUR", "amount": 5000,
        "captures": [{"amount": 5000}], "refunds": [{"amount": 1000}, {"amount": 700}],
    })

    answer = bambora.refund(modification("ord-10", 1000))

    assert (answer.outcome, answer.amount) == (Outcome.SUCCEEDED, 1000)


def test_a_refund_answer_that_lists_no_refund_of_our_amount_proves_nothing(bambora, sandbox):
    sandbox.create_payment(provider="bambora", reference="ord-11", currency="EUR", amount=5000, captured=5000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="answer", status=201, body={
        "payment": "ord-11", "state": "Captured", "currency": "EUR", "amount": 5000,
        "captures": [{"amount": 5000}], "refunds": [{"amount": 700}],
    })

    answer = bambora.refund(modification("ord-11", 1000))

    assert answer.outcome == Outcome.UNKNOWN
    assert answer.message == "Bambora answered that it refunded, but lists no refund of this amount."


def test_a_read_without_a_refunds_list_shows_nothing_about_refunds(bambora, sandbox):
    # Bambora's published PaymentResponse: no `refunds`.
    sandbox.create_payment(provider="bambora", reference="ord-12", currency="EUR", amount=5000, captured=5000)
    sandbox.inject_fault(provider="bambora", endpoint="fetch", mode="answer", status=200, body={
        "payment": "ord-12", "state": "Captured", "currency": "EUR", "amount": 5000,
        "captures": [{"amount": 5000}],
    })

    seen = bambora.fetch("ord-12")

    assert (seen.authorized, seen.captured, seen.cancelled, seen.refunded) == (5000, 5000, 0, None)


def test_a_listed_capture_without_its_amount_is_no_read(bambora, sandbox):
    # Against the spec (a capture's amount is an integer): the read proves nothing, rather than
    # failing on the sum of its amounts.
    sandbox.create_payment(provider="bambora", reference="ord-13", currency="EUR", amount=5000, captured=5000)
    sandbox.inject_fault(provider="bambora", endpoint="fetch", mode="answer", status=200, off_spec=True, body={
        "payment": "ord-13", "state": "Captured", "currency": "EUR", "amount": 5000,
        "captures": [{"amount": None}],
    })

    with pytest.raises(ProviderUnavailable, match="could not be read"):
        bambora.fetch("ord-13")
