"""Bambora payments API, version 1 (../shared/providers.md, "Bambora"; the published spec is
`specs/bambora.swagger.json`).

Basic auth as `<merchant token>@<merchant number>` with the merchant secret, `API-Version: 1`
on every call, amounts in integer minor units, the merchant's own payment reference in the
path. Bambora takes no idempotency key: after an unknown outcome the payment must be read
and compared before anything is sent again (payments.services.reconcile does that). Its
published PaymentResponse (GET) has no `refunds` list: a read without one shows nothing about
refunds, and a refund whose outcome is unknown then stays unknown.
"""

from typing import TYPE_CHECKING
from urllib.parse import quote

from payments.capabilities import CAPABILITIES
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

if TYPE_CHECKING:
    from payments.providers.http import Deadline, ProviderResponse

# Bambora's error `type` is a URL; its last segment names the error.
ERROR_WORDS = {
    "cannot_refund": (
        "Bambora refused the refund: only captured payments can be refunded, and never more "
        "than what is left of the captured amount."
    ),
    "cannot_cancel": (
        "Bambora refused to cancel: only payments that are authorized and not yet captured "
        "can be cancelled."
    ),
    "insufficient_funds": "Bambora refused: there are not enough funds to refund.",
    "payment_not_found": "Bambora does not know this payment reference.",
    "invalid_payment_state_transition": (
        "Bambora refused: the payment is not in a state that allows this."
    ),
}
CANCELLED_STATES = {"Canceled", "Voided"}


class Bambora(PaymentProvider):
    capabilities = CAPABILITIES["bambora"]
    code, name = capabilities.code, capabilities.name
    secret_settings = ("merchant_token", "merchant_secret")

    def send(
        self, kind: str, modification: Modification, *, deadline: "Deadline"
    ) -> tuple["ProviderResponse", JsonObject | None]:
        body: JsonObject | None = {"amount": modification.amount} if kind == "refund" else None
        action = "refund" if kind == "refund" else "cancel"
        return self._call("POST", modification.payment_reference, action, body, deadline=deadline), body

    def answer(
        self, kind: str, modification: Modification, response: "ProviderResponse", *, sent: JsonObject | None
    ) -> ProviderAnswer:
        if reason := undecided(self.name, response):
            return self.unknown(response, reason)
        body = response.json_object
        if response.ok:
            if body is None:
                return self.unknown(response, "Bambora's answer could not be read.")
            if kind == "refund":
                return self._refund_confirmed(modification, body)
            return ProviderAnswer(outcome=Outcome.SUCCEEDED, amount=modification.amount, response=body,
                                  status=response.status)
        if body is None:
            # Not Bambora's error format ({type, title, detail, status}): something in between
            # answered, and it proves nothing.
            return self.unknown(response, f"Bambora's answer (HTTP {response.status}) could not be read.")
        error_type = self.error_code(response)
        if response.status in (401, 403):
            return self.failed(response, "The provider rejected our credentials.", credentials_rejected=True)
        message = ERROR_WORDS.get(error_type) or (
            f"Bambora refused the request (HTTP {response.status})"
            + (f": {body['detail']}" if body.get("detail") else ".")
        )
        if response.status == 404 and error_type not in ERROR_WORDS:
            message = ERROR_WORDS["payment_not_found"]
        return self.failed(response, message)

    def _refund_confirmed(self, modification: Modification, body: JsonObject) -> ProviderAnswer:
        """A 2xx to a refund: succeeded for the amount sent, found in the answer's `refunds`
        by its amount when the answer lists them (their order is not documented, so the last
        one proves nothing). A list without a refund of that amount contradicts the 2xx."""
        refunds = body.get("refunds")
        if isinstance(refunds, list):
            amounts = [item.get("amount") for item in refunds if isinstance(item, dict)]
            if modification.amount not in amounts:
                return ProviderAnswer(
                    outcome=Outcome.UNKNOWN,
                    message="Bambora answered that it refunded, but lists no refund of this amount.",
                    response=body,
                )
        return ProviderAnswer(outcome=Outcome.SUCCEEDED, amount=modification.amount, response=body)

    def fetch(self, reference: str, *, deadline: "Deadline | None" = None) -> ProviderPayment:
        body = self.read_body(self._call("GET", reference, deadline=deadline or self.http.deadline()))
        if not isinstance(body.get("payment"), str) or not isinstance(body.get("state"), str):
            # Both are required in a PaymentResponse: without them this is no read of a payment.
            raise ProviderUnavailable("Bambora's answer could not be read.")
        try:
            state = body["state"]
            authorized = _amount(body.get("amount"))
            captures = _amounts(body.get("captures"))
            # Not in the published PaymentResponse: only the refund and cancel answers of the
            # seeds show it. Without it, the read says nothing about refunds.
            refunds = _amounts(body.get("refunds"))
        except (KeyError, TypeError, ValueError) as error:
            raise ProviderUnavailable("Bambora's answer could not be read.") from error
        captured = None if captures is None else sum(captures)
        cancelled = None
        if authorized is not None:
            cancelled = authorized - (captured or 0) if state in CANCELLED_STATES else 0
        refunded = None if refunds is None else sum(refunds)
        if body.get("operationInProgress") is True:
            # A change is under way at Bambora: the totals may be about to move.
            captured = cancelled = refunded = None
        movements = [Movement(kind="capture", amount=a, outcome=Outcome.SUCCEEDED) for a in captures or []]
        movements += [Movement(kind="refund", amount=a, outcome=Outcome.SUCCEEDED) for a in refunds or []]
        return ProviderPayment(
            reference=reference,
            state=state,
            currency=str(body.get("currency", "")),
            authorized=authorized,
            captured=captured,
            cancelled=cancelled,
            refunded=refunded,
            movements=tuple(movements),
            keys_recorded=False,
            response=body,
        )

    def error_code(self, response: "ProviderResponse") -> str:
        body = response.json_object or {}
        return str(body.get("type", "")).rstrip("/").rsplit("/", 1)[-1]

    def _call(
        self,
        method: str,
        reference: str,
        action: str = "",
        json_body: JsonObject | None = None,
        *,
        deadline: "Deadline",
    ) -> "ProviderResponse":
        url = f"{self.config['api_url'].rstrip('/')}/payments/{quote(reference, safe='')}/"
        if action:
            url += f"{action}/"
        return self.http.send(
            method,
            url,
            deadline=deadline,
            headers={"API-Version": "1"},
            json_body=json_body,
            auth=(
                f"{self.config['merchant_token']}@{self.config['merchant_number']}",
                self.config["merchant_secret"],
            ),
        )


def _amount(value: object) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise ValueError(f"not an amount: {value!r}")
    return value


def _amounts(items: object) -> list[int] | None:
    """The amounts of a list of `{amount}`, or None when there is no list. Each listed one
    has its amount: ValueError for one without."""
    if items is None:
        return None
    if not isinstance(items, list):
        raise TypeError("not a list")
    amounts = []
    for item in items:
        amount = _amount(item["amount"])
        if amount is None:
            raise ValueError("a listed capture or refund without its amount")
        amounts.append(amount)
    return amounts
