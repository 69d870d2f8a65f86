"""The Optty simulator's own rules, over HTTP as a client of Optty would see them, where the
adapter's tests do not reach (it never sends a request Optty would refuse for its form)."""

from decimal import Decimal

import pytest
import requests

from tests.specs.conformance import OFF_SPEC_HEADER


@pytest.fixture
def config(settings):
    return settings.PROVIDERS["optty"]


def token_form(config, **changes):
    return {
        "client_id": config["client_id"],
        "client_secret": config["client_secret"],
        "grant_type": "client_credentials",
        "scope": "api-user",
        **changes,
    }


class OpttyApi:
    """The simulated Optty Merchant API at the sandbox, called with a good token unless told
    otherwise (an Authorization of None is left out). `off_spec` says why a request is one
    Optty's spec refuses, on purpose."""

    def __init__(self, base, token):
        self.base = base
        self.token = token

    def call(self, method, reference, action="", *, body=None, authorization="good", off_spec=None):
        headers = {OFF_SPEC_HEADER: off_spec} if off_spec else {}
        if authorization == "good":
            headers["Authorization"] = f"Bearer {self.token}"
        elif authorization is not None:
            headers["Authorization"] = authorization
        url = f"{self.base}/api/orders/{reference}" + (f"/{action}" if action else "")
        return requests.request(method, url, headers=headers, json=body, timeout=5)

    def refund(self, reference, amount, *, reference_id, currency="AUD", off_spec=None, **changes):
        body = {
            "refundReference": reference_id,
            "refundAmount": {"amount": amount, "currency": currency},
            "refundDescription": "Returned goods",
            "isActivatedViaOAuth": False,
            **changes,
        }
        return self.call("POST", reference, "refund", body=body, off_spec=off_spec)

    def details(self, reference, body="the order's"):
        if body == "the order's":
            body = {"merchantReference": reference}
        return self.call("POST", reference, "details", body=body, off_spec=None if body else "no body")

    def void(self, reference, amount, *, reference_id):
        return self.call("POST", reference, "void", body={"voidReference": reference_id, "amount": amount})


@pytest.fixture
def optty(sandbox_server, config):
    base = f"{sandbox_server.base_url}/optty"
    token = requests.post(f"{base}/auth/token", data=token_form(config), timeout=5).json()["access_token"]
    return OpttyApi(base, token)


def assert_error(response, status, message=None):
    """Optty's error format: `{statusCode, message, error}` (`error` left out of a 401)."""
    assert response.status_code == status
    error = response.json()
    assert set(error) == ({"statusCode", "message"} if status == 401 else {"statusCode", "message", "error"})
    assert error["statusCode"] == status
    if message is not None:
        assert error["message"] == message
    return error


def order(sandbox, reference, *, amount=2_498, captured=2_498, **options):
    sandbox.create_payment(provider="optty", reference=reference, currency="AUD", amount=amount,
                           captured=captured, **options)


def test_the_token_answer(sandbox_server, config):
    response = requests.post(f"{sandbox_server.base_url}/optty/auth/token", data=token_form(config), timeout=5)

    answer = response.json()
    assert response.status_code == 200
    assert (answer["token_type"], answer["expires_in"], answer["scope"]) == ("Bearer", 86_400, "api-user")
    assert answer["access_token"]


@pytest.mark.parametrize("wrong", [{"client_id": "not-it"}, {"client_secret": "not-it"}])
def test_the_token_endpoint_checks_the_client_credentials(sandbox_server, config, wrong):
    response = requests.post(
        f"{sandbox_server.base_url}/optty/auth/token", data=token_form(config, **wrong), timeout=5
    )

    assert_error(response, 401, "Unauthorized")


