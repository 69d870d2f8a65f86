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

from backoffice.auth import permission_required
from backoffice.cards import Notice, build_card, card_load, card_response, outcome_notice, refund_form_for
from backoffice.forms import CancelForm, SearchForm
from backoffice.paging import page_cursor
from payments.exceptions import ActionRefused
from payments.models import Order, Payment
from payments.selectors import order_refund_offer, order_search, order_view, recent_orders
from payments.services.audit import Actor
from payments.services.cancels import payment_cancel
from payments.services.reconcile import payment_reconcile
from payments.services.refunds import refund_request

PER_PAGE = 50


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
    cards = [
        build_card(detail, user=request.user, offer=offer, whole=whole == str(detail.payment.pk))
        for detail in view.payments
    ]
    search = SearchForm(request.GET)
    query = search.cleaned_data["q"].strip() if search.is_valid() else ""
    context = {"view": view, "cards": cards, "order": view.order, "offer": offer, "query": query}
    return render(
        request,
        "backoffice/order_detail.html",
        {**context, "from_search": bool(query), "acted_payment_id": _acted(request)},
    )


def _acted(request):
    """The payment an action was just taken on (?acted=, after an action without JavaScript)."""
    try:
        return int(request.GET.get("acted", ""))
    except ValueError:
        return None


def _done(request, detail, notice):
    """The answer to a successful action: the fresh card for htmx, else back to the order."""
    fresh = card_load(detail.payment.pk)
    if request.htmx:
        return card_response(request, fresh, changed=True, notice=notice)
    notice.flash(request)
    # ?acted: the card's history stays open on what just happened.
    payment = fresh.payment
    return redirect(reverse("order", args=[payment.order_id]) + f"?acted={payment.pk}#payment-{payment.pk}")


def _invalid(request, detail, **card):
    """Invalid input: the card (htmx) or the whole order page (no JavaScript) again, with the
    errors, and status 422. The refused form comes back renewed (see RenewableForm), so that
    the agent can correct it and send it again."""
    if card.get("refund_form"):
        card["refund_form"].renew()
    if card.get("cancel_form"):
        card["cancel_form"].renew(expected_amount=detail.balances.cancellable)
    return _order_with_card(request, detail, status=422, **card)


def _order_with_card(request, detail, *, status, **card):
    """The card alone (htmx), or the whole order page (no JavaScript) with this card as
    `card` says (build_card's keywords)."""
    if request.htmx:
        return card_response(request, detail, status=status, **card)
    view = order_view(order_id=detail.payment.order_id)
    offer = card.pop("offer", None) or order_refund_offer(order=view.order)
    cards = [
        build_card(other, user=request.user, offer=offer, **(card if other.payment.pk == detail.payment.pk else {}))
        for other in view.payments
    ]
    return render(
        request,
        "backoffice/order_detail.html",
        {"view": view, "cards": cards, "order": view.order, "offer": offer},
        status=status,
    )


@require_POST
@permission_required(
    "payments.request_refund", refusal="You may not refund payments.", target=Payment
)
def refund(request, pk):
    """Refund, or (asked to compute, or sent with items and no amount) show the form again
    with the amount its items come to: nothing is refunded that the agent has not seen."""
    detail = card_load(pk)
    offer = order_refund_offer(order=detail.payment.order)
    form = refund_form_for(detail, offer, request.POST)
    if not form.is_valid():
        return _invalid(request, detail, refund_form=form, offer=offer)
    if form.wants_amount_computed:
        return _order_with_card(request, detail, status=200, refund_form=form.computed(), offer=offer)
    try:
        operation = refund_request(
            payment_id=pk,
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
        fresh = card_load(pk)
        form = refund_form_for(fresh, order_refund_offer(order=fresh.payment.order), request.POST)
        if form.is_valid():
            form.add_error("amount", refusal.message)
        return _invalid(request, fresh, refund_form=form, offer=form.offer)
    return _done(request, detail, outcome_notice(operation))


@require_http_methods(["GET", "POST"])
@permission_required(
    "payments.cancel_payment", refusal="You may not cancel payments.", target=Payment
)
def cancel(request, pk):
    """GET: the confirmation, showing the amount to be released. POST: cancel."""
    detail = card_load(pk)
    payment = detail.payment
    if request.method == "GET":
        if not detail.balances.cancellable:
            # A card shown before the payment changed: say so in the card itself (htmx would
            # swap a redirect's whole order page into it).
            nothing = Notice("info", "Nothing can be cancelled on this payment now.")
            if request.htmx:
                return card_response(request, detail, notice=nothing)
            nothing.flash(request)
            return redirect(reverse("order", args=[payment.order_id]) + f"#payment-{payment.pk}")
        if request.htmx:
            return card_response(request, detail, confirm_cancel=True)
        card = build_card(detail, user=request.user, confirm_cancel=True)
        return render(request, "backoffice/cancel_confirm.html", {"card": card})
    form = CancelForm(request.POST, payment=payment)
    if not form.is_valid():
        return _invalid(request, detail, cancel_form=form, confirm_cancel=True)
    try:
        operation = payment_cancel(
            payment_id=payment.pk,
            expected_amount=form.cleaned_data["expected_amount"],
            actor=Actor.of_request(request),
            idempotency_key=form.cleaned_data["idempotency_key"],
        )
    except ActionRefused as refusal:
        fresh = card_load(pk)
        if not fresh.balances.cancellable:
            # Nothing left to confirm: say why on the card instead of asking again.
            return _invalid(request, fresh, notice=Notice("error", refusal.message))
        form.add_error(None, refusal.message)
        return _invalid(request, fresh, cancel_form=form, confirm_cancel=True)
    return _done(request, detail, outcome_notice(operation))


@require_POST
@permission_required(
    "payments.request_refund",
    refusal="You may not check payments with the provider.",
    target=Payment,
)
def check_with_provider(request, pk):
    """Resolve the payment's operations of unknown outcome by asking the provider."""
    detail = card_load(pk)
    # One read and one re-send at most: the request ends within twice PROVIDER_TIMEOUT.
    findings = payment_reconcile(payment_id=pk, actor=Actor.of_request(request), resends=1)
    if not findings:
        notice = Notice("info", "Nothing to check: no operation on this payment is unresolved.")
    else:
        resolved = all(finding.resolved for finding in findings)
        notice = Notice("success" if resolved else "warning", " ".join(finding.message for finding in findings))
    return _done(request, detail, notice)


@require_GET
@permission_required("payments.view_order")
def payment_card(request, pk):
    """The payment's card alone, for refreshing it in place."""
    return card_response(request, card_load(pk))


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
