"""Time at the providers: a call never outlives its one deadline, whatever the provider does
with its answer (late, slow, one byte at a time); a provider's Retry-After is shown and
honoured; and an answer that proves nothing about a change the provider did carry out never
leads to a second one."""

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone

from payments.providers.registry import provider_for
from payments.providers.tokens import tokens
from payments.selectors import payment_balances
from payments.services.audit import Actor
from payments.services.cancels import payment_cancel
from payments.services.ledger import new_idempotency_key
from payments.services.reconcile import payment_reconcile
from payments.services.refunds import refund_request
from payments.statuses import OperationStatus
from tests.payments.sandbox.calls import in_background

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_is_consistent")]

SUCCEEDED, FAILED, UNKNOWN, PENDING = (
    OperationStatus.SUCCEEDED, OperationStatus.FAILED, OperationStatus.UNKNOWN, OperationStatus.PENDING,
)
CURRENCY = {"bambora": "EUR", "optty": "AUD", "simpleps": "USD", "vipps": "NOK"}
PROVIDERS = list(CURRENCY)
CANCEL_ENDPOINT = {"bambora": "cancel", "optty": "void", "simpleps": "void", "vipps": "cancel"}


def refund(payment, amount=2_500):
    return refund_request(payment_id=payment.pk, amount=amount, reason="customer_request",
                          actor=Actor.system("tests"), idempotency_key=new_idempotency_key())


def cancel(payment):
    return payment_cancel(payment_id=payment.pk, expected_amount=payment_balances(payment=payment).cancellable,
                          actor=Actor.system("tests"), idempotency_key=new_idempotency_key())


def carried_out(sandbox, payment, kind):
    at_provider = sandbox.payment(provider=payment.provider, reference=payment.reference)
    return [op for op in at_provider["operations"] if op["kind"] == kind]


def posts(sandbox, provider, endpoint):
    return [r for r in sandbox.requests(provider) if r["endpoint"] == endpoint and r["method"] == "POST"]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "answer",
    [{"mode": "drip", "interval": 0.5}, {"mode": "slow", "delay": 4}],
    ids=["one byte every half second", "slow beyond the deadline"],
)
def test_an_answer_that_comes_too_slowly_ends_at_the_deadline(provider, answer, make_payment, sandbox, settings):
    # given: a provider that carries the refund out, then answers too slowly for the deadline
    settings.PROVIDER_TIMEOUT = 1.5
    payment = make_payment(provider, currency=CURRENCY[provider], amount=10_000, captured=10_000)
    sandbox.inject_fault(provider=provider, endpoint="refund", **answer)

    # when
    operation = refund(payment)

    # then: the call is over at its deadline, the outcome unknown, the deadline on record
    assert operation.status == UNKNOWN
    assert operation.failure_message.startswith("The provider did not answer in time.")
    assert operation.deadline is not None and operation.deadline <= timezone.now()
    assert payment_balances(payment=payment).refundable == 7_500
    # and once the provider is read, it is settled from what the provider did: once
    settings.PROVIDER_TIMEOUT = 5
    payment_reconcile(payment_id=payment.pk, actor=Actor.system("reconcile"))
    operation.refresh_from_db()
    payment.refresh_from_db()
    assert (operation.status, payment.refunded) == (SUCCEEDED, 2_500)
    assert len(carried_out(sandbox, payment, "refund")) == len(posts(sandbox, provider, "refund")) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_slow_answer_within_the_deadline_is_an_answer(provider, make_payment, sandbox, settings):
    settings.PROVIDER_TIMEOUT = 5
    payment = make_payment(provider, currency=CURRENCY[provider], amount=10_000, captured=10_000)
    sandbox.inject_fault(provider=provider, endpoint="refund", mode="slow", delay=1)

    operation = refund(payment)

    assert operation.status == SUCCEEDED
    assert len(carried_out(sandbox, payment, "refund")) == 1


