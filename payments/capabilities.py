"""What each provider can do and takes, as its documentation says (providers.md): a table that
selectors, forms and the intake API read without importing the adapters or their HTTP client.
The adapters (payments.providers) read their own entry from here too."""

import re
from dataclasses import dataclass

from payments.money import currency_exponent


@dataclass(frozen=True, kw_only=True)
class Capabilities:
    code: str
    name: str
    # Whether a payment can still be cancelled (its uncaptured rest released) once part of it
    # has been captured.
    cancels_after_capture: bool
    # The currencies the provider takes, or None when its documentation sets no limit.
    currencies: frozenset[str] | None = None
    # The most decimals its amounts may have, or None when it takes each currency's own.
    max_decimals: int | None = None
    max_reference_length: int = 2000
    # A pattern every reference must match whole, and the rule in words, where it has one.
    reference_pattern: re.Pattern[str] | None = None
    reference_rule: str = ""

    def currency_problem(self, currency: str) -> str | None:
        """Why the provider would refuse payments in this (known) currency, in words; None
        when it takes them. Checked when orders arrive."""
        if self.currencies is not None and currency not in self.currencies:
            return f"{self.name} takes only {', '.join(sorted(self.currencies))}, not {currency}."
        if self.max_decimals is not None and currency_exponent(currency) > self.max_decimals:
            return (
                f"{self.name} takes amounts with at most {self.max_decimals} decimals; {currency} "
                f"has {currency_exponent(currency)}."
            )
        return None

    def reference_problem(self, reference: str) -> str | None:
        """Why the provider would refuse this payment reference, in words; None when it is
        fine. Checked when orders arrive, so that nothing is stored that cannot be refunded."""
        if self.reference_pattern is not None:
            return None if self.reference_pattern.fullmatch(reference or "") else self.reference_rule
        if not reference or reference != reference.strip():
            return "The reference must not be empty or start or end with spaces."
        if len(reference) > self.max_reference_length:
            return f"{self.name} takes references of at most {self.max_reference_length:,} characters."
        if any(ord(character) < 32 or ord(character) == 127 for character in reference):
            return "The reference must not contain control characters."
        return None


CAPABILITIES: dict[str, Capabilities] = {
    capabilities.code: capabilities
    for capabilities in (
        Capabilities(code="bambora", name="Bambora", cancels_after_capture=False),
        Capabilities(
            code="optty",
            name="Optty",
            # Optty voids authorized orders only: once part is captured, nothing is voided.
            cancels_after_capture=False,
            # Optty's documentation sets no limit on an order reference; 255 is a safe bound.
            max_reference_length=255,
            # Its amounts are decimals "with at most 2 decimals" (providers.md).
            max_decimals=2,
        ),
        Capabilities(
            code="simpleps",
            name="SimplePS",
            # A void is only possible before any capture.
            cancels_after_capture=False,
            # SimplePS's documentation sets no limit on an externalPaymentId; 255 is a safe bound.
            max_reference_length=255,
        ),
        Capabilities(
            code="vipps",
            name="Vipps MobilePay",
            # A cancel releases whatever is left uncaptured.
            cancels_after_capture=True,
            currencies=frozenset({"NOK", "DKK", "EUR"}),
            reference_pattern=re.compile(r"[a-zA-Z0-9-]{8,50}"),
            reference_rule="Vipps takes references of 8 to 50 letters, digits and hyphens.",
        ),
    )
}
