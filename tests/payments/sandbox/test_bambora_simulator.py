"""The Bambora simulator's own rules, over HTTP as a client of Bambora would see them, where the
adapter's tests do not reach (it never sends a request Bambora would refuse for its form).

Bambora's refund names no currency (only an amount in the payment's minor units), so there is no
currency to match."""

import base64

import pytest
import requests

from tests.specs.conformance import OFF_SPEC_HEADER


@pytest.fixture
def config(settings):
    return settings.PROVIDERS["bambora"]


def basic(username, password):
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class BamboraApi:
    """The simulated Bambora API at the sandbox, called with good credentials and
    `API-Version: 1` unless told otherwise (a header given as None is left out). `off_spec`
    says why a request is one Bambora's swagger refuses, on purpose."""

    def __init__(self, base, config):
        self.base = base
        self.headers = {
            "Authorization": basic(
                f"{config['merchant_token']}@{config['merchant_number']}", config["merchant_secret"]
            ),
            "API-Version": "1",
        }

    def call(self, method, reference, action="", *, body=None, headers=None, off_spec=None):
        sent = {**self.headers, **(headers or {}), OFF_SPEC_HEADER: off_spec}
        sent = {name: value for name, value in sent.items() if value is not None}
        url = f"{self.base}/payments/{reference}/" + (f"{action}/" if action else "")
        return requests.request(method, url, headers=sent, json=body, timeout=5)


@pytest.fixture
def bambora(sandbox_server, config):
    return BamboraApi(f"{sandbox_server.base_url}/bambora", config)


def assert_error(response, status, error_type):
    """Bambora's error format: `{type, title, detail, status}` in JSON, `type` a URL naming a
    domain error, "about:blank" for a generic one (`error_type` None)."""
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()
    assert set(error) == {"type", "title", "detail", "status"}
    assert error["status"] == status
    if error_type is None:
        assert error["type"] == "about:blank"
    else:
        assert error["type"] == f"http://api.bambora.com/definitions/payments/{error_type}"
    assert error["title"] and error["detail"]
    return error


def payment(sandbox, reference, *, amount=5000, captured=0, refunded=0):
    sandbox.create_payment(provider="bambora", reference=reference, currency="EUR", amount=amount,
                           captured=captured, refunded=refunded)


@pytest.mark.parametrize(
    ("header", "value", "status", "error_type"),
    [
        ("Authorization", None, 401, None),
        ("Authorization", "wrong-secret", 401, None),
        ("Authorization", "wrong-token", 401, None),
        ("Authorization", "Bearer something", 401, None),
        ("Authorization", "Basic not-base64!", 401, None),
        ("API-Version", None, 400, None),
        ("API-Version", "2", 400, None),
    ],
)
def test_every_call_needs_the_merchants_credentials_and_api_version_1(
    bambora, sandbox, config, header, value, status, error_type
):
    payment(sandbox, "b-1", captured=5000)
    if value == "wrong-secret":
        value = basic(f"{config['merchant_token']}@{config['merchant_number']}", "not-it")
    elif value == "wrong-token":
        value = basic(f"not-it@{config['merchant_number']}", config["merchant_secret"])

    off_spec = "no API-Version" if (header, value) == ("API-Version", None) else None

    response = bambora.call(
        "POST", "b-1", "refund", body={"amount": 100}, headers={header: value}, off_spec=off_spec
    )

    assert_error(response, status, error_type)
    assert sandbox.payment(provider="bambora", reference="b-1")["refunded"] == 0


def test_refund_only_of_captured_money(bambora, sandbox):
    payment(sandbox, "b-2")

    response = bambora.call("POST", "b-2", "refund", body={"amount": 100})

    assert_error(response, 402, "cannot_refund")
    assert sandbox.payment(provider="bambora", reference="b-2")["refunded"] == 0


def test_refunds_never_above_captured_minus_refunded(bambora, sandbox):
    payment(sandbox, "b-3", amount=10_000, captured=5000, refunded=3000)

    too_much = bambora.call("POST", "b-3", "refund", body={"amount": 2001})
    the_rest = bambora.call("POST", "b-3", "refund", body={"amount": 2000})
    one_more = bambora.call("POST", "b-3", "refund", body={"amount": 1})

    assert_error(too_much, 402, "cannot_refund")
    assert the_rest.status_code == 201
    assert the_rest.json()["refunds"] == [{"amount": 3000}, {"amount": 2000}]
    assert the_rest.json()["state"] == "Refunded"
    assert_error(one_more, 402, "cannot_refund")
    assert sandbox.payment(provider="bambora", reference="b-3")["refunded"] == 5000


def test_a_refund_without_an_amount_refunds_what_is_left(bambora, sandbox):
    payment(sandbox, "b-4", captured=5000, refunded=1000)

    response = bambora.call("POST", "b-4", "refund")

    assert response.status_code == 201
    assert sandbox.payment(provider="bambora", reference="b-4")["refunded"] == 5000


@pytest.mark.parametrize("amount", [0, -1, "100", 12.5, None])
def test_an_amount_is_a_positive_integer_of_minor_units(bambora, sandbox, amount):
    payment(sandbox, "b-5", captured=5000)

    response = bambora.call("POST", "b-5", "refund", body={"amount": amount}, off_spec="not a positive integer")

    assert_error(response, 400, None)
    assert sandbox.payment(provider="bambora", reference="b-5")["refunded"] == 0


