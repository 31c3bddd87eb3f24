"""`Stream`: what every streaming method of the blocking client returns, a generator that
another thread may close while a consumer waits in it.

A native generator cannot be closed while it runs (`ValueError: generator already executing`), and a
thread blocked in a socket read cannot be cancelled. So `Stream` wraps the client's native generator
of batches (the values decoded from up to 64 lines of one chunk) and hands the values out one by
one, and the native generator registers the answer it reads with an `Interrupt` for as long as it
reads it. A `close()` from another thread marks the stream closing and interrupts that answer (its
socket is shut down, so the blocked read fails at once); the native generator sees that the failure
was asked for and ends quietly, the consumer's `for` loop ends, and `close()` returns once the
connection is released.

```
consumer thread                            another thread
for item in stream:                        stream.close()
  __next__: step runs, blocked in recv   <─── marks closing, interrupts the answer,
  recv fails, generator ends quietly          waits for the step to end
  response closed, StopIteration ─────────> closes the native generator, returns
loop ends cleanly
```

Without a concurrent consumer, `close()` closes the native generator directly; `break` and
garbage collection release the connection as for any generator.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Generator
from contextlib import closing
from types import TracebackType
from typing import Any, Protocol, TypeVar, overload

from eventsourcingdb._streams import SKIP, Skip, _convert
from eventsourcingdb.errors import AsyncMismatchError, EventSourcingDBError

T = TypeVar("T")
U = TypeVar("U")


class _Interruptible(Protocol):
    def interrupt(self) -> None: ...


class Interrupt:
    """The link from a `Stream` to the answer its native generator is reading, if any."""

    __slots__ = ("_answer", "_lock", "requested")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answer: _Interruptible | None = None
        self.requested = False
        """Whether the stream was closed from another thread: the generator ends quietly."""

    def arm(self, answer: _Interruptible) -> None:
        """`answer` is being read now (interrupted at once if closing was asked already)."""
        with self._lock:
            self._answer = answer
            if self.requested:
                answer.interrupt()

    def disarm(self) -> None:
        """No answer is being read any more."""
        with self._lock:
            self._answer = None

    def fire(self) -> None:
        """Interrupt the answer being read, and any answer armed from now on."""
        with self._lock:
            self.requested = True
            if self._answer is not None:
                self._answer.interrupt()


_INTERRUPTS: weakref.WeakKeyDictionary[Generator[Any, None, None], Interrupt] = (
    weakref.WeakKeyDictionary()
)
"""The `Interrupt` of each native generator of the client that is not yet in a `Stream`."""


def register(batches: Generator[Any, None, None], interrupt: Interrupt) -> None:
    """Remember that `interrupt` ends a read of `batches` (for the `Stream` made of it later)."""
    _INTERRUPTS[batches] = interrupt


class Stream(Generator[T, None, None]):
    """A generator of the values of a native generator of batches; `close()` may end it from
    another thread while a consumer waits in it."""

    __slots__ = ("_batch", "_closing", "_idle", "_index", "_inner", "_interrupt", "_lock", "_owner")

    def __init__(
        self, batches: Generator[list[T], None, None], interrupt: Interrupt | None = None
    ) -> None:
        self._inner = batches
        if interrupt is None:
            interrupt = _INTERRUPTS.pop(batches, None) or Interrupt()
        self._interrupt = interrupt
        self._batch: list[T] = []
        self._index = 0
        """The next value to hand out is `_batch[_index]`, if there is one."""
        self._lock = threading.Lock()
        self._owner: int | None = None
        """The thread running a step of the native generator, while one runs."""
        self._idle = threading.Event()
        self._idle.set()
        self._closing = False

    def __iter__(self) -> Stream[T]:
        return self

    def __next__(self) -> T:
        batch = self._batch
        index = self._index
        if index < len(batch):
            self._index = index + 1
            return batch[index]
        return self._step(None)

    def send(self, value: None, /) -> T:
        """Like `__next__`: the stream ignores what is sent, as the client's generators do."""
        return self.__next__()

    @overload
    def throw(
        self,
        typ: type[BaseException],
        val: BaseException | object = None,
        tb: TracebackType | None = None,
        /,
    ) -> T: ...

    @overload
    def throw(
        self, typ: BaseException, val: None = None, tb: TracebackType | None = None, /
    ) -> T: ...

    def throw(
        self,
        typ: type[BaseException] | BaseException,
        val: object = None,
        tb: TracebackType | None = None,
        /,
    ) -> T:
        """Raise an exception where the stream waits, as a generator's `throw` does; values
        already received but not yet handed out are dropped."""
        self._batch, self._index = [], 0
        return self._step((typ, val, tb))

    def close(self) -> None:
        """End the stream and release its connection; returns when both have happened.

        Called from another thread while a consumer waits in the stream, it ends the consumer's
        `for` loop cleanly. Calling it again, or after the stream ended, does nothing.
        """
        with self._lock:
            self._closing = True
            self._batch, self._index = [], 0
            elsewhere = self._owner is not None and self._owner != threading.get_ident()
        if elsewhere:
            self._interrupt.fire()
            self._idle.wait()
        self._inner.close()

    def _step(
        self,
        throw: tuple[type[BaseException] | BaseException, object, TracebackType | None] | None,
    ) -> T:
        """Run the native generator to its next batch and hand out the batch's first value."""
        with self._lock:
            if self._owner is not None:
                raise ValueError("generator already executing")
            if self._closing and throw is None:
                raise StopIteration
            self._owner = threading.get_ident()
            self._idle.clear()
        try:
            if throw is None:
                batch = next(self._inner)
            else:
                typ, val, tb = throw
                if val is None and tb is None:
                    batch = self._inner.throw(typ)
                else:
                    batch = self._inner.throw(typ, val, tb)  # type: ignore[arg-type]
            while not batch:  # the client never yields an empty batch; be safe anyway
                batch = next(self._inner)
        except EventSourcingDBError:
            if self._interrupt.requested:
                # closed from another thread: whatever the interrupted read reported, it ends here
                raise StopIteration from None
            raise
        finally:
            with self._lock:
                self._owner = None
                self._idle.set()
        if self._closing:
            # closed from another thread while the step ran, yet the step produced values
            self._inner.close()
            raise StopIteration
        self._batch = batch
        self._index = 1
        return batch[0]

    def __aiter__(self) -> Any:
        raise AsyncMismatchError(
            "this is a stream of the blocking eventsourcingdb.sync.Client: iterate it with a "
            "plain `for` loop; for `async for`, use the async eventsourcingdb.Client"
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._inner!r}>"


