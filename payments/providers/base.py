"""What every provider adapter takes and gives back.

Adapters speak to one provider over HTTP and translate its answers into these dataclasses; they
never see a model. Amounts are always integer minor units of the payment's currency on this
side of the adapter, whatever unit the provider uses.

A refund or cancel always comes back as one ProviderAnswer, whatever happened: the provider's
answer, a refusal, a timeout, a gateway's error page. Each adapter has one method, `answer()`,
that maps every answer its provider's published spec allows to an outcome; what no answer can
prove (a timeout, a 5xx, 408, 409, 423, 425, 429, a redirect, an HTML page) is UNKNOWN, never
FAILED. Reads of a payment (`fetch`) give a ProviderPayment or raise a ProviderError.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from payments.capabilities import Capabilities

if TYPE_CHECKING:
    from payments.providers.http import Deadline, ProviderHttp, ProviderResponse

# A JSON object as a provider sends or takes it: its values are whatever the JSON holds.
JsonObject = dict[str, Any]


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    # Accepted by the provider, final answer later (Optty refunds): the money may still move.
    PENDING = "pending"
    FAILED = "failed"
    # No answer proves what happened: the provider may or may not have done it.
    UNKNOWN = "unknown"


@dataclass(frozen=True, kw_only=True)
class Modification:
    """One refund or cancel to send to the provider."""

    payment_reference: str
    currency: str
    amount: int
    # Ours, unique per operation; sent where the provider takes one (Vipps Idempotency-Key,
    # Optty refundReference/voidReference). A retry of the same operation sends the same key.
    idempotency_key: str
    description: str = ""
    # A refund of everything still captured: for Optty, the order's surcharge goes with it.
    completes: bool = False
    # Sent again by reconciliation after an attempt whose outcome was not known: the provider
    # may have had this key or reference before, and a refusal may say only that.
    resend: bool = False


@dataclass(frozen=True, kw_only=True)
class ProviderAnswer:
    """What became of a refund or cancel, as far as the provider's answer shows."""

    outcome: Outcome
    # What the provider confirms it moved (SUCCEEDED), or will move (PENDING); None when it
    # names no amount.
    amount: int | None = None
    # The provider's own code for the answer (an error `type`, `responseCode`, a status).
    code: str = ""
    # In plain words, safe to show an agent: why it failed, or why the outcome is not known.
    message: str = ""
    provider_reference: str = ""  # the provider's id of this modification, where it gives one
    response: Any = None  # the answer's body, for the record (never credentials)
    status: int | None = None  # the HTTP status, when an answer came
    # Seconds the provider asked us to wait before trying again (Retry-After), when it did.
    retry_after: int | None = None
    # The provider refused our credentials: a configuration problem, not the payment's.
    credentials_rejected: bool = False


@dataclass(frozen=True, kw_only=True)
class Movement:
    """One capture, cancel or refund as the provider lists it on a payment."""

    kind: str  # "capture", "cancel" or "refund"
    amount: int
    outcome: Outcome
    key: str = ""  # our idempotency key, where the provider records it (Vipps events)
    provider_reference: str = ""  # the provider's id of it (Optty refundId), where it has one
    at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ProviderPayment:
    """A payment as the provider sees it now. Totals count only what has succeeded; a total is
    None when the provider's answer does not show it (Bambora's published GET carries no
    refunds, for one): then nothing can be proven about that kind of operation."""

    reference: str
    state: str
    currency: str
    authorized: int | None
    captured: int | None
    cancelled: int | None
    refunded: int | None
    # Everything the provider lists for the payment, oldest first; empty where it lists nothing
    # but totals. `keys_recorded` says whether each movement carries our idempotency key, so
    # that an operation missing from the list has certainly not happened.
    movements: tuple[Movement, ...] = field(default_factory=tuple)
    keys_recorded: bool = False
    response: Any = None

    def total(self, kind: str) -> int | None:
        """The total of `kind` ("capture", "cancel", "refund"), or None when not shown."""
        return {"capture": self.captured, "cancel": self.cancelled, "refund": self.refunded}[kind]


