"""The agent's desk: find an order, see its payments, refund and cancel them.

Each view parses its input with a form, makes one service call and renders. htmx requests get
the payment's card back (status 422 when the input is invalid, so that htmx swaps the errors
in); plain form posts are redirected back to the order, so that every action also works
without JavaScript.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from backoffice.auth import permission_required
from backoffice.forms import CancelForm, RefundForm, SearchForm
from payments.approval_limits import refund_without_approval
from payments.exceptions import ActionRefused
from payments.models import Order, Payment
from payments.money import format_money, format_typed
from payments.roles import may
from payments.selectors import (
    Cursor,
    order_refund_offer,
    order_search,
    order_view,
    payment_view,
    recent_orders,
)
from payments.services.audit import Actor
from payments.services.cancels import payment_cancel
from payments.services.reconcile import payment_reconcile
from payments.services.refunds import refund_request
from payments.statuses import OperationStatus

PER_PAGE = 50


def page_cursor(request):
    """Where the page asked for starts (?after= or ?before=, a row's id, see
    selectors.page_of); anything else is the first page."""
    bounds = {}
    for name in ("after", "before"):
        value = request.GET.get(name, "")
        if value.isascii() and value.isdigit() and len(value) <= 18:
            bounds[name] = int(value)
    return Cursor(after=bounds.get("after"), before=None if "after" in bounds else bounds.get("before"))


@require_GET
@permission_required("payments.view_order")
def home(request):
    """Search orders (see payments.selectors.orders_matching); without a query, the newest. An
    order found alone opens, and its page keeps the query in the search box."""
    form = SearchForm(request.GET)
    if not form.is_valid():
        messages.error(request, "Search with at most 2,000 characters.")
        return redirect("home")
    query = form.cleaned_data["q"].strip()
    if query:
        result = order_search(query=query, cursor=page_cursor(request), per_page=PER_PAGE)
        if result.exact_order_id is not None:
            return redirect(_order_url(result.exact_order_id, query=query))
        page = result.page
    else:
        page = recent_orders(cursor=page_cursor(request), per_page=PER_PAGE)
    return render(request, "backoffice/home.html", {"query": query, "page": page})


def _order_url(order_id, *, query):
    """The order's page, opened from a search for `query`: the page keeps it in the search box
    and puts focus on the first action there is."""
    return reverse("order", args=[order_id]) + "?" + urlencode({"q": query})


@require_GET
@permission_required("payments.view_order")
def order_detail(request, pk):
    """The order with its payments. Opened from a search (?q=), the search box keeps the
    query and focus goes to the first action of the first payment that has one."""
    try:
        view = order_view(order_id=pk)
    except Order.DoesNotExist:
        raise Http404("No such order.") from None
    offer = order_refund_offer(order=view.order)
    # "Whole refundable amount" without JavaScript: the order again, that form filled in.
    whole = request.GET.get("whole")
    for payment in view.payments:
        _prepare_card(request, payment, offer=offer, whole=whole == str(payment.pk))
    search = SearchForm(request.GET)
    query = search.cleaned_data["q"].strip() if search.is_valid() else ""
    context = {"view": view, "order": view.order, "offer": offer, "query": query, "from_search": bool(query)}
    return render(request, "backoffice/order_detail.html", {**context, "acted_payment_id": _acted(request)})


def _acted(request):
    """The payment an action was just taken on (?acted=, after an action without JavaScript)."""
    try:
        return int(request.GET.get("acted", ""))
    except ValueError:
        return None


def _load(pk):
    try:
        return payment_view(payment_id=pk)
    except Payment.DoesNotExist:
        raise Http404("No such payment.") from None


def _refund_form(payment, offer, *args, **kwargs):
    """The payment's refund form (RefundForm's arguments after the payment's own)."""
    return RefundForm(
        *args,
        payment=payment,
        approval_above=refund_without_approval(payment=payment, balances=payment.balances),
        offer=offer,
        **kwargs,
    )