@pytest.mark.parametrize("wrong", [{"grant_type": "password"}, {"scope": "admin"}, {"scope": None}])
def test_the_token_endpoint_takes_client_credentials_for_scope_api_user_only(sandbox_server, config, wrong):
    response = requests.post(
        f"{sandbox_server.base_url}/optty/auth/token",
        data=token_form(config, **wrong),
        headers={OFF_SPEC_HEADER: "grant type and scope"},
        timeout=5,
    )

    assert_error(response, 400, "grant_type must be client_credentials and scope api-user")


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic abc", "expired"])
def test_every_call_needs_a_live_token(optty, sandbox, authorization):
    order(sandbox, "o-1")
    if authorization == "expired":
        sandbox.expire_tokens("optty")
        authorization = "good"

    no_bearer = "no bearer token" if authorization in (None, "Basic abc") else None
    refund = optty.call("POST", "o-1", "refund", authorization=authorization, off_spec=no_bearer, body={
        "refundReference": "r-1", "refundAmount": {"amount": 1, "currency": "AUD"},
        "refundDescription": "x", "isActivatedViaOAuth": False,
    })
    read = optty.call("GET", "o-1", authorization=authorization, off_spec=no_bearer)

    assert_error(refund, 401)
    assert_error(read, 401)
    assert sandbox.payment(provider="optty", reference="o-1")["refunded"] == 0


def test_refund_only_of_captured_money(optty, sandbox):
    order(sandbox, "o-2", captured=0)

    response = optty.refund("o-2", Decimal("1.00"), reference_id="r-2")

    assert_error(response, 400, "You can only refund amount up to AUD 0.00")


def test_refunds_never_above_captured_minus_refunded(optty, sandbox):
    order(sandbox, "o-3", amount=5_000, captured=2_498)

    first = optty.refund("o-3", Decimal("10.00"), reference_id="r-3a")
    too_much = optty.refund("o-3", Decimal("14.99"), reference_id="r-3b")
    the_rest = optty.refund("o-3", Decimal("14.98"), reference_id="r-3c")

    assert (first.status_code, first.json()["refundStatus"]) == (200, "SUCCESSFUL")
    assert first.json()["refundedAmount"] == "10.00"
    assert_error(too_much, 400, "You can only refund amount up to AUD 14.98")
    assert the_rest.status_code == 200
    assert sandbox.payment(provider="optty", reference="o-3")["refunded"] == 2_498


def test_pending_refunds_count_against_what_is_left(optty, sandbox):
    order(sandbox, "o-4", pending_refunds=True)

    pending = optty.refund("o-4", Decimal("20.00"), reference_id="r-4a")
    more = optty.refund("o-4", Decimal("5.00"), reference_id="r-4b")

    assert pending.json()["refundStatus"] == "PENDING"
    assert_error(more, 400, "You can only refund amount up to AUD 4.98")
    held = sandbox.payment(provider="optty", reference="o-4")
    assert (held["refunded"], held["pending_refunds"]) == (0, 2_000)


def test_the_currency_must_be_the_orders(optty, sandbox):
    order(sandbox, "o-5")

    response = optty.refund("o-5", Decimal("1.00"), reference_id="r-5", currency="NZD")

    assert_error(response, 400, "The currency must match the currency of the order")
    assert sandbox.payment(provider="optty", reference="o-5")["refunded"] == 0


@pytest.mark.parametrize(
    ("changes", "message", "off_spec"),
    [
        # Those the schema allows are refused by the rules its descriptions state.
        ({"refundReference": ""}, "refundReference must be a non-empty string", None),
        ({"refundAmount": "1.00"}, "refundAmount must be an object", "not an object"),
        ({"refundDescription": None}, "refundDescription must be a string", "not a string"),
        ({"isActivatedViaOAuth": "no"}, "isActivatedViaOAuth must be a boolean value", "not a boolean"),
        ({"refundAmount": {"amount": Decimal("1.005"), "currency": "AUD"}}, "amount must have at most 2 decimal places", None),
        ({"refundAmount": {"amount": 0, "currency": "AUD"}}, "amount must be a positive number", None),
        ({"refundAmount": {"amount": "1.00", "currency": "AUD"}}, "amount must be a positive number", "not a number"),
    ],
)
def test_a_refund_needs_all_four_fields_well_formed(optty, sandbox, changes, message, off_spec):
    order(sandbox, "o-6")

    response = optty.refund("o-6", Decimal("1.00"), reference_id="r-6", off_spec=off_spec, **changes)

    assert_error(response, 400, message)
    assert sandbox.payment(provider="optty", reference="o-6")["refunded"] == 0


