"""The approval limit (DESIGN.md, "Approval"), worked out in one place: payments.approval_limits
reads REFUND_APPROVAL_LIMITS, the refund service decides with it, the desk hands the same
figure to the page, and the startup check validates the setting with the same parser."""

import ast

import pytest

from payments.approval_limits import refund_approval_limit, refund_without_approval
from payments.balances import Balances
from payments.models import Payment
from tests.code_scan import ROOT, python_files

SETTING = "REFUND_APPROVAL_LIMITS"
# The setting is defined in settings.py, read here, and validated at startup (payments.checks),
# which hands each limit to this module's parser.
READERS = {"payments/approval_limits.py", "payments/checks.py", "backoffice/settings.py"}


def balances(*, refundable, refunds_so_far):
    return Balances(refundable=refundable, cancellable=0, reserved_refunds=0, reserved_cancels=0,
                    refunds_so_far=refunds_so_far)


def mentions_of_the_setting(source):
    """Lines of `source` that read the setting (an attribute or a string naming it)."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if (isinstance(node, ast.Attribute) and node.attr == SETTING)
        or (isinstance(node, ast.Constant) and node.value == SETTING)
    ]


def test_nothing_else_reads_the_limits():
    readers = {
        str(path.relative_to(ROOT))
        for path in python_files("payments", "backoffice")
        if mentions_of_the_setting(path.read_text())
    }

    assert readers <= READERS, readers - READERS
    # and the scan sees a reader when there is one
    assert mentions_of_the_setting("limit = settings.REFUND_APPROVAL_LIMITS.get(currency)") == [1]


@pytest.mark.parametrize(
    ("refundable", "refunds_so_far", "without_approval"),
    [
        (100_000, 0, 50_000),  # the limit
        (30_000, 0, 30_000),  # no more than can be refunded
        (100_000, 20_000, 30_000),  # refunds so far, and those under way, count against it
        (100_000, 60_000, 0),  # never below nothing
    ],
)
def test_what_can_be_refunded_without_approval(settings, refundable, refunds_so_far, without_approval):
    settings.REFUND_APPROVAL_LIMITS = {"EUR": "500"}
    payment = Payment(currency="EUR")

    assert refund_without_approval(
        payment=payment, balances=balances(refundable=refundable, refunds_so_far=refunds_so_far)
    ) == without_approval


def test_a_currency_without_a_limit_needs_approval_for_every_refund(settings):
    settings.REFUND_APPROVAL_LIMITS = {"EUR": "500"}

    assert refund_approval_limit(currency="NOK") is None
    assert refund_without_approval(
        payment=Payment(currency="NOK"), balances=balances(refundable=100_000, refunds_so_far=0)
    ) == 0
