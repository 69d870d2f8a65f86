"""Refusals of the payment services. Their messages are written for the agent who asked."""


class ActionRefused(Exception):
    """The back office will not do what was asked (nothing refundable, a stale form, ...).
    Nothing has changed; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ActionForbidden(ActionRefused):
    """This person may not do this to this object (their own request, another payment's
    operation): refused and written to the audit log."""
