"""The plain loops: the fastest code on our stack (aiohttp, orjson), written by hand, no objects.

* reading: raw byte chunks of the body split on newlines, each line parsed with `orjson.loads`,
  events counted; no checks, no objects (the second ceiling of the read measurements, beside the
  httpx-and-`json.loads` raw limit);
* writing: one write-events request per batch, its answer split on newlines and parsed;
* a command: the two requests `Repository.update` makes (read the subject's events, write one
  event guarded by `isSubjectOnEventId` on the last one), parsed, state folded by hand;
* the blocking loop (`blocking_*`): the same reading and writing on the standard library's
  `http.client`, one kept-alive connection, the ceiling of the blocking twin.

They speak the v2 API, as the other contenders do against the emulator.
"""

from __future__ import annotations

import http.client
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import orjson

V2_READ_EVENTS: Final = "/api/v2/data/read-events"
V2_WRITE_EVENTS: Final = "/api/v2/data/write-events"

_loads = orjson.loads


def new_session() -> aiohttp.ClientSession:
    """An aiohttp session as a careful user would make one: no timeouts in the way, no limit
    on connections (the fan-out measurement holds a hundred streams)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None)
    )


def headers(api_token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {api_token}", "content-type": "application/json"}


async def read_events(
    session: aiohttp.ClientSession, base_url: str, api_token: str, subject: str, *, recursive: bool
) -> int:
    """Stream the events of `subject`; the number of event lines."""
    body = orjson.dumps({"subject": subject, "options": {"recursive": recursive}})
    count = 0
    pending = b""
    async with session.request(
        "QUERY", base_url + V2_READ_EVENTS, data=body, headers=headers(api_token)
    ) as response:
        if response.status != 200:
            raise RuntimeError(f"read-events answered {response.status}")
        content = response.content
        while chunk := await content.readany():
            lines = chunk.split(b"\n")
            if pending:
                lines[0] = pending + lines[0]
            pending = lines.pop()
            for line in lines:
                if line and _loads(line)["type"] == "event":
                    count += 1
    return count


async def write_events(
    session: aiohttp.ClientSession,
    base_url: str,
    api_token: str,
    events: list[dict[str, Any]],
    preconditions: list[dict[str, Any]] | None = None,
) -> list[Any]:
    """Write `events` (with `preconditions`); the stored events as parsed JSON."""
    request: dict[str, Any] = {"events": events}
    if preconditions:
        request["preconditions"] = preconditions
    async with session.post(
        base_url + V2_WRITE_EVENTS, data=orjson.dumps(request), headers=headers(api_token)
    ) as response:
        answer = await response.read()
        if response.status != 200:
            raise RuntimeError(f"write-events answered {response.status}: {answer!r}")
    items = [_loads(line) for line in answer.split(b"\n") if line]
    written = [item["data"] for item in items if item["type"] == "event"]
    if len(written) != len(events):
        raise RuntimeError(f"wrote {len(events)} events, the server confirmed {len(written)}")
    return written


async def command(
    session: aiohttp.ClientSession,
    base_url: str,
    api_token: str,
    subject: str,
    event: dict[str, Any],
) -> int:
    """Load `subject` (its balance: the sum of the `amount`s), write `event` if nothing was
    written since; the new balance."""
    balance = 0
    last: str | None = None
    read_body = orjson.dumps({"subject": subject, "options": {"recursive": False}})
    sent = headers(api_token)
    async with session.request(
        "QUERY", base_url + V2_READ_EVENTS, data=read_body, headers=sent
    ) as response:
        if response.status != 200:
            raise RuntimeError(f"read-events answered {response.status}")
        for line in (await response.read()).split(b"\n"):
            if line:
                item = _loads(line)
                if item["type"] == "event":
                    balance += item["data"]["data"]["amount"]
                    last = item["data"]["id"]
    precondition: dict[str, Any] = (
        {"type": "isSubjectPristine", "payload": {"subject": subject}}
        if last is None
        else {"type": "isSubjectOnEventId", "payload": {"subject": subject, "eventId": last}}
    )
    write_body = orjson.dumps({"events": [event], "preconditions": [precondition]})
    async with session.post(base_url + V2_WRITE_EVENTS, data=write_body, headers=sent) as response:
        answer = await response.read()
        if response.status != 200:
            raise RuntimeError(f"write-events answered {response.status}: {answer!r}")
    written = [_loads(line) for line in answer.split(b"\n") if line]
    if not any(item["type"] == "event" for item in written):
        raise RuntimeError("the server confirmed no event")
    amount: int = event["data"]["amount"]
    return balance + amount


# --- the blocking plain loop: stdlib http.client, one kept-alive connection ------------------


def blocking_connection(base_url: str) -> http.client.HTTPConnection:
    """One kept-alive connection to `base_url`, as a blocking loop written by hand would keep
    it (the ceiling of the blocking client: no pool, no timeouts, no checks)."""
    parts = urlsplit(base_url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)


def blocking_read_events(
    connection: http.client.HTTPConnection, api_token: str, subject: str, *, recursive: bool
) -> int:
    """Stream the events of `subject` over `connection`: raw chunks split on newlines, each line
    parsed with `orjson.loads`; the number of event lines."""
    body = orjson.dumps({"subject": subject, "options": {"recursive": recursive}})
    connection.request("QUERY", V2_READ_EVENTS, body, headers(api_token))
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"read-events answered {response.status}")
    count = 0
    pending = b""
    while chunk := response.read1(65536):
        lines = chunk.split(b"\n")
        if pending:
            lines[0] = pending + lines[0]
        pending = lines.pop()
        for line in lines:
            if line and _loads(line)["type"] == "event":
                count += 1
    return count


def blocking_write_events(
    connection: http.client.HTTPConnection, api_token: str, events: list[dict[str, Any]]
) -> list[Any]:
    """Write `events` over `connection`; the stored events as parsed JSON."""
    connection.request(
        "POST", V2_WRITE_EVENTS, orjson.dumps({"events": events}), headers(api_token)
    )
    response = connection.getresponse()
    answer = response.read()
    if response.status != 200:
        raise RuntimeError(f"write-events answered {response.status}: {answer!r}")
    items = [_loads(line) for line in answer.split(b"\n") if line]
    written = [item["data"] for item in items if item["type"] == "event"]
    if len(written) != len(events):
        raise RuntimeError(f"wrote {len(events)} events, the server confirmed {len(written)}")
    return written
