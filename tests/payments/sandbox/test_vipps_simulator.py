"""The Vipps simulator's own rules, over HTTP as a client of Vipps would see them, where the
adapter's tests do not reach (it never sends a request Vipps would refuse for its headers)."""

import base64
import json
from datetime import UTC, datetime

import pytest
import requests

from payments.sandbox.server import SandboxRequest
from payments.sandbox.vipps import VippsSimulator
from tests.payments.sandbox.calls import in_background
from tests.specs.conformance import OFF_SPEC_HEADER


@pytest.fixture
def config(settings):
    return settings.PROVIDERS["vipps"]


class VippsApi:
    """The simulated Vipps API at the sandbox, called with the headers of a good call unless
    told otherwise (a header given as None is left out). `off_spec` says why a request is one
    the ePayment spec refuses, on purpose."""

    def __init__(self, base, headers):
        self.base = base
        self.headers = headers

    def call(self, method, path, *, key=None, body=None, headers=None, off_spec=None):
        sent = {**self.headers, **(headers or {}), OFF_SPEC_HEADER: off_spec}
        if key is not None:
            sent["Idempotency-Key"] = key
        sent = {name: value for name, value in sent.items() if value is not None}
        return requests.request(
            method, f"{self.base}/epayment/v1/payments/{path}", headers=sent, json=body, timeout=5
        )


def token_headers(config):
    return {
        "client_id": config["client_id"],
        "client_secret": config["client_secret"],
        "Ocp-Apim-Subscription-Key": config["subscription_key"],
        "Merchant-Serial-Number": config["merchant_serial_number"],
    }


@pytest.fixture
def vipps_api(sandbox_server, config):
    base = f"{sandbox_server.base_url}/vipps"
    token = requests.post(
        f"{base}/accesstoken/get", headers=token_headers(config), timeout=5
    ).json()["access_token"]
    return VippsApi(
        base,
        {
            "Authorization": f"Bearer {token}",
            "Ocp-Apim-Subscription-Key": config["subscription_key"],
            "Merchant-Serial-Number": config["merchant_serial_number"],
            "Vipps-System-Name": "merchant-backoffice",
            "Vipps-System-Version": "0.1.0",
        },
    )


def refund_body(value, currency="NOK"):
    return {"modificationAmount": {"currency": currency, "value": value}}


def assert_problem(response, status, error_type=None):
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert set(problem) == {"type", "title", "detail", "status", "traceId"}
    assert problem["status"] == status
    if error_type:
        assert problem["type"].rsplit("/", 1)[-1] == error_type
    return problem


def test_the_token_answer(sandbox_server, config):
    response = requests.post(
        f"{sandbox_server.base_url}/vipps/accesstoken/get", headers=token_headers(config), timeout=5
    )

    answer = response.json()
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert (answer["token_type"], answer["expires_in"]) == ("Bearer", "3600")
    assert answer["access_token"] and answer["expires_on"].isdigit()
    assert base64.b64decode(answer["access_token"], validate=True)  # `format: byte`


@pytest.mark.parametrize(
    "wrong", ["client_id", "client_secret", "Ocp-Apim-Subscription-Key", "Merchant-Serial-Number"]
)
def test_the_token_endpoint_checks_all_four_headers(sandbox_server, config, wrong):
    headers = {**token_headers(config), wrong: "not-it"}
    if wrong == "Merchant-Serial-Number":
        headers[OFF_SPEC_HEADER] = "an MSN is 4 to 6 digits"

    response = requests.post(f"{sandbox_server.base_url}/vipps/accesstoken/get", headers=headers, timeout=5)

    assert_problem(response, 401)


