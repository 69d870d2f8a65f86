"""Money: integer minor units plus an ISO 4217 code, converted at the edges.

Each currency's exponent (JPY 0, EUR 2, KWD 3, ...) comes from CLDR through babel. Amounts are
never floats: text from people and providers becomes an int of minor units, or an error whose
message can be shown as it is.
"""

import re
from decimal import Decimal
from functools import cache

from babel import Locale
from babel.numbers import get_currency_precision, list_currencies, parse_pattern
from django.conf import settings

# Far above any real payment, far below PostgreSQL's bigint, and exact in JavaScript numbers.
MAX_MINOR_UNITS = 10**15

_AMOUNT_TEXT = re.compile(r"(?P<units>[0-9]+)(?:\.(?P<decimals>[0-9]+))?")
_CURRENCY_CODE = re.compile(r"[A-Z]{3}")


class InvalidAmount(ValueError):
    """Text or a number that is not a valid amount; the message is safe to show a person."""


class UnknownCurrency(ValueError):
    """Not an ISO 4217 currency code; the message is safe to show a person."""


@cache
def _known_currencies():
    return frozenset(list_currencies())


def currency_exponent(currency):
    """The number of decimals of `currency` (an ISO 4217 code): JPY 0, EUR 2, KWD 3."""
    if not isinstance(currency, str) or not _CURRENCY_CODE.fullmatch(currency):
        raise UnknownCurrency("Use a three-letter ISO 4217 currency code, such as EUR.")
    if currency not in _known_currencies():
        raise UnknownCurrency(f"{currency} is not a known currency.")
    return get_currency_precision(currency)


def parse_amount(text, currency, *, allow_zero=False):
    """Minor units from major-unit text such as "12.50"; refuses anything but a positive amount
    (or zero, with `allow_zero`).

    Accepts ASCII digits with an optional decimal point, surrounding spaces ignored. Refuses
    (InvalidAmount) zero, negative numbers, more decimals than the currency has, exponents,
    NaN, infinities, thousands separators, digits of other scripts, and absurd sizes.
    """
    exponent = currency_exponent(currency)
    text = (text or "").strip()
    if not text:
        raise InvalidAmount("Enter an amount.")
    if len(text) > 40:
        raise InvalidAmount("That amount is too large.")
    if text.startswith("-"):
        raise InvalidAmount("The amount must be greater than zero.")
    match = _AMOUNT_TEXT.fullmatch(text)
    if not match:
        if "," in text and "." not in text:
            if exponent == 0:
                # No decimals to mistake it for: a thousands separator.
                raise InvalidAmount(f"Write {currency} amounts in digits only, for example 1250.")
            raise InvalidAmount("Use a point for decimals, for example 12.50.")
        raise InvalidAmount("Enter the amount in digits, for example 12.50.")
    decimals = match["decimals"] or ""
    if len(decimals) > exponent:
        if exponent == 0:
            raise InvalidAmount(f"{currency} amounts have no decimals.")
        raise InvalidAmount(f"{currency} amounts have at most {exponent} decimals.")
    minor = to_minor(Decimal(text), currency)
    if minor == 0 and not allow_zero:
        raise InvalidAmount("The amount must be greater than zero.")
    return minor


def to_minor(amount, currency):
    """Minor units from a Decimal (or an int) of major units, exactly, or InvalidAmount."""
    if isinstance(amount, float) or isinstance(amount, bool):
        raise InvalidAmount("Amounts must not be floating-point numbers.")
    amount = Decimal(amount)
    if not amount.is_finite():
        raise InvalidAmount("Enter the amount in digits, for example 12.50.")
    scaled = amount.scaleb(currency_exponent(currency))
    if scaled != scaled.to_integral_value():
        exponent = currency_exponent(currency)
        raise InvalidAmount(
            f"{currency} amounts have no decimals."
            if exponent == 0
            else f"{currency} amounts have at most {exponent} decimals."
        )
    minor = int(scaled)
    if abs(minor) > MAX_MINOR_UNITS:
        raise InvalidAmount("That amount is too large.")
    return minor


def to_major(minor, currency):
    """Major units as an exact Decimal with the currency's number of decimals."""
    exponent = currency_exponent(currency)
    return Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


def format_plain(minor, currency):
    """Major units as plain text for forms, files and providers: "1250.00", "1250" for JPY."""
    return str(to_major(minor, currency))


# Grouped digits, the currency's own number of decimals, then its code: "1,250.00 NOK".
_DISPLAY_PATTERN = parse_pattern("#,##0.00\u00a0¤¤")


@cache
def _locale(name):
    return Locale.parse(name)


def format_money(minor, currency):
    """Amount for display, with grouping and the currency code: "1,250.00 NOK".

    What babel's format_currency does with this pattern, less parsing the pattern and the
    locale for every amount (a page shows hundreds)."""
    return _DISPLAY_PATTERN.apply(
        to_major(minor, currency), _locale(settings.MONEY_LOCALE), currency=currency, currency_digits=True
    )
