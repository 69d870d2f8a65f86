"""For load balancers and monitoring: is the app alive (/healthz), is it ready to do all its
work (/readyz), and its metrics for Prometheus (/metrics)."""

import hmac
import os

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from payments.metrics import BackofficeCollector
from payments.services.workers import task_worker_alive


def _database_answers():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError:
        return False


def _text(body, status=200):
    return HttpResponse(body, content_type="text/plain", status=status)


@login_not_required
@require_GET
def healthz(request):
    """The app answers and reaches its database: 200 "ok", else 503 saying what is wrong."""
    if not _database_answers():
        return _text("database unreachable", status=503)
    return _text("ok")


@login_not_required
@require_GET
def readyz(request):
    """Ready for all its work: the database answers, and a task worker has been heard of within
    WORKER_LOST_SECONDS (without one, exports and emails wait). 503 saying why, otherwise."""
    if not _database_answers():
        return _text("not ready: database unreachable", status=503)
    if not task_worker_alive():
        return _text(
            f"not ready: no task worker seen in the last {settings.WORKER_LOST_SECONDS:g} seconds "
            "(run `manage.py worker`)",
            status=503,
        )
    return _text("ready")


class _ThisProcess:
    """The metrics of this process's own registry (without PROMETHEUS_MULTIPROC_DIR)."""

    def collect(self):
        return REGISTRY.collect()


@login_not_required
@require_GET
def metrics(request):
    """The metrics in Prometheus's text format; 404 unless METRICS_ENABLED, and 404 too without
    METRICS_TOKEN as a Bearer token when one is set."""
    if not settings.METRICS_ENABLED:
        raise Http404
    if settings.METRICS_TOKEN:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(sent.encode(), settings.METRICS_TOKEN.encode()):
            raise Http404
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Every gunicorn worker's (and task worker's) counts, added up from their files.
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(BackofficeCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
