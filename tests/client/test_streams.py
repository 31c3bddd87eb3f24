"""The streams the client returns: closable from another task, and never keeping a connection.

Over the in-process emulator for behaviour, and over the emulator on a socket where the
connection pool matters (what a stream holds, and what it gives back). The blocking twin runs
them too (its streams closed from another thread), except those about asyncio's task semantics;
its own stream semantics are in `tests/sync`.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib
import gc
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from eventsourcingdb import (
    Client,
    ObserveEventsOptions,
    OutcomeUnknownError,
    ReadEventsOptions,
    StreamStalledError,
    TransportError,
)
from eventsourcingdb._transport_aiohttp import AiohttpTransport
from eventsourcingdb.emulator import Emulator
from eventsourcingdb.sync._transport_urllib3 import Urllib3Transport
from tests.client.conftest import Backend, in_process
from tests.twins import AsyncStream, Twin, blocking, new_client, server_client

SOURCE = "https://library.eventsourcingdb.io"
ACQUIRED = "io.eventsourcingdb.library.book-acquired"


def book(subject: str = "/books/42") -> dict[str, Any]:
    return {"source": SOURCE, "subject": subject, "type": ACQUIRED, "data": {"title": "Dune"}}


ASYNCIO_TASKS = "asyncio's task semantics of the async stream (the blocking one's: tests/sync)"


@pytest.fixture
async def client(backend: Backend, twin: Twin) -> AsyncIterator[Client]:
    """A client of the emulator (in process over httpx, or on a socket), with two events on
    /books/42."""
    emulator = Emulator(in_process=in_process(backend)).start()
    try:
        async with server_client(twin, emulator) as esdb:
            await esdb.write_events([book(), book()])
            yield esdb
    finally:
        emulator.stop()


def streams(client: Client) -> dict[str, Callable[[], AsyncGenerator[Any, None]]]:
    """Every streaming method of the client."""
    return {
        "read_events": lambda: client.read_events("/books/42"),
        "observe_events": lambda: client.observe_events("/books/42"),
        "run_eventql_query": lambda: client.run_eventql_query("FROM e IN events PROJECT INTO e"),
        "read_subjects": lambda: client.read_subjects("/"),
        "read_event_types": lambda: client.read_event_types(),
    }


async def consume(stream: AsyncIterator[Any], seen: list[Any]) -> str:
    """The seed README's loop: `async for` over a stored generator."""
    async for item in stream:
        seen.append(item)
    return "the loop ended"


def waits(stream: AsyncGenerator[Any, None], task: asyncio.Task[Any]) -> bool:
    """Whether `task` waits in the stream (the blocking twin: a thread runs a step of it)."""
    if isinstance(stream, AsyncStream):
        return getattr(stream.blocking, "_owner", None) is not None
    return getattr(stream, "_task", None) is task


async def until_waiting(stream: AsyncGenerator[Any, None], task: asyncio.Task[Any]) -> None:
    """Let `task` run until it waits in the stream for the server (observing: for new events)."""
    for _ in range(200):
        await asyncio.sleep(0.01)
        assert not task.done()
        if waits(stream, task):
            return
    raise AssertionError("the consumer never waited in the stream")


# --- the shape -------------------------------------------------------------------------------


@pytest.mark.twins("async", reason=ASYNCIO_TASKS)
async def test_every_stream_is_an_async_generator(client: Client) -> None:
    for name, make in streams(client).items():
        stream = make()
        assert isinstance(stream, collections.abc.AsyncGenerator), name
        assert stream.__aiter__() is stream
        assert await anext(stream) is not None
        await stream.aclose()
        with pytest.raises(StopAsyncIteration):
            await anext(stream)
        await stream.aclose()  # twice is fine


@pytest.mark.twins("async", reason=ASYNCIO_TASKS)
async def test_asend_and_athrow_behave_like_a_generators(client: Client) -> None:
    stream = client.read_events("/books/42")
    assert (await stream.asend(None)).event_id == "0"
    assert (await stream.asend(None)).event_id == "1"
    with pytest.raises(StopAsyncIteration):
        await stream.asend(None)
    thrown = client.observe_events("/books/42")
    assert (await anext(thrown)).event_id == "0"
    with pytest.raises(KeyError, match="stop"):
        await thrown.athrow(KeyError("stop"))
    with pytest.raises(StopAsyncIteration):
        await anext(thrown)


