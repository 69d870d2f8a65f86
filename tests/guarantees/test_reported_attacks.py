"""The inputs a tester sent to a running instance that answered 500 or let text lie, each sent
again as it was: now a 4xx with a message, nothing stored, and text that reads as it is. (The order numbers with
a line break that broke the e-mails are replayed with the e-mails' own tests,
tests/payments/services/test_notifications.py.)"""

import json

import pytest
from django.test import Client
from django.urls import reverse

from payments.models import AuditAction, AuditEvent, Export, Order, Payment
from payments.services.api_tokens import api_token_create
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request

pytestmark = pytest.mark.django_db

INTAKE = "/api/v1/orders"


@pytest.fixture
def shop(db):
    token = api_token_create(name="webshop", actor=Actor.system("tests"))[1]

    def send(data=None, *, raw=None):
        return Client().post(
            INTAKE,
            raw if raw is not None else json.dumps(data),
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )

    return send


def order(number="100045", name="Kari Nordmann", reference="acme-100045-1"):
    return {
        "order_number": number,
        "customer": {"name": name, "email": "kari@example.com"},
        "currency": "NOK",
        "total": "1250.00",
        "payments": [{"provider": "vipps", "reference": reference, "amount": "1250.00"}],
    }


def nothing_stored():
    return not Order.objects.exists() and not Payment.objects.exists()


# Finding 4: no 500 for any of these.


@pytest.mark.parametrize("pk", [999_999, 2**64, 10**30])
def test_withdrawing_a_request_that_does_not_exist_is_404(client, agent, pk):
    client.force_login(agent)

    response = client.post(f"/refund-requests/{pk}/withdraw/")

    assert response.status_code == 404


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_intake_json_nested_deep_is_400(shop, depth):
    response = shop(raw='{"order_number": ' + "[" * depth + "]" * depth + "}")

    assert response.status_code == 400
    assert response.json() == {"errors": {"": ["The JSON is nested too deeply (at most 20 levels)."]}}
    assert nothing_stored()


@pytest.mark.parametrize(
    ("field", "data"),
    [
        ("order_number", order(number="1000\x0045")),
        ("customer.name", order(name="Kari\x00 Nordmann")),
        ("order_number", order(number="100045\r\nBcc: everyone@example.com")),
        ("payments[0].reference", order(reference="acme-\x00-1")),
    ],
    ids=["NUL in order number", "NUL in name", "CR/LF in order number", "NUL in reference"],
)
def test_intake_control_characters_are_400_on_their_field(shop, field, data):
    response = shop(data)

    assert response.status_code == 400
    assert "control or invisible characters" in response.json()["errors"][field][0]
    assert nothing_stored()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"q": "10\x0045"}, "The search holds a NUL character"),
        ({"q": "10\x0045", "from": "2026-01-01", "to": "2026-12-31"}, "The search holds a NUL character"),
        ({"q": "1" * 2_001}, "The search is too long to export"),
        ({"from": "2026-01-01\x00"}, "Write dates as YYYY-MM-DD"),
        ({"to": "99999-01-01"}, "Write dates as YYYY-MM-DD"),
    ],
    ids=["NUL in the search", "NUL in the search, good dates", "too long", "NUL in a date", "year 99999"],
)
def test_an_export_asked_for_with_hostile_values_is_400_and_queues_nothing(manager, data, message):
    client = Client(raise_request_exception=False)
    client.force_login(manager)

    response = client.post(reverse("export_payments"), data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Export.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT_REQUESTED).exists()


@pytest.mark.parametrize("query", ["q=10%0045", "created_at__gte=2026%00", "q=x&provider=%00"])
def test_an_admin_export_with_a_nul_in_its_filters_is_400_and_queues_nothing(auditor, query):
    client = Client(raise_request_exception=False)
    client.force_login(auditor)

    response = client.post(reverse("admin:payments_payment_export") + "?" + query, {"q": "\x00"})

    assert response.status_code == 400
    assert not Export.objects.exists()


@pytest.mark.parametrize("query", [{"provider": "\x00"}, {"q": "\x00"}, {"created_at__gte": "2026\x00"}])
def test_an_admin_filter_with_a_nul_is_400(client, auditor, query):
    client.force_login(auditor)

    response = client.get(reverse("admin:payments_payment_changelist"), query)

    assert response.status_code == 400


