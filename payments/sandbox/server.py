"""The provider sandbox: one local HTTP server that simulates the four providers' APIs.

Each provider lives under its own prefix (`/bambora`, `/optty`, `/simpleps`, `/vipps`), so that
pointing a `*_API_URL` at `http://127.0.0.1:PORT/<code>` is all the app needs. The simulators
(one module per provider) keep the payments, enforce the providers' rules and answer in each
provider's own format, as strictly and as variously as the providers' published specs allow
(tests/specs checks every exchange of the tests against them); this module routes requests to
them, records every request it receives with the answer it gave, injects faults, and serves a
small control API under `/_sandbox/` for tests and demo data. SandboxClient
(payments.sandbox.client) calls the control API with the same names.

Control API (JSON):
    POST   /_sandbox/reset                     forget everything; release what is held
    POST   /_sandbox/payments                  {provider, reference, currency, amount,
                                                captured?, refunded?, cancelled?, and options
                                                of that provider's simulator} -> 201
    GET    /_sandbox/payments/<code>/<ref>     the payment as the simulator holds it
    POST   /_sandbox/portal                    {provider, reference, kind, amount}: an operation
                                                done in the provider's own portal
    POST   /_sandbox/advance                   {provider, reference, outcome?}: what the
                                                provider left under way (Optty refunds) ends,
                                                "succeeded" (default) or "failed"
    POST   /_sandbox/faults                    {provider, endpoint, mode, times?, and the
                                                mode's fields below}
    DELETE /_sandbox/faults
    POST   /_sandbox/release                   let every held request go on (see below)
    GET    /_sandbox/requests[?provider=code]  what the providers received, oldest first, each
                                                with the `answer` given (status, headers, body;
                                                None while there is none) and `dropped`
    DELETE /_sandbox/requests
    POST   /_sandbox/tokens/expire             {provider?}: every issued token stops working

Options of the simulators (POST /_sandbox/payments):
    bambora   refunds_in_get (default true): false reads the payment (GET) as the swagger's
              PaymentResponse exactly, without `refunds`; refund and cancel answers keep it
    optty     refund_status (default "SUCCESSFUL"): what refunds are answered; FAILED, DECLINED
              or ERROR move nothing, any other word (PENDING, INITIATED, PROCESSING, REQUESTED,
              ...) holds the amount, and the details say that word, until /_sandbox/advance;
              pending_refunds: true is refund_status "PENDING"
    vipps     modifications_per_minute (default 5); authorized_days_ago (default 0): captures
              and cancels are refused after 180 days, refunds after 365, with Vipps's
              "<Capture|Cancel|Refund> period expired" problems
Each simulator refuses what its spec refuses (bodies, headers, amounts), in its error format.
Vipps also answers 423 (problem "request-in-progress") to a capture, refund or cancel whose
Idempotency-Key is still being processed (the first one carried out, its answer not yet given:
held, slow, dripping, a late answer), and does nothing for it; a first request that never
reached Vipps (timeout, drop, ...) is no obstacle.

Fault modes, for the next `times` requests (default 1) to a provider's `endpoint` (a name the
simulator gives each call, such as "refund", "cancel", "fetch", "token"; "*" for any):
    timeout      hold the request without answering until the client gives up
    error        answer `status` (default 500) in the provider's error format, do nothing
    status       answer `status` (e.g. 401, 409, 423, 429) in the provider's error format, with
                 `message` when given, do nothing
    html         answer `status` (default 403) with a web application firewall's text/html page,
                 do nothing
    answer       answer `status` (default 200) with `body` (JSON) exactly as given, do nothing
    drop         close the connection without answering, do nothing
    garbage      answer 200 with a body that is not JSON, do nothing
    lost_answer  carry the request out, then close the connection without answering
    late_answer  carry the request out, then hold it without answering until the client gives up
    held         carry the request out, then hold its answer until released, then give it: the
                 provider has done it while the client is still waiting
    slow         carry the request out, then give the normal answer after `delay` seconds
    drip         carry the request out, then send the normal answer (status line, headers,
                 body) one byte every `interval` seconds (default 0.5), until it is all sent,
                 the client goes away, or the held requests are released (then the connection
                 is closed)
Fields of the modes:
    code         the provider's own error code for error and status (Bambora's and Vipps's
                 `type`, Optty's `error`, SimplePS's `responseCode`), e.g. Vipps's
                 "refund-idempotency-conflict"
    retry_after  (error, status, html, answer) seconds, sent as a Retry-After header
    carried_out  (error, status, html, answer) true: the provider carries the request out
                 first, then answers as the fault says (e.g. a 504 HTML page after the refund)
    off_spec     (answer) true: the body is outside the provider's spec on purpose; the tests'
                 spec check leaves it alone (garbage and html always are)

A held request (timeout, late_answer, held, slow, drip) waits until POST /_sandbox/release, a
reset, the server stopping, or its time (the server's hang time; slow's delay; drip's next
byte). Tests that must act while a call is under way wait for it with
Sandbox.wait_for_requests (the request has arrived) or Sandbox.wait_for_held (it is being held:
for every mode but timeout, after the provider carried it out), and for its end with
Sandbox.wait_for_none_held, with no sleeps.
"""

