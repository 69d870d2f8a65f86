"""The shape of an order sent to the intake API (README, "Sending orders"), checked before
anything is stored. Every problem is reported at once, per field. Rules that depend on what
is stored (a payment another order holds) are the service's: order_receive."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from backoffice.untrusted import identifier_problem, name_problem
from payments.capabilities import CAPABILITIES
from payments.money import (
    MAX_MINOR_UNITS,
    InvalidAmount,
    UnknownCurrency,
    currency_exponent,
    format_plain,
    parse_amount,
)
from payments.services.orders import NewLine, NewPayment

MAX_PAYMENTS = 20
MAX_LINES = 500
MAX_QUANTITY = 1_000_000


class IntakeInvalid(Exception):
    def __init__(self, errors):
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class IntakeOrder:
    number: str
    customer_name: str
    customer_email: str
    currency: str
    total: int
    payments: list[NewPayment]
    lines: list[NewLine]
    shipping: int


class _Errors(dict):
    def add(self, field, message):
        self.setdefault(field, []).append(message)


def _text(data, key, errors, field, *, max_length):
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, str) or not value.strip():
        errors.add(field, "This field is required and must be text.")
        return ""
    if len(value) > max_length:
        errors.add(field, f"At most {max_length:,} characters.")
    return value


def _refuse_hidden_characters(text, errors, field, *, problem):
    """Text that cannot lie (backoffice.untrusted): `problem` is identifier_problem or
    name_problem. Kept apart from the rules of each field."""
    if text and (message := problem(text)):
        errors.add(field, message)


def _amount(data, key, currency, errors, field, *, allow_zero=False):
    value = data.get(key)
    if not isinstance(value, str):
        # Amounts travel as text ("1250.00"): a JSON number may already have lost digits.
        errors.add(field, 'Send the amount as text in major units, e.g. "1250.00".')
        return None
    try:
        return parse_amount(value, currency, allow_zero=allow_zero)
    except InvalidAmount as error:
        errors.add(field, str(error))
        return None


def parse_intake(data):
    """An IntakeOrder from the request's JSON, or IntakeInvalid with every problem found,
    per field ("customer.email", "payments[0].reference", ...)."""
    errors = _Errors()
    if not isinstance(data, dict):
        raise IntakeInvalid({"": ["The body must be a JSON object."]})
    # Trimmed: spaces around an order number are a shop's slip, and would make "100045 " an
    # order of its own that nobody finds.
    number = _text(data, "order_number", errors, "order_number", max_length=64).strip()
    _refuse_hidden_characters(number, errors, "order_number", problem=identifier_problem)
    customer = data.get("customer")
    if not isinstance(customer, dict):
        errors.add("customer", "Send the customer as an object with name and email.")
        customer = {}
    name = _text(customer, "name", errors, "customer.name", max_length=200)
    _refuse_hidden_characters(name, errors, "customer.name", problem=name_problem)
    email = _text(customer, "email", errors, "customer.email", max_length=254)
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors.add("customer.email", "Enter a valid email address.")
    currency = data.get("currency")
    try:
        currency_exponent(currency)
    except UnknownCurrency as error:
        errors.add("currency", str(error))
        currency = None
    total = _amount(data, "total", currency, errors, "total") if currency else None
    payments = []
    items = data.get("payments")
    if not isinstance(items, list) or not items:
        errors.add("payments", "Send at least one payment.")
        items = []
    elif len(items) > MAX_PAYMENTS:
        errors.add("payments", f"At most {MAX_PAYMENTS} payments per order.")
        items = []
    for index, item in enumerate(items):
        payment = _payment(item, currency, errors, f"payments[{index}]")
        if payment is not None:
            payments.append(payment)
    seen = set()
    for index, payment in enumerate(payments):
        if (payment.provider, payment.reference) in seen:
            errors.add(f"payments[{index}].reference", "The same payment is listed twice.")
        seen.add((payment.provider, payment.reference))
    lines, shipping = _lines_and_shipping(data, currency, total, errors)
    if errors:
        raise IntakeInvalid(dict(errors))
    return IntakeOrder(
        number=number,
        customer_name=name.strip(),
        customer_email=email.strip(),
        currency=currency,
        total=total,
        payments=payments,
        lines=lines,
        shipping=shipping,
    )


def _lines_and_shipping(data, currency, total, errors):
    """The order's `lines` and `shipping`, both optional: ([NewLine], shipping in minor
    units). Given lines, their amounts (quantity × unit price, plus tax) and shipping must add
    up to the total."""
    shipping = 0
    if data.get("shipping") is not None and currency:
        shipping = _amount(data, "shipping", currency, errors, "shipping", allow_zero=True) or 0
    items = data.get("lines")
    if items is None:
        if shipping:
            errors.add("shipping", "Send shipping together with the order's lines.")
        return [], shipping
    if not isinstance(items, list) or not items:
        errors.add("lines", "Send the lines as a list of at least one line, or leave them out.")
        return [], shipping
    if len(items) > MAX_LINES:
        errors.add("lines", f"At most {MAX_LINES} lines per order.")
        return [], shipping
    count = sum(len(messages) for messages in errors.values())
    lines = [_line(item, currency, errors, f"lines[{index}]") for index, item in enumerate(items)]
    if sum(len(messages) for messages in errors.values()) > count or currency is None or total is None:
        return [], shipping
    added = sum(line.total for line in lines) + shipping
    if added != total:
        errors.add(
            "total",
            f"The lines and shipping add up to {format_plain(added, currency)}, "
            f"not {format_plain(total, currency)}.",
        )
    return lines, shipping


def _line(item, currency, errors, field):
    if not isinstance(item, dict):
        errors.add(field, "Each line must be an object with name, quantity and unit_price.")
        return None
    sku = item.get("sku", "")
    if not isinstance(sku, str):
        errors.add(f"{field}.sku", "Send the SKU as text, or leave it out.")
    elif len(sku) > 64:
        errors.add(f"{field}.sku", "At most 64 characters.")
    else:
        _refuse_hidden_characters(sku.strip(), errors, f"{field}.sku", problem=identifier_problem)
    name = _text(item, "name", errors, f"{field}.name", max_length=200)
    _refuse_hidden_characters(name, errors, f"{field}.name", problem=name_problem)
    quantity = item.get("quantity")
    # bool is an int to Python; a JSON true is no quantity.
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_QUANTITY:
        errors.add(f"{field}.quantity", f"Send the quantity as a whole number from 1 to {MAX_QUANTITY:,}.")
        quantity = None
    if currency is None:
        return None
    unit_price = _amount(item, "unit_price", currency, errors, f"{field}.unit_price", allow_zero=True)
    tax = 0
    if item.get("tax") is not None:
        tax = _amount(item, "tax", currency, errors, f"{field}.tax", allow_zero=True)
    if None in (quantity, unit_price, tax) or not isinstance(sku, str):
        return None
    line = NewLine(sku=sku.strip(), name=name.strip(), quantity=quantity, unit_price=unit_price, tax=tax)
    if line.total > MAX_MINOR_UNITS:
        errors.add(f"{field}.quantity", "That line's amount is too large.")
    return line


def _payment(item, currency, errors, field):
    if not isinstance(item, dict):
        errors.add(field, "Each payment must be an object.")
        return None
    count = sum(len(messages) for messages in errors.values())
    provider = item.get("provider")
    capabilities = CAPABILITIES.get(provider) if isinstance(provider, str) else None
    if capabilities is None:
        errors.add(f"{field}.provider", f"Unknown provider; one of {', '.join(CAPABILITIES)}.")
    elif currency and (problem := capabilities.currency_problem(currency)):
        errors.add(f"{field}.provider", problem)
    reference = item.get("reference")
    if not isinstance(reference, str):
        errors.add(f"{field}.reference", "This field is required and must be text.")
    elif problem := identifier_problem(reference):
        errors.add(f"{field}.reference", problem)
    elif capabilities is not None:
        problem = capabilities.reference_problem(reference)
        if problem:
            errors.add(f"{field}.reference", problem)
    if currency is None:
        return None
    # A payment is in its order's currency; one sent in another is a mistake in the shop, not
    # something to convert or to store silently as the order's.
    if "currency" in item and item["currency"] != currency:
        errors.add(
            f"{field}.currency",
            f"A payment must be in the order's currency ({currency}); leave it out or send {currency}.",
        )
    amount = _amount(item, "amount", currency, errors, f"{field}.amount")
    captured = 0
    if "captured" in item:
        captured = _amount(item, "captured", currency, errors, f"{field}.captured", allow_zero=True)
    if amount is not None and captured is not None and captured > amount:
        errors.add(f"{field}.captured", "The captured amount cannot be more than the amount.")
    if sum(len(messages) for messages in errors.values()) > count:
        return None
    return NewPayment(provider=provider, reference=reference, amount=amount, captured=captured)
