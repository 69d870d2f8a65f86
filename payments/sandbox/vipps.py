"""Vipps MobilePay's ePayment API v1 and its access token, as ../shared/providers.md describes them.

A token from POST /accesstoken/get (four headers, no body), then every ePayment call with the
Bearer token, the subscription key, the merchant serial number (MSN) and the system headers;
every POST with an Idempotency-Key. Amounts are `{currency, value}` in minor units, errors are
`application/problem+json`. A payment stays AUTHORIZED whatever is done to it: captures,
refunds and the cancel of the uncaptured rest only move its aggregate, and each one is an event
in the payment's event log, carrying the Idempotency-Key of the request that made it.
Operations done in Vipps's merchant portal are real: the API shows them, with events of their
own that carry no key of ours.

Where Vipps's documentation is silent, the choices are ours and say so in a comment.
"""

import copy
import re
import time
import uuid
from collections import defaultdict, deque
from datetime import UTC, datetime
from http import HTTPStatus

import simplejson

from payments.sandbox.base import IssuedTokens, Simulator
from payments.sandbox.server import SandboxResponse

REFERENCE = re.compile(r"[a-zA-Z0-9-]{8,50}")
CURRENCIES = ("NOK", "DKK", "EUR")
# What the test environment issues; production tokens last 24 hours.
TOKEN_LIFETIME_SECONDS = 3600
SYSTEM_HEADER_MAX = 30
IDEMPOTENCY_KEY_MAX = 50
# The spec's Amount.value: an integer from 0 to 65,000,000 minor units.
AMOUNT_MAX = 65_000_000
REQUIRED_SYSTEM_HEADERS = ("Vipps-System-Name", "Vipps-System-Version")
OPTIONAL_SYSTEM_HEADERS = ("Vipps-System-Plugin-Name", "Vipps-System-Plugin-Version")
EVENT_NAMES = {"capture": "CAPTURED", "refund": "REFUNDED", "cancel": "CANCELLED"}
# Vipps allows five capture, cancel or refund calls a minute on one payment (per reference and
# MSN). A payment set up with the option `modifications_per_minute` allows that many instead,
# for tests and demos that need more.
MODIFICATIONS_PER_MINUTE = 5

# Vipps says to tell errors apart by `type` alone, but documents only their titles (ePayment
# FAQ, "What do all the errors mean?"), and newer pages show a bare "https://httpstatuses.io/
# <status>" as the type. The simulator names each type after its documented title; since the
# real API may send only the status, adapters must still make sense of an error by it alone.
ERROR_BASE = "https://developer.vippsmobilepay.com/docs/APIs/epayment-api/errors/"
ERROR_TITLES = {
    "amount-invalid": "Amount invalid",
    "amount-too-small": "Amount too small",
    "cannot-cancel-a-captured-payment": "Cannot cancel a captured payment",
    "cannot-capture-a-cancelled-payment": "Cannot capture a cancelled payment",
    "capture-amount-too-high": "Capture amount too high",
    "missing-required-parameter": "Missing required parameter",
    "not-enough-refundable": "Not enough refundable",
    "order-processing": "Order processing",
    "payment-already-refunded": "Payment already refunded",
    "payment-cannot-be-cancelled": "Payment cannot be cancelled",
    "payment-cannot-be-refunded": "Payment cannot be refunded",
    "reference-not-found": "Reference not found",
    "capture-idempotency-conflict": "Capture idempotency conflict",
    "refund-idempotency-conflict": "Refund idempotency conflict",
    # Not in the FAQ's list; named like its two siblings.
    "cancel-idempotency-conflict": "Cancel idempotency conflict",
    # Vipps's error list names "Cancel period expired" (180 days after the reservation); its
    # refund page says refunds past 365 days are refused with 400. The capture and refund
    # titles are named like the cancel's.
    "cancel-period-expired": "Cancel period expired",
    "capture-period-expired": "Capture period expired",
    "refund-period-expired": "Refund period expired",
    # Our name: Vipps documents no type for a request whose Idempotency-Key is still being
    # processed (423 Locked).
    "request-in-progress": "Request in progress",
}
# Days after the reservation within which each modification is allowed.
PERIOD_DAYS = {"capture": 180, "cancel": 180, "refund": 365}
DEFAULT_ERROR_TYPES = {
    400: "validation-error",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    # The one 409 the FAQ names: "Too many concurrent requests. The payment is being processed."
    409: "order-processing",
    423: "request-in-progress",
    429: "too-many-requests",
    500: "internal-error",
}


