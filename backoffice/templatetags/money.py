from django import template

from payments.money import currency_exponent, format_money, format_plain
from payments.statuses import OperationStatus

register = template.Library()


@register.filter
def money(minor, currency):
    """{{ payment.captured|money:payment.currency }} -> "1,250.00 NOK"."""
    if minor is None or not currency:
        return ""
    return format_money(minor, currency)


@register.filter
def major(minor, currency):
    """Plain major units for form fields: {{ amount|major:"NOK" }} -> "1250.00"."""
    if minor is None or not currency:
        return ""
    return format_plain(minor, currency)


@register.filter
def status_label(value):
    """An operation status as people read it: "in_flight" -> "In flight"."""
    try:
        return OperationStatus(value).label
    except ValueError:
        return value


@register.filter
def exponent(currency):
    """The currency's number of decimals: {{ "JPY"|exponent }} -> 0."""
    return currency_exponent(currency)


@register.filter
def thousands(count):
    """A count with thousands separated: {{ 1199921|thousands }} -> "1,199,921"."""
    return "" if count is None else f"{count:,}"