@pytest.mark.twins("async", reason=ASYNCIO_TASKS)
async def test_a_second_concurrent_anext_is_refused(client: Client) -> None:
    observed = client.observe_events("/books/42")
    assert (await anext(observed)).event_id == "0"
    assert (await anext(observed)).event_id == "1"
    waiting = asyncio.ensure_future(anext(observed))
    await asyncio.sleep(0.05)
    with pytest.raises(RuntimeError, match="already running"):
        await anext(observed)
    await observed.aclose()
    with pytest.raises(StopAsyncIteration):
        await waiting


# --- closing from another task (the seed README's pattern) -----------------------------------


async def test_aclose_from_another_task_ends_an_observation_cleanly(client: Client) -> None:
    stream = client.observe_events("/books/42")
    seen: list[Any] = []
    consumer = asyncio.create_task(consume(stream, seen))
    await until_waiting(stream, consumer)  # it has the stored events and waits for more
    assert [event.event_id for event in seen] == ["0", "1"]
    await asyncio.wait_for(stream.aclose(), 5)
    assert consumer.done(), "aclose() returns once the loop has ended"
    assert await consumer == "the loop ended"
    assert not consumer.cancelled()
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


@pytest.mark.twins("async", reason=ASYNCIO_TASKS)
async def test_the_consumer_task_is_not_left_cancelled(client: Client) -> None:
    stream = client.observe_events("/books/42")

    async def consume_then_wait() -> int:
        async for _ in stream:
            pass
        current = asyncio.current_task()
        assert current is not None
        await asyncio.sleep(0.01)  # would raise CancelledError if a cancellation were pending
        return current.cancelling()

    consumer = asyncio.create_task(consume_then_wait())
    await until_waiting(stream, consumer)
    await stream.aclose()
    assert await consumer == 0


async def test_an_outer_cancellation_of_the_consumer_still_propagates(client: Client) -> None:
    stream = client.observe_events("/books/42")
    consumer = asyncio.create_task(consume(stream, []))
    await until_waiting(stream, consumer)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


@pytest.mark.twins("async", reason=ASYNCIO_TASKS)
async def test_an_outer_cancellation_together_with_aclose_still_propagates(
    client: Client,
) -> None:
    for outer_first in (True, False):
        stream = client.observe_events("/books/42")
        consumer = asyncio.create_task(consume(stream, []))
        await until_waiting(stream, consumer)
        if outer_first:
            consumer.cancel()
            closing = asyncio.ensure_future(stream.aclose())
        else:
            closing = asyncio.ensure_future(stream.aclose())
            await asyncio.sleep(0)  # aclose() has cancelled the step
            consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        await asyncio.wait_for(closing, 5)


async def test_a_timeout_around_the_loop_still_fires(client: Client) -> None:
    stream = client.observe_events("/books/42")
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await consume(stream, [])
    await stream.aclose()


async def test_an_observation_outlives_the_client_timeout_while_heartbeats_flow(
    backend: Backend, twin: Twin
) -> None:
    emulator = Emulator(in_process=in_process(backend)).with_heartbeat_interval(0.1).start()
    try:
        async with server_client(twin, emulator, timeout=0.5, stall_timeout=1.0) as esdb:
            stream = esdb.observe_events("/", ObserveEventsOptions(recursive=True))
            seen: list[Any] = []
            consumer = asyncio.create_task(consume(stream, seen))
            await asyncio.sleep(1.0)
            await esdb.write_events([book()])
            await asyncio.sleep(1.0)
            assert not consumer.done(), "2 seconds of observing, 4 times the timeout"
            await esdb.write_events([book()])
            await asyncio.sleep(0.1)
            await stream.aclose()
            assert await consumer == "the loop ended"
            assert [item.event_id for item in seen] == ["0", "1"]
    finally:
        emulator.stop()


# --- connections: what a stream holds, and gives back ----------------------------------------


@pytest.fixture(scope="module")
def socket_emulator() -> Iterator[Emulator]:
    """The emulator on a loopback socket, so that streams hold real pooled connections."""
    with Emulator() as emulator:
        yield emulator


Busy = Callable[[], int]
"""How many connections of the client's pool are in use right now."""


def httpx_busy(http: httpx.AsyncClient | httpx.Client) -> Busy:
    """The connections in use of `http`'s pool (httpcore's pool, looked at directly)."""

    def busy() -> int:
        transport: Any = http._transport
        pool = transport._pool
        return sum(1 for connection in pool.connections if not connection.is_idle())

    return busy


