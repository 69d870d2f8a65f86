from babel.numbers import get_group_symbol
from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from payments.money import (
    currency_exponent,
    currency_marks,
    current_money_locale,
    format_money,
    format_plain,
    typing_symbols,
)

register = template.Library()


@register.filter
def money(minor: int | None, currency: str | None) -> str:
    """{{ payment.captured|money:payment.currency }} -> "1,250.00 NOK"."""
    if minor is None or not currency:
        return ""
    return format_money(minor, currency)


@register.filter
def major(minor: int | None, currency: str | None) -> str:
    """Plain major units for form fields: {{ amount|major:"NOK" }} -> "1250.00"."""
    if minor is None or not currency:
        return ""
    return format_plain(minor, currency)


@register.filter
def exponent(currency: str) -> int:
    """The currency's number of decimals: {{ "JPY"|exponent }} -> 0."""
    return currency_exponent(currency)


@register.filter
def thousands(count: int | None) -> str:
    """A count with thousands separated: {{ 1199921|thousands }} -> "1,199,921"."""
    return "" if count is None else f"{count:,}"


@register.simple_tag
def amount_typing_attributes(currency: str) -> SafeString:
    """The data attributes desk.js reads and writes amounts of `currency` with, as they are
    typed in the current locale: its exponent, decimal symbol, the grouping symbol it writes
    and every one it reads, and the currency's signs and codes (separated by "|")."""
    locale = current_money_locale()
    decimal, groups = typing_symbols(locale)
    return format_html(
        'data-currency="{}" data-exponent="{}" data-decimal="{}" data-group="{}" data-groups="{}" '
        'data-marks="{}"',
        currency,
        currency_exponent(currency),
        decimal,
        get_group_symbol(locale),
        groups,
        "|".join(currency_marks(currency, locale)),
    )
