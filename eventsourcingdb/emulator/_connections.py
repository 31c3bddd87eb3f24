"""The open connections of the socket front end, so that faults and restarts can cut them.

ASGI has no way to drop a connection without answering, so the uvicorn protocol is subclassed
to register each connection's transport under the client address that the ASGI scope carries
(`scope["client"]`); only asyncio's `connection_made` and `connection_lost` are overridden.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["ConnectionTable", "tracked_protocol"]

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

    def add(self, transport: asyncio.BaseTransport) -> None:
        """Register a new connection (on its loop)."""
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
        """Close the connection of `scope["client"]` at once, unanswered; whether one was found."""
        if not isinstance(client, list | tuple) or len(client) < 2:
            return False
        with self._lock:
            entry = self._open.get((str(client[0]), int(client[1])))
        if entry is None:
            return False
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


def tracked_protocol(table: ConnectionTable) -> type[H11Protocol]:
    """uvicorn's h11 protocol, registering every connection in `table`."""

    class TrackedH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            table.add(transport)
            super().connection_made(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            transport = getattr(self, "transport", None)
            if transport is not None:
                table.discard(transport)
            super().connection_lost(exc)

    return TrackedH11Protocol
