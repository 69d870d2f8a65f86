"""Whatever is sent, the answer is a 4xx with a message or a safe page, never a 500, and
nothing changes: not the database, not the provider. Text from outside is shown escaped."""


import json

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments.exports import safe_cell
from payments.models import AuditEvent, Operation, Order
from payments.money import InvalidAmount, parse_amount
from payments.services.api_tokens import api_token_create
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request

pytestmark = pytest.mark.django_db

HOSTILE_AMOUNTS = st.one_of(
    st.sampled_from([
        "-1", "-0.01", "0", "0.00", "0.001", "12.345", "1e3", "1E-2", "NaN", "nan", "Infinity",
        "-Infinity", "inf", "9" * 40, "99999999999999999999", "١٢٣", "１２.５０", "१०", "12,50",
        "1,000.00", "1 000", "0x10", "+5", ".5", "5.", "", " ", "\x00", "1\n2", "<b>1</b>",
        "'; DROP TABLE payments_payment; --", "../../etc/passwd",
    ]),
    st.text(max_size=60).filter(lambda text: not _valid("EUR", text)),
)
NASTY_TEXT = st.one_of(
    st.sampled_from([
        "<script>alert(1)</script>", "' OR 1=1 --", "../" * 20, "/" * 300, "a" * 2_500,
        "\u202e\u0000\ufeff", "%00%2F%2e%2e", "Robert'); DROP TABLE students;--",
        "\x00", "a\r\nBcc: x@example.com", "\u202egnp.exe", "100\u200b045", "\uff1d1+1", " \n=cmd|' /C calc'!A0",
    ]),
    st.text(max_size=300),
)
# Characters that make text lie or break what stores and shows it: C0/C1 controls (NUL, CR,
# LF), bidirectional controls, zero-width and other invisible ones, line separators.
LYING_CHARACTERS = st.sampled_from(
    ["\x00", "\r", "\n", "\t", "\x1b", "\x7f", "\x85", "\x9b", "\u061c", "\u200e", "\u200f", "\u202a",
     "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u200b", "\u2060",
     "\ufeff", "\u00ad", "\u2028", "\u2029"]
)  # fmt: skip
FORMULA_STARTERS = st.sampled_from(["=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20"])


def _valid(currency, text):
    try:
        parse_amount(text, currency)
    except InvalidAmount:
        return False
    return True


@pytest.fixture
def agent_client(agent):
    client = Client()
    client.force_login(agent)
    return client


@pytest.fixture
def payment(make_payment):
    return make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)


def nothing_changed(payment, sandbox):
    assert not Operation.objects.filter(payment=payment).exclude(kind="capture").exists()
    assert sandbox.requests("bambora") == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amount=HOSTILE_AMOUNTS, reason=st.one_of(st.sampled_from(["goodwill", "", "nope", "other"]), NASTY_TEXT),
       note=NASTY_TEXT, key=st.one_of(st.just(None), NASTY_TEXT))
