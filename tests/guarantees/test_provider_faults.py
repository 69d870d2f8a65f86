"""Every fault the sandbox can inject, at every provider, on refunds and on cancels: the
operation ends in a defined state, and after reconciliation the provider and the ledger agree,
with no money moved twice. No secret reaches a log on the way."""

import base64
import logging
import os

import pytest
from django.core.management import call_command

from payments.selectors import payment_balances
from payments.services.audit import Actor
from payments.services.cancels import payment_cancel
from payments.services.ledger import new_idempotency_key
from payments.statuses import OperationStatus
from tests.helpers import CURRENCY, SECRET_SETTINGS, WRONG_SECRET, break_credentials, refund

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_is_consistent")]

UNKNOWN, FAILED, SUCCEEDED = OperationStatus.UNKNOWN, OperationStatus.FAILED, OperationStatus.SUCCEEDED
# The sandbox's name of each provider's cancel endpoint (Optty and SimplePS call it a void).
CANCEL_ENDPOINT = {"bambora": "cancel", "optty": "void", "simpleps": "void", "vipps": "cancel"}
WEBHOOK_SECRETS = ("VIPPS_WEBHOOK_SECRET", "SIMPLEPS_WEBHOOK_SECRET", "OPTTY_WEBHOOK_SECRET")

FAULTS = {
    # fault: (mode, status, the provider's error code, the operation's state before
    # reconciliation: the same at every provider, or by provider for those it applies to)
    "timeout": ("timeout", None, None, UNKNOWN),
    "5xx": ("error", 503, None, UNKNOWN),
    "dropped connection": ("drop", None, None, UNKNOWN),
    "garbage body": ("garbage", None, None, UNKNOWN),
    "answer lost": ("lost_answer", None, None, UNKNOWN),
    "answer late": ("late_answer", None, None, UNKNOWN),
    # A token provider takes a 401 for a stale token: new token, one retry, success. Bambora
    # has no token: its credentials were refused.
    "401": ("status", 401, None, {"bambora": FAILED, "optty": SUCCEEDED, "simpleps": SUCCEEDED, "vipps": SUCCEEDED}),
    # Too many requests: refused for now, which proves nothing (DESIGN.md, "Calling a provider
    # safely"); the provider's read shows it never happened, and it is sent again.
    "429": ("status", 429, None, UNKNOWN),
    # Another change to the payment is under way (Bambora's payment_operation_blocked, Vipps's
    # "order processing"): it may be ours, so the outcome is unknown until the provider is read.
    "409 busy": ("status", 409, None, {"bambora": UNKNOWN, "vipps": UNKNOWN}),
    # Vipps says the key was used before with another request: what was done under it may be
    # this operation, so the event log decides.
    "409 idempotency conflict": ("status", 409, "{endpoint}-idempotency-conflict", {"vipps": UNKNOWN}),
}


def expected_state(fault, provider):
    expected = FAULTS[fault][3]
    return expected.get(provider) if isinstance(expected, dict) else expected


def cases(providers=CURRENCY):
    return [
        pytest.param(provider, fault, id=f"{provider}-{fault}")
        for provider in providers
        for fault in FAULTS
        if expected_state(fault, provider) is not None
    ]


def inject(sandbox, provider, fault, endpoint):
    mode, status, code, _ = FAULTS[fault]
    sandbox.inject_fault(
        provider=provider, endpoint=endpoint, mode=mode, status=status,
        code=code.format(endpoint=endpoint) if code else None,
    )


def cancel(payment):
    return payment_cancel(
        payment_id=payment.pk, expected_amount=payment_balances(payment=payment).cancellable,
        actor=Actor.system("tests"), idempotency_key=new_idempotency_key(),
    )


def assert_settled_once(operation, payment, sandbox, kind, field):
    """After reconciliation: the operation is decided, the ledger says what the provider says,
    and the provider did it once if it succeeded, never otherwise."""
    operation.refresh_from_db()
    payment.refresh_from_db()
    at_provider = sandbox.payment(provider=payment.provider, reference=payment.reference)
    assert operation.status in (SUCCEEDED, FAILED), operation.failure_message
    assert at_provider[field] == getattr(payment, field)
    done_at_provider = [op for op in at_provider["operations"] if op["kind"] == kind]
    assert len(done_at_provider) == (1 if operation.status == SUCCEEDED else 0)


@pytest.mark.parametrize(("provider", "fault"), cases())
def test_refund_fault_then_reconcile(provider, fault, make_payment, sandbox, settings, clock):
    settings.PROVIDER_TIMEOUT = 0.5
    payment = make_payment(provider, currency=CURRENCY[provider], amount=10_000, captured=10_000)
    inject(sandbox, provider, fault, "refund")

    operation = refund(payment)

    assert operation.status == expected_state(fault, provider), operation.failure_message
    settings.PROVIDER_TIMEOUT = 5
    # once the call can no longer be running (the deadline and RECONCILE_IN_FLIGHT_MARGIN)
    clock.advance(settings.PROVIDER_TIMEOUT + settings.RECONCILE_IN_FLIGHT_MARGIN + 1)
    call_command("reconcile")
    assert_settled_once(operation, payment, sandbox, "refund", "refunded")


