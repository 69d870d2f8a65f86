"""Access and production settings: lockouts, idle sessions, CSRF, headers, deploy checks."""

import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from gunicorn.config import Config

from payments.models import AuditEvent, Export, Operation, Payment
from payments.services.audit import Actor
from payments.services.ledger import new_idempotency_key
from payments.services.refunds import refund_request
from payments.statuses import OperationStatus
from tests.backoffice.helpers import production_env

ROOT = Path(__file__).resolve().parents[2]
OPTTY_SECRET = "test-optty-webhook-secret"

pytestmark = pytest.mark.django_db


def test_a_session_ends_after_the_idle_time(client, agent, settings, monkeypatch):
    settings.SESSION_COOKIE_AGE = 30 * 60
    start = timezone.now()
    client.post(reverse("login"), {"username": "agent", "password": "correct horse battery"})
    assert client.get(reverse("home")).status_code == 200

    monkeypatch.setattr(timezone, "now", lambda: start + timedelta(minutes=25))
    assert client.get(reverse("home")).status_code == 200  # activity pushes the end back

    monkeypatch.setattr(timezone, "now", lambda: start + timedelta(minutes=50))
    assert client.get(reverse("home")).status_code == 200

    monkeypatch.setattr(timezone, "now", lambda: start + timedelta(minutes=81))
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def _everything():
    """What a POST could change: operations, payments, the audit log."""
    return (
        list(Operation.objects.order_by("pk").values_list("pk", "status", "amount", "decided_by")),
        list(Payment.objects.order_by("pk").values_list("pk", "captured", "cancelled", "refunded", "synced_at")),
        AuditEvent.objects.count(),
    )


DESK_POSTS = ["refund", "cancel", "check", "approve", "reject", "withdraw", "logout"]


@pytest.mark.parametrize("name", DESK_POSTS)
def test_every_desk_post_without_a_csrf_token_is_refused_and_changes_nothing(name, agent, manager, make_payment, sandbox):
    captured = make_payment("bambora", currency="EUR", amount=100_000, captured=100_000)
    authorized = make_payment("bambora", currency="EUR", amount=100_000)
    waiting = refund_request(payment_id=captured.pk, amount=90_000, reason="goodwill", actor=Actor.of_user(agent),
                             idempotency_key=new_idempotency_key())
    assert waiting.status == OperationStatus.AWAITING_APPROVAL
    user, url, data = {
        "refund": (agent, reverse("refund", args=[captured.pk]), {
            f"refund-{captured.pk}-amount": "10.00", f"refund-{captured.pk}-reason": "goodwill",
            f"refund-{captured.pk}-idempotency_key": new_idempotency_key()}),
        "cancel": (agent, reverse("cancel", args=[authorized.pk]), {f"cancel-{authorized.pk}-expected_amount": "100000"}),
        "check": (agent, reverse("check", args=[captured.pk]), {}),
        "approve": (manager, reverse("approve", args=[waiting.pk]), {}),
        "reject": (manager, reverse("reject", args=[waiting.pk]), {f"reject-{waiting.pk}-note": "No."}),
        "withdraw": (agent, reverse("withdraw", args=[waiting.pk]), {}),
        "logout": (agent, reverse("logout"), {}),
    }[name]
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get(reverse("home")).status_code == 200  # signed in
    sandbox.clear_requests()
    before = _everything()

    response = client.post(url, data)

    assert response.status_code == 403
    assert "CSRF verification failed" in response.content.decode()
    assert _everything() == before
    assert sandbox.requests() == []
    assert client.get(reverse("home")).status_code == 200  # still signed in


def test_pages_carry_the_security_headers(client, agent):
    client.force_login(agent)

    response = client.get(reverse("home"))

    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def _manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_production_settings_pass_the_deploy_check():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_its_secrets():
    result = _manage("check", env=production_env(SECRET_KEY=None, VIPPS_CLIENT_SECRET=None))

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    # Only the providers in use need credentials; each missing one is named.
    result = _manage("check", env=production_env(VIPPS_CLIENT_SECRET=None))
    assert "Missing settings for production (DEBUG is off): VIPPS_CLIENT_SECRET" in result.stderr
    result = _manage("check", env=production_env(VIPPS_CLIENT_SECRET=None, PAYMENT_PROVIDERS="bambora,optty,simpleps"))
    assert result.returncode == 0, result.stderr


