"""Exports as jobs: asked for in a request, made by the task worker, downloaded later.

A request only records what to export (export_request) and queues the task; the worker writes
the file (export_run) into the "exports" storage, row by row, moving the export's progress on
as it goes; the person who asked (or an auditor) downloads it until it expires. Each step is
in the audit log.

A run is safe to repeat. A run of the export's task takes the export over, whatever an
earlier run left (its worker killed, or only stalled and given up for lost): the export's
`attempt` says which run owns it. Only the owner moves its progress, stores a file that is
kept and finishes it; an earlier run that wakes up finds itself superseded at its next step
and stops, deleting the file it may have stored. Each run stores its file under its own
attempt's name and the finishing run deletes any earlier attempt's, so that an export never
has two files, nor a finished one without its file.
"""

import logging
import tempfile
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from functools import partial
from typing import IO, Any, TypeAlias

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.files import File
from django.core.files.storage import Storage, storages
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from payments.exceptions import ActionForbidden, ActionRefused
from payments.exports import PAYMENT_HEADER, csv_write, payment_rows
from payments.models import AuditAction, Export, ExportKind, ExportStatus
from payments.roles import may
from payments.selectors import payments_for_export
from payments.services.audit import Actor, audit_record
from payments.services.notifications import notify_requester_of_export

logger = logging.getLogger("payments")

# What an export reads: (header, queryset, the function making the queryset's rows).
RowSource: TypeAlias = tuple[
    Sequence[str], QuerySet[Any], Callable[[QuerySet[Any]], Iterable[Sequence[object]]]
]


def exports_storage() -> Storage:
    return storages["exports"]


def _enqueue_run(export_id: int) -> None:
    from payments.tasks import export_make

    export_make.enqueue(export_id=export_id)


def export_request(
    *, actor: Actor, kind: ExportKind, selection: dict[str, Any], description: str
) -> Export:
    """Queue an export of `kind` (an ExportKind) of what `selection` selects (a desk search,
    see payments_export_request, or an admin list's query string) for `actor`. Audited; the
    task is queued once the export is committed. Returns the Export (queued). Raises
    ActionRefused for an actor who is no person: an export is somebody's."""
    if actor.user is None:
        raise ActionRefused(f"Exports are made for a person, not for {actor.label}.")
    with transaction.atomic():
        export = Export.objects.create(
            kind=kind, requested_by=actor.user, selection=selection, description=description
        )
        audit_record(
            actor=actor,
            action=AuditAction.EXPORT_REQUESTED,
            message=f"Asked for export {export.pk} ({export.get_kind_display().lower()} as CSV): "
            f"{description}.",
        )
        transaction.on_commit(lambda: _enqueue_run(export.pk))
    return export


def payments_export_request(
    *, actor: Actor, query: str = "", date_from: date | None = None, date_to: date | None = None
) -> Export:
    """Queue an export of the payments of the orders that `query` finds (see
    payments_for_export), placed between the dates (inclusive). Returns the Export."""
    criteria = [f"search {query!r}" if query.strip() else "every order"]
    if date_from:
        criteria.append(f"from {date_from.isoformat()}")
    if date_to:
        criteria.append(f"to {date_to.isoformat()}")
    selection = {
        "query": query,
        "date_from": date_from.isoformat() if date_from else None,
        "date_to": date_to.isoformat() if date_to else None,
    }
    return export_request(
        actor=actor, kind=ExportKind.PAYMENTS, selection=selection, description=", ".join(criteria)
    )


def _selected(export: Export) -> RowSource:
    """(header, queryset, row function) of what the export selects."""
    selection = export.selection
    if "admin" in selection:
        from payments.admin import admin_export_source

        return admin_export_source(
            model_label=selection["admin"],
            user=export.requested_by,
            querystring=selection["querystring"],
        )
    payments = payments_for_export(
        query=selection["query"],
        date_from=_date(selection["date_from"]),
        date_to=_date(selection["date_to"]),
    )
    return PAYMENT_HEADER, payments, payment_rows


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


class _Superseded(Exception):
    """A later run has taken the export over: this one stops."""


