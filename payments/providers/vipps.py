"""Vipps MobilePay ePayment API v1 (../shared/providers.md, "Vipps MobilePay").

An access token from POST /accesstoken/get (client id and secret, subscription key and merchant
serial number as headers), cached until shortly before it expires and fetched again once when
Vipps refuses it. Every ePayment call carries the token, the subscription key, the merchant
serial number and the system headers; every modification carries our operation's key as its
Idempotency-Key, so a retry with the same key and body is answered without being done twice.
Amounts are `{currency, value}` in integer minor units. The payment's event log records each
modification with its Idempotency-Key: after an unknown outcome it tells for certain whether
our operation happened (payments.services.reconcile relies on that). The published specs are
`specs/epayment.v1.yml` and `specs/accesstoken.swagger.yaml`.

A 423 says Vipps is still processing a modification with this Idempotency-Key: it is sent again,
with the same key and body, once Vipps's Retry-After has passed, while the call's deadline
allows. Once the first request has gone out, nothing that stops the call later (no token, a
refused token, the deadline) says it was not carried out: the outcome is unknown. A 409 (another change in progress, or this key used before) and a 429 (too many
changes) never prove a refusal: the event log decides.
"""

import time
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from payments.capabilities import CAPABILITIES
from payments.providers.base import (
    JsonObject,
    Modification,
    Movement,
    NotSent,
    Outcome,
    PaymentProvider,
    ProviderAnswer,
    ProviderCredentialsRejected,
    ProviderPayment,
    ProviderUnavailable,
    undecided,
)
from payments.providers.tokens import send_with_token, token_endpoint_error

if TYPE_CHECKING:
    from payments.providers.http import Deadline, ProviderResponse

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
# The same Idempotency-Key was used before with a different body. Our keys are one per
# operation, so whatever was done under it may be this operation: the event log decides.
IDEMPOTENCY_CONFLICTS = {
    "capture-idempotency-conflict",
    "refund-idempotency-conflict",
    "cancel-idempotency-conflict",
}
IDEMPOTENCY_CONFLICT_WORDS = (
    "Vipps says this operation's key was used before for a different request, so an earlier "
    "attempt may have been carried out."
)
VALIDATION_ERRORS = {
    "validation-error",
    "missing-required-parameter",
    "amount-invalid",
    "amount-too-small",
}
RATE_LIMITED_WORDS = "Vipps allows 5 changes a minute per payment and refused this one for now."
# How long to wait before sending a change again after a 423 without Retry-After.
LOCKED_RETRY_SECONDS = 1
MOVEMENT_KINDS = {"CAPTURED": "capture", "REFUNDED": "refund", "CANCELLED": "cancel"}


