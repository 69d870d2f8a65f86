"""What the intake API takes (backoffice/intake.py), sent through the API: each field of the order
checked, its payments' in their provider's terms; given lines, they and the shipping add up to
the total; anything else is a 400 per field that stores nothing. What the API does with a valid
order (stored once, read at the provider, a token needed) is tested in test_api.py."""

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from payments.models import Order, OrderLine, Payment
from tests.backoffice.helpers import body, send, stored

pytestmark = pytest.mark.django_db

TENT = {"sku": "TENT-2P", "name": "Tent, 2 persons", "quantity": 1, "unit_price": "1000.00"}
PEGS = {"sku": "PEG-10", "name": "Tent pegs, 10", "quantity": 2, "unit_price": "80.00", "tax": "40.00"}


def itemized(**changes):
    """The README's order, with lines: 1,000.00 + 2 × 80.00 + 40.00 tax + 50.00 shipping."""
    return body(**{"lines": [TENT, PEGS], "shipping": "50.00", **changes})


def nothing_stored():
    return not (Order.objects.exists() or Payment.objects.exists() or OrderLine.objects.exists())


def test_an_order_with_lines_and_shipping_is_stored_with_them(client, token, sandbox):
    response = send(client, token, itemized())

    assert response.status_code == 201
    order = Order.objects.get(number="100045")
    assert (order.itemized, order.shipping, order.total) == (True, 5_000, 125_000)
    assert list(order.lines.values_list("position", "sku", "name", "quantity", "unit_price", "tax")) == [
        (0, "TENT-2P", "Tent, 2 persons", 1, 100_000, 0),
        (1, "PEG-10", "Tent pegs, 10", 2, 8_000, 4_000),
    ]


def test_lines_without_sku_tax_or_shipping_are_fine(client, token, sandbox):
    lines = [{"name": "Gift card", "quantity": 5, "unit_price": "250.00"}]

    response = send(client, token, itemized(lines=lines, shipping=None))

    assert response.status_code == 201
    line = Order.objects.get().lines.get()
    assert (line.sku, line.quantity, line.unit_price, line.tax) == ("", 5, 25_000, 0)


def test_an_order_without_lines_is_not_itemized(client, token, sandbox):
    data = itemized()
    del data["lines"], data["shipping"]

    assert send(client, token, data).status_code == 201
    assert Order.objects.get().itemized is False
    assert not OrderLine.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"total": "1300.00"}, "total", "The lines and shipping add up to 1250.00, not 1300.00."),
        ({"shipping": "0.00"}, "total", "The lines and shipping add up to 1200.00, not 1250.00."),
        ({"lines": [TENT]}, "total", "The lines and shipping add up to 1050.00, not 1250.00."),
        ({"lines": [TENT, {**PEGS, "tax": None}]}, "total", "The lines and shipping add up to 1210.00, not 1250.00."),
    ],
)
def test_lines_and_shipping_must_add_up_to_the_total(client, token, sandbox, changes, field, message):
    response = send(client, token, itemized(**changes))

    assert response.status_code == 400
    assert response.json() == {"errors": {field: [message]}}
    assert nothing_stored()
    assert sandbox.requests("vipps") == []


WHOLE = "Send the quantity as a whole number from 1 to 1,000,000."


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ({**PEGS, "quantity": 0}, "quantity", WHOLE),
        ({**PEGS, "quantity": -2}, "quantity", WHOLE),
        ({**PEGS, "quantity": 2.0}, "quantity", WHOLE),
        ({**PEGS, "quantity": "2"}, "quantity", WHOLE),
        ({**PEGS, "quantity": True}, "quantity", WHOLE),
        ({**PEGS, "quantity": None}, "quantity", WHOLE),
        ({**PEGS, "quantity": 10**30}, "quantity", WHOLE),
        ({**PEGS, "quantity": [2]}, "quantity", WHOLE),
        ({**PEGS, "name": ""}, "name", "This field is required and must be text."),
        ({**PEGS, "name": "   "}, "name", "This field is required and must be text."),
        ({**PEGS, "name": 12}, "name", "This field is required and must be text."),
        ({**PEGS, "name": "x" * 201}, "name", "At most 200 characters."),
        ({**PEGS, "sku": 10}, "sku", "Send the SKU as text, or leave it out."),
        ({**PEGS, "sku": "S" * 65}, "sku", "At most 64 characters."),
        ({**PEGS, "unit_price": 80}, "unit_price", 'Send the amount as text in major units, e.g. "1250.00".'),
        ({**PEGS, "unit_price": "80.001"}, "unit_price", "NOK amounts have at most 2 decimals."),
        ({**PEGS, "unit_price": "-80.00"}, "unit_price", "The amount must be greater than zero."),
        ({**PEGS, "unit_price": "1e3"}, "unit_price", "Enter the amount in digits, for example 12.50."),
        ({**PEGS, "unit_price": "NaN"}, "unit_price", "Enter the amount in digits, for example 12.50."),
        ({**PEGS, "unit_price": "9" * 41}, "unit_price", "That amount is too large."),
        ({**PEGS, "tax": "forty"}, "tax", "Enter the amount in digits, for example 12.50."),
        ({**PEGS, "tax": 40}, "tax", 'Send the amount as text in major units, e.g. "1250.00".'),
        ({**PEGS, "quantity": 1_000_000, "unit_price": "9999999999.99"}, "quantity", "That line's amount is too large."),
    ],
)
def test_a_bad_line_is_refused_per_field_and_nothing_is_stored(client, token, sandbox, line, field, message):
    response = send(client, token, itemized(lines=[TENT, line]))

    assert response.status_code == 400
    assert response.json() == {"errors": {f"lines[1].{field}": [message]}}
    assert nothing_stored()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"lines": []}, "lines", "Send the lines as a list of at least one line, or leave them out."),
        ({"lines": {"0": TENT}}, "lines", "Send the lines as a list of at least one line, or leave them out."),
        ({"lines": "TENT-2P"}, "lines", "Send the lines as a list of at least one line, or leave them out."),
        ({"lines": [TENT] * 501}, "lines", "At most 500 lines per order."),
        ({"lines": [TENT, "PEG-10"]}, "lines[1]", "Each line must be an object with name, quantity and unit_price."),
        ({"lines": [TENT, None]}, "lines[1]", "Each line must be an object with name, quantity and unit_price."),
        ({"shipping": 50}, "shipping", 'Send the amount as text in major units, e.g. "1250.00".'),
        ({"shipping": "-50.00"}, "shipping", "The amount must be greater than zero."),
        ({"shipping": "5O.00"}, "shipping", "Enter the amount in digits, for example 12.50."),
        ({"lines": None, "total": "1250.00"}, "shipping", "Send shipping together with the order's lines."),
    ],
)
def test_bad_lines_or_shipping_are_refused_and_nothing_is_stored(client, token, sandbox, changes, field, message):
    response = send(client, token, itemized(**changes))

    assert response.status_code == 400
    assert response.json()["errors"][field] == [message]
    assert nothing_stored()


