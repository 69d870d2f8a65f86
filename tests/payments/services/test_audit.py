"""The audit log's own rules (payments/services/audit.py): whose address an event records,
who acts where no service was told, what an event names. That the log cannot be changed is the
database's (tests/payments/test_models.py)."""

import sys

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory

from payments.exceptions import ActionRefused
from payments.models import AuditAction, AuditEvent, Operation
from payments.services.audit import Actor, audit_record, audit_refusal, client_ip, current_actor, serving
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request

pytestmark = pytest.mark.django_db

PROXY, CLIENT = "10.0.0.1", "198.51.100.7"


def request_from(remote_addr, forwarded_for=None, user=None):
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {}
    request = RequestFactory().get("/", REMOTE_ADDR=remote_addr, **headers)
    request.user = user or AnonymousUser()
    return request


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "address"),
    [
        (0, None, PROXY),  # no proxy: the connection's
        (0, f"203.0.113.66, {CLIENT}", PROXY),  # a header nobody trusts is ignored
        (1, CLIENT, CLIENT),  # the address the proxy saw
        (1, f"203.0.113.66, {CLIENT}", CLIENT),  # what the client wrote itself is never taken
        (2, f"{CLIENT}, 10.0.0.2", CLIENT),  # behind two proxies
    ],
)
def test_the_address_is_the_one_the_trusted_proxies_saw(settings, proxies, forwarded_for, address):
    settings.TRUSTED_PROXY_COUNT = proxies

    assert client_ip(request_from(PROXY, forwarded_for)) == address


def test_while_a_request_is_served_its_person_acts(agent):
    with serving(request_from(CLIENT, user=agent)):
        assert current_actor() == Actor(user=agent, label="agent", ip=CLIENT)


@pytest.mark.parametrize(
    ("argv", "label"),
    [
        (["/srv/app/manage.py", "createsuperuser", "--noinput"], "system: manage.py createsuperuser"),
        (["/srv/venv/lib/python3/site-packages/django/__main__.py", "shell"], "system: django"),
        ([""], "system: python"),
    ],
)
def test_outside_a_request_the_program_acts(monkeypatch, argv, label):
    monkeypatch.setattr(sys, "argv", argv)

    assert current_actor() == Actor(user=None, label=label)


def test_an_event_about_an_operation_names_its_payment_order_and_currency(make_payment, agent):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    operation = refund_request(payment_id=payment.pk, amount=1_000, reason="goodwill",
                               actor=Actor.of_user(agent), idempotency_key=new_idempotency_key())

    event = audit_record(actor=Actor.of_user(agent, ip=CLIENT), action=AuditAction.ACTION_REFUSED,
                         operation=Operation.objects.get(pk=operation.pk))

    assert (event.payment, event.order, event.currency) == (payment, payment.order, "EUR")
    assert (event.actor, event.actor_label, event.ip) == (agent, "agent", CLIENT)


def test_a_refusal_is_recorded_and_raised(make_payment, agent):
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    operation = refund_request(payment_id=payment.pk, amount=1_000, reason="goodwill",
                               actor=Actor.of_user(agent), idempotency_key=new_idempotency_key())

    with pytest.raises(ActionRefused, match="Not now."):
        audit_refusal(actor=Actor.of_user(agent), operation=operation, refusal=ActionRefused("Not now."))

    [refused] = AuditEvent.objects.filter(action=AuditAction.ACTION_REFUSED)
    assert (refused.operation, refused.message, refused.actor) == (operation, "Not now.", agent)
