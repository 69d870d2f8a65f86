"""How reconciliation decides what became of operations whose outcome was unknown."""

import pytest
from django.core.management import call_command

from payments.models import Operation, Payment
from payments.providers.base import Movement, Outcome, ProviderPayment
from payments.selectors import payment_balances
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.reconcile import Verdict, judge, payment_reconcile
from payments.services.refunds import refund_request
from payments.statuses import OperationStatus
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
                                                            sandbox_server, agent):
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
    # ...which, once the totals can tell, is found never to have happened and is sent again
    call_command("reconcile", stale_after=0)
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

    [finding] = payment_reconcile(payment_id=payment.pk, actor=Actor.system("tests"), stale_after=0)

    unknown.refresh_from_db()
    assert not finding.resolved
    assert finding.message.startswith("The provider holds this payment in CAD, the back office in USD")
    assert unknown.status == OperationStatus.UNKNOWN
