"""The bodies of NDJSON answers: prepared chunks, observations and EventQL results.

Observations and queries interleave heartbeats whenever nothing was sent for the heartbeat
interval. A query runs in a worker thread, a few chunks at a time, so a long query neither blocks
the event loop nor keeps heartbeats from going out; when the stream is closed (its client has
gone), the query is cancelled and its thread stops before the next row.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Final

from eventsourcingdb.emulator import _messages as m
from eventsourcingdb.emulator._lines import CHUNK_SIZE, Lines, event_chunks
from eventsourcingdb.emulator._requests import query_error_code, query_error_details
from eventsourcingdb.emulator.encoding import encode_json
from eventsourcingdb.emulator.eventql import (
    Cancellation,
    EventQLError,
    Query,
    QueryCancelledError,
)
from eventsourcingdb.emulator.records import ObservationClosedError, Selection, StoredEvent
from eventsourcingdb.emulator.store import Observation, Store, StoreSnapshot
from eventsourcingdb.errors import ErrorCode

__all__ = ["observe_stream", "prepared_stream", "query_stream"]

_logger = logging.getLogger("eventsourcingdb.emulator")

STEP_CHUNKS: Final = 16
"""How many chunks of rows a query computes per trip to its worker thread (at most)."""
STEP_SECONDS: Final = 0.05
"""How long a query computes before it hands what it has to the event loop (at most)."""


async def prepared_stream(body: Iterator[bytes], end: bytes) -> AsyncIterator[bytes]:
    """Yield prepared chunks, then the v2 `end` line (empty for v1)."""
    for chunk in body:
        yield chunk
    if end:
        yield end


async def observe_stream(
    store: Store, selection: Selection, lines: Lines, interval: float
) -> AsyncIterator[bytes]:
    """Matching events as they come, heartbeats while idle, an error line when the store ends.

    The observation opens when the body is first read, so a response that is closed unread
    leaves nothing behind in the store.
    """
    observation: Observation | None = None
    try:
        observation = store.observe(selection)
        while True:
            batch = await observation.next_batch(interval)
            if batch is None:
                yield lines.heartbeat()
                continue
            for chunk in event_chunks(batch, lines):
                yield chunk
    except ObservationClosedError as closed:
        text = m.TEXT_SHUTTING_DOWN if closed.shutdown else m.TEXT_STORE_RESET
        yield lines.error(text, ErrorCode.SERVER_SHUTTING_DOWN)
    finally:
        if observation is not None:
            observation.release()


async def query_stream(
    query: Query, snapshot: StoreSnapshot, lines: Lines, interval: float
) -> AsyncIterator[bytes]:
    """The rows of a query, with heartbeats while a chunk is still being computed; closing the
    stream cancels the query."""
    produce = _RowProducer(query, snapshot, lines)
    loop = asyncio.get_running_loop()
    finished = False
    try:
        while not finished:
            pending = loop.run_in_executor(None, produce.next_chunks)
            while True:
                try:
                    chunks, finished = await asyncio.wait_for(asyncio.shield(pending), interval)
                    break
                except TimeoutError:
                    yield lines.heartbeat()
            for chunk in chunks:
                yield chunk
    finally:
        produce.cancellation.cancel()  # a no-op once the query is done
    end = lines.end()
    if end and not produce.failed:
        yield end


class _RowProducer:
    """Runs an EventQL query in a worker thread, one chunk of encoded rows at a time."""

    def __init__(self, query: Query, snapshot: StoreSnapshot, lines: Lines) -> None:
        self._rows: Iterator[object] | None = None
        self._query = query
        self._snapshot = snapshot
        self._lines = lines
        self.failed = False
        self.cancellation = Cancellation()

    def next_chunks(self) -> tuple[list[bytes], bool]:
        """Up to `STEP_CHUNKS` chunks (fewer after `STEP_SECONDS`), and whether the query is done.

        Each call is one trip to a worker thread and back, so a call computes several chunks.
        """
        chunks: list[bytes] = []
        deadline = time.monotonic() + STEP_SECONDS
        while True:
            chunk, finished = self.next_chunk()
            if chunk:
                chunks.append(chunk)
            if finished or len(chunks) >= STEP_CHUNKS or time.monotonic() >= deadline:
                return chunks, finished

    def next_chunk(self) -> tuple[bytes, bool]:
        """The next chunk of row lines, and whether the query is done (or failed)."""
        buffer: list[bytes] = []
        filled = 0
        try:
            if self._rows is None:
                self._rows = iter(self._query.run(self._snapshot, self.cancellation))
            for row in self._rows:
                encoded = row.encoded if isinstance(row, StoredEvent) else encode_json(row)
                line = self._lines.row(encoded)
                buffer.append(line)
                filled += len(line)
                if filled >= CHUNK_SIZE:
                    return b"".join(buffer), False
        except QueryCancelledError:
            self.failed = True  # nobody reads on: nothing more to send
        except EventQLError as error:
            self.failed = True
            details = query_error_details(error)
            buffer.append(self._lines.error(error.message, query_error_code(error), details))
        except Exception:
            _logger.exception("the emulator failed to run an EventQL query")
            self.failed = True
            buffer.append(self._lines.error(m.TEXT_INTERNAL_ERROR, ErrorCode.QUERY_UNEVALUABLE))
        return b"".join(buffer), True
