"""/healthz (the database answers), /readyz (and a task worker is alive) and /metrics (for
Prometheus, when switched on): what they say, and that the metrics count what happens."""

import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from payments.models import Operation, TaskWorker
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request
from payments.services.workers import worker_seen
from payments.statuses import OperationStatus
from tests.backoffice.helpers import production_env

pytestmark = pytest.mark.django_db


def test_healthz_answers_ok_when_the_database_does(client):
    response = client.get(reverse("healthz"))

    assert (response.status_code, response.content) == (200, b"ok")


def test_healthz_says_when_the_database_does_not_answer(client):
    # The outside world failing: the database connection refuses every query.
    def refuse(execute, sql, params, many, context):
        from django.db import OperationalError

        raise OperationalError("server closed the connection unexpectedly")

    with connection.execute_wrapper(refuse):
        response = client.get(reverse("healthz"))

    assert (response.status_code, response.content) == (503, b"database unreachable")


def test_healthz_gives_up_on_a_database_that_never_answers():
    # A database host that takes the connection and then says nothing (a dead server behind a
    # live address): /healthz answers 503 after the connect timeout instead of hanging until
    # gunicorn kills the worker.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        probe = (
            "import django; django.setup(); from django.test import Client; "
            "response = Client().get('/healthz', HTTP_HOST='backoffice.example.com', secure=True); "
            "print(response.status_code, response.content.decode())"
        )
        result = subprocess.run(
            [sys.executable, "-c", probe], cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True,
            env=production_env(DATABASE_URL=f"postgres://backoffice@127.0.0.1:{port}/backoffice"), timeout=60,
        )  # fmt: skip

    assert result.stdout.strip() == "503 database unreachable", result.stderr[-2000:]


def test_readyz_is_ready_only_while_a_task_worker_is_heard_of(client, settings):
    settings.WORKER_LOST_SECONDS = 60

    before = client.get(reverse("readyz"))
    worker_seen(worker_id="w1", hostname="host", pid=1)
    alive = client.get(reverse("readyz"))
    TaskWorker.objects.update(seen_at=timezone.now() - timedelta(seconds=61))
    lost = client.get(reverse("readyz"))

    assert before.status_code == 503
    assert b"no task worker seen in the last 60 seconds" in before.content
    assert (alive.status_code, alive.content) == (200, b"ready")
    assert lost.status_code == 503


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_ENABLED = True
    settings.MIDDLEWARE = [
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        *settings.MIDDLEWARE,
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    ]


def scrape(client, **headers):
    response = client.get(reverse("metrics"), headers=headers)
    assert response.status_code == 200
    values = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def value(values, name, **labels):
    return values.get((name, tuple(sorted(labels.items()))), 0)


def test_metrics_are_off_unless_switched_on(client):
    assert client.get(reverse("metrics")).status_code == 404


def test_metrics_ask_for_the_token_when_one_is_set(client, metrics_on, settings):
    settings.METRICS_TOKEN = "scrape-secret"

    assert client.get(reverse("metrics")).status_code == 404
    assert client.get(reverse("metrics"), headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert scrape(client, Authorization="Bearer scrape-secret")


def test_metrics_count_requests_provider_calls_and_what_waits(
    client, metrics_on, agent, make_payment, settings
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    client.force_login(agent)
    before = scrape(client)

    # a page, a refund through the provider, a request waiting for approval, an operation
    # whose outcome is unknown, and a task waiting for a worker
    client.get(reverse("home"))
    payment = make_payment("vipps", currency="NOK", amount=900_000, captured=900_000)
    refund_request(payment_id=payment.pk, amount=10_000, reason="goodwill", actor=Actor.of_user(agent),
                   idempotency_key=new_idempotency_key())  # fmt: skip
    waiting = refund_request(payment_id=payment.pk, amount=800_000, reason="goodwill", actor=Actor.of_user(agent),
                             idempotency_key=new_idempotency_key())  # fmt: skip
    Operation.objects.filter(pk=waiting.pk).update(created_at=timezone.now() - timedelta(hours=2))
    Operation.objects.create(
        payment=payment, kind="refund", amount=100, status=OperationStatus.UNKNOWN, idempotency_key="k-unknown",
        created_at=timezone.now() - timedelta(minutes=30),
    )  # fmt: skip
    from payments.tasks import expire

    expire.enqueue()

    after = scrape(client)
    requests = "django_http_requests_latency_seconds_by_view_method_count"
    assert value(after, requests, view="home", method="GET") == value(before, requests, view="home", method="GET") + 1
    calls = "backoffice_provider_call_seconds_count"
    refund = {"provider": "vipps", "operation": "refund", "outcome": "succeeded"}
    assert value(after, calls, **refund) == value(before, calls, **refund) + 1
    assert value(after, "backoffice_approval_queue_length") == 1
    assert 7_100 < value(after, "backoffice_approval_queue_oldest_age_seconds") < 7_300
    assert value(after, "backoffice_operations_unresolved") == 1
    assert 1_700 < value(after, "backoffice_operations_unresolved_oldest_age_seconds") < 1_900
    assert value(after, "backoffice_task_queue_depth") == 1
    assert value(after, "backoffice_task_worker_last_seen_age_seconds") == -1
