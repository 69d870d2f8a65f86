"""Access and production settings: lockouts, idle sessions, CSRF, headers, deploy checks."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from payments.models import AuditAction, AuditEvent, Operation
from payments.services.ledger import new_idempotency_key

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


def test_repeated_failed_logins_lock_the_username_out(client, agent, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        client.post(reverse("login"), {"username": "agent", "password": "guess"})

    response = client.post(reverse("login"), {"username": "agent", "password": "correct horse battery"})

    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN_LOCKED_OUT, actor_label="anonymous (agent)").exists()
    assert AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED).count() >= 3


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


def test_a_post_without_csrf_token_is_refused_and_changes_nothing(make_user, make_payment, sandbox):
    from django.test import Client

    make_user("csrf-agent", group="Support agents")
    payment = make_payment("bambora", currency="EUR", amount=10_000, captured=10_000)
    client = Client(enforce_csrf_checks=True)
    client.post(reverse("login"), {"username": "csrf-agent", "password": "correct horse battery"})

    response = client.post(
        reverse("refund", args=[payment.pk]),
        {f"refund-{payment.pk}-amount": "10.00", f"refund-{payment.pk}-reason": "goodwill",
         f"refund-{payment.pk}-idempotency_key": new_idempotency_key()},
    )

    assert response.status_code == 403
    assert not Operation.objects.filter(kind="refund").exists()
    assert sandbox.requests("bambora") == []


def test_pages_carry_the_security_headers(client, agent):
    client.force_login(agent)

    response = client.get(reverse("home"))

    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def _production_env(**overrides):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BAMBORA_", "OPTTY_", "SIMPLEPS_", "VIPPS_", "SECURE_", "DJANGO_"))
        and key not in {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DATABASE_URL"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="backoffice.settings",
        DEBUG="false",
        SECRET_KEY="k3#Rz8!pQw2@Lm5^Tn7&Vb9*Xc1(Yd4)Ze6_Af0+Gh3-Ji8=Ku2~Lo5",
        ALLOWED_HOSTS="backoffice.example.com",
        DATABASE_URL="sqlite:////tmp/deploy-check.sqlite3",
        BAMBORA_MERCHANT_NUMBER="P1", BAMBORA_MERCHANT_TOKEN="t", BAMBORA_MERCHANT_SECRET="s",
        OPTTY_CLIENT_ID="c", OPTTY_CLIENT_SECRET="s",
        SIMPLEPS_CLIENT_ID="c", SIMPLEPS_SECRET_ID="s",
        VIPPS_CLIENT_ID="c", VIPPS_CLIENT_SECRET="s", VIPPS_SUBSCRIPTION_KEY="k",
        VIPPS_MERCHANT_SERIAL_NUMBER="1",
    )
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


def _manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_production_settings_pass_the_deploy_check():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=_production_env())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_its_secrets():
    result = _manage("check", env=_production_env(SECRET_KEY=None, VIPPS_CLIENT_SECRET=None))

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    # Only the providers in use need credentials; each missing one is named.
    result = _manage("check", env=_production_env(VIPPS_CLIENT_SECRET=None))
    assert "Missing settings for production (DEBUG is off): VIPPS_CLIENT_SECRET" in result.stderr
    result = _manage("check", env=_production_env(VIPPS_CLIENT_SECRET=None, PAYMENT_PROVIDERS="bambora,optty,simpleps"))
    assert result.returncode == 0, result.stderr
