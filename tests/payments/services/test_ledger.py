"""The ledger: settling an operation moves the payment's aggregate, once, in the same
transaction; and whatever agents, managers, providers and reconciliation do, in whatever
order, every aggregate equals the sum of its settled operations, nothing more is reserved than
the payment holds, and the provider never holds more than we booked or held back."""

from pathlib import Path

import hypothesis
import pytest
from hypothesis import strategies as st

from payments.exceptions import ActionRefused
from payments.models import AuditAction, AuditEvent, Operation, OperationKind, RefundReason
from payments.selectors import ledger_mismatches, payment_balances
from payments.services.audit import Actor
from payments.services.cancels import payment_cancel
from payments.services.ledger import (
    new_idempotency_key,
    operation_open,
    operation_record_external,
    operation_settle,
)
from payments.services.reconcile import payment_reconcile
from payments.services.refunds import refund_approve, refund_reject, refund_request, refund_withdraw
from payments.statuses import RESERVING_STATUSES, UNRESOLVED_STATUSES, OperationStatus
from tests.code_scan import ROOT, aggregate_writes, python_files

pytestmark = pytest.mark.django_db

S = OperationStatus
SYSTEM = Actor.system("tests")


def open_refund(payment, amount, status=S.IN_FLIGHT):
    return operation_open(
        payment=payment, kind=OperationKind.REFUND, amount=amount, status=status, actor=SYSTEM
    )


def test_a_success_moves_the_aggregate_by_what_the_provider_confirmed(make_payment):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000, at_provider=False)
    operation = open_refund(payment, 4_000)

    settled = operation_settle(
        operation_id=operation.pk, status=S.SUCCEEDED, settled_amount=3_500, actor=SYSTEM
    )

    payment.refresh_from_db()
    assert (settled.status, settled.settled_amount) == (S.SUCCEEDED, 3_500)
    assert settled.settled_at is not None
    assert payment.refunded == 3_500
    event = AuditEvent.objects.get(operation=operation, action=AuditAction.OPERATION_SETTLED)
    assert event.before["refunded"] == 0
    assert event.after == {
        "authorized": 10_000,
        "captured": 10_000,
        "cancelled": 0,
        "refunded": 3_500,
        "status": "succeeded",
    }
    assert not ledger_mismatches().exists()


def test_the_same_success_reported_twice_moves_the_money_once(make_payment):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000, at_provider=False)
    operation = open_refund(payment, 4_000)

    operation_settle(operation_id=operation.pk, status=S.SUCCEEDED, actor=SYSTEM)
    operation_settle(operation_id=operation.pk, status=S.SUCCEEDED, actor=SYSTEM)

    payment.refresh_from_db()
    assert payment.refunded == 4_000
    assert not ledger_mismatches().exists()


def test_a_failure_moves_nothing_and_releases_the_amount(make_payment):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000, at_provider=False)
    operation = open_refund(payment, 4_000)
    assert payment_balances(payment=payment).refundable == 6_000

    operation_settle(
        operation_id=operation.pk, status=S.FAILED, failure_message="Refused.", actor=SYSTEM
    )

    payment.refresh_from_db()
    assert payment.refunded == 0
    assert payment_balances(payment=payment).refundable == 10_000
    assert Operation.objects.get(pk=operation.pk).failure_message == "Refused."


def test_a_confirmed_amount_the_payment_cannot_hold_is_left_for_a_person(make_payment):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000, at_provider=False)
    operation = open_refund(payment, 4_000)

    settled = operation_settle(
        operation_id=operation.pk, status=S.SUCCEEDED, settled_amount=10_001, actor=SYSTEM
    )

    payment.refresh_from_db()
    assert settled.status == S.UNKNOWN
    assert "does not fit this payment" in settled.failure_message
    assert payment.refunded == 0
    # Still reserved: it may have moved money.
    assert payment_balances(payment=payment).refundable == 6_000


def test_money_moved_outside_the_back_office_is_booked_as_its_own_operation(make_payment):
    payment = make_payment("vipps", currency="NOK", amount=10_000, captured=10_000, at_provider=False)

    operation = operation_record_external(
        payment=payment, kind=OperationKind.REFUND, amount=2_500, actor=SYSTEM
    )

    payment.refresh_from_db()
    assert (operation.source, operation.status, operation.settled_amount) == ("provider", S.SUCCEEDED, 2_500)
    assert payment.refunded == 2_500
    assert AuditEvent.objects.filter(operation=operation, action=AuditAction.EXTERNAL_RECORDED).exists()
    assert not ledger_mismatches().exists()


