"""The client's behaviour against whatever server `--esdb-target` names, for both twins.

These tests use only the plugin's fixtures and never assume an empty store: every subject and
event type goes through `esdb_namespace`, and ids are compared relative to ids the test wrote.
So the same file checks the emulator (in process or on a socket), the real image in a container,
and a server of yours (`--esdb-target=url` with ESDB_URL and ESDB_API_TOKEN). Each test runs with
the plugin's `esdb_client` and with its blocking `esdb_sync_client` (behind an async face, see
`tests/twins.py`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from eventsourcingdb import (
    AuthenticationError,
    Bound,
    BoundType,
    Client,
    ConcurrencyError,
    Event,
    EventTypeNotFoundError,
    IfEventIsMissingDuringObserve,
    IfEventIsMissingDuringRead,
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
    SchemaAlreadyRegisteredError,
    SchemaViolationError,
)
from eventsourcingdb.testing import Namespace, ServerHandle
from tests.twins import Twin, as_async

SOURCE = "https://tests.eventsourcingdb.io"
ACQUIRED = "io.eventsourcingdb.library.book-acquired"
BORROWED = "io.eventsourcingdb.library.book-borrowed"


def _event(ns: Namespace, subject: str, event_type: str, **data: Any) -> dict[str, Any]:
    return {
        "source": SOURCE,
        "subject": ns.subject(subject),
        "type": ns.event_type(event_type),
        "data": data,
    }


@pytest.fixture
def client(twin: Twin, request: pytest.FixtureRequest) -> Client:
    """The client under test: the plugin's `esdb_client`, or its `esdb_sync_client`."""
    if twin is Twin.ASYNC:
        async_client: Client = request.getfixturevalue("esdb_client")
        return async_client
    return as_async(request.getfixturevalue("esdb_sync_client"))


def _stranger(twin: Twin, server: ServerHandle) -> Client:
    if twin is Twin.ASYNC:
        return server.get_client(api_token="not-the-token")
    return as_async(server.get_sync_client(api_token="not-the-token"))


async def _read(client: Client, subject: str, **options: Any) -> list[Event]:
    return [e async for e in client.read_events(subject, ReadEventsOptions(**options))]


async def test_ping_and_token(client: Client, esdb_server: ServerHandle, twin: Twin) -> None:
    await client.ping()
    await client.verify_api_token()
    async with _stranger(twin, esdb_server) as stranger:
        await stranger.ping()
        with pytest.raises(AuthenticationError):
            await stranger.verify_api_token()


async def test_written_events_come_back_complete_and_verified(
    client: Client, esdb_namespace: Namespace, esdb_verification_key: Ed25519PublicKey | None
) -> None:
    ns = esdb_namespace
    written = await client.write_events(
        events=[
            _event(ns, "/books/42", ACQUIRED, title="2001 <A> & Odyssey ü", pages=300),
            {
                **_event(ns, "/books/42", BORROWED, member="/members/7"),
                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            },
        ]
    )
    first, second = written
    assert int(second.event_id) == int(first.event_id) + 1
    assert second.predecessor_hash == first.hash
    assert first.data == {"title": "2001 <A> & Odyssey ü", "pages": 300}
    assert second.trace_parent == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert (first.source, first.spec_version, first.data_content_type) == (
        SOURCE,
        "1.0",
        "application/json",
    )
    assert first.time.tzinfo is not None
    read = await _read(client, ns.subject("/books/42"))
    assert read == written
    for event in read:
        event.verify_hash()
        if esdb_verification_key is not None:
            event.verify_signature(esdb_verification_key)


