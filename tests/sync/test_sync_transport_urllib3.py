"""The blocking client's own connection pool on urllib3: what only this backend decides.

Everything both backends of the blocking client share runs through both in `tests/client` (the
`sync` and `sync-httpx` backends) and in `tests/sync/test_sync_client.py`. Here, on real
sockets: which `FailureKind` each way a request can fail becomes, the pool's limit and its wait,
kept-alive connections, streams that give their connection up, content encodings, and TLS.
"""

from __future__ import annotations

import email.message
import gzip
import http.server
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from eventsourcingdb import TransportError
from eventsourcingdb._protocol.errors import FailureKind, TransportFailure
from eventsourcingdb._protocol.requests import ApiVersion, Operation, Request
from eventsourcingdb.emulator import Emulator
from eventsourcingdb.sync import Client as SyncClient
from eventsourcingdb.sync._transport_urllib3 import Urllib3Transport
from tests.certificates import self_signed_certificate

PING = Request(Operation.PING, ApiVersion.V1, "GET", "/api/v1/ping", authenticated=False)
WRITE = Request(Operation.WRITE_EVENTS, ApiVersion.V2, "POST", "/api/v2/data/write-events", b"{}")
OBSERVE = Request(Operation.OBSERVE_EVENTS, ApiVersion.V2, "QUERY", "/api/v2/data/observe-events")

Script = Callable[["Handler"], None]


class Handler(http.server.BaseHTTPRequestHandler):
    """Answers each request with the server's script, on kept-alive HTTP/1.1 connections."""

    protocol_version = "HTTP/1.1"
    server: Server

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def _run(self) -> None:
        self.server.requests.append((self.command, self.headers))
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        self.server.script(self)

    do_GET = do_POST = do_QUERY = _run

    def answer(self, body: bytes, *, headers: dict[str, str] | None = None) -> None:
        """A complete answer (with EventSourcingDB's `Server` header, as every answer)."""
        self.send_response(200)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def version_string(self) -> str:
        return "EventSourcingDB/1.3.0"

    def log_message(self, format: str, *args: object) -> None:
        pass