class VippsSimulator(Simulator):
    code = "vipps"
    def reset(self):
        self.payments = {}
        # The access token spec's `access_token` is `format: byte`: base64.
        self.tokens = IssuedTokens(standard_base64=True)
        # Monotonic times of the recent modification calls, by payment reference. Kept out of
        # snapshots: a restarted sandbox starts a fresh minute.
        self.recent_modifications = defaultdict(deque)

    def expire_tokens(self):
        self.tokens.expire_all()

    def endpoint_name(self, request):
        match request.method, request.segments:
            case "POST", ["accesstoken", "get"]:
                return "token"
            case "GET", ["epayment", "v1", "payments", _]:
                return "fetch"
            case "GET", ["epayment", "v1", "payments", _, "events"]:
                return "events"
            case "POST", ["epayment", "v1", "payments", _, action] if action in EVENT_NAMES:
                return action
        return "other"

    def concurrency_key(self, request):
        # A capture, refund or cancel with the key of one still being processed.
        if request.method == "POST" and self.endpoint_name(request) in EVENT_NAMES:
            key = request.headers.get("idempotency-key")
            return (request.segments[3], key) if key else None
        return None

    def busy_response(self, request):
        return self.error_response(
            423,
            "A request with this Idempotency-Key is still being processed; retry it later with "
            "the same key and body.",
        )

    def error_response(self, status, message, error_type=None):
        error_type = error_type or DEFAULT_ERROR_TYPES.get(status, "error")
        title = ERROR_TITLES.get(error_type) or _reason(status)
        return SandboxResponse(
            status,
            {
                "type": ERROR_BASE + error_type,
                "title": title,
                "detail": message or title,
                "status": status,
                "traceId": uuid.uuid4().hex,
            },
            content_type="application/problem+json",
        )

    # API -----------------------------------------------------------------------------------

    def handle(self, request):
        match request.method, request.segments:
            case "POST", ["accesstoken", "get"]:
                return self._access_token(request)
            case method, ["epayment", "v1", "payments", *rest]:
                refusal = self._refuse_headers(request)
                if refusal is not None:
                    return refusal
                match method, rest:
                    case "GET", [reference]:
                        return self._read(reference, self._payment_object)
                    case "GET", [reference, "events"]:
                        return self._read(reference, self._event_log)
                    case "POST", [reference, action] if action in EVENT_NAMES:
                        return self._modify(request, reference, action)
        return self.error_response(404, "No such endpoint.", "not-found")

    def _access_token(self, request):
        expected = {
            "client_id": self.config["client_id"],
            "client_secret": self.config["client_secret"],
            "ocp-apim-subscription-key": self.config["subscription_key"],
            "merchant-serial-number": self.config["merchant_serial_number"],
        }
        if any(request.headers.get(name, "") != value for name, value in expected.items()):
            return self.error_response(
                401,
                "Invalid client_id, client_secret, Ocp-Apim-Subscription-Key or "
                "Merchant-Serial-Number.",
            )
        now = int(time.time())
        return SandboxResponse(
            200,
            {
                "token_type": "Bearer",
                # Vipps sends the numbers of the token answer as strings.
                "expires_in": str(TOKEN_LIFETIME_SECONDS),
                "ext_expires_in": str(TOKEN_LIFETIME_SECONDS),
                "expires_on": str(now + TOKEN_LIFETIME_SECONDS),
                "not_before": str(now),
                "resource": "00000002-0000-0000-c000-000000000000",
                "access_token": self.tokens.issue(TOKEN_LIFETIME_SECONDS),
            },
            # As the access token spec declares it (the ePayment API answers plain JSON).
            content_type="application/json;charset=UTF-8",
        )

    def _refuse_headers(self, request):
        """The error answer for a call whose credentials or Vipps headers are wrong, or None."""
        headers = request.headers
        # Azure API Management answers for the subscription key and the token before the API
        # sees the call.
        if headers.get("ocp-apim-subscription-key") != self.config["subscription_key"]:
            return self.error_response(
                401, "Access denied due to invalid or missing subscription key."
            )
        if not self.tokens.valid(headers.get("authorization")):
            return self.error_response(401, "The access token is missing, invalid or expired.")
        msn = headers.get("merchant-serial-number")
        if not msn:
            return self.error_response(
                400, "The Merchant-Serial-Number header is required.", "missing-required-parameter"
            )
        if msn != self.config["merchant_serial_number"]:
            return self.error_response(
                403, f"Invalid MSN: {msn}. The API keys do not belong to this sales unit."
            )
        for name in REQUIRED_SYSTEM_HEADERS:
            if not headers.get(name.lower()):
                return self.error_response(
                    400, f"The {name} header is required.", "missing-required-parameter"
                )
        for name in REQUIRED_SYSTEM_HEADERS + OPTIONAL_SYSTEM_HEADERS:
            if len(headers.get(name.lower(), "")) > SYSTEM_HEADER_MAX:
                return self.error_response(
                    400, f"The {name} header may be at most {SYSTEM_HEADER_MAX} characters."
                )
        return None

    def _find(self, reference):
        """The payment, or the error answer for a reference that is malformed or unknown."""
        if not REFERENCE.fullmatch(reference):
            return None, self.error_response(
                400, f"The reference {reference!r} must be 8 to 50 characters of a-z, A-Z, 0-9 and -."
            )
        payment = self.payments.get(reference)
        if payment is None:
            return None, self.error_response(
                404,
                f"The reference {reference} does not exist for MSN "
                f"{self.config['merchant_serial_number']}.",
                "reference-not-found",
            )
        return payment, None

    def _read(self, reference, answer):
        payment, refusal = self._find(reference)
        if refusal is not None:
            return refusal
        return SandboxResponse(200, answer(payment))

    def _modify(self, request, reference, action):
        key = request.headers.get("idempotency-key")
        if not key:
            return self.error_response(
                400, "The Idempotency-Key header is required.", "missing-required-parameter"
            )
        if len(key) > IDEMPOTENCY_KEY_MAX:
            return self.error_response(
                400, f"The Idempotency-Key may be at most {IDEMPOTENCY_KEY_MAX} characters."
            )
        payment, refusal = self._find(reference)
        if refusal is not None:
            return refusal
        if self._rate_limited(payment):
            return self.error_response(
                429,
                f"At most {self._modifications_allowed(payment)} captures, cancels or refunds a "
                "minute on one payment.",
            )
        body = request.json()
        fingerprint = [action, simplejson.dumps(body, sort_keys=True, use_decimal=True)]
        earlier = payment["idempotency"].get(key)
        if earlier is not None:
            if earlier["request"] == fingerprint:
                return SandboxResponse(earlier["status"], copy.deepcopy(earlier["answer"]))
            # Our reading of the docs: the ePayment FAQ names "<Capture|Refund> idempotency
            # conflict" ("the request in an idempotent retry must be identical") without a
            # status; Vipps's idempotency page answers a key reused on a different request with
            # 409 Conflict (for its Recurring API). The same key on another endpoint is a
            # different request too.
            return self.error_response(
                409,
                f"The Idempotency-Key {key} was used for a different request; an idempotent "
                "retry must be identical to the first request.",
                f"{action}-idempotency-conflict",
            )
        response = self._expired(payment, action) or getattr(self, f"_{action}")(payment, body, key)
        # Only what was carried out is remembered: a refused request did nothing, so the same
        # key may be sent again (Vipps does not say; this is the reading that never hides a
        # modification behind an old refusal).
        if response.status == 200:
            payment["idempotency"][key] = {
                "request": fingerprint,
                "status": response.status,
                "answer": copy.deepcopy(response.body),
            }
        return response

    def _expired(self, payment, action):
        """The refusal of a modification past its period after the reservation, or None."""
        days = PERIOD_DAYS[action]
        # Snapshots written before the option existed hold no reservation time: a fresh one.
        authorized_at = payment.get("authorized_at", time.time())
        # Counted in whole days: on day 180 a capture is still in time.
        if (time.time() - authorized_at) // 86_400 <= days:
            return None
        done = {"capture": "captured", "cancel": "canceled", "refund": "refunded"}[action]
        return self.error_response(
            400,
            f"Payments can only be {done} within {days} days of the reservation.",
            f"{action}-period-expired",
        )

    def _rate_limited(self, payment):
        """Count one modification call on the payment; True when it is one too many. Vipps
        counts each endpoint on its own; providers.md counts them together, the stricter."""
        now = time.monotonic()
        calls = self.recent_modifications[payment["reference"]]
        while calls and now - calls[0] >= 60:
            calls.popleft()
        if len(calls) >= self._modifications_allowed(payment):
            return True
        calls.append(now)
        return False

    @staticmethod
    def _modifications_allowed(payment):
        # Snapshots written before the option existed hold no limit: Vipps's own applies.
        return payment.get("modifications_per_minute", MODIFICATIONS_PER_MINUTE)

    def _capture(self, payment, body, key):
        amount = self._modification_amount(payment, body)
        if isinstance(amount, SandboxResponse):
            return amount
        left = self._uncaptured(payment)
        if left == 0 and payment["cancelled"]:
            return self.error_response(
                400,
                "Cannot capture a payment that has been cancelled. Check the payment event log.",
                "cannot-capture-a-cancelled-payment",
            )
        if amount > left:
            return self.error_response(
                400,
                f"The total capture amount exceeds the reserved amount: {left} is left to capture.",
                "capture-amount-too-high",
            )
        return SandboxResponse(200, self._carry_out(payment, "capture", amount, key))

    def _refund(self, payment, body, key):
        amount = self._modification_amount(payment, body)
        if isinstance(amount, SandboxResponse):
            return amount
        left = payment["captured"] - payment["refunded"]
        if not payment["captured"]:
            return self.error_response(
                400,
                f"Reference {payment['reference']} cannot be refunded: nothing has been captured.",
                "payment-cannot-be-refunded",
            )
        if left == 0:
            return self.error_response(
                400,
                "Cannot refund a payment that has already been refunded. Check the payment "
                "event log.",
                "payment-already-refunded",
            )
        if amount > left:
            return self.error_response(
                400,
                f"Cannot refund more than the available amount ({left}). Check the payment "
                "event log.",
                "not-enough-refundable",
            )
        return SandboxResponse(200, self._carry_out(payment, "refund", amount, key))

    def _cancel(self, payment, body, key):
        # `cancelTransactionOnly` only matters for a payment the customer has not yet approved
        # (it then leaves the payment session open); an authorized payment is cancelled the same
        # way with or without it.
        if body is not None and (
            not isinstance(body, dict)
            or set(body) - {"cancelTransactionOnly"}
            or not isinstance(body.get("cancelTransactionOnly", False), bool)
        ):
            return self.error_response(
                400, "The body of a cancel may only hold cancelTransactionOnly (a boolean)."
            )
        left = self._uncaptured(payment)
        if left == 0 and payment["cancelled"]:
            return self.error_response(
                400,
                f"Reference {payment['reference']} cannot be cancelled: it has already been "
                "cancelled.",
                "payment-cannot-be-cancelled",
            )
        if left == 0:
            return self.error_response(
                400,
                "Cannot cancel a payment that has been captured. Check the payment event log.",
                "cannot-cancel-a-captured-payment",
            )
        return SandboxResponse(200, self._carry_out(payment, "cancel", left, key))

    def _modification_amount(self, payment, body):
        """The `modificationAmount.value` of a capture or refund, or the error answer."""
        money = body.get("modificationAmount") if isinstance(body, dict) else None
        if not isinstance(money, dict):
            return self.error_response(
                400, "The parameter modificationAmount is required.", "missing-required-parameter"
            )
        currency, value = money.get("currency"), money.get("value")
        if currency not in CURRENCIES:
            return self.error_response(
                400, f"The currency {currency!r} is invalid; Vipps takes {', '.join(CURRENCIES)}."
            )
        if currency != payment["currency"]:
            return self.error_response(
                400, f"The currency {currency} is not the payment's currency {payment['currency']}."
            )
        if type(value) is not int:
            return self.error_response(
                400,
                "The amount is invalid. Amounts must be integers, no decimals. They are specified "
                "in minor units, like øre or cent.",
                "amount-invalid",
            )
        if value <= 0:
            return self.error_response(
                400,
                "The amount is too small. Amounts are specified in minor units, like øre or cent.",
                "amount-too-small",
            )
        if value > AMOUNT_MAX:
            return self.error_response(
                400, f"The amount is invalid: at most {AMOUNT_MAX} minor units.", "amount-invalid"
            )
        return value

    def _carry_out(self, payment, kind, amount, key, via="api"):
        """Move the aggregate, write the event; returns the modification's answer. Its
        pspReference is the event's: our reading, as Vipps gives each modification one."""
        field = {"capture": "captured", "refund": "refunded", "cancel": "cancelled"}[kind]
        payment[field] += amount
        event = self._event(payment, EVENT_NAMES[kind], amount, key)
        payment["events"].append(event)
        payment["operations"].append(
            {"kind": kind, "amount": amount, "idempotency_key": key, "via": via}
        )
        return {**self._modification_answer(payment), "pspReference": event["pspReference"]}

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
        modifications_per_minute=MODIFICATIONS_PER_MINUTE,
        authorized_days_ago=0,
        **options,
    ):
        """A payment the customer has approved (AUTHORIZED), with whatever the shop already
        captured, refunded and cancelled as events under the shop's own keys. Like Bambora's
        simulator, an existing reference is set up anew. `modifications_per_minute` replaces
        Vipps's limit of five captures, cancels and refunds a minute on this payment;
        `authorized_days_ago` dates the reservation back (captures and cancels are refused
        after 180 days, refunds after 365)."""
        if options:
            raise ValueError(
                "Vipps payments take only modifications_per_minute and authorized_days_ago: "
                + ", ".join(options)
            )
        if type(modifications_per_minute) is not int or modifications_per_minute < 1:
            raise ValueError("modifications_per_minute is a positive integer")
        if type(authorized_days_ago) is not int or authorized_days_ago < 0:
            raise ValueError("authorized_days_ago is a whole number of days, 0 or more")
        if not isinstance(reference, str) or not REFERENCE.fullmatch(reference):
            raise ValueError(
                f"A Vipps reference is 8 to 50 characters of a-z, A-Z, 0-9 and -: {reference!r}"
            )
        if currency not in CURRENCIES:
            raise ValueError(f"Vipps takes {', '.join(CURRENCIES)}, not {currency!r}")
        if any(type(value) is not int or value < 0 for value in (amount, captured, refunded, cancelled)):
            raise ValueError("amounts are non-negative integers of minor units")
        if amount == 0 or captured + cancelled > amount or refunded > captured:
            raise ValueError(
                "need 0 < amount, captured + cancelled <= amount and refunded <= captured"
            )
        if cancelled and captured + cancelled != amount:
            raise ValueError("a Vipps cancel releases all of the uncaptured amount, never part")
        payment = {
            "reference": reference,
            "currency": currency,
            "amount": amount,
            "captured": captured,
            "refunded": refunded,
            "cancelled": cancelled,
            "pspReference": str(uuid.uuid4()),
            "events": [],
            "operations": [],
            # Idempotency-Key -> the request it came with and the answer given, so that a retry
            # is answered alike. Kept in snapshots: a sandbox restarted in the middle of a demo
            # must still answer a retry without doing it twice.
            "idempotency": {},
            "modifications_per_minute": modifications_per_minute,
            "authorized_at": time.time() - authorized_days_ago * 86_400,
        }
        shop_key = str(uuid.uuid4())
        for name in ("CREATED", "AUTHORIZED"):
            event = self._event(payment, name, amount, shop_key)
            event["timestamp"] = _timestamp(payment["authorized_at"])
            payment["events"].append(event)
        for name, value in (("CAPTURED", captured), ("REFUNDED", refunded), ("CANCELLED", cancelled)):
            if value:
                payment["events"].append(self._event(payment, name, value, str(uuid.uuid4())))
        self.payments[reference] = payment
        self.recent_modifications.pop(reference, None)
        return self.payment_view(reference)

    def portal(self, *, reference, kind, amount):
        """Capture, refund or cancel in Vipps's merchant portal: visible through the API, with
        an event whose idempotencyKey is not ours (none: the portal sends no Idempotency-Key).
        A cancel releases the whole uncaptured rest, whatever `amount` says, as Vipps does."""
        payment = self.payments[reference]
        if kind not in EVENT_NAMES:
            raise ValueError(f"kind must be one of {', '.join(EVENT_NAMES)}, not {kind!r}")
        if kind == "refund":
            left = payment["captured"] - payment["refunded"]
        else:
            left = self._uncaptured(payment)
        if kind == "cancel":
            amount = left
        if type(amount) is not int or not 0 < amount <= left:
            raise ValueError(f"cannot {kind} {amount!r} of {reference}: {left} is left")
        self._carry_out(payment, kind, amount, None, via="portal")
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
            "cancelled": payment["cancelled"],
            "refunded": payment["refunded"],
            "state": "AUTHORIZED",
            "operations": copy.deepcopy(payment["operations"]),
        }

    def snapshot(self):
        return copy.deepcopy(self.payments)

    def restore(self, data):
        self.payments = copy.deepcopy(data)

    # Answers -------------------------------------------------------------------------------

    def _modification_answer(self, payment):
        return {
            "reference": payment["reference"],
            "state": "AUTHORIZED",
            "amount": self._money(payment, payment["amount"]),
            "aggregate": {
                "authorizedAmount": self._money(payment, payment["amount"]),
                "cancelledAmount": self._money(payment, payment["cancelled"]),
                "capturedAmount": self._money(payment, payment["captured"]),
                "refundedAmount": self._money(payment, payment["refunded"]),
            },
            "pspReference": payment["pspReference"],
        }

    def _payment_object(self, payment):
        return {
            **self._modification_answer(payment),
            "paymentMethod": {"type": "WALLET"},
            "profile": {},
        }

    @staticmethod
    def _event_log(payment):
        return copy.deepcopy(payment["events"])

    def _event(self, payment, name, amount, key):
        return {
            "reference": payment["reference"],
            "pspReference": str(uuid.uuid4()),
            "name": name,
            "amount": self._money(payment, amount),
            "timestamp": _timestamp(time.time()),
            "idempotencyKey": key,
            "success": True,
        }

    @staticmethod
    def _money(payment, value):
        return {"currency": payment["currency"], "value": value}

    @staticmethod
    def _uncaptured(payment):
        return payment["amount"] - payment["captured"] - payment["cancelled"]


def _timestamp(seconds):
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _reason(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
