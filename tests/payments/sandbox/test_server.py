"""The sandbox's fault injection, as the tests that act in the middle of a call rely on it."""

import pytest

from payments.providers.base import Modification, ProviderRejected, ProviderUnavailable
from payments.providers.registry import provider_for
from tests.payments.sandbox.calls import in_background


def refund(provider, reference, amount, currency, key="bo-key-1"):
    return provider_for(provider).refund(
        Modification(payment_reference=reference, currency=currency, amount=amount, idempotency_key=key)
    )


def test_a_held_answer_comes_after_the_provider_carried_it_out(sandbox, sandbox_server):
    sandbox.create_payment(provider="bambora", reference="ord-held", currency="EUR", amount=5000, captured=5000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="held")

    answer = in_background(lambda: refund("bambora", "ord-held", 1500, "EUR"))
    assert sandbox_server.sandbox.wait_for_held(1, provider="bambora", endpoint="refund")
    while_held = sandbox.payment(provider="bambora", reference="ord-held")
    sandbox.release()

    assert while_held["refunded"] == 1500
    assert answer().amount == 1500
    assert sandbox.payment(provider="bambora", reference="ord-held")["refunded"] == 1500


def test_a_late_answer_is_held_only_once_carried_out_and_never_given(sandbox, sandbox_server, settings):
    sandbox.create_payment(provider="vipps", reference="acme-late-1", currency="NOK", amount=5000, captured=5000)
    sandbox.inject_fault(provider="vipps", endpoint="refund", mode="late_answer")

    answer = in_background(lambda: refund("vipps", "acme-late-1", 1000, "NOK"))
    assert sandbox_server.sandbox.wait_for_held(1, provider="vipps", endpoint="refund")
    assert sandbox.payment(provider="vipps", reference="acme-late-1")["refunded"] == 1000
    sandbox.release()

    with pytest.raises(ProviderUnavailable):
        answer()


def test_a_reset_releases_what_is_held(sandbox, sandbox_server):
    sandbox.create_payment(provider="simpleps", reference="s-held", currency="USD", amount=5000, captured=5000)
    sandbox.inject_fault(provider="simpleps", endpoint="refund", mode="timeout")

    answer = in_background(lambda: refund("simpleps", "s-held", 1000, "USD"))
    assert sandbox_server.sandbox.wait_for_held(1, provider="simpleps")
    sandbox.reset()

    with pytest.raises(ProviderUnavailable):
        answer()
    assert sandbox_server.sandbox.held == []


def test_an_answer_fault_answers_the_body_given_and_does_nothing(sandbox):
    sandbox.create_payment(provider="optty", reference="o-answer", currency="AUD", amount=5000, captured=5000)
    body = {
        "refundReference": "bo-key-1", "bnplProvider": "KLARNA_AU", "refundedAmount": "0.00",
        "refundStatus": "SUCCESSFUL", "description": "Refund", "refundDate": "Fri, 08 Oct 2021 06:22:20 GMT",
        "bnplRefundId": "",
    }
    sandbox.inject_fault(provider="optty", endpoint="refund", mode="answer", body=body)

    confirmation = refund("optty", "o-answer", 1000, "AUD")

    assert confirmation.response == body
    assert sandbox.payment(provider="optty", reference="o-answer")["refunded"] == 0


def test_a_status_fault_carries_the_providers_own_code(sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-conflict", currency="NOK", amount=5000, captured=5000)
    sandbox.inject_fault(
        provider="vipps", endpoint="refund", mode="status", status=409, code="refund-idempotency-conflict"
    )

    with pytest.raises(ProviderRejected) as refused:
        refund("vipps", "acme-conflict", 1000, "NOK")

    assert (refused.value.status, refused.value.code) == (409, "refund-idempotency-conflict")
    assert refused.value.response["title"] == "Refund idempotency conflict"
    assert sandbox.payment(provider="vipps", reference="acme-conflict")["refunded"] == 0
