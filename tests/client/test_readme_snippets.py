"""Every snippet of the official SDK's README (the seed), run as written against the emulator.

The emulator listens on a socket, so `Client(base_url=url, api_token=api_token)` works exactly as
in the README. Deviations, each marked `# README:` below: the `# events` placeholder of the
precondition snippets is filled with the README's own book event; `url`/`api_token` come from
the emulator; endless `observe_events` loops run for a moment and are then cancelled; the
public key placeholder is the emulator's key. The Container snippets need Docker.

The "abort the generator" snippets run exactly in the README's pattern: the stored generator's
`async for` loop runs in a task of its own, and "somewhere else" (the test) calls
`await events.aclose()` while the loop waits in the generator; the loop then ends cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

import pytest

from eventsourcingdb import Client
from eventsourcingdb.emulator import Emulator
from tests.twins import AsyncStream, Twin, new_client

FINITE_ABORT = (
    "the README aborts a finite stream while its loop waits for the server's answer, which the "
    "test catches between two steps of the event loop; a blocking loop in a worker thread may "
    "finish such a short read first. The blocking twin's abort from another thread is tested "
    "on observations, which wait (test_aborting_an_observation, tests/sync)"
)

BOOK_ACQUIRED: dict[str, Any] = {
    "source": "https://library.eventsourcingdb.io",
    "subject": "/books/42",
    "type": "io.eventsourcingdb.library.book-acquired",
    "data": {
        "title": "2001 – A Space Odyssey",
        "author": "Arthur C. Clarke",
        "isbn": "978-0756906788",
    },
}


@pytest.fixture(params=["v2", "v1-only"])
def server(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """An emulator on a loopback socket, speaking both APIs or only v1."""
    emulator = Emulator().with_signing_key()
    if request.param == "v1-only":
        emulator = emulator.with_api_versions(1)
    with emulator:
        yield emulator


@pytest.fixture
async def client(server: Emulator, twin: Twin) -> AsyncIterator[Client]:
    """The README's client: created exactly as in "Getting Started" (the blocking twin's
    the same way, behind an async face)."""
    url = server.get_base_url()  # README: the emulator's URL instead of localhost:3000
    api_token = server.get_api_token()
    client = new_client(
        twin,
        base_url=url,
        api_token=api_token,
    )
    yield client
    await client.aclose()


async def run_briefly(loop: Any, seconds: float = 0.3) -> None:
    """Run an endless `async for` (an observation) for a moment, then cancel it."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await loop()


def waits_in(generator: AsyncGenerator[Any, None], task: asyncio.Task[None]) -> bool:
    """Whether `task` is suspended in `generator`, waiting for the server (for the blocking
    twin: whether a thread runs a step of the blocking stream)."""
    if isinstance(generator, AsyncStream):
        return getattr(generator.blocking, "_owner", None) is not None
    return getattr(generator, "_task", None) is task


async def loop_elsewhere(
    loop: Callable[[], Coroutine[Any, Any, None]],
    generator: AsyncGenerator[Any, None],
    ready: Callable[[], bool] = lambda: True,
) -> asyncio.Task[None]:
    """Run the README's `async for` loop in a task of its own, until it waits in `generator`
    (for the server's answer, or for new events once `ready`), so that the abort comes from
    somewhere else while the loop is running."""
    task = asyncio.create_task(loop())
    for attempt in range(500):
        await asyncio.sleep(0 if attempt < 5 else 0.01)
        assert not task.done(), "the loop ended before it could be aborted"
        if waits_in(generator, task) and ready():
            return task
    raise AssertionError("the loop never waited in the generator")


async def ended_cleanly(task: asyncio.Task[None]) -> None:
    """The loop was over when `aclose()` returned, and it ended without an error."""
    assert task.done()
    assert not task.cancelled()
    await task


async def test_getting_started(client: Client) -> None:
    await client.ping()
    await client.verify_api_token()


