"""Money: integer minor units plus an ISO 4217 code, converted at the edges.

Each currency's exponent (JPY 0, EUR 2, KWD 3, ...) comes from CLDR through babel. Amounts are
never floats: text from people and providers becomes an int of minor units, or an error whose
message can be shown as it is.
"""

import operator
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from functools import cache

from babel import Locale
from babel.numbers import (
    NumberFormatError,
    NumberPattern,
    get_currency_precision,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
    list_currencies,
    parse_decimal,
    parse_pattern,
)
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
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def currency_exponent(currency: str) -> int:
    """The number of decimals of `currency` (an ISO 4217 code): JPY 0, EUR 2, KWD 3."""
    if not isinstance(currency, str) or not _CURRENCY_CODE.fullmatch(currency):
        raise UnknownCurrency("Use a three-letter ISO 4217 currency code, such as EUR.")
    if currency not in _known_currencies():
        raise UnknownCurrency(f"{currency} is not a known currency.")
    return get_currency_precision(currency)


def parse_amount(text: str | None, currency: str, *, allow_zero: bool = False) -> int:
    """Minor units from major-unit text such as "12.50", as machines write it (the intake API,
    files); refuses anything but a positive amount (or zero, with `allow_zero`). What people
    type goes through parse_typed_amount().

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
        raise InvalidAmount(_too_many_decimals(currency, exponent))
    minor = to_minor(Decimal(text), currency)
    if minor == 0 and not allow_zero:
        raise InvalidAmount("The amount must be greater than zero.")
    return minor


def _too_many_decimals(currency: str, exponent: int) -> str:
    if exponent == 0:
        return f"{currency} amounts have no decimals."
    return f"{currency} amounts have at most {exponent} decimals."


def to_minor(amount: Decimal | int, currency: str) -> int:
    """Minor units from a Decimal (or an int) of major units, exactly, or InvalidAmount."""
    if isinstance(amount, float) or isinstance(amount, bool):
        raise InvalidAmount("Amounts must not be floating-point numbers.")
    amount = Decimal(amount)
    if not amount.is_finite():
        raise InvalidAmount("Enter the amount in digits, for example 12.50.")
    exponent = currency_exponent(currency)
    scaled = amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise InvalidAmount(_too_many_decimals(currency, exponent))
    minor = int(scaled)
    if abs(minor) > MAX_MINOR_UNITS:
        raise InvalidAmount("That amount is too large.")
    return minor


def to_major(minor: int, currency: str) -> Decimal:
    """Major units as an exact Decimal with the currency's number of decimals."""
    exponent = currency_exponent(currency)
    return Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


def format_plain(minor: int, currency: str) -> str:
    """Major units as plain text for forms, files and providers: "1250.00", "1250" for JPY."""
    return str(to_major(minor, currency))


@cache
def _locale(name: str) -> Locale:
    return Locale.parse(name)


# The locales people can choose to write and read amounts in (their example: how 1234.50 is
# written). Whatever MONEY_LOCALE says is the default for everybody who has not chosen.
MONEY_LOCALES = {
    "en": "English",
    "nb": "Norsk bokmål",
    "da": "Dansk",
    "sv": "Svenska",
    "de": "Deutsch",
}

# The locale of the person being served (set per request by backoffice.middleware); None:
# settings.MONEY_LOCALE.
_current_locale: ContextVar[str | None] = ContextVar("money_locale", default=None)


def locale_name(locale: str) -> str:
    """The locale's name in its own language: "Norsk bokmål"."""
    return MONEY_LOCALES.get(locale) or (_locale(locale).get_display_name() or locale).capitalize()


def current_money_locale() -> str:
    """The locale amounts are written and read in now: the person's own, or MONEY_LOCALE."""
    return _current_locale.get() or settings.MONEY_LOCALE


@contextmanager
def money_locale(name: str | None) -> Iterator[None]:
    """Write and read amounts in locale `name` (None: MONEY_LOCALE) within the block."""
    token = _current_locale.set(name or None)
    try:
        yield
    finally:
        _current_locale.reset(token)


