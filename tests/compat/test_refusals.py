"""What we refuse before sending is catchable as what 2.2.4 raises for the same input.

2.2.4 sends a malformed value and the server refuses it with a `DbApiError` and a code; we refuse
it before sending, with a `RefusedArgumentError`, which is a `DbApiError` with that code. Each
case is also sent as raw JSON to the emulator's v2 API, so the code we give is the one the server
answers with, not one we made up.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from eventsourcingdb import (
    Bound,
    Client,
    DbApiError,
    ErrorCode,
    EventCandidate,
    IfEventIsMissingDuringObserve,
    IsSubjectOnEventId,
    ObserveEventsOptions,
    ObserveFromLatestEvent,
    ReadEventsOptions,
    ValidationError,
)

SOURCE = "https://library.eventsourcingdb.io"
TYPE = "io.eventsourcingdb.library.book-acquired"
TRACE_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
CANDIDATE: dict[str, Any] = {"source": SOURCE, "subject": "/books/42", "type": TYPE, "data": {}}


@pytest.fixture
async def raw() -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on an in-process emulator, to send what our client refuses to send."""
    emulator = pytest.importorskip("eventsourcingdb.emulator")
    with emulator.Emulator(in_process=True) as server:
        async with httpx.AsyncClient(
            transport=server.async_transport(),
            base_url=server.get_base_url(),
            headers={"authorization": f"Bearer {server.get_api_token()}"},
        ) as client:
            yield client


async def server_code(raw: httpx.AsyncClient, route: str, body: dict[str, Any]) -> str | None:
    """The code of the error the emulator's v2 API answers `body` at `route` with."""
    method = "POST" if route == "write-events" else "QUERY"
    answer = await raw.request(method, f"/api/v2/data/{route}", content=json.dumps(body))
    for line in answer.text.splitlines():
        item = json.loads(line)
        if item.get("type") == "error":
            code: str | None = item["data"].get("code")
            return code
    return None


def candidate(**changes: Any) -> dict[str, Any]:
    return {**CANDIDATE, **changes}


WRITE_CASES: list[tuple[str, Callable[[], object], dict[str, Any], ErrorCode]] = [
    (
        "subject",
        lambda: EventCandidate(SOURCE, "books/42", TYPE, {}),
        {"events": [candidate(subject="books/42")]},
        ErrorCode.SUBJECT_MALFORMED,
    ),
    (
        "source",
        lambda: EventCandidate("not a uri", "/books/42", TYPE, {}),
        {"events": [candidate(source="not a uri")]},
        ErrorCode.SOURCE_MALFORMED,
    ),
    (
        "type",
        lambda: EventCandidate(SOURCE, "/books/42", "book-acquired", {}),
        {"events": [candidate(type="book-acquired")]},
        ErrorCode.EVENT_TYPE_MALFORMED,
    ),
    (
        "traceparent",
        lambda: EventCandidate(SOURCE, "/books/42", TYPE, {}, trace_parent="01-xyz"),
        {"events": [candidate(traceparent="01-xyz")]},
        ErrorCode.TRACEPARENT_MALFORMED,
    ),
    (
        "tracestate alone",
        lambda: EventCandidate(SOURCE, "/books/42", TYPE, {}, trace_state="rojo=00f067aa0ba902b7"),
        {"events": [candidate(tracestate="rojo=00f067aa0ba902b7")]},
        ErrorCode.TRACESTATE_WITHOUT_TRACEPARENT,
    ),
    (
        "event id",
        lambda: IsSubjectOnEventId("/books/42", "first"),
        {
            "events": [CANDIDATE],
            "preconditions": [
                {"type": "isSubjectOnEventId", "payload": {"subject": "/books", "eventId": "first"}}
            ],
        },
        ErrorCode.EVENT_ID_MALFORMED,
    ),
]


@pytest.mark.parametrize(
    ("make", "body", "code"),
    [case[1:] for case in WRITE_CASES],
    ids=[case[0] for case in WRITE_CASES],
)
async def test_a_malformed_value_is_the_servers_refusal_before_sending(
    raw: httpx.AsyncClient, make: Callable[[], object], body: dict[str, Any], code: ErrorCode
) -> None:
    assert await server_code(raw, "write-events", body) == code.value
    with pytest.raises(DbApiError) as caught:
        make()
    assert caught.value.code == code


async def test_calls_refuse_what_the_server_refuses_with_its_code(raw: httpx.AsyncClient) -> None:
    client = Client("http://127.0.0.1:1", "secret")
    assert await server_code(raw, "write-events", {"events": []}) == ErrorCode.EVENTS_MISSING
    with pytest.raises(DbApiError) as caught:
        await client.write_events(event_candidates=[])
    assert caught.value.code == ErrorCode.EVENTS_MISSING

    assert await server_code(raw, "run-eventql-query", {"query": ""}) == ErrorCode.QUERY_MISSING
    with pytest.raises(DbApiError) as caught:
        client.run_eventql_query("")
    assert caught.value.code == ErrorCode.QUERY_MISSING

    conflicting = {
        "subject": "/books",
        "options": {
            "recursive": False,
            "lowerBound": {"id": "0", "type": "inclusive"},
            "fromLatestEvent": {
                "subject": "/books",
                "type": TYPE,
                "ifEventIsMissing": "read-everything",
            },
        },
    }
    assert await server_code(raw, "read-events", conflicting) == ErrorCode.SELECTION_CONFLICTING
    with pytest.raises(DbApiError) as caught:
        ObserveEventsOptions(
            recursive=False,
            lower_bound=Bound("0"),
            from_latest_event=ObserveFromLatestEvent(
                "/books", TYPE, IfEventIsMissingDuringObserve.READ_EVERYTHING
            ),
        )
    assert caught.value.code == ErrorCode.SELECTION_CONFLICTING
    await client.aclose()


def test_what_2_2_4_refuses_itself_is_refused_alike() -> None:
    """2.2.4 raises ValidationError for read_subjects options that are not ReadSubjectsOptions,
    and ValueError for a stall timeout that is not a positive number."""
    client = Client("http://127.0.0.1:1", "secret")
    with pytest.raises(ValidationError):
        client.read_subjects("/", ReadEventsOptions(recursive=True))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stall_timeout"):
        Client("http://127.0.0.1:1", "secret", stall_timeout=-1)
