from django import template

from payments.models import AuditAction
from payments.statuses import OperationStatus

register = template.Library()


@register.filter
def event_title(event):
    """What an audit event says happened, in a payment's timeline: the action's name, except
    for a call to the provider that got no definite answer (a timeout, a lost connection, a
    5xx): "Provider answered" there would contradict the outcome, unknown, shown beside it."""
    after = event.after or {}
    if event.action == AuditAction.PROVIDER_ANSWERED and after.get("status") == OperationStatus.UNKNOWN:
        return "No definite answer from the provider"
    return event.get_action_display()