@pytest.mark.parametrize("provider", ["optty", "simpleps", "vipps"])
def test_a_token_endpoint_dripping_its_answer_ends_the_call_at_the_deadline_with_nothing_sent(
    provider, make_payment, sandbox, settings
):
    settings.PROVIDER_TIMEOUT = 1.5
    payment = make_payment(provider, currency=CURRENCY[provider], amount=10_000, captured=10_000)
    sandbox.inject_fault(provider=provider, endpoint="token", mode="drip", interval=0.5)

    operation = refund(payment)

    assert operation.status == FAILED
    assert operation.failure_message.startswith("The provider's sign-in did not answer")
    assert posts(sandbox, provider, "refund") == []
    assert payment_balances(payment=payment).refundable == 10_000


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind", ["refund", "cancel"])
@pytest.mark.parametrize(
    "answer",
    [
        {"mode": "status", "status": 409},
        {"mode": "status", "status": 429},
        {"mode": "error", "status": 503},
        {"mode": "html"},
        {"mode": "html", "status": 502},
    ],
    ids=["409", "429", "503", "firewall's 403 page", "gateway's 502 page"],
)
def test_an_answer_that_proves_nothing_about_a_change_carried_out_never_sends_it_again(
    provider, kind, answer, make_payment, sandbox
):
    # given: the provider carries the change out, then answers what proves nothing
    payment = make_payment(provider, currency=CURRENCY[provider], amount=10_000,
                           captured=10_000 if kind == "refund" else 0)
    endpoint = "refund" if kind == "refund" else CANCEL_ENDPOINT[provider]
    sandbox.inject_fault(provider=provider, endpoint=endpoint, carried_out=True, **answer)

    # when
    operation = refund(payment) if kind == "refund" else cancel(payment)

    # then: unknown, and reconciliation finds it done: booked once, never sent again
    assert operation.status == UNKNOWN, operation.failure_message
    call_command("reconcile")
    operation.refresh_from_db()
    payment.refresh_from_db()
    field = "refunded" if kind == "refund" else "cancelled"
    assert operation.status == SUCCEEDED
    assert getattr(payment, field) == sandbox.payment(provider=provider, reference=payment.reference)[field]
    assert len(carried_out(sandbox, payment, kind)) == len(posts(sandbox, provider, endpoint)) == 1


def test_retry_after_is_shown_and_honoured(make_payment, sandbox, clock):
    # given: Vipps refuses a refund for now, asking us to wait two minutes
    payment = make_payment("vipps", currency="NOK", amount=10_000, captured=10_000)
    sandbox.inject_fault(provider="vipps", endpoint="refund", mode="status", status=429, retry_after=120)

    operation = refund(payment)

    assert operation.status == UNKNOWN
    assert "It asked us to wait 2 minutes before trying again." in operation.failure_message
    assert (operation.retry_not_before - timezone.now()).total_seconds() > 110

    # when: checked before the two minutes are over
    [finding] = payment_reconcile(payment_id=payment.pk, actor=Actor.system("reconcile"))

    # then: Vipps's event log shows it never happened, but it is not sent before then
    assert not finding.resolved
    assert "it is sent again after" in finding.message
    assert len(posts(sandbox, "vipps", "refund")) == 1

    # when: checked after
    clock.advance(121)
    [finding] = payment_reconcile(payment_id=payment.pk, actor=Actor.system("reconcile"))

    # then: sent again with the same key, and carried out once
    operation.refresh_from_db()
    sent = posts(sandbox, "vipps", "refund")
    assert finding.resolved and operation.status == SUCCEEDED
    assert [r["headers"]["idempotency-key"] for r in sent] == [operation.idempotency_key] * 2
    assert len(carried_out(sandbox, payment, "refund")) == 1


def test_vipps_still_processing_the_key_is_asked_again_once_its_retry_after_has_passed(make_payment, sandbox):
    payment = make_payment("vipps", currency="NOK", amount=10_000, captured=10_000)
    sandbox.inject_fault(provider="vipps", endpoint="refund", mode="status", status=423, retry_after=1)

    operation = refund(payment)

    sent = posts(sandbox, "vipps", "refund")
    assert operation.status == SUCCEEDED
    assert [r["headers"]["idempotency-key"] for r in sent] == [operation.idempotency_key] * 2
    assert len(carried_out(sandbox, payment, "refund")) == 1


def test_vipps_still_processing_beyond_the_deadline_is_unknown_and_says_when_to_ask(make_payment, sandbox, settings):
    settings.PROVIDER_TIMEOUT = 3
    payment = make_payment("vipps", currency="NOK", amount=10_000, captured=10_000)
    sandbox.inject_fault(provider="vipps", endpoint="refund", mode="status", status=423, retry_after=30)

    operation = refund(payment)

    assert operation.status == UNKNOWN
    assert operation.failure_message.startswith("Vipps MobilePay is still processing a change to this payment")
    assert "It asked us to wait 30 seconds before trying again." in operation.failure_message
    assert len(posts(sandbox, "vipps", "refund")) == 1


