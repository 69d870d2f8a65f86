"""Holding the tests' provider traffic to the providers' specs (see SOURCES.md beside this file).

The sandbox journals every request a provider receives together with the answer it gave
(payments.sandbox.server). `exchange_problems()` checks one such exchange against the spec of
its provider: the request as the provider's spec describes the call (path, method, headers,
body), the answer as the spec describes that call's answers (status, media type, body).
`assert_exchanges_follow_specs()` fails with every problem found, each naming the call, the
spec and what was wrong. The OpenAPI 3 documents are read by openapi-core, Bambora's Swagger
2.0 by bravado-core; both validate the JSON Schema parts with jsonschema.

Exempt, and only these: a request a test marks with OFF_SPEC_HEADER (it must then be one the
spec refuses), and an answer a fault gave outside every spec on purpose (the journal says so).
"""

import copy
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml
from bravado_core.exception import MatchingResponseNotFound, SwaggerMappingError
from bravado_core.request import IncomingRequest, unmarshal_request
from bravado_core.response import get_response_spec
from bravado_core.spec import Spec
from bravado_core.validate import validate_schema_object
from jsonschema.exceptions import ValidationError
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import PathError
from requests.structures import CaseInsensitiveDict

SPECS = Path(__file__).parent
# A request a test sends against the spec on purpose names why in this header.
OFF_SPEC_HEADER = "X-Sandbox-Off-Spec"


class SpecViolation(AssertionError):
    """Requests or answers of the tests' provider traffic that the providers' specs refuse."""


def assert_exchanges_follow_specs(entries, *, off_spec_requests=None):
    """Raise SpecViolation naming every problem exchange_problems() finds in `entries` (journal
    entries of payments.sandbox.server.Sandbox). `off_spec_requests`: why the test makes an
    adapter send requests the spec refuses, on purpose; their answers are still checked."""
    problems = [
        problem
        for entry in entries
        for problem in exchange_problems(entry, off_spec_requests=off_spec_requests)
    ]
    if problems:
        raise SpecViolation(
            "The providers' specs (tests/specs) refuse what the tests exchanged with the "
            "sandbox:\n- " + "\n- ".join(problems)
        )


def exchange_problems(entry, *, off_spec_requests=None):
    """What the spec of `entry`'s provider refuses in the request and in the answer, as
    sentences; [] when both follow it. A request the spec refuses is no problem when its test
    marked it (OFF_SPEC_HEADER), or when `off_spec_requests` says why the test sends such."""
    contract = CONTRACTS[entry["provider"]]()
    exchange = Exchange.from_entry(entry)
    call = f"{entry['provider']} {exchange.method.upper()} {exchange.path}"
    answer = entry.get("answer")
    if answer is not None and answer.get("off_spec"):
        answer = None
    refused, answer_refused = contract.problems(exchange, answer)
    problems = []
    marked = exchange.headers.get(OFF_SPEC_HEADER)
    if marked and not refused:
        problems.append(
            f"{call}: the test marked the request as off spec ({marked}), but the spec "
            "accepts it"
        )
    elif refused and not marked and not off_spec_requests:
        problems += [f"{call}: the request {problem}" for problem in refused]
    if answer is not None:
        problems += [f"{call} -> {answer['status']}: the answer {problem}" for problem in answer_refused]
    return problems


@dataclass(frozen=True)
class Exchange:
    """A journalled request, as the validators want it."""

    method: str  # lower case
    path: str  # below the provider's prefix, still URL-encoded, without the query
    query: dict
    headers: CaseInsensitiveDict
    body: bytes

    @classmethod
    def from_entry(cls, entry):
        raw = urlsplit(entry["raw_path"]).path
        path = "/" + raw.lstrip("/").partition("/")[2]
        return cls(
            method=entry["method"].lower(),
            path=path,
            query={name: values[-1] for name, values in (entry.get("query") or {}).items()},
            headers=CaseInsensitiveDict(entry["headers"]),
            body=entry["body"].encode(),
        )

    @property
    def content_type(self):
        return self.headers.get("content-type", "").lower()


# OpenAPI 3 (openapi-core) ------------------------------------------------------------------


class OpenApiContract:
    """A provider whose calls are described by OpenAPI 3 documents. `route(path)` gives the
    documents that may describe a call (tried in turn), the host the provider serves it at,
    and its path there."""

    def __init__(self, route):
        self.route = route

    def problems(self, exchange, answer):
        """What the spec refuses in the request, and in the answer (when there is one)."""
        names, host, path = self.route(exchange.path)
        request = _OpenApiRequest(exchange, host, path)
        for name in names:
            document = openapi_document(name)
            errors = list(document.api.iter_request_errors(request))
            if not any(isinstance(error, PathError) for error in errors):
                break
        else:
            return [f"calls an endpoint no spec documents ({exchange.method.upper()} {host}{path})"], []
        request_problems = [f"breaks {document.name}: {_describe(error)}" for error in errors]
        answer_problems = []
        if answer is not None:
            answer_problems = [
                f"breaks {document.name}: {_describe(error)}"
                for error in document.api.iter_response_errors(request, _OpenApiResponse(answer))
            ]
        return request_problems, answer_problems


