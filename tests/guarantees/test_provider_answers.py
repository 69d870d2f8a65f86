"""Every answer the providers' published specs allow, at every provider, on refunds and on
cancels: what the operation becomes at once, what the ledger holds meanwhile, and, after
reconciliation, that the provider carried it out exactly as many times as the ledger says (the
simulator's own record and the requests it received). No answer that proves nothing is taken for
a refusal, and nothing that may have been carried out is sent again without proof."""

from dataclasses import dataclass, field

import pytest
from django.core.management import call_command

from payments.providers.registry import PROVIDER_CLASSES
from payments.selectors import payment_balances
from payments.services.audit import Actor
from payments.services.cancels import payment_cancel
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request
from payments.statuses import OperationStatus
from tests.helpers import bambora_read_without_refunds

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_is_consistent")]

SUCCEEDED, FAILED = OperationStatus.SUCCEEDED, OperationStatus.FAILED
PENDING, UNKNOWN = OperationStatus.PENDING, OperationStatus.UNKNOWN
CURRENCY = {"bambora": "EUR", "optty": "AUD", "simpleps": "USD", "vipps": "NOK"}
PROVIDERS = list(CURRENCY)
TOKEN_PROVIDERS = ["optty", "simpleps", "vipps"]
# The sandbox's name of each provider's cancel endpoint (Optty and SimplePS call it a void).
ENDPOINT = {
    ("refund", provider): "refund" for provider in PROVIDERS
} | {("cancel", "bambora"): "cancel", ("cancel", "optty"): "void", ("cancel", "simpleps"): "void",
     ("cancel", "vipps"): "cancel"}
AMOUNT = 10_000
REFUND = 2_500


@dataclass
class Case:
    """`faults`: what the provider answers (sandbox faults, `endpoint` "*" for the call's own);
    `now`: the operation's status once the call is over; `after`: once reconciliation has read
    the provider; `executions`: how many times the provider carried it out in the end; `sends`:
    how many times it was sent in all."""

    provider: str
    kind: str
    faults: list = field(default_factory=list)
    now: str = SUCCEEDED
    after: str = SUCCEEDED
    executions: int = 1
    sends: int = 1
    message: str = ""  # words the operation's message starts with, once the call is over
    # Faults for reconciliation's read: a list, or "bambora read without refunds".
    faults_before_reconcile: object = None


def fault(mode, endpoint="*", **more):
    return {"mode": mode, "endpoint": endpoint, **more}


def undecided_cases():
    """Statuses that never prove a refusal: unknown, then the provider's read shows it never
    happened and it is sent again, once."""
    for provider in PROVIDERS:
        for kind in ("refund", "cancel"):
            for status in (408, 409, 425, 429, 500, 503):
                yield pytest.param(
                    Case(provider, kind, [fault("status", status=status)], now=UNKNOWN, sends=2),
                    id=f"{provider}-{kind}-{status}",
                )
            yield pytest.param(
                Case(provider, kind, [fault("answer", status=302, body={"moved": True}, off_spec=True)],
                     now=UNKNOWN, sends=2),
                id=f"{provider}-{kind}-302 redirect",
            )
            yield pytest.param(
                Case(provider, kind, [fault("garbage")], now=UNKNOWN, sends=2,
                     message=f"{PROVIDER_CLASSES[provider].name} answered with a web page"),
                id=f"{provider}-{kind}-HTML page",
            )
            if provider != "vipps":
                yield pytest.param(
                    Case(provider, kind, [fault("status", status=423)], now=UNKNOWN, sends=2),
                    id=f"{provider}-{kind}-423",
                )


