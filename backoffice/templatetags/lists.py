"""The items of the desk's long lists, written in Python rather than by the template engine:
the order list's rows ({% order_rows %}), the approval queue's requests ({% approval_cards %}),
a requester's own requests ({% request_cards %}) and the operations that need a person
({% attention_cards %}, and the decision's form {% resolve_form %}, which the order page shows too).

A page lists fifty orders or twenty-five requests, and the template engine's cost per variable,
tag and loop made the items cost several times what the rest of the page does
(tests/perf/bench.py, README "Performance"). The HTML is what the templates wrote; every text
from outside (customers, shops, providers, people) is escaped here, and isolated in a <bdi>,
so that right-to-left text does not reorder what stands around it."""

from functools import lru_cache
from html import escape
from urllib.parse import quote

from django import template
from django.template.defaultfilters import slugify
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.utils.timesince import timesince

from backoffice.links import pk_path
from backoffice.templatetags.times import local_time, zone_description
from backoffice.templatetags.typography import typographic
from payments.models import OperationKind, Provider, RefundReason
from payments.money import format_money
from payments.statuses import OperationStatus

register = template.Library()

_PROVIDER_NAMES = dict(Provider.choices)
_REASONS = dict(RefundReason.choices)
_KINDS = dict(OperationKind.choices)
_STATUSES = dict(OperationStatus.choices)


@lru_cache(maxsize=64)
def _badge_class(state):
    """"badge badge-partly-refunded" for a payment's state or an unsettled one."""
    return f"badge badge-{slugify(state)}"


def _provider_name(code):
    return escape(_PROVIDER_NAMES.get(code, code))


def _csrf_input(context):
    """What {% csrf_token %} writes."""
    token = context.get("csrf_token")
    if not token or token == "NOTPROVIDED":
        return ""
    return f'<input type="hidden" name="csrfmiddlewaretoken" value="{escape(str(token))}">'


# The order list and search results ---------------------------------------------------------


def _payment_states(listed_payment):
    payment = listed_payment.payment
    status = payment.status
    unsettled = "".join(
        f'\n<span class="{_badge_class(entry.state)}">{entry.state} {format_money(entry.amount, payment.currency)}</span>'
        for entry in listed_payment.unsettled
    )
    return f'<li><span class="{_badge_class(status)}">{_provider_name(payment.provider)}: {status}</span>{unsettled}</li>'


def _order_row(listed, search):
    order = listed.order
    payments = "".join(_payment_states(entry) for entry in listed.payments)
    return (
        f'<tr><td><a href="{pk_path("order", order.pk)}{search}"><bdi>{escape(order.number)}</bdi></a></td>'
        f'<td><bdi>{escape(order.customer_name)}</bdi><br><span class="muted"><bdi>{escape(order.customer_email)}</bdi></span></td>'
        f"<td>{local_time(order.created_at)}</td>"
        f'<td class="num">{format_money(order.total, order.currency)}</td>'
        f'<td><ul class="payment-states">{payments}</ul></td></tr>\n'
    )


@register.simple_tag
def order_rows(listed_orders, query=""):
    """The table rows of `listed_orders` (selectors.ListedOrder): each order's number (a link
    to it, keeping the search `query`), customer, date, total, and each payment's state with
    what is unsettled on it."""
    search = escape(f"?q={quote(query, safe='/')}") if query else ""
    return mark_safe("".join(_order_row(listed, search) for listed in listed_orders))


@register.simple_tag
def notice_paragraph(notice):
    """What a person is told after an action (backoffice.cards.Notice), where it happened:
    announced at once when it warns (Notice.alerts), as a status otherwise; focusable, for the
    page to move focus to it."""
    role = "alert" if notice.alerts else "status"
    return mark_safe(
        f'<p class="notice notice-{escape(notice.level)}" role="{role}" tabindex="-1">'
        f"<bdi>{escape(typographic(notice.text))}</bdi></p>"
    )


