"""`make demo`: migrate, start the provider sandbox, seed demo data, serve the app.

The demo's database (SQLite by default) and the sandbox's state file belong together: when
one of them is missing, both start afresh, so that the sandbox always knows the demo's
payments.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PORT = os.environ.get("PORT", "8000")
SANDBOX_PORT = os.environ.get("SANDBOX_PORT", "8001")
STATE = ROOT / ".sandbox-state.json"
SQLITE = ROOT / "db.sqlite3"

LOGINS = """
Demo logins (http://127.0.0.1:{port}/):
  agent    / agent-demo     support agent: search, refund, cancel
  agent2   / agent2-demo    another support agent
  manager  / manager-demo   manager: also approves refunds of others
  manager2 / manager2-demo  another manager, to approve the first one's requests
  auditor  / auditor-demo   auditor: read-only Django admin at /admin/
  admin    / admin-demo     superuser: Django admin (the ledger stays read-only)
Provider sandbox: http://127.0.0.1:{sandbox_port}/  (Ctrl-C stops both)
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


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.demo_settings")
    os.environ["PORT"], os.environ["SANDBOX_PORT"] = PORT, SANDBOX_PORT
    using_sqlite = not os.environ.get("DATABASE_URL")
    if using_sqlite and SQLITE.exists() != STATE.exists():
        SQLITE.unlink(missing_ok=True)
        STATE.unlink(missing_ok=True)
    manage("migrate", "--no-input", stdout=subprocess.DEVNULL)
    sandbox = subprocess.Popen(
        [PYTHON, "manage.py", "sandbox", "--port", SANDBOX_PORT, "--state", str(STATE)], cwd=ROOT
    )
    try:
        wait_for_port(SANDBOX_PORT, sandbox)
        manage("seed_demo")
        print(LOGINS.format(port=PORT, sandbox_port=SANDBOX_PORT), flush=True)
        manage("runserver", f"127.0.0.1:{PORT}", "--noreload")
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


if __name__ == "__main__":
    main()