class Vipps(PaymentProvider):
    capabilities = CAPABILITIES["vipps"]
    code, name = capabilities.code, capabilities.name
    secret_settings = ("client_secret", "subscription_key")

    def send(
        self, kind: str, modification: Modification, *, deadline: "Deadline"
    ) -> tuple["ProviderResponse", JsonObject | None]:
        body: JsonObject | None = None
        if kind == "refund":
            body = {
                "modificationAmount": {
                    "currency": modification.currency,
                    "value": modification.amount,
                },
            }
        locked: ProviderResponse | None = None
        while True:
            try:
                response = self._call(
                    "POST",
                    modification.payment_reference,
                    kind,
                    json_body=body,
                    idempotency_key=modification.idempotency_key,
                    deadline=deadline,
                )
            except (NotSent, ProviderCredentialsRejected) as error:
                if locked is None:
                    raise
                # The first request went out, and Vipps said it is processing it: failing to
                # ask again (no token, refused credentials) says nothing about that one.
                raise ProviderUnavailable(
                    f"{undecided(self.name, locked)} Asking again failed: {error.message}",
                    code=self.error_code(locked),
                    response=locked.json_object,
                    status=locked.status,
                    retry_after=locked.retry_after,
                ) from error
            if response.status != 423:
                return response, body
            # Vipps is still processing this very key: ask again, same key, same body, once
            # it says to, if the deadline leaves time for the answer too.
            wait = response.retry_after if response.retry_after is not None else LOCKED_RETRY_SECONDS
            if wait + 1 > deadline.remaining():
                return response, body
            locked = response
            time.sleep(wait)

    def answer(
        self, kind: str, modification: Modification, response: "ProviderResponse", *, sent: JsonObject | None
    ) -> ProviderAnswer:
        body = response.json_object
        error_type = self.error_code(response)
        if response.status == 409 and body is not None:
            if error_type in IDEMPOTENCY_CONFLICTS:
                return self.unknown(response, IDEMPOTENCY_CONFLICT_WORDS)
            # Vipps documents one other 409, "Order processing: too many concurrent requests,
            # the payment is being processed". The change being processed may be ours.
            return self.unknown(response, "Vipps is busy with another change to this payment.")
        if response.status == 429 and body is not None:
            return self.unknown(response, RATE_LIMITED_WORDS)
        if reason := undecided(self.name, response):
            return self.unknown(response, reason)
        if body is None:
            return self.unknown(response, f"Vipps's answer (HTTP {response.status}) could not be read.")
        if response.ok:
            return ProviderAnswer(
                outcome=Outcome.SUCCEEDED,
                amount=self._released(body) if kind == "cancel" else modification.amount,
                provider_reference=str(body.get("pspReference") or ""),
                response=body,
                status=response.status,
            )
        if response.status in (401, 403):
            # 403: the credentials are good but not for this merchant serial number.
            return self.failed(response, "The provider rejected our credentials.", credentials_rejected=True)
        detail = f": {body['detail']}" if body.get("detail") else "."
        if error_type in VALIDATION_ERRORS:
            message = f"Vipps refused the request as invalid{detail}"
        elif error_type in ERROR_WORDS:
            message = ERROR_WORDS[error_type]
        elif response.status == 404:
            message = ERROR_WORDS["reference-not-found"]
        else:
            message = f"Vipps refused the request (HTTP {response.status}){detail}"
        return self.failed(response, message)

    @staticmethod
    def _released(body: JsonObject) -> int | None:
        """What a cancel released: it releases the whole uncaptured rest and can succeed only
        once, so the aggregate's cancelled total is this cancel's, even when the rest was not
        what we expected (a capture in Vipps's portal meanwhile). None when not shown."""
        aggregate = body.get("aggregate")
        cancelled = aggregate.get("cancelledAmount") if isinstance(aggregate, dict) else None
        if not isinstance(cancelled, dict):
            return None
        try:
            return _value(cancelled) or None
        except (KeyError, ValueError):
            return None

    def fetch(self, reference: str, *, deadline: "Deadline | None" = None) -> ProviderPayment:
        deadline = deadline or self.http.deadline()
        payment = self.read_body(self._call("GET", reference, deadline=deadline))
        events_response = self._call("GET", reference, "events", deadline=deadline)
        events = events_response.body
        if not (events_response.ok and not events_response.is_html and isinstance(events, list)):
            self.read_body(events_response)  # raises what a refusal amounts to
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

    def error_code(self, response: "ProviderResponse") -> str:
        return _error_type(response.json_object or {})

    def _call(
        self,
        method: str,
        reference: str,
        action: str = "",
        *,
        json_body: JsonObject | None = None,
        idempotency_key: str | None = None,
        deadline: "Deadline",
    ) -> "ProviderResponse":
        """Send one ePayment call with a valid token; returns the ProviderResponse."""
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
        return send_with_token(
            key=token_key,
            fetch_token=lambda: self._fetch_token(deadline),
            send=lambda token: self.http.send(
                method,
                url,
                deadline=deadline,
                headers={**headers, "Authorization": f"Bearer {token}"},
                json_body=json_body,
            ),
            error_code=self.error_code,
        )

    def _fetch_token(self, deadline: "Deadline") -> tuple[str, float]:
        """A new access token and its lifetime in seconds. Vipps refusing our credentials is
        ProviderCredentialsRejected; a token endpoint that is down is ProviderUnavailable."""
        response = self.http.send(
            "POST",
            f"{self._base_url()}/accesstoken/get",
            deadline=deadline,
            headers={
                "client_id": self.config["client_id"],
                "client_secret": self.config["client_secret"],
                "Ocp-Apim-Subscription-Key": self.config["subscription_key"],
                "Merchant-Serial-Number": self.config["merchant_serial_number"],
            },
        )
        body = response.json_object
        if not response.ok or body is None:
            raise token_endpoint_error(self.name, response, code=self.error_code(response))
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

    def _base_url(self) -> str:
        return self.config["api_url"].rstrip("/")


def _error_type(body: JsonObject) -> str:
    return str(body.get("type", "")).rstrip("/").rsplit("/", 1)[-1]


def _value(money: JsonObject) -> int:
    """The integer minor units of a Vipps amount `{currency, value}`; ValueError otherwise."""
    value = money["value"]
    if type(value) is not int:
        raise ValueError(f"not an integer amount: {value!r}")
    return value
