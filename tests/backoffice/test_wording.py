"""The desk writes one apostrophe, the typographic one (’), in its own words and in those it
shows from the services and the providers."""

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request
from tests.backoffice.helpers import refund_data

pytestmark = pytest.mark.django_db

# Attributes whose text a person sees or hears.
READ_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt"}


class VisibleText(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts, self.skipping = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skipping += 1
        self.parts += [value for name, value in attrs if name in READ_ATTRIBUTES and value]

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping and data.strip():
            self.parts.append(data.strip())


def straight_apostrophes(response):
    parser = VisibleText()
    parser.feed(response.content.decode())
    return [part for part in parser.parts if "'" in part]


def test_no_straight_apostrophe_on_the_desk(client, agent, manager, make_payment, sandbox):
    # given: a payment whose refund waits for approval ("Waiting for a manager's approval."),
    # and one whose provider answered with a gateway's page ("... not with its API's answer.")
    waiting = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    refund_request(payment_id=waiting.pk, amount=60_000, reason="goodwill", actor=Actor.of_user(agent),
                   idempotency_key=new_idempotency_key())
    unreadable = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="garbage")
    client.force_login(agent)
    refused = client.post(reverse("refund", args=[unreadable.pk]), refund_data(unreadable, "10.00"),
                          headers={"HX-Request": "true"})
    assert "Bambora answered with a web page (HTTP 200), not with its API’s answer." in refused.content.decode()

    # when / then: each page the agent and the manager see
    pages = {
        "home": client.get(reverse("home")),
        "order waiting": client.get(reverse("order", args=[waiting.order_id])),
        "order unknown": client.get(reverse("order", args=[unreadable.order_id])),
        "refused card": refused,
        "not allowed": client.get(reverse("approvals")),
        "not found": client.get("/orders/999999/"),
        "export refused": (client.force_login(manager), client.get(reverse("export_payments"), {"from": "x"}))[1],
        "approvals": client.get(reverse("approvals")),
    }
    client.logout()
    pages["login"] = client.get(reverse("login"))
    pages["login refused"] = client.post(reverse("login"), {"username": "agent", "password": "wrong"})
    for name, response in pages.items():
        assert straight_apostrophes(response) == [], name
