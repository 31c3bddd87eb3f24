"""`Worker`: runs one projection: lease, checkpoint check, catch-up and live events, commits.

```
take the lease (standby while another instance holds it)
load the checkpoint; check its event (id and hash) on the server, else StoreMismatchError
read the newest id of the subject: the catch-up target
observe from the checkpoint (exclusive)  -- reader task --> queue
batches from the queue --> one transaction: handlers, then the checkpoint --> commit --> waiters
on a broken or stalled stream, a 5xx, an unreachable checkpoint store: back off, start over
```

A batch closes at `batch_size` events, after `batch_seconds`, or, once caught up, as soon as no
further event waits, so live events commit promptly. A handler that fails inside a batch rolls
the batch back; its events are then committed one by one, so the events before the failing one
commit and the failing one gets the error policy alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Final

from eventsourcingdb._validation import check_event_id
from eventsourcingdb.aggregates.retrying import Backoff
from eventsourcingdb.errors import (
    ClientError,
    EventSourcingDBError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from eventsourcingdb.event import Event
from eventsourcingdb.models import EventStore
from eventsourcingdb.options import (
    Bound,
    BoundType,
    ObserveEventsOptions,
    Order,
    ReadEventsOptions,
)
from eventsourcingdb.projections._dispatch import Dispatcher
from eventsourcingdb.projections.checkpoints import Checkpoint, CheckpointStore, ParkedEvent
from eventsourcingdb.projections.errors import (
    CheckpointStoreError,
    CheckpointStoreUnavailableError,
    LeaseLostError,
    ProjectionFailedError,
    ProjectionStoppedError,
    ProjectionTimeoutError,
    StoreMismatchError,
)
from eventsourcingdb.projections.projection import (
    HandlerInfo,
    OnError,
    OnStoreMismatch,
    Projection,
    ProjectionOptions,
    StartAt,
)
from eventsourcingdb.projections.status import (
    Phase,
    Progress,
    ProjectionMetrics,
    ProjectionStatus,
    RetryReason,
)
from eventsourcingdb.telemetry import instrumentation_of

__all__ = ["Worker", "retry_reason"]

_logger = logging.getLogger("eventsourcingdb.projections")

_HIGH_WATER_MINIMUM: Final = 1024
"""The reader pauses while this many events (or twice the batch size) wait to be applied."""
_STANDBY_POLL: Final = 0.1
"""How often a wait on a standby instance looks at the shared checkpoint."""


class _Signal:
    """A control item in the queue, next to events."""

    def __init__(self, name: str, error: BaseException | None = None) -> None:
        self.name = name
        self.error = error

    def __repr__(self) -> str:
        return f"<{self.name}>"


_STOP: Final = _Signal("stop")
_LEASE_LOST: Final = _Signal("lease lost")

_Item = Event | _Signal


class _Stopping(Exception):
    """Raised inside the worker when a stop was requested during a wait."""


def retry_reason(error: BaseException) -> RetryReason | None:
    """Why `error` is worth another attempt after a wait; None if it is not (stop instead).

    Broken, stalled or refused connections, 5xx answers, 429 and read-only stores are passing;
    authentication, protocol and other request errors are not, and neither are bugs.
    """
    if isinstance(error, CheckpointStoreUnavailableError):
        return RetryReason.CHECKPOINT_STORE
    if isinstance(error, TransportError | RateLimitedError):
        return RetryReason.SERVER
    if isinstance(error, ServerError) and not isinstance(error, ClientError | ProtocolError):
        return RetryReason.SERVER
    return None


class Worker:
    """Runs one projection for a `Runner` (see the module docstring)."""

    def __init__(
        self,
        *,
        projection: Projection,
        options: ProjectionOptions,
        store: EventStore,
        checkpoints: CheckpointStore,
        owner: str | None,
        lease_ttl: float,
        reconnect: Backoff,
        metrics: ProjectionMetrics | None,
        progress: Callable[[Progress], None] | None,
    ) -> None:
        self.projection = projection
        self.options = options
        self.name = options.name
        self.store = store
        self.checkpoints = checkpoints
        self._telemetry = instrumentation_of(store.client)
        self._dispatch = Dispatcher(
            projection, store.registry, store.decode, checkpoints, self._telemetry, self.name
        )
        self._owner = owner
        self._lease_ttl = lease_ttl
        self._reconnect = reconnect
        self._metrics = metrics
        self.progress = progress
        self.phase = Phase.STARTING
        self.committed: Checkpoint | None = None
        self.processed = 0
        self.retries = 0
        self.error: BaseException | None = None
        self._newest: int | None = None
        self._target: int | None = None
        self._catchup_start: int | None = None
        self._catchup_processed = 0
        self._advanced = asyncio.Event()
        self._stop = asyncio.Event()
        self._queue: asyncio.Queue[_Item] | None = None
        self._drained = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._home: asyncio.AbstractEventLoop | None = None
        """The loop the worker runs in: waits from another loop (the blocking runner's callers)
        are handed to it."""
        self._made_progress = False
        self._connected = False
        self._set_up = False
        self._lease_held = False
        self.rebuild_pending = False
        self._from_beginning = False

    def __repr__(self) -> str:
        return f"<Worker {self.name!r} {self.phase.value}>"

    # --- life cycle --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the worker's task runs."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the worker's task (a running worker stays as it is)."""
        if self.running:
            return
        self._stop = asyncio.Event()
        self.error = None
        self._connected = False
        self._set_up = False  # setup(tx) runs once per start
        self.phase = Phase.STARTING
        self._home = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._main(), name=f"projection {self.name}")

    async def stop(self, timeout: float | None) -> None:  # noqa: ASYNC109
        """Finish the batch at hand, commit it and end; cancel it after `timeout` seconds."""
        task = self._task
        if task is None:
            return
        self._stop.set()
        queue = self._queue
        if queue is not None:
            queue.put_nowait(_STOP)
        self._drained.set()
        if task.done():
            await asyncio.gather(task, return_exceptions=True)
            return
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(task)
        except TimeoutError:
            _logger.warning(
                "projection %r did not stop within %s s; cancelling it (its batch is rolled back)",
                self.name,
                timeout,
            )
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _main(self) -> None:
        try:
            await self._loop()
            self.phase = Phase.STOPPED
        except asyncio.CancelledError:
            self.phase = Phase.STOPPED
            raise
        except ProjectionFailedError as error:
            self._fail(error)
        except Exception as error:
            failure = ProjectionFailedError(
                f"projection {self.name!r} stopped: {type(error).__name__}: {error}",
                projection=self.name,
                event_id=None,
                cause=error,
            )
            failure.__cause__ = error
            self._fail(failure)
        finally:
            if self._lease_held and self._owner is not None:
                self._lease_held = False
                try:
                    await self.checkpoints.release(self.name, self._owner)
                except Exception as error:  # the lease runs out by itself
                    _logger.info("could not release the lease of %r: %s", self.name, error)
            self._wake()

    def _fail(self, error: ProjectionFailedError) -> None:
        self.phase = Phase.FAILED
        self.error = error
        _logger.error("%s", error.message, exc_info=error.cause)

    def _wake(self) -> None:
        """Let every waiter look at the position (and phase) again."""
        advanced, self._advanced = self._advanced, asyncio.Event()
        advanced.set()

    async def _sleep(self, seconds: float) -> None:
        """Wait `seconds`, or less if a stop is requested meanwhile."""
        if seconds <= 0 or self._stop.is_set():
            return
        try:
            async with asyncio.timeout(seconds):
                await self._stop.wait()
        except TimeoutError:
            pass

    # --- the loop: lease, session, back off --------------------------------------------------

    async def _loop(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                if not await self._take_lease():
                    return
                await self._session()
                return
            except _Stopping:
                return
            except LeaseLostError as error:
                _logger.warning("%s; standing by", error.message)
                self.error = error
                self._lease_held = False
                self.phase = Phase.STANDBY
                continue
            except Exception as error:
                reason = retry_reason(error)
                if reason is None:
                    raise
                attempt = 0 if self._made_progress else attempt
                delay = self._reconnect.delay(attempt)
                if isinstance(error, RateLimitedError) and error.retry_after is not None:
                    delay = max(delay, error.retry_after)
                attempt += 1
                self.phase = Phase.RECONNECTING
                self._retry(reason, error, delay)
                await self._sleep(delay)

    def _retry(self, reason: RetryReason, error: BaseException, delay: float) -> None:
        self.retries += 1
        self.error = error
        _logger.warning(
            "projection %r: %s; trying again in %.2f s", self.name, _describe(error), delay
        )
        if self._metrics is not None:
            try:
                self._metrics.retry(self.name, reason, error, delay)
            except Exception:
                _logger.exception("the metrics hook failed")

    async def _take_lease(self) -> bool:
        """Hold the lease (waiting as a standby while another instance does); False on stop."""
        owner = self._owner
        if owner is None:
            return True
        while not self._stop.is_set():
            if await self.checkpoints.acquire(self.name, owner, self._lease_ttl):
                if not self._lease_held:
                    _logger.info("projection %r: %s holds the lease", self.name, owner)
                self._lease_held = True
                return True
            if self.phase is not Phase.STANDBY:
                _logger.info("projection %r: another instance is active; standing by", self.name)
            self.phase = Phase.STANDBY
            await self._sleep(self._lease_ttl / 3)
        return False

    async def _keep_lease(self, queue: asyncio.Queue[_Item]) -> None:
        """Renew the lease every third of its time; on losing it, end the session."""
        owner = self._owner
        assert owner is not None
        while True:
            await asyncio.sleep(self._lease_ttl / 3)
            try:
                held = await self.checkpoints.acquire(self.name, owner, self._lease_ttl)
            except CheckpointStoreError as error:
                # a commit checks the owner anyway: nothing unsafe can happen meanwhile
                _logger.warning("could not renew the lease of %r: %s", self.name, error)
                continue
            if not held:
                self._lease_held = False
                queue.put_nowait(_LEASE_LOST)
                return

    # --- a session: one connection, from the checkpoint on ----------------------------------

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        async with self.checkpoints.transaction() as tx:
            yield tx

    async def _prepare(self) -> Checkpoint | None:
        """Set up the read model (once), rebuild if asked, load and check the checkpoint."""
        checkpoints = self.checkpoints
        await checkpoints.open()
        if not self._set_up or self.rebuild_pending:
            async with self._transaction() as tx:
                await self._dispatch.hook(self.projection.setup, tx)
                if self.rebuild_pending:
                    await self._dispatch.hook(self.projection.reset, tx)
                    await checkpoints.reset(tx, self.name, owner=self._owner)
            self._set_up = True
            if self.rebuild_pending:
                _logger.info("projection %r: reset for a rebuild; replaying", self.name)
                self.rebuild_pending = False
                self._from_beginning = True
        checkpoint = await checkpoints.load(self.name)
        if checkpoint is not None:
            checkpoint = await self._verify(checkpoint)
        return checkpoint

    async def _verify(self, checkpoint: Checkpoint) -> Checkpoint | None:
        """`checkpoint` if the server holds its event with its hash; else the mismatch policy."""
        found = await self._event_at(checkpoint.event_id)
        if found is not None and found.hash == checkpoint.event_hash:
            return checkpoint
        newest = await self._newest_event()
        newest_id = None if newest is None else newest.event_id
        if found is None:
            what = (
                f"the server has no event {checkpoint.event_id} under {self.options.subject!r} "
                f"(its newest there is {newest_id or 'none'})"
            )
        else:
            what = (
                f"the server's event {checkpoint.event_id} has the hash {found.hash!r}, not "
                f"{checkpoint.event_hash!r}"
            )
        error = StoreMismatchError(
            f"projection {self.name!r} stopped at event {checkpoint.event_id}, but {what}: the "
            "event store was reset or replaced, or this is another server. Resuming would skip "
            "events, so nothing was applied: rebuild the projection (Runner.rebuild), or declare "
            "it with on_store_mismatch = OnStoreMismatch.REBUILD",
            projection=self.name,
            event_id=checkpoint.event_id,
            expected_hash=checkpoint.event_hash,
            found_hash=None if found is None else found.hash,
            newest_event_id=newest_id,
        )
        if self.options.on_store_mismatch is OnStoreMismatch.RAISE:
            raise error
        _logger.warning("%s; rebuilding it, as its policy says", error.message)
        async with self._transaction() as tx:
            await self._dispatch.hook(self.projection.reset, tx)
            await self.checkpoints.reset(tx, self.name, owner=self._owner)
        self._from_beginning = True
        return None

    async def _event_at(self, event_id: str) -> Event | None:
        """The event with this id under the projection's subject, None if there is none."""
        bound = Bound(id=event_id, type=BoundType.INCLUSIVE)
        options = ReadEventsOptions(
            recursive=self.options.recursive, lower_bound=bound, upper_bound=bound
        )
        return await self._first(options)

    async def _newest_event(self, *, up_to: str | None = None) -> Event | None:
        """The newest event under the projection's subject (with an id up to `up_to`)."""
        options = ReadEventsOptions(
            recursive=self.options.recursive,
            order=Order.ANTICHRONOLOGICAL,
            upper_bound=None if up_to is None else Bound(id=up_to, type=BoundType.INCLUSIVE),
        )
        return await self._first(options)

    async def _first(self, options: ReadEventsOptions) -> Event | None:
        stream = self.store.client.read_events(self.options.subject, options)
        async with aclosing(stream) as events:
            async for event in events:
                return event
        return None

    async def _session(self) -> None:
        """Apply events from the checkpoint on until a stop (returns) or an error (raised)."""
        self._made_progress = False
        checkpoint = await self._prepare()
        newest = await self._newest_event()
        starts_now = self.options.start_at is StartAt.NOW and not self._from_beginning
        if checkpoint is None and starts_now and newest is not None:
            checkpoint = Checkpoint(newest.event_id, newest.hash)
            async with self._transaction() as tx:
                await self.checkpoints.save(tx, self.name, checkpoint, owner=self._owner)
            _logger.info("projection %r starts now, after event %s", self.name, newest.event_id)
        self.committed = checkpoint
        self._connected = True
        self._wake()
        position = None if checkpoint is None else checkpoint.position
        self._target = None if newest is None else int(newest.event_id)
        self._newest = self._target
        self._catchup_start = position
        self._catchup_processed = 0
        if self._target is not None and (position is None or position < self._target):
            self.phase = Phase.CATCHING_UP
            _logger.info(
                "projection %r catching up from %s to %s",
                self.name,
                "the beginning" if position is None else f"event {position}",
                self._target,
            )
        else:
            self._live()
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._queue = queue
        self._drained.set()
        helpers = [asyncio.create_task(self._read(queue, checkpoint))]
        if self._owner is not None:
            helpers.append(asyncio.create_task(self._keep_lease(queue)))
        try:
            await self._apply(queue)
        finally:
            self._queue = None
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    def _live(self) -> None:
        if self.phase is not Phase.LIVE:
            _logger.info("projection %r is live", self.name)
        self.phase = Phase.LIVE
        self._from_beginning = False
        self._report_progress()

    async def _read(self, queue: asyncio.Queue[_Item], checkpoint: Checkpoint | None) -> None:
        """Observe from the checkpoint on and queue every event (pausing while many wait)."""
        options = ObserveEventsOptions(
            recursive=self.options.recursive,
            lower_bound=None
            if checkpoint is None
            else Bound(id=checkpoint.event_id, type=BoundType.EXCLUSIVE),
        )
        high_water = max(_HIGH_WATER_MINIMUM, 2 * self.options.batch_size)
        drained = self._drained
        try:
            stream = self.store.client.observe_events(self.options.subject, options)
            async with aclosing(stream) as events:
                async for event in events:
                    queue.put_nowait(event)
                    self._newest = int(event.event_id)
                    if queue.qsize() >= high_water:
                        drained.clear()
                        await drained.wait()
            raise TransportError("the observe stream ended, which the server never does")
        except asyncio.CancelledError:
            raise
        except Exception as error:
            queue.put_nowait(_Signal("failure", error))

    # --- applying ----------------------------------------------------------------------------

    async def _apply(self, queue: asyncio.Queue[_Item]) -> None:
        loop = asyncio.get_running_loop()
        batch_size = self.options.batch_size
        batch_seconds = self.options.batch_seconds
        low_water = max(_HIGH_WATER_MINIMUM, 2 * batch_size) // 2
        stop = self._stop
        while not stop.is_set():
            item = await queue.get()
            if isinstance(item, _Signal):
                self._signalled(item)
                continue
            batch = [item]
            deadline = loop.time() + batch_seconds
            signal: _Signal | None = None
            while len(batch) < batch_size and not stop.is_set():
                if loop.time() >= deadline:
                    break
                try:
                    item = queue.get_nowait()
                except asyncio.QueueEmpty:
                    if self.phase is Phase.LIVE or self._reaches_target(batch[-1]):
                        break
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        async with asyncio.timeout(remaining):
                            item = await queue.get()
                    except TimeoutError:
                        break
                if isinstance(item, _Signal):
                    signal = item
                    break
                batch.append(item)
            if queue.qsize() < low_water:
                self._drained.set()
            if signal is _LEASE_LOST:
                self._signalled(signal)
            await self._commit(batch)
            if signal is not None:
                self._signalled(signal)

    def _signalled(self, signal: _Signal) -> None:
        """Act on a control item: a stop ends applying, a failure or a lost lease raises."""
        if signal is _STOP:
            return
        if signal is _LEASE_LOST:
            owner = self._owner or ""
            raise LeaseLostError(
                f"projection {self.name!r}: another instance took the lease over from {owner!r}",
                projection=self.name,
                owner=owner,
            )
        assert signal.error is not None
        raise signal.error

    def _reaches_target(self, event: Event) -> bool:
        target = self._target
        return target is not None and int(event.event_id) >= target

    async def _commit(self, batch: list[Event]) -> None:
        """Apply `batch` and commit it with its checkpoint in one transaction, in a span that
        links to the trace of each of its events."""
        described: dict[str, str | int] = {
            "eventsourcingdb.projection": self.name,
            "eventsourcingdb.batch.size": len(batch),
        }
        with self._telemetry.operation("batch", self.name, attributes=described, linked=batch):
            await self._commit_batch(batch)

    async def _commit_batch(self, batch: list[Event]) -> None:
        if len(batch) > 1 and self.checkpoints.transactional:
            started = time.perf_counter()
            last = batch[-1]
            checkpoint = Checkpoint(last.event_id, last.hash)
            failures: list[BaseException] = []
            try:
                async with self._transaction() as tx:
                    for event in batch:
                        handler = self._dispatch.handler_for(event.type)
                        if handler is not None:
                            await self._dispatch.call(handler, event, tx, failures)
                    await self.checkpoints.save(tx, self.name, checkpoint, owner=self._owner)
            except Exception as error:
                if not _is_last(failures, error):
                    raise
                _logger.info(
                    "projection %r: a handler failed in a batch of %d; applying them one by one",
                    self.name,
                    len(batch),
                )
            else:
                self._committed(checkpoint, len(batch), started)
                return
        await self._commit_each(batch)

    async def _commit_each(self, batch: list[Event]) -> None:
        """Commit every handled event of `batch` on its own (with the events it skipped)."""
        started = time.perf_counter()
        count = 0
        for event in batch:
            count += 1
            handler = self._dispatch.handler_for(event.type)
            if handler is None:
                continue
            await self._commit_one(event, handler, count, started)
            count = 0
            started = time.perf_counter()
        if count:
            last = batch[-1]
            checkpoint = Checkpoint(last.event_id, last.hash)
            async with self._transaction() as tx:
                await self.checkpoints.save(tx, self.name, checkpoint, owner=self._owner)
            self._committed(checkpoint, count, started)

    async def _commit_one(
        self, event: Event, handler: HandlerInfo, count: int, started: float
    ) -> None:
        """Apply one event and commit it, retrying and then stopping or parking on failure."""
        checkpoint = Checkpoint(event.event_id, event.hash)
        attempt = 0
        while True:
            failures: list[BaseException] = []
            try:
                async with self._transaction() as tx:
                    await self._dispatch.call(handler, event, tx, failures)
                    await self.checkpoints.save(tx, self.name, checkpoint, owner=self._owner)
            except Exception as error:
                if not _is_last(failures, error):
                    raise
                failure = error
            else:
                self._committed(checkpoint, count, started)
                return
            if attempt < self.options.retries:
                delay = self.options.retry_backoff.delay(attempt)
                attempt += 1
                self._retry(RetryReason.HANDLER, failure, delay)
                await self._sleep(delay)
                if self._stop.is_set():
                    raise _Stopping
                continue
            if self.options.on_error is OnError.PARK:
                await self._park(event, failure, attempt + 1, checkpoint)
                self._committed(checkpoint, count, started)
                return
            raise ProjectionFailedError(
                f"projection {self.name!r} stopped at event {event.event_id} (type "
                f"{event.type!r}, subject {event.subject!r}): its handler "
                f"{handler.name} raised {type(failure).__name__}: {failure} "
                f"({attempt + 1} attempts). Its checkpoint stays before the event: fix the "
                "handler and start it again, or declare on_error = OnError.PARK to set such "
                "events aside",
                projection=self.name,
                event_id=event.event_id,
                cause=failure,
            ) from failure

    async def _park(
        self, event: Event, error: Exception, attempts: int, checkpoint: Checkpoint
    ) -> None:
        parked = ParkedEvent(
            event_id=event.event_id,
            event_type=event.type,
            subject=event.subject,
            error_type=f"{type(error).__module__}.{type(error).__qualname__}",
            error=str(error),
            attempts=attempts,
            parked_at=datetime.now(UTC),
        )
        async with self._transaction() as tx:
            await self.checkpoints.park(tx, self.name, parked)
            await self.checkpoints.save(tx, self.name, checkpoint, owner=self._owner)
        _logger.warning(
            "projection %r parked event %s after %d attempts: %s: %s",
            self.name,
            event.event_id,
            attempts,
            type(error).__name__,
            error,
        )

    def _committed(self, checkpoint: Checkpoint, count: int, started: float) -> None:
        self.committed = checkpoint
        self.processed += count
        self._catchup_processed += count
        self._made_progress = True
        self.error = None
        position = checkpoint.position
        newest = self._newest
        if newest is None or position > newest:
            self._newest = newest = position
        if self.phase is Phase.CATCHING_UP:
            if self._target is None or position >= self._target:
                self._live()
            else:
                self._report_progress()
        metrics = self._metrics
        if metrics is not None:
            try:
                metrics.processed(self.name, count, time.perf_counter() - started)
                metrics.lag(self.name, newest - position)
            except Exception:
                _logger.exception("the metrics hook failed")
        self._wake()

    def _report_progress(self) -> None:
        callback = self.progress
        if callback is None:
            return
        committed = self.committed
        try:
            callback(
                Progress(
                    name=self.name,
                    processed=self._catchup_processed,
                    position=None if committed is None else committed.position,
                    start=self._catchup_start,
                    target=self._target,
                )
            )
        except Exception:
            _logger.exception("the progress callback of %r failed", self.name)

    # --- parked events -----------------------------------------------------------------------

    async def retry_parked(self, event_id: str | None) -> list[ParkedEvent]:
        """Apply parked events again (all, or the one of `event_id`); return those still parked."""
        parked = await self.checkpoints.parked(self.name)
        chosen = [p for p in parked if event_id is None or p.event_id == event_id]
        for entry in chosen:
            event = await self._event_at(entry.event_id)
            handler = None if event is None else self._dispatch.handler_for(event.type)
            if event is None or handler is None:
                _logger.warning(
                    "parked event %s of %r is gone from the server or has no handler now; "
                    "dropping it",
                    entry.event_id,
                    self.name,
                )
                async with self._transaction() as tx:
                    await self.checkpoints.unpark(tx, self.name, entry.event_id)
                continue
            failures: list[BaseException] = []
            try:
                async with self._transaction() as tx:
                    await self._dispatch.call(handler, event, tx, failures)
                    await self.checkpoints.unpark(tx, self.name, entry.event_id)
            except Exception as error:
                if not _is_last(failures, error):
                    raise
                async with self._transaction() as tx:
                    await self.checkpoints.park(
                        tx,
                        self.name,
                        ParkedEvent(
                            event_id=entry.event_id,
                            event_type=entry.event_type,
                            subject=entry.subject,
                            error_type=f"{type(error).__module__}.{type(error).__qualname__}",
                            error=str(error),
                            attempts=entry.attempts + 1,
                            parked_at=entry.parked_at,
                        ),
                    )
        return await self.checkpoints.parked(self.name)

    # --- waiting -----------------------------------------------------------------------------

    def status(self) -> ProjectionStatus:
        """A snapshot of where the worker is."""
        committed = self.committed
        position = None if committed is None else committed.position
        newest = self._newest
        lag: int | None = None
        if newest is not None:
            lag = max(0, newest - (-1 if position is None else position))
        elif self.phase in (Phase.LIVE, Phase.CATCHING_UP):
            lag = 0
        return ProjectionStatus(
            name=self.name,
            phase=self.phase,
            position=None if committed is None else committed.event_id,
            lag=lag,
            processed=self.processed,
            retries=self.retries,
            error=self.error,
        )

    def _check_alive(self) -> None:
        if self.phase is Phase.FAILED and isinstance(self.error, ProjectionFailedError):
            raise self.error
        if self._task is not None and self._task.done():
            raise ProjectionStoppedError(
                f"projection {self.name!r} is {self.phase.value}: start the runner again to "
                "wait on it",
                projection=self.name,
            )

    def _reached(self, position: int) -> bool:
        committed = self.committed
        return committed is not None and committed.position >= position

    async def _wait_connected(self) -> None:
        """Wait until the worker has checked its checkpoint on the server (or stands by)."""
        while not self._connected and self.phase is not Phase.STANDBY:
            self._check_alive()
            await self._advanced.wait()

    async def _wait_position(self, position: int) -> None:
        while True:
            self._check_alive()
            if self._reached(position):
                return
            advanced = self._advanced
            if self.phase is Phase.STANDBY:
                stored = await self.checkpoints.load(self.name)
                if stored is not None and stored.position >= position:
                    return
                try:
                    async with asyncio.timeout(_STANDBY_POLL):
                        await advanced.wait()
                except TimeoutError:
                    pass
            else:
                await advanced.wait()

    @asynccontextmanager
    async def _deadline(
        self,
        timeout: float | None,  # noqa: ASYNC109 - the public waits' timeout, in one place
        what: str,
    ) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(timeout):
                yield
        except TimeoutError:
            committed = self.committed
            where = committed.event_id if committed else "the beginning"
            hint = "; the runner has not started it" if self._task is None else ""
            raise ProjectionTimeoutError(
                f"projection {self.name!r} did not reach {what} within {timeout} s (it is "
                f"{self.phase.value} at {where}{hint})",
                projection=self.name,
                position=None if committed is None else committed.event_id,
            ) from None

    def _other_loop(self) -> asyncio.AbstractEventLoop | None:
        """The worker's loop when the caller runs in another one (such as a caller of the
        blocking runner, whose worker runs in the runner's thread), else None."""
        loop = self._home
        return None if loop is None or loop is asyncio.get_running_loop() else loop

    async def wait_for(self, event_id: str, *, timeout: float | None) -> None:  # noqa: ASYNC109
        """Wait until every event up to `event_id` under the subject is committed."""
        if (loop := self._other_loop()) is not None:
            waiting = self.wait_for(event_id, timeout=timeout)
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(waiting, loop))
            return
        event_id = check_event_id(event_id)
        self._check_alive()
        async with self._deadline(timeout, f"event {event_id}"):
            await self._wait_connected()
            if self._reached(int(event_id)):
                return
            last = await self._newest_event(up_to=event_id)
            if last is not None:
                await self._wait_position(int(last.event_id))

    async def wait_until_caught_up(self, *, timeout: float | None) -> None:  # noqa: ASYNC109
        """Wait until the newest event under the subject (as of now) is committed."""
        if (loop := self._other_loop()) is not None:
            waiting = self.wait_until_caught_up(timeout=timeout)
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(waiting, loop))
            return
        self._check_alive()
        async with self._deadline(timeout, "the newest event"):
            await self._wait_connected()
            newest = await self._newest_event()
            if newest is not None:
                await self._wait_position(int(newest.event_id))


def _is_last(failures: list[BaseException], error: BaseException) -> bool:
    """Whether `error` is the handler failure last noted (and not a passing store failure)."""
    return bool(failures) and failures[-1] is error and retry_reason(error) is None


def _describe(error: BaseException) -> str:
    message = error.message if isinstance(error, EventSourcingDBError) else str(error)
    return f"{type(error).__name__}: {message}"
