"""`Stream`: what every streaming method of the client returns, an async generator that another
task may close while a consumer waits in it.

A native async generator refuses that: `aclose()` while another task is suspended in its
`__anext__` raises `RuntimeError: aclose(): asynchronous generator is already running`, and the
stream goes on. Yet the official SDK's README shows exactly this pattern: keep the generator in a
variable, iterate it with `async for`, and "somewhere else" `await events.aclose()`.

`Stream` wraps the client's native generator, which yields the values of the body in batches (those
of up to 64 lines of one chunk, `StreamDecoder.batches`); `Stream` hands them out one by one, so
most items cost one attribute lookup and no step of the native generator. It adds no task: when a
batch is used up, `__anext__` notes the task it runs in and awaits the native generator directly. A
concurrent `aclose()` cancels that task; the waiting step recognises the cancellation as its own (a
flag, and `Task.uncancel()` bringing the task's count of cancellation requests back to where the
step began, so that a cancellation from anywhere else still propagates), lets the native generator
finish (which closes the HTTP response and releases its connection), signals that it is done and
ends the consumer's `async for` with `StopAsyncIteration`. `aclose()` returns once all that has
happened.

```
consumer task                              another task
async for item in stream:                  await stream.aclose()
  __anext__: task noted, awaits a batch  <─── marks closing, cancels the noted task,
  CancelledError, ours: uncancel              waits for the step to end
  native generator ends (response closed)
  step ends (signal), StopAsyncIteration ───> returns
loop ends cleanly
```

Without a concurrent consumer, `aclose()` closes the native generator directly; `break` and
garbage collection release the connection as for any async generator (the event loop's
finaliser closes the native one once the `Stream` is gone).

`converted(stream, convert)` is the same kind of stream over the values of another one, each
passed through `convert`: the typed layer's reads, observations and queries, which thereby end
the same way. It converts whole batches, and when `convert` raises, the values converted before
the failing one are still handed out first.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from types import TracebackType
from typing import Any, Final, TypeVar, cast, overload

from eventsourcingdb.errors import AsyncMismatchError

T = TypeVar("T")
U = TypeVar("U")

_RUNNING = "asynchronous generator is already running"


class Stream(AsyncGenerator[T, None]):
    """An async generator of the values of a native generator of batches; `aclose()` may end it
    from another task while a consumer waits in it."""

    __slots__ = (
        "_baseline",
        "_batch",
        "_cancelled",
        "_closing",
        "_finished",
        "_index",
        "_inner",
        "_task",
    )

    def __init__(self, batches: AsyncGenerator[list[T], None]) -> None:
        self._inner = batches
        self._batch: list[T] = []
        self._index = 0
        """The next value to hand out is `_batch[_index]`, if there is one."""
        self._task: asyncio.Task[Any] | None = None
        """The task running a step of the native generator, while one runs."""
        self._baseline = 0
        """The task's count of cancellation requests when the running step began."""
        self._cancelled = False
        """Whether `aclose()` cancelled the running step."""
        self._closing = False
        self._finished: asyncio.Event | None = None
        """Set whenever a step ends; made by a concurrent `aclose()`, which waits for it."""

    def __aiter__(self) -> Stream[T]:
        return self

    async def __anext__(self) -> T:
        batch = self._batch
        index = self._index
        if index < len(batch):
            self._index = index + 1
            return batch[index]
        return await self._step(None, "anext")

    async def asend(self, value: None, /) -> T:
        """Like `__anext__`: the stream ignores what is sent, as the client's generators do."""
        batch = self._batch
        index = self._index
        if index < len(batch):
            self._index = index + 1
            return batch[index]
        return await self._step(value, "asend")

    @overload
    async def athrow(
        self,
        typ: type[BaseException],
        val: BaseException | object = None,
        tb: TracebackType | None = None,
        /,
    ) -> T: ...

    @overload
    async def athrow(
        self, typ: BaseException, val: None = None, tb: TracebackType | None = None, /
    ) -> T: ...

    async def athrow(
        self,
        typ: type[BaseException] | BaseException,
        val: object = None,
        tb: TracebackType | None = None,
        /,
    ) -> T:
        """Raise an exception where the stream waits, as a generator's `athrow` does; values
        already received but not yet handed out are dropped."""
        self._batch, self._index = [], 0
        return await self._step(None, "athrow", (typ, val, tb))

    async def aclose(self) -> None:
        """End the stream and release its connection; returns when both have happened.

        Called from another task while a consumer waits in the stream, it ends the consumer's
        `async for` cleanly (the consumer task itself is not cancelled). Calling it again, or
        after the stream ended, does nothing.
        """
        self._closing = True
        self._batch, self._index = [], 0
        task = self._task
        if task is None or task is asyncio.current_task():
            await self._inner.aclose()
            return
        if self._finished is None:
            self._finished = asyncio.Event()
        finished = self._finished
        finished.clear()
        if not self._cancelled:
            # Even when the task is being cancelled already: that cancellation may be one
            # that is taken back below (an `asyncio.timeout` or the stall watch of the step).
            self._cancelled = True
            task.cancel()
        await finished.wait()
        await self._inner.aclose()

    async def _step(
        self,
        value: None,
        what: str,
        throw: tuple[type[BaseException] | BaseException, object, TracebackType | None]
        | None = None,
    ) -> T:
        """Run the native generator to its next batch and hand out the batch's first value."""
        if self._task is not None:
            raise RuntimeError(f"{what}(): {_RUNNING}")
        if self._closing and throw is None:
            raise StopAsyncIteration
        task = asyncio.current_task()
        if task is not None:
            self._baseline = task.cancelling()
            self._task = task
        try:
            if throw is None:
                batch = await self._inner.asend(value)
            else:
                typ, val, tb = throw
                if val is None and tb is None:
                    batch = await self._inner.athrow(typ)
                else:
                    batch = await self._inner.athrow(typ, val, tb)  # type: ignore[arg-type]
            while not batch:  # the client never yields an empty batch; be safe anyway
                batch = await self._inner.asend(None)
            if self._cancelled:
                # aclose() cancelled the step, but something below swallowed the cancellation
                # (as `asyncio.wait_for` may when its result arrives at the same moment)
                self._cancelled = False
                if task is not None:
                    task.uncancel()
                await self._inner.aclose()
                raise StopAsyncIteration
        except asyncio.CancelledError:
            await self._stop_if_ours(task)
            raise
        finally:
            self._task = None
            if self._finished is not None:
                self._finished.set()
        self._batch = batch
        self._index = 1
        return batch[0]

    async def _stop_if_ours(self, task: asyncio.Task[Any] | None) -> None:
        """After a step was cancelled: if `aclose()` did it and nobody else also asked to cancel
        the task, take the cancellation back and end the stream (`StopAsyncIteration`)."""
        if not self._cancelled or task is None:
            return
        self._cancelled = False
        if task.uncancel() > self._baseline:
            return  # someone else cancelled the task too: that cancellation goes on
        await self._inner.aclose()  # a no-op: the cancellation already ran through it
        raise StopAsyncIteration

    def __iter__(self) -> Any:
        raise AsyncMismatchError(
            "this is a stream of the async eventsourcingdb.Client: iterate it with `async for`; "
            "for a plain `for` loop in blocking code, use eventsourcingdb.sync.Client"
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._inner!r}>"


