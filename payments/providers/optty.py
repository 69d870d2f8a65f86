"""Optty Merchant API (../shared/providers.md, "Optty"), a buy-now-pay-later aggregator.

A client-credentials token from `{OPTTY_AUTH_URL}/token` (form-encoded, scope `api-user`),
cached until shortly before it expires and fetched again once when Optty refuses it. Amounts
are decimal major units with at most two decimals. Our operation's key is Optty's
`refundReference` / `voidReference`, which Optty keeps unique per merchant: a retry of the
same operation sends the same reference and cannot become a second refund. A refund may be
answered PENDING: the BNPL provider decides later, and the amount stays reserved meanwhile.
"""

from decimal import Decimal, InvalidOperation
from urllib.parse import quote

from payments.money import InvalidAmount, to_major, to_minor
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

REFUND_OUTCOMES = {"SUCCESSFUL": Outcome.SUCCEEDED, "PENDING": Outcome.PENDING}
# Statuses of the refunds Optty lists in an order's details.
LISTED_OUTCOMES = {
    "SUCCESSFUL": Outcome.SUCCEEDED,
    "SUCCESS": Outcome.SUCCEEDED,
    "PENDING": Outcome.PENDING,
}


class Optty(PaymentProvider):
    code = "optty"
    name = "Optty"
    # Optty voids authorized orders only: once part is captured, nothing is voided.
    cancels_after_capture = False
    secret_settings = ("client_secret",)
    # Optty's documentation sets no limit on an order reference; 255 is a safe bound.
    max_reference_length = 255
    # Its amounts are decimals "with at most 2 decimals" (providers.md).
    max_decimals = 2

    def refund(self, modification: Modification) -> Confirmation:
        body = self._call("POST", modification.payment_reference, "refund", {
            "refundReference": modification.idempotency_key,
            "refundAmount": {
                "amount": to_major(modification.amount, modification.currency),
                "currency": modification.currency,
            },
            "refundDescription": modification.description or "Refund",
            "isActivatedViaOAuth": False,
        }).json_object()
        status = str(body.get("refundStatus", "")).upper()
        if status not in REFUND_OUTCOMES:
            reason = body.get("description")
            raise ProviderRejected(
                f"Optty did not refund: the refund was {status.lower() or 'refused'}"
                + (f" ({reason})." if isinstance(reason, str) and reason else "."),
                code=status,
                response=body,
            )
        return Confirmation(
            outcome=REFUND_OUTCOMES[status],
            amount=self._minor(body.get("refundedAmount"), modification),
            provider_reference=str(body.get("bnplRefundId") or ""),
            response=body,
        )

    def cancel(self, modification: Modification) -> Confirmation:
        body = self._call("POST", modification.payment_reference, "void", {
            "voidReference": modification.idempotency_key,
            "amount": to_major(modification.amount, modification.currency),
            "description": modification.description or "Cancel",
        }).json_object()
        return Confirmation(
            outcome=Outcome.SUCCEEDED,
            amount=self._minor(body.get("amount"), modification),
            provider_reference=str(body.get("voidedId") or ""),
            response=body,
        )

    def fetch(self, reference: str) -> ProviderPayment:
        order = self._call("GET", reference).json_object()
        # Optty's documentation requires the order's reference in the body as well.
        details = self._call("POST", reference, "details", {"merchantReference": reference}).json_object()
        try:
            currency = str(order["currency"])
            authorized = to_minor(_decimal(order["amount"]), currency)
            movements = [
                self._movement(kind, item, currency)
                for kind, key in (("capture", "orderCaptures"), ("cancel", "orderVoids"), ("refund", "refunds"))
                for item in details.get(key) or []
            ]
        except (KeyError, TypeError, InvalidAmount, InvalidOperation) as error:
            raise ProviderUnavailable("Optty's answer could not be read.") from error

        def total(kind):
            return sum(
                m.amount for m in movements if m.kind == kind and m.outcome == Outcome.SUCCEEDED
            )

        # Optty lists captures and refunds in an order's details, and no voids: a void shows
        # in the order's status. Ours void the whole authorized order, never part of it.
        cancelled = total("cancel")
        if str(order.get("status", "")).upper() == "VOIDED":
            cancelled = max(cancelled, authorized - total("capture"))
        return ProviderPayment(
            reference=reference,
            state=str(order.get("status", "")),
            currency=currency,
            authorized=authorized,
            captured=total("capture"),
            cancelled=cancelled,
            refunded=total("refund"),
            movements=tuple(movements),
            # The details name Optty's own refund ids, not our refundReference.
            keys_recorded=False,
            response={"order": order, "details": details},
        )

    @staticmethod
    def _movement(kind, item, currency):
        status = str(item.get("status", "SUCCESSFUL")).upper()
        return Movement(
            kind=kind,
            amount=to_minor(_decimal(item["amount"]), currency),
            outcome=LISTED_OUTCOMES.get(status, Outcome.FAILED),
            provider_reference=str(
                item.get("refundId") or item.get("captureId") or item.get("voidedId") or ""
            ),
        )

    @staticmethod
    def _minor(amount, modification):
        """The confirmed amount in minor units; the requested one when Optty names none."""
        if amount is None:
            return modification.amount
        try:
            return to_minor(_decimal(amount), modification.currency)
        except (InvalidAmount, InvalidOperation, TypeError) as error:
            raise ProviderUnavailable("Optty's answer could not be read.") from error

    def _call(self, method, reference, action="", json_body=None):
        url = f"{self.config['api_url'].rstrip('/')}/orders/{quote(reference, safe='')}"
        if action:
            url += f"/{action}"
        response = send_with_token(
            key=(self.code, self.config["auth_url"], self.config["client_id"]),
            fetch_token=self._fetch_token,
            send=lambda token: self.http.send(
                method, url, headers={"Authorization": f"Bearer {token}"}, json_body=json_body
            ),
            error_code=lambda response: _error_code(response.body),
        )
        if response.ok:
            return response
        raise self._error(response)

    def _fetch_token(self):
        response = self.http.send(
            "POST",
            f"{self.config['auth_url'].rstrip('/')}/token",
            form={
                "client_id": self.config["client_id"],
                "client_secret": self.config["client_secret"],
                "grant_type": "client_credentials",
                "scope": "api-user",
            },
        )
        if not response.ok:
            body = response.body if isinstance(response.body, dict) else {}
            raise ProviderCredentialsRejected(
                code=_error_code(body), response=body, status=response.status
            )
        body = response.json_object()
        try:
            token, lifetime = body["access_token"], int(body["expires_in"])
            if not isinstance(token, str) or not token or lifetime <= 0:
                raise ValueError("no usable token")
        except (KeyError, TypeError, ValueError) as error:
            # The answer may hold a token: it stays out of the error.
            raise ProviderUnavailable("Optty's token answer could not be read.") from error
        return token, lifetime

    def _error(self, response):
        body = response.body if isinstance(response.body, dict) else {}
        message = body.get("message")
        if isinstance(message, list):  # validation errors come as a list of sentences
            message = "; ".join(str(part) for part in message)
        if response.status == 404:
            words = "Optty does not know this order."
        elif response.status == 429:
            words = "Optty is receiving too many requests; try again in a minute."
        elif message:
            words = f"Optty refused: {message}"
        else:
            words = f"Optty refused the request (HTTP {response.status})."
        return ProviderRejected(words, code=_error_code(body), response=body, status=response.status)


def _decimal(value):
    """An amount as Optty sends it (a JSON number, or text) as an exact Decimal."""
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise TypeError(f"not an amount: {value!r}")
    return Decimal(value)


def _error_code(body):
    return str(body.get("error") or body.get("statusCode") or "")
