"""What every provider adapter takes and gives back.

Adapters speak to one provider over HTTP and translate its answers into these dataclasses and
exceptions; they never see a model. Amounts are always integer minor units of the payment's
currency on this side of the adapter, whatever unit the provider uses.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from payments.money import currency_exponent


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    # Accepted by the provider, final answer later (Optty refunds): the money may still move.
    PENDING = "pending"
    FAILED = "failed"


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


@dataclass(frozen=True, kw_only=True)
class Confirmation:
    """The provider accepted the modification."""

    outcome: Outcome  # SUCCEEDED or PENDING
    amount: int  # what the provider confirms it moved (or will move, when PENDING)
    provider_reference: str = ""  # the provider's id of this modification, where it gives one
    response: Any = None  # the answer's body, for the record (never credentials)


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
    """A payment as the provider sees it now. Totals count only what has succeeded."""

    reference: str
    state: str
    currency: str
    authorized: int
    captured: int
    cancelled: int
    refunded: int
    # Everything the provider lists for the payment, oldest first; empty where it lists nothing
    # but totals. `keys_recorded` says whether each movement carries our idempotency key, so
    # that an operation missing from the list has certainly not happened.
    movements: tuple[Movement, ...] = field(default_factory=tuple)
    keys_recorded: bool = False
    response: Any = None


class ProviderError(Exception):
    """A call that did not succeed. `message` is in plain words, safe to show an agent;
    `code` is the provider's own code for the record; `response` the answer's body."""

    def __init__(self, message, *, code="", response=None, status=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.response = response
        self.status = status


class ProviderRejected(ProviderError):
    """The provider refused: nothing happened, and trying again the same way will not help."""


class ProviderCredentialsRejected(ProviderRejected):
    """The provider refused our credentials (401): a configuration problem, not the payment's."""

    def __init__(self, *, code="", response=None, status=401):
        super().__init__(
            "The provider rejected our credentials.", code=code, response=response, status=status
        )


class ProviderUnavailable(ProviderError):
    """No definite answer (timeout, lost connection, 5xx, garbage, an operation in progress):
    the provider may or may not have done it. Check with the provider before doing it again."""


class PaymentProvider(ABC):
    """An adapter for one provider. `config` is this provider's entry in settings.PROVIDERS."""

    code: ClassVar[str]
    name: ClassVar[str]
    # Whether a payment can still be cancelled (its uncaptured rest released) once part of it
    # has been captured.
    cancels_after_capture: ClassVar[bool]
    # Names of this provider's settings that are secret: scrubbed from every log line.
    secret_settings: ClassVar[tuple[str, ...]]
    # The currencies the provider takes, or None when its documentation sets no limit.
    currencies: ClassVar[frozenset[str] | None] = None
    # The most decimals its amounts may have, or None when it takes each currency's own.
    max_decimals: ClassVar[int | None] = None
    max_reference_length: ClassVar[int] = 2000

    @classmethod
    def currency_problem(cls, currency):
        """Why the provider would refuse payments in this (known) currency, in words; None
        when it takes them. Checked when orders arrive."""
        if cls.currencies is not None and currency not in cls.currencies:
            return f"{cls.name} takes only {', '.join(sorted(cls.currencies))}, not {currency}."
        if cls.max_decimals is not None and currency_exponent(currency) > cls.max_decimals:
            return (
                f"{cls.name} takes amounts with at most {cls.max_decimals} decimals; {currency} "
                f"has {currency_exponent(currency)}."
            )
        return None

    @classmethod
    def reference_problem(cls, reference):
        """Why the provider would refuse this payment reference, in words; None when it is
        fine. Checked when orders arrive, so that nothing is stored that cannot be refunded."""
        if not reference or reference != reference.strip():
            return "The reference must not be empty or start or end with spaces."
        if len(reference) > cls.max_reference_length:
            return f"{cls.name} takes references of at most {cls.max_reference_length:,} characters."
        if any(ord(character) < 32 or ord(character) == 127 for character in reference):
            return "The reference must not contain control characters."
        return None

    def __init__(self, *, config, http):
        self.config = config
        self.http = http

    @abstractmethod
    def refund(self, modification: Modification) -> Confirmation:
        """Refund `modification.amount` of a captured payment."""

    @abstractmethod
    def cancel(self, modification: Modification) -> Confirmation:
        """Release the uncaptured amount (`modification.amount`) of an authorized payment."""

    @abstractmethod
    def fetch(self, reference: str) -> ProviderPayment:
        """Read the payment as the provider sees it now."""
