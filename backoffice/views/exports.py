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


def _invalid(request, message):
    """Nothing exported: the page that says why, with status 400."""
    return render(request, "backoffice/export_invalid.html", {"message": message}, status=400)


@require_GET
@permission_required("payments.export_payments", raise_exception=True)
def payments_csv(request):
    """Orders and payments with their aggregates as CSV: those a search finds (`q`), placed
    between `from` and `to` (YYYY-MM-DD, inclusive), streamed however many there are. The
    export is audited."""
    query = request.GET.get("q", "")[:2000]
    date_from, date_to = _date(request.GET.get("from")), _date(request.GET.get("to"))
    if date_from is False or date_to is False:
        return _invalid(request, "Write dates as YYYY-MM-DD, e.g. 2026-11-24.")
    if date_from and date_to and date_from > date_to:
        # Nothing is placed between them: an empty file would look like an answer.
        return _invalid(
            request,
            f"The range starts after it ends ({date_from.isoformat()} to {date_to.isoformat()}): "
            "put the earlier date first.",
        )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return payments_export(
        actor=Actor.of_request(request),
        filename=f"payments-{stamp}.csv",
        query=query,
        date_from=date_from,
        date_to=date_to,
    )