@dataclass(frozen=True)
class Document:
    name: str
    api: OpenAPI


class _OpenApiRequest:
    def __init__(self, exchange, host, path):
        self.host_url = host
        self.path = path
        self.method = exchange.method
        self.parameters = RequestParameters(query=exchange.query, header=exchange.headers, cookie={})
        self.body = exchange.body or None
        self.content_type = exchange.content_type


class _OpenApiResponse:
    def __init__(self, answer):
        headers = CaseInsensitiveDict(answer["headers"])
        self.status_code = answer["status"]
        self.data = answer["body"].encode()
        self.content_type = headers.get("content-type", "")
        self.headers = headers


def _describe(error):
    """One line naming what an openapi-core error found wrong, down to the schema's words."""
    words = str(error)
    cause = error.__cause__
    schema_errors = getattr(cause, "schema_errors", None)
    if schema_errors:
        if "not valid for schema" in words:  # it repeats the whole value: the errors say more
            words = "body"
        return f"{words}: " + "; ".join(_schema_error(item) for item in schema_errors)
    if cause is not None and str(cause) not in words:
        words += f": {cause}"
    return words


def _schema_error(error):
    where = ".".join(str(part) for part in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


# Each function below changes a freshly loaded published document where it cannot be applied
# literally; SOURCES.md ("Leniencies") says why for each one.


def _epayment(spec):
    schemas = spec["components"]["schemas"]
    schemas["CreatePaymentRequest"]["properties"]["receipt"] = {"type": "object"}
    adjust = spec["components"]["responses"]["AdjustResponse"]["content"]
    adjust["application/json"] = copy.deepcopy(adjust["application/problem+json"])
    required = schemas["PaymentEvent"]["required"]
    required[required.index("paymentAction")] = "name"
    for path in spec["paths"].values():
        for method, operation in path.items():
            if method in ("get", "post", "put", "delete"):
                operation["responses"].setdefault(
                    "default", {"$ref": "#/components/responses/ProblemResponse"}
                )
    spec["components"]["responses"]["ProblemResponse"].setdefault("description", "A problem")
    return spec


def _accesstoken(spec):
    for path in spec["paths"].values():
        path["post"]["responses"].setdefault("default", {"description": "An error, any body"})
    return spec


def _optty_refund(spec):
    schemas = spec["components"]["schemas"]
    schemas["RefundResponse"]["properties"]["bnplProvider"] = {"description": "APM Provider"}
    spec["paths"]["/orders/{orderReference}/refund"]["post"]["responses"]["default"] = {
        "description": "Any other error, in the format the seed shows",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/BadRequestResponse"}}
        },
    }
    return spec


ADJUSTMENTS = {
    "epayment.v1.yml": _epayment,
    "accesstoken.swagger.yaml": _accesstoken,
    "optty.refund.openapi.json": _optty_refund,
}


@cache
def openapi_document(name):
    """The OpenAPI 3 document `name` of this folder, adjusted where SOURCES.md says, and checked
    against the OpenAPI specification as it loads."""
    text = (SPECS / name).read_text()
    spec = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
    spec = ADJUSTMENTS.get(name, lambda spec: spec)(spec)
    # openapi-core reads application/json only; RFC 7807's problem documents are JSON too.
    config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
    return Document(name=name, api=OpenAPI.from_dict(spec, config=config))


def _vipps_route(path):
    if path.startswith("/accesstoken/"):
        return ["accesstoken.swagger.yaml"], "https://apitest.vipps.no", path
    return ["epayment.v1.yml"], "https://apitest.vipps.no", path


def _optty_route(path):
    # The sandbox serves Optty's API under /api and its token endpoint under /auth.
    area, _, rest = path.lstrip("/").partition("/")
    if area == "auth":
        return ["optty.written.yaml"], "https://auth.qa.optty.com", "/" + rest
    return ["optty.refund.openapi.json", "optty.written.yaml"], "https://api.qa.optty.com", "/" + rest


def _simpleps_route(path):
    return ["simpleps.written.yaml"], "https://sandbox-gw.simpleps.com", path


# Swagger 2.0 (bravado-core) ----------------------------------------------------------------


