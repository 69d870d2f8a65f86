"""The order page of an order with lines: its "Items" table, and refunds by line through the
refund form, with and without JavaScript, in the agent's locale."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from backoffice.models import Preferences
from payments.models import Operation, RefundLine
from payments.services.orders import NewLine
from payments.statuses import OperationStatus

pytestmark = pytest.mark.django_db

TENT = NewLine(sku="TENT-2P", name="Tent, 2 persons", quantity=1, unit_price=30_000)
PEGS = NewLine(sku="PEG-10", name="Tent pegs, 10", quantity=3, unit_price=1_000, tax=100)
SHIPPING = 900
TOTAL = TENT.total + PEGS.total + SHIPPING  # 340.00


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client


@pytest.fixture
def itemized(make_payment):
    return make_payment("bambora", currency="EUR", amount=TOTAL, captured=TOTAL, lines=[TENT, PEGS],
                        shipping=SHIPPING)


def hx(client, url, data):
    return client.post(url, data, headers={"HX-Request": "true"})


def text_of(html):
    return re.sub(r"[ \t\n]+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def items_table(html):
    return re.search(r'<section class="card" id="order-items".*?</section>', html, re.S)[0]


def rows(html):
    """The Items table's rows as text."""
    return [text_of(row) for row in re.findall(r"<tr>(.*?)</tr>", items_table(html), re.S)]


def form_data(payment, html=None, *, amount="", reason="returned_goods", quantities=None, shipping=False,
              action=None):
    prefix = f"refund-{payment.pk}"
    key = re.search(rf'name="{prefix}-idempotency_key" value="([^"]+)"', html)[1] if html else None
    data = {f"{prefix}-amount": amount, f"{prefix}-reason": reason, f"{prefix}-note": "",
            f"{prefix}-idempotency_key": key or "bo-" + "1" * 32}
    for line_id, quantity in (quantities or {}).items():
        data[f"{prefix}-quantity-{line_id}"] = str(quantity)
    if shipping:
        data[f"{prefix}-shipping"] = "on"
    if action:
        data[f"{prefix}-action"] = action
    return data


def lines_of(payment):
    return list(payment.order.lines.order_by("position"))


def submit_label(html):
    return text_of(re.search(r'<button type="submit" class="refund-submit"><span class="idle">(.*?)</span>', html)[1])


def test_the_order_page_lists_the_items_with_shipping_and_total(agent_client, itemized):
    html = agent_client.get(reverse("order", args=[itemized.order_id])).content.decode()

    assert '<h2 id="order-items-title">Items</h2>' in html
    assert rows(html) == [
        "Item SKU Quantity Unit price Tax Amount Refunded",
        "Tent, 2 persons TENT-2P 1 300.00\xa0EUR 0.00\xa0EUR 300.00\xa0EUR None",
        "Tent pegs, 10 PEG-10 3 10.00\xa0EUR 1.00\xa0EUR 31.00\xa0EUR None",
        "Shipping 9.00\xa0EUR None",
        "Total 340.00\xa0EUR",
    ]


def test_the_refund_form_asks_for_a_quantity_per_item_and_the_shipping(agent_client, itemized):
    tent, pegs = lines_of(itemized)

    html = agent_client.get(reverse("order", args=[itemized.order_id])).content.decode()

    form = re.search(r'<form class="refund".*?</form>', html, re.S)[0]
    for line, remaining in ((tent, 1), (pegs, 3)):
        field_id = f"id_refund-{itemized.pk}-quantity-{line.pk}"
        assert (f'<label for="{field_id}"><span class="visually-hidden">Refund quantity for </span>'
                f"{line.name}</label>") in form
        assert re.search(rf'<input type="number" name="refund-{itemized.pk}-quantity-{line.pk}"[^>]*'
                         rf'max="{remaining}"[^>]*id="{field_id}"', form)
    assert f'<label for="id_refund-{itemized.pk}-shipping">Include shipping</label>' in form
    assert "Compute amount" in form
    assert submit_label(html) == "Refund"


