"""The spec check itself: it must fail a test whose provider traffic breaks a spec, name what
was wrong, and let through only what the specs allow and what is exempt on purpose."""

import json

import pytest
import requests

from tests.specs.conformance import (
    OFF_SPEC_HEADER,
    SpecViolation,
    assert_exchanges_follow_specs,
    exchange_problems,
)

VIPPS_HEADERS = {
    "authorization": "Bearer dG9rZW4=",
    "ocp-apim-subscription-key": "key",
    "merchant-serial-number": "123456",
    "vipps-system-name": "merchant-backoffice",
    "vipps-system-version": "0.1.0",
    "idempotency-key": "bo-key-1",
    "content-type": "application/json",
}
REFUND = {"modificationAmount": {"currency": "NOK", "value": 1000}}
MONEY = {"currency": "NOK", "value": 5000}
ADJUSTED = {
    "reference": "acme-order-1",
    "state": "AUTHORIZED",
    "amount": MONEY,
    "aggregate": {
        "authorizedAmount": MONEY,
        "cancelledAmount": {"currency": "NOK", "value": 0},
        "capturedAmount": MONEY,
        "refundedAmount": {"currency": "NOK", "value": 1000},
    },
    "pspReference": "psp-1",
}
PROBLEM = {"type": "https://httpstatuses.io/400", "title": "Bad Request", "status": 400, "traceId": "t"}
JSON_WITH_TOKEN = {"authorization": "Bearer t", "content-type": "application/json"}
BAMBORA_HEADERS = {"authorization": "Basic eDp5", "api-version": "1", "content-type": "application/json"}
BAMBORA_PAYMENT = {"payment": "ord-1", "state": "Captured", "currency": "EUR", "amount": 5000, "region": "emea_0"}
OPTTY_REFUND_ANSWER = {
    "refundReference": "bo-key-1",
    "bnplProvider": "KLARNA_AU",
    "refundedAmount": "10.00",
    "refundStatus": "SUCCESSFUL",
    "description": "Refund",
    "refundDate": "Fri, 08 Oct 2021 06:22:20 GMT",
    "bnplRefundId": "8ba78198",
}


def entry(provider, method, raw_path, *, headers=None, body=None, answer=None):
    """A journal entry as payments.sandbox.server.Sandbox.record() and record_answer() make it."""
    return {
        "provider": provider,
        "method": method,
        "raw_path": raw_path,
        "query": {},
        "headers": headers or {},
        "body": "" if body is None else (body if isinstance(body, str) else json.dumps(body)),
        "answer": answer,
    }


def answer(status, body, content_type="application/json", *, off_spec=False, headers=None):
    text = body if isinstance(body, str) else json.dumps(body)
    return {
        "status": status,
        "headers": {"Content-Type": content_type, **(headers or {})},
        "body": text,
        "off_spec": off_spec,
    }


def vipps_refund(*, headers=VIPPS_HEADERS, body=REFUND, reply=None):
    return entry(
        "vipps", "POST", "/vipps/epayment/v1/payments/acme-order-1/refund", headers=headers, body=body, answer=reply
    )


# What follows the specs passes -------------------------------------------------------------


@pytest.mark.parametrize(
    "exchange",
    [
        vipps_refund(reply=answer(200, ADJUSTED)),
        vipps_refund(reply=answer(400, PROBLEM, "application/problem+json")),
        # Statuses the spec does not list are held to its Problem format.
        vipps_refund(reply=answer(423, {**PROBLEM, "status": 423}, "application/problem+json")),
        entry("bambora", "POST", "/bambora/payments/ord-1/refund/", headers=BAMBORA_HEADERS, body={"amount": 100},
              answer=answer(201, BAMBORA_PAYMENT)),
        entry("bambora", "GET", "/bambora/payments/a%2Fb/", headers=BAMBORA_HEADERS,
              answer=answer(404, {"type": "about:blank", "title": "Not found", "detail": "", "status": 404})),
        entry("optty", "POST", "/optty/api/orders/o-1/refund", headers=JSON_WITH_TOKEN,
              body={"refundReference": "bo-key-1", "refundAmount": {"amount": 10, "currency": "AUD"},
                    "refundDescription": "Refund", "isActivatedViaOAuth": False},
              answer=answer(200, OPTTY_REFUND_ANSWER)),
        entry("optty", "POST", "/optty/auth/token", headers={"content-type": "application/x-www-form-urlencoded"},
              body="client_id=a&client_secret=b&grant_type=client_credentials&scope=api-user",
              answer=answer(200, {"access_token": "t", "expires_in": 86400, "token_type": "Bearer"})),
        entry("simpleps", "POST", "/simpleps/payments/s-1/void", headers={"authorization": "Bearer t"},
              answer=answer(400, {"status": 400, "message": "No.", "responseCode": "PAY_400"})),
    ],
    ids=["vipps 200", "vipps 400", "vipps 423", "bambora 201", "bambora 404", "optty refund", "optty token",
         "simpleps error"],
)
def test_what_follows_the_specs_passes(exchange):
    assert exchange_problems(exchange) == []


