"""Whatever is sent, the answer is a 4xx with a message or a safe page, never a 500, and
nothing changes: not the database, not the provider. Text from outside is shown escaped."""


import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments.models import AuditEvent, Operation
from payments.money import InvalidAmount, parse_amount
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
    ]),
    st.text(max_size=300),
)


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
@given(query=NASTY_TEXT, page=st.one_of(st.text(max_size=20), st.integers().map(str)))
def test_search_never_fails(agent_client, payment, query, page):
    response = agent_client.get(reverse("home"), {"q": query, "page": page})

    # A NUL is refused before any view reads it (HostileInputMiddleware)
    assert response.status_code == 400 if "\x00" in query + page else response.status_code in (200, 302)


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
