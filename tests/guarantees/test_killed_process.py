"""A process killed after committing an operation in flight, before the provider's answer:
reconciliation settles it, and the provider has moved the money exactly once."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from payments.models import Operation
from payments.statuses import OperationStatus

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("ledger_is_consistent")]

SCRIPT = Path(__file__).with_name("refund_in_subprocess.py")
ENV_NAMES = {
    "bambora": {"api_url": "BAMBORA_API_URL"},
    "optty": {"api_url": "OPTTY_API_URL", "auth_url": "OPTTY_AUTH_URL"},
    "simpleps": {"api_url": "SIMPLEPS_API_URL"},
    "vipps": {"api_url": "VIPPS_API_URL"},
}
CURRENCY = {"bambora": "EUR", "optty": "AUD", "simpleps": "USD", "vipps": "NOK"}


def subprocess_env():
    database = connection.settings_dict
    env = dict(os.environ)
    env["DATABASE_URL"] = (
        f"postgres://{database['USER']}:{database['PASSWORD'] or ''}@{database['HOST']}:"
        f"{database['PORT']}/{database['NAME']}"
    )
    env["PROVIDER_TIMEOUT"] = "60"
    for code, names in ENV_NAMES.items():
        for key, name in names.items():
            env[name] = settings.PROVIDERS[code][key]
    return env


@pytest.mark.parametrize("provider", list(CURRENCY))
@pytest.mark.parametrize("carried_out", [True, False], ids=["carried-out", "never-arrived"])
def test_a_killed_refund_is_settled_by_reconcile(provider, carried_out, make_payment, sandbox, sandbox_server,
                                                clock):
    payment = make_payment(provider, currency=CURRENCY[provider], amount=10_000, captured=10_000)
    sandbox.inject_fault(
        provider=provider, endpoint="refund", mode="late_answer" if carried_out else "timeout"
    )

    process = subprocess.Popen([sys.executable, str(SCRIPT), str(payment.pk), "2500"], env=subprocess_env())
    try:
        # The provider has the request: the operation is committed in flight, the answer pending.
        assert sandbox_server.sandbox.wait_for_requests(1, provider=provider, endpoint="refund", timeout=60)
        [operation] = Operation.objects.filter(payment=payment, kind="refund")
        assert operation.status == OperationStatus.IN_FLIGHT
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    # Until its deadline and a margin have passed, the call may still be running: it is left
    # alone. Then it is taken for abandoned and settled.
    call_command("reconcile")
    operation.refresh_from_db()
    assert operation.status == OperationStatus.IN_FLIGHT
    clock.advance(60 + settings.RECONCILE_IN_FLIGHT_MARGIN + 1)
    call_command("reconcile")

    operation.refresh_from_db()
    payment.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED, operation.failure_message
    assert payment.refunded == 2_500
    assert sandbox.payment(provider=provider, reference=payment.reference)["refunded"] == 2_500
