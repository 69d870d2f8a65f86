"""Access tokens of the providers that issue them (Optty, SimplePS, Vipps).

Each process keeps its tokens in memory until shortly before they expire: nothing has to be
shared between workers or machines, and a worker that starts fetches its own. A 401 (or the
provider's equivalent) on a call means the token went stale early: fetch a new one once and
send the call again; a second refusal is a credentials problem. A token endpoint that does not
answer, or answers 429 or 5xx, is the provider being unavailable, never a credentials problem.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from payments.providers.base import (
    NotSent,
    ProviderCredentialsRejected,
    ProviderError,
    ProviderUnavailable,
    undecided,
)

if TYPE_CHECKING:
    from payments.providers.http import ProviderResponse

logger = logging.getLogger("payments.providers")

# Renew this long before the provider says the token expires, so that a token never dies in
# the middle of a call.
EXPIRY_MARGIN_SECONDS = 60

# A token's key: the provider's code, then what tells its accounts apart (URL, client id).
TokenKey = tuple[str, ...]
# Fetches a new token: (the token, its lifetime in seconds).
TokenFetch = Callable[[], tuple[str, float]]


class TokenCache:
    def __init__(self) -> None:
        self._tokens: dict[TokenKey, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: TokenKey, fetch: TokenFetch) -> str:
        """The cached token for `key`, or a new one from `fetch()`, which returns
        `(token, lifetime_in_seconds)`."""
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and time.monotonic() < cached[1]:
                return cached[0]
        token, lifetime = fetch()
        margin = min(EXPIRY_MARGIN_SECONDS, lifetime / 10)
        with self._lock:
            self._tokens[key] = (token, time.monotonic() + lifetime - margin)
        return token

    def forget(self, key: TokenKey) -> None:
        with self._lock:
            self._tokens.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


tokens = TokenCache()


def send_with_token(
    *,
    key: TokenKey,
    fetch_token: TokenFetch,
    send: Callable[[str], "ProviderResponse"],
    token_refused: Callable[["ProviderResponse"], bool] | None = None,
    error_code: Callable[["ProviderResponse"], str] | None = None,
) -> "ProviderResponse":
    """Call `send(token)` with the cached token; when the provider shows it refused the token
    (`token_refused(response)`, by default any 401 that is not a web page), fetch a new one and
    call once more: the refused call did not run. Returns the ProviderResponse.

    Raises ProviderCredentialsRejected when the new token is refused too (with the provider's
    code for it, read by `error_code(response)` when given), and NotSent when no token
    could be had (`fetch_token` raising ProviderUnavailable: a timeout, a 429 or 5xx of the
    token endpoint): then nothing was sent.
    """
    token_refused = token_refused or _refused_by_default
    response = send(_token(key, fetch_token))
    if not token_refused(response):
        return response
    tokens.forget(key)
    response = send(_token(key, fetch_token))
    if token_refused(response):
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


def _refused_by_default(response: "ProviderResponse") -> bool:
    return response.status == 401 and not response.is_html


def _token(key: TokenKey, fetch_token: TokenFetch) -> str:
    try:
        return tokens.get(key, fetch_token)
    except ProviderUnavailable as error:
        raise NotSent(
            f"The provider's sign-in did not answer: {error.message}",
            code=error.code,
            response=error.response,
            status=error.status,
            retry_after=error.retry_after,
        ) from error


def token_endpoint_error(name: str, response: "ProviderResponse", *, code: str = "") -> ProviderError:
    """The error a token endpoint's refusal amounts to: refused credentials for a 400, 401 or
    403 in the API's own format; ProviderUnavailable for anything else (a 429, a 5xx, a
    redirect, a web page), which says nothing about the credentials."""
    body = response.json_object
    if response.status in (400, 401, 403) and body is not None:
        return ProviderCredentialsRejected(code=code, response=body, status=response.status)
    if response.ok:
        return ProviderUnavailable(f"{name}'s token answer could not be read.", status=response.status)
    reason = undecided(name, response) or f"{name} did not issue a token (HTTP {response.status})."
    return ProviderUnavailable(
        reason, code=code, status=response.status, retry_after=response.retry_after
    )
