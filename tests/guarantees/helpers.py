"""Helpers shared by the guarantees' test modules (fixtures are in conftest.py): people using
the running server over real HTTP, and calls released at once."""

import re
import threading

import requests
from django.conf import settings
from django.test import Client
from django.urls import reverse


class Person:
    """Somebody using the running server over real HTTP, with their own session."""

    def __init__(self, live_server, user):
        client = Client()
        client.force_login(user)
        self.base = live_server.url
        self.http = requests.Session()
        self.http.cookies.set(
            settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value
        )

    def get(self, path):
        response = self.http.get(self.base + path, timeout=30)
        response.raise_for_status()
        return response.text

    def post(self, path, data, *, htmx=False, csrf_from):
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', csrf_from)[1]
        headers = {"X-CSRFToken": token, "Referer": self.base + "/"}
        if htmx:
            headers["HX-Request"] = "true"
        return self.http.post(
            self.base + path, data=data, headers=headers, timeout=30, allow_redirects=False
        )


def form_value(html, name):
    return re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)[1]


def refund_forms(people, payment, amount):
    """Each person opens the payment's order and fills its refund form with `amount`:
    [(person, the page, the form's data)], ready to be sent."""
    prefix = f"refund-{payment.pk}"
    forms = []
    for person in people:
        page = person.get(reverse("order", args=[payment.order_id]))
        forms.append((person, page, {
            f"{prefix}-amount": amount,
            f"{prefix}-reason": "customer_request",
            f"{prefix}-note": "",
            f"{prefix}-idempotency_key": form_value(page, f"{prefix}-idempotency_key"),
        }))
    return forms


def at_once(*calls):
    """Run the calls in threads released at the same moment; their results in order."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