@pytest.fixture
async def one_connection(
    socket_emulator: Emulator, backend: Backend
) -> AsyncIterator[tuple[Client, Busy]]:
    """A client whose pool has a single connection: a stream that keeps it blocks every call.

    httpx (both twins): an injected client with one connection; aiohttp and urllib3: the
    client's own pool, made one connection small (the public API always has 100)."""
    socket_emulator.reset()
    url, token = socket_emulator.get_base_url(), socket_emulator.get_api_token()
    async with contextlib.AsyncExitStack() as stack:
        if backend == "sync":
            esdb = await stack.enter_async_context(new_client(Twin.SYNC, url, token, timeout=1.0))
            own = Urllib3Transport(
                url, timeout=1.0, stall_timeout=30.0, connect_timeout=10.0, pool_size=1
            )
            blocking(esdb)._transport = own
            stack.callback(own.close)

            def busy() -> int:
                return own.busy_connections

        elif backend == "sync-httpx":
            blocking_http = stack.enter_context(
                httpx.Client(limits=httpx.Limits(max_connections=1))
            )
            esdb = await stack.enter_async_context(
                new_client(Twin.SYNC, url, token, http_client=blocking_http, timeout=1.0)
            )
            busy = httpx_busy(blocking_http)
        elif backend == "httpx":
            http = await stack.enter_async_context(
                httpx.AsyncClient(limits=httpx.Limits(max_connections=1))
            )
            esdb = await stack.enter_async_context(
                Client(url, token, http_client=http, timeout=1.0)
            )
            busy = httpx_busy(http)
        else:
            esdb = await stack.enter_async_context(Client(url, token, timeout=1.0))
            transport = AiohttpTransport(
                url, timeout=1.0, stall_timeout=30.0, connect_timeout=10.0, pool_size=1
            )
            esdb._transport = transport
            stack.push_async_callback(transport.aclose)

            def busy() -> int:
                return transport.busy_connections

        await esdb.write_events([book(), book()])
        assert busy() == 0
        yield esdb, busy


async def released(busy: Busy) -> bool:
    """Whether the pool has no connection in use within a moment (for a stream left to the
    garbage collector, whose finaliser closes it a few loop iterations later)."""
    for _ in range(100):
        if busy() == 0:
            return True
        gc.collect()
        await asyncio.sleep(0.01)
    return False


async def test_break_releases_the_connection(
    one_connection: tuple[Client, Busy],
) -> None:
    esdb, busy = one_connection
    for _ in range(3):
        async for _event in esdb.observe_events("/books/42"):
            assert busy() == 1
            break
        assert await released(busy)
        stored = esdb.read_events("/books/42")
        async for _event in stored:
            break
        del stored
        assert await released(busy)
    assert len([e async for e in esdb.read_events("/books/42")]) == 2


async def test_aclosing_releases_the_connection_at_once(
    one_connection: tuple[Client, Busy],
) -> None:
    esdb, busy = one_connection
    for _ in range(3):
        async with contextlib.aclosing(esdb.observe_events("/books/42")) as events:
            async for _event in events:
                break
        assert busy() == 0


async def test_aclose_releases_the_connection_before_it_returns(
    one_connection: tuple[Client, Busy],
) -> None:
    esdb, busy = one_connection
    for name, make in streams(esdb).items():
        stream = make()
        await anext(stream)
        await stream.aclose()
        assert busy() == 0, name


async def test_aclose_from_another_task_releases_the_connection_before_it_returns(
    one_connection: tuple[Client, Busy],
) -> None:
    esdb, busy = one_connection
    for _ in range(3):
        stream = esdb.observe_events("/books/42")
        consumer = asyncio.create_task(consume(stream, []))
        await until_waiting(stream, consumer)
        assert busy() == 1
        await stream.aclose()
        assert busy() == 0
        assert await consumer == "the loop ended"


async def test_cancelling_the_consumer_releases_the_connection(
    one_connection: tuple[Client, Busy],
) -> None:
    esdb, busy = one_connection
    for _ in range(3):
        stream = esdb.observe_events("/books/42")
        consumer = asyncio.create_task(consume(stream, []))
        await until_waiting(stream, consumer)
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        assert busy() == 0


@pytest.mark.twins("async", reason="asyncio's cancellation of a call (a blocking call has none)")
async def test_a_call_cancelled_at_any_moment_gives_its_connection_back(
    one_connection: tuple[Client, Busy],
) -> None:
    """Cancelled after 0, 1, 2, ... turns of the event loop, each call is cut at another point
    of its way: waiting for a connection, connecting, sending, reading, closing. Wherever it is
    cut, the connection goes back (httpcore alone loses it at two of these points), so the one
    connection of the pool serves the next call."""
    esdb, busy = one_connection
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "observe_events": lambda: consume(esdb.observe_events("/books/42"), []),
        "read_events": lambda: consume(esdb.read_events("/books/42"), []),
        "ping": esdb.ping,
        "write_events": lambda: esdb.write_events([book("/books/43")]),
    }
    for name, call in calls.items():
        for turns in range(80):
            task = asyncio.ensure_future(call())
            for _ in range(turns):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert busy() == 0, f"{name}, cancelled after {turns} turns"
        await esdb.ping()  # waits at most the client's timeout (1 s) for the connection


