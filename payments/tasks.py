"""The background tasks, through Django's tasks API (the django-tasks backport of Django 6's
django.tasks): queued by the services and by `manage.py enqueue`, run by `manage.py worker`.

Each task is safe to run twice, as it may be when its worker is killed and another takes it
up: an export that is made already is not made again, an email that was begun is not sent
again, and reconciliation, expiry and sync only move what still needs moving.
"""

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
from payments.services.sync import payments_sync


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


# What `manage.py enqueue NAME` queues: the periodic tasks, by the names the README gives.
PERIODIC = {"reconcile": reconcile, "expire": expire, "sync_payments": sync_payments}
