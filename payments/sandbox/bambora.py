"""Bambora's payments API, version 1, as ../shared/providers.md describes it.

Basic auth `<token>@<merchant number>:<secret>`, `API-Version: 1`, minor units, errors as
`{type, title, detail, status}`. Refund only when Captured and never above what is left;
cancel only when Authorized. Operations made in Bambora's merchant portal are, as Bambora warns,
not reflected in the API: the simulator keeps them aside, invisible to API calls.

The refund and cancel answers are the seeds' payment object, with its `refunds` list. A payment
created with `refunds_in_get=False` is read (GET) as the swagger's PaymentResponse exactly,
which has no `refunds` (nor `operations`, `operationInProgress`); by default GET shows them too.
"""

import base64
import binascii
import copy

from payments.sandbox.base import Simulator
from payments.sandbox.server import SandboxResponse

# Bambora's swagger shows its errors so: a domain error's `type` is a URL naming it, a generic
# one (bad request, credentials, ...) is "about:blank" with a title of its own.
ERROR_BASE = "http://api.bambora.com/definitions/payments/"
ERROR_TITLES = {
    "cannot_capture": "Cannot capture",
    "cannot_cancel": "Cannot cancel",
    "cannot_refund": "Cannot refund",
    "insufficient_funds": "Insufficient funds",
    "invalid_payment_state_transition": "Invalid payment state transition",
    "payment_not_found": "Payment not found",
    "payment_operation_blocked": "Payment operation blocked",
}
# The error of each status when nothing more precise is known: a name above, or a title.
DEFAULT_ERRORS = {
    400: "Bad Request",
    401: "Cannot authorize",
    402: "cannot_refund",
    403: "Forbidden.",
    404: "payment_not_found",
    409: "payment_operation_blocked",
    422: "invalid_payment_state_transition",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
# A payment reference is at most 2,000 characters (the seeds, the swagger's GET).
MAX_REFERENCE = 2000
# The swagger's PaymentResponse allows these regions only.
REGION = "emea_0"
# The properties of the swagger's PaymentResponse, the answer to GET /payments/{ref}/.
PAYMENT_RESPONSE_FIELDS = ("payment", "state", "currency", "amount", "captures", "merchant", "region", "comment")


class BamboraSimulator(Simulator):
    code = "bambora"

    def reset(self):
        self.payments = {}

    def endpoint_name(self, request):
        match request.method, request.segments:
            case "GET", ["payments", _]:
                return "fetch"
            case "POST", ["payments", _, action]:
                return action
        return "other"

    def error_response(self, status, message, error_type=None):
        error = error_type or DEFAULT_ERRORS.get(status, "Error")
        if error in ERROR_TITLES:
            type_, title = ERROR_BASE + error, ERROR_TITLES[error]
        else:
            type_, title = "about:blank", error
        # The swagger's payment operations produce application/json only, errors included.
        return SandboxResponse(
            status, {"type": type_, "title": title, "detail": message or title, "status": status}
        )

    # API -----------------------------------------------------------------------------------

    def handle(self, request):
        if not self._authorized(request.headers.get("authorization", "")):
            return self.error_response(401, "Invalid merchant credentials.")
        if request.headers.get("api-version") != "1":
            return self.error_response(400, "The API-Version header must be 1.")
        if len(request.segments) > 1 and len(request.segments[1]) > MAX_REFERENCE:
            return self.error_response(400, f"'{request.segments[1][:20]}...' is too long")
        match request.method, request.segments:
            case "GET", ["payments", reference]:
                payment = self.payments.get(reference)
                if payment is None:
                    return self.error_response(404, f"No payment with reference {reference}.")
                answer = self._payment_object(payment)
                if not payment.get("refunds_in_get", True):
                    answer = {name: answer[name] for name in PAYMENT_RESPONSE_FIELDS}
                return SandboxResponse(200, answer)
            case "POST", ["payments", reference, action] if action in ("capture", "refund", "cancel"):
                payment = self.payments.get(reference)
                if payment is None:
                    return self.error_response(404, f"No payment with reference {reference}.")
                return getattr(self, f"_{action}")(payment, request.json())
        return self.error_response(404, "No such endpoint.", "Not Found")

    def _capture(self, payment, body):
        # The swagger's Capture requires the amount, when there is a body at all.
        amount = self._amount(body, default=payment["amount"] - self._captured(payment), required=True)
        if isinstance(amount, SandboxResponse):
            return amount
        if payment["state"] != "Authorized" or amount > payment["amount"] - self._captured(payment):
            return self.error_response(
                422, "The payment cannot be captured.", "invalid_payment_state_transition"
            )
        payment["captures"].append({"amount": amount})
        payment["state"] = "Captured"
        self._log(payment, "capture", amount)
        return SandboxResponse(201, self._payment_object(payment))

    def _refund(self, payment, body):
        left = self._captured(payment) - self._refunded(payment)
        amount = self._amount(body, default=left)
        if isinstance(amount, SandboxResponse):
            return amount
        if payment["state"] != "Captured":
            return self.error_response(
                402, f"A payment in state {payment['state']} cannot be refunded.", "cannot_refund"
            )
        if amount > left:
            return self.error_response(
                402, f"The amount exceeds the refundable amount of {left}.", "cannot_refund"
            )
        payment["refunds"].append({"amount": amount})
        if amount == left:
            payment["state"] = "Refunded"
        self._log(payment, "refund", amount)
        # Bambora's seed says 200, its swagger 201 (as for a capture): answer as the swagger.
        return SandboxResponse(201, self._payment_object(payment))

    def _cancel(self, payment, body):
        if payment["state"] != "Authorized":
            return self.error_response(
                402, f"A payment in state {payment['state']} cannot be cancelled.", "cannot_cancel"
            )
        payment["state"] = "Canceled"
        self._log(payment, "cancel", payment["amount"] - self._captured(payment))
        return SandboxResponse(200, self._payment_object(payment))

    def _authorized(self, header):
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            username, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        expected = f"{self.config['merchant_token']}@{self.config['merchant_number']}"
        return username == expected and password == self.config["merchant_secret"]

    def _amount(self, body, *, default, required=False):
        """The body's amount in minor units, `default` when it names none, or the 400 answer.
        A body is optional; when there is one it is an object with `amount` (required when
        `required`) and an optional `comment` of at most 256 characters."""
        if body is None:
            return default
        if not isinstance(body, dict):
            return self.error_response(400, "The body must be a JSON object.")
        if "comment" in body and not (isinstance(body["comment"], str) and len(body["comment"]) <= 256):
            return self.error_response(400, "'comment' must be a string of at most 256 characters.")
        if "amount" not in body:
            if required:
                return self.error_response(400, "'amount' is a required property")
            return default
        amount = body["amount"]
        if type(amount) is not int or amount <= 0:
            return self.error_response(400, "amount must be a positive integer of minor units.")
        return amount

    # Control -------------------------------------------------------------------------------

    def create_payment(
        self, *, reference, currency, amount, captured=0, refunded=0, cancelled=0, refunds_in_get=True, **options
    ):
        """A payment as the shop left it; `refunds_in_get`: see the module's docstring."""
        if options:
            raise ValueError(f"Bambora payments take only refunds_in_get: {', '.join(options)}")
        if not isinstance(refunds_in_get, bool):
            raise ValueError("refunds_in_get is true or false")
        state = "Authorized"
        if cancelled:
            state = "Canceled"
        if captured:
            state = "Refunded" if refunded == captured else "Captured"
        self.payments[reference] = {
            "payment": reference,
            "currency": currency,
            "amount": amount,
            "captures": [{"amount": captured}] if captured else [],
            "refunds": [{"amount": refunded}] if refunded else [],
            "state": state,
            "operations": [],
            "portal_operations": [],
            "refunds_in_get": refunds_in_get,
        }
        return self.payment_view(reference)

    def portal(self, *, reference, kind, amount):
        payment = self.payments[reference]
        payment["portal_operations"].append({"kind": kind, "amount": amount})
        return self.payment_view(reference)

    def payment_view(self, reference):
        payment = self.payments.get(reference)
        if payment is None:
            return None
        return {
            "reference": reference,
            "currency": payment["currency"],
            "amount": payment["amount"],
            "captured": self._captured(payment),
            "cancelled": payment["amount"] - self._captured(payment)
            if payment["state"] == "Canceled"
            else 0,
            "refunded": self._refunded(payment),
            "state": payment["state"],
            "operations": copy.deepcopy(payment["operations"]),
            "portal_operations": copy.deepcopy(payment["portal_operations"]),
        }

    def snapshot(self):
        return copy.deepcopy(self.payments)

    def restore(self, data):
        self.payments = copy.deepcopy(data)

    # Helpers -------------------------------------------------------------------------------

    def _payment_object(self, payment):
        allowed = {
            "Authorized": ["Cancel", "Capture"],
            "Captured": ["Refund"],
        }.get(payment["state"], [])
        return {
            "payment": payment["payment"],
            "state": payment["state"],
            "currency": payment["currency"],
            "amount": payment["amount"],
            "captures": copy.deepcopy(payment["captures"]),
            "refunds": copy.deepcopy(payment["refunds"]),
            "operations": allowed,
            "operationInProgress": False,
            "merchant": self.config["merchant_number"],
            "region": REGION,
            "comment": "",
        }

    @staticmethod
    def _captured(payment):
        return sum(item["amount"] for item in payment["captures"])

    @staticmethod
    def _refunded(payment):
        return sum(item["amount"] for item in payment["refunds"])

    @staticmethod
    def _log(payment, kind, amount):
        payment["operations"].append({"kind": kind, "amount": amount})
