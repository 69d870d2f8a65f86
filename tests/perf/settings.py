"""The benchmark's settings: the test settings (fake credentials for the sandbox), with the
database connections kept open between requests as in production (the test settings close
them after each request), and tasks queued in the database for the task worker, as in
production (the test settings run them where they are queued)."""

from tests.settings import *  # noqa: F403

DATABASES["default"]["CONN_MAX_AGE"] = 60  # noqa: F405
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