def test_refund_rejects_hostile_input(agent_client, payment, sandbox, amount, reason, note, key):
    prefix = f"refund-{payment.pk}"

    response = agent_client.post(
        reverse("refund", args=[payment.pk]),
        {f"{prefix}-amount": amount, f"{prefix}-reason": reason, f"{prefix}-note": note,
         f"{prefix}-idempotency_key": key if key is not None else new_idempotency_key()},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 422
    assert 'class="errorlist' in response.content.decode()
    nothing_changed(payment, sandbox)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(expected=NASTY_TEXT, key=NASTY_TEXT)
def test_cancel_rejects_hostile_input(agent_client, make_payment, sandbox, expected, key):
    payment = make_payment("bambora", currency="EUR", amount=10_000)
    prefix = f"cancel-{payment.pk}"

    response = agent_client.post(
        reverse("cancel", args=[payment.pk]),
        {f"{prefix}-expected_amount": expected, f"{prefix}-idempotency_key": key},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 422
    assert not Operation.objects.filter(payment=payment, kind="cancel").exists()
    assert sandbox.requests("bambora") == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    query=NASTY_TEXT,
    bound=st.sampled_from(["after", "before", "page"]),
    value=st.one_of(st.text(max_size=30), st.integers().map(str)),
)
def test_search_never_fails(agent_client, payment, query, bound, value):
    response = agent_client.get(reverse("home"), {"q": query, bound: value})

    # A NUL is refused before any view reads it (HostileInputMiddleware)
    assert response.status_code == 400 if "\x00" in query + value else response.status_code in (200, 302)


def test_a_search_for_html_is_shown_escaped(agent_client):
    html = agent_client.get(reverse("home"), {"q": "<script>alert(1)</script>"}).content.decode()

    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(note=NASTY_TEXT, target=st.sampled_from(["own-payment-cancel", "missing"]))
def test_approval_endpoints_refuse_what_is_not_a_waiting_request(client, manager, payment, sandbox, note, target):
    client.force_login(manager)
    operation_id = 999_999
    if target == "own-payment-cancel":
        operation_id = payment.operations.get(kind="capture").pk

    approve = client.post(reverse("approve", args=[operation_id]))
    reject = client.post(reverse("reject", args=[operation_id]), {f"reject-{operation_id}-note": note})

    assert approve.status_code == 302 and reject.status_code == 302
    assert sandbox.requests("bambora") == []
    assert not Operation.objects.exclude(kind="capture").exists()


def test_wrong_methods_are_refused(agent_client, payment):
    assert agent_client.get(reverse("refund", args=[payment.pk])).status_code == 405
    assert agent_client.put(reverse("cancel", args=[payment.pk])).status_code == 405
    assert agent_client.post(reverse("home")).status_code == 405
    assert agent_client.delete(reverse("order", args=[payment.order_id])).status_code == 405


def test_ids_that_do_not_exist_are_404(agent_client):
    assert agent_client.get(reverse("order", args=[10**12])).status_code == 404
    assert agent_client.get("/orders/../admin/").status_code in (302, 404)
    assert agent_client.get("/orders/-1/").status_code == 404


def test_a_key_from_another_payment_cannot_be_borrowed(agent_client, agent, make_payment, sandbox):
    first = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    second = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    used = refund_request(payment_id=first.pk, amount=1_000, reason="goodwill",
                          actor=Actor.of_user(agent), idempotency_key=new_idempotency_key())
    prefix = f"refund-{second.pk}"

    response = agent_client.post(
        reverse("refund", args=[second.pk]),
        {f"{prefix}-amount": "10.00", f"{prefix}-reason": "goodwill",
         f"{prefix}-idempotency_key": used.idempotency_key},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 422
    assert "This form has already been used." in response.content.decode()
    assert not second.operations.filter(kind="refund").exists()


def test_a_form_for_one_payment_cannot_act_on_another(agent_client, make_payment, sandbox):
    first = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    second = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    prefix = f"refund-{first.pk}"  # the fields of the first payment's form

    response = agent_client.post(
        reverse("refund", args=[second.pk]),
        {f"{prefix}-amount": "10.00", f"{prefix}-reason": "goodwill",
         f"{prefix}-idempotency_key": new_idempotency_key()},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 422
    assert not Operation.objects.filter(kind="refund").exists()


def test_html_from_customers_references_and_providers_is_shown_escaped(agent_client, make_payment, sandbox):
    payment = make_payment(
        "bambora", currency="EUR", amount=10_000, captured=10_000,
        customer_name="<script>alert('name')</script>", reference="<img src=x onerror=alert(1)>",
    )
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="status", status=400,
                         message="<b onmouseover=alert('provider')>bad</b>")
    prefix = f"refund-{payment.pk}"
    agent_client.post(
        reverse("refund", args=[payment.pk]),
        {f"{prefix}-amount": "10.00", f"{prefix}-reason": "other", f"{prefix}-note": "<i>note</i>",
         f"{prefix}-idempotency_key": new_idempotency_key()},
    )

    html = agent_client.get(reverse("order", args=[payment.order_id])).content.decode()

    assert "<script>alert" not in html and "&lt;script&gt;alert(&#x27;name&#x27;)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<b onmouseover" not in html and "&lt;b onmouseover=alert(&#x27;provider&#x27;)&gt;bad&lt;/b&gt;" in html
    assert AuditEvent.objects.filter(operation__payment=payment).exists()


# The intake, the CSV guard: the same properties for whatever text comes.


@pytest.fixture
def shop_token(db):
    return api_token_create(name="hostile shop", actor=Actor.system("tests"))[1]


def _intake(token, raw):
    return Client().post("/api/v1/orders", raw, content_type="application/json",
                         headers={"Authorization": f"Bearer {token}"})


def _order(number="100045", name="Kari Nordmann", reference="acme-100045-1"):
    return {"order_number": number, "customer": {"name": name, "email": "kari@example.com"},
            "currency": "NOK", "total": "1250.00",
            "payments": [{"provider": "bambora", "reference": reference, "amount": "1250.00"}]}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["order_number", "customer.name", "payments[0].reference"]),
       before=st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=20), lying=LYING_CHARACTERS,
       after=st.text(st.characters(categories=["L", "N", "P", "S"]), min_size=1, max_size=20))
