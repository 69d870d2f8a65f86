"""The sandbox's fault injection, as the tests that act in the middle of a call rely on it."""

import base64
import json
import socket
from urllib.parse import urlsplit

import pytest
import requests

from payments.providers.base import Modification, Outcome
from payments.providers.registry import provider_for
from tests.payments.sandbox.calls import in_background


def refund(provider, reference, amount, currency, key="bo-key-1"):
    return provider_for(provider).refund(
        Modification(payment_reference=reference, currency=currency, amount=amount, idempotency_key=key)
    )


def test_a_held_answer_comes_after_the_provider_carried_it_out(sandbox, sandbox_server):
    sandbox.create_payment(provider="bambora", reference="ord-held", currency="EUR", amount=5000, captured=5000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="held")

    answer = in_background(lambda: refund("bambora", "ord-held", 1500, "EUR"))
    assert sandbox_server.sandbox.wait_for_held(1, provider="bambora", endpoint="refund")
    while_held = sandbox.payment(provider="bambora", reference="ord-held")
    sandbox.release()

    assert while_held["refunded"] == 1500
    assert answer().amount == 1500
    assert sandbox.payment(provider="bambora", reference="ord-held")["refunded"] == 1500


def test_a_late_answer_is_held_only_once_carried_out_and_never_given(sandbox, sandbox_server, settings):
    sandbox.create_payment(provider="vipps", reference="acme-late-1", currency="NOK", amount=5000, captured=5000)
    sandbox.inject_fault(provider="vipps", endpoint="refund", mode="late_answer")

    answer = in_background(lambda: refund("vipps", "acme-late-1", 1000, "NOK"))
    assert sandbox_server.sandbox.wait_for_held(1, provider="vipps", endpoint="refund")
    assert sandbox.payment(provider="vipps", reference="acme-late-1")["refunded"] == 1000
    sandbox.release()

    assert answer().outcome == Outcome.UNKNOWN


def test_a_reset_releases_what_is_held(sandbox, sandbox_server):
    sandbox.create_payment(provider="simpleps", reference="s-held", currency="USD", amount=5000, captured=5000)
    sandbox.inject_fault(provider="simpleps", endpoint="refund", mode="timeout")

    answer = in_background(lambda: refund("simpleps", "s-held", 1000, "USD"))
    assert sandbox_server.sandbox.wait_for_held(1, provider="simpleps")
    sandbox.reset()

    assert answer().outcome == Outcome.UNKNOWN
    assert sandbox_server.sandbox.held == []


def test_an_answer_fault_answers_the_body_given_and_does_nothing(sandbox):
    sandbox.create_payment(provider="optty", reference="o-answer", currency="AUD", amount=5000, captured=5000)
    body = {
        "refundReference": "bo-key-1", "bnplProvider": "KLARNA_AU", "refundedAmount": "0.00",
        "refundStatus": "SUCCESSFUL", "description": "Refund", "refundDate": "Fri, 08 Oct 2021 06:22:20 GMT",
        "bnplRefundId": "",
    }
    sandbox.inject_fault(provider="optty", endpoint="refund", mode="answer", body=body)

    confirmation = refund("optty", "o-answer", 1000, "AUD")

    assert confirmation.response == body
    assert sandbox.payment(provider="optty", reference="o-answer")["refunded"] == 0


