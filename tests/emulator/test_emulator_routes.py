"""Every route of v1 and v2 over the in-process transport: shapes, statuses and exact texts."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eventsourcingdb.emulator import ApiVersion, EmulatorServer, ServerOptions, TimeFormat
from eventsourcingdb.emulator import handler as handler_module
from eventsourcingdb.emulator.hashing import EventMetadata, hash_v1
from tests.emulator.emulator_helpers import AUTH, BASE_URL, Api, Calls, candidate, items, lines

V1, V2 = Api(1), Api(2)
SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}},
    "required": ["title"],
    "additionalProperties": False,
}
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _server_header(response: httpx.Response, version: str = "1.3.0") -> None:
    assert response.headers["server"] == f"EventSourcingDB/{version}-emulator"


# --- system routes -----------------------------------------------------------------------------


async def test_ping_needs_no_token(server: EmulatorServer, api: Api) -> None:
    async with httpx.AsyncClient(transport=server.async_transport(), base_url=BASE_URL) as http:
        response = await http.get(api.route("ping")[1])
    _server_header(response)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    event = document if api.version == 1 else document["data"]
    if api.version == 2:
        assert document["type"] == "event"
    assert list(event) == [
        "specversion",
        "id",
        "time",
        "source",
        "subject",
        "type",
        "datacontenttype",
        "data",
    ]
    assert event["type"] == "io.eventsourcingdb.api.ping-received"
    assert event["id"] == "0"
    assert event["source"] == "https://www.eventsourcingdb.io"
    assert event["subject"] == api.route("ping")[1]
    assert event["data"] == {"message": "My God, it's full of stars."}


async def test_ping_ignores_a_wrong_token(calls: Calls) -> None:
    response = await calls.call("ping", headers={"authorization": "Bearer wrong"})
    assert response.status_code == 200


async def test_verify_token(calls: Calls) -> None:
    response = await calls.call("verify-api-token")
    assert response.status_code == 200
    document = response.json()
    if calls.api.version == 1:
        assert document["type"] == "io.eventsourcingdb.api.api-token-verified"
        assert document["subject"] == "/api/v1/verify-api-token"
    else:
        assert document["type"] == "event"
        assert document["data"]["type"] == "io.eventsourcingdb.api.token-verified"
    assert (await calls.call("verify-api-token", {})).status_code == 200


@pytest.mark.parametrize(
    "name",
    [
        "verify-api-token",
        "write-events",
        "read-events",
        "observe-events",
        "run-eventql-query",
        "register-event-schema",
        "read-subjects",
        "read-event-types",
        "read-event-type",
    ],
)
@pytest.mark.parametrize("token", [None, "Bearer wrong", "secret", "Basic secret"])
async def test_every_route_but_ping_needs_the_token(
    server: EmulatorServer, api: Api, name: str, token: str | None
) -> None:
    headers = {} if token is None else {"authorization": token}
    async with httpx.AsyncClient(transport=server.async_transport(), base_url=BASE_URL) as http:
        method, path = api.route(name)
        response = await http.request(method, path, json={"subject": "/"}, headers=headers)
    _server_header(response)
    assert response.status_code == 401
    assert response.text == "unauthorized\n"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_health_needs_the_token(server: EmulatorServer) -> None:
    async with httpx.AsyncClient(transport=server.async_transport(), base_url=BASE_URL) as http:
        assert (await http.get("/api/v1/health")).status_code == 401
        response = await http.get("/api/v1/health", headers=AUTH)
        assert response.status_code == 200
        assert response.json()["status"] == "pass"
        assert response.json()["checks"]
        metrics = await http.get("/api/v1/health?format=openmetrics", headers=AUTH)
        assert metrics.headers["content-type"].startswith("application/openmetrics-text")
        assert metrics.text.endswith("# EOF\n")


@pytest.mark.parametrize(
    "path", ["/", "/api/v1/nothing", "/api/v3/system/ping", "/api/v1/ping/", "/api/v2/ping"]
)
async def test_unknown_routes_are_404_even_without_token(server: EmulatorServer, path: str) -> None:
    async with httpx.AsyncClient(transport=server.async_transport(), base_url=BASE_URL) as http:
        response = await http.get(path)
    _server_header(response)
    assert response.status_code == 404
    assert response.text == "404 page not found\n"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/api/v1/ping", "GET, HEAD"),
        ("GET", "/api/v1/write-events", "POST"),
        ("POST", "/api/v2/data/read-events", "QUERY"),
        ("QUERY", "/api/v2/data/write-events", "POST"),
        ("GET", "/api/v2/system/verify-token", "POST"),
    ],
)
async def test_wrong_methods_are_405(
    http: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    response = await http.request(method, path)
    _server_header(response)
    assert response.status_code == 405
    assert response.text == "Method Not Allowed\n"
    assert response.headers["allow"] == allow


async def test_head_works_where_get_does(http: httpx.AsyncClient) -> None:
    assert (await http.head("/api/v1/ping")).status_code == 200


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/ping", 200),
        ("/api/v2/system/ping", 200),
        ("/api/v1/health", 200),
        ("/api/v1/nothing", 404),
        ("/api/v1/write-events", 405),
    ],
)
async def test_head_answers_have_the_get_headers_and_no_body(path: str, status: int) -> None:
    # times of nine digits: the ping's time (and so its length) is the same in both answers
    server = EmulatorServer(ServerOptions(time_format=TimeFormat.NINE_DIGITS))
    async with httpx.AsyncClient(
        transport=server.async_transport(), base_url=BASE_URL, headers=AUTH
    ) as http:
        got = await http.get(path)
        head = await http.head(path)
    server.close()
    assert (head.status_code, got.status_code) == (status, status)
    assert head.content == b""
    assert head.headers["content-length"] == str(len(got.content))
    assert head.headers["content-type"] == got.headers["content-type"]
    _server_header(head)


async def test_a_v1_only_server_has_no_v2_routes() -> None:
    server = EmulatorServer(ServerOptions(api_versions=frozenset({ApiVersion.V1})))
    async with httpx.AsyncClient(transport=server.async_transport(), base_url=BASE_URL) as http:
        probe = await http.get("/api/v2/system/ping")
        assert probe.status_code == 404
        assert probe.text == "404 page not found\n"
        assert (await http.get("/api/v1/ping")).status_code == 200


async def test_a_v1_only_server_says_it_is_older_than_1_3() -> None:
    # 1.3 is the first server version with the v2 API, so a v1-only server claims a 1.2 version
    server = EmulatorServer(ServerOptions(api_versions=frozenset({ApiVersion.V1})))
    async with httpx.AsyncClient(transport=server.async_transport(), base_url=BASE_URL) as http:
        _server_header(await http.get("/api/v2/system/ping"), "1.2.0")
        _server_header(await http.get("/api/v1/ping"), "1.2.0")
    v2_only = EmulatorServer(ServerOptions(api_versions=frozenset({ApiVersion.V2})))
    async with httpx.AsyncClient(transport=v2_only.async_transport(), base_url=BASE_URL) as http:
        _server_header(await http.get("/api/v2/system/ping"))
    chosen = ServerOptions(
        api_versions=frozenset({ApiVersion.V1}), server_header="EventSourcingDB/x"
    )
    assert chosen.server_header == "EventSourcingDB/x"


async def test_a_v2_only_server_has_no_v1_routes() -> None:
    server = EmulatorServer(ServerOptions(api_versions=frozenset({ApiVersion.V2})))
    async with httpx.AsyncClient(transport=server.async_transport(), base_url=BASE_URL) as http:
        assert (await http.get("/api/v1/ping")).status_code == 404
        assert (await http.get("/api/v2/system/ping")).status_code == 200


async def test_a_failure_inside_the_server_is_a_500_with_the_header(
    server: EmulatorServer, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(server.store, "read", broken)
    response = await http.post("/api/v1/read-events", json={"subject": "/"})
    _server_header(response)
    assert response.status_code == 500
    assert response.text == "internal server error\n"


async def test_a_failure_inside_a_stream_ends_it_with_an_error_line(
    server: EmulatorServer,
    calls: Calls,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await calls.write(candidate(), candidate())

    def broken(events: Any, lines: Any) -> Iterator[bytes]:
        yield b"".join(map(lines.event, list(events)[:1]))
        raise RuntimeError("boom")

    monkeypatch.setattr(handler_module, "event_chunks", broken)
    with caplog.at_level(logging.ERROR, logger="eventsourcingdb.emulator"):
        response = await calls.call("read-events", {"subject": "/", "options": {"recursive": True}})
    assert response.status_code == 200
    first, last = lines(response)
    assert first["type"] == "event"
    if calls.api.version == 1:
        assert last == {"type": "error", "payload": {"error": "internal server error"}}
    else:
        assert last == {
            "type": "error",
            "data": {
                "code": "https://docs.eventsourcingdb.io/errors/store-failed",
                "description": "internal server error",
                "details": {},
            },
        }
    assert any(
        record.name == "eventsourcingdb.emulator" and record.exc_info for record in caplog.records
    )


@pytest.mark.parametrize(
    "name", ["write-events", "read-events", "register-event-schema", "run-eventql-query"]
)
async def test_a_body_nested_too_deeply_is_unreadable_not_a_failure(
    calls: Calls, name: str
) -> None:
    nested = "[" * 1500 + "]" * 1500
    body = '{"events":[{"data":{"x":' + nested + '}}],"subject":' + nested + "}"
    method, path = calls.api.route(name)
    response = await calls.http.request(method, path, content=body.encode())
    assert response.status_code == 400
    assert (
        response.text == "invalid request body: exceeded max depth: more than 512 nested levels\n"
    )


async def test_data_as_deep_as_a_body_may_be_is_written_read_and_queried(calls: Calls) -> None:
    data: Any = "leaf \ud800"  # a lone surrogate: the decoder replaces it, level by level
    expected: Any = "leaf \ufffd"
    for _ in range(500):
        data, expected = {"a": data}, {"a": expected}
    body = json.dumps({"events": [candidate(data=data)]}).encode()  # `\ud800` as an escape
    written = await calls.call("write-events", content=body)
    assert written.status_code == 200, written.text
    assert (await calls.read())[0]["data"] == expected
    response = await calls.call(
        "run-eventql-query", {"query": "FROM e IN events PROJECT INTO e.data"}
    )
    assert response.status_code == 200
    key = "eventType" if calls.api.version == 1 else "type"
    schema = {"type": "object", "properties": {"a": {"$ref": "#"}}}
    stored = await calls.refusal(
        "register-event-schema", {key: "io.eventsourcingdb.library.book-acquired", "schema": schema}
    )
    assert stored[1].startswith("schema conflict: event with ID '0' does not match schema: ")


# --- write-events ------------------------------------------------------------------------------


async def test_written_events_come_back_in_request_order(calls: Calls) -> None:
    written = await calls.write(
        candidate("/books/1", data={"b": 1, "a": "<x>"}),
        candidate("/books/2", traceparent=TRACEPARENT, tracestate="rojo=00f067aa0ba902b7"),
    )
    assert [event["id"] for event in written] == ["0", "1"]
    first, second = written
    assert list(first) == [
        "source",
        "subject",
        "type",
        "specversion",
        "id",
        "time",
        "datacontenttype",
        "predecessorhash",
        "data",
        "hash",
        "signature",
    ]
    assert list(second)[3:5] == ["traceparent", "tracestate"]
    assert second["traceparent"] == TRACEPARENT
    assert first["signature"] is None
    assert first["specversion"] == "1.0"
    assert first["datacontenttype"] == "application/json"
    assert first["predecessorhash"] == "0" * 64
    assert second["predecessorhash"] == first["hash"]
    # Go's RFC3339Nano: a fraction of up to nine digits without trailing zeros, or none at all
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?Z", first["time"])


async def test_v1_write_answers_a_json_array(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/v1/write-events", json={"events": [candidate()]})
    assert response.headers["content-type"] == "application/json"
    assert response.text.startswith('[{"source":')
    raw = response.content
    data = raw[raw.index(b'"data":') + 7 : raw.index(b',"hash":')]
    event = response.json()[0]
    metadata = EventMetadata(
        "1.0",
        "0",
        event["predecessorhash"],
        event["time"],
        event["source"],
        event["subject"],
        event["type"],
        "application/json",
    )
    assert hash_v1(metadata, data) == event["hash"]


async def test_v2_write_answers_a_stream_with_end(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/v2/data/write-events", json={"events": [candidate()]})
    assert response.headers["content-type"] == "application/x-ndjson"
    decoded = lines(response)
    assert [line["type"] for line in decoded] == ["event", "end"]
    assert decoded[1] == {"type": "end", "data": {}}


async def test_data_is_reencoded_the_way_go_does(calls: Calls) -> None:
    await calls.write(
        candidate(data={"z": "<&> é 😀", "n": 1.5, "k": {"b": 1, "a": 2}, "b": 100.0})
    )
    response = await calls.call("read-events", {"subject": "/books/42"})
    expected = '"data":{"b":100,"k":{"a":2,"b":1},"n":1.5,"z":"\\u003c\\u0026\\u003e é 😀"}'
    assert expected.encode() in response.content


async def test_v1_accepts_go_spellings_and_ignores_unknown_members(http: httpx.AsyncClient) -> None:
    body = {
        "events": [candidate(traceParent=TRACEPARENT, TraceState="a=b", extra=1, id="99")],
        "preconditions": None,
        "somethingElse": True,
    }
    response = await http.post("/api/v1/write-events", json=body)
    assert response.status_code == 200, response.text
    (event,) = response.json()
    assert event["traceparent"] == TRACEPARENT
    assert event["tracestate"] == "a=b"
    assert event["id"] == "0"


async def test_v2_refuses_unknown_members_and_nulls(http: httpx.AsyncClient) -> None:
    path = "/api/v2/data/write-events"
    unknown = await http.post(path, json={"events": [candidate(extra=1)]})
    assert unknown.status_code == 400
    assert unknown.text == 'invalid request body: unknown field "extra" in events[0]\n'
    null = await http.post(path, json={"events": [candidate()], "preconditions": None})
    assert null.status_code == 400
    assert null.text.startswith("invalid request body: ")
    camel = await http.post(path, json={"events": [candidate(traceParent=TRACEPARENT)]})
    assert camel.status_code == 200


INVALID_WRITES: list[tuple[str, Any, int, str, str | None]] = [
    ("not json", b"{", 400, "invalid request body: ", None),
    ("empty body", b"", 400, "invalid request body: the body is empty", None),
    (
        "not an object",
        [],
        400,
        "invalid request body: the request body must be a JSON object",
        None,
    ),
    ("events missing", {}, 400, "invalid events: at least one event is required", "events-missing"),
    (
        "no events",
        {"events": []},
        400,
        "invalid events: at least one event is required",
        "events-missing",
    ),
    (
        "events not a list",
        {"events": {}},
        400,
        'invalid request body: field "events" must be an array',
        None,
    ),
    (
        "source missing",
        {"events": [{**candidate(), "source": ""}]},
        400,
        "invalid source: ''",
        "source-missing",
    ),
    (
        "source malformed",
        {"events": [candidate(source="my-app")]},
        400,
        "invalid source: 'my-app'",
        "source-malformed",
    ),
    (
        "subject missing",
        {"events": [{**candidate(), "subject": ""}]},
        400,
        "invalid subject: ''",
        "subject-missing",
    ),
    (
        "subject malformed",
        {"events": [candidate("in valid subject")]},
        400,
        "invalid subject: 'in valid subject'",
        "subject-malformed",
    ),
    (
        "subject relative",
        {"events": [candidate("test")]},
        400,
        "invalid subject: 'test'",
        "subject-malformed",
    ),
    (
        "type malformed",
        {"events": [candidate(type_="malformed.event.type.")]},
        400,
        "invalid event type: 'malformed.event.type.'",
        "event-type-malformed",
    ),
    (
        "data missing",
        {"events": [{k: v for k, v in candidate().items() if k != "data"}]},
        400,
        "invalid data: data is missing",
        "data-missing",
    ),
    (
        "data an array",
        {"events": [candidate(data=[])]},
        400,
        "invalid data: data must be a JSON object",
        "data-malformed",
    ),
    (
        "data a string",
        {"events": [candidate(data="x")]},
        400,
        "invalid data: data must be a JSON object",
        "data-malformed",
    ),
    (
        "traceparent",
        {"events": [candidate(traceparent="00-abc")]},
        400,
        "invalid traceparent: '00-abc'",
        "traceparent-malformed",
    ),
    (
        "tracestate",
        {"events": [candidate(traceparent=TRACEPARENT, tracestate="=")]},
        400,
        "invalid tracestate: '='",
        "tracestate-malformed",
    ),
    (
        "tracestate alone",
        {"events": [candidate(tracestate="a=b")]},
        400,
        "invalid tracestate: tracestate requires traceparent",
        "tracestate-without-traceparent",
    ),
    (
        "subject a number",
        {"events": [candidate(5)]},
        400,
        'invalid request body: field "subject" in events[0] must be a string',
        None,
    ),
    (
        "huge number",
        b'{"events":[{"source":"https://x","subject":"/a","type":"io.x.y","data":{"n":1e400}}]}',
        400,
        "invalid request body: number 1e400 is out of range",
        None,
    ),
    (
        "precondition type missing",
        {"events": [candidate()], "preconditions": [{"payload": {}}]},
        400,
        "invalid precondition: type is missing",
        "precondition-type-missing",
    ),
    (
        "precondition unknown",
        {"events": [candidate()], "preconditions": [{"type": "isNice", "payload": {}}]},
        400,
        "invalid precondition type: 'isNice'",
        "precondition-unknown",
    ),
    (
        "payload missing",
        {"events": [candidate()], "preconditions": [{"type": "isSubjectPristine"}]},
        400,
        "invalid precondition: payload is missing",
        "payload-missing",
    ),
    (
        "precondition subject",
        {
            "events": [candidate()],
            "preconditions": [{"type": "isSubjectPristine", "payload": {"subject": "x"}}],
        },
        400,
        "invalid subject: 'x'",
        "subject-malformed",
    ),
    (
        "event id missing",
        {
            "events": [candidate()],
            "preconditions": [{"type": "isSubjectOnEventId", "payload": {"subject": "/"}}],
        },
        400,
        "invalid event ID: ''",
        "event-id-missing",
    ),
    (
        "event id malformed",
        {
            "events": [candidate()],
            "preconditions": [
                {"type": "isSubjectOnEventId", "payload": {"subject": "/", "eventId": "-1"}}
            ],
        },
        400,
        "invalid event ID: '-1'",
        "event-id-malformed",
    ),
    (
        "event id of 5,000 digits",
        {
            "events": [candidate()],
            "preconditions": [
                {"type": "isSubjectOnEventId", "payload": {"subject": "/", "eventId": "9" * 5000}}
            ],
        },
        400,
        f"invalid event ID: '{'9' * 100}'... (5000 characters)",
        "event-id-malformed",
    ),
    (
        "query missing",
        {
            "events": [candidate()],
            "preconditions": [{"type": "isEventQlQueryTrue", "payload": {"query": ""}}],
        },
        400,
        "invalid query: query is missing",
        "query-missing",
    ),
    (
        "query malformed",
        {
            "events": [candidate()],
            "preconditions": [{"type": "isEventQlQueryTrue", "payload": {"query": "FROM"}}],
        },
        400,
        "syntax error at line 1",
        "query-malformed",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "text", "code"),
    [case[1:] for case in INVALID_WRITES],
    ids=[case[0] for case in INVALID_WRITES],
)
async def test_invalid_writes_are_refused_with_the_right_text(
    calls: Calls, body: Any, status: int, text: str, code: str | None
) -> None:
    method, path = calls.api.route("write-events")
    refused: tuple[int, str, str | None]
    if isinstance(body, bytes):
        response = await calls.http.request(method, path, content=body)
        refused = (response.status_code, response.text.rstrip("\n"), None)
    else:
        refused = await calls.refusal("write-events", body)
    if calls.api.version == 1 or code is None:
        assert refused[0] == status
        assert refused[1].startswith(text)
    else:
        assert refused == (200, refused[1], code)
        assert refused[1].startswith(text)
    assert await calls.read() == []


async def test_events_larger_than_64_kib_are_refused(calls: Calls) -> None:
    # the data as the server encodes it: `{"a":"..."}` is 8 bytes around the string
    largest = candidate(data={"a": "x" * (65536 - 8)})
    assert len(await calls.write(largest)) == 1
    escaped = candidate(data={"a": "<" * 10923})  # each `<` is written as \u003c: 65,546 bytes
    refused = await calls.refusal("write-events", {"events": [candidate(), escaped]})
    text = "event too large: the data of the event takes 65546 bytes, more than the 65536 allowed"
    if calls.api.version == 1:
        assert refused == (400, text, None)
    else:
        assert refused == (200, text, "event-too-large")
    assert len(await calls.read()) == 1


async def test_the_refused_item_is_located_in_v2(http: httpx.AsyncClient) -> None:
    body = {"events": [candidate(), candidate("bad")]}
    response = await http.post("/api/v2/data/write-events", json=body)
    (error,) = lines(response)
    assert error["data"]["details"] == {"index": 1}
    assert error["data"]["code"] == "https://docs.eventsourcingdb.io/errors/subject-malformed"
    large = {"events": [candidate(), candidate(), candidate(data={"a": "x" * 65536})]}
    (error,) = lines(await http.post("/api/v2/data/write-events", json=large))
    assert error["data"]["details"] == {"index": 2}
    assert error["data"]["code"] == "https://docs.eventsourcingdb.io/errors/event-too-large"


# --- preconditions -----------------------------------------------------------------------------


def _pristine(subject: str, **options: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"subject": subject}
    if options:
        payload["options"] = options
    return {"type": "isSubjectPristine", "payload": payload}


@pytest.mark.parametrize(
    "precondition",
    [
        {"type": "isSubjectPristine", "payload": {"subject": "/books/42"}},
        {"type": "isSubjectPopulated", "payload": {"subject": "/books/43"}},
        {"type": "isSubjectOnEventId", "payload": {"subject": "/books/42", "eventId": "2"}},
        {"type": "isSubjectOnEventId", "payload": {"subject": "/empty", "eventId": "100"}},
        {
            "type": "isEventQlQueryTrue",
            "payload": {"query": "FROM e IN events PROJECT INTO COUNT() == 0"},
        },
    ],
)
async def test_failed_preconditions_are_conflicts(calls: Calls, precondition: Any) -> None:
    await calls.write(candidate())
    body = {"events": [candidate()], "preconditions": [_pristine("/other"), precondition]}
    refused = await calls.refusal("write-events", body)
    if calls.api.version == 1:
        assert refused == (409, "state conflict: precondition failed", None)
    else:
        assert refused == (200, "state conflict: precondition failed", "precondition-violated")
        response = await calls.call("write-events", body)
        assert lines(response)[0]["data"]["details"] == {"index": 1}
    assert len(await calls.read()) == 1


async def test_holding_preconditions_let_the_write_through(calls: Calls) -> None:
    await calls.write(candidate())
    preconditions = [
        {"type": "isSubjectPristine", "payload": {"subject": "/books/43"}},
        {"type": "isSubjectPopulated", "payload": {"subject": "/books/42"}},
        {"type": "isSubjectOnEventId", "payload": {"subject": "/books/42", "eventId": "0"}},
        {
            "type": "isEventQlQueryTrue",
            "payload": {"query": "FROM e IN events PROJECT INTO COUNT() > 0"},
        },
    ]
    written = await calls.write(candidate(), candidate(), preconditions=preconditions)
    assert [event["id"] for event in written] == ["1", "2"]
    assert (await calls.write(candidate("/x"), preconditions=[])) != []


async def test_v2_subject_preconditions_can_be_recursive(http: httpx.AsyncClient) -> None:
    calls = Calls(http, V2)
    await calls.write(candidate("/books/42/chapters/1"))
    assert await calls.write(candidate("/books/42"), preconditions=[_pristine("/books/42")])
    refused = await calls.refusal(
        "write-events",
        {"events": [candidate()], "preconditions": [_pristine("/books", recursive=True)]},
    )
    assert refused[2] == "precondition-violated"
    on_latest = {
        "type": "isSubjectOnEventId",
        "payload": {"subject": "/books", "eventId": "1", "options": {"recursive": True}},
    }
    assert await calls.write(candidate(), preconditions=[on_latest])


async def test_v1_ignores_the_recursive_option(http: httpx.AsyncClient) -> None:
    calls = Calls(http, V1)
    await calls.write(candidate("/books/1"))
    assert await calls.write(candidate(), preconditions=[_pristine("/books", recursive=True)])


async def test_non_boolean_precondition_queries_are_refused(calls: Calls) -> None:
    query = {"type": "isEventQlQueryTrue", "payload": {"query": "FROM e IN events PROJECT INTO e"}}
    await calls.write(candidate())
    status, text, code = await calls.refusal(
        "write-events", {"events": [candidate()], "preconditions": [query]}
    )
    assert text.startswith("query must return a single boolean value")
    assert (status, code) == ((400, None) if calls.api.version == 1 else (200, "query-not-boolean"))


# --- schemas -----------------------------------------------------------------------------------


async def test_registering_a_schema(calls: Calls) -> None:
    key = "eventType" if calls.api.version == 1 else "type"
    body = {key: "io.eventsourcingdb.library.book-acquired", "schema": SCHEMA}
    response = await calls.call("register-event-schema", body)
    assert response.status_code == 200, response.text
    if calls.api.version == 1:
        event = response.json()
    else:
        (event,) = items(calls.api, response)
    assert event["type"] == "io.eventsourcingdb.api.event-schema-registered"
    assert event["data"] == {
        "eventType": "io.eventsourcingdb.library.book-acquired",
        "schema": SCHEMA,
    }
    again = await calls.refusal("register-event-schema", body)
    if calls.api.version == 1:
        assert again == (409, "schema conflict: schema already exists", None)
    else:
        assert again[1:] == (
            "schema conflict: schema already exists",
            "event-schema-already-registered",
        )


async def test_writes_must_match_the_schema(calls: Calls) -> None:
    key = "eventType" if calls.api.version == 1 else "type"
    body = {key: "io.eventsourcingdb.library.book-acquired", "schema": SCHEMA}
    assert (await calls.call("register-event-schema", body)).status_code == 200
    await calls.write(candidate(data={"title": "ok"}))
    refused = await calls.refusal(
        "write-events", {"events": [candidate(data={"title": "x", "extra": 1})]}
    )
    text = (
        "schema conflict: event candidate does not match schema: "
        "additionalProperties 'extra' not allowed"
    )
    assert refused == (
        (409, text, None) if calls.api.version == 1 else (200, text, "event-schema-violated")
    )
    refused = await calls.refusal("write-events", {"events": [candidate(data={"title": 5})]})
    assert refused[1].endswith("at '/title': expected string, but got number")


async def test_a_schema_that_stored_events_violate_is_refused(calls: Calls) -> None:
    await calls.write(candidate(data={"oy": "gevalt"}))
    key = "eventType" if calls.api.version == 1 else "type"
    body = {key: "io.eventsourcingdb.library.book-acquired", "schema": SCHEMA}
    status, text, code = await calls.refusal("register-event-schema", body)
    assert text.startswith("schema conflict: event with ID '0' does not match schema: ")
    assert (status, code) == (
        (409, None) if calls.api.version == 1 else (200, "event-schema-violated")
    )


INVALID_SCHEMAS: list[tuple[str, Any, str, str]] = [
    (
        "wrong type",
        {"type": "gurkenwasser", "properties": {}},
        'value must be "object"',
        "event-schema-malformed",
    ),
    (
        "no properties",
        {"type": "object", "additionalProperties": False},
        "missing properties: 'properties'",
        "event-schema-malformed",
    ),
    ("no type", {"x": "asd"}, "missing properties: 'type', 'properties'", "event-schema-malformed"),
    (
        "not json schema",
        {"type": "object", "properties": {"a": {"type": 5}}},
        "invalid schema: ",
        "event-schema-malformed",
    ),
    ("a number", 5, "invalid schema: schema must be a JSON object", "event-schema-not-object"),
    ("an array", [], "invalid schema: schema must be a JSON object", "event-schema-not-object"),
]


@pytest.mark.parametrize(
    ("schema", "text", "code"),
    [case[1:] for case in INVALID_SCHEMAS],
    ids=[case[0] for case in INVALID_SCHEMAS],
)
async def test_invalid_schemas_are_refused(calls: Calls, schema: Any, text: str, code: str) -> None:
    key = "eventType" if calls.api.version == 1 else "type"
    status, said, said_code = await calls.refusal(
        "register-event-schema", {key: "io.x.y", "schema": schema}
    )
    assert text in said
    assert said.startswith("invalid schema: ")
    assert (status, said_code) == ((400, None) if calls.api.version == 1 else (200, code))


async def test_schema_registration_needs_type_and_schema(calls: Calls) -> None:
    key = "eventType" if calls.api.version == 1 else "type"
    missing = await calls.refusal("register-event-schema", {key: "io.x.y"})
    assert missing[1] == "invalid schema: schema is missing"
    malformed = await calls.refusal("register-event-schema", {key: "x", "schema": SCHEMA})
    assert malformed[1] == "invalid event type: 'x'"
    if calls.api.version == 2:
        assert (missing[2], malformed[2]) == ("event-schema-missing", "event-type-malformed")


UNUSABLE_SCHEMAS: list[tuple[str, dict[str, Any], str]] = [
    (
        "pointer to nowhere",
        {"type": "object", "properties": {"a": {"$ref": "#/nope"}}},
        "invalid schema: jsonschema: #/nope not found",
    ),
    (
        "remote reference",
        {"type": "object", "properties": {"a": {"$ref": "https://example.com/a.json"}}},
        "invalid schema: jsonschema: no Loader found for https://example.com/a.json",
    ),
    (
        "lookahead",
        {"type": "object", "properties": {"a": {"type": "string", "pattern": "^(?!x)"}}},
        "invalid schema: at '/properties/a/pattern': '^(?!x)' is not valid 'regex'",
    ),
    (
        "backreference in a pattern property",
        {"type": "object", "properties": {}, "patternProperties": {"(a)\\1": {}}},
        "invalid schema: at '/patternProperties/%28a%29%5C1': '(a)\\\\1' is not valid 'regex'",
    ),
    (
        "unknown draft",
        {"$schema": "https://example.com/dialect", "type": "object", "properties": {}},
        "invalid schema: jsonschema: no Loader found for https://example.com/dialect",
    ),
]


@pytest.mark.parametrize(
    ("schema", "text"),
    [case[1:] for case in UNUSABLE_SCHEMAS],
    ids=[case[0] for case in UNUSABLE_SCHEMAS],
)
async def test_schemas_the_library_cannot_compile_are_refused_at_registration(
    calls: Calls, schema: dict[str, Any], text: str
) -> None:
    key = "eventType" if calls.api.version == 1 else "type"
    status, said, code = await calls.refusal(
        "register-event-schema", {key: "io.x.y", "schema": schema}
    )
    assert said == text
    assert (status, code) == (
        (400, None) if calls.api.version == 1 else (200, "event-schema-malformed")
    )
    # nothing was registered, so writes of the type go through
    await calls.write(candidate(type_="io.x.y", data={"a": "x"}))


async def test_violations_never_read_like_python(calls: Calls) -> None:
    key = "eventType" if calls.api.version == 1 else "type"
    schema = {
        "type": "object",
        "properties": {"a": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
    }
    assert (
        await calls.call("register-event-schema", {key: "io.x.y", "schema": schema})
    ).status_code == 200
    refused = await calls.refusal(
        "write-events", {"events": [candidate(type_="io.x.y", data={"a": 1.5})]}
    )
    assert (
        refused[1]
        == "schema conflict: event candidate does not match schema: at '/a': anyOf failed"
    )
    wrong = {"type": "object", "properties": {"a": {"type": "wat"}}}
    said = (await calls.refusal("register-event-schema", {key: "io.x.z", "schema": wrong}))[1]
    assert said == "invalid schema: at '/properties/a/type': anyOf failed"


async def test_v1_accepts_a_schema_sent_as_a_json_string(http: httpx.AsyncClient) -> None:
    body = {"eventType": "io.x.y", "schema": json.dumps(SCHEMA)}
    response = await http.post("/api/v1/register-event-schema", json=body)
    assert response.status_code == 200
    assert response.json()["data"]["schema"] == SCHEMA


# --- event types -------------------------------------------------------------------------------


async def test_event_types_list_phantoms_and_schemas(calls: Calls) -> None:
    await calls.write(candidate(type_="io.x.foo"), candidate(type_="io.x.bar"))
    key = "eventType" if calls.api.version == 1 else "type"
    await calls.call("register-event-schema", {key: "io.x.phantom", "schema": SCHEMA})
    await calls.call(
        "register-event-schema", {key: "io.x.foo", "schema": {"type": "object", "properties": {}}}
    )
    response = await calls.call("read-event-types")
    listed = items(calls.api, response, "eventType")
    if calls.api.version == 1:
        assert listed == [
            {"eventType": "io.x.bar", "isPhantom": False},
            {
                "eventType": "io.x.foo",
                "isPhantom": False,
                "schema": {"type": "object", "properties": {}},
            },
            {"eventType": "io.x.phantom", "isPhantom": True, "schema": SCHEMA},
        ]
    else:
        assert listed == [
            {"type": "io.x.bar", "hasEvents": True},
            {"type": "io.x.foo", "hasEvents": True, "schema": {"type": "object", "properties": {}}},
            {"type": "io.x.phantom", "hasEvents": False, "schema": SCHEMA},
        ]


@pytest.mark.parametrize("content", [None, b"", b"null", b"{}"])
async def test_v1_event_types_accept_any_empty_body(
    http: httpx.AsyncClient, content: bytes | None
) -> None:
    response = await http.post("/api/v1/read-event-types", content=content)
    assert response.status_code == 200
    assert response.text == ""


async def test_read_event_types_refuses_unreadable_bodies(http: httpx.AsyncClient) -> None:
    v1 = "/api/v1/read-event-types"
    for content in (b"{{{", b"[]", b"5"):
        refused = await http.post(v1, content=content)
        assert refused.status_code == 400
        assert refused.text.startswith("invalid request body: ")
    assert (await http.post(v1, json={"unknown": 1})).status_code == 200  # v1 ignores members
    v2 = "/api/v2/data/read-event-types"
    assert (await http.request("QUERY", v2)).status_code == 200
    assert (await http.request("QUERY", v2, json={})).status_code == 200
    unknown = await http.request("QUERY", v2, json={"x": 1})
    assert unknown.status_code == 400
    assert unknown.text == 'invalid request body: unknown field "x" in the request body\n'
    for content in (b"{{{", b"null"):
        assert (await http.request("QUERY", v2, content=content)).status_code == 400


async def test_reading_one_event_type(calls: Calls) -> None:
    key = "eventType" if calls.api.version == 1 else "type"
    await calls.write(candidate(type_="io.x.foo"))
    await calls.call("register-event-schema", {key: "io.x.phantom", "schema": SCHEMA})
    found = await calls.call("read-event-type", {key: "io.x.foo"})
    phantom = await calls.call("read-event-type", {key: "io.x.phantom"})
    assert found.headers["content-type"] == "application/json"
    if calls.api.version == 1:
        assert found.json() == {"eventType": "io.x.foo", "isPhantom": False}
        assert phantom.json() == {"eventType": "io.x.phantom", "isPhantom": True, "schema": SCHEMA}
    else:
        assert found.json() == {
            "type": "eventType",
            "data": {"type": "io.x.foo", "hasEvents": True},
        }
        assert phantom.json()["data"] == {
            "type": "io.x.phantom",
            "hasEvents": False,
            "schema": SCHEMA,
        }


async def test_unknown_and_malformed_event_types(http: httpx.AsyncClient) -> None:
    unknown = await http.post(
        "/api/v1/read-event-type", json={"eventType": "non.existent.eventType"}
    )
    assert (unknown.status_code, unknown.text) == (
        404,
        "event type 'non.existent.eventType' not found\n",
    )
    malformed = await http.post(
        "/api/v1/read-event-type", json={"eventType": "malformed.event.type."}
    )
    assert (malformed.status_code, malformed.text) == (
        400,
        "invalid event type: 'malformed.event.type.'\n",
    )
    path = "/api/v2/data/read-event-type"
    unknown_v2 = await http.request("QUERY", path, json={"type": "non.existent.eventType"})
    assert unknown_v2.status_code == 200
    assert unknown_v2.headers["content-type"] == "application/json"
    assert unknown_v2.json() == {
        "type": "error",
        "data": {
            "code": "https://docs.eventsourcingdb.io/errors/event-type-unknown",
            "description": "event type 'non.existent.eventType' not found",
            "details": {},
        },
    }


# --- subjects ----------------------------------------------------------------------------------


async def test_v1_subjects_are_the_subtree_of_the_base(http: httpx.AsyncClient) -> None:
    calls = Calls(http, V1)
    assert (await calls.call("read-subjects", {"baseSubject": "/"})).text == ""
    await calls.write(candidate("/test/1"), candidate("/test/2"))

    async def subjects(base: str) -> list[str]:
        response = await calls.call("read-subjects", {"baseSubject": base})
        return [item["subject"] for item in items(V1, response, "subject")]

    assert await subjects("/") == ["/", "/test", "/test/1", "/test/2"]
    assert await subjects("/test") == ["/test", "/test/1", "/test/2"]
    assert await subjects("/test/") == ["/test", "/test/1", "/test/2"]
    assert await subjects("/nothing") == []
    refused = await calls.refusal("read-subjects", {"baseSubject": ""})
    assert refused == (400, "invalid subject: ''", None)


async def test_v2_subjects_are_recursive_on_request(http: httpx.AsyncClient) -> None:
    calls = Calls(http, V2)
    await calls.write(candidate("/test/1"))

    async def subjects(subject: str, recursive: bool) -> list[str]:
        body = {"subject": subject, "options": {"recursive": recursive}}
        response = await calls.call("read-subjects", body)
        return [item["subject"] for item in items(V2, response, "subject")]

    assert await subjects("/", True) == ["/", "/test", "/test/1"]
    assert await subjects("/test", False) == ["/test"]
    assert await subjects("/absent", False) == []
    refused = await calls.refusal("read-subjects", {"subject": "x", "options": {"recursive": True}})
    assert refused[2] == "subject-malformed"


# --- read-events -------------------------------------------------------------------------------


@pytest.fixture
async def users(calls: Calls) -> Calls:
    """Events 0 and 2 on /users/registered, 1 and 3 on /users/logged-in."""
    for subject in ("/users/registered", "/users/logged-in") * 2:
        await calls.write(candidate(subject, f"io.x.{subject.rsplit('/', 1)[1]}"))
    return calls


READS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("/users", {"recursive": True}, ["0", "1", "2", "3"]),
    ("/users", {}, []),
    ("/users/registered", {}, ["0", "2"]),
    ("/users", {"recursive": True, "order": "antichronological"}, ["3", "2", "1", "0"]),
    ("/users", {"recursive": True, "order": "chronological"}, ["0", "1", "2", "3"]),
    ("/users", {"recursive": True, "lowerBound": {"id": "2", "type": "inclusive"}}, ["2", "3"]),
    ("/users", {"recursive": True, "lowerBound": {"id": "2", "type": "exclusive"}}, ["3"]),
    ("/users", {"recursive": True, "upperBound": {"id": "2", "type": "exclusive"}}, ["0", "1"]),
    (
        "/users",
        {"recursive": True, "upperBound": {"id": "2", "type": "inclusive"}},
        ["0", "1", "2"],
    ),
    (
        "/users",
        {
            "recursive": True,
            "fromLatestEvent": {
                "subject": "/users/registered",
                "type": "io.x.registered",
                "ifEventIsMissing": "read-nothing",
            },
        },
        ["2", "3"],
    ),
    (
        "/users",
        {
            "recursive": True,
            "fromLatestEvent": {
                "subject": "/users/none",
                "type": "io.x.registered",
                "ifEventIsMissing": "read-nothing",
            },
        },
        [],
    ),
    (
        "/users",
        {
            "recursive": True,
            "fromLatestEvent": {
                "subject": "/users/none",
                "type": "io.x.registered",
                "ifEventIsMissing": "read-everything",
            },
        },
        ["0", "1", "2", "3"],
    ),
]


@pytest.mark.parametrize(("subject", "options", "expected"), READS)
async def test_read_options(
    users: Calls, subject: str, options: dict[str, Any], expected: list[str]
) -> None:
    response = await users.call("read-events", {"subject": subject, "options": options})
    assert response.headers["content-type"] == "application/x-ndjson"
    assert [event["id"] for event in items(users.api, response)] == expected


async def test_options_may_be_left_out(users: Calls) -> None:
    response = await users.call("read-events", {"subject": "/users/registered"})
    assert [event["id"] for event in items(users.api, response)] == ["0", "2"]


async def test_an_empty_read_is_an_empty_stream(calls: Calls) -> None:
    response = await calls.call("read-events", {"subject": "/nothing"})
    assert response.status_code == 200
    assert response.text == ("" if calls.api.version == 1 else '{"type":"end","data":{}}\n')


async def test_read_events_and_write_answers_carry_the_same_bytes(calls: Calls) -> None:
    await calls.write(candidate(data={"x": "é<"}))
    read = await calls.call("read-events", {"subject": "/books/42"})
    key = b'"payload":' if calls.api.version == 1 else b'"data":'
    assert read.content.startswith(b'{"type":"event",' + key + b'{"source":')


INVALID_READS: list[tuple[str, dict[str, Any], int, str, str]] = [
    ("subject missing", {}, 400, "invalid subject: ''", "subject-missing"),
    (
        "subject malformed",
        {"subject": "users"},
        400,
        "invalid subject: 'users'",
        "subject-malformed",
    ),
    (
        "order",
        {"subject": "/", "options": {"order": "random"}},
        400,
        "invalid order: 'random'",
        "order-unknown",
    ),
    (
        "bound id empty",
        {"subject": "/", "options": {"lowerBound": {"id": "", "type": "inclusive"}}},
        400,
        "invalid event ID: ''",
        "event-id-missing",
    ),
    (
        "bound id negative",
        {"subject": "/", "options": {"lowerBound": {"id": "-1", "type": "inclusive"}}},
        400,
        "invalid event ID: '-1'",
        "event-id-malformed",
    ),
    (
        "bound id word",
        {"subject": "/", "options": {"upperBound": {"id": "hello", "type": "inclusive"}}},
        400,
        "invalid event ID: 'hello'",
        "event-id-malformed",
    ),
    (
        "bound id of 5,000 digits",
        {"subject": "/", "options": {"lowerBound": {"id": "1" * 5000, "type": "inclusive"}}},
        400,
        f"invalid event ID: '{'1' * 100}'... (5000 characters)",
        "event-id-malformed",
    ),
    (
        "bound id beyond uint64",
        {
            "subject": "/",
            "options": {"upperBound": {"id": "18446744073709551616", "type": "exclusive"}},
        },
        400,
        "invalid event ID: '18446744073709551616'",
        "event-id-malformed",
    ),
    (
        "bound id the largest uint64 with leading zeros",
        {"subject": "/", "options": {"upperBound": {"id": "0018446744073709551615", "type": "x"}}},
        400,
        "invalid bound type: 'x'",
        "bound-type-unknown",
    ),
    (
        "bound type missing",
        {"subject": "/", "options": {"lowerBound": {"id": "1"}}},
        400,
        "invalid bound type: ''",
        "bound-type-missing",
    ),
    (
        "bound type unknown",
        {"subject": "/", "options": {"lowerBound": {"id": "1", "type": "open"}}},
        400,
        "invalid bound type: 'open'",
        "bound-type-unknown",
    ),
    (
        "incomplete",
        {"subject": "/", "options": {"fromLatestEvent": {"subject": "/", "type": "io.x.y"}}},
        400,
        "invalid fromLatestEvent: subject, type and ifEventIsMissing are required",
        "from-latest-event-incomplete",
    ),
    (
        "if missing",
        {
            "subject": "/",
            "options": {
                "fromLatestEvent": {
                    "subject": "/",
                    "type": "io.x.y",
                    "ifEventIsMissing": "wait-for-event",
                }
            },
        },
        400,
        "invalid ifEventIsMissing: 'wait-for-event'",
        "if-event-is-missing-unknown",
    ),
    (
        "latest subject",
        {
            "subject": "/",
            "options": {
                "fromLatestEvent": {
                    "subject": "x",
                    "type": "io.x.y",
                    "ifEventIsMissing": "read-nothing",
                }
            },
        },
        400,
        "invalid subject: 'x'",
        "subject-malformed",
    ),
    (
        "latest type",
        {
            "subject": "/",
            "options": {
                "fromLatestEvent": {"subject": "/", "type": "x", "ifEventIsMissing": "read-nothing"}
            },
        },
        400,
        "invalid event type: 'x'",
        "event-type-malformed",
    ),
    (
        "conflicting",
        {
            "subject": "/",
            "options": {
                "lowerBound": {"id": "1", "type": "inclusive"},
                "fromLatestEvent": {
                    "subject": "/",
                    "type": "io.x.y",
                    "ifEventIsMissing": "read-nothing",
                },
            },
        },
        400,
        "invalid options: lowerBound and fromLatestEvent must not be used together",
        "selection-conflicting",
    ),
    (
        "unsatisfiable",
        {
            "subject": "/users",
            "options": {
                "recursive": True,
                "upperBound": {"id": "1", "type": "inclusive"},
                "fromLatestEvent": {
                    "subject": "/users/registered",
                    "type": "io.x.registered",
                    "ifEventIsMissing": "read-nothing",
                },
            },
        },
        409,
        "state conflict: fromLatestEvent results in an event ID greater than upperBound ID",
        "range-unsatisfiable",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "text", "code"),
    [case[1:] for case in INVALID_READS],
    ids=[case[0] for case in INVALID_READS],
)
async def test_invalid_reads_are_refused_before_streaming(
    users: Calls, body: dict[str, Any], status: int, text: str, code: str
) -> None:
    refused = await users.refusal("read-events", body)
    assert refused == ((status, text, None) if users.api.version == 1 else (200, text, code))


async def test_observe_validates_like_read(calls: Calls) -> None:
    refused = await calls.refusal("observe-events", {"subject": "bad"})
    assert refused[1] == "invalid subject: 'bad'"
    body = {
        "subject": "/",
        "options": {
            "fromLatestEvent": {
                "subject": "/",
                "type": "io.x.y",
                "ifEventIsMissing": "read-nothing",
            }
        },
    }
    refused = await calls.refusal("observe-events", body)
    assert refused[1] == "invalid ifEventIsMissing: 'read-nothing'"


MALFORMED_EVENT_IDS = [
    "-1",
    "+1",
    "1a",
    " 1",
    "0x1",
    "1_000",
    "1.0",
    "\u0661",
    str(2**64),
    "9" * 5000,
]


@pytest.mark.parametrize(
    "event_id",
    MALFORMED_EVENT_IDS,
    ids=["negative", "plus", "letter", "space", "hex", "underscore", "fraction", "arabic-indic",
         "2**64", "5000 digits"],
)  # fmt: skip
async def test_malformed_event_ids_are_refused_wherever_an_id_is_taken(
    calls: Calls, event_id: str
) -> None:
    # a 500 would tell a writer that its write may have happened: a malformed id never gets one
    def bound(name: str) -> dict[str, Any]:
        return {"subject": "/", "options": {name: {"id": event_id, "type": "inclusive"}}}

    on_event_id = {"type": "isSubjectOnEventId", "payload": {"subject": "/", "eventId": event_id}}
    places = [
        ("read-events", bound("lowerBound")),
        ("read-events", bound("upperBound")),
        ("observe-events", bound("lowerBound")),
        ("write-events", {"events": [candidate()], "preconditions": [on_event_id]}),
    ]
    for name, body in places:
        status, text, code = await calls.refusal(name, body)
        expected = (400, None) if calls.api.version == 1 else (200, "event-id-malformed")
        assert (status, code) == expected, (name, text)
        assert text.startswith("invalid event ID: '"), text
        assert len(text) < 200, "a refusal quotes a long id only in part"
    assert await calls.read() == []


async def test_observe_options_of_reads_only(http: httpx.AsyncClient) -> None:
    body = {"subject": "/", "options": {"order": "antichronological"}}
    v2 = await http.request("QUERY", "/api/v2/data/observe-events", json=body)
    assert v2.status_code == 400
    assert v2.text == 'invalid request body: unknown field "order" in options\n'


async def test_v1_observe_ignores_order_and_upper_bound(server: EmulatorServer) -> None:
    v1 = Calls(
        httpx.AsyncClient(transport=server.async_transport(), base_url=BASE_URL, headers=AUTH),
        Api(1),
    )
    async with v1.http:
        await v1.write(candidate("/a"), candidate("/b"), candidate("/c"))
        options = {
            "recursive": True,
            "order": "antichronological",
            "upperBound": {"id": "0", "type": "inclusive"},
        }
        seen: list[str] = []
        async with v1.http.stream(
            "POST", "/api/v1/observe-events", json={"subject": "/", "options": options}
        ) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                item = json.loads(line)
                if item["type"] == "event":
                    seen.append(item["payload"]["id"])
                if len(seen) == 3:
                    break
    assert seen == ["0", "1", "2"]  # chronological and past the bound, as if neither was given


# --- EventQL -----------------------------------------------------------------------------------


async def test_query_rows_of_every_kind(calls: Calls) -> None:
    await calls.write(
        candidate(data={"title": "a", "n": 2}), candidate(data={"title": "b", "n": 3})
    )

    async def rows(query: str) -> list[Any]:
        response = await calls.call("run-eventql-query", {"query": query})
        assert response.headers["content-type"] == "application/x-ndjson"
        found = items(calls.api, response, "row")
        return found if calls.api.version == 1 else [row["value"] for row in found]

    assert await rows("FROM e IN events PROJECT INTO e.id") == ["0", "1"]
    assert await rows("FROM e IN events PROJECT INTO e.id AS INT") == [0, 1]
    assert await rows("FROM e IN events PROJECT INTO null") == [None, None]
    assert await rows("FROM e IN events PROJECT INTO e.data") == [
        {"n": 2, "title": "a"},
        {"n": 3, "title": "b"},
    ]
    assert await rows(
        "FROM e IN events PROJECT INTO { average: AVG(e.data.n), count: COUNT() }"
    ) == [{"average": 2.5, "count": 2}]
    assert await rows("FROM e IN events WHERE e.data.title == 'b' PROJECT INTO COUNT() > 0") == [
        True
    ]
    assert await rows("FROM e IN events WHERE e.data.title == 'z' PROJECT INTO e") == []


async def test_whole_events_are_sent_as_stored(calls: Calls) -> None:
    await calls.write(candidate(data={"x": "<é>"}))
    read = await calls.call("read-events", {"subject": "/books/42"})
    query = await calls.call("run-eventql-query", {"query": "FROM e IN events PROJECT INTO e"})
    first_line = read.content.splitlines()[0]
    event_bytes = first_line.split(b":", 2)[2].removesuffix(b"}")
    assert event_bytes.startswith(b'{"source":')
    assert event_bytes in query.content


async def test_malformed_queries_are_an_error_line(http: httpx.AsyncClient) -> None:
    v1 = await http.post(
        "/api/v1/run-eventql-query", json={"query": "FROM e IN events PROJECT INTOO e"}
    )
    assert v1.status_code == 200
    (line,) = lines(v1)
    assert line["type"] == "error"
    assert line["payload"]["error"].startswith("syntax error at line 1, column 26: ")
    assert line["payload"]["startToken"] == {
        "line": 1,
        "column": 26,
        "text": "INTOO",
        "type": line["payload"]["startToken"]["type"],
    }
    assert set(line["payload"]["endToken"]) == {"line", "column", "text", "type"}
    v2 = await http.request("QUERY", "/api/v2/data/run-eventql-query", json={"query": "FROM"})
    (error,) = lines(v2)
    assert error["data"]["code"] == "https://docs.eventsourcingdb.io/errors/query-malformed"
    assert "startToken" in error["data"]["details"]


async def test_evaluation_errors_end_the_stream(calls: Calls) -> None:
    await calls.write(candidate(data={"n": "text"}))
    response = await calls.call(
        "run-eventql-query", {"query": "FROM e IN events PROJECT INTO e.data.n AS INT"}
    )
    decoded = lines(response)
    assert [line["type"] for line in decoded] == ["error"]
    if calls.api.version == 2:
        assert decoded[0]["data"]["code"].endswith("/query-unevaluable")


async def test_a_query_is_required(calls: Calls) -> None:
    refused = await calls.refusal("run-eventql-query", {"query": "  "})
    assert refused == (
        (400, "invalid query: query is missing", None)
        if calls.api.version == 1
        else (200, "invalid query: query is missing", "query-missing")
    )


async def test_every_returned_event_carries_the_same_signature() -> None:
    key = Ed25519PrivateKey.generate()
    server = EmulatorServer(ServerOptions(signing_key=key))
    async with httpx.AsyncClient(
        transport=server.async_transport(), base_url=BASE_URL, headers=AUTH
    ) as http:
        (written,) = (
            await http.post("/api/v1/write-events", json={"events": [candidate()]})
        ).json()
        read = lines(await http.post("/api/v1/read-events", json={"subject": "/books/42"}))
        query = {"query": "FROM e IN events PROJECT INTO e"}
        row = lines(await http.request("QUERY", "/api/v2/data/run-eventql-query", json=query))
        body = {"subject": "/books/42"}
        async with http.stream("POST", "/api/v1/observe-events", json=body) as stream:
            async for line in stream.aiter_lines():
                observed = json.loads(line)["payload"]
                break
    server.close()
    signature = written["signature"]
    assert signature.startswith("esdb:signature:v1:")
    assert read[0]["payload"]["signature"] == signature
    assert row[0]["data"]["value"]["signature"] == signature
    assert observed["signature"] == signature
    raw = bytes.fromhex(signature.removeprefix("esdb:signature:v1:"))
    key.public_key().verify(raw, written["hash"].encode())
