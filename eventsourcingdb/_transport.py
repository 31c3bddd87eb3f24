"""The one module that speaks HTTP, through httpx: it sends `Request` values and hands back bytes.

One-shot answers are read whole within the request timeout. Streamed answers have no total
timeout; instead each wait for the next chunk is limited by the stall timeout (no byte for N
seconds), so an observation can run for days. Every httpx failure becomes a `TransportFailure`
that says whether the request may have reached the server.

Waiting for a free connection of the pool is not part of either limit: until the request has a
connection it has not been sent, and httpx's `pool` timeout governs that wait (a `PoolTimeout`
is a request that was never sent). The deadline starts when httpx reports, through its `trace`
extension, that the request got a connection. Transports that report nothing (the emulator's
in-process one, mocks) have no pool to wait for, and their deadline starts at once.

Connections belong to the event loop that opened them. The pool the transport creates follows
the loop: when the loop it was used in shuts down (`asyncio.run` ends, which closes the open async
generators), a small guard generator closes the pool there, cleanly, and the next request opens a
new pool in its own loop. A loop closed without that shutdown leaves its pool to be dropped. A
pool whose loop is still open, and a given `http_client` used from another loop, are refused with
`EventLoopMismatchError` instead of failing deep in asyncio.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Final, Generic, NamedTuple, Protocol, TypeVar

import httpx

from eventsourcingdb import _wire
from eventsourcingdb._pool_repair import release_closed_response, release_orphaned_connections
from eventsourcingdb._protocol.errors import FailureKind, TransportCause, TransportFailure
from eventsourcingdb._protocol.requests import Request
from eventsourcingdb.errors import AsyncMismatchError, EventLoopMismatchError, InvalidArgumentError

_log = logging.getLogger("eventsourcingdb.transport")

ERROR_BODY_LIMIT: Final = 64 * 1024
"""How much of an error answer on a stream is read for its description."""

POOL_LIMITS: Final = httpx.Limits(max_connections=100, max_keepalive_connections=20)
"""The connection pool of a client that creates its own httpx client (httpx's defaults): at
most 100 connections at once, each open stream holding one."""


class Response(NamedTuple):
    """A complete answer: status, the headers the protocol looks at, and the body (a named
    tuple: one is made per request, and a tuple is the cheapest immutable value to make)."""

    status: int
    server: str | None
    retry_after: str | None
    body: bytes


def _failure(
    error: Exception,
    *,
    before_response: bool,
    seconds: float | None,
    stream: bool,
    pool_seconds: float | None = None,
    pool_size: int | None = None,
) -> TransportFailure:
    """The failure for an httpx exception; it keeps the exception's text, never the exception
    (whose request holds the token)."""
    message = str(error)
    detail = f"{type(error).__name__}: {message}" if message else type(error).__name__
    cause = TransportCause(type(error).__name__, message)
    if isinstance(error, httpx.PoolTimeout):
        return TransportFailure(
            FailureKind.POOL_EXHAUSTED,
            detail,
            before_response=True,
            seconds=pool_seconds,
            cause=cause,
            pool_size=pool_size,
        )
    not_sent = (
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.UnsupportedProtocol,
        httpx.ProxyError,
    )
    if isinstance(error, not_sent):
        kind = FailureKind.NOT_SENT
    elif isinstance(error, httpx.ReadTimeout | httpx.WriteTimeout):
        kind = FailureKind.STALLED if stream else FailureKind.TIMEOUT
    elif isinstance(error, httpx.DecodingError):
        kind = FailureKind.MALFORMED
    else:
        kind = FailureKind.LOST
    return TransportFailure(
        kind, detail, before_response=before_response, seconds=seconds, cause=cause
    )


def deadline_failure(seconds: float | None, *, answered: bool) -> TransportFailure:
    """The failure of a one-shot request whose answer was not complete within `seconds` of it
    holding a connection (every backend's, in the same words)."""
    return TransportFailure(
        FailureKind.TIMEOUT,
        f"no complete answer within {seconds if seconds is not None else 0.0:g} seconds",
        before_response=not answered,
        seconds=seconds,
    )


def pool_failure(seconds: float | None, pool_size: int) -> TransportFailure:
    """The failure of a request that found no free connection of the client's own pool within
    `seconds` (as httpx's `PoolTimeout`): nothing was sent."""
    return TransportFailure(
        FailureKind.POOL_EXHAUSTED,
        "PoolTimeout",
        before_response=True,
        seconds=seconds,
        cause=TransportCause("PoolTimeout", ""),
        pool_size=pool_size,
    )


Trace = Callable[[str, dict[str, Any]], Awaitable[None]]


def _headers(response: httpx.Response) -> tuple[str | None, str | None]:
    headers = response.headers
    return headers.get(_wire.SERVER_HEADER), headers.get(_wire.RETRY_AFTER_HEADER)


class StallWatch:
    """Fails a wait for the next chunk that lasts `seconds`: one timer per stream, re-armed
    lazily, so each chunk costs a clock read instead of a new `asyncio.timeout`.

    Only time spent waiting for the server counts; time the consumer spends between chunks
    does not. When the timer fires during a wait it cancels the waiting task, and the wait
    turns that cancellation into a stall.
    """

    __slots__ = ("_deadline", "_fired", "_handle", "_loop", "_seconds", "_task", "_waiting")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._loop = asyncio.get_running_loop()
        self._deadline = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[object] | None = None
        self._waiting = False
        self._fired = False

    def begin(self) -> None:
        """A wait starts: the server has `seconds` from now."""
        self._deadline = self._loop.time() + self._seconds
        self._task = asyncio.current_task()
        self._waiting = True
        if self._handle is None:
            self._handle = self._loop.call_at(self._deadline, self._check)

    def end(self) -> None:
        """The wait is over (a chunk arrived, or it failed)."""
        self._waiting = False

    def _check(self) -> None:
        self._handle = None
        if not self._waiting or self._task is None:
            return
        if self._loop.time() >= self._deadline:
            self._fired = True
            self._task.cancel()
        else:
            self._handle = self._loop.call_at(self._deadline, self._check)

    def claim(self) -> bool:
        """After a cancellation: True if it was this watch's (then it is taken back)."""
        if not self._fired or self._task is None:
            return False
        self._fired = False
        return self._task.uncancel() == 0

    def stop(self) -> None:
        """Disarm for good."""
        self._waiting = False
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class Limit:
    """One request's place in `Deadlines`: its task, when it runs out, whether it did."""

    __slots__ = ("cancelling", "deadline", "done", "expired", "task")

    def __init__(self, task: asyncio.Task[object], deadline: float) -> None:
        self.task = task
        self.deadline = deadline
        self.cancelling = task.cancelling()
        self.done = False
        self.expired = False


_COMPACT_AT: Final = 64
"""Finished limits kept behind a slow one before the queue is cleaned out (amortised)."""


class Deadlines:
    """The deadlines of one pool's requests, each `seconds` after it starts: what
    `asyncio.timeout` does per request, with one timer for all of them.

    All limits have the same length, so they run out in the order they start: one timer, armed
    for the oldest unfinished one and re-armed lazily when it fires, serves them all, and
    starting or finishing a request costs no timer of its own. An expired limit cancels its
    task; `finish` tells whether that cancellation was the limit's (then it is taken back and
    the caller reports a timeout), as `asyncio.timeout` turns it into `TimeoutError`.
    """

    __slots__ = ("_handle", "_live", "_loop", "_pending", "_seconds")

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        self._loop = loop
        self._seconds = seconds
        self._pending: deque[Limit] = deque()
        self._live = 0
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> Limit:
        """The limit of the running task's request, from now on."""
        task = asyncio.current_task(self._loop)
        assert task is not None, "a request runs in a task"
        limit = Limit(task, self._loop.time() + self._seconds)
        pending = self._pending
        while pending and pending[0].done:
            pending.popleft()
        if len(pending) > _COMPACT_AT and len(pending) > 2 * self._live:
            pending = self._pending = deque(item for item in pending if not item.done)
        pending.append(limit)
        self._live += 1
        if self._handle is None:
            self._handle = self._loop.call_at(limit.deadline, self._expire)
        return limit

    def finish(self, limit: Limit) -> bool:
        """The request is over; True if its limit ran out and cancelled it (that cancellation is
        then taken back, and the caller raises its timeout instead)."""
        limit.done = True
        self._live -= 1
        return limit.expired and limit.task.uncancel() <= limit.cancelling

    def _expire(self) -> None:
        self._handle = None
        pending = self._pending
        now = self._loop.time()
        while pending:
            limit = pending[0]
            if limit.done:
                pending.popleft()
            elif limit.deadline <= now:
                pending.popleft()
                limit.expired = True
                limit.task.cancel()
            else:
                self._handle = self._loop.call_at(limit.deadline, self._expire)
                return

    def close(self) -> None:
        """Disarm the timer (the pool is closed)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class ChunkedBody:
    """What the streamed answers of both backends share: each wait for the next chunk limited
    by the stall timeout, and the start of the body of an error answer. A backend's answer
    sets `_stall_timeout` and `_watch`, and reads one chunk in `_next_chunk`."""

    __slots__ = ()

    _stall_timeout: float | None
    _watch: StallWatch | None

    def _stalled(self) -> TransportFailure:
        return TransportFailure(
            FailureKind.STALLED,
            f"no byte within {self._stall_timeout:g} seconds",
            before_response=False,
            seconds=self._stall_timeout,
        )

    async def next_chunk(self) -> bytes | None:
        """The next chunk of the body, None at its end; a stall or a broken connection raises."""
        watch = self._watch
        if watch is None:
            return await self._next_chunk()
        watch.begin()
        try:
            return await self._next_chunk()
        except asyncio.CancelledError:
            if watch.claim():
                raise self._stalled() from None
            raise
        finally:
            watch.end()

    async def _next_chunk(self) -> bytes | None:
        """The next chunk as the backend reads it; a broken connection raises."""
        raise NotImplementedError

    async def read_body(self, limit: int = ERROR_BODY_LIMIT) -> bytes:
        """Up to `limit` bytes of the body (for the text of an error answer)."""
        parts: list[bytes] = []
        size = 0
        while size < limit:
            chunk = await self.next_chunk()
            if chunk is None:
                break
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)[:limit]


class StreamResponse(ChunkedBody):
    """An answer whose body is read chunk by chunk, each wait limited by the stall timeout."""

    __slots__ = (
        "_chunks",
        "_response",
        "_stall_timeout",
        "_watch",
        "retry_after",
        "server",
        "status",
    )

    def __init__(self, response: httpx.Response, stall_timeout: float | None) -> None:
        self._response = response
        self._stall_timeout = stall_timeout
        self._chunks = response.aiter_bytes()
        self._watch = StallWatch(stall_timeout) if stall_timeout is not None else None
        self.status = response.status_code
        self.server, self.retry_after = _headers(response)

    async def _next_chunk(self) -> bytes | None:
        try:
            return await anext(self._chunks)
        except StopAsyncIteration:
            return None
        except (httpx.HTTPError, httpx.StreamError) as error:
            failure = _failure(
                error, before_response=False, seconds=self._stall_timeout, stream=True
            )
        raise failure  # outside the except block: no httpx exception as its context

    async def drain(self, grace: float) -> bool:
        """Read what is left of the body for at most `grace` seconds; True if it ended.

        A body read to its end lets the connection go back to the pool for reuse.
        """
        try:
            async with asyncio.timeout(grace):
                async for _ in self._chunks:
                    pass
        except (TimeoutError, httpx.HTTPError, httpx.StreamError):
            return False
        return True

    async def aclose(self) -> None:
        """Release the connection (closed unless the body was read to its end)."""
        if self._watch is not None:
            self._watch.stop()
        try:
            close_chunks = getattr(self._chunks, "aclose", None)
            if close_chunks is not None:
                await close_chunks()
            await self._response.aclose()
        except (httpx.HTTPError, httpx.StreamError) as error:
            _log.debug("closing a response failed: %s", type(error).__name__)
        finally:
            await release_closed_response(self._response)


async def _send(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """`client.send(request, stream=True)`; should it fail or be cancelled, a connection it
    left behind in the pool is closed (see `_pool_repair`)."""
    try:
        return await client.send(request, stream=True)
    except BaseException:
        await release_orphaned_connections(client)
        raise


P = TypeVar("P")


class LoopPool(Generic[P]):
    """A backend's connection pool, which belongs to one event loop at a time (see the module
    docstring): made on first use in the running loop, closed there when that loop shuts down,
    and made anew in the next loop.

    `open_pool` makes a pool in the running loop and `close_pool` closes one. A `given` pool is
    the caller's: never closed here, never made anew, and refused in a second event loop.
    `keeps_connections` names what holds connections outside the pool (a given httpx transport):
    after a loop closed without shutting down, a new pool would reuse them, so that is refused.
    """

    __slots__ = ("_close", "_closed", "_given", "_guard", "_keeper", "_loop", "_open", "_pool")

    def __init__(
        self,
        open_pool: Callable[[], P],
        close_pool: Callable[[P], Awaitable[None]],
        *,
        given: P | None = None,
        keeps_connections: str | None = None,
    ) -> None:
        self._open = open_pool
        self._close = close_pool
        self._keeper = keeps_connections
        self._given = given is not None
        self._pool: P | None = given
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        """The event loop the connections belong to (of the last request)."""
        self._guard: AsyncGenerator[None, None] | None = None
        """Suspended in `_loop` until it shuts down, then closes the pool there."""

    @property
    def current(self) -> P | None:
        """The pool as it is now, without making one."""
        return self._pool

    def ready(self) -> P | None:
        """The pool, if it is open and belongs to the running event loop (then `get` would
        return it at once): checked without a coroutine, once per request."""
        running = self._loop is asyncio.get_running_loop() and not self._closed
        if running and (self._given or self._guard is not None):
            return self._pool
        return None

    async def get(self) -> P:
        """The pool of the running event loop, made if there is none yet."""
        if self._closed:
            raise RuntimeError("the transport is closed")
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            await self._follow(loop)
        pool = self._pool
        if pool is None:
            pool = self._pool = self._open()
        if not self._given and self._guard is None:
            guard = self._close_when_loop_ends(loop)
            await anext(guard)  # started, so the loop's shutdown closes it
            self._guard = guard
        return pool

    async def _follow(self, loop: asyncio.AbstractEventLoop) -> None:
        """Move to `loop`, leaving the previous loop's pool behind if that loop is gone."""
        previous = self._loop
        if previous is not None and self._pool is not None:
            if self._given:
                raise EventLoopMismatchError(
                    "the httpx.AsyncClient given as http_client was used in another event loop, "
                    "and its connections belong to that loop: create the httpx.AsyncClient and "
                    "the Client inside the event loop that uses them, or let the Client create "
                    "its own connection pool, which follows the event loop"
                )
            if not previous.is_closed():
                raise EventLoopMismatchError(
                    "this Client was used in another event loop that is still open, and its "
                    "connections belong to that loop: use one Client per event loop (a Client "
                    "moves to a new loop by itself once its previous loop is closed, as after "
                    "asyncio.run)"
                )
            if self._keeper is not None:
                raise EventLoopMismatchError(
                    f"{self._keeper} was used in an event loop that was closed without shutting "
                    "down, so its connections may still belong to that loop: shut a loop down "
                    "before closing it (loop.run_until_complete(loop.shutdown_asyncgens()); "
                    "asyncio.run does), or give the Client a new one"
                )
            # closed without shutting down its async generators: nothing can close the pool now
            _log.debug("the event loop of the connection pool was closed; opening a new pool")
            self._pool = None
        guard, self._guard = self._guard, None
        if guard is not None:
            await guard.aclose()
        self._loop = loop

    async def _close_when_loop_ends(
        self, loop: asyncio.AbstractEventLoop
    ) -> AsyncGenerator[None, None]:
        """Wait, suspended, until `loop` shuts down its async generators; then close the pool."""
        try:
            yield
        finally:
            if asyncio.get_running_loop() is loop and self._loop is loop:
                pool, self._pool = self._pool, None
                self._guard = None
                if pool is not None:
                    await self._close(pool)

    async def aclose(self) -> None:
        """Close the pool (unless it is the caller's) in the event loop it belongs to; `get()`
        refuses from then on."""
        loop = self._loop
        open_elsewhere = (
            loop is not None and loop is not asyncio.get_running_loop() and not loop.is_closed()
        )
        if open_elsewhere and not self._given and self._pool is not None:
            raise EventLoopMismatchError(
                "this Client's connections belong to another event loop, which is still "
                "open: close the Client in the event loop that uses it"
            )
        self._closed = True
        pool, self._pool = self._pool, None
        if not self._given and pool is not None and (loop is None or not loop.is_closed()):
            await self._close(pool)
        guard, self._guard = self._guard, None
        if guard is not None:
            await guard.aclose()


class StreamAnswer(Protocol):
    """A streamed answer, whatever the backend: status, headers, and the body chunk by chunk."""

    status: int
    server: str | None
    retry_after: str | None

    async def next_chunk(self) -> bytes | None: ...

    async def read_body(self, limit: int = ERROR_BODY_LIMIT) -> bytes: ...

    async def drain(self, grace: float) -> bool: ...


class Backend(Protocol):
    """What the client needs of a transport: one-shot requests, streams, and closing.

    Two implement it: `Transport` on httpx (an injected `httpx.AsyncClient` or httpx
    transport) and `AiohttpTransport` (`_transport_aiohttp`, the client's own socket path).
    Both raise only `TransportFailure`, with the same kinds for the same events.
    """

    async def send(self, request: Request, headers: dict[str, str]) -> Response: ...

    def stream(
        self, request: Request, headers: dict[str, str]
    ) -> AbstractAsyncContextManager[StreamAnswer]: ...

    async def aclose(self) -> None: ...


def open_transport(
    base_url: str,
    *,
    http_client: httpx.AsyncClient | None,
    timeout: float | None,
    stall_timeout: float | None,
    connect_timeout: float | None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Backend:
    """The backend for a client: httpx when given an httpx client or transport, else the
    client's own pool on aiohttp (measured faster per request: docs/performance.md)."""
    if http_client is None and transport is None:
        from eventsourcingdb._transport_aiohttp import AiohttpTransport

        return AiohttpTransport(
            base_url,
            timeout=timeout,
            stall_timeout=stall_timeout,
            connect_timeout=connect_timeout,
        )
    return Transport(
        base_url,
        http_client=http_client,
        timeout=timeout,
        stall_timeout=stall_timeout,
        connect_timeout=connect_timeout,
        transport=transport,
    )


class Transport:
    """Sends requests through an httpx `AsyncClient`, created on first use unless one is given.

    A given client stays the caller's (it is not closed here); the timeouts apply per request to
    it as well.
    """

    def __init__(
        self,
        base_url: str,
        *,
        http_client: httpx.AsyncClient | None,
        timeout: float | None,
        stall_timeout: float | None,
        connect_timeout: float | None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if isinstance(http_client, httpx.Client):
            raise AsyncMismatchError(
                "http_client is a blocking httpx.Client, which the async Client cannot use: pass "
                "an httpx.AsyncClient, or use the blocking eventsourcingdb.sync.Client with it"
            )
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise InvalidArgumentError(
                f"http_client must be an httpx.AsyncClient, got {type(http_client).__name__}"
            )
        if isinstance(transport, httpx.BaseTransport) and not isinstance(
            transport, httpx.AsyncBaseTransport
        ):
            raise AsyncMismatchError(
                f"transport is a blocking httpx transport ({type(transport).__name__}), which the "
                "async Client cannot use: pass an httpx.AsyncBaseTransport (for the emulator, "
                "Emulator.async_transport()), or use the blocking eventsourcingdb.sync.Client"
            )
        if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
            raise InvalidArgumentError(
                f"transport must be an httpx.AsyncBaseTransport, got {type(transport).__name__}"
            )
        if transport is not None and http_client is not None:
            raise InvalidArgumentError(
                "pass either http_client or transport, not both: give the transport to your "
                "httpx.AsyncClient instead"
            )
        self._base_url = base_url.rstrip("/")
        self._custom_transport = transport
        self._clients: LoopPool[httpx.AsyncClient] = LoopPool(
            self._open_client,
            lambda client: client.aclose(),
            given=http_client,
            keeps_connections=None
            if transport is None
            else "the httpx transport given as transport",
        )
        self._timeout = timeout
        self._stall_timeout = stall_timeout
        own_pool = http_client is None and transport is None
        self._pool_size: int | None = POOL_LIMITS.max_connections if own_pool else None
        self._traced = own_pool
        """Whether the transport reports through `trace` when a request got its connection:
        known for the client's own pool, learnt from the first report otherwise."""
        self._one_shot_timeouts = httpx.Timeout(
            connect=connect_timeout, read=timeout, write=timeout, pool=timeout
        )
        self._stream_timeouts = httpx.Timeout(
            connect=connect_timeout, read=stall_timeout, write=timeout, pool=timeout
        )

    def _open_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=self._one_shot_timeouts,
            limits=POOL_LIMITS,
            follow_redirects=False,
            transport=self._custom_transport,
        )

    async def _http(self) -> httpx.AsyncClient:
        return await self._clients.get()

    def _build(
        self,
        client: httpx.AsyncClient,
        request: Request,
        headers: dict[str, str],
        stream: bool,
        trace: Trace | None,
    ) -> httpx.Request:
        return client.build_request(
            request.method,
            self._base_url + request.path,
            content=request.body,
            headers=headers,
            timeout=self._stream_timeouts if stream else self._one_shot_timeouts,
            extensions=None if trace is None else {"trace": trace},
        )

    def _deadline_trace(self, deadline: asyncio.Timeout, seconds: float | None) -> Trace | None:
        """Arm `deadline` to end `seconds` after the request got a connection.

        With a transport known to report that (through the `trace` extension), the deadline
        starts at its first report, so waiting for a free connection does not count. With any
        other transport it starts now, and moves to the first report should one come.
        """
        if seconds is None:
            return None
        loop = asyncio.get_running_loop()
        if not self._traced:
            deadline.reschedule(loop.time() + seconds)
        started = False

        async def trace(name: str, info: dict[str, Any]) -> None:
            nonlocal started
            if not started:
                started = True
                self._traced = True
                deadline.reschedule(loop.time() + seconds)

        return trace

    def _failure(
        self, error: Exception, *, before_response: bool, seconds: float | None, stream: bool
    ) -> TransportFailure:
        return _failure(
            error,
            before_response=before_response,
            seconds=seconds,
            stream=stream,
            pool_seconds=self._timeout,
            pool_size=self._pool_size,
        )

    async def send(self, request: Request, headers: dict[str, str]) -> Response:
        """Send `request` and read its whole answer within the request timeout (counted from
        the moment the request has a connection)."""
        client = await self._http()
        answered = False
        try:
            async with asyncio.timeout(None) as deadline:
                trace = self._deadline_trace(deadline, self._timeout)
                http_request = self._build(client, request, headers, False, trace)
                response = await _send(client, http_request)
                answered = True
                try:
                    body = await response.aread()
                finally:
                    try:
                        await response.aclose()
                    finally:
                        await release_closed_response(response)
        except TimeoutError:
            failure = deadline_failure(self._timeout, answered=answered)
        except (httpx.HTTPError, httpx.StreamError) as error:
            failure = self._failure(
                error, before_response=not answered, seconds=self._timeout, stream=False
            )
        else:
            server, retry_after = _headers(response)
            return Response(response.status_code, server, retry_after, body)
        raise failure  # outside the except blocks: no httpx exception as its context

    @asynccontextmanager
    async def stream(
        self, request: Request, headers: dict[str, str]
    ) -> AsyncIterator[StreamResponse]:
        """Send `request` and yield its answer for reading chunk by chunk; closes it on exit.

        Waiting for the status line counts against the stall timeout too (from the moment the
        request has a connection).
        """
        client = await self._http()
        failure: TransportFailure | None = None
        try:
            async with asyncio.timeout(None) as deadline:
                trace = self._deadline_trace(deadline, self._stall_timeout)
                http_request = self._build(client, request, headers, True, trace)
                response = await _send(client, http_request)
        except TimeoutError:
            limit = self._stall_timeout if self._stall_timeout is not None else 0.0
            failure = TransportFailure(
                FailureKind.STALLED,
                f"no answer within {limit:g} seconds",
                before_response=True,
                seconds=self._stall_timeout,
            )
        except (httpx.HTTPError, httpx.StreamError) as error:
            failure = self._failure(
                error, before_response=True, seconds=self._stall_timeout, stream=True
            )
        if failure is not None:
            raise failure  # outside the except blocks: no httpx exception as its context
        answer = StreamResponse(response, self._stall_timeout)
        try:
            yield answer
        finally:
            await answer.aclose()

    async def aclose(self) -> None:
        """Close the httpx client if this transport created it; a given one stays open."""
        await self._clients.aclose()
