"""httpx transports that hand requests straight to the emulator's handler: no socket at all.

Unlike httpx's ASGI transport, which buffers whole responses (and so would wait forever for an
observe stream to end), these stream: each chunk reaches the client as the handler yields it,
and closing the response closes the handler's generator. The async transport runs the handler
on the caller's event loop; the sync transport runs it on a private loop in a daemon thread.

Once the server is stopped both behave like a socket whose server is gone: a new request raises
`httpx.ConnectError`, and reading on from a stream whose loop has stopped raises
`httpx.ReadError`. A connection dropped by fault injection raises what httpx raises when a server
closes a socket: `httpx.RemoteProtocolError`, before the answer or in the middle of its body.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

import httpx

from eventsourcingdb._portal import LoopClosedError, LoopThread
from eventsourcingdb.emulator.faults import ConnectionDropped
from eventsourcingdb.emulator.handler import Handler, Request, Response

__all__ = ["AsyncEmulatorTransport", "EmulatorTransport", "LoopClosedError", "LoopThread"]

_T = TypeVar("_T")
_CLOSE_TIMEOUT = 5.0
_STOPPED = "the emulator has been stopped"
_NO_ANSWER = "Server disconnected without sending a response."
_CUT_BODY = "peer closed connection without sending complete message body: incomplete chunked read"


def _to_request(request: httpx.Request, body: bytes) -> Request:
    headers = tuple(
        (name.decode("latin-1").lower(), value.decode("latin-1"))
        for name, value in request.headers.raw
    )
    return Request(
        method=request.method,
        path=request.url.path,
        query=request.url.query.decode("latin-1"),
        headers=headers,
        body=body,
    )


class _AsyncStream(httpx.AsyncByteStream):
    """A response body that pulls chunks from the handler's generator as the client reads."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._chunks:
                yield chunk
        except ConnectionDropped:
            raise httpx.RemoteProtocolError(_CUT_BODY) from None

    async def aclose(self) -> None:
        close = getattr(self._chunks, "aclose", None)
        if close is not None:
            await close()


class AsyncEmulatorTransport(httpx.AsyncBaseTransport):
    """`httpx.AsyncClient(transport=AsyncEmulatorTransport(handler))`: the emulator in process."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer the request with the handler; streams stay open until the client closes."""
        if self._handler.is_closed:
            raise httpx.ConnectError(_STOPPED, request=request)
        body = await request.aread()
        try:
            response = await self._handler.handle(_to_request(request, body))
        except ConnectionDropped:
            raise httpx.RemoteProtocolError(_NO_ANSWER, request=request) from None
        if isinstance(response.body, bytes):
            return httpx.Response(
                response.status, headers=response.headers, content=response.body, request=request
            )
        return httpx.Response(
            response.status,
            headers=response.headers,
            stream=_AsyncStream(response.body),
            request=request,
        )


async def _next_chunk(chunks: AsyncIterator[bytes]) -> bytes | None:
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        return None


def _read_timeout(request: httpx.Request) -> float | None:
    """The request's read timeout, which this transport applies as httpx's own ones do."""
    timeouts = request.extensions.get("timeout", {})
    seconds = timeouts.get("read") if isinstance(timeouts, dict) else None
    return seconds if isinstance(seconds, int | float) else None


class _SyncStream(httpx.SyncByteStream):
    """A response body for sync clients: each chunk is fetched from the loop thread on demand,
    each wait limited by the request's read timeout (`httpx.ReadTimeout`, as on a socket)."""

    def __init__(
        self, chunks: AsyncIterator[bytes], loop: LoopThread, read_timeout: float | None
    ) -> None:
        self._chunks = chunks
        self._loop = loop
        self._read_timeout = read_timeout
        self._pending: concurrent.futures.Future[bytes | None] | None = None

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                self._pending = self._loop.submit(_next_chunk(self._chunks))
                chunk = self._pending.result(self._read_timeout)
            except (LoopClosedError, concurrent.futures.CancelledError):
                raise httpx.ReadError(_STOPPED) from None
            except ConnectionDropped:
                raise httpx.RemoteProtocolError(_CUT_BODY) from None
            except concurrent.futures.TimeoutError:
                if self._pending is not None:
                    self._pending.cancel()
                raise httpx.ReadTimeout("no chunk within the read timeout") from None
            finally:
                self._pending = None
            if chunk is None:
                return
            yield chunk

    def close(self) -> None:
        pending = self._pending
        if pending is not None:
            pending.cancel()
        close = getattr(self._chunks, "aclose", None)
        if close is None or not self._loop.is_alive:
            return
        with contextlib.suppress(
            RuntimeError, concurrent.futures.TimeoutError, concurrent.futures.CancelledError
        ):
            self._loop.submit(close()).result(_CLOSE_TIMEOUT)


class EmulatorTransport(httpx.BaseTransport):
    """`httpx.Client(transport=EmulatorTransport(handler, loop))`: the emulator for sync code."""

    def __init__(self, handler: Handler, loop: LoopThread) -> None:
        self._handler = handler
        self._loop = loop

    def async_transport(self) -> AsyncEmulatorTransport:
        """The async transport to the same emulator (for async code next to blocking code, as
        the blocking projections runner has)."""
        return AsyncEmulatorTransport(self._handler)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer the request on the loop thread; streamed bodies are pulled chunk by chunk."""
        if self._handler.is_closed or not self._loop.is_alive:
            raise httpx.ConnectError(_STOPPED, request=request)
        body = request.read()
        read_timeout = _read_timeout(request)
        try:
            answer = self._loop.submit(self._handler.handle(_to_request(request, body)))
            response: Response = answer.result(read_timeout)
        except (LoopClosedError, concurrent.futures.CancelledError):
            raise httpx.ConnectError(_STOPPED, request=request) from None
        except ConnectionDropped:
            raise httpx.RemoteProtocolError(_NO_ANSWER, request=request) from None
        except concurrent.futures.TimeoutError:
            answer.cancel()
            raise httpx.ReadTimeout("no answer within the read timeout", request=request) from None
        if isinstance(response.body, bytes):
            return httpx.Response(
                response.status, headers=response.headers, content=response.body, request=request
            )
        return httpx.Response(
            response.status,
            headers=response.headers,
            stream=_SyncStream(response.body, self._loop, read_timeout),
            request=request,
        )