async def test_more_aborted_streams_than_connections_in_sequence(
    one_connection: tuple[Client, Busy],
) -> None:
    esdb, _busy = one_connection
    aborts: list[Callable[[AsyncGenerator[Any, None]], Awaitable[None]]] = []

    async def by_break(stream: AsyncGenerator[Any, None]) -> None:
        async for _ in stream:
            break

    async def by_aclose(stream: AsyncGenerator[Any, None]) -> None:
        await anext(stream)
        await stream.aclose()

    async def by_concurrent_aclose(stream: AsyncGenerator[Any, None]) -> None:
        consumer = asyncio.create_task(consume(stream, []))
        await until_waiting(stream, consumer)
        await stream.aclose()
        await consumer

    async def by_cancellation(stream: AsyncGenerator[Any, None]) -> None:
        consumer = asyncio.create_task(consume(stream, []))
        await until_waiting(stream, consumer)
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer

    aborts = [by_break, by_aclose, by_concurrent_aclose, by_cancellation]
    for round_ in range(3):
        for abort in aborts:
            # with one connection, a stream that kept it would make the next call time out
            await abort(esdb.observe_events("/books/42"))
            assert [e.event_id async for e in esdb.read_events("/books/42")] == ["0", "1"], (
                round_,
                abort.__name__,
            )


@pytest.mark.parametrize(
    "name",
    ["read_events", "observe_events", "run_eventql_query", "read_subjects", "read_event_types"],
)
@pytest.mark.twins("async", reason=ASYNCIO_TASKS)
async def test_aclose_from_another_task_while_waiting_for_the_answer(
    one_connection: tuple[Client, Busy], name: str
) -> None:
    esdb, busy = one_connection
    stream = streams(esdb)[name]()
    consumer = asyncio.create_task(consume(stream, []))
    await asyncio.sleep(0)  # the consumer sends its request and waits for the answer
    assert getattr(stream, "_task", None) is consumer
    await asyncio.wait_for(stream.aclose(), 5)
    assert consumer.done()
    assert await consumer == "the loop ended"
    assert busy() == 0


# --- a pool without a free connection --------------------------------------------------------


async def test_a_write_that_found_no_free_connection_was_not_sent(
    one_connection: tuple[Client, Busy],
) -> None:
    esdb, busy = one_connection
    holder = esdb.observe_events("/books/42")
    await anext(holder)
    with pytest.raises(TransportError) as caught:
        await esdb.write_events([book()])
    assert not isinstance(caught.value, OutcomeUnknownError)
    message = str(caught.value)
    assert message.startswith("write_events: no connection became free within 1 seconds")
    assert "held by open streams" in message
    assert "the request was not sent" in message
    assert "httpx.Limits" in message
    with pytest.raises(TransportError) as read_failure:
        await anext(esdb.read_events("/books/42"))
    assert not isinstance(read_failure.value, StreamStalledError)
    assert "held by open streams" in str(read_failure.value)
    await holder.aclose()
    assert busy() == 0
    assert [e.event_id async for e in esdb.read_events("/books/42")] == ["0", "1"]


async def test_the_client_own_pool_names_its_connection_limit(
    socket_emulator: Emulator, twin: Twin
) -> None:
    socket_emulator.reset()
    async with new_client(
        twin, socket_emulator.get_base_url(), socket_emulator.get_api_token(), timeout=1.0
    ) as esdb:
        await esdb.write_events([book()])
        holders = [esdb.observe_events("/books/42") for _ in range(100)]
        try:
            await asyncio.gather(*(anext(holder) for holder in holders))
            with pytest.raises(TransportError) as caught:
                await esdb.write_events([book()])
            assert not isinstance(caught.value, OutcomeUnknownError)
            assert "all 100 connections of the client's pool are held by open streams" in str(
                caught.value
            )
            with pytest.raises(TransportError) as read_failure:
                await anext(esdb.read_events("/books/42", ReadEventsOptions()))
            assert not isinstance(read_failure.value, StreamStalledError)
            assert "check base_url" not in str(read_failure.value)
        finally:
            for holder in holders:
                await holder.aclose()
        assert [e.event_id async for e in esdb.read_events("/books/42")] == ["0"]