def test_without_javascript_compute_amount_fills_it_in_and_refunds_nothing(agent_client, itemized, sandbox):
    tent, pegs = lines_of(itemized)
    page = agent_client.get(reverse("order", args=[itemized.order_id])).content.decode()

    response = agent_client.post(
        reverse("refund", args=[itemized.pk]),
        form_data(itemized, page, reason="", quantities={pegs.pk: 2}, shipping=True, action="compute"),
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html  # the whole order page, this form filled in
    assert f'name="refund-{itemized.pk}-amount" value="29.66"' in html  # 20.66 of pegs, 9.00 shipping
    assert re.search(rf'name="refund-{itemized.pk}-quantity-{pegs.pk}" value="2"', html)
    assert re.search(rf'name="refund-{itemized.pk}-shipping"[^>]*checked', html)
    assert submit_label(html) == "Refund 29.66\xa0EUR"
    assert not Operation.objects.filter(kind="refund").exists()
    assert sandbox.requests("bambora") == []

    refunded = agent_client.post(
        reverse("refund", args=[itemized.pk]),
        form_data(itemized, html, amount="29.66", quantities={pegs.pk: 2}, shipping=True), follow=True,
    )

    assert "Refunded 29.66\xa0EUR." in refunded.content.decode()
    assert rows(refunded.content.decode())[2:4] == [
        "Tent pegs, 10 PEG-10 3 10.00\xa0EUR 1.00\xa0EUR 31.00\xa0EUR 2 of 3",
        "Shipping 9.00\xa0EUR Refunded",
    ]


def test_items_sent_without_an_amount_are_computed_not_refunded(agent_client, itemized, sandbox):
    tent, _ = lines_of(itemized)

    response = hx(agent_client, reverse("refund", args=[itemized.pk]),
                  form_data(itemized, quantities={tent.pk: 1}))

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<section class="card payment" id="payment-{itemized.pk}"')
    assert f'name="refund-{itemized.pk}-amount" value="300.00"' in html
    assert submit_label(html) == "Refund 300.00\xa0EUR"
    assert not Operation.objects.filter(kind="refund").exists()


def test_a_refund_by_line_with_htmx_records_the_units_and_refreshes_the_items(agent_client, itemized, sandbox):
    tent, pegs = lines_of(itemized)

    response = hx(agent_client, reverse("refund", args=[itemized.pk]),
                  form_data(itemized, amount="280.00", quantities={tent.pk: 1}))

    html = response.content.decode()
    assert "Refunded 280.00\xa0EUR." in html
    assert response["HX-Trigger"].startswith('{"payment-changed"')
    # The tent is gone from the form; the pegs are still there to refund.
    assert f"quantity-{tent.pk}" not in html and f"quantity-{pegs.pk}" in html
    items = agent_client.get(reverse("order_items", args=[itemized.order_id])).content.decode()
    assert rows(items)[1] == "Tent, 2 persons TENT-2P 1 300.00\xa0EUR 0.00\xa0EUR 300.00\xa0EUR All 1"
    assert list(RefundLine.objects.values_list("order_line", "quantity", "amount")) == [(tent.pk, 1, 30_000)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pegs": 4}, "At most 3 can be refunded."),
        ({"pegs": -1}, "Enter a whole number of units."),
        ({"pegs": "1.5"}, "Enter a whole number of units."),
        ({"pegs": 1, "amount": "10.34"},
         "The items you chose come to 10.33\xa0EUR: refund at most that, or choose more items."),
        ({"amount": ""}, "Enter an amount, or choose items to refund."),
        ({"action": "compute", "amount": "", "reason": ""},
         "Choose the items to refund first: their amount is computed from them."),
    ],
)
def test_wrong_quantities_are_422_and_change_nothing(agent_client, itemized, sandbox, change, message):
    _, pegs = lines_of(itemized)
    quantities = {pegs.pk: change.pop("pegs")} if "pegs" in change else {}
    data = form_data(itemized, **{"amount": "10.00", **change, "quantities": quantities})

    response = hx(agent_client, reverse("refund", args=[itemized.pk]), data)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Operation.objects.filter(kind="refund").exists()
    assert sandbox.requests("bambora") == []


