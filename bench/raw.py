"""The raw limit: httpx streaming the same answers, each line parsed with `json.loads`, no objects.

This is what any client on this stack (asyncio, httpx, the standard library's JSON) has to do at
the very least: send the request, split the body into lines and parse each one. It builds no
events, checks nothing and keeps nothing, so it is the ceiling a real client is measured against.
It speaks the v2 API, as our client and the official one do against the emulator.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

import httpx

V2_READ_EVENTS: Final = "/api/v2/data/read-events"
V2_OBSERVE_EVENTS: Final = "/api/v2/data/observe-events"
V2_WRITE_EVENTS: Final = "/api/v2/data/write-events"
V2_RUN_EVENTQL_QUERY: Final = "/api/v2/data/run-eventql-query"

_loads = json.loads


class LineParser:
    """Splits the chunks of an NDJSON body into lines and parses each one with `json.loads`.

    Each chunk is decoded once, up to its last line break; the rest waits for the next chunk.
    """

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> list[Any]:
        head, newline, tail = chunk.rpartition(b"\n")
        if not newline:
            self._pending += chunk
            return []
        if self._pending:
            head = self._pending + head
        self._pending = tail
        return [_loads(line) for line in head.decode().split("\n") if line]


def new_client(transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """An httpx client as a careful user would make one: no timeouts in the way of a stream."""
    return httpx.AsyncClient(timeout=None, transport=transport)


def headers(api_token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {api_token}", "content-type": "application/json"}


def read_body(subject: str, recursive: bool, upper_bound: str | None = None) -> bytes:
    options: dict[str, Any] = {"recursive": recursive}
    if upper_bound is not None:
        options["upperBound"] = {"id": upper_bound, "type": "inclusive"}
    return json.dumps({"subject": subject, "options": options}).encode()


async def read_events(
    http: httpx.AsyncClient,
    base_url: str,
    api_token: str,
    subject: str,
    *,
    recursive: bool,
    upper_bound: str | None = None,
    every: int = 0,
    on_every: Callable[[int], None] | None = None,
) -> int:
    """Stream the events of `subject`; the number of event lines (`on_every(n)` each `every`)."""
    count = 0
    parser = LineParser()
    body = read_body(subject, recursive, upper_bound)
    async with http.stream(
        "QUERY", base_url + V2_READ_EVENTS, content=body, headers=headers(api_token)
    ) as response:
        if response.status_code != 200:
            raise RuntimeError(f"read-events answered {response.status_code}")
        async for chunk in response.aiter_raw():
            for item in parser.feed(chunk):
                if item["type"] == "event":
                    count += 1
                    if on_every is not None and count % every == 0:
                        on_every(count)
    return count


async def write_events(
    http: httpx.AsyncClient,
    base_url: str,
    api_token: str,
    events: list[dict[str, Any]],
    preconditions: list[dict[str, Any]] | None = None,
) -> list[Any]:
    """Write `events` (with `preconditions`); the stored events as parsed JSON."""
    request: dict[str, Any] = {"events": events}
    if preconditions:
        request["preconditions"] = preconditions
    response = await http.post(
        base_url + V2_WRITE_EVENTS,
        content=json.dumps(request).encode(),
        headers=headers(api_token),
    )
    if response.status_code != 200:
        raise RuntimeError(f"write-events answered {response.status_code}: {response.text}")
    parser = LineParser()
    written = [item["data"] for item in parser.feed(response.content) if item["type"] == "event"]
    if len(written) != len(events):
        raise RuntimeError(f"wrote {len(events)} events, the server confirmed {len(written)}")
    return written


def is_subject_on_event_id(subject: str, event_id: str) -> dict[str, Any]:
    return {"type": "isSubjectOnEventId", "payload": {"subject": subject, "eventId": event_id}}


def is_subject_pristine(subject: str) -> dict[str, Any]:
    return {"type": "isSubjectPristine", "payload": {"subject": subject}}


async def run_query(http: httpx.AsyncClient, base_url: str, api_token: str, query: str) -> int:
    """Run an EventQL query; the number of rows."""
    count = 0
    parser = LineParser()
    body = json.dumps({"query": query}).encode()
    async with http.stream(
        "QUERY", base_url + V2_RUN_EVENTQL_QUERY, content=body, headers=headers(api_token)
    ) as response:
        if response.status_code != 200:
            raise RuntimeError(f"run-eventql-query answered {response.status_code}")
        async for chunk in response.aiter_raw():
            for item in parser.feed(chunk):
                if item["type"] == "row":
                    count += 1
                elif item["type"] == "error":
                    raise RuntimeError(f"the query failed: {item}")
    return count


async def observe_events(
    http: httpx.AsyncClient,
    base_url: str,
    api_token: str,
    subject: str,
    on_event: Callable[[Any], None],
) -> None:
    """Observe `subject` (not recursively) until cancelled; `on_event(data)` with the data of
    each event."""
    parser = LineParser()
    body = json.dumps({"subject": subject, "options": {"recursive": False}}).encode()
    async with http.stream(
        "QUERY", base_url + V2_OBSERVE_EVENTS, content=body, headers=headers(api_token)
    ) as response:
        if response.status_code != 200:
            raise RuntimeError(f"observe-events answered {response.status_code}")
        async for chunk in response.aiter_raw():
            for item in parser.feed(chunk):
                if item["type"] == "event":
                    on_event(item["data"]["data"])
