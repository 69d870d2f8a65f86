"""The SimplePS gateway, as ../shared/providers.md and SimplePS's refund page describe it.

Token: POST /oauth/token with JSON `{clientId, secretId}`, at most 60 a minute. Payments by the
merchant's externalPaymentId: refund (no body = the rest of the captured amount; several
partial refunds up to the captured total), void (only before capture, irreversible), capture
(once), read. Amounts are decimal major units; errors are `{status, message, responseCode}`.
"""

import copy
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from decimal import Decimal

from payments.money import InvalidAmount, to_major, to_minor
from payments.sandbox.base import IssuedTokens, Simulator
from payments.sandbox.server import SandboxResponse

TOKEN_LIFETIME = 3_600
TOKEN_CALLS_PER_MINUTE = 60
# Inyo's response codes, which SimplePS follows (providers.md), with Inyo's words.
NO_PAYMENT_TO_REFUND = "PAY_012"  # no payment found to refund with that external payment id
INSUFFICIENT_BALANCE = "PAY_016"  # insufficient balance to refund
AMOUNT_NOT_POSITIVE = "PAY_020"  # amount cannot be zero or less
INVALID_CURRENCY = "PAY_021"  # invalid currency code
# PAY_022 (rejected by provider) is the card network's refusal: a fault gives it, e.g.
# {"mode": "status", "status": 400, "code": "PAY_022"}.
UNAUTHORIZED = "SE_001"
# The other codes are ours, for errors SimplePS describes without naming a code (a refund of
# an uncaptured payment, a void after capture ...): none reuses one of Inyo's for another
# meaning.
DEFAULT_CODES = {
    400: "PAY_400", 401: UNAUTHORIZED, 403: "SE_003", 404: "PAY_404", 409: "PAY_409", 429: "RL_429",
}
DEFAULT_MESSAGES = {
    401: "Unauthorized: the access token is missing, invalid or expired.",
    403: "Forbidden",
    404: "Payment not found",
    429: "Too many requests",
}
# The history's status of each kind of entry: Inyo documents AUTHORIZED, CAPTURED, REFUNDED.
HISTORY_STATUSES = {"PAYMENT": "AUTHORIZED", "CAPTURE": "CAPTURED", "REFUND": "REFUNDED", "VOID": "VOIDED"}


