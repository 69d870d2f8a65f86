"""Optty Merchant API (../shared/providers.md, "Optty"), a buy-now-pay-later aggregator. Its
refund call is specified by the OpenAPI in the seed `001_53414bc90af3eac9.txt`; the other calls
by providers.md.

A client-credentials token from `{OPTTY_AUTH_URL}/token` (form-encoded, scope `api-user`),
cached until shortly before it expires and fetched again once when Optty refuses it. Amounts
are decimal major units with at most two decimals. Our operation's key is Optty's
`refundReference` / `voidReference`, which Optty keeps unique per merchant: a retry of the
same operation sends the same reference and cannot become a second refund. How Optty refuses a
reference it has had is not documented: any refusal of a re-sent operation says the first
attempt may have been carried out, never that it failed. A refund's status other than
SUCCESSFUL and the failures FAILED, DECLINED and ERROR (PENDING, INITIATED, PROCESSING,
anything new) means the BNPL provider decides later: the amount stays reserved meanwhile. A
full refund includes the order's surcharge, as Optty's refund spec asks.
"""

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING
from urllib.parse import quote

from payments.capabilities import CAPABILITIES
from payments.money import InvalidAmount, to_major, to_minor
from payments.providers.base import (
    JsonObject,
    Modification,
    Movement,
    NotSent,
    Outcome,
    PaymentProvider,
    ProviderAnswer,
    ProviderCredentialsRejected,
    ProviderError,
    ProviderPayment,
    ProviderUnavailable,
    undecided,
)
from payments.providers.tokens import send_with_token, token_endpoint_error

if TYPE_CHECKING:
    from payments.providers.http import Deadline, ProviderResponse

SUCCEEDED_STATUSES = {"SUCCESSFUL", "SUCCESS"}
# providers.md: "a failure such as DECLINED/ERROR/FAILED"; only these end a refund unmade.
FAILED_STATUSES = {"FAILED", "DECLINED", "ERROR"}
VOIDED_ORDER_STATUSES = {"VOIDED", "CANCELLED", "CANCELED"}
# Order statuses that show no void has happened (a captured order cannot be voided).
NOT_VOIDED_ORDER_STATUSES = {
    "AUTHORIZED",
    "CAPTURED",
    "PARTIALLY_CAPTURED",
    "REFUNDED",
    "PARTIALLY_REFUNDED",
}