# What breaks them fails, naming what was wrong ---------------------------------------------


@pytest.mark.parametrize(
    ("exchange", "named"),
    [
        (vipps_refund(headers={k: v for k, v in VIPPS_HEADERS.items() if k != "idempotency-key"}),
         "the request breaks epayment.v1.yml: Missing required header parameter: Idempotency-Key"),
        (vipps_refund(headers={**VIPPS_HEADERS, "vipps-system-name": "x" * 31}),
         "Vipps-System-Name: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' is too long"),
        (vipps_refund(body={"modificationAmount": {"currency": "NOK", "value": 12.5}}),
         "modificationAmount.value: 12.5 is not of type 'integer'"),
        (entry("bambora", "POST", "/bambora/payments/ord-1/refund/", headers=BAMBORA_HEADERS, body={"amount": 0}),
         "the request breaks bambora.swagger.json: amount: 0 is less than the minimum of 1"),
        (entry("bambora", "POST", "/bambora/payments/ord-1/refund/", headers={"api-version": "1"}, body="{"),
         "the request breaks bambora.swagger.json: its body is not JSON"),
        (entry("optty", "POST", "/optty/api/orders/o-1/details", headers={"authorization": "Bearer t"}),
         "the request breaks optty.written.yaml: Missing required request body"),
        (entry("simpleps", "POST", "/simpleps/payments/s-1/refund", headers=JSON_WITH_TOKEN,
               body={"amount": {"total": -1, "currency": "USD"}}),
         "amount.total: -1 is less than or equal to the minimum of 0"),
        (entry("simpleps", "DELETE", "/simpleps/payments/s-1", headers={"authorization": "Bearer t"}),
         "the request calls an endpoint no spec documents"),
    ],
    ids=["no idempotency key", "system header too long", "decimal amount", "bambora zero", "not json",
         "optty details without body", "simpleps negative", "undocumented endpoint"],
)
def test_a_request_the_spec_refuses_is_named(exchange, named):
    problems = exchange_problems(exchange)

    assert any(named in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("exchange", "named"),
    [
        (vipps_refund(reply=answer(200, {**ADJUSTED, "state": "CAPTURED"})),
         "-> 200: the answer breaks epayment.v1.yml: body: state: 'CAPTURED' is not one of"),
        (vipps_refund(reply=answer(429, {"title": "Too many"}, "application/problem+json")),
         "'type' is a required property"),
        (entry("vipps", "POST", "/vipps/accesstoken/get",
               headers={"client_id": "c", "client_secret": "s", "ocp-apim-subscription-key": "k"},
               answer=answer(200, {"token_type": "Bearer"}, "application/json;charset=UTF-8")),
         "'access_token' is a required property"),
        (entry("bambora", "GET", "/bambora/payments/ord-1/", headers=BAMBORA_HEADERS,
               answer=answer(200, {**BAMBORA_PAYMENT, "region": "sandbox"})),
         "-> 200: the answer breaks bambora.swagger.json: region: 'sandbox' is not one of"),
        (entry("bambora", "POST", "/bambora/payments/ord-1/cancel/", headers=BAMBORA_HEADERS,
               answer=answer(402, {"type": "x", "title": "t", "detail": "d", "status": 402}, "application/problem+json")),
         "its media type application/problem+json is not one of application/json"),
        (entry("optty", "POST", "/optty/api/orders/o-1/refund", headers=JSON_WITH_TOKEN,
               body={"refundReference": "r", "refundAmount": {"amount": 1, "currency": "AUD"},
                     "refundDescription": "d", "isActivatedViaOAuth": False},
               answer=answer(200, {**OPTTY_REFUND_ANSWER, "refundedAmount": 10})),
         "refundedAmount: 10 is not of type 'string'"),
        (entry("simpleps", "GET", "/simpleps/payments/s-1", headers={"authorization": "Bearer t"},
               answer=answer(404, {"status": 404, "message": "No such payment"})),
         "'responseCode' is a required property"),
    ],
    ids=["vipps state", "vipps problem", "vipps token", "bambora region", "bambora media type",
         "optty refunded amount", "simpleps error"],
)
def test_an_answer_the_spec_refuses_is_named(exchange, named):
    problems = exchange_problems(exchange)

    assert any(named in problem for problem in problems), problems


