"""The typed streams (`EventStore.read`, `observe`, `query`) end as the client's do: `aclose()`
from another task while a loop waits in one ends that loop cleanly and releases the connection.

Both twins run these (the blocking one's streams closed from another thread), except those about
asyncio's task semantics; the blocking twin's own are in `tests/sync`."""

from __future__ import annotations

import asyncio
import collections.abc
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import BaseModel

from eventsourcingdb import Client, InvalidArgumentError, ReadEventsOptions
from eventsourcingdb.emulator import Emulator
from eventsourcingdb.models import (
    EventRegistry,
    EventStore,
    OnUnknown,
    RecordedEvent,
    UnknownEventTypeError,
)
from tests.client.test_streams import consume, until_waiting
from tests.twins import Twin, new_store, server_client

SOURCE = "https://library.eventsourcingdb.io"
REGISTRY = EventRegistry()


@REGISTRY.event_type("io.eventsourcingdb.library.book-acquired")
class BookAcquired(BaseModel):
    title: str


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    emulator = Emulator(in_process=True).start()
    try:
        yield emulator
    finally:
        emulator.stop()


ASYNCIO_TASKS = "asyncio's task semantics of the async stream (the blocking one's: tests/sync)"


@pytest.fixture
async def store(emulator: Emulator, twin: Twin) -> AsyncIterator[EventStore]:
    """A store of `twin` over an emulator with two books on /books/42."""
    async with server_client(twin, emulator) as client:
        store = new_store(client, source=SOURCE, registry=REGISTRY)
        await store.append("/books/42", BookAcquired(title="Dune"), BookAcquired(title="Emma"))
        yield store


def typed_streams(store: EventStore) -> dict[str, Callable[[], AsyncGenerator[Any, None]]]:
    """Every streaming method of the store."""
    everything = "FROM e IN events PROJECT INTO e"
    return {
        "read": lambda: store.read("/books/42"),
        "observe": lambda: store.observe("/books/42"),
        "query events": lambda: store.query(everything, row_type=RecordedEvent),
        "query rows": lambda: store.query("FROM e IN events PROJECT INTO e.id", row_type=str),
    }


@pytest.mark.twins("async", reason=ASYNCIO_TASKS)
async def test_every_typed_stream_is_an_async_generator(store: EventStore) -> None:
    for name, make in typed_streams(store).items():
        stream = make()
        assert isinstance(stream, collections.abc.AsyncGenerator), name
        assert await anext(stream) is not None
        await stream.aclose()
        with pytest.raises(StopAsyncIteration):
            await anext(stream)


async def test_aclose_from_another_task_ends_a_typed_observation_cleanly(
    store: EventStore,
) -> None:
    stream = store.observe("/books/42")
    seen: list[Any] = []
    consumer = asyncio.create_task(consume(stream, seen))
    await until_waiting(stream, consumer)  # it has the stored events and waits for more
    assert [recorded.data for recorded in seen] == [
        BookAcquired(title="Dune"),
        BookAcquired(title="Emma"),
    ]
    await asyncio.wait_for(stream.aclose(), 5)
    assert consumer.done(), "aclose() returns once the loop has ended"
    assert await consumer == "the loop ended"
    assert not consumer.cancelled()


async def test_aclose_from_another_task_ends_every_typed_stream_waiting_for_the_server(
    store: EventStore, emulator: Emulator
) -> None:
    for name, make in typed_streams(store).items():
        emulator.faults.stall_streams(30)  # the consumer waits in the stream for the answer
        try:
            stream = make()
            consumer = asyncio.create_task(consume(stream, []))
            await until_waiting(stream, consumer)
            await asyncio.wait_for(stream.aclose(), 5)
            assert await consumer == "the loop ended", name
        finally:
            emulator.faults.stall_streams(0)
    assert [recorded.event_id async for recorded in store.read("/books/42")] == ["0", "1"]


@pytest.mark.twins("async", reason=ASYNCIO_TASKS)
async def test_an_outer_cancellation_of_a_typed_consumer_still_propagates(
    store: EventStore,
) -> None:
    stream = store.observe("/books/42")
    consumer = asyncio.create_task(consume(stream, []))
    await until_waiting(stream, consumer)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_events_before_one_that_cannot_be_decoded_are_handed_out_first(
    store: EventStore,
) -> None:
    client: Client = store.client
    await client.write_events(
        events=[
            {"source": SOURCE, "subject": "/books/42", "type": "io.x.unknown", "data": {}},
            {"source": SOURCE, "subject": "/books/42", "type": "io.x.unknown", "data": {}},
        ]
    )
    seen: list[str] = []

    async def read_all() -> None:
        async for recorded in store.read("/books/42"):
            seen.append(recorded.event_id)

    with pytest.raises(UnknownEventTypeError, match=r"io\.x\.unknown"):
        await read_all()
    assert seen == ["0", "1"]
    skipped = store.read("/books/42", on_unknown=OnUnknown.SKIP)
    assert [recorded.event_id async for recorded in skipped] == ["0", "1"]
    raw = store.read("/books/42", on_unknown=OnUnknown.YIELD_RAW)
    assert [item.event_id async for item in raw] == ["0", "1", "2", "3"]


async def test_bad_arguments_are_refused_when_the_stream_is_made(store: EventStore) -> None:
    with pytest.raises(InvalidArgumentError, match="subject"):
        store.read("books")
    with pytest.raises(InvalidArgumentError, match="options"):
        store.observe("/books", ReadEventsOptions())  # type: ignore[call-overload]
    with pytest.raises(InvalidArgumentError, match="on_unknown"):
        store.read("/books", on_unknown="skip")  # type: ignore[call-overload]
    with pytest.raises(InvalidArgumentError, match="verification"):
        store.read("/books", verification="hash")  # type: ignore[call-overload]
    with pytest.raises(InvalidArgumentError, match="parameters"):
        store.query("FROM e IN events PROJECT INTO $x", row_type=int, parameters={})