@pytest.mark.parametrize(
    ("header", "value", "status"),
    [
        ("Authorization", None, 401),
        ("Authorization", "Bearer not-a-token", 401),
        ("Ocp-Apim-Subscription-Key", "someone-else", 401),
        ("Merchant-Serial-Number", None, 400),
        ("Merchant-Serial-Number", "654321", 403),
        ("Vipps-System-Name", None, 400),
        ("Vipps-System-Version", None, 400),
        ("Vipps-System-Name", "x" * 31, 400),
        ("Vipps-System-Plugin-Version", "1." * 16, 400),
    ],
)
def test_every_call_checks_the_credentials_and_the_vipps_headers(vipps_api, sandbox, header, value, status):
    sandbox.create_payment(provider="vipps", reference="acme-order-1", currency="NOK", amount=5000, captured=5000)

    off_spec = {
        ("Authorization", None): "no token",
        ("Merchant-Serial-Number", None): "no MSN",
        ("Vipps-System-Name", "x" * 31): "too long",
        ("Vipps-System-Plugin-Version", "1." * 16): "too long",
    }.get((header, value))

    response = vipps_api.call(
        "POST", "acme-order-1/refund", key="k-1", body=refund_body(100), headers={header: value}, off_spec=off_spec
    )

    assert_problem(response, status)
    assert sandbox.payment(provider="vipps", reference="acme-order-1")["refunded"] == 0


def test_system_headers_of_thirty_characters_are_fine(vipps_api, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-2", currency="NOK", amount=5000)

    response = vipps_api.call("GET", "acme-order-2", headers={"Vipps-System-Name": "x" * 30})

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("key", "status", "off_spec"), [(None, 400, "no key"), ("k" * 51, 400, "too long"), ("k" * 50, 200, None)]
)
def test_every_post_needs_an_idempotency_key_of_at_most_fifty_characters(vipps_api, sandbox, key, status, off_spec):
    sandbox.create_payment(provider="vipps", reference="acme-order-3", currency="NOK", amount=5000, captured=5000)

    response = vipps_api.call("POST", "acme-order-3/refund", key=key, body=refund_body(100), off_spec=off_spec)

    assert response.status_code == status


def test_references_malformed_and_unknown(vipps_api):
    assert_problem(vipps_api.call("GET", "short", off_spec="too short"), 400)
    assert_problem(vipps_api.call("GET", "no_underscores_here", off_spec="underscores"), 400)
    assert_problem(vipps_api.call("GET", "nobody-knows-me"), 404, "reference-not-found")