async def test_writing_events(client: Client) -> None:
    written_events = await client.write_events(
        events=[
            {
                "source": "https://library.eventsourcingdb.io",
                "subject": "/books/42",
                "type": "io.eventsourcingdb.library.book-acquired",
                "data": {
                    "title": "2001 – A Space Odyssey",
                    "author": "Arthur C. Clarke",
                    "isbn": "978-0756906788",
                },
            }
        ]
    )
    assert len(written_events) == 1


async def test_is_subject_pristine(client: Client) -> None:
    from eventsourcingdb import IsSubjectPristine

    written_events = await client.write_events(
        events=[
            BOOK_ACQUIRED,  # README: "# events"
        ],
        preconditions=[IsSubjectPristine("/books/42")],
    )
    assert len(written_events) == 1


async def test_is_subject_populated(client: Client) -> None:
    await client.write_events(events=[BOOK_ACQUIRED])
    from eventsourcingdb import IsSubjectPopulated

    written_events = await client.write_events(
        events=[
            BOOK_ACQUIRED,  # README: "# events"
        ],
        preconditions=[IsSubjectPopulated("/books/42")],
    )
    assert len(written_events) == 1


async def test_is_subject_on_event_id(client: Client) -> None:
    await client.write_events(events=[BOOK_ACQUIRED])
    from eventsourcingdb import IsSubjectOnEventId

    written_events = await client.write_events(
        events=[
            BOOK_ACQUIRED,  # README: "# events"
        ],
        preconditions=[IsSubjectOnEventId("/books/42", "0")],
    )
    assert len(written_events) == 1


async def test_is_eventql_query_true(client: Client) -> None:
    from eventsourcingdb import IsEventQlQueryTrue

    written_events = await client.write_events(
        events=[
            BOOK_ACQUIRED,  # README: "# events"
        ],
        preconditions=[
            IsEventQlQueryTrue(
                'FROM e IN events WHERE e.type == "io.eventsourcingdb.library.book-borrowed" PROJECT INTO COUNT() < 10'  # noqa: E501
            )
        ],
    )
    assert len(written_events) == 1


@pytest.fixture
async def library(client: Client) -> Client:
    """A few events to read: the README's book, borrowed, and another book."""
    await client.write_events(
        events=[
            BOOK_ACQUIRED,
            {**BOOK_ACQUIRED, "type": "io.eventsourcingdb.library.book-borrowed", "data": {}},
            {**BOOK_ACQUIRED, "subject": "/books/42/copies/1"},
        ]
    )
    return client


async def test_reading_events(library: Client) -> None:
    client = library
    seen: list[str] = []
    from eventsourcingdb import ReadEventsOptions

    async for event in client.read_events(
        subject="/books/42",
        options=ReadEventsOptions(recursive=False),
    ):
        seen.append(event.event_id)
    assert seen == ["0", "1"]

    from eventsourcingdb import ReadEventsOptions

    async for event in client.read_events(  # noqa: B007 - the README's loop
        subject="/books/42",
        options=ReadEventsOptions(recursive=True),
    ):
        pass
    assert event.event_id == "2"


async def test_reading_in_antichronological_order(library: Client) -> None:
    client = library
    from eventsourcingdb import (
        Order,
        ReadEventsOptions,
    )

    async for event in client.read_events(  # noqa: B007 - the README's loop
        subject="/books/42",
        options=ReadEventsOptions(
            recursive=False,
            order=Order.ANTICHRONOLOGICAL,
        ),
    ):
        pass
    assert event.event_id == "0"


async def test_reading_a_range(library: Client) -> None:
    client = library
    from eventsourcingdb import (
        Bound,
        BoundType,
        ReadEventsOptions,
    )

    async for _event in client.read_events(
        subject="/books/42",
        options=ReadEventsOptions(
            recursive=False,
            lower_bound=Bound(id="100", type=BoundType.INCLUSIVE),
            upper_bound=Bound(id="200", type=BoundType.EXCLUSIVE),
        ),
    ):
        pass