def test_intake_refuses_text_that_lies_wherever_it_is(shop_token, field, before, lying, after):
    # Inside the text: at its ends, blanks are trimmed from order numbers rather than refused.
    text = before + lying + after
    order = {"order_number": _order(number=text), "customer.name": _order(name=text),
             "payments[0].reference": _order(reference=text)}[field]

    response = _intake(shop_token, json.dumps(order))

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Order.objects.exists()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(depth=st.integers(min_value=21, max_value=200_000), opening=st.sampled_from(["[", '{"a":']),
       where=st.sampled_from(["order_number", "customer", "payments", "top"]))
def test_intake_refuses_json_nested_deep_anywhere(shop_token, depth, opening, where):
    closing = "]" if opening == "[" else "}"
    nested = opening * depth + ("1" if opening == '{"a":' else "") + closing * depth
    raw = nested if where == "top" else json.dumps(_order()).replace(f'"{where}": ', f'"{where}": {nested}, "x": ', 1)

    response = _intake(shop_token, raw)

    assert response.status_code == 400
    assert not Order.objects.exists()


@settings(max_examples=200, deadline=None)
@given(blanks=st.text(alphabet=" \t\r\n\u00a0\u3000", max_size=5), starter=FORMULA_STARTERS, rest=st.text(max_size=30))
def test_no_formula_start_escapes_the_csv_guard(blanks, starter, rest):
    text = blanks + starter + rest

    assert safe_cell(text) == "'" + text


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=40))
def test_the_csv_guard_only_ever_prefixes(text):
    guarded = safe_cell(text)

    assert guarded in (text, "'" + text)


def test_html_from_customers_and_people_is_escaped_in_the_lists(client, agent, manager, make_payment, settings):
    # The order list, the approvals queue and "My requests" write their items in Python
    # (backoffice/templatetags/lists.py), not through the template engine's autoescaping.
    settings.REFUND_APPROVAL_LIMITS = {}
    payment = make_payment(
        "bambora", currency="EUR", amount=10_000, captured=10_000, at_provider=False,
        customer_name="<script>alert('name')</script>", customer_email="<b>@example.com",
        reference="<img src=x onerror=alert(1)>",
    )
    refund_request(payment_id=payment.pk, amount=1_000, reason="other", note="<i onclick=alert(2)>note</i>",
                   actor=Actor.of_user(agent), idempotency_key=new_idempotency_key())
    # A second order of the same name: the search lists both, each linked with the query.
    make_payment("vipps", at_provider=False, customer_name="<script>alert('name')</script>")
    # A refund no check could prove, and what the provider said of it.
    unproven = refund_request(payment_id=payment.pk, amount=500, reason="goodwill", actor=Actor.of_user(agent),
                              idempotency_key=new_idempotency_key())
    Operation.objects.filter(pk=unproven.pk).update(
        status="unknown", needs_person_since=timezone.now(), last_check="<u onclick=alert(3)>said</u>")
    escaped = {
        "&lt;script&gt;alert(&#x27;name&#x27;)&lt;/script&gt;": ["home"],
        "&lt;b&gt;@example.com": ["home"],
        "?q=%3Cscript%3E%22": ["home"],
        "&lt;img src=x onerror=alert(1)&gt;": ["approvals", "my_requests"],
        "&lt;i onclick=alert(2)&gt;note&lt;/i&gt;": ["approvals", "my_requests"],
        "&lt;u onclick=alert(3)&gt;said&lt;/u&gt;": ["needs_attention"],
    }

    pages = {}
    for user, page in ((agent, "home"), (manager, "approvals"), (agent, "my_requests"), (manager, "needs_attention")):
        client.force_login(user)
        pages[page] = client.get(reverse(page), {"q": '<script>"'} if page == "home" else {}).content.decode()

    for text, where in escaped.items():
        for page in where:
            assert text in pages[page], (text, page)
    for html in pages.values():
        assert "<script>alert" not in html and "<img src=x" not in html and "<i onclick" not in html
        assert "<u onclick" not in html
        assert "<b>@" not in html