def test_an_optty_refund_initiated_stays_reserved_until_optty_decides(make_payment, sandbox):
    payment = make_payment("optty", currency="AUD", amount=10_000, captured=10_000, at_provider=False)
    sandbox.create_payment(provider="optty", reference=payment.reference, currency="AUD", amount=10_000,
                           captured=10_000, refund_status="INITIATED")

    operation = refund(payment)
    [finding] = payment_reconcile(payment_id=payment.pk, actor=Actor.system("reconcile"))

    operation.refresh_from_db()
    assert operation.status == PENDING
    assert not finding.resolved
    assert payment_balances(payment=payment).refundable == 7_500

    sandbox.advance(provider="optty", reference=payment.reference)
    [finding] = payment_reconcile(payment_id=payment.pk, actor=Actor.system("reconcile"))

    operation.refresh_from_db()
    payment.refresh_from_db()
    assert finding.resolved
    assert (operation.status, payment.refunded) == (SUCCEEDED, 2_500)
    assert len(carried_out(sandbox, payment, "refund")) == len(posts(sandbox, "optty", "refund")) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "answer", [{"mode": "timeout"}, {"mode": "error", "status": 503}, {"mode": "drop"}], ids=["timeout", "503", "drop"]
)
def test_a_call_that_ended_unknown_is_not_sent_again_while_the_provider_may_still_carry_it_out(
    provider, answer, make_payment, sandbox, settings, clock
):
    # given: a refund whose call ended without a definite answer; a slow provider may still
    # carry it out after our client gave up
    settings.PROVIDER_TIMEOUT = 0.5
    payment = make_payment(provider, currency=CURRENCY[provider], amount=10_000, captured=10_000)
    sandbox.inject_fault(provider=provider, endpoint="refund", **answer)
    operation = refund(payment)
    assert operation.status == UNKNOWN

    # when: the agent checks at once, and again just before the deadline and margin are over
    [at_once] = payment_reconcile(payment_id=payment.pk, actor=Actor.system("agent"))
    clock.advance(settings.PROVIDER_TIMEOUT + settings.RECONCILE_IN_FLIGHT_MARGIN - 1)
    [within_margin] = payment_reconcile(payment_id=payment.pk, actor=Actor.system("agent"))

    # then: the provider does not show it, but that proves nothing yet: nothing is sent again,
    # the amount stays reserved, and no check is counted against it
    operation.refresh_from_db()
    for finding in (at_once, within_margin):
        assert not finding.resolved
        assert "it may still carry out the call until" in finding.message
    assert len(posts(sandbox, provider, "refund")) == 1
    assert (operation.status, operation.checks) == (UNKNOWN, 0)
    assert payment_balances(payment=payment).refundable == 7_500

    # when: checked once the call can no longer be running
    clock.advance(2)
    [finding] = payment_reconcile(payment_id=payment.pk, actor=Actor.system("reconcile"))

    # then: a read taken now proves it never happened: sent again, carried out once
    operation.refresh_from_db()
    assert finding.resolved and operation.status == SUCCEEDED
    assert len(posts(sandbox, provider, "refund")) == 2
    assert len(carried_out(sandbox, payment, "refund")) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("provider", ["bambora", "simpleps"])
def test_only_a_read_taken_after_the_call_could_end_proves_that_it_never_happened(
    provider, make_payment, sandbox, sandbox_server, settings, clock
):
    # given: a refund of unknown outcome, and a check whose read of the payment is taken just
    # before the call's deadline and margin are over, and answered just after
    payment = make_payment(provider, currency=CURRENCY[provider], amount=10_000, captured=10_000)
    sandbox.inject_fault(provider=provider, endpoint="refund", mode="error", status=503)
    operation = refund(payment)
    clock.advance(settings.PROVIDER_TIMEOUT + settings.RECONCILE_IN_FLIGHT_MARGIN - 1)
    sandbox.inject_fault(provider=provider, endpoint="fetch", mode="held")
    check = in_background(lambda: payment_reconcile(payment_id=payment.pk, actor=Actor.system("agent")))
    assert sandbox_server.sandbox.wait_for_held(1, provider=provider, endpoint="fetch")
    clock.advance(2)
    sandbox.release()

    # when the read arrives
    [finding] = check()

    # then: what it shows is from before the call could have ended: nothing is sent again
    operation.refresh_from_db()
    assert not finding.resolved and operation.status == UNKNOWN
    assert len(posts(sandbox, provider, "refund")) == 1
    # and the next check's read proves it
    [finding] = payment_reconcile(payment_id=payment.pk, actor=Actor.system("reconcile"))
    assert finding.resolved
    assert len(carried_out(sandbox, payment, "refund")) == len(posts(sandbox, provider, "refund")) - 1 == 1


