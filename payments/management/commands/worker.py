"""`manage.py worker`: the task worker. Runs the queued tasks (payments.tasks) of the configured
backend, and beats the heartbeat that /readyz and the other workers read."""

import logging
import os
import signal
import socket
import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import DatabaseError, connection
from django.utils.crypto import get_random_string
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.management.commands.db_worker import Worker

from payments.services.workers import lost_tasks_requeue, worker_seen

logger = logging.getLogger("payments")


def _database_queue():
    return isinstance(task_backends[DEFAULT_TASK_BACKEND_ALIAS], DatabaseBackend)


class Heartbeat(threading.Thread):
    """Says the worker is alive, and hands on the tasks of lost workers, every
    WORKER_HEARTBEAT_SECONDS, on a database connection of its own."""

    def __init__(self, worker_id):
        super().__init__(name="heartbeat", daemon=True)
        self.worker_id = worker_id
        self.stopped = threading.Event()

    def beat(self):
        worker_seen(worker_id=self.worker_id, hostname=socket.gethostname(), pid=os.getpid())
        if _database_queue():
            lost_tasks_requeue(by_worker_id=self.worker_id)

    def run(self):
        try:
            while not self.stopped.wait(settings.WORKER_HEARTBEAT_SECONDS):
                try:
                    self.beat()
                except DatabaseError:
                    logger.warning("worker_heartbeat_failed worker=%s", self.worker_id, exc_info=True)
                    connection.close()
        finally:
            connection.close()

    def stop(self):
        self.stopped.set()
        self.join()


class Command(BaseCommand):
    help = (
        "Run the background tasks (exports, emails, reconciliation, expiry, sync) as they are "
        "queued, until stopped (SIGTERM or Ctrl-C let the task under way finish). Run one or "
        "more, on one machine or several."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch", action="store_true", help="Run the tasks queued now, then stop."
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="Seconds between looks at an empty database queue (default 1).",
        )

    def handle(self, *args, batch, interval, **options):
        worker_id = f"{socket.gethostname()[:40]}-{os.getpid()}-{get_random_string(8)}"
        heartbeat = Heartbeat(worker_id)
        heartbeat.beat()  # before the first task: lost workers' tasks are queued again first
        heartbeat.start()
        self.stdout.write(f"Task worker {worker_id} started ({settings.TASK_BACKEND} queue).")
        try:
            if _database_queue():
                self._database_queue(worker_id=worker_id, batch=batch, interval=interval)
            else:
                call_command("rqworker", "default", job_class="django_tasks_rq.Job", burst=batch, name=worker_id)
        finally:
            heartbeat.stop()

    def _database_queue(self, *, worker_id, batch, interval):
        worker = Worker(
            queue_names=["default"],
            interval=interval,
            batch=batch,
            backend_name=DEFAULT_TASK_BACKEND_ALIAS,
            startup_delay=False,
            max_tasks=None,
            worker_id=worker_id,
            excluded_queue_names=[],
        )
        if batch:
            worker.run()
            return
        # django-tasks-db's handling: the first SIGTERM or Ctrl-C lets the task under way end.
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        worker.configure_signals()
        try:
            worker.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