def _claim(export_id: int) -> Export | None:
    """Take the export over for this run (its next attempt), or None when there is nothing to
    do: it is made (or failed, or expired) already.

    A running export is taken over too: its task runs again only when the worker running it
    was given up for lost, and if that run is in fact alive (stalled), it is superseded."""
    with transaction.atomic():
        export = Export.objects.select_for_update().filter(pk=export_id).first()
        if export is None or export.status not in (ExportStatus.QUEUED, ExportStatus.RUNNING):
            return None
        now = timezone.now()
        export.status = ExportStatus.RUNNING
        export.started_at = export.heartbeat_at = now
        export.rows_done = 0
        export.attempt += 1
        export.save(update_fields=["status", "started_at", "heartbeat_at", "rows_done", "attempt"])
        return export


def _file_name(export: Export, attempt: int) -> str:
    return f"{export.pk}/{attempt}/{export.download_name}"


def export_run(*, export_id: int) -> Export | None:
    """Make the export's file (the task worker's job): count the selected rows, write them to
    the exports storage with the check line, and mark the export done, audited. Progress
    (rows_done, heartbeat_at) moves on every chunk of rows. Does nothing for an export that is
    not waiting (made, failed or expired already), and stops (returning None) when a later run
    takes the export over meanwhile. A failure marks the export failed, audited, and is raised
    again for the task's record."""
    export = _claim(export_id)
    if export is None:
        return None
    attempt = export.attempt
    owned = Export.objects.filter(pk=export.pk, attempt=attempt, status=ExportStatus.RUNNING)

    def progress(count: int) -> None:
        if not owned.update(rows_done=count, heartbeat_at=timezone.now()):
            raise _Superseded()

    try:
        header, queryset, rows = _selected(export)
        owned.update(rows_total=queryset.count())
        # An unnamed temporary file: a killed run leaves nothing behind.
        with tempfile.TemporaryFile() as out:
            count, sha256 = csv_write(out=out, header=header, rows=rows(queryset), progress=progress)
            size = out.tell()
            out.seek(0)
            progress(count)
            saved = exports_storage().save(_file_name(export, attempt), File(out, name=export.download_name))
    except _Superseded:
        logger.warning("export_superseded export=%s attempt=%s", export.pk, attempt)
        return None
    # Not only errors: a worker told twice to stop (SystemExit) leaves no export running for ever.
    except BaseException as error:
        _fail(export_id=export.pk, attempt=attempt, error=error)
        raise
    return _finish(export_id=export.pk, attempt=attempt, name=saved, rows=count, sha256=sha256, size=size)


def _finish(*, export_id: int, attempt: int, name: str, rows: int, sha256: str, size: int) -> Export:
    storage = exports_storage()
    with transaction.atomic():
        export = Export.objects.select_for_update().get(pk=export_id)
        if export.status != ExportStatus.RUNNING or export.attempt != attempt:
            # Expired, or taken over, meanwhile: this run's file goes.
            transaction.on_commit(partial(storage.delete, name))
            return export
        now = timezone.now()
        export.status = ExportStatus.DONE
        export.file_name, export.sha256, export.size = name, sha256, size
        export.rows_total = export.rows_done = rows
        export.finished_at = export.heartbeat_at = now
        export.expires_at = now + timedelta(hours=settings.EXPORT_EXPIRY_HOURS)
        export.save()
        audit_record(
            actor=Actor.system("exports"),
            action=AuditAction.EXPORT_COMPLETED,
            message=f"Export {export.pk} for {export.requested_by.get_username()} is ready: "
            f"{rows:,} rows, SHA-256 {sha256}.",
        )
        # A file an earlier attempt stored before its worker was killed.
        for earlier in range(1, attempt):
            transaction.on_commit(partial(storage.delete, _file_name(export, earlier)))
        transaction.on_commit(lambda: notify_requester_of_export(export_id=export.pk))
    return export


