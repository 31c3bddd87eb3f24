"""The default socket path: the transport interface of `_transport` on aiohttp.

A client that is given neither an httpx client nor an httpx transport sends through this backend.
It keeps the semantics of the httpx one exactly (`_transport`'s docstring): the connection pool
holds 100 connections, and waiting for one of them is limited by the request timeout and fails
as `POOL_EXHAUSTED` without sending anything; the deadline of a request starts once it holds a
connection slot; streams have a stall timeout per wait for a chunk instead of a total one; every
aiohttp failure becomes a `TransportFailure` of the same kind the httpx one would be.

The pool is a semaphore of this module in front of aiohttp's connector (which itself has no
limit), so the moment a request holds a connection is known without aiohttp's tracing.
aiohttp is imported when the first request is made, not when the package is imported. The
pool follows the event loop exactly as the httpx one does (`_transport`'s docstring).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Final, NamedTuple

from eventsourcingdb._network import proxy_for, ssl_context
from eventsourcingdb._protocol.errors import FailureKind, TransportCause, TransportFailure
from eventsourcingdb._protocol.requests import Request
from eventsourcingdb._transport import (
    POOL_LIMITS,
    ChunkedBody,
    Deadlines,
    Limit,
    LoopPool,
    Response,
    StallWatch,
    deadline_failure,
    pool_failure,
)

if TYPE_CHECKING:
    import aiohttp
    from yarl import URL

_log = logging.getLogger("eventsourcingdb.transport")

POOL_SIZE: Final = POOL_LIMITS.max_connections or 100
"""The connections of the client's own pool, the same number as with httpx."""

KEEPALIVE_SECONDS: Final = 5.0
"""How long an idle connection is kept for reuse (httpx's default keep-alive expiry)."""

_NO_BODY_HEADERS: Final = ("Content-Type",)
"""What aiohttp must not add to a request without a body (one with a body names its type);
given per request, since a session-wide setting costs every request a header merge."""

READ_BUFFER: Final = 2**18
"""How much of a body aiohttp buffers before it stops reading the socket (flow control)."""


def _failure(
    error: BaseException, *, before_response: bool, seconds: float | None, stream: bool
) -> TransportFailure:
    """The failure for an aiohttp exception: its text, never the exception itself."""
    import aiohttp

    message = str(error)
    name = type(error).__name__
    detail = f"{name}: {message}" if message else name
    cause = TransportCause(name, message)
    if isinstance(
        error,
        aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError | aiohttp.InvalidURL,
    ):
        kind = FailureKind.NOT_SENT
    elif isinstance(error, aiohttp.SocketTimeoutError):
        kind = FailureKind.STALLED if stream else FailureKind.TIMEOUT
    elif isinstance(error, aiohttp.ClientPayloadError) and _is_encoding_error(error):
        kind = FailureKind.MALFORMED
    else:
        kind = FailureKind.LOST
    return TransportFailure(
        kind, detail, before_response=before_response, seconds=seconds, cause=cause
    )


def _is_encoding_error(error: BaseException) -> bool:
    """Whether a payload error is a broken content encoding (not a broken connection)."""
    from aiohttp.http_exceptions import ContentEncodingError

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ContentEncodingError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "ContentEncodingError" in str(error)