class Optty(PaymentProvider):
    capabilities = CAPABILITIES["optty"]
    code, name = capabilities.code, capabilities.name
    secret_settings = ("client_secret",)

    def send(
        self, kind: str, modification: Modification, *, deadline: "Deadline"
    ) -> tuple["ProviderResponse", JsonObject | None]:
        reference = modification.payment_reference
        body: JsonObject
        if kind == "cancel":
            body = {
                "voidReference": modification.idempotency_key,
                "amount": to_major(modification.amount, modification.currency),
                "description": modification.description or "Cancel",
            }
            return self._call("POST", reference, "void", body, deadline=deadline), body
        amount = modification.amount
        if modification.completes:
            amount += self._surcharge(modification, deadline=deadline)
        body = {
            "refundReference": modification.idempotency_key,
            "refundAmount": {
                "amount": to_major(amount, modification.currency),
                "currency": modification.currency,
            },
            "refundDescription": modification.description or "Refund",
            "isActivatedViaOAuth": bool(self.config.get("activated_via_oauth", False)),
        }
        return self._call("POST", reference, "refund", body, deadline=deadline), body

    def _surcharge(self, modification: Modification, *, deadline: "Deadline") -> int:
        """The order's surcharge in minor units: "for full refund, [the amount] should equal
        the order amount + surcharge amount" (Optty's refund spec)."""
        try:
            order = self.read_body(self._call("GET", modification.payment_reference, deadline=deadline))
            surcharge = order.get("surcharge")
            return 0 if surcharge is None else to_minor(_decimal(surcharge), modification.currency)
        except (NotSent, ProviderCredentialsRejected):
            raise
        except ProviderError as error:
            raise NotSent(f"Optty's order could not be read to add its surcharge: {error.message}") from error
        except (TypeError, InvalidAmount, InvalidOperation) as error:
            raise NotSent("Optty's order could not be read to add its surcharge.") from error

    def answer(
        self, kind: str, modification: Modification, response: "ProviderResponse", *, sent: JsonObject | None
    ) -> ProviderAnswer:
        if reason := undecided(self.name, response):
            return self.unknown(response, reason)
        body = response.json_object
        if body is None:
            return self.unknown(response, f"Optty's answer (HTTP {response.status}) could not be read.")
        if response.ok:
            if kind == "refund":
                return self._refund_answer(modification, body, sent)
            return self._confirmed(modification, body, body.get("amount"), str(body.get("voidedId") or ""))
        message = body.get("message")
        if isinstance(message, list):  # validation errors come as a list of sentences
            message = "; ".join(str(part) for part in message)
        message = str(message or "")
        if response.status == 400 and "already" in message.lower() and "used" in message.lower():
            # Our reference is unique to this operation: if Optty knows it, it was sent before,
            # and that first attempt may have been carried out.
            return self.unknown(
                response,
                "Optty has had this operation's reference before, so an earlier attempt may have "
                "been carried out.",
            )
        if modification.resend:
            # Optty keeps references unique but does not document how it refuses one it has
            # had, nor whether an over-refund is checked first: any refusal of a re-sent
            # operation may mean that the first attempt was carried out.
            return self.unknown(
                response,
                f"Optty refused the operation when it was sent again (HTTP {response.status}"
                + (f": {message}" if message else "")
                + "). That may mean it had it already, so an earlier attempt may have been "
                "carried out.",
            )
        if response.status == 404:
            return self.failed(response, "Optty does not know this order.")
        if message:
            return self.failed(response, f"Optty refused: {message}")
        return self.failed(response, f"Optty refused the request (HTTP {response.status}).")

    def _refund_answer(self, modification: Modification, body: JsonObject, sent: JsonObject | None) -> ProviderAnswer:
        status = str(body.get("refundStatus", "")).upper()
        reference = str(body.get("bnplRefundId") or "")
        if status in FAILED_STATUSES:
            reason = body.get("description")
            return ProviderAnswer(
                outcome=Outcome.FAILED,
                message="Optty did not refund: the refund failed"
                + (f" ({reason})." if isinstance(reason, str) and reason else "."),
                code=status,
                provider_reference=reference,
                response=body,
            )
        if status not in SUCCEEDED_STATUSES:
            return ProviderAnswer(
                outcome=Outcome.PENDING,
                amount=modification.amount,
                code=status,
                message=f"Optty accepted the refund ({status.lower() or 'no status yet'}); "
                "the final answer comes later.",
                provider_reference=reference,
                response=body,
            )
        # A refund is always sent with its body (send).
        assert sent is not None
        sent_amount = to_minor(sent["refundAmount"]["amount"], modification.currency)
        surcharge = sent_amount - modification.amount
        return self._confirmed(modification, body, body.get("refundedAmount"), reference, surcharge=surcharge)

    @staticmethod
    def _confirmed(
        modification: Modification, body: JsonObject, amount: object, reference: str, *, surcharge: int = 0
    ) -> ProviderAnswer:
        """SUCCEEDED for the amount Optty names (less the surcharge we added), or the amount
        sent when it names none; an amount that cannot be read leaves the outcome unknown."""
        if amount is None:
            confirmed = modification.amount
        else:
            try:
                confirmed = to_minor(_decimal(amount), modification.currency) - surcharge
            except (InvalidAmount, InvalidOperation, TypeError):
                return ProviderAnswer(
                    outcome=Outcome.UNKNOWN,
                    message="Optty's answer names an amount that could not be read.",
                    response=body,
                )
        return ProviderAnswer(
            outcome=Outcome.SUCCEEDED, amount=confirmed, provider_reference=reference, response=body
        )

    def fetch(self, reference: str, *, deadline: "Deadline | None" = None) -> ProviderPayment:
        deadline = deadline or self.http.deadline()
        order = self.read_body(self._call("GET", reference, deadline=deadline))
        # Optty's docs require the order's reference in the body of the details call.
        details = self.read_body(
            self._call("POST", reference, "details", {"merchantReference": reference}, deadline=deadline)
        )
        try:
            currency = str(order["currency"])
            authorized = to_minor(_decimal(order["amount"]), currency)
            surcharge = order.get("surcharge")
            surcharge = 0 if surcharge is None else to_minor(_decimal(surcharge), currency)
            captures = self._movements("capture", details.get("orderCaptures"), currency)
            refunds = self._movements("refund", details.get("refunds"), currency)
        except (KeyError, TypeError, AttributeError, InvalidAmount, InvalidOperation) as error:
            raise ProviderUnavailable("Optty's answer could not be read.") from error
        captured = _succeeded_total(captures)
        if refunds is not None and captured is not None:
            refunds = _without_surcharge(refunds, captured=captured, surcharge=surcharge)
        status = str(order.get("status", "")).upper()
        # A void is shown by the order's status (Optty's details list no voids).
        if status in VOIDED_ORDER_STATUSES:
            cancelled = authorized - (captured or 0)
        elif status in NOT_VOIDED_ORDER_STATUSES:
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
            refunded=_succeeded_total(refunds),
            movements=tuple((captures or []) + (refunds or [])),
            # The details name Optty's own refund ids, not our refundReference.
            keys_recorded=False,
            response={"order": order, "details": details},
        )

    @staticmethod
    def _movements(kind: str, items: Iterable[JsonObject] | None, currency: str) -> list[Movement] | None:
        """The listed captures or refunds, or None when the details carry no such list."""
        if items is None:
            return None
        movements: list[Movement] = []
        for item in items:
            status = str(item.get("status", "SUCCESSFUL")).upper()
            if status in SUCCEEDED_STATUSES:
                outcome = Outcome.SUCCEEDED
            elif status in FAILED_STATUSES:
                outcome = Outcome.FAILED
            else:
                outcome = Outcome.PENDING
            movements.append(
                Movement(
                    kind=kind,
                    amount=to_minor(_decimal(item["amount"]), currency),
                    outcome=outcome,
                    provider_reference=str(item.get("refundId") or item.get("captureId") or ""),
                )
            )
        return movements

    def error_code(self, response: "ProviderResponse") -> str:
        body = response.json_object or {}
        return str(body.get("error") or body.get("statusCode") or "")

    def _call(
        self,
        method: str,
        reference: str,
        action: str = "",
        json_body: JsonObject | None = None,
        *,
        deadline: "Deadline",
    ) -> "ProviderResponse":
        url = f"{self.config['api_url'].rstrip('/')}/orders/{quote(reference, safe='')}"
        if action:
            url += f"/{action}"
        return send_with_token(
            key=(self.code, self.config["auth_url"], self.config["client_id"]),
            fetch_token=lambda: self._fetch_token(deadline),
            send=lambda token: self.http.send(
                method,
                url,
                deadline=deadline,
                headers={"Authorization": f"Bearer {token}"},
                json_body=json_body,
            ),
            error_code=self.error_code,
        )

    def _fetch_token(self, deadline: "Deadline") -> tuple[str, float]:
        response = self.http.send(
            "POST",
            f"{self.config['auth_url'].rstrip('/')}/token",
            deadline=deadline,
            form={
                "client_id": self.config["client_id"],
                "client_secret": self.config["client_secret"],
                "grant_type": "client_credentials",
                "scope": "api-user",
            },
        )
        body = response.json_object
        if not response.ok or body is None:
            raise token_endpoint_error(self.name, response, code=self.error_code(response))
        try:
            token, lifetime = body["access_token"], int(body["expires_in"])
            if not isinstance(token, str) or not token or lifetime <= 0:
                raise ValueError("no usable token")
        except (KeyError, TypeError, ValueError) as error:
            # The answer may hold a token: it stays out of the error.
            raise ProviderUnavailable("Optty's token answer could not be read.") from error
        return token, lifetime


def _succeeded_sum(movements: Iterable[Movement]) -> int:
    return sum(m.amount for m in movements if m.outcome == Outcome.SUCCEEDED)


def _succeeded_total(movements: Iterable[Movement] | None) -> int | None:
    return None if movements is None else _succeeded_sum(movements)


def _without_surcharge(refunds: list[Movement], *, captured: int, surcharge: int) -> list[Movement]:
    """The refunds with the order's surcharge taken out of the one that carried it: refunds
    beyond the captured amount are the surcharge a full refund added, not ours to book."""
    excess = min(max(_succeeded_sum(refunds) - captured, 0), surcharge)
    if not excess:
        return refunds
    carrier = max(
        (m for m in refunds if m.outcome == Outcome.SUCCEEDED and m.amount > excess),
        key=lambda m: m.amount,
        default=None,
    )
    if carrier is None:
        return refunds
    return [
        Movement(kind=m.kind, amount=m.amount - excess, outcome=m.outcome, provider_reference=m.provider_reference)
        if m is carrier
        else m
        for m in refunds
    ]


def _decimal(value: object) -> Decimal:
    """An amount as Optty sends it (a JSON number, or text) as an exact Decimal."""
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise TypeError(f"not an amount: {value!r}")
    return Decimal(value)