class ProviderError(Exception):
    """A call that gave no usable answer. `message` is in plain words, safe to show an agent;
    `code` is the provider's own code for the record; `response` the answer's body."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        response: Any = None,
        status: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.response = response
        self.status = status
        self.retry_after = retry_after


class ProviderRejected(ProviderError):
    """The provider refused a read (an unknown payment, say)."""


class ProviderCredentialsRejected(ProviderRejected):
    """The provider refused our credentials: a configuration problem, not the payment's."""

    def __init__(self, *, code: str = "", response: Any = None, status: int = 401) -> None:
        super().__init__(
            "The provider rejected our credentials.", code=code, response=response, status=status
        )


class ProviderUnavailable(ProviderError):
    """No definite answer (timeout, lost connection, 5xx, garbage, an operation in progress):
    the provider may or may not have done it. Check with the provider before doing it again."""


class NotSent(ProviderError):
    """The change was never sent: the provider's token endpoint gave no token (a timeout, 429,
    5xx, an unreadable answer), or what the change needs could not be read first."""


# Statuses that never prove a refusal: the request may be under way or done (408 Request
# Timeout, 409 Conflict: another change in progress, 423 Locked: this one in progress, 425 Too
# Early), or refused for now only (429).
UNDECIDED_STATUSES = {
    408: "did not wait for the whole request (HTTP 408)",
    409: "is busy with another change to this payment (HTTP 409)",
    423: "is still processing a change to this payment (HTTP 423)",
    425: "did not take the request yet (HTTP 425)",
    429: "is receiving too many requests (HTTP 429)",
}


def undecided(name: str, response: "ProviderResponse") -> str | None:
    """Why `response` proves nothing about a change, in words starting
    with "<name> ..."; None when it is an answer of the provider's API that an adapter can
    read. A redirect, a 5xx, one of UNDECIDED_STATUSES, or an HTML page (a gateway's or a
    firewall's, whatever its status) leaves the outcome unknown."""
    if response.is_html:
        return f"{name} answered with a web page (HTTP {response.status}), not with its API's answer."
    if 300 <= response.status < 400:
        return f"{name} answered with a redirect (HTTP {response.status})."
    if response.status >= 500:
        return f"{name} had an internal error (HTTP {response.status})."
    if response.status in UNDECIDED_STATUSES:
        return f"{name} {UNDECIDED_STATUSES[response.status]}."
    return None


def wait_words(retry_after: int | None) -> str:
    """The provider's Retry-After in words, to add to an answer's message."""
    if retry_after is None:
        return ""
    if retry_after < 120:
        return f" It asked us to wait {retry_after} seconds before trying again."
    return f" It asked us to wait {round(retry_after / 60)} minutes before trying again."


