"""Access tokens of the providers that issue them (Optty, SimplePS, Vipps).

Each process keeps its tokens in memory until shortly before they expire: nothing has to be
shared between workers or machines, and a worker that starts fetches its own. A 401 (or the
provider's equivalent) on a call means the token went stale early: fetch a new one once and
send the call again; a second refusal is a credentials problem.
"""

import logging
import threading
import time

from payments.providers.base import ProviderCredentialsRejected

logger = logging.getLogger("payments.providers")

# Renew this long before the provider says the token expires, so that a token never dies in
# the middle of a call.
EXPIRY_MARGIN_SECONDS = 60


class TokenCache:
    def __init__(self):
        self._tokens = {}
        self._lock = threading.Lock()

    def get(self, key, fetch):
        """The cached token for `key`, or a new one from `fetch()`, which returns
        `(token, lifetime_in_seconds)`."""
        with self._lock:
            token, expires_at = self._tokens.get(key, (None, 0.0))
            if token is not None and time.monotonic() < expires_at:
                return token
        token, lifetime = fetch()
        margin = min(EXPIRY_MARGIN_SECONDS, lifetime / 10)
        with self._lock:
            self._tokens[key] = (token, time.monotonic() + lifetime - margin)
        return token

    def forget(self, key):
        with self._lock:
            self._tokens.pop(key, None)

    def clear(self):
        with self._lock:
            self._tokens.clear()


tokens = TokenCache()


def send_with_token(*, key, fetch_token, send, refused_statuses=(401,), error_code=None):
    """Call `send(token)` with the cached token; when the provider refuses the token (a status
    in `refused_statuses`), fetch a new one and call once more. Returns the ProviderResponse;
    raises ProviderCredentialsRejected when the new token is refused too, with the provider's
    code for it read by `error_code(response)` when given."""
    response = send(tokens.get(key, fetch_token))
    if response.status not in refused_statuses:
        return response
    tokens.forget(key)
    response = send(tokens.get(key, fetch_token))
    if response.status in refused_statuses:
        logger.error(
            "provider_credentials_rejected key=%s status=%s: check the provider's credentials "
            "in the environment",
            key[0],
            response.status,
        )
        raise ProviderCredentialsRejected(
            code=error_code(response) if error_code else "",
            response=response.body,
            status=response.status,
        )
    return response
