"""The task worker for real: `manage.py worker` working the database queue, as in production.
Exports are whole after it, and a worker killed mid-export leaves neither a second file nor a
second email once another has taken its tasks up."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from payments.models import Export, ExportStatus, Operation, OperationStatus, OutgoingEmail, TaskWorker
from payments.sandbox.server import provider_urls
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request
from payments.tasks import reconcile
from tests.backoffice.helpers import checked_rows, expected_rows, make_orders, make_varied_payments

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def database_queue(settings):
    """Tasks go to the database queue, for a worker to run, as in production."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def download(client, export):
    response = client.get(reverse("export_download", args=[export.pk]))
    assert response.status_code == 200
    return checked_rows(b"".join(response.streaming_content))


def wait_for(condition, what, seconds=60):
    """Until condition() is true (checked every 50 ms), for a process running beside the test."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"Gave up waiting for {what}."
        time.sleep(0.05)


def test_an_export_larger_than_one_read_is_queued_then_made_whole_by_the_worker(
    client, manager, database_queue, ledger_is_consistent
):
    # given more payments than one read of the export takes (2,000)
    refundable = make_varied_payments(2_600)
    manager.email = "manager@example.com"
    manager.save()
    client.force_login(manager)

    # when the manager asks: nothing is made in the request
    response = client.post(reverse("export_payments"))
    export = Export.objects.get()
    assert response.status_code == 302
    assert (export.status, export.file_name) == (ExportStatus.QUEUED, "")
    assert "Waiting for the task worker" in client.get(reverse("exports")).content.decode()

    call_command("worker", batch=True)

    # then the file holds every row, as the database has it, and says how many
    export.refresh_from_db()
    assert (export.status, export.rows_total, export.rows_done) == (ExportStatus.DONE, 2_600, 2_600)
    rows = download(client, export)
    assert rows == expected_rows(refundable)
    page = client.get(reverse("exports")).content.decode()
    assert "Download" in page and "2,600" in page
    # and the person who asked is told, once
    [email] = mail.outbox
    assert email.to == ["manager@example.com"]
    assert email.subject == "Your export of payments is ready (2,600 rows)"


def test_the_exports_page_shows_the_progress_of_an_export_under_way(client, manager):
    client.force_login(manager)
    Export.objects.create(
        kind="payments", requested_by=manager, selection={}, description="every order",
        status=ExportStatus.RUNNING, rows_total=1_199_921, rows_done=152_000,
    )  # fmt: skip

    page = client.get(reverse("exports")).content.decode()

    assert "152,000 of 1,199,921 rows" in page
    assert 'hx-trigger="every 2s"' in page  # asks again while it runs


def worker_env(exports_root):
    database = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="backoffice.settings",
        DATABASE_URL=f"postgres://{database['USER']}:{database['PASSWORD'] or ''}@{database['HOST']}:"
        f"{database['PORT']}/{database['NAME']}",
        EXPORTS_ROOT=str(exports_root),
        TASK_BACKEND="database",
        LOG_LEVEL="WARNING",
    )
    return env


@contextmanager
def held_at_its_next_progress(worker, export):
    """Once `worker` (a worker process) has begun `export`, hold the export's row until the
    worker waits for it at its next progress (after some of the rows, before the file is
    stored); the row is let go when the block ends."""
    wait_for(lambda: Export.objects.get(pk=export.pk).status == ExportStatus.RUNNING, "the export to begin")
    with transaction.atomic():
        Export.objects.select_for_update().get(pk=export.pk)
        wait_for(lambda: waiting_for_a_lock(worker.pid), "the worker to wait for the export's row")
        yield


def waiting_for_a_lock(pid):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] > 0


def test_a_worker_killed_mid_export_leaves_one_file_and_one_email(
    client, manager, database_queue, exports_root, settings
):
    make_orders(6_000)
    manager.email = "manager@example.com"
    manager.save()
    client.force_login(manager)
    client.post(reverse("export_payments"))
    export = Export.objects.get()

    worker = subprocess.Popen(
        [sys.executable, "manage.py", "worker", "--interval", "0.1"], cwd=ROOT, env=worker_env(exports_root)
    )
    try:
        with held_at_its_next_progress(worker, export):
            worker.send_signal(signal.SIGKILL)
            worker.wait()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    export.refresh_from_db()
    assert export.status == ExportStatus.RUNNING and export.rows_done < 6_000
    [lost] = DBTaskResult.objects.running()
    assert not list(exports_root.rglob("*.csv"))

    # Another worker finds the first one lost (its heartbeat is older than WORKER_LOST_SECONDS)
    # and runs its task again.
    settings.WORKER_LOST_SECONDS = 0
    call_command("worker", batch=True)

    export.refresh_from_db()
    assert export.status == ExportStatus.DONE
    assert [path.name for path in exports_root.rglob("*.csv")] == [export.download_name]
    assert len(download(client, export)) == 6_000
    lost.refresh_from_db()
    assert lost.status == "SUCCESSFUL" and len(lost.worker_ids) == 2
    assert len(mail.outbox) == 1
    assert OutgoingEmail.objects.get().key == f"export-ready:{export.pk}"

    # A third run of the same task (its worker lost once more after it had finished) makes
    # nothing again.
    from payments.tasks import export_make, export_ready_email

    export_make.call(export_id=export.pk)
    export_ready_email.call(export_id=export.pk)
    assert [path.name for path in exports_root.rglob("*.csv")] == [export.download_name]
    assert len(mail.outbox) == 1
    assert TaskWorker.objects.count() == 2


def test_an_export_whose_worker_is_lost_is_made_though_its_last_progress_is_recent(
    client, manager, database_queue, exports_root, settings
):
    # given a worker not heard of for longer than WORKER_LOST_SECONDS, whose export moved on
    # more recently than that (progress comes every few thousand rows, the worker's heartbeat
    # every few seconds: the export's is the fresher)
    settings.WORKER_LOST_SECONDS = 60
    make_orders(10)
    client.force_login(manager)
    client.post(reverse("export_payments"))
    export = Export.objects.get()
    now = timezone.now()
    TaskWorker.objects.create(worker_id="lost", hostname="gone", pid=1, started_at=now - timedelta(hours=1),
                              seen_at=now - timedelta(seconds=65))  # fmt: skip
    DBTaskResult.objects.update(status="RUNNING", worker_ids=["lost"], started_at=now - timedelta(minutes=5))
    Export.objects.filter(pk=export.pk).update(
        status=ExportStatus.RUNNING, attempt=1, rows_done=4, heartbeat_at=now - timedelta(seconds=30)
    )

    # when another worker takes the lost one's task up
    call_command("worker", batch=True)

    # then it makes the export, rather than wait for a run that is gone
    export.refresh_from_db()
    assert (export.status, export.attempt) == (ExportStatus.DONE, 2)
    assert len(download(client, export)) == 10


def test_a_stalled_worker_taken_over_stops_and_leaves_the_finished_file_alone(
    client, manager, database_queue, exports_root, settings
):
    make_orders(6_000)
    client.force_login(manager)
    client.post(reverse("export_payments"))
    export = Export.objects.get()
    stalled = subprocess.Popen(
        [sys.executable, "manage.py", "worker", "--interval", "0.1"], cwd=ROOT, env=worker_env(exports_root)
    )
    try:
        # Stopped there (a paused machine), its progress then let through.
        with held_at_its_next_progress(stalled, export):
            stalled.send_signal(signal.SIGSTOP)

        # Another worker gives it up for lost and makes the export.
        settings.WORKER_LOST_SECONDS = 0
        call_command("worker", batch=True)
        export.refresh_from_db()
        assert (export.status, export.attempt) == (ExportStatus.DONE, 2)

        # The stalled one wakes up, finds the export taken over, and stops (told to stop once,
        # the worker finishes what it is doing first).
        stalled.send_signal(signal.SIGCONT)
        stalled.send_signal(signal.SIGTERM)
        assert stalled.wait(60) == 0
    finally:
        if stalled.poll() is None:
            stalled.send_signal(signal.SIGCONT)
            stalled.kill()
            stalled.wait()

    export.refresh_from_db()
    assert (export.status, export.attempt, export.rows_total) == (ExportStatus.DONE, 2, 6_000)
    assert [path.relative_to(exports_root).as_posix() for path in exports_root.rglob("*.csv")] == [export.file_name]
    assert len(download(client, export)) == 6_000


def test_an_export_whose_task_is_lost_altogether_is_queued_again_by_the_periodic_expiry(
    client, manager, database_queue, exports_root
):
    # given an export left running by a run that stopped moving it long ago, and no task left
    # to run it (a broker's job lost with its worker, say)
    make_orders(10)
    client.force_login(manager)
    client.post(reverse("export_payments"))
    export = Export.objects.get()
    DBTaskResult.objects.all().delete()
    Export.objects.filter(pk=export.pk).update(
        status=ExportStatus.RUNNING, attempt=1, rows_done=4, heartbeat_at=timezone.now() - timedelta(minutes=61)
    )

    call_command("enqueue", "expire")
    call_command("enqueue", "expire")  # a second expiry before a worker takes the export up
    call_command("worker", batch=True)  # the expiries queue the export again, once ...
    assert DBTaskResult.objects.filter(task_path="payments.tasks.export_make").count() == 1
    call_command("worker", batch=True)  # ... and a worker makes it

    export.refresh_from_db()
    assert (export.status, export.attempt) == (ExportStatus.DONE, 2)
    assert len(download(client, export)) == 10


class SwallowingSmtp(threading.Thread):
    """A mail server that takes a message and then never confirms it: the sender waits, as
    one does when killed between handing over an email and hearing that it went."""

    def __init__(self):
        super().__init__(daemon=True)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.messages = []
        self.received = threading.Event()

    def run(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as lines:
                conn.sendall(b"220 test\r\n")
                for line in lines:
                    command = line[:4].upper()
                    if command == b"DATA":
                        conn.sendall(b"354 go on\r\n")
                        body = b"".join(iter(lines.readline, b".\r\n"))
                        self.messages.append(body)
                        self.received.set()
                        lines.read()  # no answer: wait until the sender is gone
                        break
                    conn.sendall(b"221 bye\r\n" if command == b"QUIT" else b"250 ok\r\n")

    def stop(self):
        self.listener.close()


def test_a_worker_killed_while_sending_an_email_does_not_send_it_twice(
    agent, make_user, make_payment, database_queue, exports_root, settings
):
    make_user("boss", group="Managers", email="boss@example.com")
    payment = make_payment("vipps", currency="NOK", amount=1_000_000, captured=1_000_000)
    server = SwallowingSmtp()
    server.start()
    refund_request(payment_id=payment.pk, amount=900_000, reason="goodwill", actor=Actor.of_user(agent),
                   idempotency_key=new_idempotency_key())  # fmt: skip
    env = {**worker_env(exports_root), "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
           "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(server.port)}  # fmt: skip
    worker = subprocess.Popen([sys.executable, "manage.py", "worker", "--interval", "0.1"], cwd=ROOT, env=env)
    try:
        assert server.received.wait(60), "The worker sent no email."
    finally:
        worker.kill()
        worker.wait()
        server.stop()

    settings.WORKER_LOST_SECONDS = 0
    call_command("worker", batch=True)

    [task] = DBTaskResult.objects.filter(task_path="payments.tasks.approval_request_email")
    assert task.status == "SUCCESSFUL" and len(task.worker_ids) == 2
    assert len(server.messages) == 1 and b"Approve or reject it here" in server.messages[0]
    assert mail.outbox == []
    email = OutgoingEmail.objects.get()
    assert email.recipients == ["boss@example.com"]
    assert email.sent_at is None  # begun, never confirmed: not sent again


def test_the_timer_queues_the_periodic_tasks_and_the_worker_runs_them(
    agent, make_user, make_payment, database_queue, settings, capsys
):
    make_user("boss", group="Managers")
    payment = make_payment("vipps", currency="NOK", amount=1_000_000, captured=1_000_000)
    request = refund_request(payment_id=payment.pk, amount=900_000, reason="goodwill", actor=Actor.of_user(agent),
                             idempotency_key=new_idempotency_key())  # fmt: skip
    settings.REFUND_APPROVAL_EXPIRY_DAYS = 0  # the request has waited long enough

    call_command("enqueue", "reconcile", "expire", "sync_payments")
    queued = set(DBTaskResult.objects.ready().values_list("task_path", flat=True))
    call_command("worker", batch=True)

    assert {"payments.tasks.reconcile", "payments.tasks.expire", "payments.tasks.sync_payments"} <= queued
    results = {result.task_path: result for result in DBTaskResult.objects.all()}
    assert {path: result.status for path, result in results.items() if path in queued} == dict.fromkeys(
        queued, "SUCCESSFUL"
    )
    assert results["payments.tasks.expire"].return_value == {"refund_requests": 1, "exports": 0, "exports_queued_again": 0}
    request.refresh_from_db()
    assert request.status == "expired"
    payment.refresh_from_db()
    assert payment.synced_at is not None


def test_two_workers_never_check_one_payment_at_once(
    make_payment, sandbox, sandbox_server, database_queue, exports_root, settings
):
    # given: a refund Bambora never got (its outcome unknown to us), its call long over
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    sandbox.inject_fault(provider="bambora", endpoint="refund", mode="error", status=503)
    operation = refund_request(payment_id=payment.pk, amount=2_500, reason="goodwill",
                               actor=Actor.system("tests"), idempotency_key=new_idempotency_key())  # fmt: skip
    assert operation.status == OperationStatus.UNKNOWN
    Operation.objects.filter(pk=operation.pk).update(deadline=timezone.now() - timedelta(hours=1))
    sandbox.clear_requests()
    # and the first read of the payment held by Bambora until the test lets it go
    sandbox.inject_fault(provider="bambora", endpoint="fetch", mode="held")

    # when: the timer queues reconciliation twice and two workers take one each
    reconcile.enqueue()
    reconcile.enqueue()
    urls = provider_urls(sandbox_server.base_url)
    env = {**worker_env(exports_root), "BAMBORA_API_URL": urls["bambora"]["api_url"]}
    workers = [
        subprocess.Popen([sys.executable, "manage.py", "worker", "--interval", "0.1"], cwd=ROOT, env=env)
        for _ in range(2)
    ]
    try:
        assert sandbox_server.sandbox.wait_for_held(1, provider="bambora", endpoint="fetch")
        tasks = DBTaskResult.objects.filter(task_path="payments.tasks.reconcile")
        wait_for(lambda: tasks.filter(status="SUCCESSFUL").count() == 1, "the second worker's check")

        # then: the second worker, finding the payment being checked, asked nothing and changed nothing
        assert tasks.get(status="SUCCESSFUL").return_value == {"resolved": 0, "open": 1}
        assert [r["endpoint"] for r in sandbox.requests("bambora")] == ["fetch"]
        operation.refresh_from_db()
        assert operation.status == OperationStatus.UNKNOWN

        # and the first, once Bambora answers, sends the refund again, once
        sandbox.release()
        wait_for(lambda: tasks.filter(status="SUCCESSFUL").count() == 2, "the first worker's check")
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert [r["endpoint"] for r in sandbox.requests("bambora")] == ["fetch", "refund"]
    assert sandbox.payment(provider="bambora", reference=payment.reference)["refunded"] == 2_500