def _vipps_token_expiring_in_our_cache(seconds):
    """A token Vipps takes, which our cache lets go of within `seconds` (as if it had been
    fetched that long before its renewal time)."""
    vipps = provider_for("vipps")
    key = (vipps.code, vipps.config["api_url"], vipps.config["client_id"], vipps.config["merchant_serial_number"])
    answer = requests.post(
        vipps.config["api_url"].rstrip("/") + "/accesstoken/get",
        headers={
            "client_id": vipps.config["client_id"], "client_secret": vipps.config["client_secret"],
            "Ocp-Apim-Subscription-Key": vipps.config["subscription_key"],
            "Merchant-Serial-Number": vipps.config["merchant_serial_number"],
        },
        timeout=5,
    ).json()
    tokens.clear()
    # The cache renews a tenth of the lifetime early: this one is kept for `seconds`.
    tokens.get(key, lambda: (answer["access_token"], seconds / 0.9))


@pytest.mark.parametrize(
    "token_endpoint",
    [{"mode": "error", "status": 503}, {"mode": "status", "status": 401}, {"mode": "timeout"}],
    ids=["token endpoint down", "token endpoint refuses the credentials", "token endpoint silent"],
)
@pytest.mark.parametrize("token_goes", ["refused by Vipps", "expires in our cache"])
def test_vipps_still_processing_then_no_new_token_is_unknown_not_failed(
    token_goes, token_endpoint, make_payment, sandbox, settings, clock
):
    # given: Vipps carries the refund out and answers 423 (still processing this key); when the
    # refund is asked again, the token is gone and no new one can be had
    settings.PROVIDER_TIMEOUT = 4
    payment = make_payment("vipps", currency="NOK", amount=10_000, captured=10_000)
    if token_goes == "refused by Vipps":
        provider_for("vipps").fetch(payment.reference)  # a token in our cache, as after any call
        sandbox.inject_fault(provider="vipps", endpoint="refund", mode="status", status=423, retry_after=0,
                             carried_out=True)
        sandbox.inject_fault(provider="vipps", endpoint="refund", mode="status", status=401)
    else:
        _vipps_token_expiring_in_our_cache(1.5)
        sandbox.inject_fault(provider="vipps", endpoint="refund", mode="status", status=423, retry_after=2,
                             carried_out=True)
    sandbox.inject_fault(provider="vipps", endpoint="token", **token_endpoint)

    # when
    operation = refund(payment)

    # then: the first request may have been carried out (it was): unknown, its amount reserved,
    # and nobody is told to try again
    assert operation.status == UNKNOWN, operation.failure_message
    assert operation.failure_message.startswith("Vipps MobilePay is still processing a change to this payment")
    assert "try again later" not in operation.failure_message
    assert payment_balances(payment=payment).refundable == 7_500
    # and once the call cannot be running any more, Vipps's event log settles it: once
    clock.advance(settings.PROVIDER_TIMEOUT + settings.RECONCILE_IN_FLIGHT_MARGIN + 1)
    call_command("reconcile")
    operation.refresh_from_db()
    payment.refresh_from_db()
    assert (operation.status, payment.refunded) == (SUCCEEDED, 2_500)
    assert len(carried_out(sandbox, payment, "refund")) == 1


def test_vipps_still_processing_then_our_credentials_refused_is_unknown_not_failed(make_payment, sandbox):
    payment = make_payment("vipps", currency="NOK", amount=10_000, captured=10_000)
    sandbox.inject_fault(provider="vipps", endpoint="refund", mode="status", status=423, retry_after=0,
                         carried_out=True)
    # the token refused, and the new one too
    sandbox.inject_fault(provider="vipps", endpoint="refund", mode="status", status=401, times=2)

    operation = refund(payment)

    assert operation.status == UNKNOWN, operation.failure_message
    assert "Asking again failed: The provider rejected our credentials." in operation.failure_message
    assert len(carried_out(sandbox, payment, "refund")) == 1
    assert payment_balances(payment=payment).refundable == 7_500
