"""Operations that need a person: the managers' "Needs attention" list, and their decision on
each ("Carried out at the provider" / "Did not happen", with a note), taken from that list or
from the payment's card. Nobody resolves an operation they asked for: the service refuses it
(403, audited) whatever the buttons showed."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from backoffice.auth import permission_required
from backoffice.cards import Notice, card_load, card_response
from backoffice.forms import ResolveForm
from backoffice.paging import page_cursor
from payments.exceptions import ActionForbidden, ActionRefused
from payments.models import Operation
from payments.money import format_money
from payments.selectors import attention_item, needs_attention_queue, needs_person
from payments.services.attention import operation_resolve
from payments.services.audit import Actor
from payments.statuses import OperationStatus


@require_GET
@permission_required("payments.resolve_operation")
def needs_attention(request):
    """Operations no check with the provider could prove, longest waiting first."""
    page = needs_attention_queue(user=request.user, cursor=page_cursor(request))
    return render(request, "backoffice/needs_attention.html", {"page": page})


@require_POST
@permission_required(
    "payments.resolve_operation", refusal="Only managers can resolve operations.", target=Operation
)
def resolve(request, pk):
    form = ResolveForm(request.POST, prefix=f"resolve-{pk}")
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    decision = data.get("decision")
    return_to = data.get("return_to") or "attention"
    if note_errors := form.errors.get("note"):
        # A note that would read otherwise than it is (or is too long): nothing is decided.
        return _answer(request, pk, return_to, Notice("error", f"The note was not taken: {note_errors[0]}"), status=422)
    try:
        operation = operation_resolve(
            operation_id=pk,
            actor=Actor.of_request(request),
            carried_out={"carried_out": True, "did_not_happen": False}.get(decision),
            note=data.get("note", ""),
        )
    except ActionForbidden as refusal:
        raise PermissionDenied(refusal.message) from refusal
    except ActionRefused as refusal:
        return _answer(request, pk, return_to, Notice("error", refusal.message), status=422)
    amount = format_money(operation.amount, operation.payment.currency)
    kind = operation.get_kind_display().lower()
    if operation.status == OperationStatus.SUCCEEDED:
        text = f"Order {operation.payment.order.number}: the {kind} of {amount} is booked as carried out."
    else:
        text = f"Order {operation.payment.order.number}: the {kind} of {amount} is booked as not done; its amount is released."
    return _answer(request, pk, return_to, Notice("success", text), changed=True)


def _answer(request, pk, return_to, notice, *, status=200, changed=False):
    """The region the decision was taken in, with `notice` (htmx), or back to its page."""
    operation = Operation.objects.filter(pk=pk).select_related("payment__order", "requested_by").first()
    if operation is None:
        raise Http404("No such operation.")
    if return_to == "order":
        if request.htmx:
            return card_response(
                request, card_load(operation.payment_id), status=status, changed=changed, notice=notice
            )
        destination = reverse("order", args=[operation.payment.order_id]) + f"#payment-{operation.payment_id}"
    else:
        if request.htmx:
            if status != 200 and needs_person(operation):
                # Refused: the same row again, with why, so that it can be sent again.
                return render(
                    request,
                    "backoffice/needs_attention.html#attention-row",
                    {"item": attention_item(operation=operation, user=request.user), "notice": notice},
                    status=status,
                )
            response = render(
                request, "backoffice/needs_attention.html#resolved", {"operation_id": pk, "notice": notice}
            )
            if changed:
                trigger_client_event(response, "payment-changed", {"operation": pk})
            return response
        destination = reverse("needs_attention")
    notice.flash(request)
    return redirect(destination)
