"""How reconciliation decides what became of operations whose outcome was unknown."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction

from payments.locks import lock_payment
from payments.models import AuditAction, AuditEvent, Operation, OperationKind, Payment
from payments.providers.base import Movement, Outcome, ProviderPayment
from payments.selectors import needs_person, payment_balances
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key, operation_open
from payments.services.reconcile import BUSY, Verdict, judge, payment_reconcile
from payments.services.refunds import refund_request
from payments.statuses import OperationStatus
from tests.helpers import bambora_read_without_refunds
from tests.payments.sandbox.calls import in_background


def payment(refunded=0, captured=10_000):
    return Payment(pk=1, provider="bambora", authorized=10_000, captured=captured, refunded=refunded, currency="EUR")


def operation(pk, amount, *, key=None, provider_reference="", kind="refund"):
    return Operation(pk=pk, kind=kind, amount=amount, idempotency_key=key or f"bo-{pk}",
                     provider_reference=provider_reference, status=OperationStatus.UNKNOWN)


def seen(*, refunded, movements=(), keys_recorded=False):
    return ProviderPayment(reference="r", state="Captured", currency="EUR", authorized=10_000,
                           captured=10_000, cancelled=0, refunded=refunded,
                           movements=tuple(movements), keys_recorded=keys_recorded)


def verdicts(judgements):
    return {op.pk: judgement.verdict for op, judgement in judgements.items()}


def test_totals_that_one_choice_explains():
    ops = [operation(1, 1_000), operation(2, 2_500)]

    result = judge(payment=payment(refunded=500), operations=ops, seen=seen(refunded=3_000))

    assert verdicts(result) == {1: Verdict.NOT_HAPPENED, 2: Verdict.HAPPENED}


def test_totals_that_nothing_explains_leave_it_unclear():
    ops = [operation(1, 1_000), operation(2, 2_500)]

    result = judge(payment=payment(), operations=ops, seen=seen(refunded=1_234))

    assert verdicts(result) == {1: Verdict.UNCLEAR, 2: Verdict.UNCLEAR}


def test_totals_that_two_choices_explain_leave_it_unclear():
    ops = [operation(1, 1_000), operation(2, 2_000), operation(3, 3_000)]

    result = judge(payment=payment(), operations=ops, seen=seen(refunded=3_000))

    assert set(verdicts(result).values()) == {Verdict.UNCLEAR}


def test_equal_amounts_are_interchangeable_the_earliest_happened():
    ops = [operation(1, 1_000), operation(2, 1_000)]

    result = judge(payment=payment(), operations=ops, seen=seen(refunded=1_000))

    assert verdicts(result) == {1: Verdict.HAPPENED, 2: Verdict.NOT_HAPPENED}


def test_less_at_the_provider_than_in_our_ledger_is_unclear():
    result = judge(payment=payment(refunded=5_000), operations=[operation(1, 1_000)], seen=seen(refunded=4_000))

    assert verdicts(result) == {1: Verdict.UNCLEAR}


def test_keys_decide_when_the_provider_records_them():
    ops = [operation(1, 1_000, key="k1"), operation(2, 1_000, key="k2"), operation(3, 500, key="k3")]
    movements = [
        Movement(kind="refund", amount=1_000, outcome=Outcome.SUCCEEDED, key="k2"),
        Movement(kind="refund", amount=500, outcome=Outcome.FAILED, key="k3"),
        Movement(kind="refund", amount=7_000, outcome=Outcome.SUCCEEDED, key="someone-else"),
    ]

    result = judge(payment=payment(), operations=ops, seen=seen(refunded=8_000, movements=movements, keys_recorded=True))

    assert verdicts(result) == {1: Verdict.NOT_HAPPENED, 2: Verdict.HAPPENED, 3: Verdict.FAILED}


def test_a_known_provider_id_decides_and_counts_against_the_totals():
    ops = [operation(1, 1_000, provider_reference="optty-9"), operation(2, 2_000)]
    movements = [
        Movement(kind="refund", amount=1_000, outcome=Outcome.SUCCEEDED, provider_reference="optty-9"),
        Movement(kind="refund", amount=2_000, outcome=Outcome.SUCCEEDED, provider_reference="optty-10"),
    ]

    result = judge(payment=payment(), operations=ops, seen=seen(refunded=3_000, movements=movements))

    assert verdicts(result) == {1: Verdict.HAPPENED, 2: Verdict.HAPPENED}


def test_a_pending_movement_nobody_can_tie_makes_the_totals_unclear():
    movements = [Movement(kind="refund", amount=1_000, outcome=Outcome.PENDING, provider_reference="x")]

    result = judge(payment=payment(), operations=[operation(1, 1_000)], seen=seen(refunded=0, movements=movements))

    assert verdicts(result) == {1: Verdict.UNCLEAR}


def test_totals_decide_nothing_while_another_operation_of_the_kind_is_under_way():
    ops = [operation(1, 2_500), operation(2, 1_000, kind="cancel")]
    in_flight = Operation(pk=3, kind="refund", amount=2_500, status=OperationStatus.IN_FLIGHT)

    result = judge(payment=payment(), operations=ops, seen=seen(refunded=2_500), under_way=[in_flight])

    assert verdicts(result) == {1: Verdict.UNCLEAR, 2: Verdict.NOT_HAPPENED}
    assert "still under way" in result[ops[0]].message


@pytest.mark.django_db
def test_reconcile_leaves_an_unclear_operation_reserved(make_payment, sandbox, agent):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="error", status=503)
    unknown = refund_request(payment_id=payment.pk, amount=1_000, reason="goodwill",
                             actor=Actor.of_user(agent), idempotency_key=new_idempotency_key())
    # Bambora never got it, but shows 12.34 refunded that nobody here knows of.
    sandbox.create_payment(provider="bambora", reference=payment.reference, currency="EUR",
                           amount=10_000, captured=10_000, refunded=1_234)

    [finding] = payment_reconcile(payment_id=payment.pk, actor=Actor.system("tests"))

    unknown.refresh_from_db()
    assert not finding.resolved
    assert "check the payment in the provider's portal" in finding.message
    assert unknown.status == OperationStatus.UNKNOWN
    assert payment_balances(payment=payment).refundable == 9_000


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("provider", "currency"), [("bambora", "EUR"), ("simpleps", "USD")])
def test_a_refund_in_flight_is_not_taken_for_an_unknown_one(provider, currency, make_payment, sandbox,
                                                            sandbox_server, agent, settings, clock):
    def refund():
        return refund_request(payment_id=payment.pk, amount=2_500, reason="goodwill",
                              actor=Actor.of_user(agent), idempotency_key=new_idempotency_key())

    # given: a refund whose outcome is unknown (the provider never got it), and a second one of
    # the same amount that the provider has carried out, its answer on the way
    payment = make_payment(provider, currency=currency, amount=10_000, captured=10_000)
    sandbox.inject_fault(provider=provider, endpoint="refund", mode="error", status=503)
    unknown = refund()
    assert unknown.status == OperationStatus.UNKNOWN
    sandbox.inject_fault(provider=provider, endpoint="refund", mode="held")
    in_flight = in_background(refund)
    assert sandbox_server.sandbox.wait_for_held(1, provider=provider, endpoint="refund")

    # when: somebody checks with the provider meanwhile, then the answer arrives
    [finding] = payment_reconcile(payment_id=payment.pk, actor=Actor.system("tests"))
    unknown.refresh_from_db()
    sandbox.release()
    answered = in_flight()

    # then: the provider's new refund was not taken for the unknown one...
    assert not finding.resolved
    assert "still under way" in finding.message
    assert unknown.status == OperationStatus.UNKNOWN
    assert answered.status == OperationStatus.SUCCEEDED
    # ...which, once the totals can tell (and its call cannot be running any more), is found
    # never to have happened and is sent again
    clock.advance(settings.PROVIDER_TIMEOUT + settings.RECONCILE_IN_FLIGHT_MARGIN + 1)
    call_command("reconcile")
    unknown.refresh_from_db()
    payment.refresh_from_db()
    at_provider = sandbox.payment(provider=provider, reference=payment.reference)
    assert unknown.status == OperationStatus.SUCCEEDED
    assert payment.refunded == at_provider["refunded"] == 5_000
    assert [op["amount"] for op in at_provider["operations"]] == [2_500, 2_500]
    call_command("check_ledger")


@pytest.mark.django_db
def test_a_provider_holding_the_payment_in_another_currency_decides_nothing(make_payment, sandbox, agent):
    payment = make_payment("simpleps", currency="USD", amount=10_000, captured=10_000)
    sandbox.inject_fault(provider="simpleps", endpoint="refund", mode="lost_answer")
    unknown = refund_request(payment_id=payment.pk, amount=2_500, reason="goodwill",
                             actor=Actor.of_user(agent), idempotency_key=new_idempotency_key())
    sandbox.create_payment(provider="simpleps", reference=payment.reference, currency="CAD",
                           amount=10_000, captured=10_000, refunded=2_500)

    [finding] = payment_reconcile(payment_id=payment.pk, actor=Actor.system("tests"))

    unknown.refresh_from_db()
    assert not finding.resolved
    assert finding.message.startswith("The provider holds this payment in CAD, the back office in USD")
    assert unknown.status == OperationStatus.UNKNOWN


def _in_flight(payment, amount=2_500):
    """An operation committed in flight, its call not (yet) sent: as a process leaves it that
    is still calling the provider, or that died before it did."""
    with transaction.atomic():
        locked = lock_payment(payment_id=payment.pk)
        return operation_open(payment=locked, kind=OperationKind.REFUND, amount=amount,
                              status=OperationStatus.IN_FLIGHT, actor=Actor.system("tests"),
                              reason="goodwill")


@pytest.mark.django_db
def test_a_call_that_may_still_be_running_is_left_alone_until_its_deadline_and_a_margin(
    make_payment, sandbox, settings, clock
):
    # given: an operation in flight, stored with its call's deadline
    payment = make_payment("simpleps", currency="USD", amount=10_000, captured=10_000)
    operation = _in_flight(payment)
    assert operation.deadline == operation.created_at + timedelta(seconds=settings.PROVIDER_TIMEOUT)

    # when: checked before the deadline, and after it but within the margin
    young = payment_reconcile(payment_id=payment.pk, actor=Actor.system("tests"))
    clock.advance(settings.PROVIDER_TIMEOUT + settings.RECONCILE_IN_FLIGHT_MARGIN - 1)
    within_margin = payment_reconcile(payment_id=payment.pk, actor=Actor.system("tests"))

    # then: nothing is asked or sent; the call is left to finish
    operation.refresh_from_db()
    assert (young, within_margin) == ([], [])
    assert operation.status == OperationStatus.IN_FLIGHT
    assert sandbox.requests("simpleps") == []

    # when: the deadline and the margin have passed
    clock.advance(2)
    [finding] = payment_reconcile(payment_id=payment.pk, actor=Actor.system("tests"))

    # then: it is taken for abandoned: SimplePS shows it never happened, so it is sent, once
    operation.refresh_from_db()
    assert finding.resolved
    assert operation.status == OperationStatus.SUCCEEDED
    assert [(op["kind"], op["amount"]) for op in sandbox.payment(provider="simpleps", reference=payment.reference)["operations"]] == [("refund", 2_500)]


@pytest.mark.django_db
def test_an_abandoned_call_that_cannot_be_proven_becomes_unknown(make_payment, sandbox, settings, clock):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    operation = _in_flight(payment)
    clock.advance(settings.PROVIDER_TIMEOUT + settings.RECONCILE_IN_FLIGHT_MARGIN + 1)
    sandbox.inject_fault(provider="bambora", endpoint="fetch", mode="answer",
                         body=bambora_read_without_refunds(payment))

    [finding] = payment_reconcile(payment_id=payment.pk, actor=Actor.system("tests"))

    operation.refresh_from_db()
    assert not finding.resolved
    assert operation.status == OperationStatus.UNKNOWN
    assert operation.failure_message.startswith("The call to the provider ended without an answer")
    assert [r["endpoint"] for r in sandbox.requests("bambora")] == ["fetch"]
    assert payment_balances(payment=payment).refundable == 7_500


@pytest.mark.django_db
def test_a_read_without_the_refunds_list_never_leads_to_a_second_refund(make_payment, sandbox, settings):
    # given: a Bambora refund that was carried out, its answer lost
    settings.NEEDS_PERSON_AFTER_CHECKS = 3
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="lost_answer")
    operation = refund_request(payment_id=payment.pk, amount=2_500, reason="goodwill",
                               actor=Actor.system("tests"), idempotency_key=new_idempotency_key())
    assert operation.status == OperationStatus.UNKNOWN
    # and reads as Bambora publishes them: without a refunds list
    sandbox.inject_fault(provider="bambora", endpoint="fetch", mode="answer",
                         body=bambora_read_without_refunds(payment), times=3)

    # when: checked until no more checks are worth it
    findings = [payment_reconcile(payment_id=payment.pk, actor=Actor.system("reconcile"))[0] for _ in range(3)]

    # then: never sent again, its amount still reserved, and a person is asked for at last
    operation.refresh_from_db()
    at_provider = sandbox.payment(provider="bambora", reference=payment.reference)
    assert [op["kind"] for op in at_provider["operations"]] == ["refund"]
    assert [r["endpoint"] for r in sandbox.requests("bambora")].count("refund") == 1
    assert operation.status == OperationStatus.UNKNOWN
    assert operation.checks == 3
    assert payment_balances(payment=payment).refundable == 7_500
    assert [finding.resolved for finding in findings] == [False, False, False]
    assert "does not show its refunds" in findings[0].message
    assert "needs a person" not in findings[1].message and "needs a person" in findings[2].message
    assert operation.needs_person_since is not None
    assert operation.last_check.startswith("The provider's answer does not show its refunds")
    marked = AuditEvent.objects.get(action=AuditAction.OPERATION_NEEDS_PERSON)
    assert (marked.operation, marked.actor_label) == (operation, "system: reconcile")

    # when: a later read shows the refunds after all
    [finding] = payment_reconcile(payment_id=payment.pk, actor=Actor.system("reconcile"))

    # then: that proof settles it, still once at the provider
    operation.refresh_from_db()
    payment.refresh_from_db()
    assert finding.resolved
    assert (operation.status, payment.refunded) == (OperationStatus.SUCCEEDED, 2_500)
    assert not needs_person(operation)


@pytest.mark.django_db
def test_an_operation_unproven_for_hours_needs_a_person(make_payment, sandbox, settings, clock):
    settings.NEEDS_PERSON_AFTER_CHECKS = 100
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="error", status=503)
    operation = refund_request(payment_id=payment.pk, amount=2_500, reason="goodwill",
                               actor=Actor.system("tests"), idempotency_key=new_idempotency_key())
    sandbox.inject_fault(provider="bambora", endpoint="fetch", mode="error", status=503, times=2)

    payment_reconcile(payment_id=payment.pk, actor=Actor.system("reconcile"))
    operation.refresh_from_db()
    assert operation.needs_person_since is None
    clock.advance(settings.NEEDS_PERSON_AFTER_HOURS * 3600 + settings.PROVIDER_TIMEOUT)
    [finding] = payment_reconcile(payment_id=payment.pk, actor=Actor.system("reconcile"))

    operation.refresh_from_db()
    assert operation.needs_person_since is not None
    assert finding.message.startswith("The provider could not be asked: Bambora had an internal error (HTTP 503).")
    assert "needs a person" in finding.message


@pytest.mark.django_db
def test_a_refund_the_provider_still_processes_needs_a_person_only_after_the_hours(
    make_payment, sandbox, settings, clock
):
    settings.NEEDS_PERSON_AFTER_CHECKS = 1
    payment = make_payment("optty", currency="AUD", amount=10_000, captured=10_000, at_provider=False)
    sandbox.create_payment(provider="optty", reference=payment.reference, currency="AUD", amount=10_000,
                           captured=10_000, pending_refunds=True)
    operation = refund_request(payment_id=payment.pk, amount=2_500, reason="goodwill",
                               actor=Actor.system("tests"), idempotency_key=new_idempotency_key())
    assert operation.status == OperationStatus.PENDING

    for _ in range(3):
        [finding] = payment_reconcile(payment_id=payment.pk, actor=Actor.system("reconcile"))
    operation.refresh_from_db()
    assert (operation.status, operation.checks, operation.needs_person_since) == (OperationStatus.PENDING, 0, None)
    assert finding.message == "The provider is still processing the refund."

    clock.advance(settings.NEEDS_PERSON_AFTER_HOURS * 3600 + settings.PROVIDER_TIMEOUT)
    payment_reconcile(payment_id=payment.pk, actor=Actor.system("reconcile"))
    operation.refresh_from_db()
    assert operation.needs_person_since is not None


@pytest.mark.django_db(transaction=True)
def test_two_checks_of_one_payment_never_run_at_once(make_payment, sandbox, sandbox_server, settings, clock):
    # given: a refund of unknown outcome (Bambora never got it), and a check under way whose
    # read of the payment Bambora holds
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="error", status=503)
    operation = refund_request(payment_id=payment.pk, amount=2_500, reason="goodwill",
                               actor=Actor.system("tests"), idempotency_key=new_idempotency_key())
    clock.advance(settings.PROVIDER_TIMEOUT + settings.RECONCILE_IN_FLIGHT_MARGIN + 1)
    sandbox.clear_requests()
    sandbox.inject_fault(provider="bambora", endpoint="fetch", mode="held")
    first = in_background(lambda: payment_reconcile(payment_id=payment.pk, actor=Actor.system("worker 1")))
    assert sandbox_server.sandbox.wait_for_held(1, provider="bambora", endpoint="fetch")

    # when: another check of the same payment starts meanwhile (a second worker, the button)
    [second] = payment_reconcile(payment_id=payment.pk, actor=Actor.system("worker 2"))

    # then: it asks nothing and changes nothing
    assert (second.resolved, second.message) == (False, BUSY)
    assert [r["endpoint"] for r in sandbox.requests("bambora")] == ["fetch"]
    # and the first one, once Bambora answers, sends the refund, once
    sandbox.release()
    [found] = first()
    operation.refresh_from_db()
    assert found.resolved and operation.status == OperationStatus.SUCCEEDED
    assert [r["endpoint"] for r in sandbox.requests("bambora")] == ["fetch", "refund"]
    assert sandbox.payment(provider="bambora", reference=payment.reference)["refunded"] == 2_500
    # and the lock is free again
    assert payment_reconcile(payment_id=payment.pk, actor=Actor.system("worker 2")) == []


@pytest.mark.django_db(transaction=True)
def test_a_late_answer_to_an_earlier_attempt_does_not_settle_the_one_sent_again(
    make_payment, sandbox, sandbox_server, settings, clock
):
    # given: a refund that Bambora refuses (it holds nothing captured), its answer on the way
    settings.PROVIDER_TIMEOUT = 10
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000, at_provider=False)
    sandbox.create_payment(provider="bambora", reference=payment.reference, currency="EUR", amount=10_000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="held")
    first_attempt = in_background(lambda: refund_request(
        payment_id=payment.pk, amount=2_500, reason="goodwill", actor=Actor.system("agent"),
        idempotency_key=new_idempotency_key(),
    ))
    assert sandbox_server.sandbox.wait_for_held(1, provider="bambora", endpoint="refund")
    # and the process waiting for it stalls past the call's deadline and margin: reconciliation
    # takes the call for abandoned, finds no refund, and sends it again; no answer proves
    # what became of that attempt
    clock.advance(settings.PROVIDER_TIMEOUT + settings.RECONCILE_IN_FLIGHT_MARGIN + 1)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="error", status=503)
    [finding] = payment_reconcile(payment_id=payment.pk, actor=Actor.system("reconcile"))
    operation = Operation.objects.get(payment=payment, kind=OperationKind.REFUND)
    assert operation.status == OperationStatus.UNKNOWN, finding.message

    # when: the first attempt's refusal arrives at last
    sandbox.release()
    first_attempt()

    # then: it does not settle the attempt sent since: still unknown, its amount reserved, and
    # the late answer is on record
    operation.refresh_from_db()
    assert operation.status == OperationStatus.UNKNOWN
    assert payment_balances(payment=payment).refundable == 7_500
    answers = AuditEvent.objects.filter(operation=operation, action=AuditAction.PROVIDER_ANSWERED).order_by("pk")
    assert [event.message.split(".")[0] for event in answers] == [
        "Bambora had an internal error (HTTP 503)",
        "The answer to an earlier attempt came after the operation was sent again; not booked",
    ]
    assert "It said: failed (Bambora refused the refund" in answers[1].message