def batches_of(source: Generator[T, None, None]) -> Generator[list[T], None, None]:
    """The values of `source` in batches: a `Stream`'s own (what it has not handed out yet,
    then those of its native generator), or one value at a time for any other generator."""
    if isinstance(source, Stream):
        rest = source._batch[source._index :]
        source._batch, source._index = [], 0
        if rest:
            yield rest
        yield from source._inner
    else:
        for value in source:
            yield [value]


def _converted_batches(
    source: Generator[T, None, None], convert: Callable[[T], U | Skip], skips: bool
) -> Generator[list[U], None, None]:
    try:
        with closing(batches_of(source)) as batches:
            for batch in batches:
                values, failure = _convert(batch, convert, skips)
                if values:
                    yield values
                if failure is not None:
                    raise failure
    finally:
        source.close()


def converted(
    source: Generator[T, None, None], convert: Callable[[T], U | Skip], *, skips: bool = False
) -> Stream[U]:
    """A `Stream` of `convert(value)` for each value of `source`; with `skips=True`, values
    converted to `SKIP` are left out. Closing it closes `source`, also from another thread."""
    interrupt = source._interrupt if isinstance(source, Stream) else None
    return Stream(_converted_batches(source, convert, skips), interrupt)


__all__ = ["SKIP", "Interrupt", "Skip", "Stream", "batches_of", "converted", "register"]
