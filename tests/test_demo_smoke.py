"""`make demo`'s path on its own database engine, SQLite: migrate, the sandbox, seed_demo and
the app, as separate processes talking HTTP, then an agent's first steps."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def read_until(process, marker):
    """Lines of the process's output until one contains `marker` (the server is listening)."""
    lines = []
    for line in process.stdout:
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError("process ended before saying " + repr(marker) + ":\n" + "".join(lines))


@pytest.fixture
def demo(tmp_path):
    port, sandbox_port = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BAMBORA_", "OPTTY_", "SIMPLEPS_", "VIPPS_", "SECURE_"))
        and key not in {"DATABASE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="backoffice.demo_settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        PORT=str(port),
        SANDBOX_PORT=str(sandbox_port),
        PYTHONUNBUFFERED="1",
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--no-input"], cwd=ROOT, env=env, check=True, capture_output=True)
    processes = []
    try:
        sandbox = subprocess.Popen(
            [*manage, "sandbox", "--port", str(sandbox_port)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        processes.append(sandbox)
        read_until(sandbox, "Provider sandbox at")
        subprocess.run([*manage, "seed_demo"], cwd=ROOT, env=env, check=True, capture_output=True)
        app = subprocess.Popen(
            [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        processes.append(app)
        read_until(app, "Quit the server")
        yield f"http://127.0.0.1:{port}"
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


def token_in(html):
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)[1]


def test_an_agent_logs_in_finds_an_order_and_refunds(demo):
    agent = requests.Session()
    login = agent.get(f"{demo}/accounts/login/", timeout=10)
    agent.post(f"{demo}/accounts/login/", timeout=10, data={
        "username": "agent", "password": "agent-demo", "csrfmiddlewaretoken": token_in(login.text),
    }, headers={"Referer": f"{demo}/accounts/login/"})

    order = agent.get(f"{demo}/", params={"q": "DEMO-1002"}, timeout=10)
    assert order.status_code == 200 and "Order DEMO-1002" in order.text
    payment_id = re.search(r'id="payment-(\d+)"', order.text)[1]
    prefix = f"refund-{payment_id}"
    key = re.search(rf'name="{prefix}-idempotency_key" value="([^"]+)"', order.text)[1]

    refunded = agent.post(f"{demo}/payments/{payment_id}/refund/", timeout=30, data={
        f"{prefix}-amount": "99.00", f"{prefix}-reason": "goodwill", f"{prefix}-idempotency_key": key,
        "csrfmiddlewaretoken": token_in(order.text),
    }, headers={"Referer": f"{demo}/"})

    assert refunded.status_code == 200
    assert "Refunded 99.00\xa0NOK." in refunded.text
    for query in ("demo-10", "KARI@example.com", "demo-1016-vipps-1"):
        assert agent.get(f"{demo}/", params={"q": query}, timeout=10).status_code == 200


@pytest.fixture
def make_demo(tmp_path):
    """`make demo`'s script itself (scripts/demo.py), on a database and sandbox state of its
    own; yields its address and a function that stops it and returns everything it printed."""
    port, sandbox_port = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BAMBORA_", "OPTTY_", "SIMPLEPS_", "VIPPS_", "SECURE_"))
        and key not in {"DATABASE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        DEMO_SANDBOX_STATE=str(tmp_path / "sandbox-state.json"),
        PORT=str(port),
        SANDBOX_PORT=str(sandbox_port),
    )
    process = subprocess.Popen(
        [sys.executable, "scripts/demo.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    printed = read_until(process, "Ctrl-C stops them all")

    def stop():
        # Not SIGINT, which a shell without job control (CI) makes its background jobs ignore.
        process.terminate()
        rest, _ = process.communicate(timeout=30)
        assert process.returncode == 0
        return "".join(printed) + rest

    try:
        yield f"http://127.0.0.1:{port}", printed, stop
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_make_demo_prints_the_logins_last_and_keeps_the_console_calm(make_demo):
    # given: the demo has started
    url, printed, stop = make_demo
    start = "".join(printed)
    # the logins come after everything the app says on starting, where they stay in sight
    assert start.index("Quit the server") < start.index("Demo logins")
    assert start.rstrip().endswith("(Ctrl-C stops them all)")

    # when: an agent opens a page, its icon, and the managers' approvals (a 403)
    agent = requests.Session()
    login = agent.get(f"{url}/accounts/login/", timeout=10)
    agent.post(f"{url}/accounts/login/", timeout=10, data={
        "username": "agent", "password": "agent-demo", "csrfmiddlewaretoken": token_in(login.text),
    }, headers={"Referer": f"{url}/accounts/login/"})
    home = agent.get(f"{url}/", timeout=10)
    icon = re.search(r'<link rel="icon" href="([^"]+)"', home.text)[1]
    assert agent.get(f"{url}{icon}", timeout=10).status_code == 200
    assert agent.get(f"{url}/approvals/", timeout=10).status_code == 403
    output = stop()

    # then: the refusal is one line, and nothing else went wrong
    later = output[output.index("Ctrl-C stops them all"):]
    assert "Traceback" not in later
    assert later.count("Forbidden (Permission denied): /approvals/") == 1
    assert "Not Found" not in later


def test_make_demo_runs_the_task_worker_that_makes_exports(make_demo):
    url, _, stop = make_demo
    manager = requests.Session()
    login = manager.get(f"{url}/accounts/login/", timeout=10)
    manager.post(f"{url}/accounts/login/", timeout=10, data={
        "username": "manager", "password": "manager-demo", "csrfmiddlewaretoken": token_in(login.text),
    }, headers={"Referer": f"{url}/accounts/login/"})
    home = manager.get(f"{url}/", timeout=10)

    queued = manager.post(f"{url}/exports/payments/", timeout=10, data={"csrfmiddlewaretoken": token_in(home.text)},
                          headers={"Referer": f"{url}/"})
    assert queued.status_code == 200 and "Export queued" in queued.text

    # The demo's worker makes it: the list offers the file once it is made.
    deadline = time.monotonic() + 60
    while "Download" not in (page := manager.get(f"{url}/exports/", timeout=10).text):
        assert time.monotonic() < deadline, "The demo's task worker did not make the export."
        time.sleep(0.2)
    link = re.search(r'href="(/exports/\d+/download/)"', page)[1]
    body = manager.get(f"{url}{link}", timeout=10).content
    assert body.rstrip().split(b"\n")[-1].startswith(b"# rows=")
    stop()