import contextlib
import logging
import os
import secrets
import socket
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import simplejson

logger = logging.getLogger("payments.sandbox")

FAULT_MODES = (
    "timeout", "error", "drop", "garbage", "lost_answer", "late_answer", "held", "status", "answer",
    "html", "slow", "drip",
)
# The modes that answer something other than what the provider would: they may carry the call
# out first (carried_out) and add a Retry-After header (retry_after).
ANSWERING_MODES = ("error", "status", "html", "answer")
# The modes in which the provider carries the request out.
CARRYING_MODES = ("lost_answer", "late_answer", "held", "slow", "drip")
DRIP_INTERVAL = 0.5
# What a web application firewall or gateway in front of a provider answers: no JSON at all.
WAF_PAGE = """<!DOCTYPE html>
<html><head><title>{status} {reason}</title></head>
<body><h1>{status} {reason}</h1>
<p>The request was blocked by the web application firewall. Reference #{reference}</p>
</body></html>
"""


class BadRequestBody(ValueError):
    """The request's body is not the JSON the simulator expected."""


@dataclass
class SandboxRequest:
    method: str
    path: str  # below the provider's prefix, decoded: "/payments/a b/refund/"
    segments: list[str]  # the decoded path segments: ["payments", "a b", "refund"]
    raw_path: str  # the whole path as it arrived, still URL-encoded
    query: dict[str, list[str]]
    headers: dict[str, str]  # keys in lower case
    body: bytes

    def json(self):
        """The body parsed as JSON (decimals as Decimal); None when there is no body;
        BadRequestBody when broken."""
        if not self.body.strip():
            return None
        try:
            return simplejson.loads(self.body, use_decimal=True)
        except ValueError as error:
            raise BadRequestBody(str(error)) from error

    def form(self):
        return {key: values[-1] for key, values in parse_qs(self.body.decode()).items()}


@dataclass
class SandboxResponse:
    status: int
    body: Any = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self):
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return simplejson.dumps(self.body, use_decimal=True).encode()


@dataclass
class Fault:
    provider: str
    endpoint: str
    mode: str
    status: int | None = None
    message: str | None = None
    code: str | None = None
    body: Any = None
    times: int = 1
    # The answer this fault gives is outside every spec on purpose (the tests' spec check
    # leaves it alone): always for garbage and html, on request for answer.
    off_spec: bool = False
    retry_after: int | None = None  # seconds, as a Retry-After header
    carried_out: bool = False  # the provider carries the call out, then answers as the fault says
    delay: float | None = None  # slow: seconds before the answer
    interval: float | None = None  # drip: seconds between two bytes of the answer