def test_the_commands_that_read_only_the_code_need_no_secrets(tmp_path):
    # A bare checkout: no SECRET_KEY, no hosts, no provider credentials.
    bare = production_env(SECRET_KEY=None, ALLOWED_HOSTS=None, VIPPS_CLIENT_SECRET=None,
                          DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")  # fmt: skip

    result = _manage("makemigrations", "--check", "--dry-run", env=bare)

    assert result.returncode == 0, result.stderr
    assert "No changes detected" in result.stdout
    # Anything else still refuses to start without them.
    assert "SECRET_KEY" in _manage("migrate", env=bare).stderr


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def records_of():
    """records_of(name): the records that reach handlers of logger `name` from now on."""
    attached = []

    def attach(name):
        handler = ListHandler()
        logging.getLogger(name).addHandler(handler)
        attached.append((name, handler))
        return handler.records

    yield attach
    for name, handler in attached:
        logging.getLogger(name).removeHandler(handler)


def test_failing_requests_at_the_optty_webhook_keep_its_secret_out_of_the_log(client, records_of):
    records = records_of("django.request")

    assert client.get(f"/webhooks/optty/{OPTTY_SECRET}/").status_code == 405
    assert client.post(f"/webhooks/optty/{OPTTY_SECRET}/", b" " * 70_000, content_type="application/json").status_code == 413
    assert client.post(f"/webhooks/optty/{OPTTY_SECRET[:-1]}/", b"{}", content_type="application/json").status_code == 404

    assert [record.status_code for record in records] == [405, 413, 404]
    for record in records:
        assert "/webhooks/optty/********/" in record.getMessage()
        assert OPTTY_SECRET[:-1] not in record.getMessage()  # neither the secret nor a near miss
        assert record.request is None  # a report (mail_admins) would print its full URL


def test_runserver_request_lines_keep_the_secret_out_of_the_log(records_of):
    records = records_of("django.server")

    logging.getLogger("django.server").warning('"%s" %s %s', f"POST /webhooks/optty/{OPTTY_SECRET}/ HTTP/1.1", "404", "0")

    [record] = records
    assert record.getMessage() == '"POST /webhooks/optty/********/ HTTP/1.1" 404 0'


def test_gunicorn_s_access_log_keeps_the_secret_out_with_our_logger_class(records_of):
    from backoffice.log_filters import GunicornLogger

    config = Config()
    config.set("accesslog", os.devnull)
    config.set("errorlog", os.devnull)
    gunicorn_logger = GunicornLogger(config)
    records = records_of("gunicorn.access")
    environ = {"REQUEST_METHOD": "POST", "RAW_URI": f"/webhooks/optty/{OPTTY_SECRET}/?x=1",
               "PATH_INFO": f"/webhooks/optty/{OPTTY_SECRET}/", "SERVER_PROTOCOL": "HTTP/1.1"}

    try:
        gunicorn_logger.access(SimpleNamespace(status="500 Internal Server Error", sent=0, headers=[]),
                               SimpleNamespace(headers=[]), environ, timedelta(milliseconds=3))
    finally:
        for log in (gunicorn_logger.error_log, gunicorn_logger.access_log):
            for handler in list(log.handlers):
                if getattr(handler, "_gunicorn", False):
                    log.removeHandler(handler)
                    handler.close()
            log.filters.clear()

    [record] = records
    assert '"POST /webhooks/optty/********/?x=1 HTTP/1.1" 500' in record.getMessage()
    assert OPTTY_SECRET not in record.getMessage()


@pytest.mark.parametrize(
    ("url_name", "argument", "htmx"),
    [("home", None, False), ("order", "order", False), ("payment_card", "payment", True),
     ("approvals", None, False), ("exports", None, False), ("login", None, False)],
)
def test_desk_pages_are_never_cached(client, manager, make_payment, url_name, argument, htmx):
    payment = make_payment("bambora", currency="EUR", at_provider=False)
    client.force_login(manager)
    args = {"order": [payment.order_id], "payment": [payment.pk], None: []}[argument]

    response = client.get(reverse(url_name, args=args), headers={"HX-Request": "true"} if htmx else {})

    assert response.status_code == 200
    assert {"no-store", "private"} <= {part.strip() for part in response["Cache-Control"].split(",")}


def test_downloads_are_never_cached(client, manager, make_payment, django_capture_on_commit_callbacks):
    make_payment("bambora", currency="EUR", at_provider=False)
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("export_payments"))

    response = client.get(reverse("export_download", args=[Export.objects.get().pk]))

    assert response.status_code == 200
    assert {"no-store", "private"} <= {part.strip() for part in response["Cache-Control"].split(",")}
