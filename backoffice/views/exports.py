"""Exports: asked for here, made by the task worker, listed with their progress on the person's
Exports page, downloaded from there. No request waits for the rows."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from backoffice.auth import permission_required
from backoffice.forms import ExportForm
from payments.exceptions import ActionForbidden, ActionRefused
from payments.models import Export, ExportStatus
from payments.services.audit import Actor
from payments.services.exports import export_open, payments_export_request

EXPORTS_SHOWN = 50


def _invalid(request, message):
    """Nothing queued: the page that says why, with status 400."""
    return render(request, "backoffice/export_invalid.html", {"message": message}, status=400)


@require_POST
@permission_required("payments.export_payments", refusal="Only managers and auditors export.")
def payments_csv(request):
    """Queue an export of orders and payments with their aggregates: those a search finds
    (`q`), placed between `from` and `to` (YYYY-MM-DD, inclusive). Audited."""
    form = ExportForm(request.POST)
    if not form.is_valid():
        return _invalid(request, form.problem())
    payments_export_request(
        actor=Actor.of_request(request),
        query=form.cleaned_data["q"],
        date_from=form.cleaned_data["from"],
        date_to=form.cleaned_data["to"],
    )
    messages.success(request, "Export queued: it is listed below with its progress, and offered here when it is made.")
    return redirect("exports")


@require_GET
@permission_required("payments.export_payments")
def exports(request):
    """The person's exports, newest first, with their progress; htmx asks again for the list
    while one is under way."""
    mine = list(Export.objects.filter(requested_by=request.user).order_by("-created_at", "-pk")[:EXPORTS_SHOWN])
    context = {
        "exports": mine,
        "expiry_hours": settings.EXPORT_EXPIRY_HOURS,
        "under_way": any(export.status in (ExportStatus.QUEUED, ExportStatus.RUNNING) for export in mine),
    }
    template = "backoffice/exports.html#export-list" if request.htmx else "backoffice/exports.html"
    return render(request, template, context)


@require_GET
@permission_required("payments.export_payments")
def export_download(request, pk):
    """The export's file, for the person who asked for it and for auditors. Audited."""
    try:
        export, file = export_open(export_id=pk, actor=Actor.of_request(request))
    except ActionForbidden as refusal:
        raise PermissionDenied(refusal.message) from None
    except ActionRefused as refusal:
        if not Export.objects.filter(pk=pk).exists():
            raise Http404(refusal.message) from None
        messages.error(request, refusal.message)
        return redirect("exports")
    return FileResponse(file, as_attachment=True, filename=export.download_name, content_type="text/csv; charset=utf-8")
