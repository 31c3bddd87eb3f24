"""What the client sends, what it refuses before sending, and its life cycle (fake server)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from eventsourcingdb import (
    Bound,
    BoundType,
    Client,
    ClientClosedError,
    ErrorCode,
    EventCandidate,
    EventTooLargeError,
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
    ReadEventsOptions,
    ReadFromLatestEvent,
    RefusedArgumentError,
)
from eventsourcingdb._transport import Transport
from eventsourcingdb._transport_aiohttp import AiohttpTransport
from tests.client.client_fakes import (
    BASE_URL,
    TOKEN,
    FakeServer,
    compact,
    compact_lines,
    event_payload,
    respond,
)
from tests.client.conftest import Backend, Connect
from tests.twins import Twin, client_class, new_client

BOOK = {
    "source": "https://library.eventsourcingdb.io",
    "subject": "/books/42",
    "type": "io.eventsourcingdb.library.book-acquired",
    "data": {"title": "2001 – A Space Odyssey", "author": "Arthur C. Clarke"},
}


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


def last(fake: FakeServer, suffix: str) -> httpx.Request:
    matching = [request for request in fake.requests if request.url.path.endswith(suffix)]
    assert matching, f"no request to *{suffix}"
    return matching[-1]


def written_answer(api: int, count: int) -> httpx.Response:
    payloads = [event_payload(index) for index in range(count)]
    if api == 2:
        items: list[object] = [{"type": "event", "data": payload} for payload in payloads]
        return respond(200, compact_lines(*items, {"type": "end", "data": {}}))
    return respond(200, compact(payloads))


def write_path(api: int) -> str:
    return "/api/v2/data/write-events" if api == 2 else "/api/v1/write-events"


def empty_stream(api: int) -> httpx.Response:
    return respond(200, compact_lines({"type": "end", "data": {}}) if api == 2 else b"")


# --- request shapes --------------------------------------------------------------------------


async def test_write_events_sends_dicts_and_candidates_as_the_server_expects(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    fake.on("POST", write_path(api), written_answer(api, 2))
    candidate = EventCandidate(
        source="https://library.eventsourcingdb.io",
        subject="/books/42",
        type="io.eventsourcingdb.library.book-borrowed",
        data={"by": "Jane"},
        trace_parent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        trace_state="rojo=00f067aa0ba902b7",
    )
    events = await mock_client.write_events([BOOK, candidate])
    assert [event.event_id for event in events] == ["0", "1"]
    request = last(fake, "write-events")
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    assert body_of(request) == {
        "events": [
            BOOK,
            {
                "source": "https://library.eventsourcingdb.io",
                "subject": "/books/42",
                "type": "io.eventsourcingdb.library.book-borrowed",
                "data": {"by": "Jane"},
                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "tracestate": "rojo=00f067aa0ba902b7",
            },
        ]
    }
    assert "–" in request.content.decode("utf-8"), "non-ASCII is sent as UTF-8, not escaped"


async def test_dict_events_accept_both_trace_spellings(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    fake.on("POST", write_path(api), written_answer(api, 1))
    event = {**BOOK, "trace_parent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    await mock_client.write_events([event])
    sent = body_of(last(fake, "write-events"))["events"][0]
    assert sent["traceparent"] == event["trace_parent"]
    assert "trace_parent" not in sent


async def test_preconditions_on_the_wire(mock_client: Client, fake: FakeServer, api: int) -> None:
    fake.on("POST", write_path(api), written_answer(api, 1))
    await mock_client.write_events(
        [BOOK],
        preconditions=[
            IsSubjectPristine("/books/42"),
            IsSubjectPopulated("/books"),
            IsSubjectOnEventId("/books/42", "7"),
            IsEventQlQueryTrue("FROM e IN events PROJECT INTO COUNT() < 10"),
        ],
    )
    assert body_of(last(fake, "write-events"))["preconditions"] == [
        {"type": "isSubjectPristine", "payload": {"subject": "/books/42"}},
        {"type": "isSubjectPopulated", "payload": {"subject": "/books"}},
        {"type": "isSubjectOnEventId", "payload": {"subject": "/books/42", "eventId": "7"}},
        {
            "type": "isEventQlQueryTrue",
            "payload": {"query": "FROM e IN events PROJECT INTO COUNT() < 10"},
        },
    ]


async def test_without_preconditions_the_member_is_left_out(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    fake.on("POST", write_path(api), written_answer(api, 1))
    await mock_client.write_events([BOOK], preconditions=[])
    assert "preconditions" not in body_of(last(fake, "write-events"))


@pytest.mark.parametrize("api", [2])
async def test_recursive_preconditions_go_to_a_v2_server(
    mock_client: Client, fake: FakeServer
) -> None:
    fake.on("POST", write_path(2), written_answer(2, 1))
    await mock_client.write_events(
        [BOOK],
        preconditions=[
            IsSubjectPristine("/books", recursive=True),
            IsSubjectOnEventId("/books", "3", recursive=True),
        ],
    )
    assert body_of(last(fake, "write-events"))["preconditions"] == [
        {
            "type": "isSubjectPristine",
            "payload": {"subject": "/books", "options": {"recursive": True}},
        },
        {
            "type": "isSubjectOnEventId",
            "payload": {"subject": "/books", "eventId": "3", "options": {"recursive": True}},
        },
    ]


@pytest.mark.parametrize("api", [1])
async def test_recursive_preconditions_are_refused_before_sending_to_a_v1_server(
    mock_client: Client, fake: FakeServer
) -> None:
    with pytest.raises(IncompatibleServerError, match="needs the v2 API"):
        await mock_client.write_events(
            [BOOK], preconditions=[IsSubjectPopulated("/books", recursive=True)]
        )
    assert not any(request.url.path.endswith("write-events") for request in fake.requests)


async def test_read_events_sends_every_option(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    route = "/api/v2/data/read-events" if api == 2 else "/api/v1/read-events"
    fake.on("QUERY" if api == 2 else "POST", route, empty_stream(api))
    options = ReadEventsOptions(
        recursive=True,
        order=Order.ANTICHRONOLOGICAL,
        upper_bound=Bound(id="200", type=BoundType.EXCLUSIVE),
        from_latest_event=ReadFromLatestEvent(
            subject="/books/42",
            type="io.eventsourcingdb.library.book-borrowed",
            if_event_is_missing=IfEventIsMissingDuringRead.READ_EVERYTHING,
        ),
    )
    assert [event async for event in mock_client.read_events("/books", options)] == []
    request = last(fake, "read-events")
    assert request.method == ("QUERY" if api == 2 else "POST")
    assert body_of(request) == {
        "subject": "/books",
        "options": {
            "recursive": True,
            "order": "antichronological",
            "upperBound": {"id": "200", "type": "exclusive"},
            "fromLatestEvent": {
                "subject": "/books/42",
                "type": "io.eventsourcingdb.library.book-borrowed",
                "ifEventIsMissing": "read-everything",
            },
        },
    }


async def test_read_events_without_options_sends_only_recursive_false(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    route = "/api/v2/data/read-events" if api == 2 else "/api/v1/read-events"
    fake.on("QUERY" if api == 2 else "POST", route, empty_stream(api))
    assert [event async for event in mock_client.read_events("/books/42")] == []
    assert body_of(last(fake, "read-events")) == {
        "subject": "/books/42",
        "options": {"recursive": False},
    }


async def test_observe_events_sends_its_options(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    route = "/api/v2/data/observe-events" if api == 2 else "/api/v1/observe-events"
    payload = {"type": "event", ("data" if api == 2 else "payload"): event_payload(5)}

    async def body() -> AsyncIterator[bytes]:
        yield compact_lines(payload)
        await asyncio.sleep(3600)

    fake.on("QUERY" if api == 2 else "POST", route, lambda request: respond(200, body()))
    options = ObserveEventsOptions(
        recursive=True,
        from_latest_event=ObserveFromLatestEvent(
            subject="/books/42",
            type="io.eventsourcingdb.library.book-borrowed",
            if_event_is_missing=IfEventIsMissingDuringObserve.WAIT_FOR_EVENT,
        ),
    )
    async for event in mock_client.observe_events("/books", options):
        assert event.event_id == "5"
        break
    assert body_of(last(fake, "observe-events"))["options"] == {
        "recursive": True,
        "fromLatestEvent": {
            "subject": "/books/42",
            "type": "io.eventsourcingdb.library.book-borrowed",
            "ifEventIsMissing": "wait-for-event",
        },
    }
    options = ObserveEventsOptions(lower_bound=Bound(id="100", type=BoundType.INCLUSIVE))
    async for _ in mock_client.observe_events("/books", options):
        break
    assert body_of(last(fake, "observe-events"))["options"] == {
        "recursive": False,
        "lowerBound": {"id": "100", "type": "inclusive"},
    }


async def test_read_subjects_asks_for_the_whole_subtree(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    if api == 2:
        items: list[object] = [
            {"type": "subject", "data": {"subject": subject}} for subject in ("/books", "/books/42")
        ]
        answer = respond(200, compact_lines(*items, {"type": "end", "data": {}}))
        fake.on("QUERY", "/api/v2/data/read-subjects", answer)
    else:
        lines = [{"type": "subject", "payload": {"subject": s}} for s in ("/books", "/books/42")]
        fake.on("POST", "/api/v1/read-subjects", respond(200, compact_lines(*lines)))
    subjects = [subject async for subject in mock_client.read_subjects("/books")]
    assert subjects == ["/books", "/books/42"]
    expected = (
        {"subject": "/books", "options": {"recursive": True}}
        if api == 2
        else {"baseSubject": "/books"}
    )
    assert body_of(last(fake, "read-subjects")) == expected


async def test_rows_are_any_json_value(mock_client: Client, fake: FakeServer, api: int) -> None:
    values: list[Any] = [{"id": "0"}, None, 3, "x", True, [1, 2]]
    if api == 2:
        items: list[object] = [{"type": "row", "data": {"value": value}} for value in values]
        answer = respond(200, compact_lines(*items, {"type": "end", "data": {}}))
        fake.on("QUERY", "/api/v2/data/run-eventql-query", answer)
    else:
        lines = [{"type": "row", "payload": value} for value in values]
        fake.on("POST", "/api/v1/run-eventql-query", respond(200, compact_lines(*lines)))
    rows = [row async for row in mock_client.run_eventql_query("FROM e IN events PROJECT INTO e")]
    assert rows == values
    assert body_of(last(fake, "run-eventql-query")) == {"query": "FROM e IN events PROJECT INTO e"}


async def test_event_types_in_both_apis(mock_client: Client, fake: FakeServer, api: int) -> None:
    schema = {"type": "object", "properties": {}}
    if api == 2:
        items: list[object] = [
            {"type": "eventType", "data": {"type": "io.x.c", "hasEvents": True}},
            {"type": "eventType", "data": {"type": "io.x.d", "hasEvents": False, "schema": schema}},
            {"type": "end", "data": {}},
        ]
        fake.on("QUERY", "/api/v2/data/read-event-types", respond(200, compact_lines(*items)))
        one = {
            "type": "eventType",
            "data": {"type": "io.x.d", "hasEvents": False, "schema": schema},
        }
        fake.on("QUERY", "/api/v2/data/read-event-type", respond(200, compact(one)))
    else:
        lines = [
            {"type": "eventType", "payload": {"eventType": "io.x.c", "isPhantom": False}},
            {
                "type": "eventType",
                "payload": {"eventType": "io.x.d", "isPhantom": True, "schema": schema},
            },
        ]
        fake.on("POST", "/api/v1/read-event-types", respond(200, compact_lines(*lines)))
        one_v1 = {"eventType": "io.x.d", "isPhantom": True, "schema": schema}
        fake.on("POST", "/api/v1/read-event-type", respond(200, compact(one_v1)))
    types = [event_type async for event_type in mock_client.read_event_types()]
    assert [(t.type, t.has_events, t.schema) for t in types] == [
        ("io.x.c", True, None),
        ("io.x.d", False, schema),
    ]
    assert types[1].is_phantom
    assert types[1].event_type == "io.x.d"
    detail = await mock_client.read_event_type("io.x.d")
    assert detail == types[1]
    assert last(fake, "read-event-types").content == b""
    key = "type" if api == 2 else "eventType"
    assert body_of(last(fake, "read-event-type")) == {key: "io.x.d"}


async def test_register_event_schema_in_both_apis(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    registered = {
        "specversion": "1.0",
        "id": "0",
        "time": "2026-11-29T10:00:00Z",
        "source": "https://www.eventsourcingdb.io",
        "subject": "/api/v1/register-event-schema",
        "type": "io.eventsourcingdb.api.event-schema-registered",
        "datacontenttype": "application/json",
        "data": {},
    }
    schema = {"type": "object", "properties": {"title": {"type": "string"}}}
    if api == 2:
        items: list[object] = [{"type": "event", "data": registered}, {"type": "end", "data": {}}]
        fake.on("POST", "/api/v2/data/register-event-schema", respond(200, compact_lines(*items)))
    else:
        fake.on("POST", "/api/v1/register-event-schema", respond(200, compact(registered)))
    await mock_client.register_event_schema("io.x.book-acquired", schema)
    key = "type" if api == 2 else "eventType"
    assert body_of(last(fake, "register-event-schema")) == {
        key: "io.x.book-acquired",
        "schema": schema,
    }


async def test_written_events_carry_the_server_fields(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    fake.on("POST", write_path(api), written_answer(api, 1))
    (event,) = await mock_client.write_events([BOOK])
    assert event.spec_version == "1.0"
    assert event.data_content_type == "application/json"
    assert event.predecessor_hash == "0" * 64
    assert event.time.tzinfo is not None
    assert event.time.microsecond == 123456
    event.verify_hash()


# --- validation before any request -----------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([], "must not be empty"),
        (BOOK, "must be a list of events"),
        ([{**BOOK, "data": [1, 2]}], r"events\[0\].*data must be a JSON object"),
        ([{**BOOK, "data": None}], "data must be a JSON object"),
        ([{**BOOK, "colour": "red"}], "unknown key 'colour'"),
        ([{k: v for k, v in BOOK.items() if k != "source"}], "has no 'source'"),
        ([{**BOOK, "subject": "books/42"}], "subject 'books/42' is malformed"),
        ([{**BOOK, "type": "book-acquired"}], "event type 'book-acquired' is malformed"),
        ([{**BOOK, "source": "my app"}], "source 'my app' is malformed"),
        ([{**BOOK, "traceparent": "00-xyz"}], "trace_parent '00-xyz' is malformed"),
        ([{**BOOK, "tracestate": "a=b"}], "without trace_parent"),
        ([BOOK, {**BOOK, "data": {"when": object()}}], r"events\[1\]\.data cannot be encoded"),
        ([{**BOOK, "data": {"x": float("nan")}}], "cannot be encoded as JSON"),
        ([BOOK, 42], r"events\[1\] must be an EventCandidate or a dict"),
    ],
)
async def test_bad_events_are_refused_before_any_request(
    mock_client: Client, fake: FakeServer, events: Any, message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        await mock_client.write_events(events)
    assert fake.requests == []


async def test_an_event_larger_than_64_kib_is_refused_before_any_request(
    mock_client: Client, fake: FakeServer
) -> None:
    small = {**BOOK, "data": {"a": "x"}}
    escaped = {**BOOK, "data": {"a": "<" * 10923}}  # the server writes each `<` as \u003c
    with pytest.raises(EventTooLargeError) as refused:
        await mock_client.write_events([small, escaped])
    error = refused.value
    assert (error.index, error.size, error.limit) == (1, 65546, 65536)
    assert error.code is ErrorCode.EVENT_TOO_LARGE
    assert isinstance(error, InvalidArgumentError)
    assert str(error).startswith("events[1]: the data of the event takes 65,546 bytes as JSON")
    floats = {**BOOK, "data": {"a": [1.0] * 20000, "b": "x" * 25523}}  # 1.0 is written `1`
    with pytest.raises(EventTooLargeError, match="65,537 bytes"):
        await mock_client.write_events([floats])
    assert fake.requests == []


async def test_an_event_of_64_kib_is_written(esdb_client: Client) -> None:
    largest = {**BOOK, "data": {"a": [1.0] * 20000, "b": "x" * 25522}}
    (written,) = await esdb_client.write_events([largest])
    assert written.raw_data is not None
    assert len(written.raw_data) == 65536


async def test_bad_arguments_are_refused_before_any_request(
    mock_client: Client, fake: FakeServer
) -> None:
    with pytest.raises(InvalidArgumentError, match="subject"):
        mock_client.read_events("no-slash")
    with pytest.raises(InvalidArgumentError, match="ReadEventsOptions"):
        mock_client.read_events("/books", ObserveEventsOptions())  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="ObserveEventsOptions"):
        mock_client.observe_events("/books", ReadEventsOptions())  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="query must not be empty"):
        mock_client.run_eventql_query("  ")
    with pytest.raises(InvalidArgumentError, match="subject ''"):
        mock_client.read_subjects("")
    with pytest.raises(InvalidArgumentError, match="base_subject"):
        mock_client.read_subjects(base_subject="")
    with pytest.raises(InvalidArgumentError, match="event_type"):
        await mock_client.read_event_type("malformed.event.type.")
    with pytest.raises(InvalidArgumentError, match="json_schema must be a JSON object"):
        await mock_client.register_event_schema("io.x.y", [])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="preconditions"):
        await mock_client.write_events([BOOK], preconditions=["pristine"])  # type: ignore[list-item]
    with pytest.raises(InvalidArgumentError, match="bound id"):
        Bound(id="-1")
    assert fake.requests == []


@pytest.mark.parametrize("event_id", ["9" * 5000, "18446744073709551616", "+1", ""])
async def test_malformed_event_ids_are_refused_before_any_request(
    mock_client: Client, fake: FakeServer, event_id: str
) -> None:
    # the server refuses them too (400, event-id-malformed); a 500 there would leave a write's
    # outcome unknown, so the client never sends them
    with pytest.raises(RefusedArgumentError) as refused:
        await mock_client.write_events(
            [BOOK], preconditions=[IsSubjectOnEventId("/books/42", event_id)]
        )
    assert refused.value.code is ErrorCode.EVENT_ID_MALFORMED
    for options in (
        lambda: ReadEventsOptions(lower_bound=Bound(event_id)),
        lambda: ReadEventsOptions(upper_bound=Bound(event_id, BoundType.EXCLUSIVE)),
        lambda: ObserveEventsOptions(lower_bound=Bound(event_id)),
    ):
        with pytest.raises(RefusedArgumentError, match="bound id") as refused:
            options()
        assert refused.value.code is ErrorCode.EVENT_ID_MALFORMED
    assert fake.requests == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_url": "localhost:3000"}, "base_url"),
        ({"base_url": "ftp://host"}, "base_url"),
        ({"base_url": "http://host:99999"}, "base_url"),
        ({"base_url": "http://host?x=1"}, "query or fragment"),
        ({"api_token": ""}, "must not be empty"),
        ({"api_token": "abc\n"}, "printable ASCII"),
        ({"timeout": 0}, "positive number"),
        ({"stall_timeout": float("inf")}, "positive number"),
        ({"api_version": 3}, "api_version"),
        ({"http_client": object()}, r"httpx\.(Async)?Client"),
    ],
)
def test_bad_client_settings_are_refused(kwargs: dict[str, Any], message: str, twin: Twin) -> None:
    settings: dict[str, Any] = {"base_url": BASE_URL, "api_token": TOKEN, **kwargs}
    with pytest.raises(InvalidArgumentError, match=message):
        client_class(twin)(**settings)


# --- life cycle ------------------------------------------------------------------------------


async def test_a_closed_client_refuses_every_call(
    http_client: httpx.AsyncClient | httpx.Client, new: Callable[..., Client]
) -> None:
    client = new(BASE_URL, TOKEN, http_client=http_client)
    await client.aclose()
    await client.aclose()
    assert client.closed
    with pytest.raises(ClientClosedError, match="create a new Client"):
        await client.ping()
    with pytest.raises(ClientClosedError):
        await client.write_events([BOOK])
    with pytest.raises(ClientClosedError):
        client.read_events("/books")
    with pytest.raises(ClientClosedError):
        async with client:
            pass
    assert not http_client.is_closed, "an injected client stays open"


async def test_a_client_works_without_async_with_and_opens_nothing_until_used(
    fake: FakeServer, new: Callable[..., Client]
) -> None:
    client = new(BASE_URL, TOKEN, transport=fake.transport())
    assert fake.requests == []
    await client.ping()
    assert client.api_version in (1, 2)
    await client.aclose()


async def test_an_owned_connection_pool_is_created_lazily_and_closed() -> None:
    client = Client("http://127.0.0.1:9", TOKEN, connect_timeout=0.5)
    transport = client._transport
    assert isinstance(transport, AiohttpTransport)
    assert transport._pools.current is None
    with pytest.raises(Exception, match="could not reach"):
        await client.ping()
    pool = transport._pools.current
    assert pool is not None
    session = pool[0]
    await client.aclose()
    assert session.closed


async def test_an_owned_httpx_client_over_a_given_transport_is_created_lazily_and_closed(
    fake: FakeServer,
) -> None:
    client = Client(BASE_URL, TOKEN, transport=fake.transport())
    transport = client._transport
    assert isinstance(transport, Transport)
    assert transport._clients.current is None
    await client.ping()
    http = transport._clients.current
    assert http is not None
    await client.aclose()
    assert http.is_closed


async def test_a_stream_ends_with_client_closed_after_aclose(
    connect: Connect, fake: FakeServer, api: int
) -> None:
    route = "/api/v2/data/observe-events" if api == 2 else "/api/v1/observe-events"
    key = "data" if api == 2 else "payload"

    async def body() -> AsyncIterator[bytes]:
        for index in range(1000):
            yield compact_lines({"type": "event", key: event_payload(index)})
            await asyncio.sleep(0.01)

    fake.on("QUERY" if api == 2 else "POST", route, lambda request: respond(200, body()))
    async with connect(fake) as client:
        events = client.observe_events("/books")
        assert (await anext(events)).event_id == "0"
        await client.aclose()
        with pytest.raises(ClientClosedError):
            await anext(events)


class TrackedStream(httpx.AsyncByteStream):
    """An endless body that records when it is closed."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for line in self.lines:
            yield line
        while True:
            await asyncio.sleep(3600)
            yield b""  # pragma: no cover

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
def tracked(fake: FakeServer, api: int) -> TrackedStream:
    key = "data" if api == 2 else "payload"
    stream = TrackedStream(
        [compact_lines({"type": "event", key: event_payload(i)}) for i in range(3)]
    )
    route = "/api/v2/data/observe-events" if api == 2 else "/api/v1/observe-events"
    fake.on(
        "QUERY" if api == 2 else "POST",
        route,
        lambda request: httpx.Response(200, headers={"server": "EventSourcingDB/1"}, stream=stream),
    )
    return stream


