"""The one HTTP client every provider adapter uses.

It owns the call's deadline, the translation of transport failures into ProviderUnavailable
(the outcome is unknown: the provider may have done it), and the log line of each call. It
decides nothing about what an answer means: every answer that arrives, whatever its status or
body, goes back to the adapter, whose `answer()` maps it to an outcome.

One deadline covers a whole call to a provider: connecting, sending, every read of the answer,
a token fetch and the one retry after a refused token. `requests` limits each read on its own
(a provider dripping one byte every half second never trips it), so the client also shuts the
call's connection down when the deadline passes, wherever the call is blocked.

Secrets (credentials, tokens) never reach the log: only method, URL, status and duration are
logged, and every configured secret is scrubbed from the line for good measure.
"""

import logging
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Self

import requests
import simplejson
from django.utils import timezone
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from payments.providers.base import JsonObject, ProviderUnavailable

if TYPE_CHECKING:
    # What urllib3's pools hand out, a protocol declared for type checkers only.
    from urllib3._base_connection import BaseHTTPConnection

logger = logging.getLogger("payments.providers")

REDACTED = "[redacted]"
# An answer larger than this is nothing a provider sends about one payment.
MAX_ANSWER_BYTES = 2 * 1024 * 1024
# A Retry-After beyond this is taken as this: nobody should wait longer for a check.
MAX_RETRY_AFTER_SECONDS = 24 * 3600


class Deadline:
    """The moment by which a call to a provider must be over, on the monotonic clock."""

    def __init__(self, at_monotonic: float) -> None:
        self._at = at_monotonic

    @classmethod
    def after(cls, seconds: float) -> Self:
        return cls(time.monotonic() + seconds)

    @classmethod
    def at(cls, moment: datetime) -> Self:
        """The deadline stored on an operation (a wall-clock time) as a Deadline."""
        return cls.after((moment - timezone.now()).total_seconds())

    def remaining(self) -> float:
        """Seconds left, 0 when it has passed."""
        return max(self._at - time.monotonic(), 0.0)

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self._at


# The watch of the call under way in this thread, if any (see _CallWatch).
_local = threading.local()


class _CallWatch:
    """Ends a call at its deadline: when it passes, every connection the call holds is shut
    down, which ends whatever read or write it is blocked in.

    A connection belongs to the call from the moment the pool hands it out until it goes back
    to the pool; only then may another call use it, so the watch lets go of it there, under
    its lock, and never shuts down a connection somebody else holds.
    """

    def __init__(self, deadline: Deadline) -> None:
        self.lock = threading.Lock()
        self.connections: set[_WatchedConnectionMixin] = set()
        self.fired = False
        self.done = False
        self.timer = threading.Timer(deadline.remaining(), self._fire)
        self.timer.daemon = True

    def __enter__(self) -> Self:
        _local.watch = self
        self.timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.timer.cancel()
        with self.lock:
            self.done = True
            for connection in self.connections:
                connection._deadline_watch = None
            self.connections.clear()
        _local.watch = None

    def attach(self, connection: "_WatchedConnectionMixin") -> None:
        with self.lock:
            if self.done:
                return
            self.connections.add(connection)
            connection._deadline_watch = self
            if self.fired:
                _shut_down(connection)

    def detach(self, connection: "_WatchedConnectionMixin") -> None:
        with self.lock:
            self.connections.discard(connection)
            connection._deadline_watch = None

    def _fire(self) -> None:
        with self.lock:
            if self.done:
                return
            self.fired = True
            for connection in self.connections:
                _shut_down(connection)


def _shut_down(connection: object) -> None:
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    try:
        # The plain socket's shutdown, also for TLS: ssl.SSLSocket.shutdown would unwrap the
        # connection under the reading thread's feet.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


# The mixins' bases for the type checker only: at run time they are plain mixins, placed
# before urllib3's connection and pool classes.
if TYPE_CHECKING:
    _ConnectionBase = HTTPConnection
    _PoolBase = HTTPConnectionPool
else:
    _ConnectionBase = _PoolBase = object


class _WatchedConnectionMixin(_ConnectionBase):
    """A connection that a call's watch can shut down, even one made after its deadline."""

    _deadline_watch: _CallWatch | None = None

    def connect(self) -> None:
        super().connect()
        watch = getattr(_local, "watch", None)
        if watch is not None and watch.fired:
            _shut_down(self)


class _WatchedHTTPConnection(_WatchedConnectionMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnectionMixin, HTTPSConnection):
    pass


class _WatchedPoolMixin(_PoolBase):
    def _get_conn(self, timeout: float | None = None) -> "BaseHTTPConnection":
        connection = super()._get_conn(timeout=timeout)
        watch = getattr(_local, "watch", None)
        if watch is not None and isinstance(connection, _WatchedConnectionMixin):
            watch.attach(connection)
        return connection

    def _put_conn(self, connection: "BaseHTTPConnection | None") -> None:
        if isinstance(connection, _WatchedConnectionMixin) and connection._deadline_watch is not None:
            connection._deadline_watch.detach(connection)
        super()._put_conn(connection)


