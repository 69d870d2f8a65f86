"""Optty's Merchant API, as ../shared/providers.md and Optty's refund reference describe it.

Token: POST /auth/token (form-encoded client credentials, scope api-user). API under /api:
refund, void, capture, read and details of an order, with a Bearer token. Amounts are decimal
major units with at most two decimals; errors are `{statusCode, message, error}`. Refunds only
of captured money and never above what is left; voids only while nothing is captured;
references (refund, void, capture) unique per merchant: a reference used before is refused and
nothing is done. An order's details (POSTed with its `merchantReference`) list its refunds and
captures; Optty documents no list of voids, so a void shows only in the order's status.

An order's refunds are answered with its option `refund_status` (default SUCCESSFUL): FAILED,
DECLINED or ERROR refuse the refund (nothing moves); any other word (PENDING, INITIATED,
PROCESSING, REQUESTED, ...) keeps the amount reserved, and the details say that word, until
advance() settles it. `pending_refunds=True` is the same as `refund_status="PENDING"`.
"""

import copy
import secrets
from datetime import UTC, datetime
from decimal import Decimal

from payments.money import InvalidAmount, to_major, to_minor
from payments.sandbox.base import IssuedTokens, Simulator
from payments.sandbox.server import SandboxResponse

TOKEN_LIFETIME = 86_400
SUCCEEDED = "SUCCESSFUL"
# Refund statuses that end a refund without moving money; every other word but SUCCESSFUL keeps
# the refund under way (its amount reserved) until advance().
FAILED_STATUSES = ("FAILED", "DECLINED", "ERROR")
REASONS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests"}
DEFAULT_MESSAGES = {401: "Unauthorized", 404: "Not Found", 500: "Internal server error"}