class AiohttpStream(ChunkedBody):
    """A streamed answer on aiohttp: the body chunk by chunk, each wait limited by the stall
    timeout."""

    __slots__ = (
        "_content",
        "_response",
        "_slots",
        "_stall_timeout",
        "_watch",
        "retry_after",
        "server",
        "status",
    )

    def __init__(
        self,
        response: aiohttp.ClientResponse,
        stall_timeout: float | None,
        slots: asyncio.Semaphore,
    ) -> None:
        self._response = response
        self._slots: asyncio.Semaphore | None = slots
        self._content = response.content
        self._stall_timeout = stall_timeout
        self._watch: StallWatch | None = None
        """Made at the first wait for the server (a short answer may never need one)."""
        self.status = response.status
        headers = response.headers
        self.server = headers.get("Server")
        self.retry_after = headers.get("Retry-After")

    async def next_chunk(self) -> bytes | None:
        """The next chunk of the body, None at its end: what has arrived already at once, else
        after a wait limited by the stall timeout (`ChunkedBody.next_chunk`)."""
        content = self._content
        if content.exception() is None:
            try:
                chunk = content.read_nowait()
            except RuntimeError:  # another task waits on the body: the wait below says so
                chunk = b""
            if chunk:
                return chunk
            if content.at_eof():
                return None
        if self._watch is None and self._stall_timeout is not None:
            self._watch = StallWatch(self._stall_timeout)
        return await super().next_chunk()

    async def _next_chunk(self) -> bytes | None:
        import aiohttp

        try:
            chunk = await self._content.readany()
        except (aiohttp.ClientError, RuntimeError) as error:
            # RuntimeError: aiohttp's "Connection closed." when the session closed under it
            failure = _failure(
                error, before_response=False, seconds=self._stall_timeout, stream=True
            )
        else:
            return chunk or None
        raise failure  # outside the except block: no aiohttp exception as its context

    async def drain(self, grace: float) -> bool:
        """Read what is left of the body for at most `grace` seconds; True if it ended (the
        connection then goes back to the pool)."""
        import aiohttp

        if self._content.at_eof():
            return True  # nothing left: no timer to arm
        try:
            async with asyncio.timeout(grace):
                while await self._content.readany():
                    pass
        except (TimeoutError, aiohttp.ClientError):
            return False
        return True

    async def aclose(self) -> None:
        """Give the connection back (closed unless the body was read to its end), and its slot
        in the pool; closing again does nothing."""
        if self._watch is not None:
            self._watch.stop()
        slots, self._slots = self._slots, None
        if slots is None:
            return
        try:
            self._response.release()
        finally:
            slots.release()


class _Streaming(AbstractAsyncContextManager["AiohttpStream"]):
    """`AiohttpTransport.stream`: an async context manager as a class (a generator-based one
    costs a few microseconds more per stream, and every read opens one)."""

    __slots__ = ("_answer", "_headers", "_request", "_transport")

    def __init__(self, transport: AiohttpTransport, request: Request, headers: dict[str, str]):
        self._transport = transport
        self._request = request
        self._headers = headers
        self._answer: AiohttpStream | None = None

    async def __aenter__(self) -> AiohttpStream:
        self._answer = await self._transport._open_stream(self._request, self._headers)
        return self._answer

    async def __aexit__(self, *exc_info: object) -> None:
        answer, self._answer = self._answer, None
        if answer is not None:
            await answer.aclose()


class _Pool(NamedTuple):
    """What a transport holds per event loop: the session, the connection slots, and the
    deadlines of one-shot requests (`timeout`) and of streams' answers (`stall_timeout`)."""

    session: aiohttp.ClientSession
    slots: asyncio.Semaphore
    deadlines: Deadlines | None
    stall_deadlines: Deadlines | None


async def _close_pool(pool: _Pool) -> None:
    for deadlines in (pool.deadlines, pool.stall_deadlines):
        if deadlines is not None:
            deadlines.close()
    await pool.session.close()


def _finish(deadlines: Deadlines | None, limit: Limit | None) -> bool:
    """`deadlines.finish(limit)` unless there is no limit (or it was finished already)."""
    return deadlines is not None and limit is not None and deadlines.finish(limit)