def test_the_state_stays_authorized_and_only_the_aggregate_moves(vipps_api, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-4", currency="EUR", amount=10_000)

    vipps_api.call("POST", "acme-order-4/capture", key="k-capture", body=refund_body(6000, "EUR"))
    vipps_api.call("POST", "acme-order-4/refund", key="k-refund", body=refund_body(1000, "EUR"))
    answer = vipps_api.call("POST", "acme-order-4/cancel", key="k-cancel").json()

    assert answer["state"] == "AUTHORIZED"
    assert {name: money["value"] for name, money in answer["aggregate"].items()} == {
        "authorizedAmount": 10_000,
        "capturedAmount": 6000,
        "refundedAmount": 1000,
        "cancelledAmount": 4000,
    }
    payment = vipps_api.call("GET", "acme-order-4").json()
    assert (payment["state"], payment["amount"]) == ("AUTHORIZED", {"currency": "EUR", "value": 10_000})
    events = vipps_api.call("GET", "acme-order-4/events").json()
    assert [(event["name"], event["amount"]["value"], event["idempotencyKey"]) for event in events[2:]] == [
        ("CAPTURED", 6000, "k-capture"),
        ("REFUNDED", 1000, "k-refund"),
        ("CANCELLED", 4000, "k-cancel"),
    ]
    assert [event["name"] for event in events[:2]] == ["CREATED", "AUTHORIZED"]
    assert all(event["success"] is True and event["pspReference"] for event in events)


def test_capture_never_exceeds_what_is_left(vipps_api, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-5", currency="NOK", amount=5000, captured=4000)

    assert_problem(
        vipps_api.call("POST", "acme-order-5/capture", key="k-1", body=refund_body(1001)), 400, "capture-amount-too-high"
    )
    vipps_api.call("POST", "acme-order-5/cancel", key="k-2")
    assert_problem(
        vipps_api.call("POST", "acme-order-5/capture", key="k-3", body=refund_body(1)),
        400,
        "cannot-capture-a-cancelled-payment",
    )


@pytest.mark.parametrize(
    ("body", "error_type", "off_spec"),
    [
        # The spec makes the body optional and allows 0: Vipps's own rules refuse them.
        (None, "missing-required-parameter", None),
        ({"modificationAmount": {"currency": "SEK", "value": 100}}, "validation-error", "not a currency of Vipps"),
        ({"modificationAmount": {"currency": "EUR", "value": 100}}, "validation-error", None),
        ({"modificationAmount": {"currency": "NOK", "value": 12.5}}, "amount-invalid", "not an integer"),
        ({"modificationAmount": {"currency": "NOK", "value": "100"}}, "amount-invalid", "not an integer"),
        ({"modificationAmount": {"currency": "NOK", "value": 0}}, "amount-too-small", None),
        ({"modificationAmount": {"currency": "NOK", "value": 65_000_001}}, "amount-invalid", "above the maximum"),
    ],
)
def test_a_refund_amount_must_be_positive_minor_units_of_the_payments_currency(
    vipps_api, sandbox, body, error_type, off_spec
):
    sandbox.create_payment(provider="vipps", reference="acme-order-6", currency="NOK", amount=5000, captured=5000)

    response = vipps_api.call("POST", "acme-order-6/refund", key="k-1", body=body, off_spec=off_spec)

    assert_problem(response, 400, error_type)


def test_a_retry_with_the_same_key_and_body_is_answered_alike_without_doing_it_again(vipps_api, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-7", currency="NOK", amount=5000, captured=5000)

    first = vipps_api.call("POST", "acme-order-7/refund", key="k-1", body=refund_body(1000))
    again = vipps_api.call("POST", "acme-order-7/refund", key="k-1", body=refund_body(1000))

    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert sandbox.payment(provider="vipps", reference="acme-order-7")["refunded"] == 1000
    events = vipps_api.call("GET", "acme-order-7/events").json()
    assert [event["name"] for event in events].count("REFUNDED") == 1


def test_the_same_key_on_another_request_is_a_conflict(vipps_api, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-8", currency="NOK", amount=5000, captured=4000)
    vipps_api.call("POST", "acme-order-8/refund", key="k-1", body=refund_body(1000))

    different_amount = vipps_api.call("POST", "acme-order-8/refund", key="k-1", body=refund_body(2000))
    different_endpoint = vipps_api.call("POST", "acme-order-8/cancel", key="k-1")

    assert_problem(different_amount, 409, "refund-idempotency-conflict")
    assert_problem(different_endpoint, 409, "cancel-idempotency-conflict")
    held = sandbox.payment(provider="vipps", reference="acme-order-8")
    assert (held["refunded"], held["cancelled"]) == (1000, 0)


def test_a_refused_request_is_not_remembered_under_its_key(vipps_api, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-9", currency="NOK", amount=5000)
    assert_problem(vipps_api.call("POST", "acme-order-9/refund", key="k-1", body=refund_body(100)), 400)
    sandbox.portal(provider="vipps", reference="acme-order-9", kind="capture", amount=5000)

    response = vipps_api.call("POST", "acme-order-9/refund", key="k-1", body=refund_body(100))

    assert response.status_code == 200


@pytest.mark.parametrize("body", [None, {"cancelTransactionOnly": True}, {"cancelTransactionOnly": False}])
def test_cancel_takes_no_body_or_cancel_transaction_only(vipps_api, sandbox, body):
    sandbox.create_payment(provider="vipps", reference="acme-order-10", currency="NOK", amount=5000, captured=1000)

    response = vipps_api.call("POST", "acme-order-10/cancel", key="k-1", body=body)

    assert response.json()["aggregate"]["cancelledAmount"]["value"] == 4000


def test_cancel_refuses_a_body_it_does_not_know(vipps_api, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-11", currency="NOK", amount=5000)

    response = vipps_api.call("POST", "acme-order-11/cancel", key="k-1", body={"modificationAmount": {"value": 1}})

    assert_problem(response, 400)


def test_the_sixth_modification_in_a_minute_is_refused(vipps_api, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-12", currency="NOK", amount=5000, captured=5000)
    for number in range(4):
        assert vipps_api.call("POST", "acme-order-12/refund", key=f"k-{number}", body=refund_body(100)).ok
    assert vipps_api.call("POST", "acme-order-12/cancel", key="k-cancel").status_code == 400  # counts too

    response = vipps_api.call("POST", "acme-order-12/refund", key="k-5", body=refund_body(100))

    assert_problem(response, 429)
    assert sandbox.payment(provider="vipps", reference="acme-order-12")["refunded"] == 400
    assert vipps_api.call("GET", "acme-order-12").ok  # reads are not modifications


def test_the_portal_acts_through_vipps_with_a_key_that_is_not_ours(vipps_api, sandbox):
    sandbox.create_payment(provider="vipps", reference="acme-order-13", currency="NOK", amount=5000, captured=5000)

    view = sandbox.portal(provider="vipps", reference="acme-order-13", kind="refund", amount=700)

    assert view["refunded"] == 700
    assert view["operations"] == [{"kind": "refund", "amount": 700, "idempotency_key": None, "via": "portal"}]
    assert vipps_api.call("GET", "acme-order-13").json()["aggregate"]["refundedAmount"]["value"] == 700
    last_event = vipps_api.call("GET", "acme-order-13/events").json()[-1]
    assert (last_event["name"], last_event["idempotencyKey"]) == ("REFUNDED", None)


@pytest.mark.parametrize(
    "payment",
    [
        {"reference": "short"},
        {"reference": "has spaces in it"},
        {"reference": "x" * 51},
        {"currency": "SEK"},
        {"captured": 6000},
        {"captured": 1000, "refunded": 2000},
        {"captured": 1000, "cancelled": 1000},
        {"pending_refunds": True},
        {"modifications_per_minute": 0},
    ],
)
def test_create_payment_refuses_what_vipps_would_never_hold(config, payment):
    simulator = VippsSimulator(config=config)

    with pytest.raises(ValueError):
        simulator.create_payment(**{"reference": "acme-order-14", "currency": "NOK", "amount": 5000, **payment})


def refund_request(simulator, config, reference, *, key, value):
    """A refund as the sandbox server hands it to the simulator, with a token of its own."""
    segments = ["epayment", "v1", "payments", reference, "refund"]
    return SandboxRequest(
        method="POST",
        path="/" + "/".join(segments),
        segments=segments,
        raw_path="/vipps/" + "/".join(segments),
        query={},
        headers={
            "authorization": f"Bearer {simulator.tokens.issue(60)}",
            "ocp-apim-subscription-key": config["subscription_key"],
            "merchant-serial-number": config["merchant_serial_number"],
            "vipps-system-name": "merchant-backoffice",
            "vipps-system-version": "0.1.0",
            "idempotency-key": key,
        },
        body=json.dumps(refund_body(value)).encode(),
    )


def test_a_restored_snapshot_still_answers_a_retry_without_refunding_again(config):
    simulator = VippsSimulator(config=config)
    simulator.create_payment(reference="acme-order-15", currency="NOK", amount=5000, captured=5000)
    first = simulator.handle(refund_request(simulator, config, "acme-order-15", key="k-1", value=1000))
    snapshot = json.loads(json.dumps(simulator.snapshot()))  # JSON-ready, as the state file needs

    restored = VippsSimulator(config=config)
    restored.restore(snapshot)
    again = restored.handle(refund_request(restored, config, "acme-order-15", key="k-1", value=1000))

    assert (again.status, again.body) == (first.status, first.body)
    assert restored.payment_view("acme-order-15") == simulator.payment_view("acme-order-15")
    assert restored.payment_view("acme-order-15")["refunded"] == 1000


def test_a_request_whose_key_is_still_being_processed_is_answered_423_and_does_nothing(
    vipps_api, sandbox, sandbox_server
):
    sandbox.create_payment(provider="vipps", reference="acme-order-20", currency="NOK", amount=5000, captured=5000)
    sandbox.inject_fault(provider="vipps", endpoint="refund", mode="held")
    first = in_background(lambda: vipps_api.call("POST", "acme-order-20/refund", key="k-1", body=refund_body(1000)))
    assert sandbox_server.sandbox.wait_for_held(1, provider="vipps", endpoint="refund")

    again = vipps_api.call("POST", "acme-order-20/refund", key="k-1", body=refund_body(1000))
    other_key = vipps_api.call("POST", "acme-order-20/refund", key="k-2", body=refund_body(500))
    sandbox.release()

    problem = assert_problem(again, 423, "request-in-progress")
    assert problem["title"] == "Request in progress"
    assert other_key.status_code == 200
    assert first().status_code == 200
    assert sandbox.payment(provider="vipps", reference="acme-order-20")["refunded"] == 1500
    # Once the first is answered, the same key is an idempotent retry again.
    retry = vipps_api.call("POST", "acme-order-20/refund", key="k-1", body=refund_body(1000))
    assert retry.status_code == 200
    assert sandbox.payment(provider="vipps", reference="acme-order-20")["refunded"] == 1500


def test_a_first_request_that_never_reached_vipps_does_not_block_its_key(vipps_api, sandbox, sandbox_server):
    sandbox.create_payment(provider="vipps", reference="acme-order-24", currency="NOK", amount=5000, captured=5000)
    sandbox.inject_fault(provider="vipps", endpoint="refund", mode="timeout")
    first = in_background(
        lambda: vipps_api.call("POST", "acme-order-24/refund", key="k-1", body=refund_body(1000))
    )
    assert sandbox_server.sandbox.wait_for_held(1, provider="vipps", endpoint="refund")

    retry = vipps_api.call("POST", "acme-order-24/refund", key="k-1", body=refund_body(1000))
    sandbox.release()

    assert retry.status_code == 200
    with pytest.raises(requests.ConnectionError):
        first()
    assert sandbox.payment(provider="vipps", reference="acme-order-24")["refunded"] == 1000


@pytest.mark.parametrize(
    ("days", "action", "body", "error_type"),
    [
        (181, "capture", refund_body(1000), "capture-period-expired"),
        (181, "cancel", None, "cancel-period-expired"),
        (366, "refund", refund_body(1000), "refund-period-expired"),
    ],
)
def test_modifications_past_their_period_are_refused(vipps_api, sandbox, days, action, body, error_type):
    sandbox.create_payment(
        provider="vipps", reference="acme-order-21", currency="NOK", amount=5000, captured=2000,
        authorized_days_ago=days,
    )

    response = vipps_api.call("POST", f"acme-order-21/{action}", key="k-1", body=body)

    problem = assert_problem(response, 400, error_type)
    assert problem["title"] == error_type.replace("-", " ").capitalize()
    held = sandbox.payment(provider="vipps", reference="acme-order-21")
    assert (held["captured"], held["refunded"], held["cancelled"], held["operations"]) == (2000, 0, 0, [])


@pytest.mark.parametrize(
    ("days", "action", "body"),
    [
        (180, "capture", refund_body(1000)),
        (180, "cancel", None),
        (181, "refund", refund_body(1000)),
        (365, "refund", refund_body(1000)),
    ],
)
def test_modifications_within_their_period_are_carried_out(vipps_api, sandbox, days, action, body):
    sandbox.create_payment(
        provider="vipps", reference="acme-order-22", currency="NOK", amount=5000, captured=2000,
        authorized_days_ago=days,
    )

    response = vipps_api.call("POST", f"acme-order-22/{action}", key="k-1", body=body)

    assert response.status_code == 200


def test_the_event_log_dates_the_reservation_back(vipps_api, sandbox):
    sandbox.create_payment(
        provider="vipps", reference="acme-order-23", currency="NOK", amount=5000, authorized_days_ago=200
    )

    events = vipps_api.call("GET", "acme-order-23/events").json()

    authorized = datetime.fromisoformat(events[1]["timestamp"].replace("Z", "+00:00"))
    assert events[1]["name"] == "AUTHORIZED"
    assert (datetime.now(UTC) - authorized).days == 200
