"""Every error path of the client, over a scripted fake server (httpx mock transport)."""

from __future__ import annotations

import asyncio
import re
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import aiohttp
import httpx
import pytest

from eventsourcingdb import (
    AuthenticationError,
    Client,
    ClientError,
    ConcurrencyError,
    DbApiError,
    ErrorCode,
    EventTypeNotFoundError,
    InvalidSchemaError,
    OutcomeUnknownError,
    ProtocolError,
    QueryError,
    RateLimitedError,
    ReadEventsOptions,
    SchemaAlreadyRegisteredError,
    SchemaViolationError,
    ServerError,
    StoreReadOnlyError,
    StreamStalledError,
    TransportError,
    is_outcome_unknown,
)
from tests.client.client_fakes import (
    TOKEN,
    FakeServer,
    chunks,
    compact,
    compact_lines,
    event_payload,
    management,
    respond,
)
from tests.client.conftest import Backend, Connect

BOOK = {
    "source": "https://library.eventsourcingdb.io",
    "subject": "/books/42",
    "type": "io.eventsourcingdb.library.book-acquired",
    "data": {"title": "2001 – A Space Odyssey"},
}


def path(api: int, name: str) -> str:
    """The route of a call in the API the fake speaks."""
    v2 = {
        "write-events": "/api/v2/data/write-events",
        "read-events": "/api/v2/data/read-events",
        "observe-events": "/api/v2/data/observe-events",
        "run-eventql-query": "/api/v2/data/run-eventql-query",
        "register-event-schema": "/api/v2/data/register-event-schema",
        "read-event-type": "/api/v2/data/read-event-type",
        "read-event-types": "/api/v2/data/read-event-types",
        "read-subjects": "/api/v2/data/read-subjects",
        "verify-api-token": "/api/v2/system/verify-token",
    }
    return v2[name] if api == 2 else f"/api/v1/{name}"


def version(api: int) -> Literal[1, 2]:
    return 2 if api == 2 else 1


def method(api: int, name: str) -> str:
    reads = {"read-events", "observe-events", "run-eventql-query", "read-event-type"}
    reads |= {"read-event-types", "read-subjects"}
    return "QUERY" if api == 2 and name in reads else "POST"


def event_lines(api: int, *payloads: dict[str, Any], end: bool = True) -> bytes:
    """The streamed answer of read-events in the fake's API."""
    if api == 2:
        items: list[object] = [{"type": "event", "data": payload} for payload in payloads]
        if end:
            items.append({"type": "end", "data": {}})
        return compact_lines(*items)
    return compact_lines(*({"type": "event", "payload": payload} for payload in payloads))


def error_item(api: int, code: str, description: str) -> dict[str, Any]:
    if api == 2:
        return {
            "type": "error",
            "data": {
                "code": f"https://docs.eventsourcingdb.io/errors/{code}",
                "description": description,
                "details": {},
            },
        }
    return {"type": "error", "payload": {"error": description}}


def written(api: int, *payloads: dict[str, Any]) -> httpx.Response:
    """The answer of a successful write in the fake's API."""
    if api == 2:
        return respond(200, event_lines(2, *payloads))
    return respond(200, compact(list(payloads)))


async def collect(generator: Any) -> list[Any]:
    return [item async for item in generator]


async def collect_into(generator: Any, seen: list[Any]) -> None:
    """Append every item to `seen` (which keeps what arrived before an error)."""
    async for item in generator:
        seen.append(item.event_id if hasattr(item, "event_id") else item)


# --- the Server header -----------------------------------------------------------------------


async def test_a_probe_without_server_header_is_a_protocol_error(
    fake: FakeServer, connect: Connect
) -> None:
    fake.on("GET", "/api/v2/system/ping", respond(200, b"{}", server=False))
    async with connect(fake) as client:
        with pytest.raises(ProtocolError, match="no Server header"):
            await client.verify_api_token()


async def test_a_wrong_server_header_is_a_protocol_error(
    fake: FakeServer, connect: Connect
) -> None:
    fake.on("GET", "/api/v2/system/ping", respond(200, headers={"server": "nginx/1.25"}))
    async with connect(fake) as client:
        with pytest.raises(ProtocolError, match="nginx"):
            await client.ping()