class AiohttpTransport:
    """Sends requests through an aiohttp session of its own, created on first use."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float | None,
        stall_timeout: float | None,
        connect_timeout: float | None,
        pool_size: int = POOL_SIZE,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._stall_timeout = stall_timeout
        self._connect_timeout = connect_timeout
        self._pool_size = pool_size
        self._pools: LoopPool[_Pool] = LoopPool(self._open_pool, _close_pool)
        """The session, the connection slots and the deadlines of the running event loop."""
        self._proxy: str | None = None
        self._urls: dict[str, URL] = {}

    @property
    def busy_connections(self) -> int:
        """How many connections of the pool requests and open streams hold right now."""
        pool = self._pools.current
        return 0 if pool is None else self._pool_size - pool.slots._value

    def _open_pool(self) -> _Pool:
        import aiohttp

        https = self._base_url.startswith("https:")
        connector = aiohttp.TCPConnector(
            limit=0,
            keepalive_timeout=KEEPALIVE_SECONDS,
            ssl=ssl_context() if https else True,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=self._connect_timeout, sock_read=None
            ),
            read_bufsize=READ_BUFFER,
        )
        self._proxy = proxy_for(self._base_url)
        loop = asyncio.get_running_loop()
        return _Pool(
            session,
            asyncio.Semaphore(self._pool_size),
            None if self._timeout is None else Deadlines(loop, self._timeout),
            None if self._stall_timeout is None else Deadlines(loop, self._stall_timeout),
        )

    def _url(self, path: str) -> URL:
        """The URL of `path`, parsed once (aiohttp would parse the string on every request)."""
        try:
            return self._urls[path]
        except KeyError:
            from yarl import URL

            url = self._urls[path] = URL(self._base_url + path)
            return url

    def _request(
        self, pool: _Pool, request: Request, headers: dict[str, str]
    ) -> aiohttp.client._RequestContextManager:
        """The aiohttp request for `request` (awaited for a stream, entered for a document)."""
        return pool.session.request(
            request.method,
            self._url(request.path),
            data=request.body,
            headers=headers,
            allow_redirects=False,
            proxy=self._proxy,
            skip_auto_headers=None if request.body is not None else _NO_BODY_HEADERS,
        )

    async def _hold_connection(self, slots: asyncio.Semaphore) -> None:
        """Take a connection slot, waiting at most the request timeout for one to become free."""
        if not slots.locked():
            await slots.acquire()  # free: returns at once
            return
        try:
            async with asyncio.timeout(self._timeout):
                await slots.acquire()
        except TimeoutError:
            failure = pool_failure(self._timeout, self._pool_size)
        else:
            return
        raise failure

    async def send(self, request: Request, headers: dict[str, str]) -> Response:
        """Send `request` and read its whole answer within the request timeout (counted from
        the moment the request holds a connection)."""
        import aiohttp

        pool = self._pools.ready() or await self._pools.get()
        slots, deadlines = pool.slots, pool.deadlines
        await self._hold_connection(slots)
        answered = False
        limit: Limit | None = None if deadlines is None else deadlines.start()
        try:
            async with self._request(pool, request, headers) as response:
                answered = True
                body = await response.read()
                response_headers = response.headers
                return Response(
                    response.status,
                    response_headers.get("Server"),
                    response_headers.get("Retry-After"),
                    body,
                )
        except aiohttp.ClientError as error:
            failure = _failure(
                error, before_response=not answered, seconds=self._timeout, stream=False
            )
        except asyncio.CancelledError:
            expired = _finish(deadlines, limit)
            limit = None
            if not expired:
                raise
            failure = deadline_failure(self._timeout, answered=answered)
        finally:
            _finish(deadlines, limit)
            slots.release()
        raise failure  # outside the except blocks: no aiohttp exception as its context

    def stream(self, request: Request, headers: dict[str, str]) -> _Streaming:
        """Send `request` and yield its answer for reading chunk by chunk; closes it on exit.

        Waiting for the status line counts against the stall timeout (from the moment the
        request holds a connection).
        """
        return _Streaming(self, request, headers)

    async def _open_stream(self, request: Request, headers: dict[str, str]) -> AiohttpStream:
        """The answer of `request`, its connection slot held (`_Streaming` gives it back)."""
        import aiohttp

        pool = self._pools.ready() or await self._pools.get()
        slots, deadlines = pool.slots, pool.stall_deadlines
        await self._hold_connection(slots)
        failure: TransportFailure | None = None
        limit: Limit | None = None if deadlines is None else deadlines.start()
        try:
            response = await self._request(pool, request, headers)
        except aiohttp.ClientError as error:
            failure = _failure(
                error, before_response=True, seconds=self._stall_timeout, stream=True
            )
        except asyncio.CancelledError:
            expired = _finish(deadlines, limit)
            limit = None
            if not expired:
                slots.release()
                raise
            failure = TransportFailure(
                FailureKind.STALLED,
                f"no answer within {self._stall_timeout:g} seconds",
                before_response=True,
                seconds=self._stall_timeout,
            )
        except BaseException:
            _finish(deadlines, limit)
            slots.release()
            raise
        _finish(deadlines, limit)
        if failure is not None:
            slots.release()
            raise failure  # outside the except blocks: no aiohttp exception as its context
        return AiohttpStream(response, self._stall_timeout, slots)

    async def aclose(self) -> None:
        """Close the session and its connections."""
        await self._pools.aclose()


__all__ = ["AiohttpStream", "AiohttpTransport"]