class SimplePSSimulator(Simulator):
    code = "simpleps"

    def reset(self):
        self.payments = {}
        self.tokens = IssuedTokens()
        self.token_calls = deque()

    def expire_tokens(self):
        self.tokens.expire_all()

    def endpoint_name(self, request):
        match request.method, request.segments:
            case "POST", ["oauth", "token"]:
                return "token"
            case "GET", ["payments", _]:
                return "fetch"
            case "POST", ["payments", _, action]:
                return action
        return "other"

    def error_response(self, status, message, code=None):
        return SandboxResponse(
            status,
            {
                "status": status,
                "message": message or DEFAULT_MESSAGES.get(status, "Error"),
                "responseCode": code or DEFAULT_CODES.get(status, "SYS_500"),
            },
        )

    # API -----------------------------------------------------------------------------------

    def handle(self, request):
        if request.method == "POST" and request.segments == ["oauth", "token"]:
            return self._token(request.json())
        if not self.tokens.valid(request.headers.get("authorization")):
            # A JSON body that says the token was refused: the call did not run.
            return self.error_response(401, None, UNAUTHORIZED)
        match request.method, request.segments:
            case "GET", ["payments", reference]:
                payment = self.payments.get(reference)
                if payment is None:
                    return self.error_response(404, None)
                return SandboxResponse(200, self._read(payment))
            case "POST", ["payments", reference, action] if action in ("refund", "void", "capture"):
                payment = self.payments.get(reference)
                if payment is None and action == "refund":
                    return self.error_response(
                        404,
                        "No payment found to refund with that external payment id.",
                        NO_PAYMENT_TO_REFUND,
                    )
                if payment is None:
                    return self.error_response(404, None)
                body = request.json()
                if body is not None and not isinstance(body, dict):
                    return self.error_response(400, "The body must be a JSON object")
                return getattr(self, f"_{action}")(payment, body or {})
        return self.error_response(404, "Not found", "SYS_404")

    def _token(self, body):
        now = time.monotonic()
        while self.token_calls and self.token_calls[0] < now - 60:
            self.token_calls.popleft()
        if len(self.token_calls) >= TOKEN_CALLS_PER_MINUTE:
            return self.error_response(429, "Too many token requests")
        self.token_calls.append(now)
        if (
            not isinstance(body, dict)
            or body.get("clientId") != self.config["client_id"]
            or body.get("secretId") != self.config["secret_id"]
        ):
            return self.error_response(401, "Invalid client credentials.", UNAUTHORIZED)
        return SandboxResponse(
            200,
            {"accessToken": self.tokens.issue(TOKEN_LIFETIME), "tokenType": "Bearer", "expiresIn": TOKEN_LIFETIME},
        )

    def _refund(self, payment, body):
        if payment["voided"] or not payment["captured"]:
            return self.error_response(400, "Only captured payments can be refunded.")
        left = payment["captured"] - self._refunded(payment)
        amount = self._amount(body, payment, default=left)
        if isinstance(amount, SandboxResponse):
            return amount
        if left == 0 or amount > left:
            return self.error_response(400, "Insufficient balance to refund.", INSUFFICIENT_BALANCE)
        payment["refunds"].append(amount)
        self._history(payment, "REFUND", amount)
        return SandboxResponse(200, self._operation_object(payment))

    def _void(self, payment, body):
        if payment["voided"]:
            return self.error_response(400, "The payment has already been voided.")
        if payment["captured"]:
            return self.error_response(400, "A captured payment cannot be voided.")
        payment["voided"] = True
        self._history(payment, "VOID", payment["amount"])
        return SandboxResponse(200, self._operation_object(payment))

    def _capture(self, payment, body):
        if payment["voided"] or payment["captured"]:
            return self.error_response(400, "The payment cannot be captured.")
        amount = self._amount(body, payment, default=payment["amount"])
        if isinstance(amount, SandboxResponse):
            return amount
        if amount > payment["amount"]:
            return self.error_response(400, "The capture is larger than the authorization.")
        payment["captured"] = amount
        self._history(payment, "CAPTURE", amount)
        return SandboxResponse(200, self._operation_object(payment))

    def _amount(self, body, payment, *, default):
        if "amount" not in body:
            return default
        money = body["amount"]
        if not isinstance(money, dict):
            return self.error_response(400, "amount must be an object with total and currency.")
        currency = money.get("currency", payment["currency"])
        if currency != payment["currency"]:
            return self.error_response(400, "Invalid currency code.", INVALID_CURRENCY)
        if "total" not in money:
            return default
        total = money["total"]
        if isinstance(total, bool) or not isinstance(total, (int, Decimal)):
            return self.error_response(400, "amount.total must be a number.")
        if total <= 0:
            return self.error_response(400, "Amount cannot be zero or less.", AMOUNT_NOT_POSITIVE)
        try:
            return to_minor(Decimal(total), payment["currency"])
        except InvalidAmount as error:
            return self.error_response(400, str(error))

    # Control -------------------------------------------------------------------------------

    def create_payment(self, *, reference, currency, amount, captured=0, refunded=0, cancelled=0, **options):
        if options:
            raise ValueError(f"SimplePS payments take no options: {', '.join(options)}")
        payment = {
            "reference": reference,
            "paymentId": str(uuid.uuid4()),
            "currency": currency,
            "amount": amount,
            "captured": captured,
            "refunds": [refunded] if refunded else [],
            "voided": bool(cancelled),
            "created": _now(),
            "history": [],
            "operations": [],
        }
        payment["history"].append(_history_entry("PAYMENT", amount))
        for code, value in (("CAPTURE", captured), ("REFUND", refunded)):
            if value:
                payment["history"].append(_history_entry(code, value))
        self.payments[reference] = payment
        return self.payment_view(reference)

    def portal(self, *, reference, kind, amount):
        payment = self.payments[reference]
        if kind == "refund":
            payment["refunds"].append(amount)
        elif kind == "capture":
            payment["captured"] += amount
        elif kind == "cancel":
            payment["voided"] = True
        else:
            raise ValueError(f"unknown kind {kind!r}")
        self._history(payment, {"refund": "REFUND", "capture": "CAPTURE", "cancel": "VOID"}[kind], amount)
        return self.payment_view(reference)

    def payment_view(self, reference):
        payment = self.payments.get(reference)
        if payment is None:
            return None
        return {
            "reference": reference,
            "currency": payment["currency"],
            "amount": payment["amount"],
            "captured": payment["captured"],
            "cancelled": payment["amount"] - payment["captured"] if payment["voided"] else 0,
            "refunded": self._refunded(payment),
            "status": self._status(payment),
            "operations": copy.deepcopy(payment["operations"]),
        }

    def snapshot(self):
        return copy.deepcopy(self.payments)

    def restore(self, data):
        self.payments = copy.deepcopy(data)

    # Helpers -------------------------------------------------------------------------------

    def _read(self, payment):
        currency = payment["currency"]
        return {
            "externalId": payment["reference"],
            "amount": to_major(payment["amount"], currency),
            "capturedAmount": to_major(payment["captured"], currency),
            "refundedAmount": to_major(self._refunded(payment), currency),
            "currency": currency,
            "status": self._status(payment),
            "history": [
                {**entry, "requestedAmount": to_major(entry["requestedAmount"], currency)}
                for entry in payment["history"]
            ],
        }

    def _operation_object(self, payment):
        """The payment object SimplePS answers an operation with (its refund page's shape)."""
        return {
            "paymentId": str(uuid.uuid4()),
            "parentPaymentId": payment["paymentId"],
            "externalPaymentId": payment["reference"],
            "amount": to_major(payment["amount"], payment["currency"]),
            "created": payment["created"],
            "approved": True,
            "message": "Payment Approved",
            "automaticReversed": False,
            "status": self._status(payment),
            "captured": bool(payment["captured"]),
            "voided": payment["voided"],
            "authCode": payment["paymentId"],
            "issuerName": "SANDBOX BANK",
            "issuerCountry": "US",
            "cvcResult": "APPROVED",
            "avsResult": "NOT_SENT",
        }

    def _status(self, payment):
        refunded = self._refunded(payment)
        if payment["voided"]:
            return "VOIDED"
        if refunded and refunded == payment["captured"]:
            return "REFUNDED"
        if refunded:
            return "PARTIALLY_REFUNDED"
        if payment["captured"] and payment["captured"] < payment["amount"]:
            return "PARTIALLY_CAPTURED"
        return "CAPTURED" if payment["captured"] else "AUTHORIZED"

    @staticmethod
    def _refunded(payment):
        return sum(payment["refunds"])

    @staticmethod
    def _history(payment, code, amount):
        payment["history"].append(_history_entry(code, amount))
        kind = {"REFUND": "refund", "CAPTURE": "capture", "VOID": "cancel"}[code]
        payment["operations"].append({"kind": kind, "amount": amount})


def _history_entry(code, amount):
    return {"code": code, "status": HISTORY_STATUSES[code], "requestedAmount": amount, "requestedOn": _now()}


def _now():
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