def test_every_bad_line_is_reported_at_once(client, token, sandbox):
    response = send(client, token, itemized(lines=[{**TENT, "quantity": 0}, {**PEGS, "name": None}]))

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"lines[0].quantity", "lines[1].name"}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


@hypothesis_settings(max_examples=150, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=JSON, shipping=JSON)
def test_hostile_lines_and_shipping_never_give_a_500_nor_store_anything(client, token, lines, shipping):
    response = send(client, token, itemized(lines=lines, shipping=shipping, payments=[]))

    assert response.status_code == 400  # "payments" is empty: whatever the lines, nothing is stored
    assert isinstance(response.json()["errors"], dict)
    assert nothing_stored()


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"payments": [{"provider": "paypal", "reference": "acme-100045-1", "amount": "1.00"}]}, "payments[0].provider", "Unknown provider"),
        ({"payments": [{"provider": "vipps", "reference": "short", "amount": "1.00"}]}, "payments[0].reference", "8 to 50 letters"),
        ({"payments": [{"provider": "vipps", "reference": "acme/100045/1", "amount": "1.00"}]}, "payments[0].reference", "8 to 50 letters"),
        ({"payments": [{"provider": "bambora", "reference": "r" * 2001, "amount": "1.00"}]}, "payments[0].reference", "at most 2,000"),
        ({"total": "12.345"}, "total", "at most 2 decimals"),
        ({"currency": "JPY", "total": "100.5", "payments": [{"provider": "bambora", "reference": "b-1", "amount": "100"}]}, "total", "JPY amounts have no decimals"),
        ({"total": 1250.0}, "total", "Send the amount as text"),
        ({"payments": [{"provider": "vipps", "reference": "acme-100045-1", "amount": "100.00", "captured": "100.01"}]}, "payments[0].captured", "cannot be more than the amount"),
        ({"currency": "SEK"}, "payments[0].provider", "takes only DKK, EUR, NOK"),
        ({"currency": "KWD", "total": "1.000", "payments": [{"provider": "optty", "reference": "o-1", "amount": "1.000"}]}, "payments[0].provider", "Optty takes amounts with at most 2 decimals; KWD has 3."),
        ({"payments": [{"provider": "vipps", "reference": "acme-100045-1", "amount": "1250.00", "currency": "EUR"}]}, "payments[0].currency", "the order's currency (NOK)"),
        ({"payments": [{"provider": "vipps", "reference": "acme-100045-1", "amount": "1250.00", "currency": None}]}, "payments[0].currency", "the order's currency (NOK)"),
        ({"currency": "XYZ"}, "currency", "not a known currency"),
        ({"customer": {"name": "Kari", "email": "not-an-email"}}, "customer.email", "valid email"),
        ({"order_number": ""}, "order_number", "required"),
        ({"payments": []}, "payments", "at least one payment"),
    ],
)
def test_invalid_orders_are_refused_per_field_and_store_nothing(client, token, sandbox, change, field, message):
    response = send(client, token, body(**change))

    assert response.status_code == 400
    assert any(message in text for text in response.json()["errors"][field]), response.json()
    assert stored() == (0, 0, 0)
    assert sandbox.requests() == []


def test_a_payment_in_the_order_s_currency_may_say_so(client, token, sandbox):
    data = body(payments=[{"provider": "vipps", "reference": "acme-100045-1", "amount": "1250.00", "currency": "NOK"}])

    response = send(client, token, data)

    assert response.status_code == 201
    assert Payment.objects.get().currency == "NOK"