@cache
def _display_symbols(locale: str) -> tuple[str, str]:
    """The decimal and grouping symbols `locale` writes amounts with."""
    return get_decimal_symbol(_locale(locale)), get_group_symbol(_locale(locale))


def format_money(minor: int, currency: str) -> str:
    """Amount for display, with grouping and the currency code, in the current locale (see
    money_locale()): "1,250.00 NOK", "1 250,00 NOK" in nb.

    What babel's format_currency writes with the pattern "#,##0.00 ¤¤" (grouped digits, the
    currency's own number of decimals, then its code after a no-break space), which the tests
    hold it to, written here with integer arithmetic and the locale's two symbols: a list page
    shows hundreds of amounts, and babel's general formatter cost as much as the rest of a row."""
    minor = operator.index(minor)
    exponent = currency_exponent(currency)
    decimal, group = _display_symbols(current_money_locale())
    units, fraction = divmod(abs(minor), 10**exponent)
    number = f"{units:,}".replace(",", group)
    if exponent:
        number = f"{number}{decimal}{fraction:0{exponent}d}"
    return f"{'-' if minor < 0 else ''}{number}\u00a0{currency}"


@cache
def _typing_pattern(exponent: int) -> NumberPattern:
    return parse_pattern("#,##0" + ("." + "0" * exponent if exponent else ""))


def format_typed(minor: int, currency: str, *, locale: str | None = None) -> str:
    """An amount as a person types it in a form, in the current locale and without the
    currency: "1,234.50", "1 234,50" in nb. parse_typed_amount() reads it back."""
    exponent = currency_exponent(currency)
    return _typing_pattern(exponent).apply(
        to_major(minor, currency), _locale(locale or current_money_locale())
    )


_SPACES = " \u00a0\u202f\u2009"
# What may be left of typed text once a currency sign or code around it is taken off: ASCII
# digits (Python's Decimal also reads other scripts' digits), separators and spaces, starting
# and ending with a digit. Exponents, NaN and the like never get to babel.
_TYPED_NUMBER = re.compile(rf"[0-9](?:[0-9.,{_SPACES}]*[0-9])?")
# One "." or "," before the last three digits, and no other separator: "1,234".
_LONE_SEPARATOR = re.compile(r"[0-9]+[.,][0-9]{3}")
_OTHER_CURRENCY = re.compile(r"[A-Za-z]{3}")


@cache
def typing_symbols(locale: str) -> tuple[str, str]:
    """How numbers are written in `locale`: (decimal symbol, the symbols read as grouping).

    Grouping is the locale's own symbol, any kind of space, and whichever of "." and "," is
    not the decimal symbol: people in Norway write 1.234,50 as well as 1 234,50, people
    everywhere group with spaces."""
    loc = _locale(locale)
    decimal = get_decimal_symbol(loc)
    groups = {get_group_symbol(loc), *_SPACES, *({".", ","} - {decimal})}
    return decimal, "".join(sorted(groups))


@cache
def currency_marks(currency: str, locale: str) -> tuple[str, ...]:
    """What may stand before or after an amount in `currency`: its code and its signs as the
    people of the desk's locales write them ("kr", "kr.", "€", "US$" ...), longest first."""
    marks = {currency}
    for name in {locale, *MONEY_LOCALES}:
        symbol = get_currency_symbol(currency, _locale(name))
        marks |= {symbol, symbol.rstrip(".")}
    return tuple(sorted((mark for mark in marks if mark), key=len, reverse=True))


def _without_currency(text: str, currency: str, locale: str) -> str:
    """`text` less one currency sign or code of `currency` before or after it."""
    folded = text.casefold()
    for mark in currency_marks(currency, locale):
        if folded.startswith(mark.casefold()):
            return text[len(mark) :].strip()
        if folded.endswith(mark.casefold()):
            return text[: -len(mark)].strip()
    return text


