"""Helpers of the client tests: a scripted fake EventSourcingDB, behind httpx's mock transport
(the httpx backend) or on a loopback socket (the client's own aiohttp backend)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
from aiohttp import web

from eventsourcingdb._protocol.hashing import hash_v1, hash_v2

SERVER_HEADERS = {"server": "EventSourcingDB/1.3.0-test"}
BASE_URL = "http://esdb.test"
TOKEN = "secret-token"

Answer = httpx.Response | Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


def ndjson(*items: object) -> bytes:
    """Items as NDJSON lines, each terminated by a newline."""
    return b"".join(json.dumps(item, ensure_ascii=False).encode() + b"\n" for item in items)


def event_payload(
    event_id: int,
    *,
    subject: str = "/books/42",
    event_type: str = "io.eventsourcingdb.library.book-acquired",
    data: dict[str, Any] | None = None,
    hash_version: int = 1,
    predecessor: str | None = None,
) -> dict[str, Any]:
    """A stored event as the server sends it, with a correct hash of the compact `data` bytes."""
    payload: dict[str, Any] = {
        "source": "https://library.eventsourcingdb.io",
        "subject": subject,
        "type": event_type,
        "specversion": "1.0",
        "id": str(event_id),
        "time": f"2026-10-07T13:32:{event_id % 60:02d}.123456789Z",
        "datacontenttype": "application/json",
        "predecessorhash": predecessor or "0" * 64,
        "data": data if data is not None else {"title": f"Book {event_id}"},
        "signature": None,
    }
    raw = json.dumps(payload["data"], separators=(",", ":"), ensure_ascii=False).encode()
    payload["hash"] = hash_v2(payload, raw) if hash_version == 2 else hash_v1(payload, raw)
    return payload


def compact(item: object) -> bytes:
    """One compact JSON document (the encoding `event_payload` hashes)."""
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()


def compact_lines(*items: object) -> bytes:
    """Items as compact NDJSON lines."""
    return b"".join(compact(item) + b"\n" for item in items)


def respond(
    status: int = 200,
    content: bytes | str | AsyncIterator[bytes] = b"",
    *,
    headers: dict[str, str] | None = None,
    server: bool = True,
) -> httpx.Response:
    """A response with the EventSourcingDB `Server` header (unless `server` is False)."""
    all_headers = dict(SERVER_HEADERS) if server else {}
    all_headers.update(headers or {})
    if isinstance(content, str):
        content = content.encode()
    return httpx.Response(status, headers=all_headers, content=content)


async def chunks(*parts: bytes, then: BaseException | None = None, stall: bool = False) -> Any:
    """An async body: the parts, then optionally an error or a stall (sleeping for an hour)."""
    for part in parts:
        yield part
        await asyncio.sleep(0)
    if then is not None:
        raise then
    if stall:
        await asyncio.sleep(3600)


class FakeServer:
    """A scripted server: answers by (method, path), records requests.

    By default it answers the v2 probe with 200 (`api_versions=(1, 2)`) or 404 (`(1,)`).
    An answer may be a response, a callable, or a list of those used in turn.
    """

    def __init__(self, api_versions: tuple[int, ...] = (1, 2)) -> None:
        self.api_versions = api_versions
        self.requests: list[httpx.Request] = []
        self.routes: dict[tuple[str, str], list[Answer]] = {}
        self.closed_streams = 0

    def on(self, method: str, path: str, *answers: Answer) -> None:
        """Answer `method path` with `answers` in turn (the last one repeats)."""
        self.routes[(method, path)] = list(answers)

    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        return [request.url.path for request in self.requests]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = (request.method, request.url.path)
        if key in self.routes:
            answers = self.routes[key]
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
            result = answer(request) if callable(answer) else answer
            if not isinstance(result, httpx.Response):
                result = await result
            return result
        if key == ("GET", "/api/v2/system/ping"):
            if 2 in self.api_versions:
                return respond(200, compact(_v2_ping()))
            return respond(404, "404 page not found\n")
        if key == ("GET", "/api/v1/ping"):
            return respond(200, compact(_management("io.eventsourcingdb.api.ping-received")))
        return respond(404, "404 page not found\n")

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        """The fake on a loopback socket (aiohttp's server); yields its base URL.

        What the scripted answers raise becomes what a network does: an `httpx.TransportError`
        raised instead of an answer drops the connection without one, and one raised by a body
        drops it mid-body; a slow answer is slow and a stalled body stalls.
        """
        server = web.Server(self._serve_one, handler_cancellation=True, access_log=None)
        runner = web.ServerRunner(server)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            await runner.cleanup()

    async def _serve_one(self, incoming: web.BaseRequest) -> web.StreamResponse:
        request = httpx.Request(
            incoming.method,
            str(incoming.url),
            headers=list(incoming.headers.items()),
            content=await incoming.read(),
        )
        try:
            response = await self.handle(request)
        except httpx.TransportError:
            return _dropped(incoming)
        outgoing = _Answer(status=response.status_code, reason=response.reason_phrase)
        for name, value in response.headers.multi_items():
            if name.lower() not in ("content-length", "transfer-encoding"):
                outgoing.headers.add(name, value)
        outgoing.enable_chunked_encoding()
        try:
            await outgoing.prepare(incoming)
            async for part in response.stream:  # type: ignore[union-attr]
                await outgoing.write(part)
        except httpx.TransportError:
            return _dropped(incoming)
        finally:  # also when the client went away (the handler is then cancelled)
            await response.aclose()
        await outgoing.write_eof()
        return outgoing


class _Answer(web.StreamResponse):
    """A response with exactly the scripted headers: aiohttp adds a `Server` header of its own,
    which the fake leaves out when the script does."""

    async def _prepare_headers(self) -> None:
        scripted = "Server" in self.headers
        await super()._prepare_headers()
        if not scripted:
            self.headers.popall("Server", None)


def _dropped(incoming: web.BaseRequest) -> web.StreamResponse:
    """Close the connection at once, as a broken network would."""
    transport = incoming.transport
    if transport is not None:
        transport.abort()
    return web.StreamResponse()


def _management(event_type: str, subject: str = "/api/v1/ping") -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "0",
        "time": "2026-11-29T10:00:00.123456789Z",
        "source": "https://www.eventsourcingdb.io",
        "subject": subject,
        "type": event_type,
        "datacontenttype": "application/json",
        "data": {},
    }


def management(event_type: str, subject: str = "/api/v1/ping") -> dict[str, Any]:
    """A management event (ping, token verified, schema registered)."""
    return _management(event_type, subject)


def _v2_ping() -> dict[str, Any]:
    return {"type": "event", "data": _management("io.eventsourcingdb.api.ping-received")}
