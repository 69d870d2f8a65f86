"""SimplePS gateway (../shared/providers.md, "SimplePS gateway"; no machine-readable spec is
published: providers.md, the seed `003_5eb22cdf56d7e103.txt` and Inyo's response-code table,
which SimplePS follows, are the reference).

A token from POST /oauth/token (JSON `clientId`, `secretId`), cached until shortly before it
expires (the token endpoint allows 60 calls a minute). It is fetched again, and the call sent
once more, only after a 401 whose body shows the token was refused (`SE_001`): the refused call
did not run. Anything else (a 403, a 401 without that body, a firewall's page) proves nothing
about a refund or void, which SimplePS takes no idempotency key for: it is never sent again
blindly, its outcome is unknown until the payment's refunded amount and history are read
(payments.services.reconcile). SimplePS asks that its raw response codes are not shown to end
users: they are turned into plain words here and kept in the record.
"""

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING
from urllib.parse import quote

from payments.capabilities import CAPABILITIES
from payments.money import InvalidAmount, to_major, to_minor
from payments.providers.base import (
    JsonObject,
    Modification,
    Movement,
    Outcome,
    PaymentProvider,
    ProviderAnswer,
    ProviderPayment,
    ProviderUnavailable,
    undecided,
)
from payments.providers.tokens import send_with_token, token_endpoint_error

if TYPE_CHECKING:
    from payments.providers.http import Deadline, ProviderResponse

# Inyo's response-code table, in plain words.
CODE_WORDS = {
    "PAY_012": "SimplePS found no payment to refund with this payment's reference.",
    "PAY_016": "SimplePS refused the refund: the balance left to refund is not enough.",
    "PAY_020": "SimplePS refused: the amount must be more than zero.",
    "PAY_021": "SimplePS refused: the currency code is not valid.",
    "PAY_022": "SimplePS refused: the payment provider behind it rejected the request.",
    "SE_001": "SimplePS refused our credentials.",
}
TOKEN_REFUSED = "SE_001"
# History codes: SimplePS documents PAYMENT, CAPTURE and REFUND; a void is read from VOID where
# it is listed, and from the VOIDED status in any case.
MOVEMENT_KINDS = {"CAPTURE": "capture", "REFUND": "refund", "VOID": "cancel"}
# History statuses that say the entry was carried out (Inyo's table names AUTHORIZED, CAPTURED
# and REFUNDED) or refused; any other is taken as not decided yet.
SUCCEEDED_STATUSES = {
    "APPROVED",
    "SUCCESS",
    "SUCCESSFUL",
    "COMPLETED",
    "AUTHORIZED",
    "CAPTURED",
    "PARTIALLY_CAPTURED",
    "REFUNDED",
    "PARTIALLY_REFUNDED",
    "VOIDED",
}
FAILED_STATUSES = {"DECLINED", "FAILED", "REJECTED", "ERROR"}
# Payment statuses that show no void has happened.
NOT_VOIDED_STATUSES = {
    "AUTHORIZED",
    "CAPTURED",
    "PARTIALLY_CAPTURED",
    "PARTIALLY_REFUNDED",
    "REFUNDED",
    "DECLINED",
    "CHALLENGE",
}


