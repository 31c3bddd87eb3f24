"""The blocking twin of `eventsourcingdb._transport`: sends `Request` values and hands back
bytes, with the same limits and the same failures, through one of two backends (`Backend`):
`Transport` on an `httpx.Client` (an injected one, or the client's own over an injected httpx
transport such as the emulator's in-process one), and `Urllib3Transport`
(`_transport_urllib3`), the client's own connection pool when it is given neither.

Blocking code has no task to cancel, so every limit is a limit on one wait, which the HTTP
library applies to each socket operation: a stream fails after `stall_timeout` seconds without a
byte (the wait for the status line included), exactly as the async transport's stall timeout
does. A one-shot answer must also be complete within `timeout` seconds of the request getting
its connection (the pool wait does not count, as in the async transport); that total is checked
whenever bytes arrive, so an answer trickling in slower than the deadline ends at the first
chunk after it, while a server that sends nothing at all fails after `timeout` seconds of
silence.

Transports without sockets (the emulator in process, mocks) get the same limits through the
`timeout` extension of each request, which they are expected to honour as httpx's own do.

A stream can be interrupted from another thread (`StreamResponse.interrupt`): the socket is shut
down, so that a read blocked on it returns at once; without a socket the response is closed.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

import httpx

from eventsourcingdb._protocol.errors import TransportFailure
from eventsourcingdb._protocol.requests import Request
from eventsourcingdb._transport import (
    ERROR_BODY_LIMIT,
    POOL_LIMITS,
    Response,
    _failure,
    _headers,
    deadline_failure,
)
from eventsourcingdb.errors import AsyncMismatchError, InvalidArgumentError

_log = logging.getLogger("eventsourcingdb.transport")

Trace = Callable[[str, dict[str, Any]], None]


class DeadlinePassed(Exception):
    """The total time of a one-shot answer ran out while bytes were still arriving."""


class Deadline:
    """When a one-shot answer must be complete: `seconds` after the request got a connection.

    With httpx, started when httpx reports the connection (its `trace` extension); a transport
    that never reports one has no pool to wait for, and its deadline starts when the request is
    sent. The urllib3 backend starts it once the request holds a slot of its pool.
    """

    __slots__ = ("_at", "_seconds")

    def __init__(self, seconds: float | None, *, start_now: bool) -> None:
        self._seconds = seconds
        self._at = time.monotonic() + seconds if start_now and seconds is not None else None

    def start(self) -> None:
        if self._seconds is not None:
            self._at = time.monotonic() + self._seconds

    def check(self) -> None:
        """Raise `DeadlinePassed` if the deadline has passed."""
        if self._at is not None and time.monotonic() > self._at:
            raise DeadlinePassed


class ChunkedBody:
    """What the streamed answers of both backends share: the start of the body of an error
    answer, and draining the rest of a body. A backend's answer reads one chunk in
    `next_chunk` (each wait limited by the stall timeout; failures as `TransportFailure`)."""

    __slots__ = ()

    def next_chunk(self) -> bytes | None:
        """The next chunk of the body, None at its end; a stall or a broken connection raises."""
        raise NotImplementedError

    def read_body(self, limit: int = ERROR_BODY_LIMIT) -> bytes:
        """Up to `limit` bytes of the body (for the text of an error answer)."""
        parts: list[bytes] = []
        size = 0
        while size < limit:
            chunk = self.next_chunk()
            if chunk is None:
                break
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)[:limit]

    def drain(self, grace: float) -> bool:
        """Read what is left of the body, for about `grace` seconds; True if it ended.

        A body read to its end lets the connection go back to the pool for reuse. The time is
        checked as chunks arrive; a single wait is limited by the stall timeout.
        """
        until = time.monotonic() + grace
        try:
            while self.next_chunk() is not None:
                if time.monotonic() > until:
                    return False
        except TransportFailure:
            return False
        return True


class StreamAnswer(Protocol):
    """A streamed answer, whatever the backend: status, headers, the body chunk by chunk, and
    `interrupt()` for another thread to end a read blocked on it."""

    status: int
    server: str | None
    retry_after: str | None

    def next_chunk(self) -> bytes | None: ...

    def read_body(self, limit: int = ERROR_BODY_LIMIT) -> bytes: ...

    def drain(self, grace: float) -> bool: ...

    def interrupt(self) -> None: ...


class Backend(Protocol):
    """What the blocking client needs of a transport: one-shot requests, streams, and closing.

    Two implement it, `Transport` (httpx) and `Urllib3Transport`; both raise only
    `TransportFailure`, with the same kinds for the same events.
    """

    def send(self, request: Request, headers: dict[str, str]) -> Response: ...

    def stream(
        self, request: Request, headers: dict[str, str]
    ) -> AbstractContextManager[StreamAnswer]: ...

    def close(self) -> None: ...


def open_transport(
    base_url: str,
    *,
    http_client: httpx.Client | None,
    timeout: float | None,
    stall_timeout: float | None,
    connect_timeout: float | None,
    transport: httpx.BaseTransport | None = None,
) -> Backend:
    """The backend for a blocking client: httpx when given an httpx client or transport, else
    the client's own pool on urllib3 (measured faster per request: docs/performance.md)."""
    if http_client is None and transport is None:
        from eventsourcingdb.sync._transport_urllib3 import Urllib3Transport

        return Urllib3Transport(
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


class StreamResponse(ChunkedBody):
    """An answer whose body is read chunk by chunk, each wait limited by the stall timeout."""

    __slots__ = ("_chunks", "_response", "_stall_timeout", "retry_after", "server", "status")

    def __init__(self, response: httpx.Response, stall_timeout: float | None) -> None:
        self._response = response
        self._stall_timeout = stall_timeout
        self._chunks = response.iter_bytes()
        self.status = response.status_code
        self.server, self.retry_after = _headers(response)

    def next_chunk(self) -> bytes | None:
        """The next chunk of the body, None at its end; a stall or a broken connection raises."""
        try:
            return next(self._chunks, None)
        except (httpx.HTTPError, httpx.StreamError) as error:
            failure = _failure(
                error, before_response=False, seconds=self._stall_timeout, stream=True
            )
        raise failure  # outside the except block: no httpx exception as its context

    def interrupt(self) -> None:
        """From another thread: end a read blocked on this answer (it then fails at once)."""
        network_stream = self._response.extensions.get("network_stream")
        sock = None
        if network_stream is not None:
            with contextlib.suppress(Exception):
                sock = network_stream.get_extra_info("socket")
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            return
        with contextlib.suppress(Exception):
            self._response.close()

    def close(self) -> None:
        """Release the connection (closed unless the body was read to its end)."""
        try:
            self._response.close()
        except (httpx.HTTPError, httpx.StreamError) as error:
            _log.debug("closing a response failed: %s", type(error).__name__)


class Transport:
    """Sends requests through an httpx `Client`, created on first use unless one is given (the
    client then sends through the given httpx transport, or httpx's own socket pool).

    A given client stays the caller's (it is not closed here); the timeouts apply per request to
    it as well.
    """

    def __init__(
        self,
        base_url: str,
        *,
        http_client: httpx.Client | None,
        timeout: float | None,
        stall_timeout: float | None,
        connect_timeout: float | None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if isinstance(http_client, httpx.AsyncClient):
            raise AsyncMismatchError(
                "http_client is an httpx.AsyncClient, which the blocking client cannot use: pass "
                "an httpx.Client, or use the async eventsourcingdb.Client with this AsyncClient"
            )
        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise InvalidArgumentError(
                f"http_client must be an httpx.Client, got {type(http_client).__name__}"
            )
        if isinstance(transport, httpx.AsyncBaseTransport) and not isinstance(
            transport, httpx.BaseTransport
        ):
            raise AsyncMismatchError(
                f"transport is an async httpx transport ({type(transport).__name__}), which the "
                "blocking client cannot use: pass an httpx.BaseTransport (for the emulator, "
                "Emulator.sync_transport()), or use the async eventsourcingdb.Client"
            )
        if transport is not None and not isinstance(transport, httpx.BaseTransport):
            raise InvalidArgumentError(
                f"transport must be an httpx.BaseTransport, got {type(transport).__name__}"
            )
        if transport is not None and http_client is not None:
            raise InvalidArgumentError(
                "pass either http_client or transport, not both: give the transport to your "
                "httpx.Client instead"
            )
        self._base_url = base_url.rstrip("/")
        self._client = http_client
        self._custom_transport = transport
        self._owns_client = http_client is None
        self._closed = False
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

    def _http(self) -> httpx.Client:
        if self._closed:
            raise RuntimeError("the transport is closed")
        if self._client is None:
            self._client = httpx.Client(
                timeout=self._one_shot_timeouts,
                limits=POOL_LIMITS,
                follow_redirects=False,
                transport=self._custom_transport,
            )
        return self._client

    def _build(
        self, request: Request, headers: dict[str, str], stream: bool, trace: Trace | None
    ) -> httpx.Request:
        return self._http().build_request(
            request.method,
            self._base_url + request.path,
            content=request.body,
            headers=headers,
            timeout=self._stream_timeouts if stream else self._one_shot_timeouts,
            extensions=None if trace is None else {"trace": trace},
        )

    def _deadline(self) -> tuple[Deadline, Trace | None]:
        """The deadline of a one-shot request, and the trace hook that starts it on connection."""
        deadline = Deadline(self._timeout, start_now=not self._traced)
        if self._timeout is None:
            return deadline, None
        started = False

        def trace(name: str, info: dict[str, Any]) -> None:
            nonlocal started
            if not started:
                started = True
                self._traced = True
                deadline.start()

        return deadline, trace

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

    def send(self, request: Request, headers: dict[str, str]) -> Response:
        """Send `request` and read its whole answer within the request timeout (counted from
        the moment the request has a connection)."""
        client = self._http()
        deadline, trace = self._deadline()
        answered = False
        try:
            http_request = self._build(request, headers, False, trace)
            response = client.send(http_request, stream=True)
            answered = True
            try:
                parts: list[bytes] = []
                deadline.check()
                for chunk in response.iter_bytes():
                    parts.append(chunk)
                    deadline.check()
            finally:
                response.close()
        except DeadlinePassed:
            failure = deadline_failure(self._timeout, answered=answered)
        except (httpx.HTTPError, httpx.StreamError) as error:
            failure = self._failure(
                error, before_response=not answered, seconds=self._timeout, stream=False
            )
        else:
            server, retry_after = _headers(response)
            return Response(response.status_code, server, retry_after, b"".join(parts))
        raise failure  # outside the except blocks: no httpx exception as its context

    @contextmanager
    def stream(self, request: Request, headers: dict[str, str]) -> Iterator[StreamResponse]:
        """Send `request` and yield its answer for reading chunk by chunk; closes it on exit.

        Waiting for the status line is limited by the stall timeout too.
        """
        client = self._http()
        failure: TransportFailure | None = None
        try:
            http_request = self._build(request, headers, True, None)
            response = client.send(http_request, stream=True)
        except (httpx.HTTPError, httpx.StreamError) as error:
            failure = self._failure(
                error, before_response=True, seconds=self._stall_timeout, stream=True
            )
        if failure is not None:
            raise failure  # outside the except block: no httpx exception as its context
        answer = StreamResponse(response, self._stall_timeout)
        try:
            yield answer
        finally:
            answer.close()

    def close(self) -> None:
        """Close the httpx client if this transport created it; a given one stays open."""
        self._closed = True
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            client.close()


__all__ = [
    "Backend",
    "ChunkedBody",
    "Deadline",
    "DeadlinePassed",
    "StreamAnswer",
    "StreamResponse",
    "Transport",
    "open_transport",
]
