"""The SimplePS simulator's own rules, over HTTP as a client of SimplePS would see them, where the
adapter's tests do not reach (it never sends a request SimplePS would refuse for its form)."""

from decimal import Decimal

import pytest
import requests

from tests.specs.conformance import OFF_SPEC_HEADER


@pytest.fixture
def config(settings):
    return settings.PROVIDERS["simpleps"]


def credentials(config, **changes):
    return {"clientId": config["client_id"], "secretId": config["secret_id"], **changes}


class SimplePSApi:
    """The simulated SimplePS gateway at the sandbox, called with a good token unless told
    otherwise (an Authorization of None is left out). `off_spec` says why a request is one the
    (written) spec refuses, on purpose."""

    def __init__(self, base, token):
        self.base = base
        self.token = token

    def call(self, method, reference, action="", *, body=None, authorization="good", off_spec=None):
        headers = {OFF_SPEC_HEADER: off_spec} if off_spec else {}
        if authorization == "good":
            headers["Authorization"] = f"Bearer {self.token}"
        elif authorization is not None:
            headers["Authorization"] = authorization
        url = f"{self.base}/payments/{reference}" + (f"/{action}" if action else "")
        return requests.request(method, url, headers=headers, json=body, timeout=5)

    def refund(self, reference, total=None, currency="USD"):
        body = None if total is None else {"amount": {"total": total, "currency": currency}}
        return self.call("POST", reference, "refund", body=body)


@pytest.fixture
def simpleps(sandbox_server, config):
    base = f"{sandbox_server.base_url}/simpleps"
    token = requests.post(f"{base}/oauth/token", json=credentials(config), timeout=5).json()["accessToken"]
    return SimplePSApi(base, token)


def assert_error(response, status, code, message=None):
    """SimplePS's error format: `{status, message, responseCode}`."""
    assert response.status_code == status
    error = response.json()
    assert set(error) == {"status", "message", "responseCode"}
    assert (error["status"], error["responseCode"]) == (status, code)
    assert error["message"] if message is None else error["message"] == message
    return error


def payment(sandbox, reference, *, amount=10_000, captured=10_000, refunded=0, currency="USD"):
    sandbox.create_payment(provider="simpleps", reference=reference, currency=currency, amount=amount,
                           captured=captured, refunded=refunded)


def test_the_token_answer(sandbox_server, config):
    response = requests.post(f"{sandbox_server.base_url}/simpleps/oauth/token", json=credentials(config), timeout=5)

    answer = response.json()
    assert response.status_code == 200
    assert (answer["tokenType"], answer["expiresIn"]) == ("Bearer", 3_600)
    assert answer["accessToken"]


@pytest.mark.parametrize(
    ("wrong", "off_spec"),
    [({"clientId": "not-it"}, None), ({"secretId": "not-it"}, None), ({"secretId": None}, "not a string")],
)
def test_the_token_endpoint_checks_the_client_credentials(sandbox_server, config, wrong, off_spec):
    response = requests.post(
        f"{sandbox_server.base_url}/simpleps/oauth/token",
        json=credentials(config, **wrong),
        headers={OFF_SPEC_HEADER: off_spec} if off_spec else {},
        timeout=5,
    )

    assert_error(response, 401, "SE_001")


def test_the_token_endpoint_takes_sixty_calls_a_minute(sandbox_server, config):
    url = f"{sandbox_server.base_url}/simpleps/oauth/token"
    with requests.Session() as session:
        answers = [session.post(url, json=credentials(config), timeout=5).status_code for _ in range(61)]

    assert answers == [200] * 60 + [429]


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic abc", "expired"])
def test_every_call_needs_a_live_token(simpleps, sandbox, authorization):
    payment(sandbox, "s-1")
    if authorization == "expired":
        sandbox.expire_tokens("simpleps")
        authorization = "good"

    no_bearer = "no bearer token" if authorization in (None, "Basic abc") else None
    refund = simpleps.call("POST", "s-1", "refund", authorization=authorization, off_spec=no_bearer)
    read = simpleps.call("GET", "s-1", authorization=authorization, off_spec=no_bearer)

    # A JSON body that says the token was refused: the call did not run.
    words = "Unauthorized: the access token is missing, invalid or expired."
    assert_error(refund, 401, "SE_001", words)
    assert_error(read, 401, "SE_001", words)
    assert sandbox.payment(provider="simpleps", reference="s-1")["refunded"] == 0


def test_refund_only_of_captured_money(simpleps, sandbox):
    payment(sandbox, "s-2", captured=0)

    assert_error(simpleps.refund("s-2", Decimal("1.00")), 400, "PAY_400")


