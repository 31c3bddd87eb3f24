"""Fault injection: make the emulator fail on purpose, as a flaky server or network would.

`Faults` is armed from any thread (a test's) and consulted by the one request handler, so both
front ends fail alike: a dropped stream is a reset connection on a socket and `httpx.ReadError`
in process; a lost answer is a connection closed before any byte of the answer
(`httpx.RemoteProtocolError` in process, as httpx reports it for a socket).
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from eventsourcingdb.errors import InvalidArgumentError

__all__ = ["ConnectionDropped", "Faults", "InjectedRefusal"]


class ConnectionDropped(Exception):
    """The front end must drop the connection here: the client gets no further byte."""


@dataclass(frozen=True, slots=True)
class InjectedRefusal:
    """What `refuse_next` answers: a status, and a `Retry-After` in seconds when given."""

    status: int
    retry_after: int | None

    @property
    def text(self) -> str:
        """The plain-text body: the status phrase, and that the refusal was injected."""
        phrase = http.HTTPStatus(self.status).phrase.lower()
        return f"{phrase} (injected by the emulator's faults.refuse_next)"


class _OpenStream:
    """One open stream: its loop, the wait for its next chunk, and futures that wake it when a
    fault concerns it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.dropped: asyncio.Future[None] = loop.create_future()
        self.poked: asyncio.Future[None] = loop.create_future()
        self.following: asyncio.Future[bytes] | None = None

    def drop(self) -> None:
        if not self.dropped.done():
            self.dropped.set_result(None)
        if self.following is not None:
            self.following.cancel()

    def poke(self) -> None:
        if not self.poked.done():
            self.poked.set_result(None)

    def rearm(self) -> None:
        if self.poked.done():
            self.poked = self.loop.create_future()


class Faults:
    """The faults armed on one emulated server (thread-safe; `Emulator.faults`).

    `drop_streams()` cuts every open stream now; `stall_streams(seconds)` lets no stream send a
    byte (heartbeats included) for that long; `refuse_next(count, status=503, retry_after=None)`
    answers the next requests with that status instead of serving them; `lose_next_write_answer()`
    stores the next write and then cuts its connection before answering (the outcome is unknown
    to the client); `clear()` disarms all of them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refusals: list[InjectedRefusal] = []
        self._lost_answers = 0
        self._stall_until = 0.0
        self._streams: set[_OpenStream] = set()

    # --- arming (any thread) ----------------------------------------------------------------

    def drop_streams(self) -> int:
        """Cut every open stream now (reads, observations, queries); returns how many."""
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            _call_soon(stream, stream.drop)
        return len(streams)

    def stall_streams(self, seconds: float) -> None:
        """Send nothing on any stream, open or new, for `seconds` (0 ends a stall early).

        Held chunks, heartbeats included, go out once the stall is over.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise InvalidArgumentError(f"seconds must be a number >= 0, got {seconds!r}")
        with self._lock:
            self._stall_until = time.monotonic() + seconds
            streams = list(self._streams)
        for stream in streams:
            _call_soon(stream, stream.poke)

    def refuse_next(
        self, count: int = 1, *, status: int = 503, retry_after: int | None = None
    ) -> None:
        """Answer the next `count` requests, of any route, with `status` instead of serving them.

        The answer is plain text, with `Retry-After: <retry_after>` when given (e.g. with 429).
        Calls add up: `refuse_next(1, status=500)` then `refuse_next(1)` refuse the next two
        requests, the first with 500.
        """
        _check_count(count)
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise InvalidArgumentError(
                f"status must be an HTTP error status (400-599), got {status!r}"
            )
        try:
            http.HTTPStatus(status)
        except ValueError:
            raise InvalidArgumentError(f"status {status} is not a known HTTP status") from None
        if retry_after is not None and (
            isinstance(retry_after, bool) or not isinstance(retry_after, int) or retry_after < 0
        ):
            raise InvalidArgumentError(
                f"retry_after must be a whole number of seconds >= 0, got {retry_after!r}"
            )
        with self._lock:
            self._refusals += [InjectedRefusal(status, retry_after)] * count

    def lose_next_write_answer(self, count: int = 1) -> None:
        """Store the next `count` writes (write-events), then cut each connection unanswered."""
        _check_count(count)
        with self._lock:
            self._lost_answers += count

    def clear(self) -> None:
        """Disarm every fault: pending refusals and lost answers, and a stall in progress."""
        with self._lock:
            self._refusals.clear()
            self._lost_answers = 0
        self.stall_streams(0)

    # --- consulted by the handler -----------------------------------------------------------

    def take_refusal(self) -> InjectedRefusal | None:
        """The refusal for the request at hand, if one is armed (it is used up)."""
        if not self._refusals:  # the common case, without taking the lock
            return None
        with self._lock:
            return self._refusals.pop(0) if self._refusals else None

    def take_lost_answer(self) -> bool:
        """Whether the answer to the write at hand is to be lost (the arming is used up)."""
        if not self._lost_answers:
            return False
        with self._lock:
            if not self._lost_answers:
                return False
            self._lost_answers -= 1
            return True

    async def watch(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The chunks of a stream, held while streams are stalled; `ConnectionDropped` when cut."""
        stream = _OpenStream(asyncio.get_running_loop())
        with self._lock:
            self._streams.add(stream)
        following: asyncio.Future[bytes] | None = None
        try:
            while True:
                await self._hold(stream)
                # in a task of its own, so that a drop can cancel the wait for the next chunk
                stream.following = asyncio.ensure_future(anext(chunks))
                try:
                    chunk = await stream.following
                except StopAsyncIteration:
                    return
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if stream.dropped.done() and task is not None and not task.cancelling():
                        raise ConnectionDropped from None
                    raise
                finally:
                    following, stream.following = stream.following, None
                await self._hold(stream)
                yield chunk
        finally:
            with self._lock:
                self._streams.discard(stream)
            if following is not None and not following.done():
                following.cancel()
                with contextlib.suppress(BaseException):
                    await following
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()

    async def _hold(self, stream: _OpenStream) -> None:
        """Wait while streams are stalled; `ConnectionDropped` when the stream is cut."""
        while True:
            if stream.dropped.done():
                raise ConnectionDropped
            remaining = self._stall_until - time.monotonic()
            if remaining <= 0:
                return
            stream.rearm()
            await asyncio.wait(
                (stream.dropped, stream.poked), timeout=remaining, return_when="FIRST_COMPLETED"
            )


def _check_count(count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidArgumentError(f"count must be a positive integer, got {count!r}")


def _call_soon(stream: _OpenStream, callback: Callable[[], None]) -> None:
    """Run `callback` on the stream's loop; a closed loop has nobody left to tell."""
    with contextlib.suppress(RuntimeError):
        stream.loop.call_soon_threadsafe(callback)
