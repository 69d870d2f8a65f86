"""The provider HTTP client's one deadline per call, against a server that answers slowly in
every way a provider (or something in front of it) can: nothing but real sockets."""

import socket
import threading

import pytest

from payments.providers.base import ProviderUnavailable
from payments.providers.http import Deadline, ProviderHttp

ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n"
    b'{"state": "Captured", "amount": 5000000}'
)


class SlowServer:
    """Answers every request with ANSWER, `interval` seconds between each of its bytes from
    byte `from_byte` on (0: the status line drips too; the headers' length: the body only).
    Counts the bytes each connection got before the client went away."""

    def __init__(self, *, interval, from_byte):
        self.interval = interval
        self.from_byte = from_byte
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.sent = []
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self):
        host, port = self.listener.getsockname()
        return f"http://{host}:{port}/payments/x/"

    def _serve(self):
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection):
        sent = 0
        with connection:
            connection.recv(65536)
            try:
                connection.sendall(ANSWER[: self.from_byte])
                sent = self.from_byte
                for byte in ANSWER[self.from_byte :]:
                    if self.stopped.wait(self.interval):
                        break
                    connection.sendall(bytes([byte]))
                    sent += 1
            except OSError:
                pass
        self.sent.append(sent)

    def stop(self):
        self.stopped.set()
        self.listener.close()


@pytest.fixture
def slow_server():
    servers = []

    def start(**kwargs):
        servers.append(SlowServer(**kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


HEADERS = len(ANSWER) - 40


@pytest.mark.parametrize("from_byte", [0, HEADERS], ids=["status line and headers drip", "body drips"])
def test_an_answer_dripping_one_byte_at_a_time_ends_at_the_deadline(slow_server, from_byte):
    # Each byte comes well within any read timeout; the whole answer would take 20 seconds.
    server = slow_server(interval=0.25, from_byte=from_byte)
    http = ProviderHttp(provider="test-drip", timeout=1)

    with pytest.raises(ProviderUnavailable) as error:
        http.send("GET", server.url, deadline=http.deadline())

    assert error.value.message == "The provider did not answer in time."
    # The connection was shut at the deadline: most of the answer was never read.
    server.stop()
    [sent] = server.sent or [0]
    assert sent < len(ANSWER)


def test_a_slow_provider_within_the_deadline_is_read_whole(slow_server):
    server = slow_server(interval=0.01, from_byte=HEADERS)
    http = ProviderHttp(provider="test-slow", timeout=5)

    response = http.send("GET", server.url, deadline=http.deadline())

    assert (response.status, response.body) == (200, {"state": "Captured", "amount": 5000000})


def test_a_deadline_already_passed_sends_nothing(slow_server):
    server = slow_server(interval=0, from_byte=0)
    http = ProviderHttp(provider="test-passed", timeout=5)

    with pytest.raises(ProviderUnavailable):
        http.send("GET", server.url, deadline=Deadline.after(-1))

    server.stop()
    assert server.sent == []



class KeepAliveServer:
    """Answers every request with ANSWER on a connection it keeps open; counts the connections
    made to it."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self):
        host, port = self.listener.getsockname()
        return f"http://{host}:{port}/payments/x/"

    def _serve(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection):
        with connection:
            received = b""
            while True:
                try:
                    data = connection.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                received += data
                while b"\r\n\r\n" in received:
                    _, received = received.split(b"\r\n\r\n", 1)
                    connection.sendall(ANSWER)

    def stop(self):
        self.listener.close()


def test_calls_to_one_provider_share_its_connections_in_the_process():
    # Adapters are made for each call (payments.providers.registry); the provider's session,
    # and the connection it keeps, outlive them.
    server = KeepAliveServer()
    try:
        for _ in range(3):
            http = ProviderHttp(provider="test-kept", timeout=5)
            assert http.send("GET", server.url, deadline=http.deadline()).status == 200
        assert server.connections == 1
        # another provider has a session, and connections, of its own
        other = ProviderHttp(provider="test-kept-other", timeout=5)
        other.send("GET", server.url, deadline=other.deadline())
        assert server.connections == 2
    finally:
        server.stop()
