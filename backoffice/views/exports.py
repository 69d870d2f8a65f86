from datetime import date

from django.contrib.auth.decorators import permission_required
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from payments.exports import payments_export
from payments.services.audit import Actor


def _date(text):
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return False


@require_GET
@permission_required("payments.export_payments", raise_exception=True)
def payments_csv(request):
    """Orders and payments with their aggregates as CSV: those a search finds (`q`), placed
    between `from` and `to` (YYYY-MM-DD, inclusive), streamed however many there are. The
    export is audited."""
    query = request.GET.get("q", "")[:2000]
    date_from, date_to = _date(request.GET.get("from")), _date(request.GET.get("to"))
    if date_from is False or date_to is False:
        return render(
            request,
            "backoffice/export_invalid.html",
            {"message": "Write dates as YYYY-MM-DD, e.g. 2026-11-24."},
            status=400,
        )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return payments_export(
        actor=Actor.of_request(request),
        filename=f"payments-{stamp}.csv",
        query=query,
        date_from=date_from,
        date_to=date_to,
    )
