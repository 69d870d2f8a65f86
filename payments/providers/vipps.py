"""Vipps MobilePay ePayment API v1 (../shared/providers.md, "Vipps MobilePay").

An access token from POST /accesstoken/get (client id and secret, subscription key and merchant
serial number as headers), cached until shortly before it expires and fetched again once when
Vipps refuses it. Every ePayment call carries the token, the subscription key, the merchant
serial number and the system headers; every modification carries our operation's key as its
Idempotency-Key, so a retry with the same key and body is answered without being done twice.
Amounts are `{currency, value}` in integer minor units. The payment's event log records each
modification with its Idempotency-Key: after an unknown outcome it tells for certain whether
our operation happened (payments.services.reconcile relies on that).
"""

import re
from datetime import datetime
from urllib.parse import quote

from payments.providers.base import (
    Confirmation,
    Modification,
    Movement,
    Outcome,
    PaymentProvider,
    ProviderCredentialsRejected,
    ProviderPayment,
    ProviderRejected,
    ProviderUnavailable,
)
from payments.providers.tokens import send_with_token

# Vipps's error `type` is a URI; its last segment names the error. Vipps documents its errors
# by title only (ePayment FAQ, "What do all the errors mean?"): these are those titles, and an
# unknown type falls back to the status.
ERROR_WORDS = {
    "not-enough-refundable": (
        "Vipps refused the refund: it is more than what is left of the captured amount."
    ),
    "payment-already-refunded": (
        "Vipps refused the refund: the captured amount has already been refunded in full."
    ),
    "payment-cannot-be-refunded": (
        "Vipps refused the refund: only captured payments can be refunded, and this one has not "
        "been captured."
    ),
    "attempted-refund-before-reservation": (
        "Vipps refused the refund: the customer has not approved this payment."
    ),
    "refund-period-expired": (
        "Vipps refused the refund: payments can only be refunded within 365 days."
    ),
    "cannot-cancel-a-captured-payment": (
        "Vipps refused to cancel: the payment has been captured in full, so nothing is left to "
        "release."
    ),
    "payment-cannot-be-cancelled": (
        "Vipps refused to cancel: the payment has already been cancelled or can no longer be "
        "cancelled."
    ),
    "cannot-cancel-a-non-reserved-payment": (
        "Vipps refused to cancel: the customer has not approved this payment."
    ),
    "cancel-period-expired": (
        "Vipps refused to cancel: payments can only be cancelled within 180 days."
    ),
    "reference-not-found": "Vipps does not know this payment reference.",
}
# The same Idempotency-Key was used before with a different body: Vipps refuses this request
# outright, so nothing of it happened.
IDEMPOTENCY_CONFLICTS = {
    "capture-idempotency-conflict",
    "refund-idempotency-conflict",
    "cancel-idempotency-conflict",
}
IDEMPOTENCY_CONFLICT_WORDS = (
    "Vipps refused: this operation's key was already used for a different request, so nothing "
    "was done with this one. Check the payment's history at Vipps."
)
VALIDATION_ERRORS = {
    "validation-error",
    "missing-required-parameter",
    "amount-invalid",
    "amount-too-small",
}
RATE_LIMITED_WORDS = "Vipps allows 5 changes a minute per payment; try again in a minute."
MOVEMENT_KINDS = {"CAPTURED": "capture", "REFUNDED": "refund", "CANCELLED": "cancel"}