async def test_preconditions(client: Client, esdb_namespace: Namespace) -> None:
    ns = esdb_namespace
    book = ns.subject("/books/1")
    acquired = _event(ns, "/books/1", ACQUIRED, title="Solaris")
    with pytest.raises(ConcurrencyError):
        await client.write_events(events=[acquired], preconditions=[IsSubjectPopulated(book)])
    (first,) = await client.write_events(events=[acquired], preconditions=[IsSubjectPristine(book)])
    with pytest.raises(ConcurrencyError):
        await client.write_events(events=[acquired], preconditions=[IsSubjectPristine(book)])
    (second,) = await client.write_events(
        events=[acquired], preconditions=[IsSubjectOnEventId(book, first.event_id)]
    )
    with pytest.raises(ConcurrencyError) as refused:
        await client.write_events(
            events=[acquired], preconditions=[IsSubjectOnEventId(book, first.event_id)]
        )
    assert refused.value.status in (200, 409)
    counted = (
        f"FROM e IN events WHERE e.subject == '{book}' AND e.type == '{ns.event_type(ACQUIRED)}' "
        "PROJECT INTO COUNT() == 2"
    )
    await client.write_events(events=[acquired], preconditions=[IsEventQlQueryTrue(counted)])
    with pytest.raises(ConcurrencyError):
        await client.write_events(events=[acquired], preconditions=[IsEventQlQueryTrue(counted)])
    assert [e.event_id for e in await _read(client, book)][:2] == [
        first.event_id,
        second.event_id,
    ]
    assert len(await _read(client, book)) == 3


async def test_read_options(client: Client, esdb_namespace: Namespace) -> None:
    ns = esdb_namespace
    written = await client.write_events(
        events=[
            _event(ns, "/users/registered", ACQUIRED, n=0),
            _event(ns, "/users/logged-in", BORROWED, n=1),
            _event(ns, "/users/registered", ACQUIRED, n=2),
            _event(ns, "/users/logged-in", BORROWED, n=3),
        ]
    )
    ids = [e.event_id for e in written]
    users = ns.subject("/users")
    assert await _read(client, users) == []
    assert [e.event_id for e in await _read(client, users, recursive=True)] == ids
    newest_first = await _read(client, users, recursive=True, order=Order.ANTICHRONOLOGICAL)
    assert [e.event_id for e in newest_first] == ids[::-1]
    bounded = await _read(
        client,
        users,
        recursive=True,
        lower_bound=Bound(id=ids[1], type=BoundType.EXCLUSIVE),
        upper_bound=Bound(id=ids[3], type=BoundType.INCLUSIVE),
    )
    assert [e.event_id for e in bounded] == ids[2:]
    latest = ReadFromLatestEvent(
        subject=ns.subject("/users/registered"),
        type=ns.event_type(ACQUIRED),
        if_event_is_missing=IfEventIsMissingDuringRead.READ_NOTHING,
    )
    from_latest = await _read(client, users, recursive=True, from_latest_event=latest)
    assert [e.event_id for e in from_latest] == ids[2:]
    missing = ReadFromLatestEvent(
        subject=ns.subject("/users/registered"),
        type=ns.event_type("io.eventsourcingdb.library.never-happened"),
        if_event_is_missing=IfEventIsMissingDuringRead.READ_NOTHING,
    )
    assert await _read(client, users, recursive=True, from_latest_event=missing) == []


async def test_breaking_off_a_read_leaves_the_client_usable(
    client: Client, esdb_namespace: Namespace
) -> None:
    subject = esdb_namespace.subject("/many")
    await client.write_events(
        events=[_event(esdb_namespace, "/many", ACQUIRED, n=n) for n in range(300)]
    )
    events = client.read_events(subject)
    async for _ in events:
        break
    await events.aclose()
    assert len(await _read(client, subject)) == 300


async def test_observe_replays_then_follows(client: Client, esdb_namespace: Namespace) -> None:
    ns = esdb_namespace
    (stored,) = await client.write_events(events=[_event(ns, "/shelf/1", ACQUIRED, n=1)])
    observed = client.observe_events(ns.subject("/shelf"), ObserveEventsOptions(recursive=True))
    try:
        assert (await asyncio.wait_for(anext(observed), 10)).event_id == stored.event_id
        (live,) = await client.write_events(events=[_event(ns, "/shelf/2", ACQUIRED, n=2)])
        assert (await asyncio.wait_for(anext(observed), 10)).event_id == live.event_id
    finally:
        await observed.aclose()
    resumed = client.observe_events(
        ns.subject("/shelf"),
        ObserveEventsOptions(
            recursive=True, lower_bound=Bound(id=stored.event_id, type=BoundType.EXCLUSIVE)
        ),
    )
    try:
        assert (await asyncio.wait_for(anext(resumed), 10)).event_id == live.event_id
    finally:
        await resumed.aclose()