def test_units_refunded_meanwhile_are_refused_with_the_form_as_it_is_now(
    agent_client, make_user, itemized, sandbox
):
    tent, _ = lines_of(itemized)
    page = agent_client.get(reverse("order", args=[itemized.order_id])).content.decode()
    other = Client()
    other.force_login(make_user(group="Support agents"))
    hx(other, reverse("refund", args=[itemized.pk]), form_data(itemized, amount="300.00", quantities={tent.pk: 1}))

    response = hx(agent_client, reverse("refund", args=[itemized.pk]),
                  form_data(itemized, page, amount="300.00", quantities={tent.pk: 1}))

    html = response.content.decode()
    assert response.status_code == 422
    assert "“Tent, 2 persons” is refunded already, or being refunded." in html
    assert f"quantity-{tent.pk}" not in html
    assert Operation.objects.filter(kind="refund", status=OperationStatus.SUCCEEDED).count() == 1


def test_the_button_asks_for_approval_when_the_amount_needs_it(agent_client, make_payment):
    stoves = NewLine(sku="STOVE", name="Stove", quantity=2, unit_price=30_000)
    payment = make_payment("bambora", currency="EUR", amount=60_000, captured=60_000, lines=[stoves])
    stove = payment.order.lines.get()

    small = hx(agent_client, reverse("refund", args=[payment.pk]),
               form_data(payment, quantities={stove.pk: 1}, action="compute")).content.decode()
    large = hx(agent_client, reverse("refund", args=[payment.pk]),
               form_data(payment, quantities={stove.pk: 2}, action="compute")).content.decode()

    assert submit_label(small) == "Refund 300.00\xa0EUR"
    assert '<strong class="needs-approval" hidden>' in small
    assert submit_label(large) == "Request approval"
    assert re.search(r'<strong class="needs-approval">This amount needs a manager’s approval:\s+refunds above '
                     r"500.00\xa0EUR on this payment do\.", large)
    assert 'data-approval-above="50000"' in large


def test_an_order_without_lines_has_no_items(agent_client, make_payment):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)

    html = agent_client.get(reverse("order", args=[payment.order_id])).content.decode()

    assert 'id="order-items"' not in html
    assert "Refund quantity for" not in html and "Compute amount" not in html
    items = agent_client.get(reverse("order_items", args=[payment.order_id]))
    assert items.status_code == 200 and items.content.decode().strip() == ""
    assert agent_client.get(reverse("order_items", args=[10**9])).status_code == 404


def test_amounts_are_typed_and_shown_in_the_agents_locale(agent_client, agent, itemized, sandbox):
    Preferences.objects.create(user=agent, money_locale="nb")
    tent, _ = lines_of(itemized)

    refused = hx(agent_client, reverse("refund", args=[itemized.pk]),
                 form_data(itemized, amount="12.50", quantities={tent.pk: 1}))
    computed = hx(agent_client, reverse("refund", args=[itemized.pk]),
                  form_data(itemized, quantities={tent.pk: 1}, action="compute")).content.decode()
    refunded = hx(agent_client, reverse("refund", args=[itemized.pk]),
                  form_data(itemized, amount="kr 1.2,50", quantities={tent.pk: 1}))

    assert "“12.50” is not written as amounts are here: did you mean 1\xa0250,00 or 12,50?" in refused.content.decode()
    assert f'name="refund-{itemized.pk}-amount" value="300,00"' in computed
    assert submit_label(computed) == "Refund 300,00\xa0EUR"
    assert "<dt>Refundable</dt><dd>340,00\xa0EUR</dd>" in computed
    assert refunded.status_code == 422  # "1.2,50" groups badly: refused, not guessed
    ok = hx(agent_client, reverse("refund", args=[itemized.pk]),
            form_data(itemized, amount="€ 250,00", quantities={tent.pk: 1}))
    assert "Refunded 250,00\xa0EUR." in ok.content.decode()