def test_a_status_fault_carries_the_providers_own_code(sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-conflict", currency="NOK", amount=5000, captured=5000)
    sandbox.inject_fault(
        provider="vipps", endpoint="refund", mode="status", status=409, code="refund-idempotency-conflict"
    )

    answer = refund("vipps", "acme-conflict", 1000, "NOK")

    assert (answer.status, answer.code) == (409, "refund-idempotency-conflict")
    assert answer.response["title"] == "Refund idempotency conflict"
    assert sandbox.payment(provider="vipps", reference="acme-conflict")["refunded"] == 0


# Fault modes and fields, over plain HTTP -----------------------------------------------------


class BamboraCalls:
    """Bambora's API at the sandbox with good credentials: the provider whose calls need no
    token, for the fault modes that every provider shares."""

    def __init__(self, base_url, config):
        self.base = f"{base_url}/bambora/payments"
        self.auth = (f"{config['merchant_token']}@{config['merchant_number']}", config["merchant_secret"])

    def refund(self, reference, amount, *, timeout=10):
        return requests.post(
            f"{self.base}/{reference}/refund/", json={"amount": amount}, auth=self.auth,
            headers={"API-Version": "1"}, timeout=timeout,
        )

    def raw_refund(self, reference, amount):
        """The refund request as bytes on the wire, for reading the answer byte by byte."""
        body = json.dumps({"amount": amount}).encode()
        token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
        path = urlsplit(f"{self.base}/{reference}/refund/").path
        return (
            f"POST {path} HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Basic {token}\r\nAPI-Version: 1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body


@pytest.fixture
def bambora(sandbox_server, settings):
    return BamboraCalls(sandbox_server.base_url, settings.PROVIDERS["bambora"])


def refunded(sandbox, reference, provider="bambora"):
    return sandbox.payment(provider=provider, reference=reference)["refunded"]


@pytest.fixture
def tokens(sandbox_server, settings):
    """A live token of each provider that has them."""
    base, providers = sandbox_server.base_url, settings.PROVIDERS
    vipps = providers["vipps"]
    return {
        "vipps": requests.post(f"{base}/vipps/accesstoken/get", timeout=5, headers={
            "client_id": vipps["client_id"], "client_secret": vipps["client_secret"],
            "Ocp-Apim-Subscription-Key": vipps["subscription_key"],
            "Merchant-Serial-Number": vipps["merchant_serial_number"],
        }).json()["access_token"],
        "optty": requests.post(f"{base}/optty/auth/token", timeout=5, data={
            "client_id": providers["optty"]["client_id"], "client_secret": providers["optty"]["client_secret"],
            "grant_type": "client_credentials", "scope": "api-user",
        }).json()["access_token"],
        "simpleps": requests.post(f"{base}/simpleps/oauth/token", timeout=5, json={
            "clientId": providers["simpleps"]["client_id"], "secretId": providers["simpleps"]["secret_id"],
        }).json()["accessToken"],
    }


def provider_refund(provider, base_url, settings, tokens, reference):
    """A refund request as each provider's spec describes it, with good credentials."""
    config = settings.PROVIDERS[provider]
    if provider == "bambora":
        return BamboraCalls(base_url, config).refund(reference, 100)
    if provider == "vipps":
        return requests.post(
            f"{base_url}/vipps/epayment/v1/payments/{reference}/refund", timeout=5,
            json={"modificationAmount": {"currency": "NOK", "value": 100}},
            headers={
                "Authorization": f"Bearer {tokens['vipps']}", "Ocp-Apim-Subscription-Key": config["subscription_key"],
                "Merchant-Serial-Number": config["merchant_serial_number"], "Idempotency-Key": "k-1",
                "Vipps-System-Name": "merchant-backoffice", "Vipps-System-Version": "0.1.0",
            },
        )
    if provider == "optty":
        return requests.post(
            f"{base_url}/optty/api/orders/{reference}/refund", timeout=5,
            headers={"Authorization": f"Bearer {tokens['optty']}"},
            json={"refundReference": "r-1", "refundAmount": {"amount": 1, "currency": "AUD"},
                  "refundDescription": "Refund", "isActivatedViaOAuth": False},
        )
    return requests.post(
        f"{base_url}/simpleps/payments/{reference}/refund", timeout=5,
        headers={"Authorization": f"Bearer {tokens['simpleps']}"},
        json={"amount": {"total": 1, "currency": "USD"}},
    )


PAYMENTS = {
    "bambora": ("f-bambora", "EUR"), "optty": ("f-optty", "AUD"),
    "simpleps": ("f-simpleps", "USD"), "vipps": ("acme-faults-1", "NOK"),
}
ERROR_KEYS = {
    "bambora": {"type", "title", "detail", "status"},
    "optty": {"statusCode", "message", "error"},
    "simpleps": {"status", "message", "responseCode"},
    "vipps": {"type", "title", "detail", "status", "traceId"},
}


@pytest.mark.parametrize("provider", list(PAYMENTS))
@pytest.mark.parametrize("mode", ["status", "error"])
def test_a_429_with_retry_after_in_each_providers_own_format(
    provider, mode, sandbox, sandbox_server, settings, tokens
):
    reference, currency = PAYMENTS[provider]
    sandbox.create_payment(provider=provider, reference=reference, currency=currency, amount=5000, captured=5000)
    sandbox.inject_fault(provider=provider, endpoint="refund", mode=mode, status=429, retry_after=30)

    response = provider_refund(provider, sandbox_server.base_url, settings, tokens, reference)

    assert (response.status_code, response.headers["Retry-After"]) == (429, "30")
    assert set(response.json()) == ERROR_KEYS[provider]
    assert refunded(sandbox, reference, provider) == 0


@pytest.mark.parametrize(("status", "error_type", "title"), [
    (423, "request-in-progress", "Request in progress"), (429, "too-many-requests", "Too Many Requests"),
])
def test_vipps_423_and_429_are_problems(status, error_type, title, sandbox, sandbox_server, settings, tokens):
    sandbox.create_payment(provider="vipps", reference="acme-faults-2", currency="NOK", amount=5000, captured=5000)
    sandbox.inject_fault(provider="vipps", endpoint="refund", mode="status", status=status, retry_after=2)

    response = provider_refund("vipps", sandbox_server.base_url, settings, tokens, "acme-faults-2")

    assert (response.status_code, response.headers["Retry-After"]) == (status, "2")
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert (problem["type"].rsplit("/", 1)[-1], problem["title"], problem["status"]) == (error_type, title, status)


@pytest.mark.parametrize("status", [None, 502])
def test_an_html_fault_answers_a_waf_page_and_does_nothing(status, bambora, sandbox):
    sandbox.create_payment(provider="bambora", reference="f-html", currency="EUR", amount=5000, captured=5000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="html", status=status)

    response = bambora.refund("f-html", 1000)

    assert response.status_code == (status or 403)
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<html>" in response.text and "firewall" in response.text
    assert refunded(sandbox, "f-html") == 0
    assert sandbox.requests("bambora")[-1]["answer"]["off_spec"] is True


@pytest.mark.parametrize(
    ("mode", "status", "fields"),
    [("html", 504, {}), ("error", 503, {}), ("status", 409, {"code": "payment_operation_blocked"}),
     ("answer", 201, {"body": {"payment": "f-carried", "state": "Captured"}})],
)
def test_carried_out_does_the_call_then_answers_as_the_fault_says(mode, status, fields, bambora, sandbox):
    sandbox.create_payment(provider="bambora", reference="f-carried", currency="EUR", amount=5000, captured=5000)
    sandbox.inject_fault(
        provider="bambora", endpoint="refund", mode=mode, status=status, carried_out=True, **fields
    )

    response = bambora.refund("f-carried", 1000)

    assert response.status_code == status
    assert refunded(sandbox, "f-carried") == 1000
    assert [op["kind"] for op in sandbox.payment(provider="bambora", reference="f-carried")["operations"]] == ["refund"]


def test_without_carried_out_the_same_faults_do_nothing(bambora, sandbox):
    sandbox.create_payment(provider="bambora", reference="f-not", currency="EUR", amount=5000, captured=5000)
    for mode, status in (("html", 504), ("error", 503), ("status", 409)):
        sandbox.inject_fault(provider="bambora", endpoint="refund", mode=mode, status=status)

        assert bambora.refund("f-not", 1000).status_code == status

    assert refunded(sandbox, "f-not") == 0


def test_a_slow_answer_is_carried_out_first_and_held_until_released(bambora, sandbox, sandbox_server):
    sandbox.create_payment(provider="bambora", reference="f-slow", currency="EUR", amount=5000, captured=5000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="slow", delay=60)

    answer = in_background(lambda: bambora.refund("f-slow", 1000, timeout=30))
    assert sandbox_server.sandbox.wait_for_held(1, provider="bambora", endpoint="refund")
    carried_out_while_held = refunded(sandbox, "f-slow")
    sandbox.release()

    assert carried_out_while_held == 1000
    response = answer()
    assert (response.status_code, response.json()["refunds"]) == (201, [{"amount": 1000}])


def test_a_slow_answer_comes_by_itself_after_its_delay(bambora, sandbox):
    sandbox.create_payment(provider="bambora", reference="f-slow-2", currency="EUR", amount=5000, captured=5000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="slow", delay=0.2)

    response = bambora.refund("f-slow-2", 1000)

    assert (response.status_code, refunded(sandbox, "f-slow-2")) == (201, 1000)


def test_a_client_that_gives_up_on_a_slow_answer_leaves_it_carried_out(bambora, sandbox):
    sandbox.create_payment(provider="bambora", reference="f-slow-3", currency="EUR", amount=5000, captured=5000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="slow", delay=60)

    with pytest.raises(requests.ReadTimeout):
        bambora.refund("f-slow-3", 1000, timeout=0.5)

    assert refunded(sandbox, "f-slow-3") == 1000
    sandbox.reset()  # lets the held answer go


def test_a_dripping_answer_is_the_whole_normal_answer_byte_by_byte(bambora, sandbox):
    sandbox.create_payment(provider="bambora", reference="f-drip", currency="EUR", amount=5000, captured=5000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="drip", interval=0.002)

    response = bambora.refund("f-drip", 1000)

    assert (response.status_code, response.json()["refunds"]) == (201, [{"amount": 1000}])
    assert refunded(sandbox, "f-drip") == 1000


def test_a_dripping_answer_sends_one_byte_then_waits_and_stops_when_released(bambora, sandbox, sandbox_server):
    sandbox.create_payment(provider="bambora", reference="f-drip-2", currency="EUR", amount=5000, captured=5000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="drip", interval=60)
    host, port = sandbox_server.server_address[:2]

    with socket.create_connection((host, port), timeout=30) as connection:
        connection.sendall(bambora.raw_refund("f-drip-2", 1000))
        first = connection.recv(1024)
        assert sandbox_server.sandbox.wait_for_held(1, provider="bambora", endpoint="refund")
        carried_out = refunded(sandbox, "f-drip-2")
        sandbox.release()
        rest = connection.recv(1024)

    assert first == b"H"  # of "HTTP/1.1 201 Created": one byte, then a wait of 60 s
    assert carried_out == 1000
    assert rest == b""  # released: the connection is closed, the rest never sent


def test_a_dripping_answer_stops_when_the_client_goes_away(bambora, sandbox, sandbox_server):
    sandbox.create_payment(provider="bambora", reference="f-drip-3", currency="EUR", amount=5000, captured=5000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="drip", interval=0.01)
    host, port = sandbox_server.server_address[:2]

    with socket.create_connection((host, port), timeout=30) as connection:
        connection.sendall(bambora.raw_refund("f-drip-3", 1000))
        assert connection.recv(1) == b"H"
        assert sandbox_server.sandbox.wait_for_held(1, provider="bambora", endpoint="refund")

    assert sandbox_server.sandbox.wait_for_none_held(provider="bambora", endpoint="refund")
    assert refunded(sandbox, "f-drip-3") == 1000


@pytest.mark.parametrize(
    "fault",
    [
        {"mode": "drop", "carried_out": True},
        {"mode": "held", "retry_after": 5},
        {"mode": "slow"},
        {"mode": "status", "delay": 1},
        {"mode": "status", "interval": 1},
        {"mode": "drip", "interval": 0},
        {"mode": "status", "retry_after": -1},
        {"mode": "answer"},
        {"mode": "sideways"},
    ],
)
def test_a_fault_that_cannot_be_is_refused(fault, sandbox):
    with pytest.raises(requests.HTTPError) as refused:
        sandbox.inject_fault(provider="bambora", endpoint="refund", **fault)

    assert refused.value.response.status_code == 400