class SwaggerContract:
    """Bambora: its Swagger 2.0 document, read by bravado-core. bravado-core validates
    parameters, bodies and answers but does not route, so the operation is found here by its
    path template."""

    name = "bambora.swagger.json"

    def __init__(self):
        self.spec, self.operations = swagger_document(self.name)

    def problems(self, exchange, answer):
        """What the spec refuses in the request, and in the answer (when there is one)."""
        operation, path_params = self._find(exchange)
        if operation is None:
            return [f"calls an endpoint no spec documents ({exchange.method.upper()} {exchange.path})"], []
        request_problems = []
        try:
            # bravado-core takes a body that is not JSON for no body at all.
            json.loads(exchange.body or b"null")
            unmarshal_request(_SwaggerRequest(exchange, path_params), operation)
        except ValueError as error:
            request_problems.append(f"breaks {self.name}: its body is not JSON ({error})")
        except (ValidationError, SwaggerMappingError) as error:
            request_problems.append(f"breaks {self.name}: {_swagger_error(error)}")
        answer_problems = []
        if answer is not None:
            answer_problems = [
                f"breaks {self.name}: {problem}" for problem in self._answer_problems(operation, answer)
            ]
        return request_problems, answer_problems

    def _answer_problems(self, operation, answer):
        try:
            response_spec = get_response_spec(answer["status"], operation)
        except MatchingResponseNotFound:
            return [f"status {answer['status']} is not an answer of {operation.operation_id}"]
        schema = response_spec.get("schema")
        if schema is None:
            return ["it should have no body"] if answer["body"] else []
        content_type = CaseInsensitiveDict(answer["headers"]).get("content-type", "")
        media_type = content_type.split(";")[0].strip().lower()
        if media_type not in operation.produces:
            return [f"its media type {media_type or '(none)'} is not one of {', '.join(operation.produces)}"]
        try:
            validate_schema_object(self.spec, schema, json.loads(answer["body"]))
        except ValueError as error:
            return [f"its body is not JSON ({error})"]
        except (ValidationError, SwaggerMappingError) as error:
            return [_swagger_error(error)]
        return []

    def _find(self, exchange):
        for template, operation in self.operations:
            match = template.fullmatch(exchange.path)
            if match and operation.http_method == exchange.method:
                return operation, match.groupdict()
        return None, {}


class _SwaggerRequest(IncomingRequest):
    def __init__(self, exchange, path_params):
        self.path = {name: unquote(value) for name, value in path_params.items()}
        self.query = exchange.query
        self.headers = exchange.headers
        self.form = {}
        self.files = {}
        self._body = exchange.body

    def json(self, **kwargs):
        return json.loads(self._body) if self._body.strip() else None


def _swagger_error(error):
    if isinstance(error, ValidationError):
        where = ".".join(str(part) for part in error.absolute_path)
        return f"{where}: {error.message}" if where else error.message
    return str(error)


class _OfflineSpec(Spec):
    """bravado-core, looking for models, walks every schema jsonschema has registered, among
    them the OpenAPI 3.1 dialects that openapi-core registers, whose `$ref`s point at the web.
    A document with local `$ref`s only (swagger_document checks) has no business there: a
    remote schema reads as empty, and nothing is fetched."""

    def get_ref_handlers(self):
        return {**super().get_ref_handlers(), "http": _nothing, "https": _nothing}


def _nothing(uri):
    return {}


@cache
def swagger_document(name):
    """bravado-core's reading of the Swagger 2.0 document `name` (checked as it loads), and its
    operations, each with the regular expression of its full path."""
    document = json.loads((SPECS / name).read_text())
    remote = sorted({ref for ref in _refs(document) if not ref.startswith("#")})
    assert not remote, f"{name} refers to other documents: {', '.join(remote)}"
    spec = _OfflineSpec.from_dict(
        document,
        config={
            "validate_swagger_spec": True,
            "validate_requests": True,
            "validate_responses": True,
            "use_models": False,
        },
    )
    base = spec.spec_dict.get("basePath", "").rstrip("/")
    operations = []
    for resource in spec.resources.values():
        for operation in resource.operations.values():
            operations.append((_path_pattern(base + operation.path_name), operation))
    return spec, operations


def _refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _path_pattern(template):
    """A regular expression for the paths of a template such as `/payments/{payment}/`."""
    parts = re.split(r"\{(\w+)\}", template)
    return re.compile(
        "".join(f"(?P<{part}>[^/]+)" if odd else re.escape(part) for odd, part in _alternating(parts))
    )


def _alternating(parts):
    return ((index % 2 == 1, part) for index, part in enumerate(parts))


CONTRACTS = {
    "bambora": SwaggerContract,
    "optty": lambda: OpenApiContract(_optty_route),
    "simpleps": lambda: OpenApiContract(_simpleps_route),
    "vipps": lambda: OpenApiContract(_vipps_route),
}
