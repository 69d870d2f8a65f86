"""Settings for `make demo`: the real settings, with DEBUG on, the provider sandbox in place of
the providers, fake sandbox credentials and emails printed to the console. Values from the
environment (or .env) still win, so DATABASE_URL and PORT work as usual."""

import os

SANDBOX_URL = f"http://127.0.0.1:{os.environ.get('SANDBOX_PORT', '8001')}"

_demo = {
    "DEBUG": "true",
    "SECRET_KEY": "demo-only-not-a-secret",
    "SITE_URL": f"http://127.0.0.1:{os.environ.get('PORT', '8000')}",
    "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
    "PROVIDER_TIMEOUT": "5",
    # The demo's people are made a moment before anybody logs in: without this, `manager`
    # could approve nothing for a day (APPROVAL_COOLING_OFF_HOURS, README "Guarantees").
    "APPROVAL_COOLING_OFF_HOURS": "0",
    "BAMBORA_API_URL": f"{SANDBOX_URL}/bambora",
    "BAMBORA_MERCHANT_NUMBER": "P123456789",
    "BAMBORA_MERCHANT_TOKEN": "demo-bambora-token",
    "BAMBORA_MERCHANT_SECRET": "demo-bambora-secret",
    "OPTTY_API_URL": f"{SANDBOX_URL}/optty/api",
    "OPTTY_AUTH_URL": f"{SANDBOX_URL}/optty/auth",
    "OPTTY_CLIENT_ID": "demo-optty-client",
    "OPTTY_CLIENT_SECRET": "demo-optty-secret",
    "SIMPLEPS_API_URL": f"{SANDBOX_URL}/simpleps",
    "SIMPLEPS_CLIENT_ID": "demo-simpleps-client",
    "SIMPLEPS_SECRET_ID": "demo-simpleps-secret",
    "VIPPS_API_URL": f"{SANDBOX_URL}/vipps",
    "VIPPS_CLIENT_ID": "demo-vipps-client",
    "VIPPS_CLIENT_SECRET": "demo-vipps-secret",
    "VIPPS_SUBSCRIPTION_KEY": "demo-vipps-subscription",
    "VIPPS_MERCHANT_SERIAL_NUMBER": "212121",
    "VIPPS_WEBHOOK_SECRET": "demo-vipps-webhook-secret",
    "SIMPLEPS_WEBHOOK_SECRET": "demo-simpleps-webhook-secret",
    "OPTTY_WEBHOOK_SECRET": "demo-optty-webhook-secret",
}
for _name, _value in _demo.items():
    os.environ.setdefault(_name, _value)

from backoffice.settings import *  # noqa: E402,F403
