"""The open connections of the socket front end: cut by faults and restarts, kept within limits.

ASGI has no way to drop a connection without answering, so the uvicorn protocol is subclassed
to register each connection's transport under the client address that the ASGI scope carries
(`scope["client"]`). The subclass also enforces what uvicorn lacks (`ConnectionLimits`): a cap
on connections that closes the longest-waiting idle one to make room, a timeout for the request
head (slowloris) and one for idle connections. It parses nothing itself: whether a connection
waits for a request is h11's state. Overload is logged once per episode, not per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import Any, Final

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from eventsourcingdb.emulator.options import ConnectionLimits

__all__ = ["ConnectionGuard", "ConnectionTable", "OnceLogger", "tracked_protocol"]

_logger = logging.getLogger("eventsourcingdb.emulator")

SWEEP_INTERVAL: Final = 0.25
"""How often (seconds) the guard looks for connections past their header or idle timeout."""

Peer = tuple[str, int]


def _peer(transport: asyncio.BaseTransport) -> Peer | None:
    """The client address as uvicorn puts it into the scope: host and port."""
    address = transport.get_extra_info("peername")
    if isinstance(address, list | tuple) and len(address) >= 2:
        return str(address[0]), int(address[1])
    return None


class ConnectionTable:
    """Transports by client address; cutting one is safe from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[Peer, tuple[asyncio.AbstractEventLoop, asyncio.BaseTransport]] = {}
        self._served = False
        """Whether our socket server registers its connections here."""

    def add(self, transport: asyncio.BaseTransport) -> None:
        """Register a new connection (on its loop)."""
        self._served = True
        peer = _peer(transport)
        if peer is not None:
            with self._lock:
                self._open[peer] = (asyncio.get_running_loop(), transport)

    def discard(self, transport: asyncio.BaseTransport) -> None:
        """Forget a closed connection."""
        peer = _peer(transport)
        with self._lock:
            if peer is not None and self._open.get(peer, (None, None))[1] is transport:
                del self._open[peer]

    def cut(self, client: Any) -> bool:
        """Close the connection of `scope["client"]` at once, unanswered; False where that is
        not possible (no connection is registered here: the app runs in another server).

        A connection that is gone already (a restart cut it, or its client closed it) needs no
        cut.
        """
        if not self._served or not isinstance(client, list | tuple) or len(client) < 2:
            return False
        with self._lock:
            entry = self._open.get((str(client[0]), int(client[1])))
        if entry is not None:
            _abort(*entry)
        return True

    def cut_all(self) -> int:
        """Close every open connection at once; returns how many."""
        with self._lock:
            entries = list(self._open.values())
        for entry in entries:
            _abort(*entry)
        return len(entries)


def _abort(loop: asyncio.AbstractEventLoop, transport: asyncio.BaseTransport) -> None:
    def abort() -> None:
        if isinstance(transport, asyncio.WriteTransport):
            transport.abort()
        else:
            transport.close()

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        abort()
    else:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the connection is gone
            loop.call_soon_threadsafe(abort)


class OnceLogger:
    """Logs each distinct message at most once a minute: an attacker cannot flood the log."""

    def __init__(self, logger: logging.Logger, period: float = 60.0) -> None:
        self._logger = logger
        self._period = period
        self._last: dict[str, float] = {}

    def warning(self, message: str, *args: object, **kwargs: Any) -> None:
        now = time.monotonic()
        if now - self._last.get(message, -self._period) >= self._period:
            self._last[message] = now
            self._logger.warning(message, *args, **kwargs)

    def info(self, message: str, *args: object, **kwargs: Any) -> None:
        self._logger.info(message, *args, **kwargs)

    def debug(self, message: str, *args: object, **kwargs: Any) -> None:
        self._logger.debug(message, *args, **kwargs)

    def error(self, message: str, *args: object, **kwargs: Any) -> None:
        self._logger.error(message, *args, **kwargs)

    def exception(self, message: str, *args: object, **kwargs: Any) -> None:
        self._logger.exception(message, *args, **kwargs)

    def log(self, level: int, message: str, *args: object, **kwargs: Any) -> None:
        self._logger.log(level, message, *args, **kwargs)

    @property
    def level(self) -> int:
        return self._logger.getEffectiveLevel()


