"""The moves an operation may make between statuses, checked in one place (transition_to), for
every pair of statuses. The expected table is written out here from DESIGN.md and the
statuses module's docstring, not read from the code under test."""

import ast
import itertools
import re

import pytest

from payments import statuses
from payments.models import Operation, OperationKind
from payments.services.audit import Actor
from payments.services.ledger import operation_open, operation_settle
from payments.statuses import IllegalTransition, OperationStatus, transition_to
from tests.code_scan import ROOT, python_files

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


# The sets of statuses, named once ------------------------------------------------------------

EXPECTED_SETS = {
    # Nothing moves them again.
    "FINAL_STATUSES": {S.SUCCEEDED, S.FAILED, S.REJECTED, S.WITHDRAWN, S.EXPIRED},
    # They may yet move money: their amounts are held back (DESIGN.md, "Domain").
    "RESERVING_STATUSES": {S.AWAITING_APPROVAL, S.APPROVED, S.IN_FLIGHT, S.PENDING, S.UNKNOWN},
    # Their outcome at the provider is not known: reconciliation reads it.
    "UNRESOLVED_STATUSES": {S.IN_FLIGHT, S.PENDING, S.UNKNOWN},
    # Sent, no call running, outcome not known: "Check with provider", "Needs a person".
    "AWAITING_OUTCOME_STATUSES": {S.PENDING, S.UNKNOWN},
    "NEEDING_PERSON_STATUSES": {S.PENDING, S.UNKNOWN},
    # On their way to the provider: "in progress" in lists.
    "BEING_SENT_STATUSES": {S.APPROVED, S.IN_FLIGHT},
}


@pytest.mark.parametrize("name", list(EXPECTED_SETS))
def test_each_set_of_statuses_is_as_designed(name):
    assert getattr(statuses, name) == EXPECTED_SETS[name]


def test_every_status_is_final_or_reserving_and_final_ones_never_move():
    assert statuses.FINAL_STATUSES | statuses.RESERVING_STATUSES == set(OperationStatus)
    assert not statuses.FINAL_STATUSES & statuses.RESERVING_STATUSES
    assert statuses.FINAL_STATUSES == {status for status in OperationStatus if not EXPECTED_MOVES[status]}


def _schema_conditions(tree):
    """The nodes inside the `condition=` of an index or a constraint: schema, which its
    migration fixes as it was written, not a rule the code asks about."""
    return {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == "condition"
        for inner in ast.walk(keyword.value)
    }


def _status_collections(source):
    """Lines of `source` with a list, tuple or set literal of two or more OperationStatus
    members: a set of statuses spelled out where it is used."""
    lines = []
    tree = ast.parse(source)
    schema = _schema_conditions(tree)
    for node in ast.walk(tree):
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)) and id(node) not in schema:
            members = [
                element
                for element in node.elts
                if isinstance(element, ast.Attribute)
                and isinstance(element.value, ast.Name)
                and element.value.id in ("OperationStatus", "S", "status")
            ]
            if len(members) >= 2:
                lines.append(node.lineno)
    return lines


def test_no_code_spells_out_a_set_of_statuses_but_the_statuses_module():
    spelled_out = {
        str(path.relative_to(ROOT)): lines
        for path in python_files("payments", "backoffice")
        if path != ROOT / "payments/statuses.py" and (lines := _status_collections(path.read_text()))
    }

    assert spelled_out == {}
    # and the scan sees one when there is one
    assert _status_collections("Q(status__in=[OperationStatus.UNKNOWN, OperationStatus.PENDING])") == [1]
    assert _status_collections("Index(condition=~Q(status__in=[S.SUCCEEDED, S.FAILED]))") == []


OPERATION_STATUS_COMPARED = re.compile(
    r"(?<!export)\.status\s*(?:==|!=)\s*[\"'](?:" + "|".join(status.value for status in OperationStatus) + r")[\"']"
)


def test_no_template_compares_an_operations_status_with_a_status_of_its_own():
    compared = {
        path.name: found
        for path in sorted((ROOT / "templates").rglob("*.html"))
        if (found := OPERATION_STATUS_COMPARED.findall(path.read_text()))
    }

    assert compared == {}
    assert OPERATION_STATUS_COMPARED.findall('{% if event.operation.status == "awaiting_approval" %}')
