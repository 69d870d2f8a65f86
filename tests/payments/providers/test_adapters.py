"""What every adapter does alike, against the sandbox over real HTTP: one test for the four
providers, each case named by its provider. What is a provider's own is tested in its
test_<provider>.py."""

import pytest

from payments.providers.base import Modification, Outcome
from payments.providers.registry import provider_for

# Each provider's payment at the sandbox (currency, authorized and captured) and what its
# refunds carry as their description.
PAYMENT = {
    "bambora": ("EUR", 5_000, ""),
    "optty": ("AUD", 5_000, "Returned goods"),
    "simpleps": ("USD", 10_010, ""),
    "vipps": ("NOK", 5_000, ""),
}
# A fault: (the sandbox's mode, status, whether the provider carried the refund out).
FAULTS = {
    "timeout": ("timeout", None, False),
    "5xx": ("error", 503, False),
    "dropped connection": ("drop", None, False),
    "garbage body": ("garbage", None, False),
    "answer lost": ("lost_answer", None, True),
    "409": ("status", 409, False),
    "429": ("status", 429, False),
}
# SimplePS documents no 409: a 409 from it would break its spec (tests/specs/).
FAULTS_AT = {provider: list(FAULTS) for provider in PAYMENT} | {"simpleps": [f for f in FAULTS if f != "409"]}
# The credential each provider's bad-credentials case gets wrong, and what its refusal says beyond
# the outcome: the provider's code or status, where it gives one.
CREDENTIAL = {"bambora": "merchant_secret", "optty": "client_secret", "simpleps": "secret_id", "vipps": "client_secret"}
REFUSAL = {"bambora": {}, "optty": {}, "simpleps": {"code": "SE_001"}, "vipps": {"status": 401}}


def paid(sandbox, provider, reference):
    currency, amount, _ = PAYMENT[provider]
    sandbox.create_payment(provider=provider, reference=reference, currency=currency, amount=amount, captured=amount)


def modification(provider, reference, amount):
    currency, _, description = PAYMENT[provider]
    return Modification(payment_reference=reference, currency=currency, amount=amount, idempotency_key="bo-key-1",
                        description=description)


def refunds_sent(sandbox, provider):
    return [entry for entry in sandbox.requests(provider) if entry["endpoint"] == "refund"]


@pytest.mark.parametrize(
    ("provider", "fault"),
    [pytest.param(provider, fault, id=f"{provider}-{fault}") for provider in PAYMENT for fault in FAULTS_AT[provider]],
)
def test_faults_leave_the_outcome_unknown(sandbox, settings, provider, fault):
    mode, status, carried_out = FAULTS[fault]
    settings.PROVIDER_TIMEOUT = 0.5
    paid(sandbox, provider, "acme-order-19")
    sandbox.inject_fault(provider=provider, endpoint="refund", mode=mode, status=status)

    assert provider_for(provider).refund(modification(provider, "acme-order-19", 1_000)).outcome == Outcome.UNKNOWN

    assert sandbox.payment(provider=provider, reference="acme-order-19")["refunded"] == (1_000 if carried_out else 0)


@pytest.mark.parametrize("provider", list(PAYMENT))
def test_bad_credentials(settings, sandbox, provider):
    paid(sandbox, provider, "acme-order-10")
    settings.PROVIDERS[provider][CREDENTIAL[provider]] = "wrong"

    refused = provider_for(provider).refund(modification(provider, "acme-order-10", 100))

    assert (refused.outcome, refused.credentials_rejected) == (Outcome.FAILED, True)
    assert refused.message == "The provider rejected our credentials."
    assert {name: getattr(refused, name) for name in REFUSAL[provider]} == REFUSAL[provider]
    if provider != "bambora":  # a token provider refuses the token: the refund is never sent
        assert refunds_sent(sandbox, provider) == []
    assert sandbox.payment(provider=provider, reference="acme-order-10")["refunded"] == 0
