"""SimplePS gateway (../shared/providers.md, "SimplePS gateway").

A token from POST /oauth/token (JSON `clientId`, `secretId`), cached until shortly before it
expires (the token endpoint allows 60 calls a minute) and fetched again once when SimplePS
answers 401 or 403. The payment is addressed by the merchant's `externalPaymentId`. Amounts
are decimal major units. SimplePS takes no idempotency key: after an unknown outcome the
payment's refunded amount and history are compared before anything is sent again
(payments.services.reconcile). SimplePS asks that its raw response codes are not shown to end
users: they are turned into plain words here and kept in the record.
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

# Inyo's response codes, which SimplePS follows (providers.md), in plain words.
CODE_WORDS = {
    "PAY_012": "SimplePS found no payment to refund with this reference.",
    "PAY_016": "SimplePS refused the refund: not enough is left of the captured amount.",
    "PAY_020": "SimplePS refused: the amount cannot be zero or less.",
    "PAY_021": "SimplePS refused: the currency code is not valid.",
    "PAY_022": "SimplePS refused: the card's provider rejected it.",
    "PAY_404": "SimplePS does not know this payment.",
}
# History codes: SimplePS documents PAYMENT, CAPTURE and REFUND; a void is read from VOID where
# it is listed, and from the VOIDED status in any case.
MOVEMENT_KINDS = {"CAPTURE": "capture", "REFUND": "refund", "VOID": "cancel"}
# History statuses Inyo documents (AUTHORIZED, CAPTURED, REFUNDED), VOIDED, and older words.
SUCCESSFUL = {"AUTHORIZED", "CAPTURED", "REFUNDED", "VOIDED", "APPROVED", "SUCCESS", "SUCCESSFUL", "COMPLETED"}


class SimplePS(PaymentProvider):
    code = "simpleps"
    name = "SimplePS"
    cancels_after_capture = False  # a void is only possible before any capture
    secret_settings = ("secret_id",)
    # SimplePS's documentation sets no limit on an externalPaymentId; 255 is a safe bound.
    max_reference_length = 255

    def refund(self, modification: Modification) -> Confirmation:
        # Always with the amount: the amount we checked is the amount moved, never "whatever
        # is captured now", which an empty body would mean.
        body = self._call("POST", modification.payment_reference, "refund", {
            "amount": {
                "total": to_major(modification.amount, modification.currency),
                "currency": modification.currency,
            },
        }).json_object()
        self._ensure_approved(body)
        return Confirmation(
            outcome=Outcome.SUCCEEDED,
            amount=modification.amount,
            provider_reference=str(body.get("paymentId") or ""),
            response=body,
        )

    def cancel(self, modification: Modification) -> Confirmation:
        body = self._call("POST", modification.payment_reference, "void").json_object()
        self._ensure_approved(body)
        if body.get("voided") is not True:
            raise ProviderUnavailable("SimplePS's answer does not say the payment was voided.")
        return Confirmation(
            outcome=Outcome.SUCCEEDED,
            amount=modification.amount,
            provider_reference=str(body.get("paymentId") or ""),
            response=body,
        )

    def fetch(self, reference: str) -> ProviderPayment:
        body = self._call("GET", reference).json_object()
        try:
            currency = str(body["currency"])
            status = str(body.get("status", ""))
            authorized = to_minor(_decimal(body["amount"]), currency)
            captured = to_minor(_decimal(body.get("capturedAmount") or 0), currency)
            refunded = to_minor(_decimal(body.get("refundedAmount") or 0), currency)
            movements = tuple(
                Movement(
                    kind=MOVEMENT_KINDS[entry["code"]],
                    amount=to_minor(_decimal(entry["requestedAmount"]), currency),
                    outcome=Outcome.SUCCEEDED
                    if str(entry.get("status", "")).upper() in SUCCESSFUL
                    else Outcome.FAILED,
                )
                for entry in body.get("history") or []
                if entry.get("code") in MOVEMENT_KINDS
            )
        except (KeyError, TypeError, InvalidAmount, InvalidOperation) as error:
            raise ProviderUnavailable("SimplePS's answer could not be read.") from error
        return ProviderPayment(
            reference=reference,
            state=status,
            currency=currency,
            authorized=authorized,
            captured=captured,
            cancelled=authorized - captured if status == "VOIDED" else 0,
            refunded=refunded,
            movements=movements,
            keys_recorded=False,
            response=body,
        )

    @staticmethod
    def _ensure_approved(body):
        if body.get("approved") is False:
            raise ProviderRejected(
                "SimplePS declined: " + str(body.get("message") or "no reason given") + ".",
                code=str(body.get("status") or ""),
                response=body,
            )

    def _call(self, method, reference, action="", json_body=None):
        base = self.config["api_url"].rstrip("/")
        url = f"{base}/payments/{quote(reference, safe='')}" + (f"/{action}" if action else "")
        response = send_with_token(
            key=(self.code, base, self.config["client_id"]),
            fetch_token=self._fetch_token,
            send=lambda token: self.http.send(
                method,
                url,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                json_body=json_body,
            ),
            refused_statuses=(401, 403),
            error_code=lambda response: _code(response.body),
        )
        if response.ok:
            return response
        raise self._error(response)

    def _fetch_token(self):
        response = self.http.send(
            "POST",
            f"{self.config['api_url'].rstrip('/')}/oauth/token",
            json_body={"clientId": self.config["client_id"], "secretId": self.config["secret_id"]},
        )
        if response.status == 429:
            raise ProviderRejected(
                "SimplePS is limiting logins; try again in a minute.", code=_code(response.body), status=429
            )
        if not response.ok:
            body = response.body if isinstance(response.body, dict) else {}
            raise ProviderCredentialsRejected(code=_code(body), response=body, status=response.status)
        body = response.json_object()
        try:
            token, lifetime = body["accessToken"], int(body["expiresIn"])
            if not isinstance(token, str) or not token or lifetime <= 0:
                raise ValueError("no usable token")
        except (KeyError, TypeError, ValueError) as error:
            # The answer may hold a token: it stays out of the error.
            raise ProviderUnavailable("SimplePS's token answer could not be read.") from error
        return token, lifetime

    def _error(self, response):
        body = response.body if isinstance(response.body, dict) else {}
        code = _code(body)
        if response.status == 429:
            words = "SimplePS is receiving too many requests; try again in a minute."
        elif code in CODE_WORDS:
            words = CODE_WORDS[code]
        elif response.status == 404:
            words = CODE_WORDS["PAY_404"]
        else:
            # Not the raw message: it may carry the provider's codes, which SimplePS asks us
            # not to show.
            words = f"SimplePS refused the request (HTTP {response.status})."
        return ProviderRejected(words, code=code, response=body, status=response.status)


def _decimal(value):
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise TypeError(f"not an amount: {value!r}")
    return Decimal(value)


def _code(body):
    return str(body.get("responseCode") or "") if isinstance(body, dict) else ""