async def test_reading_from_the_latest_event(library: Client) -> None:
    client = library
    seen: list[str] = []
    from eventsourcingdb import (
        IfEventIsMissingDuringRead,
        ReadEventsOptions,
        ReadFromLatestEvent,
    )

    async for event in client.read_events(
        subject="/books/42",
        options=ReadEventsOptions(
            recursive=False,
            from_latest_event=ReadFromLatestEvent(
                subject="/books/42",
                type="io.eventsourcingdb.library.book-borrowed",
                if_event_is_missing=IfEventIsMissingDuringRead.READ_EVERYTHING,
            ),
        ),
    ):
        seen.append(event.event_id)
    assert seen == ["1"]


@pytest.mark.twins("async", reason=FINITE_ABORT)
async def test_aborting_a_read(library: Client) -> None:
    client = library
    from eventsourcingdb import ReadEventsOptions

    events = client.read_events(
        subject="/books/42",
        options=ReadEventsOptions(
            recursive=False,
        ),
    )

    async def read() -> None:  # README: the loop, run in a task of its own
        async for _event in events:
            pass

    reading = await loop_elsewhere(read, events)
    # Somewhere else, abort the generator, which will cause
    # reading to end.
    await events.aclose()
    await ended_cleanly(reading)


@pytest.mark.twins("async", reason=FINITE_ABORT)
async def test_running_eventql_queries(library: Client) -> None:
    client = library
    async for _row in client.run_eventql_query(
        query="""
    FROM e IN events
    PROJECT INTO e
  """,
    ):
        pass

    rows = client.run_eventql_query(
        query="""
    FROM e IN events
    PROJECT INTO e
  """,
    )

    async def query() -> None:  # README: the loop, run in a task of its own
        async for _row in rows:
            pass

    querying = await loop_elsewhere(query, rows)
    # Somewhere else, abort the generator, which will cause
    # the query to end.
    await rows.aclose()
    await ended_cleanly(querying)


async def test_observing_events(library: Client) -> None:
    client = library
    seen: list[str] = []
    from eventsourcingdb import ObserveEventsOptions

    async def observe_subject() -> None:
        async for event in client.observe_events(
            subject="/books/42",
            options=ObserveEventsOptions(recursive=False),
        ):
            seen.append(event.event_id)

    await run_briefly(observe_subject)  # README: the loop never ends on its own
    assert seen == ["0", "1"]

    from eventsourcingdb import ObserveEventsOptions  # noqa: F811 - repeated as in the README

    async def observe_nested() -> None:
        async for event in client.observe_events(
            subject="/books/42",
            options=ObserveEventsOptions(recursive=True),
        ):
            seen.append(event.event_id)

    await run_briefly(observe_nested)
    assert seen[2:] == ["0", "1", "2"]


async def test_observing_a_range_and_from_the_latest_event(library: Client) -> None:
    client = library
    from eventsourcingdb import (
        Bound,
        BoundType,
        ObserveEventsOptions,
    )

    async def observe_range() -> None:
        async for _event in client.observe_events(
            subject="/books/42",
            options=ObserveEventsOptions(
                recursive=False,
                lower_bound=Bound(id="100", type=BoundType.INCLUSIVE),
            ),
        ):
            pass

    await run_briefly(observe_range)

    from eventsourcingdb import (  # noqa: F811 - repeated as in the README
        IfEventIsMissingDuringObserve,
        ObserveEventsOptions,
        ObserveFromLatestEvent,
    )

    seen: list[str] = []

    async def observe_latest() -> None:
        async for event in client.observe_events(
            subject="/books/42",
            options=ObserveEventsOptions(
                recursive=False,
                from_latest_event=ObserveFromLatestEvent(
                    subject="/books/42",
                    type="io.eventsourcingdb.library.book-borrowed",
                    if_event_is_missing=IfEventIsMissingDuringObserve.READ_EVERYTHING,
                ),
            ),
        ):
            seen.append(event.event_id)

    await run_briefly(observe_latest)
    assert seen == ["1"]


