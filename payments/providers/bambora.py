"""Bambora payments API, version 1 (../shared/providers.md, "Bambora").

Basic auth as `<merchant token>@<merchant number>` with the merchant secret, `API-Version: 1`
on every call, amounts in integer minor units, the merchant's own payment reference in the
path. Bambora takes no idempotency key: after an unknown outcome the payment must be read
and compared before anything is sent again (payments.services.reconcile does that).
"""

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
    code = "bambora"
    name = "Bambora"
    cancels_after_capture = False
    secret_settings = ("merchant_token", "merchant_secret")

    def refund(self, modification: Modification) -> Confirmation:
        body = self._call("POST", modification.payment_reference, "refund", {
            "amount": modification.amount,
        })
        refunds = body.get("refunds") or []
        last = refunds[-1].get("amount") if refunds and isinstance(refunds[-1], dict) else None
        confirmed = last if isinstance(last, int) and last > 0 else modification.amount
        return Confirmation(outcome=Outcome.SUCCEEDED, amount=confirmed, response=body)

    def cancel(self, modification: Modification) -> Confirmation:
        body = self._call("POST", modification.payment_reference, "cancel")
        return Confirmation(outcome=Outcome.SUCCEEDED, amount=modification.amount, response=body)

    def fetch(self, reference: str) -> ProviderPayment:
        body = self._call("GET", reference)
        try:
            authorized = int(body["amount"])
            captures = [int(item["amount"]) for item in body.get("captures") or []]
            refunds = [int(item["amount"]) for item in body.get("refunds") or []]
            state = str(body.get("state", ""))
        except (KeyError, TypeError, ValueError) as error:
            raise ProviderUnavailable("Bambora's answer could not be read.") from error
        captured = sum(captures)
        movements = [Movement(kind="capture", amount=a, outcome=Outcome.SUCCEEDED) for a in captures]
        movements += [Movement(kind="refund", amount=a, outcome=Outcome.SUCCEEDED) for a in refunds]
        return ProviderPayment(
            reference=reference,
            state=state,
            currency=str(body.get("currency", "")),
            authorized=authorized,
            captured=captured,
            cancelled=authorized - captured if state in CANCELLED_STATES else 0,
            refunded=sum(refunds),
            movements=tuple(movements),
            keys_recorded=False,
            response=body,
        )

    def _call(self, method, reference, action="", json_body=None):
        url = f"{self.config['api_url'].rstrip('/')}/payments/{quote(reference, safe='')}/"
        if action:
            url += f"{action}/"
        response = self.http.send(
            method,
            url,
            headers={"API-Version": "1"},
            json_body=json_body,
            auth=(
                f"{self.config['merchant_token']}@{self.config['merchant_number']}",
                self.config["merchant_secret"],
            ),
        )
        if response.ok:
            return response.json_object()
        raise self._error(response)

    def _error(self, response):
        body = response.body if isinstance(response.body, dict) else {}
        error_type = str(body.get("type", "")).rstrip("/").rsplit("/", 1)[-1]
        if response.status == 401:
            return ProviderCredentialsRejected(code=error_type, response=body)
        if response.status == 409:
            # Another change to the payment is under way: ours may or may not have happened.
            return ProviderUnavailable(
                "Bambora is busy with another change to this payment; the outcome will be "
                "checked with Bambora before anything is sent again.",
                code=error_type or "payment_operation_blocked",
                response=body,
                status=409,
            )
        if response.status == 429:
            message = "Bambora is receiving too many requests; try again in a minute."
        else:
            message = ERROR_WORDS.get(error_type) or (
                f"Bambora refused the request (HTTP {response.status})"
                + (f": {body['detail']}" if body.get("detail") else ".")
            )
        return ProviderRejected(message, code=error_type, response=body, status=response.status)