def parse_typed_amount(text: str | None, currency: str, *, locale: str | None = None) -> int:
    """Minor units from an amount as a person types it in their locale (the current one, see
    money_locale()): "12,50", "1 234,50" and "1.234,50" in nb, da, sv and de; "1,234.50" in
    en; with the currency's sign or code before or after it ("kr 12,50", "12.50 EUR").

    Parsed by babel, strictly: text that can be read more than one way ("12.50" in nb, "12,50"
    in en) is refused (InvalidAmount) with a message that shows how to write it, as is zero,
    a negative amount, more decimals than the currency has, another currency and absurd
    sizes.
    """
    locale = locale or current_money_locale()
    exponent = currency_exponent(currency)
    example = format_typed(123450 * 10**exponent // 100, currency, locale=locale)
    how = f"Write amounts like {example}."
    text = (text or "").strip()
    if not text:
        raise InvalidAmount("Enter an amount.")
    if len(text) > 40:
        raise InvalidAmount("That amount is too large.")
    number = _without_currency(text, currency, locale)
    if number[:1] in ("-", "\u2212"):
        raise InvalidAmount("The amount must be greater than zero.")
    if not _TYPED_NUMBER.fullmatch(number):
        other = _OTHER_CURRENCY.search(number)
        if other and other[0].upper() in _known_currencies() and other[0].upper() != currency:
            raise InvalidAmount(f"This payment is in {currency}, not {other[0].upper()}.")
        raise InvalidAmount(f"Enter the amount in digits, for example {example}.")
    decimal, groups = typing_symbols(locale)
    group = get_group_symbol(_locale(locale))
    readable = "".join(group if char in groups and char != decimal else char for char in number)
    try:
        value = parse_decimal(readable, _locale(locale), strict=True)
    except NumberFormatError as error:
        raise InvalidAmount(_readings(text, number, error, currency, locale) + " " + how) from error
    written_decimals = len(number.partition(decimal)[2])
    if written_decimals > exponent:
        # Counted as written, not by value: "12,500" may be somebody's twelve thousand five
        # hundred.
        raise InvalidAmount(_too_many_decimals(currency, exponent) + " " + how)
    if exponent >= 3 and _LONE_SEPARATOR.fullmatch(number) and decimal not in number:
        # "1,234" in en is 1234, and also 1.234 as written in Germany: both are amounts here.
        readings = [format_typed(to_minor(value, currency), currency, locale=locale),
                    format_typed(to_minor(value / 1000, currency), currency, locale=locale)]
        raise InvalidAmount(f"“{text}” can be read two ways: write {readings[0]} or {readings[1]}.")
    try:
        minor = to_minor(value, currency)
    except InvalidAmount as error:
        raise InvalidAmount(f"{error} {how}") from error
    if minor == 0:
        raise InvalidAmount("The amount must be greater than zero.")
    return minor


def _readings(text: str, number: str, error: NumberFormatError, currency: str, locale: str) -> str:
    """What `text` (`number` once its currency is taken off) could mean, as amounts of
    `currency` written in `locale`: babel's suggestions, and the number as written where the
    decimal symbol is the other one ("1 234.50" in Sweden is most likely 1 234,50)."""
    values = []
    for suggestion in error.suggestions or []:
        try:
            values.append(parse_decimal(suggestion, _locale(locale)))
        except NumberFormatError:
            continue
    decimal, _ = typing_symbols(locale)
    other = "en" if decimal == "," else "de"
    try:
        values.append(parse_decimal(number.replace(" ", get_group_symbol(other)), other, strict=True))
    except NumberFormatError:
        pass
    readings = []
    for value in values:
        try:
            minor = to_minor(value, currency)
        except InvalidAmount:
            continue
        reading = format_typed(minor, currency, locale=locale)
        if minor > 0 and reading not in readings:
            readings.append(reading)
    if not readings:
        return f"“{text}” is not an amount as it is written here."
    return f"“{text}” is not written as amounts are here: did you mean {' or '.join(readings)}?"
