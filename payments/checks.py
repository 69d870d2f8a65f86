"""Startup checks of settings that a typo would otherwise turn into wrong money decisions."""

from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.checks import Error, register

from payments.money import InvalidAmount, UnknownCurrency, to_minor


@register()
def check_refund_approval_limits(app_configs, **kwargs):
    errors = []
    for currency, limit in settings.REFUND_APPROVAL_LIMITS.items():
        try:
            minor = to_minor(Decimal(str(limit).strip()), currency)
        except (InvalidAmount, UnknownCurrency, InvalidOperation) as error:
            errors.append(
                Error(
                    f"REFUND_APPROVAL_LIMITS: {currency}={limit} is not a valid limit ({error}).",
                    hint="Write limits as CUR=major units, e.g. EUR=500,NOK=5000.",
                    id="payments.E001",
                )
            )
            continue
        if minor < 0:
            errors.append(
                Error(f"REFUND_APPROVAL_LIMITS: {currency} must not be negative.", id="payments.E001")
            )
    return errors
