"""The emulator's handler as an ASGI application, for uvicorn (the socket front end).

Streams are sent chunk by chunk as the handler yields them; when the client goes away the
handler's generator is closed at once, so observers do not outlive their connections, and no
further chunk is written to the dead connection (asyncio would log `socket.send() raised
exception.` for each). uvicorn's h11 backend passes any method token through, `QUERY` included.
A connection that fault injection drops is cut through `connections` (see `_connections`).

A request body must arrive within the server's body timeout (else 408) and may not exceed its
maximum request size (else 413, before anything is read when `Content-Length` says so); both
answers close the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any, Final

from eventsourcingdb.emulator import _messages as m
from eventsourcingdb.emulator._connections import ConnectionTable
from eventsourcingdb.emulator.faults import ConnectionDropped
from eventsourcingdb.emulator.handler import Handler, Request, Response

__all__ = ["AsgiApp"]

_logger = logging.getLogger("eventsourcingdb.emulator")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class AsgiApp:
    """An ASGI 3 application that answers every HTTP request with the emulator's handler."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.connections = ConnectionTable()
        """The server's open connections; the socket server registers them here."""
        self.sends_server_header = True
        """False when the HTTP server adds the `Server` header to every answer itself (ours
        does, so that its own answers, such as a 503 at the connection limit, carry it too)."""

    @property
    def handler(self) -> Handler:
        """The handler this app answers with."""
        return self._handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        limits = self._handler.options.limits
        declared = _content_length(scope)
        if declared is not None and declared > limits.max_request_bytes:
            await self._send(send, self._handler.request_too_large(), close=True)
            return
        try:
            async with asyncio.timeout(limits.body_timeout):
                body = await _body(receive, limits.max_request_bytes)
        except TimeoutError:
            await self._send(send, self._handler.plain(408, m.TEXT_BODY_TIMEOUT), close=True)
            return
        except _TooLarge:
            await self._send(send, self._handler.request_too_large(), close=True)
            return
        if body is None:
            return  # the client has gone
        request = Request(
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=tuple(
                (name.decode("latin-1").lower(), value.decode("latin-1"))
                for name, value in scope["headers"]
            ),
            body=bytes(body),
            client=_client_address(scope),
        )
        try:
            response = await self._handle(request, receive)
        except ConnectionDropped:
            await self._cut(scope)
            return
        if response is None:
            return  # the client has gone
        if isinstance(response.body, bytes):
            await self._send(send, response)
            return
        headers = self._headers(response)
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        try:
            await _stream(response.body, receive, send)
        except ConnectionDropped:
            await self._cut(scope)

    async def _handle(self, request: Request, receive: Receive) -> Response | None:
        """The handler's answer, or None when the client leaves before it is ready: then the
        handler is cancelled (an EventQL precondition stops, and its write is not made)."""
        handling = asyncio.ensure_future(self._handler.handle(request))
        watching: asyncio.Future[None] | None = None
        try:
            done, _ = await asyncio.wait((handling,), timeout=QUICK_ANSWER)
            if not done:
                watching = asyncio.ensure_future(_disconnect(receive))
                await asyncio.wait((handling, watching), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if watching is not None:
                watching.cancel()
            if not handling.done():  # the client has gone, or the server is stopping
                handling.cancel()
                await asyncio.wait((handling,))
        if handling.cancelled():
            return None
        if watching is not None and watching.done() and handling.exception() is not None:
            _logger.debug("a request whose client left failed", exc_info=handling.exception())
            return None
        return handling.result()

    def _headers(self, response: Response) -> list[tuple[bytes, bytes]]:
        return [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in response.headers
            if self.sends_server_header or name != "server"
        ]

    async def _send(self, send: Send, response: Response, *, close: bool = False) -> None:
        """Send a whole answer (`close`: and end the connection after it)."""
        assert isinstance(response.body, bytes)
        headers = self._headers(response)
        if not any(name == b"content-length" for name, _ in headers):
            headers.append((b"content-length", str(len(response.body)).encode("ascii")))
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _cut(self, scope: Scope) -> None:
        """Drop the connection unanswered; outside our socket server, let uvicorn close it."""
        if not self.connections.cut(scope.get("client")):
            raise ConnectionDropped
        await asyncio.sleep(0)  # uvicorn learns of the loss before the app returns


QUICK_ANSWER: Final = 0.05
"""Seconds a request may take before the app also watches for its client leaving."""


async def _disconnect(receive: Receive) -> None:
    """Return once the client has gone (the whole body has been read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class _TooLarge(Exception):
    """The body grew beyond the maximum request size."""


def _client_address(scope: Scope) -> str:
    """The client's address as the scope gives it (`scope["client"]`), without the port."""
    client = scope.get("client")
    if isinstance(client, list | tuple) and client:
        return str(client[0])
    return ""


def _content_length(scope: Scope) -> int | None:
    """The `Content-Length` the request declares, if any (h11 has checked its syntax)."""
    for name, value in scope["headers"]:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body (None if the client went away); `_TooLarge` beyond `limit`."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if len(body) > limit:
            raise _TooLarge
        if not message.get("more_body", False):
            return bytes(body)


async def _stream(chunks: AsyncIterator[bytes], receive: Receive, send: Send) -> None:
    """Send chunks until the stream ends or the client disconnects, whichever comes first.

    Writing to a socket does not wait for anything while its buffer has room, so a stream of
    prepared chunks would never let the event loop notice that the peer has gone; asyncio then
    counts every further write and logs a warning for each. After every chunk the pump yields
    to the loop, and it stops as soon as the disconnect is known.
    """
    gone = asyncio.Event()

    async def pump() -> None:
        async for chunk in chunks:
            if gone.is_set():
                return
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await asyncio.sleep(0)  # let connection_lost and the watcher run
        if not gone.is_set():
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    pumping = asyncio.ensure_future(pump())
    watching = asyncio.ensure_future(watch())
    dropped = False
    try:
        await asyncio.wait((pumping, watching), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pumping, watching):
            task.cancel()
        for outcome in await asyncio.gather(pumping, watching, return_exceptions=True):
            if isinstance(outcome, ConnectionDropped):
                dropped = True
            elif isinstance(outcome, Exception):
                _logger.error("the emulator failed while streaming", exc_info=outcome)
        close = getattr(chunks, "aclose", None)
        if close is not None:
            with contextlib.suppress(RuntimeError):
                await close()
    if dropped:
        raise ConnectionDropped


async def _lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge startup and shutdown; the emulator needs no preparation."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
