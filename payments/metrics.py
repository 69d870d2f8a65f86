"""Metrics for Prometheus (README, "Metrics"): the provider calls as they happen, and, read from
the database when Prometheus asks, what waits (operations without an outcome, the approval
queue, the task queue) and how long the oldest has waited.

The calls are counted in each process that makes them (web and task workers); with
PROMETHEUS_MULTIPROC_DIR set, prometheus_client keeps them in files there that /metrics adds
up across gunicorn's workers. The figures from the database are the same whichever process
answers, so they are read at scrape time rather than kept per process.
"""

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import Histogram
from prometheus_client.core import GaugeMetricFamily

from payments.models import Operation, OperationKind, TaskWorker
from payments.providers.base import ProviderRejected, ProviderUnavailable
from payments.statuses import UNRESOLVED_STATUSES, OperationStatus

PROVIDER_CALLS = Histogram(
    "backoffice_provider_call_seconds",
    "Calls to payment providers: how long they took, by provider, operation and outcome.",
    ["provider", "operation", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def _outcome(result: object = None, error: BaseException | None = None) -> str:
    if isinstance(error, ProviderUnavailable):
        return "unavailable"  # no definite answer: the outcome is unknown
    if isinstance(error, ProviderRejected):
        return "rejected"
    if error is not None:
        return "error"
    return str(getattr(result, "outcome", "succeeded"))


class MeteredProvider:
    """A provider adapter whose refund, cancel and fetch are timed and counted; everything else
    is the adapter's own."""

    METERED = ("refund", "cancel", "fetch")

    def __init__(self, adapter: Any) -> None:
        self._adapter = adapter

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._adapter, name)
        if name not in self.METERED:
            return attribute

        def metered(*args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            try:
                result = attribute(*args, **kwargs)
            except Exception as error:
                self._observe(name, started, _outcome(error=error))
                raise
            self._observe(name, started, _outcome(result=result))
            return result

        return metered

    def _observe(self, operation: str, started: float, outcome: str) -> None:
        PROVIDER_CALLS.labels(self._adapter.code, operation, outcome).observe(time.monotonic() - started)


def _age(oldest: datetime | None, now: datetime) -> float:
    return (now - oldest).total_seconds() if oldest else 0.0


def task_queue_depth() -> int:
    """Tasks waiting for a worker, in the configured backend's queue."""
    from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends

    if type(task_backends[DEFAULT_TASK_BACKEND_ALIAS]).__name__ == "RQBackend":
        import django_rq

        return django_rq.get_queue("default").count
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.ready().count()


class BackofficeCollector:
    """The gauges read from the database at each scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        unresolved = Operation.objects.filter(status__in=UNRESOLVED_STATUSES).aggregate(
            count=Count("pk"), oldest=Min("created_at")
        )
        waiting = Operation.objects.filter(
            kind=OperationKind.REFUND, status=OperationStatus.AWAITING_APPROVAL
        ).aggregate(count=Count("pk"), oldest=Min("created_at"))
        last_seen = TaskWorker.objects.order_by("-seen_at").values_list("seen_at", flat=True).first()
        gauges = [
            ("backoffice_operations_unresolved", "Operations without a definite outcome (in flight, pending, unknown).",
             unresolved["count"]),
            ("backoffice_operations_unresolved_oldest_age_seconds", "Age of the oldest unresolved operation (0: none).",
             _age(unresolved["oldest"], now)),
            ("backoffice_approval_queue_length", "Refund requests waiting for a manager's approval.", waiting["count"]),
            ("backoffice_approval_queue_oldest_age_seconds", "Age of the oldest refund request waiting (0: none).",
             _age(waiting["oldest"], now)),
            ("backoffice_task_queue_depth", "Background tasks waiting for a worker.", task_queue_depth()),
            ("backoffice_task_worker_last_seen_age_seconds",
             "Seconds since a task worker was last heard of (-1: never).",
             _age(last_seen, now) if last_seen else -1),
        ]  # fmt: skip
        for name, documentation, value in gauges:
            yield GaugeMetricFamily(name, documentation, value=value)
