"""The client against the emulator, in both API modes (v2 + v1, and v1 only)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from eventsourcingdb import (
    AuthenticationError,
    Bound,
    BoundType,
    Client,
    ConcurrencyError,
    ErrorCode,
    Event,
    EventCandidate,
    EventTypeNotFoundError,
    HashMismatchError,
    IfEventIsMissingDuringObserve,
    IfEventIsMissingDuringRead,
    IncompatibleServerError,
    InvalidArgumentError,
    IsEventQlQueryTrue,
    IsSubjectOnEventId,
    IsSubjectPopulated,
    IsSubjectPristine,
    ObserveEventsOptions,
    ObserveFromLatestEvent,
    Order,
    QueryError,
    ReadEventsOptions,
    ReadFromLatestEvent,
    ReadSubjectsOptions,
    SchemaAlreadyRegisteredError,
    SchemaViolationError,
)
from eventsourcingdb.emulator import Emulator
from tests.client.conftest import Backend, in_process
from tests.twins import Twin, new_client, server_client

SOURCE = "https://library.eventsourcingdb.io"
ACQUIRED = "io.eventsourcingdb.library.book-acquired"
BORROWED = "io.eventsourcingdb.library.book-borrowed"


def event(subject: str, event_type: str = ACQUIRED, **data: Any) -> dict[str, Any]:
    return {"source": SOURCE, "subject": subject, "type": event_type, "data": data}


def v1_only(emulator: Emulator) -> bool:
    return emulator.options().api_versions == frozenset({1})


async def ids(generator: AsyncIterator[Event]) -> list[str]:
    return [item.event_id async for item in generator]


@pytest.fixture
async def library(client: Client) -> Client:
    """Events 0-3: /books/1 acquired, /books/2 acquired, /books/1 borrowed, /books/2 borrowed."""
    await client.write_events(
        [
            event("/books/1", title="Dune"),
            event("/books/2", title="Solaris"),
            event("/books/1", BORROWED, by="Jane"),
            event("/books/2", BORROWED, by="John"),
        ]
    )
    return client


# --- system ----------------------------------------------------------------------------------


async def test_ping_verify_and_version(client: Client, emulator: Emulator) -> None:
    await client.ping()
    await client.verify_api_token()
    assert client.api_version == (1 if v1_only(emulator) else 2)


async def test_a_wrong_token_is_refused_but_ping_works(emulator: Emulator, twin: Twin) -> None:
    async with server_client(twin, emulator, api_token="wrong") as client:
        await client.ping()
        with pytest.raises(AuthenticationError) as caught:
            await client.verify_api_token()
        assert caught.value.status == 401
        with pytest.raises(AuthenticationError):
            await ids(client.read_events("/"))


# --- writing ---------------------------------------------------------------------------------


async def test_written_events_come_back_complete_and_verifiable(
    client: Client, emulator: Emulator
) -> None:
    candidate = EventCandidate(
        source=SOURCE,
        subject="/books/42",
        type=ACQUIRED,
        data={"title": "2001 – A Space Odyssey", "tags": ["<sf>", "&"], "price": 9.5},
        trace_parent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        trace_state="rojo=00f067aa0ba902b7",
    )
    (written,) = await client.write_events([candidate])
    assert written.event_id == "0"
    assert written.subject == "/books/42"
    assert written.data == candidate.data
    assert written.trace_parent == candidate.trace_parent
    assert written.trace_state == candidate.trace_state
    assert written.predecessor_hash == "0" * 64
    assert written.time.tzinfo is not None
    written.verify_hash()
    written.verify_signature(emulator.get_verification_key())
    (read,) = [item async for item in client.read_events("/books/42")]
    assert read == written


async def test_preconditions(client: Client) -> None:
    book = event("/books/42", title="Dune")
    await client.write_events([book], preconditions=[IsSubjectPristine("/books/42")])
    with pytest.raises(ConcurrencyError):
        await client.write_events([book], preconditions=[IsSubjectPristine("/books/42")])
    await client.write_events([book], preconditions=[IsSubjectPopulated("/books/42")])
    with pytest.raises(ConcurrencyError):
        await client.write_events([book], preconditions=[IsSubjectPopulated("/books/7")])
    await client.write_events([book], preconditions=[IsSubjectOnEventId("/books/42", "1")])
    with pytest.raises(ConcurrencyError) as caught:
        await client.write_events([book], preconditions=[IsSubjectOnEventId("/books/42", "1")])
    assert caught.value.code is not None
    query = "FROM e IN events PROJECT INTO COUNT() < 10"
    await client.write_events([book], preconditions=[IsEventQlQueryTrue(query)])
    with pytest.raises(ConcurrencyError):
        await client.write_events(
            [book], preconditions=[IsEventQlQueryTrue("FROM e IN events PROJECT INTO COUNT() == 0")]
        )
    assert await ids(client.read_events("/books/42")) == ["0", "1", "2", "3"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("FROM e IN", ErrorCode.QUERY_MALFORMED),
        ("FROM e IN events PROJECT INTO COUNT()", ErrorCode.QUERY_NOT_BOOLEAN),
        ("FROM e IN events PROJECT INTO 1", ErrorCode.QUERY_NOT_BOOLEAN),
    ],
)
async def test_a_bad_eventql_precondition_is_a_query_error_in_both_apis(
    client: Client, emulator: Emulator, query: str, code: ErrorCode
) -> None:
    await client.write_events([event("/books/42")])
    with pytest.raises(QueryError) as caught:
        await client.write_events([event("/books/42")], [IsEventQlQueryTrue(query)])
    assert caught.value.code is code
    assert caught.value.status == (400 if v1_only(emulator) else 200)
    assert await ids(client.read_events("/books/42")) == ["0"]


async def test_a_malformed_query_has_the_same_code_in_both_apis(client: Client) -> None:
    with pytest.raises(QueryError) as caught:
        await ids(client.run_eventql_query("FORM e IN events PROJECT INTO e"))
    assert caught.value.code is ErrorCode.QUERY_MALFORMED


async def test_recursive_preconditions(client: Client, emulator: Emulator) -> None:
    await client.write_events([event("/books/1")])
    precondition = IsSubjectPristine("/books", recursive=True)
    if v1_only(emulator):
        with pytest.raises(IncompatibleServerError, match="needs the v2 API"):
            await client.write_events([event("/books/2")], preconditions=[precondition])
    else:
        with pytest.raises(ConcurrencyError):
            await client.write_events([event("/books/2")], preconditions=[precondition])
        await client.write_events(
            [event("/books/2")], preconditions=[IsSubjectOnEventId("/books", "0", recursive=True)]
        )
    await client.write_events(
        [event("/books/2")], preconditions=[IsSubjectPristine("/books", recursive=False)]
    )


async def test_schemas(client: Client) -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}},
        "required": ["title"],
        "additionalProperties": False,
    }
    await client.register_event_schema(ACQUIRED, schema)
    with pytest.raises(SchemaAlreadyRegisteredError):
        await client.register_event_schema(ACQUIRED, schema)
    with pytest.raises(SchemaViolationError):
        await client.write_events([event("/books/1", colour="red")])
    phantom = await client.read_event_type(ACQUIRED)
    assert (phantom.type, phantom.has_events, phantom.schema) == (ACQUIRED, False, schema)
    await client.write_events([event("/books/1", title="Dune"), event("/books/1", BORROWED)])
    types = [item async for item in client.read_event_types()]
    assert [(item.type, item.has_events) for item in types] == [
        (ACQUIRED, True),
        (BORROWED, True),
    ]
    assert types[0].schema == schema
    assert types[1].schema is None
    with pytest.raises(EventTypeNotFoundError):
        await client.read_event_type("io.eventsourcingdb.library.book-lost")


# --- reading ---------------------------------------------------------------------------------


async def test_read_options(library: Client) -> None:
    client = library
    assert await ids(client.read_events("/books/1")) == ["0", "2"]
    assert await ids(client.read_events("/books", ReadEventsOptions(recursive=False))) == []
    recursive = ReadEventsOptions(recursive=True)
    assert await ids(client.read_events("/", recursive)) == ["0", "1", "2", "3"]
    backwards = ReadEventsOptions(recursive=True, order=Order.ANTICHRONOLOGICAL)
    assert await ids(client.read_events("/books", backwards)) == ["3", "2", "1", "0"]
    bounded = ReadEventsOptions(
        recursive=True,
        lower_bound=Bound(id="1", type=BoundType.EXCLUSIVE),
        upper_bound=Bound(id="3", type=BoundType.EXCLUSIVE),
    )
    assert await ids(client.read_events("/", bounded)) == ["2"]
    inclusive = ReadEventsOptions(
        recursive=True,
        lower_bound=Bound(id="1", type=BoundType.INCLUSIVE),
        upper_bound=Bound(id="2", type=BoundType.INCLUSIVE),
    )
    assert await ids(client.read_events("/", inclusive)) == ["1", "2"]


async def test_read_from_latest_event(library: Client) -> None:
    def latest(subject: str, missing: IfEventIsMissingDuringRead) -> ReadEventsOptions:
        return ReadEventsOptions(
            recursive=True,
            from_latest_event=ReadFromLatestEvent(
                subject=subject, type=BORROWED, if_event_is_missing=missing
            ),
        )

    found = latest("/books/1", IfEventIsMissingDuringRead.READ_NOTHING)
    assert await ids(library.read_events("/books", found)) == ["2", "3"]
    nothing = latest("/books/9", IfEventIsMissingDuringRead.READ_NOTHING)
    assert await ids(library.read_events("/books", nothing)) == []
    everything = latest("/books/9", IfEventIsMissingDuringRead.READ_EVERYTHING)
    assert await ids(library.read_events("/books", everything)) == ["0", "1", "2", "3"]


async def test_break_in_a_read_leaves_the_client_usable(library: Client) -> None:
    async for item in library.read_events("/", ReadEventsOptions(recursive=True)):
        assert item.event_id == "0"
        break
    events = library.read_events("/", ReadEventsOptions(recursive=True))
    assert (await anext(events)).event_id == "0"
    await events.aclose()
    assert await ids(library.read_events("/books/2")) == ["1", "3"]


async def test_many_events_in_one_read(client: Client) -> None:
    batch = [event(f"/books/{index % 7}", title="x" * (index % 50)) for index in range(500)]
    await client.write_events(batch)
    read = [item async for item in client.read_events("/", ReadEventsOptions(recursive=True))]
    assert [item.event_id for item in read] == [str(index) for index in range(500)]
    for index in (0, 250, 499):
        read[index].verify_hash()


async def test_the_hash_chain_links_events(library: Client, emulator: Emulator) -> None:
    key = emulator.get_verification_key()
    events = [item async for item in library.read_events("/", ReadEventsOptions(recursive=True))]
    for previous, current in itertools.pairwise(events):
        assert current.predecessor_hash == previous.hash
    for item in events:
        item.verify_signature(key)


async def test_queries(library: Client, emulator: Emulator) -> None:
    rows = [row async for row in library.run_eventql_query("FROM e IN events PROJECT INTO e")]
    assert [row["id"] for row in rows] == ["0", "1", "2", "3"]
    for row in rows:
        Event.parse(row).verify_signature(emulator.get_verification_key())
    count = [
        row async for row in library.run_eventql_query("FROM e IN events PROJECT INTO COUNT()")
    ]
    assert count == [4]
    with pytest.raises(QueryError):
        await ids(library.run_eventql_query("FORM e IN events PROJECT INTO e"))


async def test_subjects(library: Client) -> None:
    assert [s async for s in library.read_subjects("/")] == ["/", "/books", "/books/1", "/books/2"]
    assert [s async for s in library.read_subjects("/books/1")] == ["/books/1"]
    assert [s async for s in library.read_subjects(base_subject="/books")] == [
        "/books",
        "/books/1",
        "/books/2",
    ]


async def test_subjects_with_the_options_of_2_2_4(library: Client) -> None:
    """`recursive=False` lists only the subject itself, from a v1 server too (filtered)."""
    alone = ReadSubjectsOptions(recursive=False)
    assert [s async for s in library.read_subjects("/books", alone)] == ["/books"]
    assert [s async for s in library.read_subjects(subject="/books/1", options=alone)] == [
        "/books/1"
    ]
    assert [s async for s in library.read_subjects("/shelves", alone)] == []
    everything = ReadSubjectsOptions(recursive=True)
    assert [s async for s in library.read_subjects("/books", everything)] == [
        "/books",
        "/books/1",
        "/books/2",
    ]


async def test_write_events_takes_the_candidates_under_either_name(client: Client) -> None:
    (first,) = await client.write_events(event_candidates=[event("/books/1")])
    (second,) = await client.write_events(events=[event("/books/1")])
    assert (first.event_id, second.event_id) == ("0", "1")
    with pytest.raises(InvalidArgumentError, match="not both"):
        await client.write_events([event("/books/1")], events=[event("/books/1")])
    with pytest.raises(InvalidArgumentError, match="event_candidates is missing"):
        await client.write_events()


# --- observing -------------------------------------------------------------------------------


async def test_observe_delivers_stored_then_new_events(library: Client) -> None:
    seen: list[str] = []
    observed = library.observe_events("/books/1")
    async for item in observed:
        seen.append(item.event_id)
        if item.event_id == "2":
            await library.write_events([event("/books/2"), event("/books/1", BORROWED)])
        if len(seen) == 3:
            break
    assert seen == ["0", "2", "5"]


async def test_observe_options(library: Client) -> None:
    bounded = ObserveEventsOptions(recursive=True, lower_bound=Bound(id="2"))
    async for item in library.observe_events("/", bounded):
        assert item.event_id == "2"
        break
    latest = ObserveEventsOptions(
        recursive=True,
        from_latest_event=ObserveFromLatestEvent(
            subject="/books/2",
            type=BORROWED,
            if_event_is_missing=IfEventIsMissingDuringObserve.READ_EVERYTHING,
        ),
    )
    async for item in library.observe_events("/", latest):
        assert item.event_id == "3"
        break


async def test_observe_waits_for_a_missing_event(library: Client) -> None:
    waiting = ObserveEventsOptions(
        recursive=True,
        from_latest_event=ObserveFromLatestEvent(
            subject="/books/3",
            type=ACQUIRED,
            if_event_is_missing=IfEventIsMissingDuringObserve.WAIT_FOR_EVENT,
        ),
    )
    events = library.observe_events("/", waiting)
    first = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0.2)
    assert not first.done()
    await library.write_events([event("/books/3")])
    assert (await asyncio.wait_for(first, 5)).event_id == "4"
    await events.aclose()


async def test_heartbeats_keep_a_quiet_observation_alive(backend: Backend, twin: Twin) -> None:
    emulator = Emulator(in_process=in_process(backend)).with_heartbeat_interval(0.05).start()
    try:
        async with server_client(twin, emulator, stall_timeout=0.3) as client:
            events = client.observe_events("/")
            pending = asyncio.ensure_future(anext(events))
            await asyncio.sleep(1.0)
            assert not pending.done(), "heartbeats keep the stream within the stall timeout"
            await client.write_events([event("/")])
            assert (await asyncio.wait_for(pending, 5)).event_id == "0"
            await events.aclose()
    finally:
        emulator.stop()


# --- over a real socket ----------------------------------------------------------------------


@pytest.mark.parametrize("versions", [(1, 2), (1,)], ids=["v2", "v1-only"])
async def test_over_a_socket(versions: tuple[int, ...], twin: Twin) -> None:
    emulator = Emulator().with_api_versions(*versions).with_hash_version(2).with_signing_key()
    with emulator:
        async with new_client(twin, emulator.get_base_url(), emulator.get_api_token()) as client:
            await client.ping()
            written = await client.write_events([event("/books/1"), event("/books/2")])
            for item in written:
                item.verify_signature(emulator.get_verification_key())
                assert item.hash.startswith("esdb:hash:v2:")
            for _ in range(3):
                async for item in client.observe_events("/", ObserveEventsOptions(recursive=True)):
                    assert item.event_id == "0"
                    break
            assert await ids(client.read_events("/", ReadEventsOptions(recursive=True))) == [
                "0",
                "1",
            ]


async def test_hash_v2_events_verify(emulator: Emulator, backend: Backend, twin: Twin) -> None:
    emulator.stop()
    v2 = Emulator(in_process=in_process(backend)).with_hash_version(2).with_signing_key().start()
    try:
        async with server_client(twin, v2) as client:
            written = await client.write_events(
                [
                    {
                        **event("/books/1", title="Ünïcode <&>"),
                        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                    }
                ]
            )
            (read,) = [item async for item in client.read_events("/books/1")]
            for item in (*written, read):
                assert item.hash.startswith("esdb:hash:v2:")
                item.verify_signature(v2.get_verification_key())
            tampered = Event.parse({**read.to_json(), "traceparent": None})
            with pytest.raises(HashMismatchError):
                tampered.verify_hash()
    finally:
        v2.stop()
