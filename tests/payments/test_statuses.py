"""The moves an operation may make between statuses, checked in one place (transition_to), for
every pair of statuses. The expected table is written out here from DESIGN.md and the
statuses module's docstring, not read from the code under test."""

import itertools

import pytest

from payments.models import Operation, OperationKind
from payments.services.audit import Actor
from payments.services.ledger import operation_open, operation_settle
from payments.statuses import IllegalTransition, OperationStatus, transition_to

S = OperationStatus

EXPECTED_MOVES = {
    S.AWAITING_APPROVAL: {S.APPROVED, S.REJECTED, S.WITHDRAWN, S.EXPIRED},
    S.APPROVED: {S.IN_FLIGHT},
    S.IN_FLIGHT: {S.SUCCEEDED, S.FAILED, S.PENDING, S.UNKNOWN},
    S.PENDING: {S.SUCCEEDED, S.FAILED, S.UNKNOWN},
    # Back to in flight: the retry with the same key, once the provider shows it never happened.
    S.UNKNOWN: {S.SUCCEEDED, S.FAILED, S.PENDING, S.IN_FLIGHT},
    # Final: nothing moves them again.
    S.REJECTED: set(),
    S.WITHDRAWN: set(),
    S.EXPIRED: set(),
    S.SUCCEEDED: set(),
    S.FAILED: set(),
}

ALL_PAIRS = list(itertools.product(OperationStatus, repeat=2))
ALLOWED = [(old, new) for old, new in ALL_PAIRS if new in EXPECTED_MOVES[old]]
REFUSED = [(old, new) for old, new in ALL_PAIRS if new not in EXPECTED_MOVES[old]]


def test_the_expected_table_covers_every_status():
    assert set(EXPECTED_MOVES) == set(OperationStatus)
    assert len(ALLOWED) == 16
    assert len(ALLOWED) + len(REFUSED) == len(OperationStatus) ** 2


@pytest.mark.parametrize(("old", "new"), ALLOWED, ids=[f"{o.value}->{n.value}" for o, n in ALLOWED])
def test_an_allowed_move_changes_the_status(old, new):
    operation = Operation(status=old)

    transition_to(operation, new)

    assert operation.status == new


@pytest.mark.parametrize(("old", "new"), REFUSED, ids=[f"{o.value}->{n.value}" for o, n in REFUSED])
def test_a_refused_move_raises_and_leaves_the_status_alone(old, new):
    operation = Operation(pk=7, status=old)

    with pytest.raises(IllegalTransition) as refused:
        transition_to(operation, new)

    assert operation.status == old
    assert str(refused.value) == f"Operation 7 cannot move from {old} to {new}."


def test_a_status_given_as_text_is_checked_the_same_way():
    operation = Operation(status="in_flight")

    transition_to(operation, "succeeded")

    assert operation.status == S.SUCCEEDED
    with pytest.raises(IllegalTransition):
        transition_to(operation, "in_flight")


def test_a_status_that_does_not_exist_is_refused():
    operation = Operation(status=S.IN_FLIGHT)

    with pytest.raises(ValueError):
        transition_to(operation, "refunded")

    assert operation.status == S.IN_FLIGHT


@pytest.mark.django_db
def test_settling_a_request_still_waiting_for_approval_is_refused_and_moves_no_money(make_payment):
    # A refund waiting for a manager cannot be marked succeeded by a stray webhook or a bug:
    # the ledger service goes through the same table.
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000, at_provider=False)
    operation = operation_open(
        payment=payment,
        kind=OperationKind.REFUND,
        amount=4_000,
        status=S.AWAITING_APPROVAL,
        actor=Actor.system("tests"),
    )

    with pytest.raises(IllegalTransition):
        operation_settle(operation_id=operation.pk, status=S.SUCCEEDED, actor=Actor.system("tests"))

    payment.refresh_from_db()
    operation.refresh_from_db()
    assert payment.refunded == 0
    assert operation.status == S.AWAITING_APPROVAL
    assert operation.settled_amount is None


@pytest.mark.django_db
def test_a_failed_operation_cannot_later_succeed(make_payment):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000, at_provider=False)
    operation = operation_open(
        payment=payment, kind=OperationKind.REFUND, amount=4_000, status=S.IN_FLIGHT, actor=Actor.system("tests")
    )
    operation_settle(operation_id=operation.pk, status=S.FAILED, actor=Actor.system("tests"))

    with pytest.raises(IllegalTransition):
        operation_settle(operation_id=operation.pk, status=S.SUCCEEDED, actor=Actor.system("tests"))

    payment.refresh_from_db()
    assert payment.refunded == 0
    assert Operation.objects.get(pk=operation.pk).status == S.FAILED