def provider_cases():
    # Vipps: a 423 (this key still being processed) is sent again with the same key.
    for kind in ("refund", "cancel"):
        yield pytest.param(Case("vipps", kind, [fault("status", status=423)], sends=2), id=f"vipps-{kind}-423 retried")
        yield pytest.param(
            Case("vipps", kind, [fault("status", status=409, code=f"{kind}-idempotency-conflict")], now=UNKNOWN, sends=2),
            id=f"vipps-{kind}-409 idempotency conflict",
        )
    # Optty: a refund neither SUCCESSFUL nor FAILED is pending. (The answer fault does nothing
    # at the provider: the read then shows no such refund, which a person has to look at.)
    for status in ("INITIATED", "PROCESSING", "REQUESTED", "PENDING", "NEW_STATUS"):
        yield pytest.param(
            Case("optty", "refund", [fault("answer", body=optty_refund_answer(status))], now=PENDING,
                 after=PENDING, executions=0),
            id=f"optty-refund-{status}",
        )
    yield pytest.param(
        Case("optty", "refund", [fault("answer", body=optty_refund_answer("FAILED"))], now=FAILED, after=FAILED,
             executions=0, message="Optty did not refund: the refund failed"),
        id="optty-refund-FAILED",
    )
    # Optty: the first attempt was carried out, its answer lost; a stale read of the order shows
    # no refund, so it is sent again, and Optty answers that the reference is used: unknown,
    # never failed, and never a second refund.
    yield pytest.param(
        Case("optty", "refund", [fault("lost_answer")], now=UNKNOWN, after=UNKNOWN, sends=2,
             faults_before_reconcile=[fault("answer", "details", body=OPTTY_DETAILS_WITHOUT_REFUNDS)]),
        id="optty-refund-reference already used to a retry",
    )
    # Optty: a refund or void sent again after an unknown outcome, and refused in words
    # Optty does not document (it may have had the reference): unknown, never failed.
    for kind, message in (("refund", "refundReference must be unique per merchant"),
                          ("cancel", "Duplicate voidReference")):
        yield pytest.param(
            Case("optty", kind, [fault("status", status=503)], now=UNKNOWN, after=UNKNOWN, executions=0, sends=2,
                 faults_before_reconcile=[fault("status", ENDPOINT[(kind, "optty")], status=400, message=message)]),
            id=f"optty-{kind}-sent again, refused in other words",
        )
    # Optty: a void whose answer was lost is recognised from the order's status.
    yield pytest.param(Case("optty", "cancel", [fault("lost_answer")], now=UNKNOWN), id="optty-cancel-answer lost")
    # SimplePS: a 403, or a 401 that does not show a refused token, is never followed by a
    # second send; its read decides.
    for kind in ("refund", "cancel"):
        yield pytest.param(Case("simpleps", kind, [fault("status", status=403)], now=UNKNOWN, sends=2),
                           id=f"simpleps-{kind}-403")
        yield pytest.param(
            Case("simpleps", kind, [fault("answer", status=401, body={"message": "Unauthorized"}, off_spec=True)],
                 now=UNKNOWN, sends=2),
            id=f"simpleps-{kind}-401 without a refused token",
        )
        # A refused token (SE_001): the call did not run; a new token, and it is sent once more.
        yield pytest.param(Case("simpleps", kind, [fault("status", status=401, code="SE_001")], sends=2),
                           id=f"simpleps-{kind}-401 refused token")
    # Bambora: a refund carried out, its answer lost, and reads as published (no refunds):
    # nothing proves it, so it is never sent again.
    yield pytest.param(
        Case("bambora", "refund", [fault("lost_answer")], now=UNKNOWN, after=UNKNOWN,
             faults_before_reconcile="bambora read without refunds"),
        id="bambora-refund-answer lost, read without refunds",
    )
    # Token endpoints: a 429 or 5xx is the provider being unavailable, never refused
    # credentials; nothing was sent.
    for provider in TOKEN_PROVIDERS:
        for status in (429, 500, 503):
            yield pytest.param(
                Case(provider, "refund", [fault("status", "token", status=status)], now=FAILED, after=FAILED,
                     executions=0, sends=0, message="The provider's sign-in did not answer"),
                id=f"{provider}-token endpoint {status}",
            )


def optty_refund_answer(status):
    return {
        "refundReference": "bo-any", "bnplProvider": "KLARNA_AU", "refundedAmount": "25.00",
        "refundStatus": status, "description": "Customer request", "refundDate": "Fri, 08 Oct 2021 06:22:20 GMT",
        "bnplRefundId": f"optty-{status.lower()}",
    }