async def test_the_server_header_is_checked_before_the_status(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    fake.on("POST", path(api, "verify-api-token"), respond(401, "unauthorized\n", server=False))
    with pytest.raises(ProtocolError):
        await mock_client.verify_api_token()


async def test_a_read_without_server_header_is_a_protocol_error(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    fake.on(
        method(api, "read-events"),
        path(api, "read-events"),
        respond(200, event_lines(api, event_payload(0)), server=False),
    )
    with pytest.raises(ProtocolError, match="Server header"):
        await collect(mock_client.read_events("/books/42"))


async def test_a_write_without_server_header_has_an_unknown_outcome(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    fake.on("POST", path(api, "write-events"), respond(502, "Bad Gateway", server=False))
    with pytest.raises(OutcomeUnknownError, match="may or may not have been written") as caught:
        await mock_client.write_events([BOOK])
    assert (caught.value.status, caught.value.description) == (502, "Bad Gateway")


# --- authentication --------------------------------------------------------------------------


async def test_401_is_an_authentication_error_without_the_token(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    fake.on("POST", path(api, "verify-api-token"), respond(401, "unauthorized\n"))
    with pytest.raises(AuthenticationError) as caught:
        await mock_client.verify_api_token()
    error = caught.value
    assert error.status == 401
    assert error.description == "unauthorized"
    assert error.path == path(api, "verify-api-token")
    assert TOKEN not in str(error)
    assert TOKEN not in repr(error.args)


async def test_401_on_a_stream_is_an_authentication_error(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    fake.on(method(api, "read-events"), path(api, "read-events"), respond(401, "unauthorized\n"))
    with pytest.raises(AuthenticationError):
        await collect(mock_client.read_events("/books/42"))


async def test_ping_sends_no_token_and_verify_does(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    verified = (
        "io.eventsourcingdb.api.token-verified"
        if api == 2
        else ("io.eventsourcingdb.api.api-token-verified")
    )
    document = management(verified)
    fake.on(
        "POST",
        path(api, "verify-api-token"),
        respond(200, compact({"type": "event", "data": document} if api == 2 else document)),
    )
    await mock_client.ping()
    await mock_client.verify_api_token()
    pings = [r for r in fake.requests if r.url.path.endswith("ping")]
    assert pings
    assert all("authorization" not in r.headers for r in pings)
    verify = fake.requests[-1]
    assert verify.headers["authorization"] == f"Bearer {TOKEN}"
    assert verify.content == b""
    assert "content-type" not in verify.headers


# --- 409 texts (v1) and codes (v2) -----------------------------------------------------------


CONFLICTS = [
    (
        "write-events",
        "state conflict: precondition failed",
        "precondition-violated",
        ConcurrencyError,
    ),
    (
        "write-events",
        "state conflict: exceeded max store capacity",
        "capacity-exceeded",
        DbApiError,
    ),
    (
        "write-events",
        "schema conflict: event candidate does not match schema: additionalProperties 'x' not "
        "allowed",
        "event-schema-violated",
        SchemaViolationError,
    ),
    (
        "register-event-schema",
        "schema conflict: schema already exists",
        "event-schema-already-registered",
        SchemaAlreadyRegisteredError,
    ),
    (
        "register-event-schema",
        "schema conflict: event with ID '3' does not match schema: missing properties: 'title'",
        "event-schema-violated",
        SchemaViolationError,
    ),
    (
        "read-events",
        "state conflict: fromLatestEvent results in an event ID greater than upperBound ID",
        "range-unsatisfiable",
        ClientError,
    ),
]


@pytest.mark.parametrize(("route", "text", "code", "error_class"), CONFLICTS)
async def test_each_conflict_maps_to_its_error(
    mock_client: Client,
    fake: FakeServer,
    api: int,
    route: str,
    text: str,
    code: str,
    error_class: type[ServerError],
) -> None:
    if api == 2:
        answer = respond(200, compact_lines(error_item(2, code, text)))
    else:
        answer = respond(409, text + "\n")
    fake.on(method(api, route), path(api, route), answer)

    async def call() -> None:
        if route == "write-events":
            await mock_client.write_events([BOOK])
        elif route == "register-event-schema":
            await mock_client.register_event_schema(
                "io.eventsourcingdb.library.book-acquired", {"type": "object", "properties": {}}
            )
        else:
            await collect(mock_client.read_events("/books/42"))

    with pytest.raises(error_class) as caught:
        await call()
    error = caught.value
    assert type(error) is error_class
    assert error.code == ErrorCode(code)
    assert error.status == (200 if api == 2 else 409)
    assert error.description == text
    assert error.path == path(api, route)
    assert text in str(error)


@pytest.mark.parametrize("api", [2])
async def test_v2_error_details_are_kept(mock_client: Client, fake: FakeServer, api: int) -> None:
    item = error_item(2, "precondition-violated", "precondition failed")
    item["data"]["details"] = {"index": 0}
    fake.on("POST", path(2, "write-events"), respond(200, compact_lines(item)))
    with pytest.raises(ConcurrencyError) as caught:
        await mock_client.write_events([BOOK])
    assert caught.value.details == {"index": 0}


@pytest.mark.parametrize("api", [2])
async def test_an_unknown_v2_code_is_a_server_error_with_its_url(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    item = error_item(2, "brand-new-problem", "something new")
    fake.on("QUERY", path(2, "read-events"), respond(200, compact_lines(item)))
    with pytest.raises(DbApiError, match="brand-new-problem") as caught:
        await collect(mock_client.read_events("/books/42"))
    assert caught.value.code == "https://docs.eventsourcingdb.io/errors/brand-new-problem"
    assert not isinstance(caught.value.code, ErrorCode)


async def test_a_bad_query_is_a_query_error(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    if api == 2:
        answer = respond(200, compact_lines(error_item(2, "query-malformed", "unexpected token")))
    else:
        answer = respond(400, "unexpected token 'FORM'\n")
    fake.on(method(api, "run-eventql-query"), path(api, "run-eventql-query"), answer)
    with pytest.raises(QueryError, match="unexpected token"):
        await collect(mock_client.run_eventql_query("FORM e IN events PROJECT INTO e"))


async def test_an_invalid_schema_is_refused(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    if api == 2:
        item = error_item(2, "event-schema-malformed", 'value must be "object"')
        answer = respond(200, compact_lines(item))
    else:
        answer = respond(400, 'jsonschema: value must be "object"\n')
    fake.on("POST", path(api, "register-event-schema"), answer)
    with pytest.raises(InvalidSchemaError):
        await mock_client.register_event_schema(
            "io.eventsourcingdb.library.book-acquired", {"type": "gurkenwasser"}
        )


# --- 404 -------------------------------------------------------------------------------------


async def test_an_unknown_event_type_is_event_type_not_found(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    name = "io.eventsourcingdb.library.book-lost"
    if api == 2:
        item = error_item(2, "event-type-unknown", f"event type '{name}' not found")
        answer = respond(200, compact(item))
    else:
        answer = respond(404, f"event type '{name}' not found\n")
    fake.on(method(api, "read-event-type"), path(api, "read-event-type"), answer)
    with pytest.raises(EventTypeNotFoundError) as caught:
        await mock_client.read_event_type(name)
    assert caught.value.code is ErrorCode.EVENT_TYPE_UNKNOWN


async def test_a_missing_v1_route_is_not_an_unknown_event_type(connect: Connect) -> None:
    fake = FakeServer((1,))
    fake.on("POST", "/api/v1/read-event-type", respond(404, "404 page not found\n"))
    async with connect(fake) as client:
        with pytest.raises(ClientError, match="does not offer this route") as caught:
            await client.read_event_type("io.eventsourcingdb.library.book-lost")
    assert not isinstance(caught.value, EventTypeNotFoundError)
    assert caught.value.status == 404


async def test_a_vanished_v2_route_makes_the_client_probe_again_and_use_v1(
    connect: Connect,
) -> None:
    fake = FakeServer((1, 2))
    async with connect(fake) as client:
        await client.ping()
        assert client.api_version == 2
        fake.api_versions = (1,)
        fake.on("QUERY", "/api/v2/data/read-events", respond(404, "404 page not found\n"))
        fake.on("POST", "/api/v1/read-events", respond(200, event_lines(1, event_payload(0))))
        events = await collect(client.read_events("/books/42"))
        assert [event.event_id for event in events] == ["0"]
        assert client.api_version == 1
    assert fake.paths()[-3:] == [
        "/api/v2/data/read-events",
        "/api/v2/system/ping",
        "/api/v1/read-events",
    ]


# --- 5xx, 429, 503 ---------------------------------------------------------------------------


async def test_500_on_a_read_is_a_server_error(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    fake.on(method(api, "read-events"), path(api, "read-events"), respond(500, "boom\n"))
    with pytest.raises(DbApiError) as caught:
        await collect(mock_client.read_events("/books/42"))
    assert type(caught.value) is DbApiError
    assert caught.value.status == 500
    assert caught.value.description == "boom"


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_5xx_on_a_write_has_an_unknown_outcome(
    mock_client: Client, fake: FakeServer, api: int, status: int
) -> None:
    fake.on("POST", path(api, "write-events"), respond(status, "upstream trouble\n"))
    with pytest.raises(OutcomeUnknownError) as caught:
        await mock_client.write_events([BOOK])
    assert isinstance(caught.value.__cause__, ServerError)
    assert caught.value.path == path(api, "write-events")
    assert caught.value.status == status
    assert caught.value.description == "upstream trouble"
    writes = [r for r in fake.requests if r.url.path == path(api, "write-events")]
    assert len(writes) == 1


async def test_an_unknown_outcome_without_an_answer_has_no_status(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    def dropped(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset by peer")

    fake.on("POST", path(api, "write-events"), dropped)
    with pytest.raises(OutcomeUnknownError) as caught:
        await mock_client.write_events([BOOK])
    assert (caught.value.status, caught.value.description) == (None, "")


async def test_read_only_mode_refuses_a_write(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    text = "the current operation mode conflicts with the given request"
    if api == 2:
        answer = respond(200, compact_lines(error_item(2, "store-read-only", text)))
    else:
        answer = respond(503, text + "\n")
    fake.on("POST", path(api, "write-events"), answer)
    with pytest.raises(StoreReadOnlyError) as caught:
        await mock_client.write_events([BOOK])
    assert caught.value.code is ErrorCode.STORE_READ_ONLY


async def test_429_is_rate_limited_with_retry_after(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    fake.on(
        "POST",
        path(api, "write-events"),
        respond(429, "too many requests\n", headers={"retry-after": "7"}),
    )
    with pytest.raises(RateLimitedError) as caught:
        await mock_client.write_events([BOOK])
    assert caught.value.retry_after == 7.0
    assert caught.value.status == 429


async def test_a_licence_problem_refuses_a_v1_write(connect: Connect) -> None:
    fake = FakeServer((1,))
    fake.on("POST", "/api/v1/write-events", respond(507, "license invalid\n"))
    async with connect(fake) as client:
        with pytest.raises(ServerError) as caught:
            await client.write_events([BOOK])
    assert not isinstance(caught.value, OutcomeUnknownError)
    assert caught.value.code is ErrorCode.LICENSE_INVALID


# --- streams that go wrong -------------------------------------------------------------------


async def test_an_error_line_mid_stream_comes_after_the_events_before_it(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    body = event_lines(api, event_payload(0), event_payload(1), end=False)
    body += compact_lines(error_item(api, "store-failed", "disk on fire"))
    fake.on(method(api, "read-events"), path(api, "read-events"), respond(200, body))
    seen: list[str] = []
    with pytest.raises(ServerError, match="disk on fire") as caught:
        await collect_into(mock_client.read_events("/books/42"), seen)
    assert seen == ["0", "1"]
    assert caught.value.status == 200


async def test_an_error_line_in_a_query_is_a_query_error(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    row = {"type": "row", "data": {"value": 1}} if api == 2 else {"type": "row", "payload": 1}
    body = compact_lines(row, error_item(api, "query-unevaluable", "division by zero"))
    fake.on(method(api, "run-eventql-query"), path(api, "run-eventql-query"), respond(200, body))
    rows: list[Any] = []
    with pytest.raises(QueryError, match="division by zero"):
        await collect_into(mock_client.run_eventql_query("FROM e IN events PROJECT INTO 1/0"), rows)
    assert rows == [1]


@pytest.mark.parametrize("api", [2])
async def test_a_v2_stream_without_end_is_broken(mock_client: Client, fake: FakeServer) -> None:
    fake.on(
        "QUERY", path(2, "read-events"), respond(200, event_lines(2, event_payload(0), end=False))
    )
    seen: list[str] = []
    with pytest.raises(TransportError, match="without its 'end' item"):
        await collect_into(mock_client.read_events("/books/42"), seen)
    assert seen == ["0"]


async def test_a_truncated_line_is_a_broken_stream(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    body = event_lines(api, event_payload(0), end=False)
    body += event_lines(api, event_payload(1), end=False)[:-40]
    fake.on(method(api, "read-events"), path(api, "read-events"), respond(200, body))
    with pytest.raises(TransportError, match="middle of a line"):
        await collect(mock_client.read_events("/books/42"))


async def test_a_v1_last_line_without_newline_is_accepted_when_complete(connect: Connect) -> None:
    fake = FakeServer((1,))
    body = event_lines(1, event_payload(0)).rstrip(b"\n")
    fake.on("POST", "/api/v1/read-events", respond(200, body))
    async with connect(fake) as client:
        events = await collect(client.read_events("/books/42"))
    assert [event.event_id for event in events] == ["0"]


async def test_a_stalled_stream_raises_stream_stalled(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    def stalled(request: httpx.Request) -> httpx.Response:
        first = event_lines(api, event_payload(0), end=False)
        return respond(200, chunks(first, stall=True))

    fake.on(method(api, "observe-events"), path(api, "observe-events"), stalled)
    seen: list[str] = []
    with pytest.raises(StreamStalledError) as caught:
        await collect_into(mock_client.observe_events("/books/42"), seen)
    assert seen == ["0"]
    assert caught.value.timeout == 0.5
    assert caught.value.path == path(api, "observe-events")


async def test_heartbeats_keep_a_stream_alive_and_are_skipped(
    connect: Connect, fake: FakeServer, api: int
) -> None:
    key = "data" if api == 2 else "payload"
    heartbeat = compact_lines({"type": "heartbeat", key: {}})

    async def body() -> Any:
        for _ in range(5):
            yield heartbeat
            await asyncio.sleep(0.1)
        yield event_lines(api, event_payload(0), end=False)
        yield compact_lines({"type": "heartbeat"})
        yield event_lines(api, event_payload(1), end=False)
        await asyncio.sleep(3600)

    fake.on(
        method(api, "observe-events"),
        path(api, "observe-events"),
        lambda request: respond(200, body()),
    )
    async with connect(fake, stall_timeout=0.3) as client:
        seen: list[str] = []
        async for event in client.observe_events("/books/42"):
            seen.append(event.event_id)
            if len(seen) == 2:
                break
    assert seen == ["0", "1"]


async def test_an_observe_stream_that_ends_is_broken(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    body = event_lines(api, event_payload(0), end=False)
    fake.on(method(api, "observe-events"), path(api, "observe-events"), respond(200, body))
    with pytest.raises(TransportError, match="observe stream"):
        await collect(mock_client.observe_events("/books/42"))


@pytest.mark.parametrize("api", [2])
async def test_an_end_item_on_observe_is_a_protocol_error(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    body = event_lines(2, event_payload(0), end=True)
    fake.on("QUERY", path(2, "observe-events"), respond(200, body))
    with pytest.raises(ProtocolError, match="'end'"):
        await collect(mock_client.observe_events("/books/42"))


async def test_an_unexpected_item_type_is_a_protocol_error(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    key = "data" if api == 2 else "payload"
    body = compact_lines({"type": "row", key: 1})
    fake.on(method(api, "read-events"), path(api, "read-events"), respond(200, body))
    with pytest.raises(ProtocolError, match="'row'"):
        await collect(mock_client.read_events("/books/42"))


async def test_a_line_that_is_not_json_is_a_protocol_error(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    fake.on(method(api, "read-events"), path(api, "read-events"), respond(200, b"<html>\n"))
    with pytest.raises(ProtocolError, match="not JSON"):
        await collect(mock_client.read_events("/books/42"))


async def test_a_malformed_event_is_a_protocol_error(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    payload = event_payload(0)
    del payload["hash"]
    fake.on(
        method(api, "read-events"),
        path(api, "read-events"),
        respond(200, event_lines(api, payload)),
    )
    with pytest.raises(ProtocolError, match="'hash'"):
        await collect(mock_client.read_events("/books/42"))


async def test_a_connection_dropped_mid_stream_is_a_transport_error(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    def dropping(request: httpx.Request) -> httpx.Response:
        first = event_lines(api, event_payload(0), end=False)
        return respond(200, chunks(first, then=httpx.ReadError("connection reset by peer")))

    fake.on(method(api, "read-events"), path(api, "read-events"), dropping)
    with pytest.raises(TransportError, match="the connection to the server broke off") as caught:
        await collect(mock_client.read_events("/books/42"))
    assert not isinstance(caught.value, StreamStalledError)


# --- writes whose answer is lost -------------------------------------------------------------


async def test_a_connection_dropped_during_a_write_has_an_unknown_outcome(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    def dropping(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    fake.on("POST", path(api, "write-events"), dropping)
    with pytest.raises(OutcomeUnknownError, match="connection broke off") as caught:
        await mock_client.write_events([BOOK])
    assert caught.value.path == path(api, "write-events")
    writes = [r for r in fake.requests if r.url.path == path(api, "write-events")]
    assert len(writes) == 1, "a write is never retried"


async def test_a_write_answer_cut_short_has_an_unknown_outcome(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    def cut(request: httpx.Request) -> httpx.Response:
        answer = written(api, event_payload(0)).content
        return respond(200, chunks(answer[:30], then=httpx.ReadError("reset")))

    fake.on("POST", path(api, "write-events"), cut)
    with pytest.raises(OutcomeUnknownError):
        await mock_client.write_events([BOOK])


async def test_a_truncated_write_answer_has_an_unknown_outcome(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    answer = written(api, event_payload(0)).content
    fake.on("POST", path(api, "write-events"), respond(200, answer[:-20]))
    with pytest.raises(OutcomeUnknownError):
        await mock_client.write_events([BOOK])


@pytest.mark.parametrize("api", [2])
async def test_a_v2_write_answer_without_end_has_an_unknown_outcome(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    fake.on(
        "POST", path(2, "write-events"), respond(200, event_lines(2, event_payload(0), end=False))
    )
    with pytest.raises(OutcomeUnknownError, match="'end'"):
        await mock_client.write_events([BOOK])


async def test_a_write_answer_with_too_few_events_has_an_unknown_outcome(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    fake.on("POST", path(api, "write-events"), written(api, event_payload(0)))
    with pytest.raises(OutcomeUnknownError, match="confirmed 1 events, but 2"):
        await mock_client.write_events([BOOK, BOOK])


async def test_a_write_that_cannot_connect_is_a_transport_error(api: int, connect: Connect) -> None:
    async with connect(None, api_version=version(api)) as client:
        with pytest.raises(TransportError, match="could not reach") as caught:
            await client.write_events([BOOK])
    assert not isinstance(caught.value, OutcomeUnknownError)


async def test_a_write_that_times_out_has_an_unknown_outcome(
    fake: FakeServer, api: int, connect: Connect
) -> None:
    fake.on("POST", path(api, "write-events"), _slow)
    async with connect(fake, timeout=0.2, api_version=version(api)) as client:
        with pytest.raises(OutcomeUnknownError, match=r"no answer within 0\.2 seconds"):
            await client.write_events([BOOK])


async def test_a_read_that_times_out_is_a_transport_error(
    fake: FakeServer, api: int, connect: Connect
) -> None:
    fake.on(method(api, "read-event-type"), path(api, "read-event-type"), _slow)
    async with connect(fake, timeout=0.2, api_version=version(api)) as client:
        with pytest.raises(TransportError, match=r"did not answer within 0\.2 seconds"):
            await client.read_event_type("io.eventsourcingdb.library.book-acquired")


# --- retries ---------------------------------------------------------------------------------


async def test_a_read_is_retried_once_when_a_kept_alive_connection_was_closed(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    def stale(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    fake.on(
        method(api, "read-events"),
        path(api, "read-events"),
        stale,
        respond(200, event_lines(api, event_payload(0))),
    )
    events = await collect(mock_client.read_events("/books/42"))
    assert [event.event_id for event in events] == ["0"]
    reads = [r for r in fake.requests if r.url.path == path(api, "read-events")]
    assert len(reads) == 2


async def test_a_one_shot_read_is_retried_once_when_a_kept_alive_connection_was_closed(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    def stale(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    known = "io.eventsourcingdb.library.book-acquired"
    if api == 2:
        document: dict[str, Any] = {"type": "eventType", "data": {"type": known, "hasEvents": True}}
    else:
        document = {"eventType": known, "isPhantom": False}
    answer = respond(200, compact(document))
    fake.on(method(api, "read-event-type"), path(api, "read-event-type"), stale, answer)
    event_type = await mock_client.read_event_type(known)
    assert event_type.type == known
    reads = [r for r in fake.requests if r.url.path == path(api, "read-event-type")]
    assert len(reads) == 2


async def test_a_read_is_retried_only_once(mock_client: Client, fake: FakeServer, api: int) -> None:
    def stale(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    fake.on(method(api, "read-events"), path(api, "read-events"), stale)
    with pytest.raises(TransportError, match="broke off"):
        await collect(mock_client.read_events("/books/42"))
    reads = [r for r in fake.requests if r.url.path == path(api, "read-events")]
    assert len(reads) == 2


async def test_an_unreachable_server_is_a_transport_error(connect: Connect) -> None:
    async with connect(None) as client:
        with pytest.raises(
            TransportError, match=f"could not reach the server at {re.escape(client.base_url)}"
        ):
            await client.ping()


async def test_read_events_options_with_lower_bound_and_from_latest_never_reach_the_server(
    mock_client: Client, fake: FakeServer
) -> None:
    from eventsourcingdb import (
        Bound,
        IfEventIsMissingDuringRead,
        InvalidArgumentError,
        ReadFromLatestEvent,
    )

    with pytest.raises(InvalidArgumentError, match="cannot be combined"):
        ReadEventsOptions(
            lower_bound=Bound(id="1"),
            from_latest_event=ReadFromLatestEvent(
                subject="/books/42",
                type="io.eventsourcingdb.library.book-borrowed",
                if_event_is_missing=IfEventIsMissingDuringRead.READ_NOTHING,
            ),
        )
    assert fake.requests == []


async def test_time_spent_by_the_consumer_does_not_count_as_a_stall(
    connect: Connect, fake: FakeServer, api: int
) -> None:
    body = event_lines(api, event_payload(0), event_payload(1), end=False)
    half = len(body) // 2

    def slow_consumer_stream(request: httpx.Request) -> httpx.Response:
        return respond(200, chunks(body[:half], body[half:], stall=True))

    fake.on(method(api, "observe-events"), path(api, "observe-events"), slow_consumer_stream)
    async with connect(fake, stall_timeout=0.2) as client:
        seen: list[str] = []
        async for event in client.observe_events("/books/42"):
            seen.append(event.event_id)
            await asyncio.sleep(0.5)
            if len(seen) == 2:
                break
    assert seen == ["0", "1"]


async def test_an_outside_cancellation_is_not_a_stall(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    def endless(request: httpx.Request) -> httpx.Response:
        return respond(200, chunks(event_lines(api, event_payload(0), end=False), stall=True))

    fake.on(method(api, "observe-events"), path(api, "observe-events"), endless)
    events = mock_client.observe_events("/books/42")
    assert (await anext(events)).event_id == "0"
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await anext(events)
    await events.aclose()


async def test_a_vanished_v2_write_route_is_written_through_v1_after_a_new_probe(
    connect: Connect,
) -> None:
    fake = FakeServer((1, 2))
    async with connect(fake) as client:
        await client.ping()
        fake.api_versions = (1,)
        fake.on("POST", "/api/v2/data/write-events", respond(404, "404 page not found\n"))
        fake.on("POST", "/api/v1/write-events", written(1, event_payload(0)))
        (event,) = await client.write_events([BOOK])
        assert event.event_id == "0"
        assert client.api_version == 1
    assert fake.paths()[-3:] == [
        "/api/v2/data/write-events",
        "/api/v2/system/ping",
        "/api/v1/write-events",
    ]


async def test_concurrent_first_calls_probe_once(
    connect: Connect, fake: FakeServer, api: int
) -> None:
    verified = management(
        "io.eventsourcingdb.api.token-verified"
        if api == 2
        else "io.eventsourcingdb.api.api-token-verified"
    )
    document = {"type": "event", "data": verified} if api == 2 else verified
    fake.on("POST", path(api, "verify-api-token"), respond(200, compact(document)))
    async with connect(fake) as client:
        await asyncio.gather(*(client.verify_api_token() for _ in range(10)))
    assert fake.paths().count("/api/v2/system/ping") == 1
    assert fake.paths().count(path(api, "verify-api-token")) == 10


# --- the API token stays out of every error --------------------------------------------------


def _errors_in_chain(error: BaseException) -> list[BaseException]:
    """`error` and every exception reachable through `__cause__` and `__context__`."""
    found: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or any(current is seen for seen in found):
            continue
        found.append(current)
        pending += [current.__cause__, current.__context__]
    return found


def _holds(value: object, secret: str, seen: set[int], depth: int = 0) -> bool:
    """Whether `secret` is somewhere in `value`: its text, its attributes, and what they hold
    (requests and their headers included), except code objects (tracebacks, frames)."""
    if id(value) in seen or depth > 12:
        return False
    seen.add(id(value))
    if isinstance(value, str | bytes):
        return secret in (value if isinstance(value, str) else value.decode("latin-1"))
    if isinstance(value, httpx.Headers):
        return any(_holds(item, secret, seen, depth + 1) for item in value.multi_items())
    if isinstance(value, httpx.Request | httpx.Response):
        return True  # an httpx request or response holds the request's headers
    if isinstance(value, dict):
        return any(
            _holds(key, secret, seen, depth + 1) or _holds(item, secret, seen, depth + 1)
            for key, item in value.items()
        )
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds(item, secret, seen, depth + 1) for item in value)
    if isinstance(value, BaseException):
        if secret in str(value) or secret in repr(value):
            return True
        for name in ("request", "response", "args"):
            try:
                attribute = getattr(value, name)
            except (AttributeError, RuntimeError):  # httpx: ".request has not been set"
                continue
            if _holds(attribute, secret, seen, depth + 1):
                return True
    attributes = getattr(value, "__dict__", None)
    return attributes is not None and _holds(attributes, secret, seen, depth + 1)


def _raising(error: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    return handler


_refusing = _raising(httpx.ConnectError("connection refused"))


async def _slow(request: httpx.Request) -> httpx.Response:
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


SECRET_TOKEN = "Sup3r-S3cret-T0ken"


@pytest.mark.parametrize(
    ("answer", "call"),
    [
        (_raising(httpx.ReadError("connection reset by peer")), "write"),
        (_raising(httpx.RemoteProtocolError("Server disconnected")), "write"),
        (_refusing, "write"),
        (_raising(httpx.ReadError("connection reset by peer")), "read"),
        (_refusing, "read"),
        (
            lambda request: respond(200, chunks(b'{"type":', then=httpx.ReadError("reset"))),
            "read",
        ),
        (lambda request: respond(200, chunks(b"", stall=True)), "read"),
        (_slow, "write"),
        (_slow, "verify"),
    ],
)
async def test_no_error_leads_to_the_token(
    answer: Any, call: str, backend: Backend, connect: Connect
) -> None:
    fake = FakeServer((1, 2))
    fake.on("POST", "/api/v2/data/write-events", answer)
    fake.on("QUERY", "/api/v2/data/read-events", answer)
    fake.on("POST", "/api/v2/system/verify-token", answer)
    # on a socket, a refused connection is a port where nothing listens
    refused = backend != "httpx" and answer is _refusing
    async with connect(
        None if refused else fake, SECRET_TOKEN, timeout=0.3, stall_timeout=0.3
    ) as client:
        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "write": lambda: client.write_events([BOOK]),
            "read": lambda: collect(client.read_events("/books/42")),
            "verify": client.verify_api_token,
        }
        with pytest.raises((TransportError, OutcomeUnknownError)) as caught:
            await calls[call]()
    assert refused or any(request.headers.get("authorization") for request in fake.requests)
    chain = _errors_in_chain(caught.value)
    for error in chain:
        assert not isinstance(error, httpx.HTTPError | httpx.StreamError | aiohttp.ClientError), (
            chain
        )
        assert not _holds(error, SECRET_TOKEN, set()), error
    assert SECRET_TOKEN not in "".join(traceback.format_exception(caught.value))


# --- the hidden version probe ----------------------------------------------------------------


async def test_errors_of_the_version_probe_name_the_call_that_was_made(connect: Connect) -> None:
    async with connect(None) as client:
        with pytest.raises(TransportError) as written:
            await client.write_events([BOOK])
        assert not isinstance(written.value, OutcomeUnknownError)
        assert str(written.value).startswith(
            "write_events: while choosing the API version: could not reach the server"
        )
        with pytest.raises(TransportError) as read:
            await collect(client.read_events("/books/42"))
        assert str(read.value).startswith("read_events: while choosing the API version: ")
        with pytest.raises(TransportError) as pinged:
            await client.ping()
        assert str(pinged.value).startswith("ping: could not reach the server")


async def test_a_refused_probe_names_the_call_that_was_made(
    fake: FakeServer, connect: Connect
) -> None:
    fake.on("GET", "/api/v2/system/ping", respond(500, "boom\n"))
    async with connect(fake) as client:
        with pytest.raises(ServerError) as caught:
            await client.read_event_type("io.eventsourcingdb.library.book-acquired")
    assert str(caught.value).startswith("read_event_type: while choosing the API version: ")
    assert caught.value.path == "/api/v2/system/ping"


# --- cancelled writes ------------------------------------------------------------------------

CANCELLATION = (
    "cancelling a task is asyncio's; a blocking call is not cancelled, its timeout raises "
    "OutcomeUnknownError for a write instead"
)


@pytest.mark.twins("async", reason=CANCELLATION)
async def test_a_write_cancelled_after_sending_is_marked_outcome_unknown(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    async def never_answers(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    fake.on("POST", path(api, "write-events"), never_answers)
    with pytest.raises(TimeoutError) as caught:
        async with asyncio.timeout(0.2):
            await mock_client.write_events([BOOK])
    assert is_outcome_unknown(caught.value)
    assert isinstance(caught.value.__cause__, asyncio.CancelledError)
    assert any("may have been stored" in note for note in caught.value.__cause__.__notes__)


@pytest.mark.twins("async", reason=CANCELLATION)
async def test_a_cancelled_read_is_not_marked(
    mock_client: Client, fake: FakeServer, api: int
) -> None:
    async def never_answers(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    fake.on(method(api, "read-event-type"), path(api, "read-event-type"), never_answers)
    with pytest.raises(TimeoutError) as caught:
        async with asyncio.timeout(0.2):
            await mock_client.read_event_type("io.eventsourcingdb.library.book-acquired")
    assert not is_outcome_unknown(caught.value)