class Skip:
    """The type of `SKIP`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SKIP"


SKIP: Final = Skip()
"""What a `convert` of `converted(..., skips=True)` returns for a value to leave out."""


async def batches_of(source: AsyncGenerator[T, None]) -> AsyncGenerator[list[T], None]:
    """The values of `source` in batches: a `Stream`'s own (what it has not handed out yet,
    then those of its native generator), or one value at a time for any other generator."""
    if isinstance(source, Stream):
        rest = source._batch[source._index :]
        source._batch, source._index = [], 0
        if rest:
            yield rest
        async for batch in source._inner:
            yield batch
    else:
        async for value in source:
            yield [value]


def _convert(
    batch: list[T], convert: Callable[[T], U | Skip], skips: bool
) -> tuple[list[U], Exception | None]:
    """The converted values of `batch` up to the first that fails, and that failure."""
    try:
        converted = [convert(value) for value in batch]
    except Exception:  # find out which one failed, and keep those before it
        converted = []
        for value in batch:
            try:
                converted.append(convert(value))
            except Exception as error:
                kept = [item for item in converted if item is not SKIP] if skips else converted
                return cast(list[U], kept), error
    if skips:
        converted = [item for item in converted if item is not SKIP]
    return cast(list[U], converted), None


async def _converted_batches(
    source: AsyncGenerator[T, None], convert: Callable[[T], U | Skip], skips: bool
) -> AsyncGenerator[list[U], None]:
    try:
        async with aclosing(batches_of(source)) as batches:
            async for batch in batches:
                values, failure = _convert(batch, convert, skips)
                if values:
                    yield values
                if failure is not None:
                    raise failure
    finally:
        await source.aclose()


def converted(
    source: AsyncGenerator[T, None], convert: Callable[[T], U | Skip], *, skips: bool = False
) -> Stream[U]:
    """A `Stream` of `convert(value)` for each value of `source`; with `skips=True`, values
    converted to `SKIP` are left out. Closing it closes `source`."""
    return Stream(_converted_batches(source, convert, skips))


__all__ = ["SKIP", "Skip", "Stream", "batches_of", "converted"]
