"""What only the blocking twin has: generators, threads, sockets without an event loop.

Everything the two clients share runs against both in `tests/client` and `tests/integration`;
here are the blocking client's own stream semantics (closing from another thread, `break`,
`contextlib.closing`), its limits on real sockets (stalls, deadlines), and mixing up the twins.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

import httpx
import pytest

from eventsourcingdb import (
    AsyncMismatchError,
    AuthenticationError,
    Client,
    ClientClosedError,
    ObserveEventsOptions,
    ReadEventsOptions,
    StreamStalledError,
    TransportError,
)
from eventsourcingdb.emulator import Emulator
from eventsourcingdb.sync import Client as SyncClient
from eventsourcingdb.sync._transport import Transport
from eventsourcingdb.sync._transport_urllib3 import Urllib3Transport

SOURCE = "https://library.eventsourcingdb.io"
ACQUIRED = "io.eventsourcingdb.library.book-acquired"


def book(subject: str = "/books/42") -> dict[str, Any]:
    return {"source": SOURCE, "subject": subject, "type": ACQUIRED, "data": {"title": "Dune"}}


@pytest.fixture(params=["in-process", "socket"])
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """The emulator in process (the blocking client sends through httpx and the emulator's
    transport) or on a socket (through the client's own pool, on urllib3)."""
    with Emulator(in_process=request.param == "in-process") as server:
        yield server


@pytest.fixture(params=["urllib3", "httpx"])
def backend(request: pytest.FixtureRequest) -> str:
    """How a blocking client on a socket sends: its own pool (urllib3), or httpx."""
    name: str = request.param
    return name


def socket_client(backend: str, base_url: str, api_token: str, **settings: Any) -> SyncClient:
    """A blocking client of the server at `base_url` through `backend` (for httpx: an httpx
    transport of the client's own httpx client)."""
    if backend == "httpx":
        settings["transport"] = httpx.HTTPTransport()
    return SyncClient(base_url, api_token, **settings)


@pytest.fixture
def client(emulator: Emulator) -> Iterator[SyncClient]:
    """A blocking client with two events on /books/42."""
    with emulator.get_sync_client() as esdb:
        esdb.write_events([book(), book()])
        yield esdb


def streams(client: SyncClient) -> dict[str, Callable[[], Generator[Any, None, None]]]:
    return {
        "read_events": lambda: client.read_events("/books/42"),
        "observe_events": lambda: client.observe_events("/books/42"),
        "run_eventql_query": lambda: client.run_eventql_query("FROM e IN events PROJECT INTO e"),
        "read_subjects": lambda: client.read_subjects("/"),
        "read_event_types": lambda: client.read_event_types(),
    }


class Consumer(threading.Thread):
    """A thread running a plain `for` loop over a stream, as blocking code does."""

    def __init__(self, stream: Iterator[Any]) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.seen: list[Any] = []
        self.error: BaseException | None = None
        self.ended = False

    def run(self) -> None:
        try:
            for item in self.stream:
                self.seen.append(item)
            self.ended = True
        except BaseException as error:
            self.error = error

    def waits_in_stream(self) -> bool:
        return getattr(self.stream, "_owner", None) == self.ident


def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


# --- the shape -------------------------------------------------------------------------------


def test_every_stream_is_a_generator(client: SyncClient) -> None:
    for name, make in streams(client).items():
        stream = make()
        assert isinstance(stream, collections.abc.Generator), name
        assert iter(stream) is stream
        assert next(stream) is not None
        stream.close()
        with pytest.raises(StopIteration):
            next(stream)
        stream.close()  # twice is fine


def test_send_and_throw_behave_like_a_generators(client: SyncClient) -> None:
    stream = client.read_events("/books/42")
    assert stream.send(None).event_id == "0"
    assert stream.send(None).event_id == "1"
    with pytest.raises(StopIteration):
        stream.send(None)
    thrown = client.observe_events("/books/42")
    assert next(thrown).event_id == "0"
    with pytest.raises(KeyError, match="stop"):
        thrown.throw(KeyError("stop"))
    with pytest.raises(StopIteration):
        next(thrown)


def test_a_second_concurrent_next_is_refused(client: SyncClient) -> None:
    observed = client.observe_events("/books/42")
    consumer = Consumer(observed)
    consumer.start()
    until(lambda: len(consumer.seen) == 2 and consumer.waits_in_stream())
    with pytest.raises(ValueError, match="already executing"):
        next(observed)
    observed.close()
    consumer.join(5)
    assert consumer.ended


# --- closing from another thread -------------------------------------------------------------


def test_close_from_another_thread_ends_an_observation_cleanly(client: SyncClient) -> None:
    stream = client.observe_events("/books/42")
    consumer = Consumer(stream)
    consumer.start()
    until(lambda: len(consumer.seen) == 2 and consumer.waits_in_stream())
    stream.close()
    assert not consumer.waits_in_stream(), "close() returns once the step has ended"
    consumer.join(5)
    assert consumer.ended, consumer.error
    assert [event.event_id for event in consumer.seen] == ["0", "1"]
    with pytest.raises(StopIteration):
        next(stream)


def test_close_from_another_thread_leaves_the_client_usable(client: SyncClient) -> None:
    for _ in range(3):
        stream = client.observe_events("/books/42", ObserveEventsOptions())
        consumer = Consumer(stream)
        consumer.start()
        until(lambda consumer=consumer: len(consumer.seen) == 2)  # type: ignore[misc]
        stream.close()
        consumer.join(5)
        assert consumer.ended
    assert len(list(client.read_events("/books/42"))) == 2


# --- connections: what a stream holds, and gives back ----------------------------------------


@pytest.fixture(scope="module")
def socket_emulator() -> Iterator[Emulator]:
    with Emulator() as server:
        yield server


Busy = Callable[[], int]
"""How many connections of a client's pool are in use."""


def httpx_busy(http: httpx.Client) -> Busy:
    transport: Any = http._transport
    return lambda: sum(1 for connection in transport._pool.connections if not connection.is_idle())


@pytest.fixture
def one_connection(socket_emulator: Emulator, backend: str) -> Iterator[tuple[SyncClient, Busy]]:
    """A blocking client whose pool has a single connection: an injected httpx client with one,
    or the client's own pool made one connection small (the public API always has 100)."""
    socket_emulator.reset()
    url = socket_emulator.get_base_url()
    with contextlib.ExitStack() as stack:
        if backend == "httpx":
            http = stack.enter_context(httpx.Client(limits=httpx.Limits(max_connections=1)))
            esdb = stack.enter_context(
                socket_emulator.get_sync_client(http_client=http, timeout=1.0)
            )
            busy = httpx_busy(http)
        else:
            esdb = stack.enter_context(socket_emulator.get_sync_client(timeout=1.0))
            own = Urllib3Transport(
                url, timeout=1.0, stall_timeout=30.0, connect_timeout=10.0, pool_size=1
            )
            esdb._transport = own
            stack.callback(own.close)
            busy = lambda: own.busy_connections  # noqa: E731
        esdb.write_events([book(), book()])
        yield esdb, busy


def test_break_and_closing_release_the_connection(
    one_connection: tuple[SyncClient, Busy],
) -> None:
    esdb, busy = one_connection
    for _ in range(3):
        for _event in esdb.observe_events("/books/42"):
            assert busy() == 1
            break
        assert busy() == 0, "the generator is finalised when the loop drops it"
        with contextlib.closing(esdb.observe_events("/books/42")) as events:
            next(events)
        assert busy() == 0


def test_close_releases_the_connection_before_it_returns(
    one_connection: tuple[SyncClient, Busy],
) -> None:
    esdb, busy = one_connection
    for name, make in streams(esdb).items():
        stream = make()
        next(stream)
        held = [stream]  # keep it referenced: only close() may release it here
        stream.close()
        assert busy() == 0, name
        del held


def test_close_from_another_thread_releases_the_socket_at_once(
    one_connection: tuple[SyncClient, Busy],
) -> None:
    esdb, busy = one_connection
    for _ in range(3):
        stream = esdb.observe_events("/books/42")
        consumer = Consumer(stream)
        consumer.start()
        until(lambda consumer=consumer: len(consumer.seen) == 2 and consumer.waits_in_stream())  # type: ignore[misc]
        assert busy() == 1
        started = time.monotonic()
        stream.close()
        assert time.monotonic() - started < 0.5, "the blocked read is interrupted, not awaited"
        assert busy() == 0
        consumer.join(5)
        assert consumer.ended, consumer.error
    assert [e.event_id for e in esdb.read_events("/books/42")] == ["0", "1"]


# --- limits on a real socket -----------------------------------------------------------------


class SilentServer:
    """A TCP server that answers with EventSourcingDB's headers and then sends `body` parts,
    `gap` seconds apart, and nothing more: a stalled or trickling server."""

    def __init__(self, parts: list[bytes], gap: float, *, chunked: bool = True) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._parts = parts
        self._gap = gap
        self._chunked = chunked
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nServer: EventSourcingDB/1.3.0\r\n"
                b"Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            for part in self._parts:
                if self._stop.wait(self._gap):
                    return
                with contextlib.suppress(OSError):
                    connection.sendall(b"%x\r\n%s\r\n" % (len(part), part))
            self._stop.wait(10)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()


@pytest.fixture
def silent() -> Iterator[Callable[[list[bytes], float], SilentServer]]:
    servers: list[SilentServer] = []

    def start(parts: list[bytes], gap: float) -> SilentServer:
        server = SilentServer(parts, gap)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def test_a_stream_without_a_byte_stalls_on_a_real_socket(
    silent: Callable[[list[bytes], float], SilentServer], backend: str
) -> None:
    server = silent([], 0.0)
    with socket_client(
        backend, f"http://127.0.0.1:{server.port}", "secret", api_version=1, stall_timeout=0.3
    ) as esdb:
        started = time.monotonic()
        with pytest.raises(StreamStalledError, match=r"no byte arrived for 0\.3 seconds"):
            list(esdb.observe_events("/books"))
        assert 0.25 < time.monotonic() - started < 5


def test_a_trickling_one_shot_answer_ends_at_the_deadline(
    silent: Callable[[list[bytes], float], SilentServer], backend: str
) -> None:
    server = silent([b" "] * 100, 0.1)
    with socket_client(
        backend, f"http://127.0.0.1:{server.port}", "secret", api_version=2, timeout=0.5
    ) as esdb:
        started = time.monotonic()
        with pytest.raises(TransportError, match=r"did not answer within 0\.5 seconds"):
            esdb.read_event_type("io.eventsourcingdb.library.book-acquired")
        assert time.monotonic() - started < 2, "each chunk is checked against the deadline"


def test_the_in_process_emulator_stalls_like_a_socket() -> None:
    """Its blocking transport applies the read timeout, so `stall_timeout` holds in process."""
    with (
        Emulator(in_process=True).with_heartbeat_interval(5.0) as quiet,
        quiet.get_sync_client(stall_timeout=0.3) as esdb,
    ):
        started = time.monotonic()
        with pytest.raises(StreamStalledError, match=r"no byte arrived for 0\.3 seconds"):
            list(esdb.observe_events("/books"))
        assert time.monotonic() - started < 3
        esdb.write_events([book()])
        assert [e.event_id for e in esdb.read_events("/books/42")] == ["0"]


def test_every_server_handle_hands_out_blocking_clients(emulator: Emulator) -> None:
    from eventsourcingdb.testing import RemoteServer

    with emulator.get_sync_client(api_token="wrong") as stranger:
        stranger.ping()
        with pytest.raises(AuthenticationError):
            stranger.verify_api_token()
    if emulator.get_host() != "emulator.invalid":
        remote = RemoteServer(emulator.get_base_url(), emulator.get_api_token())
        with remote.get_sync_client() as esdb:
            esdb.verify_api_token()


def test_an_owned_connection_pool_is_created_lazily_and_closed(socket_emulator: Emulator) -> None:
    client = socket_emulator.get_sync_client()
    transport = client._transport
    assert isinstance(transport, Urllib3Transport)
    assert transport._pool is None
    client.ping()
    client.ping()
    pool = transport._pool
    assert pool is not None
    assert pool.num_connections == 1, "the connection is kept alive and reused"
    client.close()
    assert pool.pool is None, "closed"
    with pytest.raises(ClientClosedError):
        client.ping()


def test_an_owned_httpx_client_over_a_given_transport_is_created_lazily_and_closed(
    socket_emulator: Emulator,
) -> None:
    client = SyncClient(
        socket_emulator.get_base_url(),
        socket_emulator.get_api_token(),
        transport=httpx.HTTPTransport(),
    )
    transport: Any = client._transport
    assert isinstance(transport, Transport)
    assert transport._client is None
    client.ping()
    http = transport._client
    assert isinstance(http, httpx.Client)
    client.close()
    assert http.is_closed
    with httpx.Client() as given:
        with socket_emulator.get_sync_client(http_client=given) as borrowing:
            borrowing.ping()
        assert not given.is_closed, "a given httpx.Client stays its owner's"


def test_the_client_runs_no_thread_and_no_event_loop(socket_emulator: Emulator) -> None:
    socket_emulator.reset()
    before = set(threading.enumerate())
    with socket_emulator.get_sync_client() as esdb:
        esdb.write_events([book()])
        assert [e.event_id for e in esdb.read_events("/books/42")] == ["0"]
        for _ in esdb.observe_events("/books/42"):
            break
        assert set(threading.enumerate()) == before
        with pytest.raises(RuntimeError):
            asyncio.get_running_loop()


def test_the_client_works_where_an_event_loop_runs_too(socket_emulator: Emulator) -> None:
    """As in a notebook, whose cells run inside an event loop: blocking calls still work."""
    socket_emulator.reset()

    async def cell() -> list[str]:
        with socket_emulator.get_sync_client() as esdb:
            esdb.write_events([book()])
            return [e.event_id for e in esdb.read_events("/books/42")]

    assert asyncio.run(cell()) == ["0"]


def test_threads_share_one_client(socket_emulator: Emulator) -> None:
    socket_emulator.reset()
    with socket_emulator.get_sync_client() as esdb:
        errors: list[BaseException] = []

        def write(n: int) -> None:
            try:
                for _ in range(10):
                    esdb.write_events([book(f"/books/{n}")])
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        total = list(esdb.read_events("/books", ReadEventsOptions(recursive=True)))
        assert len(total) == 80


# --- mixing up the twins ---------------------------------------------------------------------


async def test_async_for_over_a_blocking_stream_names_the_fix(client: SyncClient) -> None:
    stream = client.read_events("/books/42")
    with pytest.raises(
        AsyncMismatchError, match=r"plain `for` loop.*async eventsourcingdb\.Client"
    ):
        async for _ in stream:  # type: ignore[attr-defined]
            pass
    stream.close()


async def test_async_with_a_blocking_client_names_the_fix(emulator: Emulator) -> None:
    esdb = emulator.get_sync_client()
    with pytest.raises(AsyncMismatchError, match=r"use it with `with`.*eventsourcingdb\.Client"):
        async with esdb:
            pass
    esdb.close()


async def test_for_over_an_async_stream_names_the_fix(emulator: Emulator) -> None:
    async with emulator.get_client() as esdb:
        stream = esdb.read_events("/books/42")
        with pytest.raises(AsyncMismatchError, match=r"`async for`.*eventsourcingdb\.sync\.Client"):
            for _ in stream:  # type: ignore[attr-defined]
                pass
        await stream.aclose()


def test_with_an_async_client_names_the_fix(emulator: Emulator) -> None:
    esdb: Client = emulator.get_client()
    with (
        pytest.raises(AsyncMismatchError, match=r"`async with`.*eventsourcingdb\.sync\.Client"),
        esdb,
    ):
        pass


def test_mismatch_errors_are_type_errors_of_the_sdk() -> None:
    from eventsourcingdb import EventSourcingDBError

    assert issubclass(AsyncMismatchError, EventSourcingDBError)
    assert issubclass(AsyncMismatchError, TypeError)
