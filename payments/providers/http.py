"""The one HTTP client every provider adapter uses.

It owns the timeouts, the translation of transport failures into ProviderUnavailable (the
outcome is unknown: the provider may have done it), and the log line of each call. Secrets
(credentials, tokens) never reach the log: only method, URL, status and duration are logged,
and every configured secret is scrubbed from the line for good measure.
"""

import logging
import time
from dataclasses import dataclass
from typing import Any

import requests
import simplejson

from payments.providers.base import ProviderUnavailable

logger = logging.getLogger("payments.providers")

REDACTED = "[redacted]"


@dataclass(frozen=True)
class ProviderResponse:
    status: int
    body: Any  # the parsed JSON, or None when the body is empty or not JSON
    text: str

    @property
    def ok(self):
        return 200 <= self.status < 300

    def json_object(self):
        """The body as a JSON object, or ProviderUnavailable: a success we cannot read is an
        outcome we do not know."""
        if not isinstance(self.body, dict):
            raise ProviderUnavailable(
                "The provider's answer could not be read.", status=self.status
            )
        return self.body


class ProviderHttp:
    """HTTP to one provider: `timeout` seconds to connect and as many again for the answer."""

    def __init__(self, *, provider, timeout, secrets=()):
        self.provider = provider
        self.timeout = (timeout, timeout)
        self.secrets = tuple(secret for secret in secrets if secret)
        self.session = requests.Session()

    def send(self, method, url, *, headers=None, json_body=None, form=None, auth=None):
        """Send one request and return its answer when the provider gave a definite one (any
        status below 500). Raises ProviderUnavailable on timeout, a lost connection or 5xx.

        `json_body` may hold Decimals: they are written as exact JSON numbers ("12.50"), and
        numbers with decimals in the answer come back as Decimals, never floats.
        """
        headers = dict(headers or {})
        data = form
        if json_body is not None:
            headers.setdefault("Content-Type", "application/json")
            data = simplejson.dumps(json_body, use_decimal=True).encode()
        started = time.monotonic()
        try:
            response = self.session.request(
                method,
                url,
                headers=headers,
                data=data,
                auth=auth,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout as error:
            self._log(method, url, "timeout", started, error)
            raise ProviderUnavailable("The provider did not answer in time.") from error
        except requests.ConnectionError as error:
            self._log(method, url, "connection-error", started, error)
            raise ProviderUnavailable("The connection to the provider failed.") from error
        except requests.RequestException as error:
            self._log(method, url, "error", started, error)
            raise ProviderUnavailable("The call to the provider failed.") from error

        self._log(method, url, response.status_code, started)
        text = response.text
        try:
            body = simplejson.loads(text, use_decimal=True) if text.strip() else None
        except ValueError:
            body = None
        if response.status_code >= 500:
            raise ProviderUnavailable(
                f"The provider had an internal error (HTTP {response.status_code}).",
                status=response.status_code,
                response=body if body is not None else text[:500],
            )
        return ProviderResponse(status=response.status_code, body=body, text=text)

    def redact(self, text):
        """`text` with every secret of this provider replaced."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def _log(self, method, url, status, started, error=None):
        duration_ms = round((time.monotonic() - started) * 1000)
        line = (
            f"provider_call provider={self.provider} method={method} url={url} "
            f"status={status} duration_ms={duration_ms}"
        )
        if error is not None:
            line += f" error={type(error).__name__}"
        level = logging.INFO if isinstance(status, int) and status < 500 else logging.WARNING
        logger.log(level, self.redact(line))
