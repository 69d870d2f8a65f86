"""A client of the sandbox's control API (see payments.sandbox.server), for demo data and tests."""

from urllib.parse import quote

import requests


class SandboxClient:
    def __init__(self, base_url, *, timeout=10):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def _call(self, method, path, payload=None):
        response = self.session.request(
            method, f"{self.base_url}/_sandbox/{path}", json=payload, timeout=self.timeout
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def reset(self):
        self._call("POST", "reset")

    def create_payment(self, *, provider, reference, currency, amount, **more):
        """Set up a payment at the provider; `more` holds captured, refunded, cancelled (minor
        units) and the simulator's own options."""
        payload = {"provider": provider, "reference": reference, "currency": currency}
        return self._call("POST", "payments", {**payload, "amount": amount, **more})

    def payment(self, *, provider, reference):
        return self._call("GET", f"payments/{provider}/{quote(reference, safe='')}")

    def portal(self, *, provider, reference, kind, amount):
        payload = {"provider": provider, "reference": reference, "kind": kind, "amount": amount}
        return self._call("POST", "portal", payload)

    def advance(self, *, provider, reference, outcome="succeeded"):
        payload = {"provider": provider, "reference": reference, "outcome": outcome}
        return self._call("POST", "advance", payload)

    def inject_fault(
        self,
        *,
        provider,
        endpoint,
        mode,
        times=1,
        status=None,
        message=None,
        code=None,
        body=None,
        off_spec=False,
        retry_after=None,
        carried_out=False,
        delay=None,
        interval=None,
    ):
        """Make the next `times` calls to `endpoint` go as `mode` says, with that mode's fields
        (see payments.sandbox.server)."""
        payload = {"provider": provider, "endpoint": endpoint, "mode": mode, "times": times}
        fields = {
            "status": status, "message": message, "code": code, "body": body, "off_spec": off_spec,
            "retry_after": retry_after, "carried_out": carried_out, "delay": delay, "interval": interval,
        }
        self._call("POST", "faults", {**payload, **fields})

    def release(self):
        """Let every held request go on (fault modes timeout, late_answer, held, slow, drip)."""
        self._call("POST", "release")

    def clear_faults(self):
        self._call("DELETE", "faults")

    def requests(self, provider=None):
        return self._call("GET", "requests" + (f"?provider={provider}" if provider else ""))

    def clear_requests(self):
        self._call("DELETE", "requests")

    def expire_tokens(self, provider=None):
        self._call("POST", "tokens/expire", {"provider": provider} if provider else {})