# Finding 5: text that cannot lie.


@pytest.mark.parametrize(
    ("field", "data"),
    [
        ("order_number", order(number="1000\u202e54")),  # shown as 100045 reversed
        ("order_number", order(number="100\u200b045")),  # looks like 100045, is not
        ("payments[0].reference", order(reference="acme-\u2066100045-1")),
        ("customer.name", order(name="Kari \u202eNordmann")),
        ("customer.name", order(name="Kari\u2028Nordmann")),
    ],
    ids=["override in number", "zero-width space in number", "isolate in reference", "override in name",
         "line separator in name"],
)
def test_intake_refuses_bidirectional_and_invisible_characters(shop, field, data):
    response = shop(data)

    assert response.status_code == 400
    assert "control or invisible characters" in response.json()["errors"][field][0]
    assert nothing_stored()


def test_names_keep_the_joiners_their_scripts_need(shop, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-100045-1", currency="NOK", amount=125_000)

    response = shop(order(name="Ali\u200cReza Mir"))

    assert response.status_code == 201
    assert Order.objects.get().customer_name == "Ali\u200cReza Mir"


def test_text_stored_before_is_isolated_where_managers_read_it(client, manager, agent, make_payment):
    # given: an order from before intake refused overrides, and a request on it
    payment = make_payment(
        "vipps", currency="NOK", amount=1_000_000, captured=1_000_000, at_provider=False,
        customer_name="\u202eNordmann Kari",
    )
    Order.objects.filter(pk=payment.order_id).update(number="\u202e100045")
    refund_request(payment_id=payment.pk, amount=600_000, reason="goodwill",
                   actor=Actor.of_user(agent), idempotency_key=new_idempotency_key())
    client.force_login(manager)

    approvals = client.get(reverse("approvals")).content.decode()
    order_page = client.get(reverse("order", args=[payment.order_id])).content.decode()

    # then: every such text sits in its own <bdi>, so it cannot reorder the words around it
    assert "order <bdi>\u202e100045</bdi>" in approvals
    assert "<h1>Order <bdi>\u202e100045</bdi></h1>" in order_page
    assert "<bdi>\u202eNordmann Kari</bdi>" in order_page


def test_a_note_with_a_bidirectional_override_is_refused(client, agent, make_payment):
    payment = make_payment("vipps", currency="NOK", amount=100_000, captured=100_000, at_provider=False)
    client.force_login(agent)
    prefix = f"refund-{payment.pk}"

    response = client.post(
        reverse("refund", args=[payment.pk]),
        {f"{prefix}-amount": "10.00", f"{prefix}-reason": "other",
         f"{prefix}-note": "customer asked \u202edetpecca", f"{prefix}-idempotency_key": new_idempotency_key()},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 422
    assert "right-to-left override" in response.content.decode()
    assert not payment.operations.filter(kind="refund").exists()


# Finding 6 (intake half): order numbers are trimmed.


def test_intake_trims_the_order_number(shop, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-100045-1", currency="NOK", amount=125_000)

    first = shop(order(number="  100045\t"))
    again = shop(order(number="100045"))

    assert (first.status_code, again.status_code) == (201, 200)
    assert list(Order.objects.values_list("number", flat=True)) == ["100045"]


@pytest.mark.parametrize(
    ("field", "line"),
    [("lines[0].name", {"name": "Tent\u202e, 2 persons"}), ("lines[0].sku", {"sku": "TENT\x00-2P"}),
     ("lines[0].name", {"name": "Tent\r\n2 persons"})],
    ids=["override in a line's name", "NUL in a SKU", "line break in a line's name"],
)
def test_intake_refuses_lying_text_in_lines_too(shop, field, line):
    data = {**order(), "lines": [{"sku": "TENT-2P", "name": "Tent, 2 persons", "quantity": 1,
                                  "unit_price": "1250.00", **line}]}

    response = shop(data)

    assert response.status_code == 400
    assert "control or invisible characters" in response.json()["errors"][field][0]
    assert nothing_stored()
