"""The approval limit (DESIGN.md, "Approval"): a refund needs a manager's approval when the
payment's refunds so far, those under way and this one exceed the currency's limit, from
REFUND_APPROVAL_LIMITS (major units per currency). Read here, and only here: the refund service
decides with refund_without_approval(), the desk hands the same figure to the page (the refund
form's data-approval-above, which desk.js only compares the typed amount with), and the startup
check (payments.checks) validates the setting by calling the same parser."""

from decimal import Decimal, InvalidOperation

from django.conf import settings

from payments.balances import Balances
from payments.models import Payment
from payments.money import InvalidAmount, UnknownCurrency, to_minor


class InvalidApprovalLimit(ValueError):
    """A limit of REFUND_APPROVAL_LIMITS that cannot be read; says why."""


class NegativeApprovalLimit(InvalidApprovalLimit):
    pass


def approval_limit_in_minor(*, currency: str, limit: object) -> int:
    """A limit of REFUND_APPROVAL_LIMITS (major units, as text or a number) in minor units of
    `currency`. Raises InvalidApprovalLimit when it is not an amount of that currency (an
    unknown currency, more decimals than it has, not a number), NegativeApprovalLimit when it
    is below zero."""
    try:
        minor = to_minor(Decimal(str(limit).strip()), currency)
    except (InvalidAmount, UnknownCurrency, InvalidOperation) as error:
        raise InvalidApprovalLimit(str(error)) from error
    if minor < 0:
        raise NegativeApprovalLimit(f"{currency} must not be negative.")
    return minor


def refund_approval_limit(*, currency: str) -> int | None:
    """The currency's approval limit in minor units, or None when the currency has none (then
    every refund needs approval)."""
    limit = settings.REFUND_APPROVAL_LIMITS.get(currency)
    return None if limit is None else approval_limit_in_minor(currency=currency, limit=limit)


def refund_without_approval(*, payment: Payment, balances: Balances) -> int:
    """How much more can be refunded on the payment without a manager's approval ("needs
    approval above" this): approval is cumulative per payment, so refunds so far (and those
    under way) count against the limit."""
    limit = refund_approval_limit(currency=payment.currency)
    if limit is None:
        return 0
    return max(0, min(limit - balances.refunds_so_far, balances.refundable))
