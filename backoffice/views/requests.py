"""A requester's side of approvals: their refund requests and what became of them."""

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from backoffice.auth import permission_required
from backoffice.paging import page_cursor
from payments.selectors import refund_requests_of
from payments.services.decision_notices import decision_notices_take


@require_GET
@permission_required("payments.request_refund", refusal="Only those who may refund have refund requests.")
def my_requests(request):
    """The person's refund requests, newest first, with what became of each; those still
    waiting can be withdrawn here."""
    page = refund_requests_of(user=request.user, cursor=page_cursor(request))
    return render(request, "backoffice/my_requests.html", {"page": page})


@require_GET
@permission_required("payments.request_refund")
def decision_notices(request):
    """The decisions on the person's requests since their last page: pages load these after
    they are shown (as the approvals count), each once. Nothing new: 204, nothing to swap."""
    decided = decision_notices_take(user=request.user)
    if not decided:
        return HttpResponse(status=204)
    return render(request, "backoffice/decision_notices.html", {"decided": decided})