# Random sequences through the real services, against the sandbox ---------------------------

AUTHORIZED = 100_000
LIMIT_MAJOR = "300"  # 30,000 minor units: a large refund waits for a manager

STEP = st.one_of(
    # A refund of this percentage of what is refundable (over 100: more than allowed).
    st.tuples(st.just("refund"), st.integers(min_value=1, max_value=110)),
    st.tuples(st.sampled_from(["approve", "reject", "withdraw"]), st.integers(min_value=0, max_value=3)),
    st.tuples(st.just("cancel"), st.just(0)),
    # The provider's next answer to a refund or cancel goes wrong: 503 (nothing done), the
    # answer lost after doing it, or a definite refusal.
    st.tuples(
        st.just("fault"),
        st.tuples(st.sampled_from(["refund", "cancel"]), st.sampled_from(["error", "lost_answer", "status"])),
    ),
    st.tuples(st.just("reconcile"), st.just(0)),
)


def _waiting(payment, index):
    waiting = list(
        Operation.objects.filter(payment=payment, status=S.AWAITING_APPROVAL).order_by("pk")
    )
    return waiting[index % len(waiting)] if waiting else None


def _take(step, *, payment, agent, manager, sandbox):
    """Carry out one step as a person or the system would; a refusal (ActionRefused) is a
    legitimate outcome, anything else raised is a failure of the test."""
    action, arg = step
    as_agent, as_manager = Actor.of_user(agent), Actor.of_user(manager)
    try:
        match action:
            case "refund":
                refundable = payment_balances(payment=payment).refundable
                refund_request(
                    payment_id=payment.pk,
                    amount=max(1, -(-refundable * arg // 100)),
                    reason=RefundReason.GOODWILL,
                    actor=as_agent,
                    idempotency_key=new_idempotency_key(),
                )
            case "approve" | "reject" | "withdraw":
                request = _waiting(payment, arg)
                if request is None:
                    return
                if action == "approve":
                    refund_approve(operation_id=request.pk, actor=as_manager)
                elif action == "reject":
                    refund_reject(operation_id=request.pk, actor=as_manager, note="Not this time.")
                else:
                    refund_withdraw(operation_id=request.pk, actor=as_agent)
            case "cancel":
                payment_cancel(
                    payment_id=payment.pk,
                    expected_amount=payment_balances(payment=payment).cancellable,
                    actor=as_agent,
                    idempotency_key=new_idempotency_key(),
                )
            case "fault":
                endpoint, mode = arg
                sandbox.inject_fault(
                    provider=payment.provider,
                    endpoint=endpoint,
                    mode=mode,
                    status=409 if mode == "status" else 503 if mode == "error" else None,
                )
            case "reconcile":
                payment_reconcile(payment_id=payment.pk, actor=Actor.system("reconcile"))
    except ActionRefused:
        pass


def _reserved(payment, kind):
    return sum(
        payment.operations.filter(kind=kind, status__in=RESERVING_STATUSES).values_list("amount", flat=True)
    )


def _assert_consistent(payment, sandbox):
    payment.refresh_from_db()
    assert list(ledger_mismatches().filter(pk=payment.pk)) == []
    reserved_refunds = _reserved(payment, OperationKind.REFUND)
    reserved_cancels = _reserved(payment, OperationKind.CANCEL)
    # What is held back never exceeds what the payment holds: refundable and cancellable,
    # before any clamping to zero, are never negative.
    assert payment.captured - payment.refunded - reserved_refunds >= 0
    assert payment.authorized - payment.captured - payment.cancelled - reserved_cancels >= 0
    balances = payment_balances(payment=payment)
    assert balances.refundable == payment.captured - payment.refunded - reserved_refunds
    assert 0 <= balances.cancellable <= payment.authorized - payment.captured - payment.cancelled
    # The provider moved at least what we booked, and nothing beyond what we booked or hold
    # back as possibly under way: no refund or cancel ever happened twice.
    seen = sandbox.payment(provider=payment.provider, reference=payment.reference)
    assert payment.refunded <= seen["refunded"] <= payment.refunded + reserved_refunds
    assert payment.cancelled <= seen["cancelled"] <= payment.cancelled + reserved_cancels
    assert seen["captured"] == payment.captured


@hypothesis.settings(
    max_examples=30,
    deadline=None,
    database=None,
    # No shrinking: each example goes through the sandbox over HTTP, so shrinking a failure
    # would outlast the suite's timeout, and eight steps at most read well as they are.
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.reuse, hypothesis.Phase.generate],
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture, hypothesis.HealthCheck.too_slow],
)
@hypothesis.given(
    provider=st.sampled_from(["bambora", "vipps"]),
    captured=st.sampled_from([0, 40_000, AUTHORIZED]),
    steps=st.lists(STEP, min_size=1, max_size=8),
)
def test_aggregates_equal_the_ledger_after_any_sequence_of_operations(
    make_payment, agent, manager, sandbox, settings, provider, captured, steps
):
    settings.REFUND_APPROVAL_LIMITS = {"EUR": LIMIT_MAJOR, "NOK": LIMIT_MAJOR}
    sandbox.clear_faults()
    currency = "EUR" if provider == "bambora" else "NOK"
    payment = make_payment(provider, currency=currency, amount=AUTHORIZED, captured=captured)

    for step in steps:
        _take(step, payment=payment, agent=agent, manager=manager, sandbox=sandbox)
        _assert_consistent(payment, sandbox)

    # Then the provider answers normally again and reconciliation looks at what is unknown.
    sandbox.clear_faults()
    payment_reconcile(payment_id=payment.pk, actor=Actor.system("reconcile"))
    _assert_consistent(payment, sandbox)
    assert not ledger_mismatches().exists()
    if not payment.operations.filter(status__in=UNRESOLVED_STATUSES).exists():
        seen = sandbox.payment(provider=provider, reference=payment.reference)
        assert (seen["refunded"], seen["cancelled"]) == (payment.refunded, payment.cancelled)


