"""The life of an operation: its statuses, the moves allowed between them, and the one place that
makes a move.

    awaiting_approval -> approved | rejected | withdrawn | expired
    approved -> in_flight
    in_flight -> succeeded | failed | pending | unknown
    pending -> succeeded | failed | unknown
    unknown -> succeeded | failed | pending | in_flight

A refund that needs no approval is written `in_flight` straight away; `unknown -> in_flight` is
the retry, with the same idempotency key, after the provider has shown that the first attempt
never happened. Operations found at a provider (money moved outside the back office) are
recorded `succeeded` from the start.
"""

from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    from payments.models import Operation


class OperationStatus(models.TextChoices):
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    EXPIRED = "expired", "Expired"
    IN_FLIGHT = "in_flight", "In flight"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    PENDING = "pending", "Pending at the provider"
    UNKNOWN = "unknown", "Outcome unknown"


S = OperationStatus

INITIAL_STATUSES = frozenset({S.AWAITING_APPROVAL, S.IN_FLIGHT, S.SUCCEEDED})

ALLOWED_TRANSITIONS = {
    S.AWAITING_APPROVAL: frozenset({S.APPROVED, S.REJECTED, S.WITHDRAWN, S.EXPIRED}),
    S.APPROVED: frozenset({S.IN_FLIGHT}),
    S.IN_FLIGHT: frozenset({S.SUCCEEDED, S.FAILED, S.PENDING, S.UNKNOWN}),
    S.PENDING: frozenset({S.SUCCEEDED, S.FAILED, S.UNKNOWN}),
    S.UNKNOWN: frozenset({S.SUCCEEDED, S.FAILED, S.PENDING, S.IN_FLIGHT}),
}

# The sets of statuses the rest of the code asks about, named once here: nothing else lists
# statuses. Every status is either final or reserving.

# Nothing moves an operation out of these again.
FINAL_STATUSES = frozenset({S.SUCCEEDED, S.FAILED, S.REJECTED, S.WITHDRAWN, S.EXPIRED})

# Approved, or sent and its call still running: on its way to the provider.
BEING_SENT_STATUSES = frozenset({S.APPROVED, S.IN_FLIGHT})

# Sent, no call running, and what became of it not known yet: the provider said it is pending,
# or no answer proved anything. "Check with provider" is offered for these; those marked as
# needing a person stay so while they are in one of these.
AWAITING_OUTCOME_STATUSES = frozenset({S.PENDING, S.UNKNOWN})
NEEDING_PERSON_STATUSES = AWAITING_OUTCOME_STATUSES

# Operations whose outcome at the provider is not known yet; reconciliation looks at these.
UNRESOLVED_STATUSES = frozenset({S.IN_FLIGHT}) | AWAITING_OUTCOME_STATUSES

# Operations whose amount is held back from what can still be refunded or cancelled: they may
# yet move money.
RESERVING_STATUSES = frozenset({S.AWAITING_APPROVAL}) | BEING_SENT_STATUSES | AWAITING_OUTCOME_STATUSES


class IllegalTransition(Exception):
    """A status move that the table does not allow; always a bug or a lost race."""


def transition_to(operation: "Operation", status: str) -> None:
    """Move `operation` to `status` (unsaved), or raise IllegalTransition."""
    status = OperationStatus(status)
    if status not in ALLOWED_TRANSITIONS.get(OperationStatus(operation.status), frozenset()):
        raise IllegalTransition(
            f"Operation {operation.pk} cannot move from {operation.status} to {status}."
        )
    operation.status = status