@pytest.mark.parametrize(("provider", "fault"), cases())
def test_cancel_fault_then_reconcile(provider, fault, make_payment, sandbox, settings, clock):
    settings.PROVIDER_TIMEOUT = 0.5
    payment = make_payment(provider, currency=CURRENCY[provider], amount=10_000)
    inject(sandbox, provider, fault, CANCEL_ENDPOINT[provider])

    operation = cancel(payment)

    assert operation.status == expected_state(fault, provider), operation.failure_message
    settings.PROVIDER_TIMEOUT = 5
    # once the call can no longer be running (the deadline and RECONCILE_IN_FLIGHT_MARGIN)
    clock.advance(settings.PROVIDER_TIMEOUT + settings.RECONCILE_IN_FLIGHT_MARGIN + 1)
    call_command("reconcile")
    assert_settled_once(operation, payment, sandbox, "cancel", "cancelled")
    if operation.status == SUCCEEDED:
        assert payment.cancelled == 10_000


def test_a_success_that_names_no_money_is_not_booked_as_the_full_amount(make_payment, sandbox, settings, clock):
    # given: Optty answers that the refund succeeded, for 0.00, and has done nothing
    payment = make_payment("optty", currency="AUD", amount=10_000, captured=10_000)
    sandbox.inject_fault(provider="optty", endpoint="refund", mode="answer", body={
        "refundReference": "bo-any", "bnplProvider": "KLARNA_AU", "refundedAmount": "0.00",
        "refundStatus": "SUCCESSFUL", "description": "Refund", "refundDate": "Fri, 08 Oct 2021 06:22:20 GMT",
        "bnplRefundId": "",
    })

    # when
    operation = refund(payment)

    # then: nothing is booked, the amount stays reserved until the provider is read
    payment.refresh_from_db()
    assert operation.status == UNKNOWN
    assert "named no money moved" in operation.failure_message
    assert payment.refunded == 0
    assert payment_balances(payment=payment).refundable == 7_500
    # and reconciliation, once the call cannot be running any more, finds it never happened
    # and sends it again, once
    clock.advance(settings.PROVIDER_TIMEOUT + settings.RECONCILE_IN_FLIGHT_MARGIN + 1)
    call_command("reconcile")
    assert_settled_once(operation, payment, sandbox, "refund", "refunded")
    assert (operation.status, operation.settled_amount, payment.refunded) == (SUCCEEDED, 2_500, 2_500)


def secret_values(settings, sandbox_server, sandbox):
    """Every value that must never reach a log: the configured secrets, the providers'
    webhook secrets, the tokens the sandbox issued, and every Authorization header sent."""
    values = {WRONG_SECRET}
    for provider, names in SECRET_SETTINGS.items():
        values.update(settings.PROVIDERS[provider][name] for name in names)
        values.update(os.environ[f"{provider.upper()}_{name.upper()}"] for name in names)
    values.update(os.environ[name] for name in WEBHOOK_SECRETS)
    for simulator in sandbox_server.sandbox.simulators.values():
        values.update(getattr(getattr(simulator, "tokens", None), "expiry_by_token", {}))
    for received in sandbox.requests():
        header = received["headers"].get("authorization")
        if header:
            values.add(header)
            scheme, _, credentials = header.partition(" ")
            values.add(credentials)
            if scheme.lower() == "basic":
                values.update(base64.b64decode(credentials).decode().split(":"))
    values.discard("")
    return values


def everything_logged(caplog):
    """The text of every record: its message, its arguments, its traceback and any extras."""
    parts = [caplog.text]
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.extend(repr(value) for value in record.__dict__.values())
    return "\n".join(parts)


@pytest.mark.parametrize(
    ("provider", "scenario"),
    [
        pytest.param(provider, scenario, id=f"{provider}-{scenario}")
        for provider in CURRENCY
        for scenario in ("success", "bad credentials")
    ]
    + cases(),
)
def test_no_secret_reaches_the_logs(provider, scenario, make_payment, sandbox, sandbox_server, settings, caplog):
    settings.PROVIDER_TIMEOUT = 0.5
    payment = make_payment(provider, currency=CURRENCY[provider], amount=10_000, captured=10_000)
    if scenario == "bad credentials":
        break_credentials(settings, provider)
    elif scenario in FAULTS:
        inject(sandbox, provider, scenario, "refund")

    with caplog.at_level(logging.DEBUG):
        refund(payment)
        settings.PROVIDER_TIMEOUT = 5
        call_command("reconcile")

    assert caplog.records, "nothing was logged: the test would prove nothing"
    logged = everything_logged(caplog)
    leaked = sorted(value for value in secret_values(settings, sandbox_server, sandbox) if value in logged)
    assert leaked == []