def test_the_failure_lists_every_problem_of_every_exchange():
    exchanges = [
        vipps_refund(reply=answer(200, ADJUSTED)),
        vipps_refund(body={"modificationAmount": {"currency": "SEK", "value": 1}}),
        entry("bambora", "GET", "/bambora/payments/ord-1/", headers=BAMBORA_HEADERS,
              answer=answer(200, {"state": "Captured"})),
    ]

    with pytest.raises(SpecViolation) as failure:
        assert_exchanges_follow_specs(exchanges)

    lines = str(failure.value).splitlines()[1:]
    assert len(lines) == 2
    assert "vipps POST /epayment/v1/payments/acme-order-1/refund: the request breaks" in lines[0]
    assert "'SEK' is not one of ['NOK', 'DKK', 'EUR']" in lines[0]
    assert "bambora GET /payments/ord-1/ -> 200: the answer breaks" in lines[1]
    assert "'payment' is a required property" in lines[1]


# Exempt on purpose, and only so ------------------------------------------------------------


def test_an_answer_a_fault_gives_off_spec_is_exempt_and_only_that_one():
    garbage = answer(200, "<html><body>502 Bad Gatew", "text/html", off_spec=True)
    not_marked = answer(200, "<html><body>502 Bad Gatew", "text/html")

    assert exchange_problems(vipps_refund(reply=garbage)) == []
    assert exchange_problems(vipps_refund(reply=not_marked)) != []


def test_a_request_marked_off_spec_passes_only_if_the_spec_refuses_it():
    refused = vipps_refund(headers={**VIPPS_HEADERS, OFF_SPEC_HEADER: "too long", "idempotency-key": "k" * 51})
    accepted = vipps_refund(headers={**VIPPS_HEADERS, OFF_SPEC_HEADER: "too long"})

    assert exchange_problems(refused) == []
    [problem] = exchange_problems(accepted)
    assert "marked the request as off spec (too long), but the spec accepts it" in problem


def test_the_answer_to_a_request_marked_off_spec_is_still_checked():
    without_key = {name: value for name, value in VIPPS_HEADERS.items() if name != "idempotency-key"}
    marked = vipps_refund(
        headers={**without_key, OFF_SPEC_HEADER: "no key"},
        reply=answer(400, {"detail": "no key"}, "application/problem+json"),
    )

    [problem] = exchange_problems(marked)
    assert "-> 400: the answer breaks epayment.v1.yml" in problem


def test_a_test_may_declare_its_adapter_sends_off_spec_requests_but_their_answers_are_checked():
    exchange = vipps_refund(
        body={"modificationAmount": {"currency": "NOK", "value": "1"}},
        reply=answer(400, {"title": "no type"}, "application/problem+json"),
    )

    problems = exchange_problems(exchange, off_spec_requests="on purpose")

    assert len(problems) == 1 and "the answer breaks" in problems[0]


# Through the sandbox, as the autouse fixture sees it ---------------------------------------


def test_a_request_sent_to_the_sandbox_against_the_spec_fails_the_check(sandbox_server, sandbox, settings):
    # given: a refund without its Idempotency-Key reaches the Vipps simulator
    sandbox.create_payment(provider="vipps", reference="acme-spec-1", currency="NOK", amount=5000, captured=5000)
    requests.post(
        f"{sandbox_server.base_url}/vipps/epayment/v1/payments/acme-spec-1/refund",
        headers={"Authorization": "Bearer x", "Ocp-Apim-Subscription-Key": "k", "Merchant-Serial-Number": "123456"},
        json=REFUND,
        timeout=5,
    )

    # when / then: the check the fixture runs after each test fails, naming it (the exchanges
    # taken here are not the fixture's to check again)
    with pytest.raises(SpecViolation, match="Missing required header parameter: Idempotency-Key"):
        assert_exchanges_follow_specs(sandbox_server.sandbox.take_exchanges())


def test_an_answer_injected_against_the_spec_fails_the_check(sandbox_server, sandbox, make_payment):
    from payments.providers.base import ProviderUnavailable
    from payments.providers.registry import provider_for

    payment = make_payment("bambora", currency="EUR", amount=5000, captured=5000)
    sandbox.inject_fault(provider="bambora", endpoint="fetch", mode="answer", body={"state": "Captured"})
    with pytest.raises(ProviderUnavailable):
        provider_for("bambora").fetch(payment.reference)

    with pytest.raises(SpecViolation, match="'payment' is a required property"):
        assert_exchanges_follow_specs(sandbox_server.sandbox.take_exchanges())


def test_a_reset_in_the_middle_of_a_test_hides_nothing_from_the_check(sandbox_server, sandbox, settings):
    config = settings.PROVIDERS["bambora"]
    requests.post(
        f"{sandbox_server.base_url}/bambora/payments/ord-1/refund/", json={"amount": 0}, timeout=5,
        auth=(f"{config['merchant_token']}@{config['merchant_number']}", config["merchant_secret"]),
    )
    sandbox.reset()
    sandbox.clear_requests()

    with pytest.raises(SpecViolation, match="the request breaks bambora.swagger.json: API-Version"):
        assert_exchanges_follow_specs(sandbox_server.sandbox.take_exchanges())
