"""Managers decide on large refunds; requesters may withdraw theirs. Nobody decides their own:
the service refuses it (403, audited) whatever the buttons showed."""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from backoffice.auth import permission_required
from backoffice.cards import Notice, card_load, card_response, outcome_notice
from backoffice.forms import RejectForm, WithdrawForm
from backoffice.paging import page_cursor
from payments.exceptions import ActionForbidden, ActionRefused
from payments.models import Operation
from payments.selectors import approval_queue, approvals_waiting_for, refund_request_of
from payments.services.audit import Actor
from payments.services.refunds import refund_approve, refund_reject, refund_withdraw


@require_GET
@permission_required(
    "payments.approve_refund", refusal="Only managers see the refund requests waiting for approval."
)
def approvals(request):
    """Refund requests waiting for approval, oldest first, a page at a time."""
    page = approval_queue(user=request.user, cursor=page_cursor(request))
    return render(
        request,
        "backoffice/approvals.html",
        {"page": page, "expiry_days": settings.REFUND_APPROVAL_EXPIRY_DAYS},
    )


@require_GET
@permission_required("payments.approve_refund")
def approvals_count(request):
    """The number in the navigation: pages load it after they are shown, and again after every
    change, so that no page waits for the count."""
    count = approvals_waiting_for(user=request.user).count()
    return render(request, "backoffice/approvals_count.html", {"count": count})


def _decided(request, operation_id, notice):
    """After a decision: the request's row replaced by what happened (htmx), or the queue."""
    if request.htmx:
        response = render(
            request,
            "backoffice/approvals.html#decided",
            {"operation_id": operation_id, "notice": notice},
        )
        trigger_client_event(response, "payment-changed", {"operation": operation_id})
        return response
    notice.flash(request)
    return redirect("approvals")


def _refused(request, operation_id, refusal):
    if isinstance(refusal, ActionForbidden):
        raise PermissionDenied(refusal.message) from refusal
    return _decided(request, operation_id, Notice("error", refusal.message))


@require_POST
@permission_required(
    "payments.approve_refund", refusal="Only managers can approve refunds.", target=Operation
)
def approve(request, pk):
    try:
        operation = refund_approve(operation_id=pk, actor=Actor.of_request(request))
    except ActionRefused as refusal:
        return _refused(request, pk, refusal)
    outcome = outcome_notice(operation)
    order = operation.payment.order.number
    return _decided(request, pk, Notice(outcome.level, f"Order {order}: approved. {outcome.text}"))


@require_POST
@permission_required(
    "payments.approve_refund", refusal="Only managers can reject refunds.", target=Operation
)
def reject(request, pk):
    form = RejectForm(request.POST, prefix=f"reject-{pk}")
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        operation = refund_reject(operation_id=pk, actor=Actor.of_request(request), note=note)
    except ActionRefused as refusal:
        return _refused(request, pk, refusal)
    return _decided(request, pk, Notice("info", f"Order {operation.payment.order.number}: rejected."))


@require_POST
@permission_required(
    "payments.request_refund", refusal="You may not withdraw refund requests.", target=Operation
)
def withdraw(request, pk):
    """Withdraw one's own request; back to where it was withdrawn: the payment's card, or the
    request on "My requests"."""
    form = WithdrawForm(request.POST)
    back_to_my_requests = form.is_valid() and form.cleaned_data["return_to"] == "my_requests"
    try:
        operation = refund_withdraw(operation_id=pk, actor=Actor.of_request(request))
    except ActionForbidden as refusal:
        raise PermissionDenied(refusal.message) from refusal
    except ActionRefused as refusal:
        operation = Operation.objects.filter(pk=pk).first()
        if operation is None:
            raise Http404("No such refund request.") from refusal
        notice = Notice("error", refusal.message)
    else:
        notice = Notice("info", "Your refund request was withdrawn; its amount is available again.")
    if back_to_my_requests:
        return _back_to_my_requests(request, operation, notice)
    if request.htmx:
        return card_response(request, card_load(operation.payment_id), changed=True, notice=notice)
    notice.flash(request)
    order_url = reverse("order", args=[operation.payment.order_id])
    return redirect(f"{order_url}?acted={operation.payment_id}#payment-{operation.payment_id}")


def _back_to_my_requests(request, operation, notice):
    if request.htmx:
        try:
            request_ = refund_request_of(user=request.user, operation_id=operation.pk)
        except Operation.DoesNotExist:
            raise Http404("No such refund request of yours.") from None
        response = render(
            request, "backoffice/my_requests.html#request-row", {"request_": request_, "notice": notice}
        )
        trigger_client_event(response, "payment-changed", {"operation": operation.pk})
        return response
    notice.flash(request)
    return redirect(reverse("my_requests") + f"#request-{operation.pk}")