def test_references_are_unique_per_merchant_across_orders_and_operations(optty, sandbox):
    order(sandbox, "o-7")
    order(sandbox, "o-8")
    order(sandbox, "o-9", captured=0)
    optty.refund("o-7", Decimal("1.00"), reference_id="shared")

    same_order = optty.refund("o-7", Decimal("1.00"), reference_id="shared")
    other_order = optty.refund("o-8", Decimal("1.00"), reference_id="shared")
    as_a_void = optty.void("o-9", Decimal("1.00"), reference_id="shared")

    for response in (same_order, other_order):
        assert response.json() == {
            "statusCode": 400, "message": "The refundReference has already been used.", "error": "Bad Request"
        }
    assert_error(as_a_void, 400, "The voidReference has already been used.")
    assert [sandbox.payment(provider="optty", reference=r)["refunded"] for r in ("o-7", "o-8")] == [100, 0]
    assert sandbox.payment(provider="optty", reference="o-9")["cancelled"] == 0


def test_void_only_while_authorized(optty, sandbox):
    order(sandbox, "o-10")
    order(sandbox, "o-11", captured=0)

    captured = optty.void("o-10", Decimal("24.98"), reference_id="v-10")
    partial = optty.void("o-11", Decimal("4.98"), reference_id="v-11a")
    too_much = optty.void("o-11", Decimal("20.01"), reference_id="v-11b")
    the_rest = optty.void("o-11", Decimal("20.00"), reference_id="v-11c")
    refund_after = optty.refund("o-11", Decimal("1.00"), reference_id="r-11")

    assert_error(captured, 400, "Only authorized orders can be voided")
    assert partial.status_code == 200
    assert partial.json()["voidReference"] == "v-11a" and partial.json()["voidedId"]
    assert_error(too_much, 400, "You can only void amount up to AUD 20.00")
    assert the_rest.status_code == 200
    assert_error(refund_after, 400, "You can only refund amount up to AUD 0.00")
    assert sandbox.payment(provider="optty", reference="o-11")["cancelled"] == 2_498
    assert optty.call("GET", "o-11").json()["status"] == "VOIDED"


def test_an_unknown_order(optty):
    assert_error(optty.call("GET", "nobody"), 404, "Not Found")
    assert_error(optty.refund("nobody", Decimal("1.00"), reference_id="r-x"), 404, "Not Found")


def test_the_details_list_refunds_and_captures_and_no_voids(optty, sandbox):
    order(sandbox, "o-12", amount=5_000, captured=3_000)
    refund = optty.refund("o-12", Decimal("10.00"), reference_id="r-12").json()

    details = optty.details("o-12").json()

    assert details["currency"] == "AUD"
    assert [(r["refundId"], r["amount"], r["status"]) for r in details["refunds"]] == [
        (refund["bnplRefundId"], 10.0, "SUCCESSFUL")
    ]
    assert [c["amount"] for c in details["orderCaptures"]] == [30.0]
    # Optty documents no list of an order's voids.
    assert "orderVoids" not in details


def test_a_void_shows_in_the_orders_status(optty, sandbox):
    order(sandbox, "o-15", captured=0)
    optty.void("o-15", Decimal("24.98"), reference_id="v-15")

    assert optty.call("GET", "o-15").json()["status"] == "VOIDED"
    assert optty.details("o-15").json()["status"] == "VOIDED"


