"""The startup check of REFUND_APPROVAL_LIMITS: a limit the refunds could not read, or would
read wrongly, stops `manage.py check` (and so the app's start) with the setting named."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from payments.approval_limits import refund_approval_limit
from payments.checks import check_refund_approval_limits

HINT = "Write limits as CUR=major units, e.g. EUR=500,NOK=5000."


def test_the_default_limits_pass(settings):
    assert check_refund_approval_limits(None) == []


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"EUR": "five hundred"}, "EUR=five hundred is not a valid limit"),
        ({"EUR": "500.001"}, "EUR=500.001 is not a valid limit (EUR amounts have at most 2 decimals.)"),
        ({"JPY": "10.5"}, "JPY=10.5 is not a valid limit (JPY amounts have no decimals.)"),
        ({"EURO": "500"}, "EURO=500 is not a valid limit (Use a three-letter ISO 4217 currency code"),
        ({"XYZ": "500"}, "XYZ=500 is not a valid limit (XYZ is not a known currency.)"),
        ({"EUR": "NaN"}, "EUR=NaN is not a valid limit"),
        ({"EUR": "Infinity"}, "EUR=Infinity is not a valid limit"),
        ({"EUR": "1e30"}, "EUR=1e30 is not a valid limit (That amount is too large.)"),
    ],
)
def test_a_limit_that_is_no_amount_of_its_currency_is_an_error(settings, limits, message):
    settings.REFUND_APPROVAL_LIMITS = {"NOK": "5000", **limits}

    [error] = check_refund_approval_limits(None)

    assert error.id == "payments.E001"
    assert error.msg.startswith(f"REFUND_APPROVAL_LIMITS: {message}"), error.msg
    assert error.hint == HINT


def test_a_negative_limit_is_an_error(settings):
    settings.REFUND_APPROVAL_LIMITS = {"EUR": "-1"}

    [error] = check_refund_approval_limits(None)

    assert (error.id, error.msg) == ("payments.E001", "REFUND_APPROVAL_LIMITS: EUR must not be negative.")


def test_the_check_reads_limits_as_the_refunds_do(settings):
    # Whatever the check passes, the approval rule reads alike: spaces, numbers, no decimals.
    settings.REFUND_APPROVAL_LIMITS = {"EUR": " 500 ", "JPY": 1000, "KWD": "0.125", "NOK": "0"}

    assert check_refund_approval_limits(None) == []
    assert [refund_approval_limit(currency=code) for code in ("EUR", "JPY", "KWD", "NOK", "SEK")] == [
        50_000, 1_000, 125, 0, None,
    ]


def test_manage_py_check_stops_at_a_bad_limit(settings):
    settings.REFUND_APPROVAL_LIMITS = {"EUR": "5OO"}

    with pytest.raises(SystemCheckError, match=r"payments\.E001.*EUR=5OO is not a valid limit"):
        call_command("check")