OPTTY_DETAILS_WITHOUT_REFUNDS = {
    "merchantReference": "any", "status": "CAPTURED", "amount": "100.00", "surcharge": "0.00", "currency": "AUD",
    "provider": "KLARNA_AU", "captureStatus": "CAPTURED", "cancelledBy": None,
    "orderCaptures": [{"captureId": "c1", "amount": "100.00", "status": "SUCCESSFUL"}], "refunds": [],
}

def _send(case, payment):
    if case.kind == "refund":
        return refund_request(payment_id=payment.pk, amount=REFUND, reason="customer_request",
                              actor=Actor.system("tests"), idempotency_key=new_idempotency_key())
    return payment_cancel(payment_id=payment.pk, expected_amount=payment_balances(payment=payment).cancellable,
                          actor=Actor.system("tests"), idempotency_key=new_idempotency_key())


@pytest.mark.parametrize("case", [*undecided_cases(), *provider_cases()])
def test_every_answer(case, make_payment, sandbox, settings, clock):
    settings.PROVIDER_TIMEOUT = 3
    provider, kind = case.provider, case.kind
    endpoint = ENDPOINT[(kind, provider)]
    field = "refunded" if kind == "refund" else "cancelled"
    amount = REFUND if kind == "refund" else AMOUNT
    payment = make_payment(provider, currency=CURRENCY[provider], amount=AMOUNT,
                           captured=AMOUNT if kind == "refund" else 0)
    for injected in case.faults:
        sandbox.inject_fault(provider=provider, **{**injected, "endpoint": injected["endpoint"].replace("*", endpoint)})

    # when: the agent refunds or cancels
    operation = _send(case, payment)

    # then: the operation says what the answer proves, and the ledger holds what it must
    payment.refresh_from_db()
    balances = payment_balances(payment=payment)
    assert operation.status == case.now, operation.failure_message
    assert operation.deadline is not None
    if case.message:
        assert operation.failure_message.startswith(case.message), operation.failure_message
    if case.now == SUCCEEDED:
        assert getattr(payment, field) == amount
    else:
        assert getattr(payment, field) == 0
    reserved = balances.reserved_refunds if kind == "refund" else balances.reserved_cancels
    assert reserved == (amount if case.now in (PENDING, UNKNOWN) else 0)

    # when: reconciliation reads the provider
    if case.faults_before_reconcile == "bambora read without refunds":
        sandbox.inject_fault(provider=provider, endpoint="fetch", mode="answer",
                             body=bambora_read_without_refunds(payment))
    elif case.faults_before_reconcile:
        for injected in case.faults_before_reconcile:
            sandbox.inject_fault(provider=provider, **injected)
    # once the call can no longer be running (the deadline and RECONCILE_IN_FLIGHT_MARGIN)
    clock.advance(settings.PROVIDER_TIMEOUT + settings.RECONCILE_IN_FLIGHT_MARGIN + 1)
    call_command("reconcile")

    # then: settled as the provider shows, and carried out there exactly as often as booked
    operation.refresh_from_db()
    payment.refresh_from_db()
    at_provider = sandbox.payment(provider=provider, reference=payment.reference)
    carried_out = [op for op in at_provider["operations"] if op["kind"] == kind]
    sent = [r for r in sandbox.requests(provider) if r["endpoint"] == endpoint and r["method"] == "POST"]
    assert operation.status == case.after, operation.failure_message
    assert len(carried_out) == case.executions
    assert len(sent) == case.sends
    if case.after in (SUCCEEDED, FAILED):
        assert getattr(payment, field) == at_provider[field] == (amount if case.after == SUCCEEDED else 0)
    else:
        # Unresolved: still reserved, and the provider did at most what is reserved.
        assert getattr(payment, field) == 0
        assert at_provider[field] <= amount
    if kind == "refund" and provider == "vipps" and len(sent) > 1:
        # Every attempt carried the operation's one key.
        assert {r["headers"]["idempotency-key"] for r in sent} == {operation.idempotency_key}