class ConnectionGuard:
    """The connections of one server, kept within its `ConnectionLimits` (on its event loop)."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self._open: dict[_Guarded, None] = {}  # in order of arrival
        self._sweeping: asyncio.TimerHandle | None = None
        self._overloaded = False
        self.log = OnceLogger(logging.getLogger("eventsourcingdb.emulator.http"))

    def __len__(self) -> int:
        return len(self._open)

    def admit(self, connection: _Guarded) -> None:
        """Take a new connection; at the cap, close the one that has waited longest for a request
        (if every connection is busy, uvicorn answers the newcomer's request with 503)."""
        if len(self._open) >= self.limits.max_connections:
            self._overload()
            waiting = [other for other in self._open if other.waits_for_request()]
            if waiting:
                min(waiting, key=lambda other: other.waiting_since).close_quietly()
        elif self._overloaded and len(self._open) < self.limits.max_connections // 2:
            self._overloaded = False
        self._open[connection] = None
        if self._sweeping is None:
            self._sweeping = connection.loop.call_later(SWEEP_INTERVAL, self._sweep)

    def forget(self, connection: _Guarded) -> None:
        """A connection closed."""
        self._open.pop(connection, None)

    def _overload(self) -> None:
        if not self._overloaded:
            self._overloaded = True
            _logger.warning(
                "the emulator has %d connections, its maximum: the connection that has waited "
                "longest for a request is closed for each new one, and requests are answered "
                "503 while every connection is busy (raise --emulator-max-connections, or "
                "with_limits(max_connections=...)); logged once until the load falls",
                self.limits.max_connections,
            )

    def _sweep(self) -> None:
        """Close connections past their header or idle timeout; re-arm while any are open."""
        self._sweeping = None
        now = time.monotonic()
        for connection in list(self._open):
            connection.enforce_timeouts(now)
        if self._open:
            loop = next(iter(self._open)).loop
            self._sweeping = loop.call_later(SWEEP_INTERVAL, self._sweep)


class _Guarded(H11Protocol):
    """uvicorn's h11 protocol, registered in a `ConnectionTable` and kept by a `ConnectionGuard`."""

    table: ConnectionTable
    guard: ConnectionGuard | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.guard is not None:
            self.logger = self.guard.log  # type: ignore[assignment]
        self.waiting_since = time.monotonic()
        self._head_started: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.table.add(transport)
        super().connection_made(transport)
        if self.guard is not None:
            self.guard.admit(self)

    def connection_lost(self, exc: Exception | None) -> None:
        transport = getattr(self, "transport", None)
        if transport is not None:
            self.table.discard(transport)
        if self.guard is not None:
            self.guard.forget(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_started is None and self.waits_for_request():
            self._head_started = time.monotonic()
        super().data_received(data)

    def on_response_complete(self) -> None:
        self.waiting_since = time.monotonic()
        self._head_started = None
        super().on_response_complete()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request h11 cannot read, with the server's default headers (the
        `Server` header among them) like every other answer."""
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"connection", b"close"),
        ]
        response = h11.Response(status_code=400, headers=headers, reason=b"Bad Request")
        for event in (response, h11.Data(data=msg.encode("ascii")), h11.EndOfMessage()):
            output = self.conn.send(event)
            if output:
                self.transport.write(output)
        self.transport.close()

    def waits_for_request(self) -> bool:
        """Whether the connection is between requests (or in the middle of a request head)."""
        return self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE

    def enforce_timeouts(self, now: float) -> None:
        """Close the connection if its request head is late, or it idled too long."""
        guard = self.guard
        if guard is None or not self.waits_for_request() or self.transport.is_closing():
            return
        if self._head_started is not None:
            if now - self._head_started > guard.limits.header_timeout:
                self.close_quietly()
        elif now - self.waiting_since > guard.limits.idle_timeout:
            self.close_quietly()

    def close_quietly(self) -> None:
        """Close a connection that waits for a request: nothing is lost, nothing is answered."""
        if not self.transport.is_closing():
            with contextlib.suppress(h11.LocalProtocolError):
                self.conn.send(h11.ConnectionClosed())
            self.transport.close()


def tracked_protocol(
    table: ConnectionTable, guard: ConnectionGuard | None = None
) -> type[H11Protocol]:
    """uvicorn's h11 protocol, registering every connection in `table` and, with a `guard`,
    keeping the connections within its limits."""
    return type("GuardedH11Protocol", (_Guarded,), {"table": table, "guard": guard})
