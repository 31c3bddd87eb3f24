"""Give back the connection slots that httpcore's pool loses when a request is cancelled.

httpcore (1.0.9, the pool under httpx) keeps its pool consistent with cancellation-shielded
sections, but anyio's shields do not hold off asyncio's own `Task.cancel()`, the cancellation
of `asyncio.timeout`, task groups and `task.cancel()`. Cancelled at one of two points, a request
leaves its slot taken for good:

- after the pool gave it a new connection and before it used it (encode/httpcore#1093): the
  connection stays in the pool, neither idle, closed nor available to anyone;
- while its response is being closed (at the end of a body read whole, or in `aclose()`): the
  response counts as closed, so closing it again does nothing, yet the pool still lists the
  request and its connection as active.

Once every slot is lost so, no request of that `httpx.AsyncClient` gets a connection again. The
httpx backend calls these functions after a send that failed or was cancelled, and after closing
a response; they find such leftovers by the pool's own bookkeeping and release them as the
interrupted code would have. A pool of another shape (another httpcore, a custom transport) is
left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import httpcore
import httpx

try:
    from httpcore._async.connection_pool import PoolByteStream
except ImportError:  # pragma: no cover - another httpcore: nothing to repair then
    PoolByteStream = None  # type: ignore[assignment,misc]

__all__ = ["release_closed_response", "release_orphaned_connections"]

_log = logging.getLogger("eventsourcingdb.transport")

_CHANGED = (AttributeError, TypeError, ValueError)
"""What touching the internals of another httpcore raises: then the pool is left alone."""


async def release_orphaned_connections(client: httpx.AsyncClient) -> None:
    """Close the connections of `client`'s pools that are in use but held by no request."""
    transports = [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        if not isinstance(pool, httpcore.AsyncConnectionPool):
            continue
        try:
            with pool._optional_thread_lock:
                held = {id(request.connection) for request in pool._requests}
                orphans = [
                    connection
                    for connection in pool._connections
                    if id(connection) not in held
                    and not connection.is_idle()
                    and not connection.is_closed()
                ]
                if not orphans:
                    continue
                for connection in orphans:
                    pool._connections.remove(connection)
                closing = pool._assign_requests_to_connections()  # queued requests move up
        except _CHANGED:
            continue
        await _close([*orphans, *closing], "a request cancelled before it used its connection")


async def release_closed_response(response: httpx.Response) -> None:
    """After `response` was closed: if its closing was cut short, finish what it left undone
    (take its request off the pool, close its connection, let queued requests move up)."""
    stream = getattr(getattr(response.stream, "_stream", None), "_httpcore_stream", None)
    if PoolByteStream is None or not isinstance(stream, PoolByteStream):
        return
    try:
        if not stream._closed:
            return
        pool, request = stream._pool, stream._pool_request
        with pool._optional_thread_lock:
            if request not in pool._requests:
                return  # the usual case: closing it ran to its end
            pool._requests.remove(request)
            connection = request.connection
            broken: list[Any] = []
            # in use still, in a state nobody knows: it cannot serve another request
            if connection in pool._connections and not connection.is_idle():
                pool._connections.remove(connection)
                broken.append(connection)
            closing = pool._assign_requests_to_connections()
    except _CHANGED:
        return
    await _close([*broken, *closing], "a response whose closing was cancelled")


async def _close(connections: Sequence[Any], why: str) -> None:
    if connections:
        _log.debug("closing %d connection(s) left behind by %s", len(connections), why)
    for connection in connections:
        try:
            await connection.aclose()
        except Exception as error:  # the socket is dropped either way
            _log.debug("closing a left-behind connection failed: %s", type(error).__name__)