# Only the ledger writes an aggregate ---------------------------------------------------------

LEDGER = Path("payments/services/ledger.py")


def aggregate_writers(root):
    """Every place under `root`'s payments/ and backoffice/ (migrations aside) that writes a
    payment's aggregate, outside the ledger: {file: [(line, what)]}."""
    writers = {}
    for path in python_files("payments", "backoffice", root=root):
        relative = path.relative_to(root)
        if relative != LEDGER and (writes := aggregate_writes(path.read_text())):
            writers[str(relative)] = writes
    return writers


def test_only_the_ledger_writes_a_payments_aggregate():
    assert aggregate_writers(ROOT) == {}


PLANTED = '''
from django.db.models import F

def sneak(payment, Payment, kind):
    payment.captured = 5
    payment.refunded += 1
    payment.cancelled, other = 1, 2
    setattr(payment, "authorized", 7)
    setattr(payment, kind, 8)
    Payment.objects.filter(pk=1).update(refunded=F("refunded") + 1)
    Payment.objects.create(order=None, authorized=100)
    Payment.objects.update_or_create(pk=1, defaults={"captured": 3})
    Payment(authorized=1)
    payment.save(update_fields=["cancelled"])
    Payment.objects.bulk_update([payment], ["refunded"])
    setattr(payment, FIELD, 9)

def innocent(payment, ProviderPayment, Q):
    seen = ProviderPayment(captured=1, refunded=2)
    total = payment.captured + payment.refunded
    setattr(payment, _TOTAL_CACHE, total)
    return Q(refunded=F("captured")), seen, total

FIELD = "refunded"
_TOTAL_CACHE = "_total"
'''


def test_the_scan_finds_an_aggregate_written_outside_the_ledger_in_any_way(tmp_path):
    # given: a module planted among the services, writing the aggregate every way there is
    for folder in ("payments/services", "backoffice"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "payments/services/planted.py").write_text(PLANTED)
    (tmp_path / LEDGER).write_text(PLANTED)  # the ledger may

    # when
    writers = aggregate_writers(tmp_path)

    # then: every write in sneak() is found, nothing in innocent()
    assert list(writers) == ["payments/services/planted.py"]
    assert sorted({line for line, _ in writers["payments/services/planted.py"]}) == list(range(5, 17))