class PaymentProvider(ABC):
    """An adapter for one provider. `config` is this provider's entry in settings.PROVIDERS."""

    code: ClassVar[str]
    name: ClassVar[str]
    # What the provider can do and takes (payments.capabilities): its entry of the table.
    capabilities: ClassVar[Capabilities]
    # Names of this provider's settings that are secret: scrubbed from every log line.
    secret_settings: ClassVar[tuple[str, ...]]

    def __init__(self, *, config: dict[str, Any], http: "ProviderHttp") -> None:
        self.config = config
        self.http = http

    def refund(self, modification: Modification, *, deadline: "Deadline | None" = None) -> ProviderAnswer:
        """Refund `modification.amount` of a captured payment, within `deadline` (a
        payments.providers.http.Deadline; by default the configured timeout from now)."""
        return self._modify("refund", modification, deadline)

    def cancel(self, modification: Modification, *, deadline: "Deadline | None" = None) -> ProviderAnswer:
        """Release the uncaptured amount (`modification.amount`) of an authorized payment."""
        return self._modify("cancel", modification, deadline)

    def _modify(self, kind: str, modification: Modification, deadline: "Deadline | None") -> ProviderAnswer:
        """Send the change and make one ProviderAnswer of whatever comes back. What never got
        an answer is UNKNOWN; a change never sent (no token, refused credentials before any
        request of it went out) is FAILED."""
        deadline = deadline or self.http.deadline()
        try:
            response, sent = self.send(kind, modification, deadline=deadline)
        except ProviderCredentialsRejected as error:
            return ProviderAnswer(
                outcome=Outcome.FAILED,
                message=error.message,
                code=error.code,
                response=error.response,
                status=error.status,
                credentials_rejected=True,
            )
        except NotSent as error:
            return ProviderAnswer(
                outcome=Outcome.FAILED,
                message=f"{error.message} Nothing was sent; try again later."
                + wait_words(error.retry_after),
                code=error.code,
                response=error.response,
                status=error.status,
                retry_after=error.retry_after,
            )
        except ProviderUnavailable as error:
            return ProviderAnswer(
                outcome=Outcome.UNKNOWN,
                message=error.message + wait_words(error.retry_after),
                code=error.code,
                response=error.response,
                status=error.status,
                retry_after=error.retry_after,
            )
        return self.answer(kind, modification, response, sent=sent)

    @abstractmethod
    def send(
        self, kind: str, modification: Modification, *, deadline: "Deadline"
    ) -> tuple["ProviderResponse", JsonObject | None]:
        """Send the refund or cancel; returns (the ProviderResponse, the JSON body sent).
        Raises ProviderUnavailable when no answer came, NotSent or ProviderCredentialsRejected
        when it was not sent. Once a request of the change has gone out in this call (Vipps's
        second ask after a 423), whatever stops the call is ProviderUnavailable: that request
        may have been carried out."""

    @abstractmethod
    def answer(
        self, kind: str, modification: Modification, response: "ProviderResponse", *, sent: JsonObject | None
    ) -> ProviderAnswer:
        """The one place that says what the provider's answer to a refund or cancel means."""

    @abstractmethod
    def fetch(self, reference: str, *, deadline: "Deadline | None" = None) -> ProviderPayment:
        """Read the payment as the provider sees it now. Raises ProviderError when it cannot
        be read."""

    def unknown(self, response: "ProviderResponse", reason: str) -> ProviderAnswer:
        """An UNKNOWN answer for `response`, with `reason` in words."""
        return ProviderAnswer(
            outcome=Outcome.UNKNOWN,
            message=reason + wait_words(response.retry_after),
            code=self.error_code(response),
            response=response.body if response.body is not None else response.text[:500],
            status=response.status,
            retry_after=response.retry_after,
        )

    def failed(
        self, response: "ProviderResponse", message: str, *, credentials_rejected: bool = False
    ) -> ProviderAnswer:
        return ProviderAnswer(
            outcome=Outcome.FAILED,
            message=message,
            code=self.error_code(response),
            response=response.body,
            status=response.status,
            credentials_rejected=credentials_rejected,
        )

    def error_code(self, response: "ProviderResponse") -> str:
        """The provider's own code in an error answer, or ""."""
        return ""

    def read_body(self, response: "ProviderResponse") -> JsonObject:
        """The JSON object of a read's answer, or the ProviderError it amounts to."""
        reason = undecided(self.name, response)
        if reason is not None:
            raise ProviderUnavailable(
                reason, code=self.error_code(response), status=response.status,
                retry_after=response.retry_after,
            )
        body = response.json_object
        if response.ok:
            if body is None:
                raise ProviderUnavailable(f"{self.name}'s answer could not be read.", status=response.status)
            return body
        if response.status in (401, 403):
            raise ProviderCredentialsRejected(
                code=self.error_code(response), response=body, status=response.status
            )
        if response.status == 404:
            raise ProviderRejected(
                f"{self.name} does not know this payment.", code=self.error_code(response),
                response=body, status=404,
            )
        raise ProviderRejected(
            f"{self.name} refused to show the payment (HTTP {response.status}).",
            code=self.error_code(response), response=body, status=response.status,
        )