class OpttySimulator(Simulator):
    code = "optty"

    def reset(self):
        self.orders = {}
        # Refund, void and capture references are unique per merchant, across all its orders.
        self.references = set()
        self.tokens = IssuedTokens()

    def expire_tokens(self):
        self.tokens.expire_all()

    def endpoint_name(self, request):
        match request.method, request.segments:
            case "POST", ["auth", "token"]:
                return "token"
            case "GET", ["api", "orders", _]:
                return "fetch"
            case "POST", ["api", "orders", _, action]:
                return action
        return "other"

    def error_response(self, status, message, code=None):
        body = {"statusCode": status, "message": message or DEFAULT_MESSAGES.get(status, "Error")}
        if code:
            body["error"] = code
        elif status in REASONS and status != 401:
            body["error"] = REASONS[status]
        return SandboxResponse(status, body)

    # API -----------------------------------------------------------------------------------

    def handle(self, request):
        if request.segments == ["auth", "token"] and request.method == "POST":
            return self._token(request.form())
        if not request.segments or request.segments[0] != "api":
            return self.error_response(404, None)
        if not self.tokens.valid(request.headers.get("authorization")):
            return self.error_response(401, None)
        match request.method, request.segments[1:]:
            case "GET", ["orders", reference]:
                order = self.orders.get(reference)
                return self.error_response(404, None) if order is None else SandboxResponse(200, self._read(order))
            case "POST", ["orders", reference, action] if action in ("refund", "void", "capture", "details"):
                order = self.orders.get(reference)
                if order is None:
                    return self.error_response(404, None)
                body = request.json()
                if not isinstance(body, dict):
                    return self.error_response(400, "Request body must be a JSON object")
                return getattr(self, f"_{action}")(order, body)
        return self.error_response(404, None)

    def _token(self, form):
        if form.get("grant_type") != "client_credentials" or form.get("scope") != "api-user":
            return self.error_response(
                400, "grant_type must be client_credentials and scope api-user"
            )
        if (
            form.get("client_id") != self.config["client_id"]
            or form.get("client_secret") != self.config["client_secret"]
        ):
            return self.error_response(401, None)
        return SandboxResponse(
            200,
            {
                "access_token": self.tokens.issue(TOKEN_LIFETIME),
                "expires_in": TOKEN_LIFETIME,
                "token_type": "Bearer",
                "scope": form.get("scope", "api-user"),
            },
        )

    def _details(self, order, body):
        if body.get("merchantReference") != order["reference"]:
            return self.error_response(400, "merchantReference must be the order's reference")
        return SandboxResponse(200, self._details_answer(order))

    def _refund(self, order, body):
        problem = self._unique_reference(body.get("refundReference"), "refundReference")
        if problem:
            return problem
        money = body.get("refundAmount")
        if not isinstance(money, dict):
            return self.error_response(400, "refundAmount must be an object")
        if not isinstance(body.get("refundDescription"), str):
            return self.error_response(400, "refundDescription must be a string")
        if not isinstance(body.get("isActivatedViaOAuth"), bool):
            return self.error_response(400, "isActivatedViaOAuth must be a boolean value")
        amount = self._amount(money.get("amount"), order)
        if isinstance(amount, SandboxResponse):
            return amount
        if money.get("currency") != order["currency"]:
            return self.error_response(400, "The currency must match the currency of the order")
        left = self._captured(order) - self._refunded(order, include_pending=True)
        if amount > left:
            return self.error_response(
                400, f"You can only refund amount up to {order['currency']} {self._major(left, order)}"
            )
        status = _refund_status(order)
        refund = {
            "refundId": secrets.token_hex(8),
            "refundReference": body["refundReference"],
            "amount": amount,
            "status": status,
            "createdAt": _now(),
        }
        order["refunds"].append(refund)
        self.references.add(body["refundReference"])
        if status not in FAILED_STATUSES:
            self._log(order, "refund", amount)
        return SandboxResponse(
            200,
            {
                "refundReference": body["refundReference"],
                "bnplProvider": order["provider"],
                # Typed string by Optty's refund spec (its example shows a number).
                "refundedAmount": str(self._major(amount, order)),
                "refundStatus": status,
                "description": body["refundDescription"],
                "refundDate": refund["createdAt"],
                "bnplRefundId": refund["refundId"],
            },
        )

    def _void(self, order, body):
        problem = self._description(body) or self._unique_reference(body.get("voidReference"), "voidReference")
        if problem:
            return problem
        amount = self._amount(body.get("amount"), order)
        if isinstance(amount, SandboxResponse):
            return amount
        if self._captured(order):
            return self.error_response(400, "Only authorized orders can be voided")
        left = order["amount"] - self._voided(order)
        if amount > left:
            return self.error_response(
                400, f"You can only void amount up to {order['currency']} {self._major(left, order)}"
            )
        void = {"voidedId": secrets.token_hex(8), "voidReference": body["voidReference"], "amount": amount}
        order["voids"].append(void)
        self.references.add(body["voidReference"])
        self._log(order, "cancel", amount)
        return SandboxResponse(
            200,
            {"voidReference": void["voidReference"], "voidedId": void["voidedId"], "amount": self._major(amount, order)},
        )

    def _capture(self, order, body):
        problem = self._description(body) or self._unique_reference(
            body.get("captureReference"), "captureReference"
        )
        if problem:
            return problem
        amount = self._amount(body.get("amount"), order)
        if isinstance(amount, SandboxResponse):
            return amount
        left = order["amount"] - self._captured(order) - self._voided(order)
        if amount > left:
            return self.error_response(
                400, f"You can only capture amount up to {order['currency']} {self._major(left, order)}"
            )
        capture = {"captureId": secrets.token_hex(8), "captureReference": body["captureReference"], "amount": amount}
        order["captures"].append(capture)
        self.references.add(body["captureReference"])
        self._log(order, "capture", amount)
        return SandboxResponse(
            200,
            {"captureReference": capture["captureReference"], "captureId": capture["captureId"], "capturedAmount": self._major(amount, order)},
        )

    def _description(self, body):
        """The 400 answer when a void's or capture's optional description is not text."""
        if "description" in body and not isinstance(body["description"], str):
            return self.error_response(400, "description must be a string")
        return None

    def _unique_reference(self, reference, name):
        if not isinstance(reference, str) or not reference:
            return self.error_response(400, f"{name} must be a non-empty string")
        # Optty's documentation says the reference must be unique per merchant, not how a
        # reused one is answered: a 400 in its usual format is the likely form.
        if reference in self.references:
            return self.error_response(400, f"The {name} has already been used.")
        return None

    def _amount(self, value, order):
        """Minor units from the request's decimal amount, or Optty's 400."""
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)) or value <= 0:
            return self.error_response(400, "amount must be a positive number")
        if Decimal(value).as_tuple().exponent < -2:
            return self.error_response(400, "amount must have at most 2 decimal places")
        try:
            return to_minor(Decimal(value), order["currency"])
        except InvalidAmount as error:
            return self.error_response(400, str(error))

    # Control -------------------------------------------------------------------------------

    def create_payment(
        self,
        *,
        reference,
        currency,
        amount,
        captured=0,
        refunded=0,
        cancelled=0,
        refund_status=SUCCEEDED,
        pending_refunds=False,
        **options,
    ):
        """An authorized order (see the module's docstring for `refund_status` and
        `pending_refunds`)."""
        if options:
            raise ValueError(
                f"Optty orders take only refund_status and pending_refunds: {', '.join(options)}"
            )
        if not isinstance(refund_status, str) or not refund_status.strip():
            raise ValueError("refund_status is a word, such as SUCCESSFUL, PENDING or FAILED")
        if pending_refunds:
            if refund_status != SUCCEEDED:
                raise ValueError("pending_refunds is refund_status PENDING: give one of them")
            refund_status = "PENDING"
        order = {
            "reference": reference,
            "currency": currency,
            "amount": amount,
            "provider": "KLARNA_AU" if currency == "AUD" else "AFTERPAY_US",
            "refund_status": refund_status,
            "captures": [],
            "refunds": [],
            "voids": [],
            "operations": [],
        }
        if captured:
            order["captures"].append({"captureId": secrets.token_hex(8), "captureReference": f"shop-{reference}", "amount": captured})
        if refunded:
            order["refunds"].append({"refundId": secrets.token_hex(8), "refundReference": f"shop-{reference}", "amount": refunded, "status": "SUCCESSFUL", "createdAt": _now()})
        if cancelled:
            order["voids"].append({"voidedId": secrets.token_hex(8), "voidReference": f"shop-{reference}", "amount": cancelled})
        self.orders[reference] = order
        return self.payment_view(reference)

    def portal(self, *, reference, kind, amount):
        order = self.orders[reference]
        record = {"amount": amount}
        if kind == "refund":
            order["refunds"].append({**record, "refundId": secrets.token_hex(8), "refundReference": "", "status": "SUCCESSFUL", "createdAt": _now()})
        elif kind == "capture":
            order["captures"].append({**record, "captureId": secrets.token_hex(8), "captureReference": ""})
        elif kind == "cancel":
            order["voids"].append({**record, "voidedId": secrets.token_hex(8), "voidReference": ""})
        else:
            raise ValueError(f"unknown kind {kind!r}")
        self._log(order, kind, amount)
        return self.payment_view(reference)

    def advance(self, *, reference, outcome="succeeded"):
        if outcome not in ("succeeded", "failed"):
            raise ValueError(f"outcome is succeeded or failed, not {outcome!r}")
        order = self.orders[reference]
        for refund in order["refunds"]:
            if _under_way(refund):
                refund["status"] = SUCCEEDED if outcome == "succeeded" else "FAILED"
                if outcome == "failed":
                    order["operations"].remove({"kind": "refund", "amount": refund["amount"]})
        return self.payment_view(reference)

    def payment_view(self, reference):
        order = self.orders.get(reference)
        if order is None:
            return None
        return {
            "reference": reference,
            "currency": order["currency"],
            "amount": order["amount"],
            "captured": self._captured(order),
            "cancelled": self._voided(order),
            "refunded": self._refunded(order),
            "pending_refunds": sum(r["amount"] for r in order["refunds"] if _under_way(r)),
            "operations": copy.deepcopy(order["operations"]),
        }

    def snapshot(self):
        return {"orders": copy.deepcopy(self.orders), "references": sorted(self.references)}

    def restore(self, data):
        self.orders = copy.deepcopy(data["orders"])
        self.references = set(data["references"])

    # Helpers -------------------------------------------------------------------------------

    def _read(self, order):
        captured = self._captured(order)
        if self._voided(order) and not captured:
            status, capture_status = "VOIDED", "NOT_CAPTURED"
        elif captured and self._refunded(order) == captured:
            status, capture_status = "REFUNDED", "CAPTURED"
        elif captured:
            status = "PARTIALLY_REFUNDED" if self._refunded(order) else "CAPTURED"
            capture_status = "CAPTURED" if captured == order["amount"] else "PARTIALLY_CAPTURED"
        else:
            status, capture_status = "AUTHORIZED", "NOT_CAPTURED"
        return {
            "merchantReference": order["reference"],
            "status": status,
            "amount": self._major(order["amount"], order),
            "surcharge": Decimal("0.00"),
            "currency": order["currency"],
            "provider": order["provider"],
            "captureStatus": capture_status,
            "cancelledBy": "MERCHANT" if status == "VOIDED" else None,
        }

    def _details_answer(self, order):
        return {
            **self._read(order),
            "refunds": [
                {
                    "refundId": refund["refundId"],
                    "amount": self._major(refund["amount"], order),
                    "currency": order["currency"],
                    "status": refund["status"],
                    "createdAt": refund["createdAt"],
                    "refundReason": None,
                    "refundFailureReason": (
                        "Declined by the provider" if refund["status"] in FAILED_STATUSES else None
                    ),
                }
                for refund in order["refunds"]
            ],
            "orderCaptures": [
                {"captureId": c["captureId"], "amount": self._major(c["amount"], order), "status": "SUCCESSFUL"}
                for c in order["captures"]
            ],
        }

    @staticmethod
    def _major(minor, order):
        return to_major(minor, order["currency"])

    @staticmethod
    def _captured(order):
        return sum(c["amount"] for c in order["captures"])

    @staticmethod
    def _voided(order):
        return sum(v["amount"] for v in order["voids"])

    @staticmethod
    def _refunded(order, include_pending=False):
        """What the refunds moved; with `include_pending`, also what they hold reserved."""
        return sum(
            r["amount"]
            for r in order["refunds"]
            if r["status"] == SUCCEEDED or (include_pending and _under_way(r))
        )

    @staticmethod
    def _log(order, kind, amount):
        order["operations"].append({"kind": kind, "amount": amount})


def _refund_status(order):
    # Orders kept by a sandbox of before refund_status have pending_refunds instead.
    if "refund_status" in order:
        return order["refund_status"]
    return "PENDING" if order.get("pending_refunds") else SUCCEEDED


def _under_way(refund):
    return refund["status"] != SUCCEEDED and refund["status"] not in FAILED_STATUSES


def _now():
    return datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