@pytest.mark.parametrize(
    ("body", "off_spec", "message"),
    [
        (None, "no body", "Request body must be a JSON object"),
        ({}, "no merchantReference", "merchantReference must be the order's reference"),
        ({"merchantReference": "o-other"}, None, "merchantReference must be the order's reference"),
    ],
)
def test_the_details_need_the_orders_merchant_reference_in_the_body(optty, sandbox, body, off_spec, message):
    order(sandbox, "o-16")

    response = optty.call("POST", "o-16", "details", body=body, off_spec=off_spec)

    assert_error(response, 400, message)


@pytest.mark.parametrize("status", ["PENDING", "INITIATED", "PROCESSING", "REQUESTED", "QUEUED"])
def test_a_refund_status_other_than_final_holds_the_amount_until_advanced(optty, sandbox, status):
    order(sandbox, "o-17", refund_status=status)

    answer = optty.refund("o-17", Decimal("20.00"), reference_id="r-17").json()
    listed = optty.details("o-17").json()["refunds"]
    held = sandbox.payment(provider="optty", reference="o-17")
    settled = sandbox.advance(provider="optty", reference="o-17")

    assert answer["refundStatus"] == status
    assert [r["status"] for r in listed] == [status]
    assert (held["refunded"], held["pending_refunds"]) == (0, 2_000)
    assert (settled["refunded"], settled["pending_refunds"]) == (2_000, 0)
    assert [r["status"] for r in optty.details("o-17").json()["refunds"]] == ["SUCCESSFUL"]


def test_an_advance_may_settle_a_refund_as_failed(optty, sandbox):
    order(sandbox, "o-18", refund_status="INITIATED")
    optty.refund("o-18", Decimal("20.00"), reference_id="r-18")

    settled = sandbox.advance(provider="optty", reference="o-18", outcome="failed")

    assert (settled["refunded"], settled["pending_refunds"], settled["operations"]) == (0, 0, [])
    [listed] = optty.details("o-18").json()["refunds"]
    assert (listed["status"], listed["refundFailureReason"]) == ("FAILED", "Declined by the provider")
    assert optty.refund("o-18", Decimal("24.98"), reference_id="r-18b").status_code == 200


@pytest.mark.parametrize("status", ["FAILED", "DECLINED"])
def test_a_failed_refund_status_moves_nothing(optty, sandbox, status):
    order(sandbox, "o-19", refund_status=status)

    answer = optty.refund("o-19", Decimal("20.00"), reference_id="r-19").json()

    assert answer["refundStatus"] == status
    view = sandbox.payment(provider="optty", reference="o-19")
    assert (view["refunded"], view["pending_refunds"], view["operations"]) == (0, 0, [])
    assert optty.refund("o-19", Decimal("20.00"), reference_id="r-19").json()["message"] == (
        "The refundReference has already been used."
    )


def test_a_reused_void_reference_does_nothing(optty, sandbox):
    order(sandbox, "o-20", captured=0)
    optty.void("o-20", Decimal("4.98"), reference_id="v-20")

    again = optty.void("o-20", Decimal("20.00"), reference_id="v-20")

    assert again.json() == {
        "statusCode": 400, "message": "The voidReference has already been used.", "error": "Bad Request"
    }
    assert sandbox.payment(provider="optty", reference="o-20")["cancelled"] == 498


@pytest.mark.parametrize("action", ["void", "capture"])
def test_a_description_is_text(optty, sandbox, action):
    order(sandbox, "o-21", captured=0)
    reference = {"void": "voidReference", "capture": "captureReference"}[action]

    response = optty.call(
        "POST", "o-21", action, body={reference: "x-21", "amount": 1, "description": 5}, off_spec="not text"
    )

    assert_error(response, 400, "description must be a string")
    assert sandbox.payment(provider="optty", reference="o-21")["operations"] == []
