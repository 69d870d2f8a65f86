"""The task workers (`manage.py worker`): each says it is alive, and the tasks of one that has
died (killed, its machine gone) are handed to the others.

A worker writes its heartbeat every WORKER_HEARTBEAT_SECONDS, from a thread of its own, so that
it beats while a long task (an export of a million rows) runs. A worker not heard of for
WORKER_LOST_SECONDS is lost: the tasks of the database queue it had begun go back to the
queue, up to MAX_ATTEMPTS runs each. Every task is written to be run again safely (see
payments.tasks). A broker (RQ) keeps track of its own workers' jobs.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from payments.models import TaskWorker

logger = logging.getLogger("payments")

# A task whose worker died this many times is not tried again: it may be what kills them.
MAX_ATTEMPTS = 3
# Workers not heard of for this long are forgotten.
FORGET_AFTER = timedelta(days=7)


def worker_seen(*, worker_id: str, hostname: str, pid: int) -> None:
    """Record that the worker is alive now."""
    now = timezone.now()
    updated = TaskWorker.objects.filter(worker_id=worker_id).update(seen_at=now)
    if not updated:
        TaskWorker.objects.create(worker_id=worker_id, hostname=hostname, pid=pid, started_at=now, seen_at=now)


def lost_tasks_requeue(*, by_worker_id: str) -> int:
    """Put the tasks begun by lost workers back in the database queue (or, after MAX_ATTEMPTS
    runs, mark them failed), as the worker `by_worker_id` finds them (it is alive, whatever
    its row says). Returns how many were put back."""
    from django_tasks_db.compat import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    now = timezone.now()
    lost_before = now - timedelta(seconds=settings.WORKER_LOST_SECONDS)
    lost = set(
        TaskWorker.objects.filter(seen_at__lt=lost_before)
        .exclude(worker_id=by_worker_id)
        .values_list("worker_id", flat=True)
    )
    TaskWorker.objects.filter(seen_at__lt=now - FORGET_AFTER).delete()
    if not lost:
        return 0
    requeued = 0
    for result in DBTaskResult.objects.running().only("pk", "worker_ids", "task_path"):
        if not result.worker_ids or result.worker_ids[-1] not in lost:
            continue
        running = DBTaskResult.objects.filter(pk=result.pk, status=TaskResultStatus.RUNNING)
        if len(result.worker_ids) >= MAX_ATTEMPTS:
            running.update(
                status=TaskResultStatus.FAILED,
                finished_at=now,
                exception_class_path="",
                traceback=f"Its worker was lost {len(result.worker_ids)} times: not tried again.",
            )
            logger.error("task_abandoned id=%s task=%s attempts=%s", result.pk, result.task_path, len(result.worker_ids))
        elif running.update(status=TaskResultStatus.READY, started_at=None):
            requeued += 1
            logger.warning(
                "task_requeued id=%s task=%s lost_worker=%s", result.pk, result.task_path, result.worker_ids[-1]
            )
    return requeued


def task_worker_alive() -> bool:
    """Whether a worker was heard of within WORKER_LOST_SECONDS."""
    since = timezone.now() - timedelta(seconds=settings.WORKER_LOST_SECONDS)
    return TaskWorker.objects.filter(seen_at__gte=since).exists()
