"""The blocking client's own socket path: the transport interface of `sync._transport` on urllib3.

A blocking client that is given neither an httpx client nor an httpx transport sends through
this backend; httpx's per-request machinery costs more than the request itself on a fast server
(docs/performance.md). It keeps the semantics of the httpx one exactly (`sync._transport`'s
docstring): the pool holds 100 connections, and waiting for one of them is limited by the request
timeout and fails as `POOL_EXHAUSTED` without sending anything; the deadline of a one-shot request
starts once it holds a connection and is checked as bytes arrive; each wait of a stream is
limited by the stall timeout; `interrupt()` shuts the socket down; every urllib3 failure becomes
a `TransportFailure` of the same kind the httpx one would be.

The pool is a semaphore of this module in front of urllib3's (which never waits itself), so the
moment a request holds a connection is known. urllib3 retries nothing and follows no redirect
here: what to send again is the client's decision (`_protocol.retries`). This module is imported
when a blocking client without httpx is created, not when the package is imported.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final
from urllib.parse import urlsplit

import urllib3
from urllib3 import exceptions as u3
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.response import BaseHTTPResponse

from eventsourcingdb import _wire
from eventsourcingdb._network import proxy_for, ssl_context
from eventsourcingdb._protocol.errors import FailureKind, TransportCause, TransportFailure
from eventsourcingdb._protocol.requests import Request
from eventsourcingdb._transport import POOL_LIMITS, Response, deadline_failure, pool_failure
from eventsourcingdb.sync._transport import ChunkedBody, Deadline, DeadlinePassed

_log = logging.getLogger("eventsourcingdb.transport")

POOL_SIZE: Final = POOL_LIMITS.max_connections or 100
"""The connections of the client's own pool, the same number as with httpx."""

CHUNK: Final = 2**16
"""The most one read takes from the socket (it returns what has arrived, up to this)."""

_ERRORS: Final = (u3.HTTPError, http.client.HTTPException, OSError)
"""What urllib3 raises for a request that failed on the way (its own errors, and the standard
library's that reach through)."""

_NO_RETRIES: Final = urllib3.Retry(total=False, redirect=False)
"""urllib3 raises a failure as it is instead of sending again."""

_ACCEPT: Final = urllib3.util.make_headers(accept_encoding=True)
"""The content encodings the answer may use, those httpx asks for (urllib3 decodes them)."""

_CONNECTING: Final = (
    u3.NewConnectionError,
    u3.ConnectTimeoutError,
    u3.ProxyError,
    u3.LocationValueError,
)
"""Failures of making the connection (refused, or an unknown host: `NewConnectionError`s)."""

_HANDSHAKE_ONLY: Final = (ssl.SSLCertVerificationError, ssl.CertificateError)
"""TLS failures that can only happen while connecting, before anything was sent."""


def _chain(error: BaseException) -> Iterator[BaseException]:
    """`error`, the errors it wraps (urllib3 keeps them in its arguments), and their causes."""
    seen: list[BaseException] = [error]
    while seen:
        current = seen.pop()
        yield current
        seen.extend(arg for arg in current.args if isinstance(arg, BaseException))
        if current.__cause__ is not None:
            seen.append(current.__cause__)


def _not_sent(error: BaseException) -> bool:
    """Whether `error` happened before anything was sent: while connecting (refused, no such
    host, the connect timeout, the proxy, a certificate refused) or with a URL urllib3 cannot
    use."""
    if isinstance(error, u3.SSLError):
        return any(isinstance(inner, _HANDSHAKE_ONLY) for inner in _chain(error))
    return isinstance(error, _CONNECTING)


def _failure(
    error: BaseException, *, before_response: bool, seconds: float | None, stream: bool
) -> TransportFailure:
    """The failure for a urllib3 exception: its text, never the exception itself.

    Not sent: the connection could not be made (refused, no such host, connect timeout, the
    proxy, a certificate refused). A timeout: a read (or the send) waited longer than its
    limit, which on a stream is a stall. Malformed: a content encoding that does not decode.
    Lost: anything else, including a connection that broke after the request went out.
    """
    message = str(error)
    name = type(error).__name__
    detail = f"{name}: {message}" if message else name
    cause = TransportCause(name, message)
    if _not_sent(error):
        kind = FailureKind.NOT_SENT
    elif isinstance(error, u3.ReadTimeoutError | TimeoutError) or any(
        isinstance(inner, TimeoutError) for inner in _chain(error)
    ):
        kind = FailureKind.STALLED if stream else FailureKind.TIMEOUT
    elif isinstance(error, u3.DecodeError):
        kind = FailureKind.MALFORMED
    else:
        kind = FailureKind.LOST
    return TransportFailure(
        kind, detail, before_response=before_response, seconds=seconds, cause=cause
    )


def _release(response: BaseHTTPResponse) -> None:
    """Give the connection of `response` back to the pool: as it is if the body was read to its
    end (urllib3 has then given it back already), else closed."""
    if response.connection is None:
        return
    try:
        response.close()
    except _ERRORS as error:
        _log.debug("closing a response failed: %s", type(error).__name__)
    finally:
        response.release_conn()