def _prepare_card(
    request,
    payment,
    *,
    offer=None,
    refund_form=None,
    cancel_form=None,
    confirm_cancel=False,
    notice=None,
    whole=False,
):
    """Give the card what it shows: the forms of the actions that make sense now and that
    this person may take (`offer`: the RefundOffer of an order with lines; `whole`: the refund
    form filled with the whole refundable amount), whether it asks to confirm a cancel, and a
    notice."""
    balances = payment.balances
    payment.refund_form = payment.cancel_form = None
    # A refused form is shown with its errors even when nothing is left to do: the agent must
    # see why.
    if refund_form or (balances.refundable and may(request.user, "payments.request_refund")):
        initial = {"amount": format_typed(balances.refundable, payment.currency)} if whole else {}
        payment.refund_form = refund_form or _refund_form(payment, offer, initial=initial)
    if cancel_form or (balances.cancellable and may(request.user, "payments.cancel_payment")):
        payment.cancel_form = cancel_form or CancelForm(payment=payment)
    payment.confirm_cancel = confirm_cancel and payment.cancel_form is not None
    payment.notice = notice


def _card(request, payment, *, status=200, changed=False, **card):
    """The payment's card alone. `changed`: an action changed the payment, so the regions
    that listen for `payment-changed` (the approvals count, the order's items) refresh
    themselves."""
    card.setdefault("offer", order_refund_offer(order=payment.order))
    _prepare_card(request, payment, **card)
    response = render(
        request, "backoffice/order_detail.html#payment-card", {"payment": payment}, status=status
    )
    if changed:
        trigger_client_event(response, "payment-changed", {"payment": payment.pk})
    return response


def _done(request, payment, notice):
    """The answer to a successful action: the fresh card for htmx, else back to the order."""
    fresh = _load(payment.pk)
    if request.htmx:
        return _card(request, fresh, changed=True, notice=notice)
    level = {"success": messages.SUCCESS, "error": messages.ERROR}.get(notice[0], messages.INFO)
    messages.add_message(request, level, notice[1])
    # ?acted: the card's history stays open on what just happened.
    return redirect(reverse("order", args=[fresh.order_id]) + f"?acted={fresh.pk}#payment-{fresh.pk}")


def _invalid(request, payment, **card):
    """Invalid input: the card (htmx) or the whole order page (no JavaScript) again, with the
    errors, and status 422. The refused form comes back renewed (see RenewableForm), so that
    the agent can correct it and send it again."""
    if card.get("refund_form"):
        card["refund_form"].renew()
    if card.get("cancel_form"):
        card["cancel_form"].renew(expected_amount=payment.balances.cancellable)
    return _order_with_card(request, payment, status=422, **card)


def _order_with_card(request, payment, *, status, **card):
    """The card alone (htmx), or the whole order page (no JavaScript) with this card as
    `card` says."""
    if request.htmx:
        return _card(request, payment, status=status, **card)
    view = order_view(order_id=payment.order_id)
    offer = card.pop("offer", None) or order_refund_offer(order=view.order)
    for other in view.payments:
        _prepare_card(request, other, offer=offer, **(card if other.pk == payment.pk else {}))
    return render(
        request,
        "backoffice/order_detail.html",
        {"view": view, "order": view.order, "offer": offer},
        status=status,
    )


def outcome_notice(operation):
    """What the agent is told about an operation they just started: (kind, words)."""
    currency = operation.payment.currency
    amount = format_money(operation.settled_amount or operation.amount, currency)
    refund = operation.kind == "refund"
    match operation.status:
        case OperationStatus.SUCCEEDED:
            text = f"Refunded {amount}." if refund else f"Cancelled: {amount} released."
            return ("success", text)
        case OperationStatus.AWAITING_APPROVAL:
            return (
                "info",
                f"Waiting for approval: the refund of {amount} is sent once a manager approves it.",
            )
        case OperationStatus.FAILED:
            return ("error", ("Not refunded: " if refund else "Not cancelled: ") + operation.failure_message)
        case OperationStatus.PENDING:
            return (
                "info",
                f"The provider accepted the {operation.kind} of {amount} and will confirm it "
                "later; the amount stays reserved meanwhile.",
            )
        case OperationStatus.UNKNOWN:
            return ("warning", f"Outcome unknown. {operation.failure_message}")
    return ("info", f"This {operation.kind} of {amount} is already being sent to the provider.")