class Sandbox:
    """The simulators and what surrounds them: faults, the request journal, persistence.
    Thread-safe: one lock serialises every change, as a real provider would per payment."""

    def __init__(self, *, providers_config, state_file=None, keep_exchanges=False):
        from payments.sandbox.registry import SIMULATOR_CLASSES

        self.lock = threading.RLock()
        # Wakes those waiting for traffic (wait_for_requests, wait_for_held) and the held
        # requests when they are released.
        self.activity = threading.Condition(self.lock)
        # (provider, endpoint) of each request being held now, and how many releases so far.
        self.held = []
        self.releases = 0
        # How many requests of each (provider, Simulator.concurrency_key) are being processed.
        self.keys_in_flight = Counter()
        self.simulators = {
            code: cls(config=providers_config[code]) for code, cls in SIMULATOR_CLASSES.items()
        }
        self.faults = []
        # What the providers received, with what they answered: `journal` for the tests to
        # read and clear (a reset clears it too); with `keep_exchanges`, also all of it until
        # take_exchanges(), whatever is reset or cleared meanwhile (for the tests' spec check).
        self.journal = []
        self.keep_exchanges = keep_exchanges
        self.exchanges = []
        self.state_file = state_file
        if state_file and os.path.exists(state_file):
            with open(state_file) as file:
                self.restore(simplejson.load(file, use_decimal=True))

    # Control -------------------------------------------------------------------------------

    def reset(self):
        with self.lock:
            for simulator in self.simulators.values():
                simulator.reset()
            self.faults.clear()
            self.journal.clear()
            self.release_held()
            self.save()

    def add_fault(
        self,
        *,
        provider,
        endpoint,
        mode,
        status=None,
        message=None,
        code=None,
        body=None,
        times=1,
        off_spec=False,
        retry_after=None,
        carried_out=False,
        delay=None,
        interval=None,
    ):
        """Make the next `times` requests to `endpoint` go as `mode` says (see the module's
        docstring); ValueError for a fault that cannot be."""
        if provider not in self.simulators:
            raise ValueError(f"unknown provider {provider!r}")
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; one of {', '.join(FAULT_MODES)}")
        if mode == "answer" and body is None:
            raise ValueError("an answer fault needs the body to answer with")
        if mode not in ANSWERING_MODES and (carried_out or retry_after is not None):
            raise ValueError(f"carried_out and retry_after go with {', '.join(ANSWERING_MODES)}")
        if retry_after is not None and (type(retry_after) is not int or retry_after < 0):
            raise ValueError("retry_after is a number of seconds, 0 or more")
        if (mode == "slow") != (delay is not None) or (mode != "drip" and interval is not None):
            raise ValueError("delay goes with (and only with) slow, interval only with drip")
        delay, interval = _seconds(delay), _seconds(interval)
        if mode == "drip" and interval is None:
            interval = DRIP_INTERVAL
        with self.lock:
            self.faults.append(
                Fault(
                    provider=provider,
                    endpoint=endpoint,
                    mode=mode,
                    status=status,
                    message=message,
                    code=code,
                    body=body,
                    times=times,
                    off_spec=bool(off_spec) or mode in ("garbage", "html"),
                    retry_after=retry_after,
                    carried_out=bool(carried_out),
                    delay=delay,
                    interval=interval,
                )
            )

    def clear_faults(self):
        with self.lock:
            self.faults.clear()

    def requests(self, provider=None):
        with self.lock:
            return [entry for entry in self.journal if provider in (None, entry["provider"])]

    def wait_for_requests(self, count, *, provider=None, endpoint=None, timeout=10):
        """Block until the providers have received `count` requests (of `provider`, to
        `endpoint`); returns whether they have. For tests that must act while a call is under
        way."""

        def arrived():
            entries = self.requests(provider)
            return sum(endpoint in (None, entry["endpoint"]) for entry in entries) >= count

        with self.activity:
            return self.activity.wait_for(arrived, timeout=timeout)

    def wait_for_held(self, count, *, provider=None, endpoint=None, timeout=10):
        """Block until `count` requests (of `provider`, to `endpoint`) are being held (fault
        modes timeout, late_answer, held); returns whether they are. A late_answer or held
        request is held only once the provider has carried it out."""

        def holding():
            return (
                sum(
                    provider in (None, held_provider) and endpoint in (None, held_endpoint)
                    for held_provider, held_endpoint in self.held
                )
                >= count
            )

        with self.activity:
            return self.activity.wait_for(holding, timeout=timeout)

    def wait_for_none_held(self, *, provider=None, endpoint=None, timeout=10):
        """Block until no request (of `provider`, to `endpoint`) is being held; returns whether
        none is."""

        def none_held():
            return not any(
                provider in (None, held_provider) and endpoint in (None, held_endpoint)
                for held_provider, held_endpoint in self.held
            )

        with self.activity:
            return self.activity.wait_for(none_held, timeout=timeout)

    def hold(self, provider, endpoint, *, timeout):
        """Hold the calling request until release_held() (a reset, the server stopping), at
        most `timeout` seconds. Returns whether it was released."""
        with self.holding(provider, endpoint) as wait:
            return wait(timeout)

    @contextlib.contextmanager
    def holding(self, provider, endpoint):
        """Count the calling request as held while inside; yields wait(seconds), which waits
        that long at most and returns whether the held requests were released meanwhile."""
        entry = (provider, endpoint)
        with self.activity:
            releases = self.releases
            self.held.append(entry)
            self.activity.notify_all()

        def wait(seconds):
            with self.activity:
                return self.activity.wait_for(lambda: self.releases != releases, timeout=seconds)

        try:
            yield wait
        finally:
            with self.activity:
                self.held.remove(entry)
                self.activity.notify_all()

    def busy_answer(self, provider, request):
        """The simulator's busy_response() when a request with the same concurrency_key() is
        being processed (carried out, its answer not yet given); None otherwise."""
        simulator = self.simulators[provider]
        key = simulator.concurrency_key(request)
        with self.lock:
            if key is not None and self.keys_in_flight[(provider, key)]:
                return simulator.busy_response(request)
        return None

    @contextlib.contextmanager
    def processing(self, provider, request):
        """Count the request as being processed by the provider while inside (busy_answer), or
        until the done() it yields is called: the provider is done once its answer starts to
        go out, so a client that asks again as soon as it has read the answer finds it done."""
        key = self.simulators[provider].concurrency_key(request)
        if key is None:
            yield lambda: None
            return
        key = (provider, key)
        with self.lock:
            self.keys_in_flight[key] += 1
        counted = True

        def done():
            nonlocal counted
            with self.lock:
                if counted:
                    counted = False
                    self.keys_in_flight[key] -= 1
                    if not self.keys_in_flight[key]:
                        del self.keys_in_flight[key]

        try:
            yield done
        finally:
            done()

    def release_held(self):
        """Let every request held now go on."""
        with self.activity:
            self.releases += 1
            self.activity.notify_all()

    def take_exchanges(self):
        """Every journal entry since the last call (with keep_exchanges), and forget them."""
        with self.lock:
            taken, self.exchanges = self.exchanges, []
        return taken

    def clear_requests(self):
        with self.lock:
            self.journal.clear()

    def snapshot(self):
        with self.lock:
            return {code: sim.snapshot() for code, sim in self.simulators.items()}

    def restore(self, data):
        with self.lock:
            for code, sim in self.simulators.items():
                if code in data:
                    sim.restore(data[code])

    def save(self):
        if not self.state_file:
            return
        data = self.snapshot()
        directory = os.path.dirname(os.path.abspath(self.state_file))
        with tempfile.NamedTemporaryFile("w", dir=directory, delete=False) as file:
            simplejson.dump(data, file, use_decimal=True)
        os.replace(file.name, self.state_file)

    # Provider traffic ----------------------------------------------------------------------

    def take_fault(self, provider, endpoint):
        with self.lock:
            for fault in self.faults:
                if fault.provider == provider and fault.endpoint in ("*", endpoint):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def record(self, provider, request):
        """Journal a request as it arrived; returns the entry, which record_answer() completes."""
        endpoint = self.simulators[provider].endpoint_name(request)
        try:
            body_json = request.json()
        except BadRequestBody:
            body_json = None
        entry = {
            "provider": provider,
            "endpoint": endpoint,
            "method": request.method,
            "path": request.path,
            "raw_path": request.raw_path,
            "query": request.query,
            "headers": dict(request.headers),
            "body": request.body.decode(errors="replace"),
            "json": body_json,
            # What the provider answered: None until it has, and for good when the connection
            # was closed without an answer ("dropped").
            "answer": None,
            "dropped": False,
        }
        with self.activity:
            self.journal.append(entry)
            if self.keep_exchanges:
                self.exchanges.append(entry)
            self.activity.notify_all()
        return entry

    def record_answer(self, entry, response, *, off_spec=False):
        """Complete a journal entry with the answer given (None: the connection was closed
        without one). `off_spec`: a fault gave it outside every spec on purpose."""
        with self.activity:
            if response is None:
                entry["dropped"] = True
            else:
                text = response.encoded().decode(errors="replace")
                try:
                    body_json = simplejson.loads(text, use_decimal=True) if text.strip() else None
                except ValueError:
                    body_json = None
                headers = dict(response.headers)
                if text:
                    headers["Content-Type"] = response.content_type
                entry["answer"] = {
                    "status": response.status,
                    "headers": headers,
                    "body": text,
                    "json": body_json,
                    "off_spec": off_spec,
                }
            self.activity.notify_all()

    def handle(self, provider, request):
        """Let the provider's simulator answer; a broken JSON body is the provider's 400."""
        simulator = self.simulators[provider]
        with self.lock:
            try:
                response = simulator.handle(request)
            except BadRequestBody as error:
                response = simulator.error_response(400, f"Malformed JSON body: {error}")
            if request.method != "GET":
                self.save()
        return response


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ProviderSandbox/1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, each answer on a
    # kept-alive connection would wait ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True

    @staticmethod
    def provider_done():
        """Replaced, while a request is processed, by what marks the provider done with it."""

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def log_message(self, format, *args):
        logger.debug("sandbox %s", format % args)

    def _dispatch(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        raw_segments = [part for part in split.path.split("/") if part]
        if not raw_segments:
            return self._answer(SandboxResponse(404, {"message": "Not Found"}))
        prefix, rest = raw_segments[0], raw_segments[1:]
        segments = [unquote(part) for part in rest]
        request = SandboxRequest(
            method=self.command,
            path="/" + "/".join(segments) + ("/" if split.path.endswith("/") and rest else ""),
            segments=segments,
            raw_path=self.path,
            query=parse_qs(split.query),
            headers={key.lower(): value for key, value in self.headers.items()},
            body=body,
        )
        sandbox = self.server.sandbox
        if prefix == "_sandbox":
            return self._answer(control(sandbox, request))
        if prefix not in sandbox.simulators:
            return self._answer(SandboxResponse(404, {"message": "Not Found"}))
        entry = sandbox.record(prefix, request)
        busy = sandbox.busy_answer(prefix, request)
        if busy is not None:
            # The same operation is still being processed: this one is refused and does nothing.
            return self._answer(busy, entry)
        fault = sandbox.take_fault(prefix, sandbox.simulators[prefix].endpoint_name(request))
        # From the provider's first step to its answer, unless the request never reaches it.
        reaches = fault is None or fault.carried_out or fault.mode in CARRYING_MODES
        if not reaches:
            return self._serve(prefix, request, entry, fault)
        try:
            with sandbox.processing(prefix, request) as self.provider_done:
                self._serve(prefix, request, entry, fault)
        finally:
            del self.provider_done  # the next request on this connection starts without one

    def _serve(self, prefix, request, entry, fault):
        """Answer a provider's request as its simulator does, or as the fault aimed at it says."""
        sandbox = self.server.sandbox
        simulator = sandbox.simulators[prefix]
        endpoint = simulator.endpoint_name(request)
        if fault is None:
            return self._answer(sandbox.handle(prefix, request), entry)
        hang = self.server.hang_seconds
        if fault.carried_out:
            sandbox.handle(prefix, request)
        match fault.mode:
            case "timeout":
                # Hold the request until the client gives up (or it is released).
                sandbox.hold(prefix, endpoint, timeout=hang)
                return self._drop(entry)
            case "drop":
                return self._drop(entry)
            case "lost_answer":
                sandbox.handle(prefix, request)
                return self._drop(entry)
            case "late_answer":
                sandbox.handle(prefix, request)
                sandbox.hold(prefix, endpoint, timeout=hang)
                return self._drop(entry)
            case "held":
                response = sandbox.handle(prefix, request)
                sandbox.hold(prefix, endpoint, timeout=hang)
                return self._answer(response, entry)
            case "slow":
                response = sandbox.handle(prefix, request)
                sandbox.hold(prefix, endpoint, timeout=fault.delay)
                return self._answer(response, entry)
            case "drip":
                response = sandbox.handle(prefix, request)
                return self._drip(response, entry, prefix, endpoint, fault.interval)
            case "garbage":
                response = SandboxResponse(200, b"<html><body>502 Bad Gatew", content_type="text/html")
                return self._answer(response, entry, off_spec=True)
            case "html":
                status = fault.status or 403
                page = WAF_PAGE.format(status=status, reason=_reason(status), reference=secrets.token_hex(6))
                response = SandboxResponse(status, page.encode(), content_type="text/html; charset=utf-8")
            case "answer":
                response = SandboxResponse(fault.status or 200, fault.body)
            case _:  # error, status
                default_status = 500 if fault.mode == "error" else 400
                response = simulator.error_response(fault.status or default_status, fault.message, fault.code)
        if fault.retry_after is not None:
            response.headers["Retry-After"] = str(fault.retry_after)
        return self._answer(response, entry, off_spec=fault.off_spec)

    def _answer(self, response, entry=None, *, off_spec=False):
        self.provider_done()
        payload = response.encoded()
        if entry is not None:
            self.server.sandbox.record_answer(entry, response, off_spec=off_spec)
        try:
            self.send_response(response.status)
            if payload:
                self.send_header("Content-Type", response.content_type)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            # The client gave up waiting (a held answer after its timeout).
            self.close_connection = True

    def _drip(self, response, entry, provider, endpoint, interval):
        """Send the whole answer (status line, headers, body) one byte every `interval`
        seconds, until it is sent, the client goes away, or the held requests are released."""
        self.provider_done()
        self.server.sandbox.record_answer(entry, response)
        payload = response.encoded()
        head = [f"HTTP/1.1 {response.status} {_reason(response.status)}"]
        if payload:
            head.append(f"Content-Type: {response.content_type}")
        head += [f"{name}: {value}" for name, value in response.headers.items()]
        head.append(f"Content-Length: {len(payload)}")
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + payload
        self.close_connection = True
        with self.server.sandbox.holding(provider, endpoint) as wait:
            for index in range(len(raw)):
                try:
                    self.wfile.write(raw[index : index + 1])
                except OSError:
                    return  # the client went away
                if index + 1 < len(raw) and wait(interval):
                    return  # released (a reset, the server stopping): the rest is never sent

    def _drop(self, entry):
        self.provider_done()
        self.server.sandbox.record_answer(entry, None)
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def control(sandbox, request):
    """The /_sandbox/ control API (see the module's docstring)."""
    segments = request.segments
    try:
        payload = request.json() or {}
    except BadRequestBody as error:
        return SandboxResponse(400, {"message": str(error)})
    try:
        match request.method, segments:
            case "POST", ["reset"]:
                sandbox.reset()
                return SandboxResponse(204)
            case "POST", ["payments"]:
                simulator = sandbox.simulators[payload.pop("provider")]
                with sandbox.lock:
                    created = simulator.create_payment(**payload)
                    sandbox.save()
                return SandboxResponse(201, created)
            case "GET", ["payments", provider, reference]:
                with sandbox.lock:
                    view = sandbox.simulators[provider].payment_view(reference)
                if view is None:
                    return SandboxResponse(404, {"message": "no such payment"})
                return SandboxResponse(200, view)
            case "POST", ["portal"]:
                simulator = sandbox.simulators[payload.pop("provider")]
                with sandbox.lock:
                    result = simulator.portal(**payload)
                    sandbox.save()
                return SandboxResponse(200, result)
            case "POST", ["advance"]:
                simulator = sandbox.simulators[payload.pop("provider")]
                with sandbox.lock:
                    result = simulator.advance(**payload)
                    sandbox.save()
                return SandboxResponse(200, result)
            case "POST", ["faults"]:
                sandbox.add_fault(**payload)
                return SandboxResponse(204)
            case "DELETE", ["faults"]:
                sandbox.clear_faults()
                return SandboxResponse(204)
            case "POST", ["release"]:
                sandbox.release_held()
                return SandboxResponse(204)
            case "GET", ["requests"]:
                provider = request.query.get("provider", [None])[0]
                return SandboxResponse(200, sandbox.requests(provider))
            case "DELETE", ["requests"]:
                sandbox.clear_requests()
                return SandboxResponse(204)
            case "POST", ["tokens", "expire"]:
                with sandbox.lock:
                    for code, simulator in sandbox.simulators.items():
                        if payload.get("provider") in (None, code):
                            simulator.expire_tokens()
                return SandboxResponse(204)
    except (KeyError, TypeError, ValueError) as error:
        return SandboxResponse(400, {"message": f"bad control request: {error!r}"})
    return SandboxResponse(404, {"message": "no such control endpoint"})


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, *, sandbox, hang_seconds=60):
        super().__init__(address, SandboxHandler)
        self.sandbox = sandbox
        # How long a held request waits at most for its release.
        self.hang_seconds = hang_seconds

    @property
    def base_url(self):
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self):
        self.sandbox.release_held()
        self.shutdown()
        self.server_close()


def _reason(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _seconds(value):
    """A positive number of seconds as a float (None stays None), or ValueError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)) or value <= 0:
        raise ValueError("delay and interval are positive numbers of seconds")
    return float(value)


def provider_urls(base_url):
    """The settings that point the app's adapters at a sandbox served at `base_url`."""
    return {
        "bambora": {"api_url": f"{base_url}/bambora"},
        "optty": {"api_url": f"{base_url}/optty/api", "auth_url": f"{base_url}/optty/auth"},
        "simpleps": {"api_url": f"{base_url}/simpleps"},
        "vipps": {"api_url": f"{base_url}/vipps"},
    }