class SimplePS(PaymentProvider):
    capabilities = CAPABILITIES["simpleps"]
    code, name = capabilities.code, capabilities.name
    secret_settings = ("secret_id",)

    def send(
        self, kind: str, modification: Modification, *, deadline: "Deadline"
    ) -> tuple["ProviderResponse", JsonObject | None]:
        if kind == "cancel":
            return self._call("POST", modification.payment_reference, "void", deadline=deadline), None
        # Always with the amount: the amount we checked is the amount moved, never "whatever
        # is captured now", which an empty body would mean.
        body: JsonObject = {
            "amount": {
                "total": to_major(modification.amount, modification.currency),
                "currency": modification.currency,
            },
        }
        return self._call("POST", modification.payment_reference, "refund", body, deadline=deadline), body

    def answer(
        self, kind: str, modification: Modification, response: "ProviderResponse", *, sent: JsonObject | None
    ) -> ProviderAnswer:
        if reason := undecided(self.name, response):
            return self.unknown(response, reason)
        if response.status in (401, 403):
            # Not a refused token (that one is fetched again and the call sent once more): a
            # gateway's refusal, which does not show whether the change was carried out.
            return self.unknown(
                response, f"SimplePS refused access (HTTP {response.status}) without saying why."
            )
        body = response.json_object
        if body is None:
            return self.unknown(response, f"SimplePS's answer (HTTP {response.status}) could not be read.")
        if response.ok:
            if body.get("approved") is False:
                return ProviderAnswer(
                    outcome=Outcome.FAILED,
                    message="SimplePS declined: " + str(body.get("message") or "no reason given") + ".",
                    code=str(body.get("status") or ""),
                    response=body,
                    status=response.status,
                )
            if kind == "cancel" and body.get("voided") is not True:
                return self.unknown(response, "SimplePS's answer does not say the payment was voided.")
            # A refund succeeded when the payment says it is refunded (providers.md); any other
            # status (CHALLENGE, none) proves nothing.
            if kind == "refund" and body.get("status") not in ("REFUNDED", "PARTIALLY_REFUNDED"):
                return self.unknown(response, "SimplePS's answer does not say the payment was refunded.")
            return ProviderAnswer(
                outcome=Outcome.SUCCEEDED,
                amount=modification.amount,
                provider_reference=str(body.get("paymentId") or ""),
                response=body,
                status=response.status,
            )
        code = self.error_code(response)
        if code in CODE_WORDS:
            return self.failed(response, CODE_WORDS[code])
        if response.status == 404:
            return self.failed(response, "SimplePS does not know this payment.")
        # Not the raw message: it may carry the provider's codes, which SimplePS asks us not
        # to show.
        return self.failed(response, f"SimplePS refused the request (HTTP {response.status}).")

    def fetch(self, reference: str, *, deadline: "Deadline | None" = None) -> ProviderPayment:
        body = self.read_body(self._call("GET", reference, deadline=deadline or self.http.deadline()))
        try:
            currency = str(body["currency"])
            status = str(body.get("status", ""))
            authorized = to_minor(_decimal(body["amount"]), currency)
            captured = _optional_amount(body.get("capturedAmount"), currency)
            refunded = _optional_amount(body.get("refundedAmount"), currency)
            movements = tuple(
                Movement(
                    kind=MOVEMENT_KINDS[entry["code"]],
                    amount=to_minor(_decimal(entry["requestedAmount"]), currency),
                    outcome=_history_outcome(entry.get("status")),
                )
                for entry in body.get("history") or []
                if entry.get("code") in MOVEMENT_KINDS
            )
        except (KeyError, TypeError, AttributeError, InvalidAmount, InvalidOperation) as error:
            raise ProviderUnavailable("SimplePS's answer could not be read.") from error
        if status == "VOIDED":
            cancelled = authorized - (captured or 0)
        elif status in NOT_VOIDED_STATUSES:
            cancelled = 0
        else:
            cancelled = None
        return ProviderPayment(
            reference=reference,
            state=status,
            currency=currency,
            authorized=authorized,
            captured=captured,
            cancelled=cancelled,
            refunded=refunded,
            movements=movements,
            keys_recorded=False,
            response=body,
        )

    def error_code(self, response: "ProviderResponse") -> str:
        body = response.json_object or {}
        return str(body.get("responseCode") or "")

    def _token_refused(self, response: "ProviderResponse") -> bool:
        return response.status == 401 and self.error_code(response) == TOKEN_REFUSED

    def _call(
        self,
        method: str,
        reference: str,
        action: str = "",
        json_body: JsonObject | None = None,
        *,
        deadline: "Deadline",
    ) -> "ProviderResponse":
        base = self.config["api_url"].rstrip("/")
        url = f"{base}/payments/{quote(reference, safe='')}" + (f"/{action}" if action else "")
        return send_with_token(
            key=(self.code, base, self.config["client_id"]),
            fetch_token=lambda: self._fetch_token(deadline),
            send=lambda token: self.http.send(
                method,
                url,
                deadline=deadline,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                json_body=json_body,
            ),
            token_refused=self._token_refused,
            error_code=self.error_code,
        )

    def _fetch_token(self, deadline: "Deadline") -> tuple[str, float]:
        response = self.http.send(
            "POST",
            f"{self.config['api_url'].rstrip('/')}/oauth/token",
            deadline=deadline,
            json_body={"clientId": self.config["client_id"], "secretId": self.config["secret_id"]},
        )
        body = response.json_object
        if not response.ok or body is None:
            raise token_endpoint_error(self.name, response, code=self.error_code(response))
        try:
            token, lifetime = body["accessToken"], int(body["expiresIn"])
            if not isinstance(token, str) or not token or lifetime <= 0:
                raise ValueError("no usable token")
        except (KeyError, TypeError, ValueError) as error:
            # The answer may hold a token: it stays out of the error.
            raise ProviderUnavailable("SimplePS's token answer could not be read.") from error
        return token, lifetime


def _history_outcome(value: object) -> Outcome:
    status = str(value or "").upper()
    if status in SUCCEEDED_STATUSES:
        return Outcome.SUCCEEDED
    if status in FAILED_STATUSES:
        return Outcome.FAILED
    return Outcome.PENDING


def _optional_amount(value: object, currency: str) -> int | None:
    return None if value is None else to_minor(_decimal(value), currency)


def _decimal(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise TypeError(f"not an amount: {value!r}")
    return Decimal(value)
