"""Startup checks of settings that a typo would otherwise turn into wrong money decisions."""

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from payments.approval_limits import InvalidApprovalLimit, NegativeApprovalLimit, approval_limit_in_minor


@register()
def check_refund_approval_limits(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """Every limit of REFUND_APPROVAL_LIMITS read as the refunds will read it."""
    errors: list[CheckMessage] = []
    for currency, limit in settings.REFUND_APPROVAL_LIMITS.items():
        try:
            approval_limit_in_minor(currency=currency, limit=limit)
        except NegativeApprovalLimit as error:
            errors.append(Error(f"REFUND_APPROVAL_LIMITS: {error}", id="payments.E001"))
        except InvalidApprovalLimit as error:
            errors.append(
                Error(
                    f"REFUND_APPROVAL_LIMITS: {currency}={limit} is not a valid limit ({error}).",
                    hint="Write limits as CUR=major units, e.g. EUR=500,NOK=5000.",
                    id="payments.E001",
                )
            )
    return errors