# The approval queue ------------------------------------------------------------------------


def _waiting_since(moment):
    """How long a request has waited, in a <time> with the moment in the desk's zone."""
    local = timezone.localtime(moment)
    title = escape(f"{local:%Y-%m-%d %H:%M}, {zone_description(local)}")
    return f'<time datetime="{local.isoformat()}" title="{title}">{timesince(moment)}</time>'


def _decision_forms(queued, pk, context, expiry_days):
    if queued.mine:
        return '<p class="hint">This is your own request: another manager has to decide on it.</p>'
    swap = f'hx-target="#request-{pk}" hx-swap="outerHTML" hx-disabled-elt="find button"'
    csrf = _csrf_input(context)
    parts = []
    if queued.expired:
        parts.append(
            f'<p class="notice notice-warning">Expired: this request waited more than {expiry_days} days, so it '
            "can no longer be approved. Its amount is released at the next expiry run, or now if you reject it.</p>"
        )
    elif queued.conflict:
        # The approval would be refused (four eyes): say why rather than offer it.
        parts.append(f'<p class="hint">You cannot approve this request: {escape(queued.conflict.reason)}</p>')
    parts.append('<div class="decide">')
    if not queued.expired and not queued.conflict:
        approve = pk_path("approve", pk)
        parts.append(
            f'<form method="post" action="{approve}" hx-post="{approve}" {swap}>{csrf}'
            '<button type="submit"><span class="idle">Approve</span><span class="busy">Refunding…</span></button>'
            "</form>"
        )
    reject = pk_path("reject", pk)
    parts.append(
        f'<form method="post" action="{reject}" hx-post="{reject}" {swap}>{csrf}'
        f'<label for="reject-{pk}-note">Note</label> '
        f'<input type="text" name="reject-{pk}-note" id="reject-{pk}-note" maxlength="500" required '
        'placeholder="Why it is rejected"> '
        '<button type="submit" class="secondary">Reject</button></form></div>'
    )
    return "".join(parts)


def _requested_items(queued, currency):
    """The items of a refund by line: units and name of each line, or the shipping."""
    if not queued.items:
        return ""
    entries = "".join(
        f"<li>{item.quantity} × <bdi>{escape(item.line.name)}</bdi>"
        + (f' <span class="muted">(<bdi>{escape(item.line.sku)}</bdi>)</span>' if item.line.sku else "")
        + f": {format_money(item.amount, currency)}</li>"
        if item.line is not None
        else f"<li>Shipping: {format_money(item.amount, currency)}</li>"
        for item in queued.items
    )
    return f'<div><dt>Items</dt><dd><ul class="requested-items">{entries}</ul></dd></div>'


def _card_opening(card_id, classes, title, payment):
    """A card's <li> and its heading: `title` (safe HTML) "on order N", linking to the payment
    on its order's page."""
    return (
        f'<li class="card {classes}" id="{card_id}" aria-labelledby="{card_id}-title">'
        f'<h2 id="{card_id}-title">{title} on '
        f'<a href="{pk_path("order", payment.order_id)}#payment-{payment.pk}">order <bdi>{escape(payment.order.number)}</bdi></a></h2>'
    )


def _shortened(text, length):
    """Truncator(text).chars(length), without its cost (a fifth of a card's) when there is
    nothing to cut: ASCII text no longer than `length` comes back as it is."""
    if len(text) <= length and text.isascii():
        return text
    return Truncator(text).chars(length)


def _payment_fact(payment):
    return (
        f"<div><dt>Payment</dt><dd>{_provider_name(payment.provider)} "
        f"<code><bdi>{escape(_shortened(payment.reference, 50))}</bdi></code></dd></div>"
    )


def _requester_fact(operation):
    requester = escape(operation.requested_by.get_username()) if operation.requested_by_id else "—"
    return f"<div><dt>Requested by</dt><dd><bdi>{requester}</bdi></dd></div>"