async def closed_by_the_server(tracked: TrackedStream) -> bool:
    """Whether the server closes the body within a moment: at once with a mock transport, a few
    loop iterations later on a socket (once the server notices the closed connection)."""
    for _ in range(100):
        if tracked.closed:
            return True
        await asyncio.sleep(0.01)
    return False


async def test_break_releases_the_connection(mock_client: Client, tracked: TrackedStream) -> None:
    async for event in mock_client.observe_events("/books"):
        assert event.event_id == "0"
        break
    for _ in range(3):
        await asyncio.sleep(0)
    assert await closed_by_the_server(tracked)


async def test_aclose_releases_the_connection_at_once(
    mock_client: Client, tracked: TrackedStream
) -> None:
    events = mock_client.observe_events("/books")
    async for event in events:
        if event.event_id == "1":
            break
    await events.aclose()
    assert await closed_by_the_server(tracked)


async def test_aclose_of_a_suspended_generator_from_another_task(
    mock_client: Client, tracked: TrackedStream
) -> None:
    events = mock_client.observe_events("/books")
    seen: list[str] = []

    async def consume() -> None:
        async for event in events:
            seen.append(event.event_id)

    task = asyncio.create_task(consume())
    for _ in range(100):
        if len(seen) == 3:
            break
        await asyncio.sleep(0.01)
    assert seen == ["0", "1", "2"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await events.aclose()
    assert await closed_by_the_server(tracked)


async def test_logs_carry_neither_token_nor_data(
    mock_client: Client, fake: FakeServer, api: int, caplog: pytest.LogCaptureFixture
) -> None:
    fake.on("POST", write_path(api), written_answer(api, 1))
    with caplog.at_level(logging.DEBUG, logger="eventsourcingdb"):
        await mock_client.write_events([BOOK])
    text = caplog.text
    assert caplog.records, "the client logs its requests at debug level"
    assert TOKEN not in text
    assert "Space Odyssey" not in text


def test_the_repr_shows_no_token(twin: Twin) -> None:
    client = client_class(twin)(BASE_URL, TOKEN)
    assert TOKEN not in repr(client)
    assert "esdb.test" in repr(client)


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("http://esdb.test/", "/api/v2/system/ping"),
        ("http://esdb.test/behind/proxy/", "/behind/proxy/api/v2/system/ping"),
    ],
)
async def test_base_urls_with_a_slash_or_a_path_prefix(
    base_url: str, expected: str, backend: Backend
) -> None:
    ping = {"type": "event", "data": {"type": "io.eventsourcingdb.api.ping-received"}}
    fake = FakeServer()
    fake.on("GET", expected, respond(200, compact(ping)))
    if backend == "httpx":
        async with (
            httpx.AsyncClient(transport=fake.transport()) as http,
            Client(base_url, TOKEN, http_client=http) as client,
        ):
            await client.ping()
    else:
        twin = Twin.SYNC if backend.startswith("sync") else Twin.ASYNC
        settings = {"transport": httpx.HTTPTransport()} if backend == "sync-httpx" else {}
        prefixed = base_url.removeprefix("http://esdb.test")
        async with (
            fake.serve() as url,
            new_client(twin, url + prefixed, TOKEN, **settings) as client,
        ):
            await client.ping()
    assert fake.paths() == [expected]
