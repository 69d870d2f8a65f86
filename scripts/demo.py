"""`make demo`: migrate, start the provider sandbox, seed demo data, start the task worker, serve
the app, and once it answers, print the logins: last, where they stay in sight.

The demo's database (SQLite by default) and the sandbox's state file belong together: when
one of them is missing, both start afresh, so that the sandbox always knows the demo's
payments. DEMO_SANDBOX_STATE puts the state file elsewhere (the tests' demo does, beside its
own database).
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PORT = os.environ.get("PORT", "8000")
SANDBOX_PORT = os.environ.get("SANDBOX_PORT", "8001")
STATE = Path(os.environ.get("DEMO_SANDBOX_STATE", ROOT / ".sandbox-state.json"))
SQLITE = ROOT / "db.sqlite3"

LOGINS = """
Demo logins (http://127.0.0.1:{port}/):
  agent    / agent-demo     support agent: search, refund, cancel
  agent2   / agent2-demo    another support agent
  manager  / manager-demo   manager: also approves refunds of others
  manager2 / manager2-demo  another manager, to approve the first one's requests
  auditor  / auditor-demo   auditor: read-only Django admin at /admin/
  admin    / admin-demo     superuser: Django admin (the ledger stays read-only; no desk actions)
Provider sandbox: http://127.0.0.1:{sandbox_port}/; the task worker runs exports and emails.
(Ctrl-C stops them all)
"""


def manage(*args, **kwargs):
    return subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, check=True, **kwargs)


def wait_for_port(port, process, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit("The provider sandbox did not start; see its output above.")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", int(port))) == 0:
                return
        time.sleep(0.1)
    sys.exit(f"The provider sandbox did not open port {port} in {seconds} seconds.")


def wait_for_app(port, process, seconds=30):
    """Until the app serves. runserver prints its start-up messages before it serves, so by
    then they are out. The probe sends no request: it is served by closing the connection,
    which logs nothing (a request would add a line just above the logins)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit("The app did not start; see its output above.")
        try:
            with socket.create_connection(("127.0.0.1", int(port)), timeout=1) as probe:
                probe.shutdown(socket.SHUT_WR)
                if probe.recv(1) == b"":
                    return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"The app did not answer on port {port} in {seconds} seconds.")


def stop(process):
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def main():
    # Stopped with `kill` as with Ctrl-C: the app, the worker and the sandbox stop too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.demo_settings")
    os.environ["PORT"], os.environ["SANDBOX_PORT"] = PORT, SANDBOX_PORT
    # Each process writes as it goes, so that the console reads in the order things happen.
    os.environ["PYTHONUNBUFFERED"] = "1"
    using_sqlite = not os.environ.get("DATABASE_URL")
    if using_sqlite and SQLITE.exists() != STATE.exists():
        SQLITE.unlink(missing_ok=True)
        STATE.unlink(missing_ok=True)
    manage("migrate", "--no-input", stdout=subprocess.DEVNULL)
    processes = []
    try:
        sandbox = subprocess.Popen(
            [PYTHON, "manage.py", "sandbox", "--port", SANDBOX_PORT, "--state", str(STATE)],
            cwd=ROOT,
        )
        processes.append(sandbox)
        wait_for_port(SANDBOX_PORT, sandbox)
        manage("seed_demo")
        worker = subprocess.Popen([PYTHON, "manage.py", "worker"], cwd=ROOT)
        processes.append(worker)
        app = subprocess.Popen(
            [PYTHON, "manage.py", "runserver", f"127.0.0.1:{PORT}", "--noreload"], cwd=ROOT
        )
        processes.append(app)
        wait_for_app(PORT, app)
        print(LOGINS.format(port=PORT, sandbox_port=SANDBOX_PORT), flush=True)
        app.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for process in reversed(processes):
            stop(process)


if __name__ == "__main__":
    main()
