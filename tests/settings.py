"""Settings for the test suite: the real settings, with fake credentials for the sandbox."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-not-a-secret")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
# The test servers speak plain HTTP.
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SECURE_COOKIES", "false")
os.environ.setdefault("SECURE_HSTS_SECONDS", "0")
os.environ.setdefault("BAMBORA_MERCHANT_NUMBER", "T000000001")
os.environ.setdefault("BAMBORA_MERCHANT_TOKEN", "test-token")
os.environ.setdefault("BAMBORA_MERCHANT_SECRET", "test-bambora-secret")
os.environ.setdefault("OPTTY_CLIENT_ID", "test-optty-client")
os.environ.setdefault("OPTTY_CLIENT_SECRET", "test-optty-secret")
os.environ.setdefault("SIMPLEPS_CLIENT_ID", "test-simpleps-client")
os.environ.setdefault("SIMPLEPS_SECRET_ID", "test-simpleps-secret")
os.environ.setdefault("VIPPS_CLIENT_ID", "test-vipps-client")
os.environ.setdefault("VIPPS_CLIENT_SECRET", "test-vipps-secret")
os.environ.setdefault("VIPPS_SUBSCRIPTION_KEY", "test-vipps-subscription")
os.environ.setdefault("VIPPS_MERCHANT_SERIAL_NUMBER", "123456")
os.environ.setdefault("VIPPS_WEBHOOK_SECRET", "test-vipps-webhook-secret")
os.environ.setdefault("SIMPLEPS_WEBHOOK_SECRET", "test-simpleps-webhook-secret")
os.environ.setdefault("OPTTY_WEBHOOK_SECRET", "test-optty-webhook-secret")

from backoffice.settings import *  # noqa: E402,F403

# The live test server handles each request in a thread of its own: connections must close at
# the end of each request, or the test database cannot be dropped afterwards.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tasks run where they are queued (once the transaction commits), so that a test sees their
# effect; the tests of the worker itself (tests/payments/test_tasks.py) use the database queue.
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
# The tests' people are made a moment before they act: the cooling-off's own tests set it.
APPROVAL_COOLING_OFF_HOURS = 0

# Serve static files from the source folders, as in development: no collectstatic for tests.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":  # noqa: F405
    raise RuntimeError(
        "The test suite runs on PostgreSQL: use `make test`, which starts a throwaway server, "
        "or set DATABASE_URL to a PostgreSQL database."
    )
