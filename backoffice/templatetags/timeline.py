"""A payment's history (and its order's), as the order page shows it:
{% timeline_events payment.timeline %}.

The events are written in Python, as the desk's long lists are (backoffice/templatetags/
lists.py): a payment with a history of some length cost its page more in template tags than
the rest of its card (README, "Performance"). Every text from outside is escaped here."""

from functools import lru_cache
from html import escape

from django import template
from django.template.defaultfilters import slugify
from django.utils.safestring import mark_safe

from backoffice.templatetags.times import local_time
from backoffice.templatetags.typography import typographic
from payments.models import AuditAction, RefundReason
from payments.money import format_money
from payments.statuses import OperationStatus

register = template.Library()

_ACTIONS = dict(AuditAction.choices)
_REASONS = dict(RefundReason.choices)
_STATUSES = dict(OperationStatus.choices)
# Events that say what became of an operation: they show its status as a badge.
_OUTCOMES = frozenset(
    {
        AuditAction.PROVIDER_ANSWERED,
        AuditAction.OPERATION_RECONCILED,
        AuditAction.OPERATION_RESOLVED,
        AuditAction.EXTERNAL_RECORDED,
    }
)


def _title(event):
    """What an audit event says happened, in a payment's timeline: the action's name, except
    for a call to the provider that got no definite answer (a timeout, a lost connection, a
    5xx): "Provider answered" there would contradict the outcome, unknown, shown beside it."""
    after = event.after or {}
    if event.action == AuditAction.PROVIDER_ANSWERED and after.get("status") == OperationStatus.UNKNOWN:
        return "No definite answer from the provider"
    return _ACTIONS.get(event.action, event.action)


@lru_cache(maxsize=128)
def _slug(text):
    return slugify(text)


def _event(event):
    parts = [
        f'<li class="event event-{_slug(event.action)}">{local_time(event.created_at, "Y-m-d H:i:s")} '
        f'<span class="actor"><bdi>{escape(event.actor_label)}</bdi></span> '
        f'<span class="what">{escape(_title(event))}'
    ]
    if event.amount is not None and event.currency:
        parts.append(f" · {format_money(event.amount, event.currency)}")
    parts.append("</span>")
    status = (event.after or {}).get("status") if event.action in _OUTCOMES else None
    if status:
        parts.append(
            f' <span class="badge badge-{_slug(str(status))}">{escape(str(_STATUSES.get(status, status)))}</span>'
        )
    if event.message:
        parts.append(f' <span class="message"><bdi>{escape(typographic(event.message))}</bdi></span>')
    operation = event.operation if event.operation_id else None
    if operation is not None and operation.provider_code and event.action == AuditAction.PROVIDER_ANSWERED:
        parts.append(f' <span class="muted">(provider code {escape(operation.provider_code)})</span>')
    if event.action == AuditAction.REFUND_REQUESTED and operation is not None and operation.reason:
        note = f": “{escape(operation.note)}”" if operation.note else ""
        parts.append(
            f' <span class="reason">Reason: {escape(_REASONS.get(operation.reason, operation.reason))}{note}</span>'
        )
    parts.append("</li>\n")
    return "".join(parts)


@register.simple_tag
def timeline_events(events):
    """The events (AuditEvents with their operations selected), each as a list item: when, who,
    what (and the amount), the status it ended in, the message, the provider's code, and a
    refund request's reason and note."""
    return mark_safe("".join(_event(event) for event in events))