def _approval_card(queued, context, expiry_days):
    request = queued.operation
    payment, pk = request.payment, request.pk
    currency = payment.currency
    refundable = queued.balances.refundable
    reason = escape(_REASONS.get(request.reason, request.reason))
    if request.note:
        reason += f": <bdi>{escape(request.note)}</bdi>"
    return (
        _card_opening(f"request-{pk}", "approval", format_money(request.amount, currency), payment)
        + '<dl class="facts">'
        f"{_payment_fact(payment)}{_requester_fact(request)}"
        f"<div><dt>Reason</dt><dd>{reason}</dd></div>"
        f"{_requested_items(queued, currency)}"
        f"<div><dt>Waiting</dt><dd>{_waiting_since(request.created_at)}</dd></div>"
        # This request's amount is already held back: approving it leaves what is refundable
        # now as it is, rejecting it adds the amount back.
        f"<div><dt>Refundable now</dt><dd>{format_money(refundable, currency)}</dd></div>"
        f"<div><dt>Refundable if rejected</dt><dd>{format_money(refundable + request.amount, currency)}</dd></div>"
        "</dl>"
        f"{_decision_forms(queued, pk, context, expiry_days)}</li>\n"
    )


@register.simple_tag(takes_context=True)
def approval_cards(context, requests, expiry_days):
    """The approval queue's requests (selectors.QueuedRequest, from approval_queue), each with
    its payment and the forms to approve or reject it: none for the manager's own requests, no
    approval once expired (after `expiry_days`)."""
    return mark_safe("".join(_approval_card(queued, context, expiry_days) for queued in requests))


# A requester's "My requests" -----------------------------------------------------------------


def _request_card(context, refund_request, notice=None):
    operation, state = refund_request.operation, refund_request.state
    payment, pk = operation.payment, operation.pk
    parts = [_card_opening(f"request-{pk}", "request", format_money(operation.amount, payment.currency), payment)]
    if notice:
        parts.append(notice_paragraph(notice))
    reason = escape(_REASONS.get(operation.reason, operation.reason))
    if operation.note:
        reason += f": “<bdi>{escape(operation.note)}</bdi>”"
    decided = ""
    if operation.decided_at and not state.waiting:
        decided = f"<div><dt>Decided</dt><dd>{local_time(operation.decided_at)}</dd></div>"
    parts.append(
        f'<p class="state" id="request-{pk}-state"><span class="badge badge-tone-{state.tone}">{escape(state.label)}</span> '
        f"<bdi>{escape(typographic(state.detail))}</bdi></p>"
        f'<dl class="facts">{_payment_fact(payment)}'
        f"<div><dt>Reason</dt><dd>{reason}</dd></div>"
        f"<div><dt>Asked</dt><dd>{local_time(operation.created_at)}</dd></div>{decided}</dl>"
    )
    if state.waiting:
        withdraw = pk_path("withdraw", pk)
        parts.append(
            f'<form method="post" action="{withdraw}" hx-post="{withdraw}" hx-target="#request-{pk}" '
            f'hx-swap="outerHTML" hx-disabled-elt="find button">{_csrf_input(context)}'
            '<input type="hidden" name="return_to" value="my_requests">'
            f'<button type="submit" class="secondary" aria-describedby="request-{pk}-title">Withdraw request</button>'
            "</form>"
        )
    parts.append("</li>\n")
    return "".join(parts)


@register.simple_tag(takes_context=True)
def request_cards(context, refund_requests):
    """The person's refund requests (selectors.RefundRequest): each with its payment, where it
    stands, and the form to withdraw it while it waits."""
    return mark_safe("".join(_request_card(context, refund_request) for refund_request in refund_requests))


@register.simple_tag(takes_context=True)
def request_card(context, refund_request, notice=None):
    """One request as request_cards() writes it, with a `notice` (backoffice.cards.Notice) on
    what was just done to it."""
    return mark_safe(_request_card(context, refund_request, notice))