class Server(http.server.ThreadingHTTPServer):
    """A scripted HTTP server on a loopback port, counting its connections and requests."""

    daemon_threads = True

    def __init__(self, script: Script) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.script = script
        self.connections = 0
        self.requests: list[tuple[str, email.message.Message]] = []
        """Each request's method and headers (looked up without regard to case)."""
        self.release = threading.Event()
        """Set when the test ends: scripts that hold a connection let it go."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def serve() -> Iterator[Callable[[Script], Server]]:
    """Starts scripted servers; all stop when the test ends."""
    servers: list[Server] = []

    def start(script: Script) -> Server:
        server = Server(script)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.release.set()
        server.shutdown()
        server.server_close()


def transport(url: str, **settings: float | int | None) -> Urllib3Transport:
    options: dict[str, float | int | None] = {
        "timeout": 5.0,
        "stall_timeout": 5.0,
        "connect_timeout": 5.0,
    }
    options.update(settings)
    return Urllib3Transport(url, **options)  # type: ignore[arg-type]


def failure_of(call: Callable[[], object]) -> TransportFailure:
    with pytest.raises(TransportFailure) as caught:
        call()
    assert not isinstance(caught.value.__context__, Exception), "no urllib3 exception inside"
    return caught.value


def refused_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def ok(handler: Handler) -> None:
    handler.answer(b'{"type":"io.eventsourcingdb.api.ping-received"}\n')


def hold_chunked(handler: Handler) -> None:
    """A stream that sends one line and then nothing until the test ends."""
    handler.send_response(200)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    handler.wfile.write(b"5\r\nhello\r\n")
    handler.wfile.flush()
    handler.server.release.wait(30)
    handler.close_connection = True


# --- failures, and what each one says about the request ---------------------------------------


def test_a_refused_connection_was_not_sent() -> None:
    failure = failure_of(lambda: transport(refused_url()).send(PING, {}))
    assert failure.kind is FailureKind.NOT_SENT
    assert failure.before_response


def test_a_connection_closed_without_an_answer_is_lost_before_the_response(
    serve: Callable[[Script], Server],
) -> None:
    def close(handler: Handler) -> None:
        handler.close_connection = True

    server = serve(close)
    failure = failure_of(lambda: transport(server.url).send(WRITE, {}))
    assert failure.kind is FailureKind.LOST
    assert failure.before_response


def test_a_body_cut_short_is_lost_after_the_response(serve: Callable[[Script], Server]) -> None:
    def cut(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        handler.wfile.write(b"only ten b")
        handler.close_connection = True

    server = serve(cut)
    failure = failure_of(lambda: transport(server.url).send(WRITE, {}))
    assert failure.kind is FailureKind.LOST
    assert not failure.before_response


def test_silence_times_a_one_shot_request_out_and_stalls_a_stream(
    serve: Callable[[Script], Server],
) -> None:
    def silent(handler: Handler) -> None:
        handler.server.release.wait(30)
        handler.close_connection = True

    server = serve(silent)
    quiet = transport(server.url, timeout=0.2, stall_timeout=0.2)
    timed_out = failure_of(lambda: quiet.send(PING, {}))
    assert (timed_out.kind, timed_out.before_response, timed_out.seconds) == (
        FailureKind.TIMEOUT,
        True,
        0.2,
    )

    def open_stream() -> None:
        with quiet.stream(OBSERVE, {}):
            pass

    stalled = failure_of(open_stream)
    assert (stalled.kind, stalled.before_response) == (FailureKind.STALLED, True)
    assert quiet.busy_connections == 0


def test_a_stream_that_goes_quiet_mid_body_stalls(serve: Callable[[Script], Server]) -> None:
    server = serve(hold_chunked)
    with transport(server.url, stall_timeout=0.2).stream(OBSERVE, {}) as answer:
        assert answer.next_chunk() == b"hello"
        stalled = failure_of(answer.next_chunk)
    assert (stalled.kind, stalled.before_response) == (FailureKind.STALLED, False)


def test_a_content_encoding_that_does_not_decode_is_malformed(
    serve: Callable[[Script], Server],
) -> None:
    def garbled(handler: Handler) -> None:
        handler.answer(b"this is not gzip", headers={"Content-Encoding": "gzip"})

    server = serve(garbled)
    failure = failure_of(lambda: transport(server.url).send(PING, {}))
    assert failure.kind is FailureKind.MALFORMED
    assert not failure.before_response


def test_it_asks_for_compressed_answers_as_httpx_does_and_decodes_them(
    serve: Callable[[Script], Server],
) -> None:
    line = b'{"type":"io.eventsourcingdb.api.ping-received"}\n'

    def compressed(handler: Handler) -> None:
        handler.answer(gzip.compress(line), headers={"Content-Encoding": "gzip"})

    server = serve(compressed)
    answer = transport(server.url).send(PING, {"authorization": "Bearer secret"})
    assert (answer.status, answer.server, answer.body) == (200, "EventSourcingDB/1.3.0", line)
    (_method, headers), *_ = server.requests
    assert "gzip" in headers["accept-encoding"]
    assert headers["authorization"] == "Bearer secret"


# --- the pool --------------------------------------------------------------------------------


def test_connections_are_kept_alive_and_reused(serve: Callable[[Script], Server]) -> None:
    server = serve(ok)
    client = transport(server.url)
    for _ in range(5):
        assert client.send(PING, {}).status == 200
    assert server.connections == 1
    assert client.busy_connections == 0


def test_a_full_pool_fails_without_sending_and_frees_with_the_stream(
    serve: Callable[[Script], Server],
) -> None:
    def route(handler: Handler) -> None:
        if handler.command == "QUERY":
            hold_chunked(handler)
        else:
            ok(handler)

    server = serve(route)
    small = transport(server.url, timeout=0.2, pool_size=1)
    with small.stream(OBSERVE, {}) as answer:
        assert answer.next_chunk() == b"hello"
        assert small.busy_connections == 1
        failure = failure_of(lambda: small.send(PING, {}))
        assert (failure.kind, failure.before_response) == (FailureKind.POOL_EXHAUSTED, True)
        assert (failure.pool_size, failure.seconds) == (1, 0.2)
        assert [method for method, _ in server.requests] == ["QUERY"], "nothing was sent"
    assert small.busy_connections == 0
    assert small.send(PING, {}).status == 200
    assert server.connections == 2, "the stream left early closed its connection"


def test_interrupt_from_another_thread_ends_a_blocked_read(
    serve: Callable[[Script], Server],
) -> None:
    server = serve(hold_chunked)
    client = transport(server.url, stall_timeout=30.0)
    with client.stream(OBSERVE, {}) as answer:
        assert answer.next_chunk() == b"hello"
        threading.Timer(0.1, answer.interrupt).start()
        failure = failure_of(answer.next_chunk)
    assert failure.kind is FailureKind.LOST, "the shut-down socket, not the 30 s stall"
    assert client.busy_connections == 0


def test_a_closed_transport_refuses_and_closes_its_connections(
    serve: Callable[[Script], Server],
) -> None:
    server = serve(ok)
    client = transport(server.url)
    client.send(PING, {})
    pool = client._pool
    assert pool is not None
    client.close()
    assert pool.pool is None
    with pytest.raises(RuntimeError, match="closed"):
        client.send(PING, {})


# --- TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def https_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Emulator, Path]]:
    certificate, key = self_signed_certificate(tmp_path_factory.mktemp("tls"))
    with Emulator().with_https(certificate, key) as emulator:
        yield emulator, certificate


def test_https_trusts_the_certificates_httpx_would(
    https_emulator: tuple[Emulator, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`SSL_CERT_FILE` names the certificates to trust (else certifi's): a server whose
    certificate is not among them is not reached, and nothing is sent."""
    emulator, certificate = https_emulator
    url, token = emulator.get_base_url(), emulator.get_api_token()
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    untrusting = transport(url)
    failure = failure_of(lambda: untrusting.send(PING, {}))
    assert (failure.kind, failure.before_response) == (FailureKind.NOT_SENT, True)
    with SyncClient(url, token) as esdb, pytest.raises(TransportError):
        esdb.ping()
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))
    with SyncClient(url, token) as esdb:
        esdb.verify_api_token()
        assert isinstance(esdb._transport, Urllib3Transport)
    untrusting.close()


# --- the environment's proxy ------------------------------------------------------------------


def test_the_proxy_the_environment_names_forwards_plain_http(
    serve: Callable[[Script], Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As httpx takes `HTTP_PROXY`: a request to a plain-HTTP server goes to the proxy, which
    gets the whole URL to forward to."""
    targets: list[str] = []

    def proxy(handler: Handler) -> None:
        targets.append(handler.path)
        ok(handler)

    server = serve(proxy)
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.url)
    answer = transport("http://esdb.invalid/behind").send(PING, {})
    assert answer.status == 200
    assert targets == ["http://esdb.invalid/behind/api/v1/ping"]