async def test_observe_waits_for_the_latest_event_of_a_type(
    client: Client, esdb_namespace: Namespace
) -> None:
    ns = esdb_namespace
    observed = client.observe_events(
        ns.subject("/shelf/9"),
        ObserveEventsOptions(
            from_latest_event=ObserveFromLatestEvent(
                subject=ns.subject("/shelf/9"),
                type=ns.event_type(BORROWED),
                if_event_is_missing=IfEventIsMissingDuringObserve.WAIT_FOR_EVENT,
            )
        ),
    )
    try:
        await client.write_events(events=[_event(ns, "/shelf/9", ACQUIRED)])
        (borrowed,) = await client.write_events(events=[_event(ns, "/shelf/9", BORROWED)])
        assert (await asyncio.wait_for(anext(observed), 10)).event_id == borrowed.event_id
    finally:
        await observed.aclose()


async def test_eventql(client: Client, esdb_namespace: Namespace) -> None:
    ns = esdb_namespace
    for title, pages in [("Solaris", 204), ("Dune", 412), ("Ubik", 202)]:
        await client.write_events(
            events=[_event(ns, f"/books/{title.lower()}", ACQUIRED, title=title, pages=pages)]
        )
    mine = f"e.type == '{ns.event_type(ACQUIRED)}'"
    rows = [
        row
        async for row in client.run_eventql_query(
            f"FROM e IN events WHERE {mine} AND e.data.pages > 203 "
            "ORDER BY e.data.title ASC PROJECT INTO { title: e.data.title }"
        )
    ]
    assert rows == [{"title": "Dune"}, {"title": "Solaris"}]
    totals = [
        row
        async for row in client.run_eventql_query(
            f"FROM e IN events WHERE {mine} PROJECT INTO {{ n: COUNT(), pages: SUM(e.data.pages) }}"
        )
    ]
    assert totals == [{"n": 3, "pages": 818}]
    with pytest.raises(QueryError):
        async for _ in client.run_eventql_query("FROM e IN events PROJECT e"):
            pass


async def test_schemas_and_event_types(client: Client, esdb_namespace: Namespace) -> None:
    ns = esdb_namespace
    event_type = ns.event_type("io.eventsourcingdb.library.book-catalogued")
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}},
        "required": ["title"],
        "additionalProperties": False,
    }
    await client.register_event_schema(event_type=event_type, json_schema=schema)
    with pytest.raises(SchemaAlreadyRegisteredError):
        await client.register_event_schema(event_type=event_type, json_schema=schema)
    catalogued = {"source": SOURCE, "subject": ns.subject("/catalogue"), "type": event_type}
    with pytest.raises(SchemaViolationError):
        await client.write_events(events=[{**catalogued, "data": {"name": "Solaris"}}])
    known = await client.read_event_type(event_type)
    assert (known.type, known.has_events, known.schema) == (event_type, False, schema)
    await client.write_events(events=[{**catalogued, "data": {"title": "Solaris"}}])
    assert (await client.read_event_type(event_type)).has_events is True
    listed = {t.type: t async for t in client.read_event_types()}
    assert listed[event_type].schema == schema
    with pytest.raises(EventTypeNotFoundError):
        await client.read_event_type(ns.event_type("io.eventsourcingdb.library.unknown"))


async def test_subjects(client: Client, esdb_namespace: Namespace) -> None:
    ns = esdb_namespace
    await client.write_events(
        events=[
            _event(ns, "/library/books/42", ACQUIRED),
            _event(ns, "/library/members/7", BORROWED),
        ]
    )
    listed = [s async for s in client.read_subjects(ns.subject("/library"))]
    assert [ns.local_subject(s) for s in listed] == [
        "/library",
        "/library/books",
        "/library/books/42",
        "/library/members",
        "/library/members/7",
    ]


async def test_bad_input_is_refused_before_sending(client: Client) -> None:
    with pytest.raises(InvalidArgumentError, match="subject"):
        await client.write_events(
            events=[{"source": SOURCE, "subject": "books", "type": ACQUIRED, "data": {}}]
        )
    with pytest.raises(InvalidArgumentError, match="at least one event"):
        await client.write_events(events=[])