# The managers' "Needs attention" ---------------------------------------------------------


def _resolve_form(context, operation, currency, return_to, target):
    pk = operation.pk
    action = pk_path("resolve", pk)
    booked = "refunded" if operation.kind == OperationKind.REFUND else "cancelled"
    return (
        f'<form class="resolve" method="post" action="{action}" hx-post="{action}" hx-target="{escape(target)}" '
        f'hx-swap="outerHTML" hx-disabled-elt="find button">{_csrf_input(context)}'
        f'<input type="hidden" name="resolve-{pk}-return_to" value="{escape(return_to)}">'
        f'<label for="resolve-{pk}-note">Note</label> '
        f'<input type="text" name="resolve-{pk}-note" id="resolve-{pk}-note" maxlength="500" required '
        f'placeholder="What the provider’s portal shows" aria-describedby="resolve-{pk}-hint"> '
        f'<button type="submit" name="resolve-{pk}-decision" value="carried_out">Carried out at the provider</button> '
        f'<button type="submit" name="resolve-{pk}-decision" value="did_not_happen" class="secondary">Did not happen</button>'
        f'<p class="hint" id="resolve-{pk}-hint">Check the payment in the provider’s portal first. “Carried out” books '
        f"{format_money(operation.amount, currency)} as {booked}; “Did not happen” releases it.</p>"
        "</form>"
    )


@register.simple_tag(takes_context=True)
def resolve_form(context, operation, currency, return_to, target):
    """A manager's decision on an operation that needs a person ("Carried out at the provider" or
    "Did not happen", with a note), its amount in `currency` (its payment's, which the page has
    at hand), answered into `target` (an htmx selector) of the page `return_to` ("attention" or
    "order")."""
    return mark_safe(_resolve_form(context, operation, currency, return_to, target))


def _attention_card(context, item, notice=None):
    operation = item.operation
    payment, pk = operation.payment, operation.pk
    kind = _KINDS.get(operation.kind, operation.kind)
    title = f"{kind} of {format_money(operation.amount, payment.currency)}"
    parts = [_card_opening(f"attention-{pk}", "approval", title, payment)]
    if notice:
        parts.append(notice_paragraph(notice))
    said = operation.last_check or operation.failure_message or "—"
    code = f' <span class="muted">(code {escape(operation.provider_code)})</span>' if operation.provider_code else ""
    checks = ""
    if operation.checks:
        checks = (f"<div><dt>Checks</dt><dd>{operation.checks}, the last "
                  f"{local_time(operation.last_checked_at)}</dd></div>")
    parts.append(
        f'<dl class="facts">{_payment_fact(payment)}{_requester_fact(operation)}'
        f"<div><dt>Status</dt><dd>{escape(_STATUSES.get(operation.status, operation.status))}</dd></div>"
        f"<div><dt>Waiting</dt><dd>{_waiting_since(operation.needs_person_since)}</dd></div>"
        f"<div><dt>The provider last said</dt><dd><bdi>{escape(typographic(said))}</bdi>{code}</dd></div>{checks}</dl>"
    )
    if item.mine:
        parts.append(f'<p class="hint">You asked for this {kind.lower()}: another manager has to resolve it.</p>')
    else:
        parts.append(_resolve_form(context, operation, payment.currency, "attention", "closest li"))
    parts.append("</li>\n")
    return "".join(parts)


@register.simple_tag(takes_context=True)
def attention_cards(context, items):
    """The operations that need a person (selectors.AttentionItem, from needs_attention_queue),
    each with its payment, what the provider last said, and the decision's form unless the
    manager asked for the operation."""
    return mark_safe("".join(_attention_card(context, item) for item in items))


@register.simple_tag(takes_context=True)
def attention_card(context, item, notice=None):
    """One operation (selectors.AttentionItem) as attention_cards() writes it, with a `notice`
    (backoffice.cards.Notice)."""
    return mark_safe(_attention_card(context, item, notice))