def test_cancel_only_while_authorized(bambora, sandbox):
    payment(sandbox, "b-6", captured=5000)
    payment(sandbox, "b-7")

    captured = bambora.call("POST", "b-6", "cancel")
    authorized = bambora.call("POST", "b-7", "cancel")
    again = bambora.call("POST", "b-7", "cancel")
    refund_after = bambora.call("POST", "b-7", "refund", body={"amount": 100})

    assert_error(captured, 402, "cannot_cancel")
    assert (authorized.status_code, authorized.json()["state"]) == (200, "Canceled")
    assert authorized.json()["operations"] == []
    assert_error(again, 402, "cannot_cancel")
    assert_error(refund_after, 402, "cannot_refund")
    assert sandbox.payment(provider="bambora", reference="b-6")["cancelled"] == 0
    assert sandbox.payment(provider="bambora", reference="b-7")["cancelled"] == 5000


def test_an_unknown_payment(bambora):
    assert_error(bambora.call("GET", "nobody-knows-me"), 404, "payment_not_found")
    assert_error(bambora.call("POST", "nobody-knows-me", "refund", body={"amount": 1}), 404, "payment_not_found")


def test_the_payment_object(bambora, sandbox, config):
    payment(sandbox, "b-8", captured=4000)
    bambora.call("POST", "b-8", "refund", body={"amount": 1500})

    response = bambora.call("GET", "b-8")

    assert response.status_code == 200
    assert response.json() == {
        "payment": "b-8",
        "state": "Captured",
        "currency": "EUR",
        "amount": 5000,
        "captures": [{"amount": 4000}],
        "refunds": [{"amount": 1500}],
        "operations": ["Refund"],
        "operationInProgress": False,
        "merchant": config["merchant_number"],
        "region": "emea_0",
        "comment": "",
    }


def test_a_broken_json_body_is_a_bad_request(bambora, sandbox):
    payment(sandbox, "b-9", captured=5000)

    response = requests.post(
        f"{bambora.base}/payments/b-9/refund/",
        headers={**bambora.headers, "Content-Type": "application/json", OFF_SPEC_HEADER: "not JSON"},
        data=b'{"amount": ',
        timeout=5,
    )

    assert_error(response, 400, None)


def test_a_capture_is_answered_201_with_the_payment_as_the_swagger_says(bambora, sandbox):
    payment(sandbox, "b-10")

    response = bambora.call("POST", "b-10", "capture", body={"amount": 3000})

    assert response.status_code == 201
    assert (response.json()["state"], response.json()["captures"]) == ("Captured", [{"amount": 3000}])
    assert sandbox.payment(provider="bambora", reference="b-10")["captured"] == 3000


def test_a_get_may_answer_the_published_payment_response_exactly_without_refunds(bambora, sandbox, config):
    sandbox.create_payment(provider="bambora", reference="b-11", currency="EUR", amount=5000, captured=4000,
                           refunds_in_get=False)

    refund = bambora.call("POST", "b-11", "refund", body={"amount": 1500})
    read = bambora.call("GET", "b-11")

    # The refund answer is the seed's, with its refunds list; the GET is the swagger's.
    assert refund.json()["refunds"] == [{"amount": 1500}]
    assert read.json() == {
        "payment": "b-11",
        "state": "Captured",
        "currency": "EUR",
        "amount": 5000,
        "captures": [{"amount": 4000}],
        "merchant": config["merchant_number"],
        "region": "emea_0",
        "comment": "",
    }
    assert sandbox.payment(provider="bambora", reference="b-11")["refunded"] == 1500


def test_a_cancel_answer_keeps_its_refunds_list_without_refunds_in_get(bambora, sandbox):
    sandbox.create_payment(provider="bambora", reference="b-12", currency="EUR", amount=5000, refunds_in_get=False)

    cancel = bambora.call("POST", "b-12", "cancel")

    assert (cancel.json()["state"], cancel.json()["refunds"]) == ("Canceled", [])
    assert "refunds" not in bambora.call("GET", "b-12").json()


@pytest.mark.parametrize(
    ("action", "body", "why"),
    [
        ("capture", {}, "a capture body without its amount"),
        ("capture", {"comment": "no amount"}, "a capture body without its amount"),
        ("refund", {"amount": 100, "comment": "x" * 257}, "a comment of 257 characters"),
        ("refund", {"amount": 100, "comment": None}, "a comment that is not text"),
        ("refund", [100], "a body that is not an object"),
    ],
)
def test_what_the_swagger_refuses_is_refused_and_changes_nothing(bambora, sandbox, action, body, why):
    payment(sandbox, "b-13", captured=0 if action == "capture" else 5000)

    response = bambora.call("POST", "b-13", action, body=body, off_spec=why)

    assert_error(response, 400, None)
    view = sandbox.payment(provider="bambora", reference="b-13")
    assert (view["captured"], view["refunded"], view["operations"]) == (0 if action == "capture" else 5000, 0, [])


def test_a_reference_longer_than_two_thousand_characters_is_a_bad_request(bambora):
    response = bambora.call("GET", "r" * 2001, off_spec="longer than the swagger allows")

    assert_error(response, 400, None)