@require_POST
@permission_required(
    "payments.request_refund", refusal="You may not refund payments.", target=Payment
)
def refund(request, pk):
    """Refund, or (asked to compute, or sent with items and no amount) show the form again
    with the amount its items come to: nothing is refunded that the agent has not seen."""
    payment = _load(pk)
    offer = order_refund_offer(order=payment.order)
    form = _refund_form(payment, offer, request.POST)
    if not form.is_valid():
        return _invalid(request, payment, refund_form=form, offer=offer)
    if form.wants_amount_computed:
        return _order_with_card(request, payment, status=200, refund_form=form.computed(), offer=offer)
    try:
        operation = refund_request(
            payment_id=payment.pk,
            amount=form.cleaned_data["amount"],
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data["note"],
            actor=Actor.of_request(request),
            idempotency_key=form.cleaned_data["idempotency_key"],
            items=form.cleaned_data["items"],
        )
    except ActionRefused as refusal:
        # Shown again as the payment and its order's lines are now (another agent may have
        # just refunded them), with what was sent and why it was refused.
        fresh = _load(pk)
        form = _refund_form(fresh, order_refund_offer(order=fresh.order), request.POST)
        if form.is_valid():
            form.add_error("amount", refusal.message)
        return _invalid(request, fresh, refund_form=form, offer=form.offer)
    return _done(request, payment, outcome_notice(operation))


@require_http_methods(["GET", "POST"])
@permission_required(
    "payments.cancel_payment", refusal="You may not cancel payments.", target=Payment
)
def cancel(request, pk):
    """GET: the confirmation, showing the amount to be released. POST: cancel."""
    payment = _load(pk)
    if request.method == "GET":
        if not payment.balances.cancellable:
            # A card shown before the payment changed: say so in the card itself (htmx would
            # swap a redirect's whole order page into it).
            nothing = ("info", "Nothing can be cancelled on this payment now.")
            if request.htmx:
                return _card(request, payment, notice=nothing)
            messages.info(request, nothing[1])
            return redirect(reverse("order", args=[payment.order_id]) + f"#payment-{payment.pk}")
        if request.htmx:
            return _card(request, payment, confirm_cancel=True)
        _prepare_card(request, payment, confirm_cancel=True)
        return render(request, "backoffice/cancel_confirm.html", {"payment": payment})
    form = CancelForm(request.POST, payment=payment)
    if not form.is_valid():
        return _invalid(request, payment, cancel_form=form, confirm_cancel=True)
    try:
        operation = payment_cancel(
            payment_id=payment.pk,
            expected_amount=form.cleaned_data["expected_amount"],
            actor=Actor.of_request(request),
            idempotency_key=form.cleaned_data["idempotency_key"],
        )
    except ActionRefused as refusal:
        fresh = _load(pk)
        if not fresh.balances.cancellable:
            # Nothing left to confirm: say why on the card instead of asking again.
            return _invalid(request, fresh, notice=("error", refusal.message))
        form.add_error(None, refusal.message)
        return _invalid(request, fresh, cancel_form=form, confirm_cancel=True)
    return _done(request, payment, outcome_notice(operation))


@require_POST
@permission_required(
    "payments.request_refund",
    refusal="You may not check payments with the provider.",
    target=Payment,
)
def check_with_provider(request, pk):
    """Resolve the payment's operations of unknown outcome by asking the provider."""
    payment = _load(pk)
    # One read and one re-send at most: the request ends within twice PROVIDER_TIMEOUT.
    findings = payment_reconcile(payment_id=payment.pk, actor=Actor.of_request(request), resends=1)
    if not findings:
        notice = ("info", "Nothing to check: no operation on this payment is unresolved.")
    else:
        resolved = all(finding.resolved for finding in findings)
        notice = (
            "success" if resolved else "warning",
            " ".join(finding.message for finding in findings),
        )
    return _done(request, payment, notice)


@require_GET
@permission_required("payments.view_order")
def payment_card(request, pk):
    """The payment's card alone, for refreshing it in place."""
    return _card(request, _load(pk))


@require_GET
@permission_required("payments.view_order")
def order_items(request, pk):
    """The order's "Items" table alone, for refreshing it in place after a refund."""
    order = Order.objects.filter(pk=pk).first()
    if order is None:
        raise Http404("No such order.")
    return render(
        request,
        "backoffice/order_detail.html#order-items",
        {"order": order, "offer": order_refund_offer(order=order)},
    )