def _fail(*, export_id: int, attempt: int, error: BaseException) -> None:
    logger.exception("export_failed export=%s attempt=%s", export_id, attempt)
    with transaction.atomic():
        export = Export.objects.select_for_update().get(pk=export_id)
        if export.status != ExportStatus.RUNNING or export.attempt != attempt:
            return  # another run owns it now
        export.status = ExportStatus.FAILED
        export.finished_at = timezone.now()
        export.failure_message = "The export could not be made; ask for it again, or tell IT if it fails again."
        export.save(update_fields=["status", "finished_at", "failure_message"])
        audit_record(
            actor=Actor.system("exports"),
            action=AuditAction.EXPORT_FAILED,
            message=f"Export {export.pk} failed: {type(error).__name__}.",
        )


def export_may_download(*, export: Export, user: User | AnonymousUser) -> bool:
    """The person who asked for it, and auditors (who read everything), may download it;
    superuser status alone does not make anybody an auditor (payments.roles.may)."""
    return export.requested_by_id == user.pk or may(user, "payments.view_export")


def export_open(*, export_id: int, actor: Actor) -> tuple[Export, IO[bytes]]:
    """The export's file, opened for reading, for `actor` to download; audited.

    Raises ActionForbidden when the actor may not have it, ActionRefused when it is not
    ready or has expired."""
    export = Export.objects.select_related("requested_by").filter(pk=export_id).first()
    if export is None:
        raise ActionRefused("There is no such export.")
    if actor.user is None or not export_may_download(export=export, user=actor.user):
        raise ActionForbidden("Only the person who asked for this export, or an auditor, can download it.")
    if export.status == ExportStatus.EXPIRED or (
        export.status == ExportStatus.DONE
        and export.expires_at is not None
        and export.expires_at <= timezone.now()
    ):
        raise ActionRefused("This export has expired; ask for it again.")
    if export.status != ExportStatus.DONE:
        raise ActionRefused("This export is not ready yet.")
    audit_record(
        actor=actor,
        action=AuditAction.EXPORT_DOWNLOADED,
        message=f"Downloaded export {export.pk} ({export.get_kind_display().lower()}, "
        f"{export.rows_total:,} rows, asked for by {export.requested_by.get_username()}): "
        f"{export.description}.",
    )
    return export, exports_storage().open(export.file_name, "rb")


# A run that has not moved its export on for this long is taken to be gone, whatever became of
# its task (a broker's job lost with its worker, or a run hung on its storage): the export is
# queued again. Its heartbeat moves every few thousand rows, but storing the file is one step
# without one, and a run still storing it would be superseded and its work lost: an hour is
# more than storing gigabytes takes.
STALLED_AFTER = timedelta(hours=1)


def exports_resume() -> int:
    """Queue again the exports whose run has stalled (STALLED_AFTER); the run that takes one up
    supersedes the stalled one (see export_run). Each queued one's heartbeat is moved on, so
    that it is not queued again before its new run has had the same time. Returns how many
    were queued."""
    now = timezone.now()
    stalled = Export.objects.filter(status=ExportStatus.RUNNING, heartbeat_at__lt=now - STALLED_AFTER)
    queued = 0
    for export_id in list(stalled.values_list("pk", flat=True)):
        if stalled.filter(pk=export_id).update(heartbeat_at=now):
            logger.warning("export_stalled export=%s: queued again", export_id)
            _enqueue_run(export_id)
            queued += 1
    return queued


def exports_expire() -> int:
    """Delete the files of exports past their expiry and mark them expired. Returns how many
    expired."""
    now = timezone.now()
    expired = 0
    due = Export.objects.filter(status=ExportStatus.DONE, expires_at__lte=now).values_list("pk", flat=True)
    storage = exports_storage()
    for export_id in list(due):
        with transaction.atomic():
            export = Export.objects.select_for_update().get(pk=export_id)
            if export.status != ExportStatus.DONE or export.expires_at is None or export.expires_at > now:
                continue
            name = export.file_name
            export.status = ExportStatus.EXPIRED
            export.file_name = ""
            export.save(update_fields=["status", "file_name"])
            transaction.on_commit(partial(storage.delete, name))
            expired += 1
    return expired
