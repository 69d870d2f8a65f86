"""Several processes serving at once, as in production (gunicorn workers, or several
machines): nothing that must be shared lives in one process's memory. Sessions are in the
database and the payment locks are PostgreSQL's, so money still moves only once."""

import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.db import connection
from django.urls import reverse

from payments.sandbox.server import provider_urls
from tests.guarantees.helpers import Person, at_once, refund_forms

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("ledger_is_consistent")]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def gunicorn(sandbox_server):
    """The app served by gunicorn with three worker processes, on the test database, its
    adapters pointed at the sandbox through the environment as in production."""
    db = connection.settings_dict
    urls = provider_urls(sandbox_server.base_url)
    # The socket listens before gunicorn starts (handed over as fd://): the first requests
    # wait in its backlog until a worker takes them.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "BAMBORA_API_URL": urls["bambora"]["api_url"],
        "OPTTY_API_URL": urls["optty"]["api_url"],
        "OPTTY_AUTH_URL": urls["optty"]["auth_url"],
        "SIMPLEPS_API_URL": urls["simpleps"]["api_url"],
        "VIPPS_API_URL": urls["vipps"]["api_url"],
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "backoffice.wsgi", "--workers", "3",
         "--bind", f"fd://{listener.fileno()}", "--log-level", "warning"],
        cwd=ROOT, env=env, pass_fds=[listener.fileno()],
    )
    yield SimpleNamespace(url=f"http://127.0.0.1:{listener.getsockname()[1]}")
    server.terminate()
    server.wait(timeout=30)
    listener.close()


def test_twenty_refunds_at_once_across_worker_processes_move_only_what_is_refundable(
    gunicorn, make_user, make_payment, sandbox
):
    # Bambora: Vipps would refuse most of them for its own reason, a rate limit per payment.
    payment = make_payment("bambora", currency="EUR", amount=50_000, captured=50_000)
    agents = [Person(gunicorn, make_user(group="Support agents")) for _ in range(20)]
    # Each session, stored in the database, works in any worker.
    forms = refund_forms(agents, payment, "50.00")

    responses = at_once(*[
        (lambda a=agent, p=page, d=data: a.post(reverse("refund", args=[payment.pk]), d, csrf_from=p))
        for agent, page, data in forms
    ])

    assert sorted(response.status_code for response in responses) == [302] * 10 + [422] * 10
    payment.refresh_from_db()
    assert payment.refunded == payment.captured == 50_000
    at_provider = sandbox.payment(provider="bambora", reference=payment.reference)
    assert at_provider["refunded"] == 50_000
    assert at_provider["operations"] == [{"kind": "refund", "amount": 5_000}] * 10