def test_refunds_never_above_captured_minus_refunded(simpleps, sandbox):
    payment(sandbox, "s-3", captured=8_000, refunded=3_000)

    too_much = simpleps.refund("s-3", Decimal("50.01"))
    the_rest = simpleps.refund("s-3", Decimal("50.00"))
    one_more = simpleps.refund("s-3", Decimal("0.01"))

    assert_error(too_much, 400, "PAY_016", "Insufficient balance to refund.")
    assert (the_rest.status_code, the_rest.json()["status"]) == (200, "REFUNDED")
    assert_error(one_more, 400, "PAY_016")
    assert sandbox.payment(provider="simpleps", reference="s-3")["refunded"] == 8_000


def test_a_refund_without_a_body_refunds_what_is_left(simpleps, sandbox):
    payment(sandbox, "s-4", captured=8_000, refunded=3_000)

    response = simpleps.refund("s-4")

    assert response.json()["status"] == "REFUNDED"
    assert sandbox.payment(provider="simpleps", reference="s-4")["refunded"] == 8_000


def test_the_currency_must_be_the_payments(simpleps, sandbox):
    payment(sandbox, "s-5")

    response = simpleps.refund("s-5", Decimal("1.00"), currency="EUR")

    assert_error(response, 400, "PAY_021", "Invalid currency code.")
    assert sandbox.payment(provider="simpleps", reference="s-5")["refunded"] == 0


@pytest.mark.parametrize(
    ("body", "code", "off_spec"),
    [
        ({"amount": "12.50"}, "PAY_400", "not an object"),
        ({"amount": {"total": 0, "currency": "USD"}}, "PAY_020", "not positive"),
        ({"amount": {"total": Decimal("-1.00"), "currency": "USD"}}, "PAY_020", "not positive"),
        ({"amount": {"total": "12.50", "currency": "USD"}}, "PAY_400", "not a number"),
        ({"amount": {"total": Decimal("1.005"), "currency": "USD"}}, "PAY_400", None),
        ({"amount": {"total": 1, "currency": "usd"}}, "PAY_021", "not a currency code"),
        (["not", "an", "object"], "PAY_400", "not an object"),
    ],
)
def test_an_amount_is_a_positive_decimal_of_the_currencys_units(simpleps, sandbox, body, code, off_spec):
    payment(sandbox, "s-6")

    response = simpleps.call("POST", "s-6", "refund", body=body, off_spec=off_spec)

    assert_error(response, 400, code)
    assert sandbox.payment(provider="simpleps", reference="s-6")["refunded"] == 0


def test_void_only_before_capture(simpleps, sandbox):
    payment(sandbox, "s-7")
    payment(sandbox, "s-8", captured=0)

    captured = simpleps.call("POST", "s-7", "void")
    authorized = simpleps.call("POST", "s-8", "void")
    again = simpleps.call("POST", "s-8", "void")
    refund_after = simpleps.refund("s-8", Decimal("1.00"))
    capture_after = simpleps.call("POST", "s-8", "capture")

    assert_error(captured, 400, "PAY_400", "A captured payment cannot be voided.")
    assert (authorized.status_code, authorized.json()["voided"], authorized.json()["status"]) == (200, True, "VOIDED")
    assert_error(again, 400, "PAY_400", "The payment has already been voided.")
    assert_error(refund_after, 400, "PAY_400", "Only captured payments can be refunded.")
    assert capture_after.status_code == 400
    assert sandbox.payment(provider="simpleps", reference="s-7")["cancelled"] == 0
    assert sandbox.payment(provider="simpleps", reference="s-8")["cancelled"] == 10_000


def test_an_unknown_payment(simpleps):
    assert_error(simpleps.call("GET", "nobody"), 404, "PAY_404")
    assert_error(
        simpleps.refund("nobody", Decimal("1.00")),
        404,
        "PAY_012",
        "No payment found to refund with that external payment id.",
    )


def test_the_payment_and_its_history(simpleps, sandbox):
    payment(sandbox, "s-9", captured=8_000)
    simpleps.refund("s-9", Decimal("15.00"))

    read = simpleps.call("GET", "s-9").json()

    assert (read["externalId"], read["currency"], read["status"]) == ("s-9", "USD", "PARTIALLY_REFUNDED")
    assert (read["amount"], read["capturedAmount"], read["refundedAmount"]) == (100.0, 80.0, 15.0)
    assert [(entry["code"], entry["status"], entry["requestedAmount"]) for entry in read["history"]] == [
        ("PAYMENT", "AUTHORIZED", 100.0), ("CAPTURE", "CAPTURED", 80.0), ("REFUND", "REFUNDED", 15.0)
    ]


def test_a_void_shows_in_the_history_and_the_status(simpleps, sandbox):
    payment(sandbox, "s-10", captured=0)
    simpleps.call("POST", "s-10", "void")

    read = simpleps.call("GET", "s-10").json()

    assert read["status"] == "VOIDED"
    assert [(entry["code"], entry["status"]) for entry in read["history"]] == [
        ("PAYMENT", "AUTHORIZED"), ("VOID", "VOIDED")
    ]
