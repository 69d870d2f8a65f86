"""The order intake API: what a shop sends, what is stored, and what is refused."""

import json
import threading
import time

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from payments.models import ApiToken, AuditAction, AuditEvent, Order, Payment
from tests.backoffice.helpers import INTAKE_URL, body, send, stored

pytestmark = pytest.mark.django_db

URL = INTAKE_URL


def test_a_valid_order_is_stored_and_synced_with_the_provider(client, token, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-100045-1", currency="NOK", amount=125_000, captured=125_000)

    response = send(client, token, body())

    assert response.status_code == 201
    order = Order.objects.get(number="100045")
    assert response.json() == {
        "order_number": "100045",
        "url": "http://testserver" + reverse("order", args=[order.pk]),
        "payments": [{"provider": "vipps", "reference": "acme-100045-1", "synced": True}],
    }
    payment = order.payments.get()
    assert (payment.authorized, payment.captured, payment.currency) == (125_000, 125_000, "NOK")
    assert AuditEvent.objects.filter(actor_label="system: api: webshop", payment=payment).exists()
    assert ApiToken.objects.get(name="webshop").last_used_at is not None
    call_command("check_ledger")


def test_the_same_order_again_is_idempotent(client, token, sandbox):
    send(client, token, body())
    before = stored()

    response = send(client, token, body())

    assert response.status_code == 200
    assert stored() == before


def test_a_known_order_number_with_an_invalid_body_is_still_a_400(client, token, sandbox):
    send(client, token, body())
    before = stored()

    response = send(client, token, body(total="12.345"))

    assert response.status_code == 400
    assert "total" in response.json()["errors"]
    assert stored() == before


def test_a_provider_that_does_not_answer_leaves_the_payment_not_yet_synced(client, token, sandbox):
    sandbox.inject_fault(provider="vipps", endpoint="token", mode="error", status=503)

    response = send(client, token, body())

    assert response.status_code == 201
    assert response.json()["payments"][0]["synced"] is False
    assert Payment.objects.get().synced_at is None


def test_providers_are_read_for_one_provider_timeout_at_most_and_the_rest_left_for_later(
    client, token, sandbox, settings
):
    # The shop waits for the answer: a provider that hangs must not hold it for every payment.
    settings.PROVIDER_TIMEOUT = 1
    sandbox.inject_fault(provider="vipps", endpoint="token", mode="timeout")
    payments = [
        {"provider": "vipps", "reference": "acme-100045-1", "amount": "625.00", "captured": "625.00"},
        {"provider": "bambora", "reference": "acme-100045-2", "amount": "625.00", "captured": "625.00"},
    ]
    sandbox.create_payment(provider="bambora", reference="acme-100045-2", currency="NOK", amount=62_500,
                           captured=62_500)
    sandbox.clear_requests()

    response = send(client, token, body(payments=payments))

    assert response.status_code == 201
    assert [p["synced"] for p in response.json()["payments"]] == [False, False]
    assert sandbox.requests(provider="bambora") == []  # left for sync_payments, not read late
    assert not Payment.objects.filter(synced_at__isnull=False).exists()


def test_a_payment_another_order_has_is_refused(client, token, sandbox):
    send(client, token, body())

    response = send(client, token, body(order_number="100046"))

    assert response.status_code == 400
    assert response.json()["errors"]["payments[0].reference"] == ["Another order already has this payment."]


@pytest.mark.parametrize(
    ("headers", "content"),
    [
        ({}, None),
        ({"Authorization": "Bearer nope"}, None),
        ({"Authorization": "Basic d2Vic2hvcDp4"}, None),
    ],
)
def test_without_a_valid_token_nothing_is_stored(client, headers, content):
    response = client.post(URL, json.dumps(body()), content_type="application/json", headers=headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert stored() == (0, 0, 0)


def test_a_revoked_token_is_refused_and_the_revocation_audited(client, token, superuser):
    api_token = ApiToken.objects.get(name="webshop")
    admin = Client()
    admin.force_login(superuser)
    changelist = reverse("admin:payments_apitoken_changelist")

    admin.post(changelist, {"action": "revoke", "_selected_action": [api_token.pk]})
    admin.post(changelist, {"action": "revoke", "_selected_action": [api_token.pk]})  # revoked already
    response = send(client, token, body())

    assert response.status_code == 401
    assert ApiToken.objects.get(name="webshop").revoked
    assert stored() == (0, 0, 0)
    [event] = AuditEvent.objects.filter(action=AuditAction.API_TOKEN_REVOKED)
    assert (event.actor, event.ip) == (superuser, "127.0.0.1")
    assert event.message == f"API token webshop ({api_token.prefix}…) revoked."


def test_malformed_bodies_are_400(client, token):
    assert client.post(URL, "{nope", content_type="application/json", headers={"Authorization": f"Bearer {token}"}).status_code == 400
    assert client.post(URL, "a=b", content_type="application/x-www-form-urlencoded", headers={"Authorization": f"Bearer {token}"}).status_code == 400
    assert client.get(URL, headers={"Authorization": f"Bearer {token}"}).status_code == 405


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


@hypothesis_settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    number=st.one_of(st.text(max_size=80), st.integers()), currency=JSONISH, total=JSONISH,
    reference=st.one_of(st.text(max_size=60), st.just("x" * 2_001), st.just("../../etc"), st.just("<b>")),
    amount=st.one_of(JSONISH, st.sampled_from(["-1", "NaN", "1e9", "١٠", " 5 ", "0"])),
    extra=JSONISH,
)
def test_hostile_orders_get_a_4xx_and_never_a_half_stored_order(client, token, number, currency, total, reference, amount, extra):
    data = body(order_number=number, currency=currency, total=total,
                payments=[{"provider": "bambora", "reference": reference, "amount": amount}, extra])

    response = send(client, token, data)

    assert response.status_code in (200, 201, 400)
    if response.status_code == 400:
        assert response.json()["errors"]
    for order in Order.objects.all():
        assert order.payments.exists()


@pytest.mark.django_db(transaction=True)
def test_a_payment_stored_meanwhile_by_another_order_is_a_409_and_stores_nothing(token, sandbox):
    # given: another request has stored the same payment with another order, and has not yet
    # committed, so the check for payments other orders hold does not see it
    stored_it, commit = threading.Event(), threading.Event()

    def other_request():
        try:
            with transaction.atomic():
                order = Order.objects.create(number="200001", customer_name="Other", customer_email="o@example.com",
                                             currency="NOK", total=125_000)
                Payment.objects.create(order=order, provider="vipps", reference="acme-100045-1", currency="NOK",
                                       authorized=125_000)
                stored_it.set()
                commit.wait(timeout=30)
        finally:
            connection.close()

    answers = []

    def this_request():
        try:
            answers.append(send(Client(), token, body()))
        finally:
            connection.close()

    other = threading.Thread(target=other_request)
    other.start()
    assert stored_it.wait(timeout=30)
    this = threading.Thread(target=this_request)
    this.start()

    # when: this request's insert waits on the unique index for the other transaction...
    deadline = time.monotonic() + 30
    while not _a_connection_waits_for_a_lock():
        assert time.monotonic() < deadline, "the second insert never waited for the first"
    # ...which then commits
    commit.set()
    other.join()
    this.join()

    # then
    [response] = answers
    assert response.status_code == 409
    assert response.json() == {"errors": {"payments": ["Another order has just been stored with one of these payments."]}}
    assert list(Order.objects.values_list("number", flat=True)) == ["200001"]
    assert Payment.objects.count() == 1
    assert sandbox.requests() == []


def _a_connection_waits_for_a_lock():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0
