"""The background tasks, through Django's tasks API (the django-tasks backport of Django 6's
django.tasks): queued by the services and by `manage.py enqueue`, run by `manage.py worker`.

Each task is safe to run twice, as it may be when its worker is killed and another takes it
up: an export that is made already is not made again, an email that was begun is not sent
again, and reconciliation, expiry and sync only move what still needs moving.
"""

from datetime import timedelta

from django.utils import timezone
from django_tasks import task

from payments.services.audit import Actor
from payments.services.exports import export_run, exports_expire, exports_resume
from payments.services.notifications import (
    export_ready_email_send,
    managers_request_email_send,
    requester_decision_email_send,
)
from payments.services.reconcile import reconcile_all
from payments.services.refunds import refunds_expire
from payments.services.sync import SyncOutcome, payment_sync, payments_sync


@task
def export_make(export_id: int) -> None:
    """Make the file of an export (payments.services.exports.export_run)."""
    export_run(export_id=export_id)


@task
def export_ready_email(export_id: int) -> None:
    export_ready_email_send(export_id=export_id)


@task
def approval_request_email(operation_id: int) -> None:
    managers_request_email_send(operation_id=operation_id)


@task
def refund_decision_email(operation_id: int) -> None:
    requester_decision_email_send(operation_id=operation_id)


@task
def reconcile() -> dict[str, int]:
    """Settle the operations whose outcome is unknown (see `manage.py reconcile`)."""
    findings = reconcile_all(actor=Actor.system("reconcile"))
    return {"resolved": sum(finding.resolved for finding in findings), "open": sum(not f.resolved for f in findings)}


@task
def expire() -> dict[str, int]:
    """Expire refund requests that waited too long, and exports past their time; queue again
    the exports whose run has stalled."""
    return {
        "refund_requests": refunds_expire(actor=Actor.system("expiry")),
        "exports": exports_expire(),
        "exports_queued_again": exports_resume(),
    }


@task
def sync_payments(days: int = 30) -> dict[str, int]:
    """Compare recent payments with their providers (see `manage.py sync_payments`)."""
    counts = payments_sync(days=days, actor=Actor.system("sync_payments"))
    return {str(outcome): count for outcome, count in counts.items()}


# A payment that another process was checking with its provider when a sync of it was asked
# for (by a provider's notification) is synced a little later, a few times at most.
SYNC_AGAIN_AFTER = timedelta(seconds=30)
SYNC_ATTEMPTS = 10


@task
def sync_payment(payment_id: int, by: str, attempt: int = 1) -> str:
    """Sync one payment (payment_sync) for `by` (who asked, e.g. "notification: vipps"); while
    another process checks it, try again later."""
    report = payment_sync(payment_id=payment_id, actor=Actor.system(by))
    if report.outcome == SyncOutcome.BUSY and attempt < SYNC_ATTEMPTS:
        sync_payment_later(payment_id=payment_id, by=by, attempt=attempt + 1)
    return str(report.outcome)


def sync_payment_later(*, payment_id: int, by: str, attempt: int = 1) -> None:
    """Queue sync_payment, to run SYNC_AGAIN_AFTER from now where the queue can wait."""
    queued = sync_payment
    if queued.get_backend().supports_defer:
        queued = queued.using(run_after=timezone.now() + SYNC_AGAIN_AFTER)
    queued.enqueue(payment_id=payment_id, by=by, attempt=attempt)


# What `manage.py enqueue NAME` queues: the periodic tasks, by the names the README gives.
PERIODIC = {"reconcile": reconcile, "expire": expire, "sync_payments": sync_payments}