class Urllib3Stream(ChunkedBody):
    """A streamed answer on urllib3: the body chunk by chunk, each wait limited by the stall
    timeout (the socket's read timeout)."""

    __slots__ = ("_read", "_response", "_stall_timeout", "retry_after", "server", "status")

    def __init__(self, response: BaseHTTPResponse, stall_timeout: float | None) -> None:
        self._response = response
        self._read = response.read1
        self._stall_timeout = stall_timeout
        self.status = response.status
        headers = response.headers
        self.server = headers.get(_wire.SERVER_HEADER)
        self.retry_after = headers.get(_wire.RETRY_AFTER_HEADER)

    def next_chunk(self) -> bytes | None:
        """The next chunk of the body, None at its end; a stall or a broken connection raises."""
        try:
            chunk = self._read(CHUNK)
        except _ERRORS as error:
            failure = _failure(
                error, before_response=False, seconds=self._stall_timeout, stream=True
            )
        else:
            return chunk or None
        raise failure  # outside the except block: no urllib3 exception as its context

    def interrupt(self) -> None:
        """From another thread: end a read blocked on this answer (it then fails at once)."""
        sock = getattr(self._response.connection, "sock", None)
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Urllib3Transport:
    """Sends requests through a urllib3 connection pool of its own, created on first use."""

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
        self._pool_size = pool_size
        self._slots = threading.BoundedSemaphore(pool_size)
        """One per connection of the pool: a request holds one from before it connects until
        its answer is read or closed."""
        self._one_shot = urllib3.Timeout(connect=connect_timeout, read=timeout)
        self._streaming = urllib3.Timeout(connect=connect_timeout, read=stall_timeout)
        self._lock = threading.Lock()
        self._pool: HTTPConnectionPool | None = None
        self._manager: urllib3.PoolManager | None = None
        self._target: Callable[[str], str] = (urlsplit(self._base_url).path).__add__
        """The request target of a path: under the base URL's path, or the whole URL for a
        proxy that forwards plain HTTP."""
        self._closed = False

    @property
    def busy_connections(self) -> int:
        """How many connections of the pool requests and open streams hold right now."""
        return self._pool_size - self._slots._value

    def _http(self) -> HTTPConnectionPool:
        pool = self._pool
        if pool is not None and not self._closed:
            return pool
        with self._lock:
            if self._closed:
                raise RuntimeError("the transport is closed")
            if self._pool is None:
                self._pool = self._open_pool()
            return self._pool

    def _open_pool(self) -> HTTPConnectionPool:
        https = self._base_url.startswith("https:")
        settings: dict[str, Any] = {
            "maxsize": self._pool_size,
            "block": False,  # the slots wait instead, with the request timeout
            "timeout": self._one_shot,
            "retries": _NO_RETRIES,
        }
        if https:
            settings["ssl_context"] = ssl_context()
        proxy = proxy_for(self._base_url)
        if proxy is None:
            return urllib3.connection_from_url(self._base_url, **settings)
        self._manager = urllib3.ProxyManager(proxy, num_pools=1, **settings)
        if not https:
            self._target = self._base_url.__add__
        return self._manager.connection_from_url(self._base_url)

    def _hold_connection(self) -> None:
        """Take a connection slot, waiting at most the request timeout for one to become free."""
        if self._slots.acquire(blocking=False):
            return
        if not self._slots.acquire(timeout=self._timeout):
            raise pool_failure(self._timeout, self._pool_size)

    def _open(
        self,
        pool: HTTPConnectionPool,
        request: Request,
        headers: dict[str, str],
        timeout: urllib3.Timeout,
    ) -> BaseHTTPResponse:
        return pool.urlopen(
            request.method,
            self._target(request.path),
            body=request.body,
            headers={**_ACCEPT, **headers},
            retries=_NO_RETRIES,
            redirect=False,
            assert_same_host=False,
            timeout=timeout,
            preload_content=False,
            release_conn=False,
            decode_content=True,
        )

    def send(self, request: Request, headers: dict[str, str]) -> Response:
        """Send `request` and read its whole answer within the request timeout (counted from
        the moment the request holds a connection)."""
        pool = self._http()
        self._hold_connection()
        deadline = Deadline(self._timeout, start_now=True)
        response: BaseHTTPResponse | None = None
        try:
            response = self._open(pool, request, headers, self._one_shot)
            parts: list[bytes] = []
            deadline.check()
            read = response.read1
            while chunk := read(CHUNK):
                parts.append(chunk)
                deadline.check()
            answer = response.headers
            return Response(
                response.status,
                answer.get(_wire.SERVER_HEADER),
                answer.get(_wire.RETRY_AFTER_HEADER),
                b"".join(parts),
            )
        except DeadlinePassed:
            failure = deadline_failure(self._timeout, answered=response is not None)
        except _ERRORS as error:
            failure = _failure(
                error, before_response=response is None, seconds=self._timeout, stream=False
            )
        finally:
            try:
                if response is not None:
                    _release(response)
            finally:
                self._slots.release()
        raise failure  # outside the except blocks: no urllib3 exception as its context

    @contextmanager
    def stream(self, request: Request, headers: dict[str, str]) -> Iterator[Urllib3Stream]:
        """Send `request` and yield its answer for reading chunk by chunk; closes it on exit.

        Waiting for the status line is limited by the stall timeout too.
        """
        pool = self._http()
        self._hold_connection()
        try:
            failure: TransportFailure | None = None
            try:
                response = self._open(pool, request, headers, self._streaming)
            except _ERRORS as error:
                failure = _failure(
                    error, before_response=True, seconds=self._stall_timeout, stream=True
                )
            if failure is not None:
                raise failure  # outside the except block: no urllib3 exception as its context
            try:
                yield Urllib3Stream(response, self._stall_timeout)
            finally:
                _release(response)
        finally:
            self._slots.release()

    def close(self) -> None:
        """Close the pool's idle connections; those in use close when they come back."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
            manager, self._manager = self._manager, None
        if manager is not None:
            manager.clear()
        elif pool is not None:
            pool.close()


__all__ = ["Urllib3Stream", "Urllib3Transport"]
