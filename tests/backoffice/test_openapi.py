"""The intake API's published contract: its OpenAPI 3 schema is served as kept beside the code,
real answers conform to it, and a tool we did not write (schemathesis) fuzzes the running app
with it: no 5xx, no answer outside the schema, nothing stored from a refused request."""

import json

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from schemathesis.core.transport import Response
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from backoffice.views.api import SCHEMA
from payments.models import AuditEvent, Operation, Order, Payment
from payments.services.api_tokens import api_token_create
from payments.services.audit import Actor

URL = "/api/v1/orders"
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def kept_schema():
    return json.loads(SCHEMA.read_text(encoding="utf-8"))


def stored():
    return (Order.objects.count(), Payment.objects.count(), Operation.objects.count(), AuditEvent.objects.count())


@pytest.mark.django_db
def test_the_schema_is_served_as_kept_beside_the_code(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == kept_schema()
    schemathesis.openapi.from_dict(response.json())  # a valid OpenAPI document, or this raises


# Real answers, through Django's test client, checked against the schema.


def _as_sent(response, body):
    """A test client's answer as schemathesis reads answers."""
    request = requests.Request("POST", f"http://testserver{URL}", data=body).prepare()
    headers = {name: [value] for name, value in response.items()}
    return Response(status_code=response.status_code, headers=headers, content=response.content,
                    request=request, elapsed=0.0, verify=True)


@pytest.mark.django_db
def test_real_answers_conform_to_the_schema(client, sandbox):
    operation = schemathesis.openapi.from_dict(kept_schema())[URL]["POST"]
    token = api_token_create(name="webshop", actor=Actor.system("tests"))[1]
    example = operation.definition.raw["requestBody"]["content"]["application/json"]["example"]
    sandbox.create_payment(provider="vipps", reference="acme-100045-1", currency="NOK", amount=125_000, captured=125_000)
    taken = {**example, "order_number": "100046"}
    sent = {
        "the schema's example": (example, token, 201),
        "the same again": (example, token, 200),
        "a payment of another order": (taken, token, 400),
        "no customer": ({**example, "order_number": "100047", "customer": None}, token, 400),
        "not JSON": ("{", token, 400),
        "no token": (example, "", 401),
    }

    for name, (body, bearer, status) in sent.items():
        raw = body if isinstance(body, str) else json.dumps(body)
        response = client.post(URL, raw, content_type="application/json", headers={"Authorization": f"Bearer {bearer}"})

        assert response.status_code == status, name
        operation.validate_response(_as_sent(response, raw))


# The fuzzing, against the running app (Django's live server, over real HTTP): cases that fit
# the schema and cases that do not, a bounded number of each, from a fixed seed.


@pytest.fixture
def bearer(transactional_db):
    return api_token_create(name="fuzzing shop", actor=Actor.system("tests"))[1]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_schemathesis_finds_nothing_wrong_with_the_running_app(live_server, bearer, mode):
    operation = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")[URL]["POST"]

    @seed(20261130)
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case):
        before = stored()

        response = case.call(base_url=live_server.url, headers={"Authorization": f"Bearer {bearer}"})

        case.validate_response(response, checks=CHECKS)
        if response.status_code >= 400:
            assert stored() == before, "a refused request stored something"

    fuzz()