class Vipps(PaymentProvider):
    code = "vipps"
    name = "Vipps MobilePay"
    cancels_after_capture = True  # a cancel releases whatever is left uncaptured
    secret_settings = ("client_secret", "subscription_key")
    currencies = frozenset({"NOK", "DKK", "EUR"})
    max_reference_length = 50

    @classmethod
    def reference_problem(cls, reference):
        if not re.fullmatch(r"[a-zA-Z0-9-]{8,50}", reference or ""):
            return "Vipps takes references of 8 to 50 letters, digits and hyphens."
        return None

    def refund(self, modification: Modification) -> Confirmation:
        body = self._modify(modification, "refund", {
            "modificationAmount": {
                "currency": modification.currency,
                "value": modification.amount,
            },
        })
        return Confirmation(
            outcome=Outcome.SUCCEEDED,
            amount=modification.amount,
            provider_reference=str(body.get("pspReference") or ""),
            response=body,
        )

    def cancel(self, modification: Modification) -> Confirmation:
        body = self._modify(modification, "cancel")
        # A cancel releases the whole uncaptured rest and can succeed only once, so the
        # aggregate's cancelled total is what this cancel released, even when the rest was not
        # what we expected (a capture in Vipps's portal meanwhile).
        try:
            released = _value((body.get("aggregate") or {}).get("cancelledAmount"))
        except (TypeError, ValueError):
            released = 0
        return Confirmation(
            outcome=Outcome.SUCCEEDED,
            amount=released or modification.amount,
            provider_reference=str(body.get("pspReference") or ""),
            response=body,
        )

    def fetch(self, reference: str) -> ProviderPayment:
        payment = self._call("GET", reference).json_object()
        events = self._call("GET", reference, "events").body
        if not isinstance(events, list):
            raise ProviderUnavailable("Vipps's event log could not be read.")
        try:
            aggregate = payment["aggregate"]
            movements = tuple(
                Movement(
                    kind=MOVEMENT_KINDS[event["name"]],
                    amount=_value(event["amount"]),
                    outcome=Outcome.SUCCEEDED if event["success"] is True else Outcome.FAILED,
                    key=event.get("idempotencyKey") or "",
                    provider_reference=str(event.get("pspReference") or ""),
                    at=datetime.fromisoformat(event["timestamp"]),
                )
                # CREATED, AUTHORIZED, ABORTED, EXPIRED and TERMINATED are the payment's own
                # life, not movements of its money.
                for event in events
                if event.get("name") in MOVEMENT_KINDS
            )
            return ProviderPayment(
                reference=reference,
                state=str(payment["state"]),
                currency=str(payment["amount"]["currency"]),
                authorized=_value(aggregate["authorizedAmount"]),
                captured=_value(aggregate["capturedAmount"]),
                cancelled=_value(aggregate["cancelledAmount"]),
                refunded=_value(aggregate["refundedAmount"]),
                movements=movements,
                # Every event of a modification made through the API carries its
                # Idempotency-Key: an operation of ours missing from the log never happened.
                keys_recorded=True,
                response={"payment": payment, "events": events},
            )
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise ProviderUnavailable("Vipps's answer could not be read.") from error

    def _modify(self, modification, action, json_body=None):
        response = self._call(
            "POST",
            modification.payment_reference,
            action,
            json_body=json_body,
            idempotency_key=modification.idempotency_key,
        )
        return response.json_object()

    def _call(self, method, reference, action="", *, json_body=None, idempotency_key=None):
        """Send one ePayment call with a valid token; returns the successful ProviderResponse,
        raises the ProviderError its refusal means."""
        url = f"{self._base_url()}/epayment/v1/payments/{quote(reference, safe='')}"
        if action:
            url += f"/{action}"
        headers = {
            "Ocp-Apim-Subscription-Key": self.config["subscription_key"],
            "Merchant-Serial-Number": self.config["merchant_serial_number"],
            "Vipps-System-Name": self.config["system_name"],
            "Vipps-System-Version": self.config["system_version"],
            # Vipps asks for the plugin headers too and, for a system that is not a plugin,
            # the same values as the system's (developer docs, "HTTP headers").
            "Vipps-System-Plugin-Name": self.config["system_name"],
            "Vipps-System-Plugin-Version": self.config["system_version"],
        }
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        token_key = (
            self.code,
            self.config["api_url"],
            self.config["client_id"],
            self.config["merchant_serial_number"],
        )
        response = send_with_token(
            key=token_key,
            fetch_token=self._fetch_token,
            send=lambda token: self.http.send(
                method,
                url,
                headers={**headers, "Authorization": f"Bearer {token}"},
                json_body=json_body,
            ),
        )
        if response.ok:
            return response
        raise self._error(response)

    def _fetch_token(self):
        """A new access token and its lifetime in seconds. Vipps refusing to issue one is a
        problem with our credentials (ProviderCredentialsRejected)."""
        response = self.http.send(
            "POST",
            f"{self._base_url()}/accesstoken/get",
            headers={
                "client_id": self.config["client_id"],
                "client_secret": self.config["client_secret"],
                "Ocp-Apim-Subscription-Key": self.config["subscription_key"],
                "Merchant-Serial-Number": self.config["merchant_serial_number"],
            },
        )
        if not response.ok:
            body = response.body if isinstance(response.body, dict) else {}
            raise ProviderCredentialsRejected(
                code=_error_type(body), response=body, status=response.status
            )
        body = response.json_object()
        try:
            token = body["access_token"]
            # Vipps sends `expires_in` as a string of seconds.
            lifetime = int(body["expires_in"])
            if not isinstance(token, str) or not token or lifetime <= 0:
                raise ValueError("no usable token")
        except (KeyError, TypeError, ValueError) as error:
            # The answer may hold a token: it stays out of the error.
            raise ProviderUnavailable("Vipps's access token answer could not be read.") from error
        return token, lifetime

    def _error(self, response):
        body = response.body if isinstance(response.body, dict) else {}
        error_type = _error_type(body)
        status = response.status
        if status == 403:
            # The credentials are good but not for this merchant serial number.
            return ProviderCredentialsRejected(code=error_type, response=body, status=403)
        if status == 409 and error_type not in IDEMPOTENCY_CONFLICTS:
            # Vipps documents one other 409, "Order processing: too many concurrent requests,
            # the payment is being processed". The change being processed may be ours, sent
            # before with this key: the outcome is unknown until the event log is read.
            return ProviderUnavailable(
                "Vipps is busy with another change to this payment; the outcome will be checked "
                "with Vipps before anything is sent again.",
                code=error_type or "order-processing",
                response=body,
                status=409,
            )
        detail = f": {body['detail']}" if body.get("detail") else "."
        if status == 429:
            message = RATE_LIMITED_WORDS
        elif error_type in IDEMPOTENCY_CONFLICTS:
            message = IDEMPOTENCY_CONFLICT_WORDS
        elif error_type in VALIDATION_ERRORS:
            message = f"Vipps refused the request as invalid{detail}"
        elif error_type in ERROR_WORDS:
            message = ERROR_WORDS[error_type]
        elif status == 404:
            message = ERROR_WORDS["reference-not-found"]
        else:
            message = f"Vipps refused the request (HTTP {status}){detail}"
        return ProviderRejected(message, code=error_type, response=body, status=status)

    def _base_url(self):
        return self.config["api_url"].rstrip("/")


def _error_type(body):
    return str(body.get("type", "")).rstrip("/").rsplit("/", 1)[-1]


def _value(money):
    """The integer minor units of a Vipps amount `{currency, value}`; ValueError otherwise."""
    value = money["value"]
    if type(value) is not int:
        raise ValueError(f"not an integer amount: {value!r}")
    return value