async def test_aborting_an_observation(library: Client) -> None:
    client = library
    from eventsourcingdb import ObserveEventsOptions

    events = client.observe_events(
        subject="/books/42",
        options=ObserveEventsOptions(recursive=False),
    )
    seen: list[str] = []

    async def observe() -> None:  # README: the loop, run in a task of its own
        async for event in events:
            seen.append(event.event_id)

    observing = await loop_elsewhere(observe, events, lambda: len(seen) == 2)
    assert seen == ["0", "1"]  # README: the loop has the stored events and waits for more
    # Somewhere else, abort the generator, which will cause
    # observing to end.
    await events.aclose()
    await ended_cleanly(observing)


async def test_registering_an_event_schema(client: Client) -> None:
    await client.register_event_schema(
        event_type="io.eventsourcingdb.library.book-acquired",
        json_schema={
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "author": {"type": "string"},
                "isbn": {"type": "string"},
            },
            "required": ["title", "author", "isbn"],
            "additionalProperties": False,
        },
    )
    event_type = await client.read_event_type("io.eventsourcingdb.library.book-acquired")
    assert event_type.schema is not None


@pytest.mark.twins("async", reason=FINITE_ABORT)
async def test_listing_subjects(library: Client) -> None:
    client = library
    seen: list[str] = []
    async for subject in client.read_subjects(base_subject="/"):
        seen.append(subject)
    assert seen == ["/", "/books", "/books/42", "/books/42/copies", "/books/42/copies/1"]

    async for _subject in client.read_subjects(base_subject="/books"):
        pass

    subjects = client.read_subjects(base_subject="/")

    async def list_subjects() -> None:  # README: the loop, run in a task of its own
        async for _subject in subjects:
            pass

    listing = await loop_elsewhere(list_subjects, subjects)
    # Somewhere else, abort the generator, which will cause
    # reading to end.
    await subjects.aclose()
    await ended_cleanly(listing)


@pytest.mark.twins("async", reason=FINITE_ABORT)
async def test_listing_event_types(library: Client) -> None:
    client = library
    names: list[str] = []
    async for event_type in client.read_event_types():
        names.append(event_type.type)
    assert names == [
        "io.eventsourcingdb.library.book-acquired",
        "io.eventsourcingdb.library.book-borrowed",
    ]

    event_types = client.read_event_types()

    async def list_event_types() -> None:  # README: the loop, run in a task of its own
        async for _event_type in event_types:
            pass

    listing = await loop_elsewhere(list_event_types, event_types)
    # Somewhere else, abort the generator, which will cause
    # reading to end.
    await event_types.aclose()
    await ended_cleanly(listing)


async def test_listing_a_specific_event_type(library: Client) -> None:
    client = library
    event_type = await client.read_event_type("io.eventsourcingdb.library.book-acquired")
    assert event_type.has_events


async def test_verifying_an_events_hash_and_signature(library: Client, server: Emulator) -> None:
    client = library
    async for event in client.read_events(subject="/books/42"):
        event.verify_hash()

        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        # ...
        verification_key = server.get_verification_key()  # README: "# public key as ..."
        assert isinstance(verification_key, Ed25519PublicKey)
        event.verify_signature(verification_key)


def _docker_problem() -> str | None:
    from eventsourcingdb.container import docker_engine_problem

    return docker_engine_problem(os.environ.get("DOCKER_HOST"))


@pytest.mark.docker
def test_using_testcontainers() -> None:
    problem = _docker_problem()
    if problem is not None:
        pytest.skip(f"no Docker engine: {problem}")
    from eventsourcingdb import Container

    container = Container()
    container.start()
    client = container.get_client()
    # ...
    container.stop()
    assert client is not None

    is_running = container.is_running()
    assert not is_running

    container = Container().with_image_tag("1.0.0")
    container = Container().with_port(4000).with_api_token("secret")
    container = Container().with_signing_key()
    container.start()
    signing_key = container.get_signing_key()
    verification_key = container.get_verification_key()
    assert signing_key is not None
    assert verification_key is not None
    assert container.get_host()
    assert container.get_mapped_port()
    assert container.get_base_url()
    assert container.get_api_token()
    container.stop()