class _WatchedHTTPPool(_WatchedPoolMixin, HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(_WatchedPoolMixin, HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


_sessions: dict[str, requests.Session] = {}
_sessions_lock = threading.Lock()


def session_for(provider: str) -> requests.Session:
    """The HTTP session of `provider` in this process: its connections are kept and reused
    from call to call. Thread-safe, as requests' connection pools are."""
    with _sessions_lock:
        session = _sessions.get(provider)
        if session is None:
            session = requests.Session()
            adapter = _WatchedAdapter()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            _sessions[provider] = session
        return session


@dataclass(frozen=True)
class ProviderResponse:
    """Whatever the provider answered: any status, any body."""

    status: int
    body: Any  # the parsed JSON, or None when the body is empty, HTML or not JSON
    text: str
    content_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def is_html(self) -> bool:
        """A page for people (a gateway's or a firewall's), not an answer of the API."""
        start = self.text.lstrip()[:15].lower()
        return "html" in self.content_type or start.startswith(("<!doctype", "<html"))

    @property
    def json_object(self) -> JsonObject | None:
        """The body when it is a JSON object (the form of every API answer here), else None."""
        return self.body if isinstance(self.body, dict) and not self.is_html else None

    @property
    def retry_after(self) -> int | None:
        """The seconds the provider asks us to wait (Retry-After: seconds or a date), or None."""
        value = self.headers.get("retry-after", "").strip()
        if not value:
            return None
        seconds: float
        if value.isdigit():
            seconds = int(value)
        else:
            try:
                seconds = (parsedate_to_datetime(value) - timezone.now()).total_seconds()
            except (TypeError, ValueError, IndexError, OverflowError):
                return None
        return int(min(max(seconds, 0), MAX_RETRY_AFTER_SECONDS))


class ProviderHttp:
    """HTTP to one provider. `timeout`: the seconds a call may take in all, unless the caller
    gives a Deadline of its own."""

    def __init__(self, *, provider: str, timeout: float, secrets: Iterable[str] = ()) -> None:
        self.provider = provider
        self.timeout = timeout
        self.secrets = tuple(secret for secret in secrets if secret)
        self.session = session_for(provider)

    def deadline(self) -> Deadline:
        """A fresh deadline for one call, `timeout` seconds from now."""
        return Deadline.after(self.timeout)

    def send(
        self,
        method: str,
        url: str,
        *,
        deadline: Deadline,
        headers: dict[str, str] | None = None,
        json_body: JsonObject | None = None,
        form: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> ProviderResponse:
        """Send one request and return the provider's answer, whatever its status. Raises
        ProviderUnavailable when no answer came in full before `deadline` (a timeout, a lost
        connection, an answer too large).

        `json_body` may hold Decimals: they are written as exact JSON numbers ("12.50"), and
        numbers with decimals in the answer come back as Decimals, never floats.
        """
        headers = dict(headers or {})
        data: dict[str, str] | bytes | None = form
        if json_body is not None:
            headers.setdefault("Content-Type", "application/json")
            data = simplejson.dumps(json_body, use_decimal=True).encode()
        started = time.monotonic()
        if deadline.passed:
            self._log(method, url, "deadline", started)
            raise ProviderUnavailable("The provider did not answer in time.")
        remaining = deadline.remaining()
        with _CallWatch(deadline) as watch:
            try:
                response = self.session.request(
                    method,
                    url,
                    headers=headers,
                    data=data,
                    auth=auth,
                    timeout=(remaining, remaining),
                    allow_redirects=False,
                    stream=True,
                )
                try:
                    content = self._read(response)
                finally:
                    response.close()
            except _AnswerTooLarge as error:
                self._log(method, url, "too-large", started)
                raise ProviderUnavailable("The provider's answer was too large to read.") from error
            except (requests.RequestException, OSError) as error:
                if watch.fired or deadline.passed:
                    self._log(method, url, "deadline", started, error)
                    raise ProviderUnavailable("The provider did not answer in time.") from error
                if isinstance(error, requests.Timeout):
                    self._log(method, url, "timeout", started, error)
                    raise ProviderUnavailable("The provider did not answer in time.") from error
                self._log(method, url, "connection-error", started, error)
                raise ProviderUnavailable("The connection to the provider failed.") from error
        self._log(method, url, response.status_code, started)
        text = content.decode(response.encoding or "utf-8", errors="replace")
        content_type = response.headers.get("Content-Type", "").lower()
        body = None
        if "html" not in content_type:
            try:
                body = simplejson.loads(text, use_decimal=True) if text.strip() else None
            except ValueError:
                body = None
        return ProviderResponse(
            status=response.status_code,
            body=body,
            text=text,
            content_type=content_type,
            headers={name.lower(): value for name, value in response.headers.items()},
        )

    @staticmethod
    def _read(response: requests.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise _AnswerTooLarge()
            chunks.append(chunk)
        return b"".join(chunks)

    def redact(self, text: str) -> str:
        """`text` with every secret of this provider replaced."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def _log(
        self, method: str, url: str, status: int | str, started: float, error: BaseException | None = None
    ) -> None:
        duration_ms = round((time.monotonic() - started) * 1000)
        line = (
            f"provider_call provider={self.provider} method={method} url={url} "
            f"status={status} duration_ms={duration_ms}"
        )
        if error is not None:
            line += f" error={type(error).__name__}"
        level = logging.INFO if isinstance(status, int) and status < 500 else logging.WARNING
        logger.log(level, self.redact(line))


class _AnswerTooLarge(Exception):
    pass
