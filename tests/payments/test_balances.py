"""What can still be done with a payment's money, computed in one place (payments.balances) and
read the same way for one payment, for a page of them, for the approvals queue and for an
export."""

import pytest

from payments.balances import Balances
from payments.exports import payment_rows
from payments.models import OperationKind, Payment
from payments.selectors import (
    annotated_balances,
    approval_queue,
    payment_balances,
    payment_view,
    payments_for_export,
    with_reserved_sums,
)
from payments.services.audit import Actor
from payments.services.ledger import operation_open
from payments.statuses import OperationStatus

pytestmark = pytest.mark.django_db

S = OperationStatus
SYSTEM = Actor.system("tests")


def hold(payment, kind, amount, status):
    return operation_open(payment=payment, kind=kind, amount=amount, status=status, actor=SYSTEM)


@pytest.fixture
def busy_payment(make_payment, make_user):
    """A Vipps payment (it cancels after a capture) of 100.00 NOK, 60.00 captured, with a refund
    request of 10.00 waiting, a refund of 5.00 in flight and a cancel of 10.00 in flight."""
    payment = make_payment("vipps", currency="NOK", amount=10_000, captured=6_000, at_provider=False)
    request = hold(payment, OperationKind.REFUND, 1_000, S.AWAITING_APPROVAL)
    hold(payment, OperationKind.REFUND, 500, S.IN_FLIGHT)
    hold(payment, OperationKind.CANCEL, 1_000, S.IN_FLIGHT)
    return payment, request


EXPECTED = Balances(refundable=4_500, cancellable=3_000, reserved_refunds=1_500, reserved_cancels=1_000,
                    refunds_so_far=1_500)


def test_one_payment_read_alone_in_a_page_in_the_queue_and_in_an_export_has_the_same_balances(
    busy_payment, manager
):
    payment, request = busy_payment

    alone = payment_balances(payment=payment)
    annotated = annotated_balances(with_reserved_sums(Payment.objects.filter(pk=payment.pk)).get())
    on_its_card = payment_view(payment_id=payment.pk).balances
    [queued] = approval_queue(user=manager).items
    [exported] = payments_for_export()

    assert alone == annotated == on_its_card == queued.balances == annotated_balances(exported) == EXPECTED
    [row] = payment_rows(payments_for_export())
    assert row[-1] == "45.00"  # refundable


def test_without_an_operation_the_balances_are_what_the_payment_could_do_were_it_not_there(busy_payment):
    payment, request = busy_payment

    balances = payment_balances(payment=payment, excluding=request)

    assert (balances.refundable, balances.reserved_refunds, balances.refunds_so_far) == (5_500, 500, 500)
    assert balances.cancellable == EXPECTED.cancellable


def test_a_provider_that_cancels_nothing_after_a_capture_has_nothing_cancellable_then(make_payment):
    authorized = make_payment("bambora", currency="EUR", amount=10_000, at_provider=False)
    captured = make_payment("bambora", currency="EUR", amount=10_000, captured=4_000, at_provider=False)

    assert payment_balances(payment=authorized).cancellable == 10_000
    assert payment_balances(payment=captured).cancellable == 0
    assert payment_balances(payment=captured).refundable == 4_000


def test_nothing_is_less_than_nothing(make_payment):
    # More reserved than is left (a capture booked meanwhile): nothing, never a negative amount.
    payment = make_payment("vipps", currency="NOK", amount=10_000, captured=0, at_provider=False)
    hold(payment, OperationKind.CANCEL, 10_000, S.IN_FLIGHT)
    hold(payment, OperationKind.CAPTURE, 3_000, S.SUCCEEDED)

    payment.refresh_from_db()
    assert payment_balances(payment=payment).cancellable == 0


@pytest.mark.parametrize(
    ("authorized", "captured", "cancelled", "refunded", "word"),
    [
        (10_000, 0, 0, 0, "authorized"),
        (10_000, 4_000, 0, 0, "partly captured"),
        (10_000, 10_000, 0, 0, "captured"),
        (10_000, 4_000, 6_000, 0, "captured"),
        (10_000, 0, 10_000, 0, "cancelled"),
        (10_000, 0, 4_000, 0, "authorized"),
        (10_000, 10_000, 0, 2_500, "partly refunded"),
        (10_000, 4_000, 6_000, 4_000, "refunded"),
    ],
)
def test_a_payments_state_in_a_word(authorized, captured, cancelled, refunded, word):
    payment = Payment(provider="vipps", authorized=authorized, captured=captured, cancelled=cancelled,
                      refunded=refunded)

    assert payment.status == word


def test_an_export_row_reads_no_more_than_its_chunk(busy_payment, django_assert_max_num_queries):
    # Balances come with the rows' own query: streaming stays one query per chunk.
    with django_assert_max_num_queries(1):
        rows = list(payment_rows(payments_for_export()))
    assert len(rows) == 1
