"""`Runner`: runs many projections and reactors in one process, each in a task of its own.

```python
runner = Runner(store, checkpoints=SqlCheckpointStore.from_url("sqlite+aiosqlite:///read.db"))
runner.add(BooksOnLoan())
runner.add(OverdueNotices(mailer))
await runner.run()                      # until SIGTERM/SIGINT or cancellation, then stops cleanly
```

Every projection catches up from its checkpoint and then follows new events on the same stream,
reconnecting with jittered exponential backoff when the server or the checkpoint store fails.
Only one instance of a projection runs at a time across processes that share a checkpoint
store: the one holding its lease; the others stand by and take over when it lapses.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Final, Self, TypeVar

from eventsourcingdb import _twins
from eventsourcingdb.aggregates.retrying import Backoff
from eventsourcingdb.errors import InvalidArgumentError
from eventsourcingdb.models import EventStore
from eventsourcingdb.projections._worker import Worker
from eventsourcingdb.projections.checkpoints import CheckpointStore, ParkedEvent
from eventsourcingdb.projections.errors import (
    DuplicateProjectionError,
    ParkedEventNotFoundError,
    ProjectionDefinitionError,
    ProjectionNotFoundError,
    UndeclaredEventTypeError,
)
from eventsourcingdb.projections.memory import MemoryCheckpointStore
from eventsourcingdb.projections.projection import (
    OnStoreMismatch,
    Projection,
    options_of,
)
from eventsourcingdb.projections.status import (
    Progress,
    ProjectionMetrics,
    RetryReason,
    RunnerStatus,
)
from eventsourcingdb.telemetry import Instrumentation, ProjectionMeter, instrumentation_of

__all__ = ["Runner"]

_logger = logging.getLogger("eventsourcingdb.projections")

P = TypeVar("P", bound=Projection)

DEFAULT_RECONNECT: Final = Backoff(initial=1.0, maximum=60.0)
"""Waits before reconnecting: up to 1 s, doubling up to 60 s, each a random part of that."""


def _default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _positive_seconds(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidArgumentError(f"{what} must be a positive number of seconds, got {value!r}")
    return float(value)


class Runner:
    """Runs projections over `store` (an `EventStore`: its client, registry and verification).

    `checkpoints` is where projections added without their own store keep their checkpoints (in
    memory by default). With `leases` (the default), a projection runs only while this runner
    holds its lease in the checkpoint store (`owner` names this instance; `lease_ttl` is how
    long a lease lasts unless renewed, every third of it). `reconnect` spaces out reconnection
    attempts; `metrics` receives counts, lag and retries; `stop_timeout` bounds a graceful stop
    before the batch at hand is cancelled (and rolled back).
    """

    def __init__(
        self,
        store: EventStore,
        *,
        checkpoints: CheckpointStore | None = None,
        leases: bool = True,
        owner: str | None = None,
        lease_ttl: float = 10.0,
        reconnect: Backoff | None = None,
        metrics: ProjectionMetrics | None = None,
        stop_timeout: float = 30.0,
    ) -> None:
        _twins.refuse_other_twin(store, EventStore, "Runner")
        if not isinstance(store, EventStore):
            raise InvalidArgumentError(
                "Runner needs an EventStore from eventsourcingdb.models, got "
                f"{type(store).__name__}"
            )
        self._store = store
        self._checkpoints = _checked_store(checkpoints) if checkpoints is not None else None
        if not isinstance(leases, bool):
            raise InvalidArgumentError(f"leases must be True or False, got {leases!r}")
        if owner is not None and (not isinstance(owner, str) or not owner.strip()):
            raise InvalidArgumentError(f"owner must be a non-empty string, got {owner!r}")
        self._owner = (owner or _default_owner()) if leases else None
        self._lease_ttl = _positive_seconds(lease_ttl, "lease_ttl")
        if reconnect is not None and not isinstance(reconnect, Backoff):
            raise InvalidArgumentError(f"reconnect must be a Backoff(...), got {reconnect!r}")
        self._reconnect = DEFAULT_RECONNECT if reconnect is None else reconnect
        self._metrics = _with_telemetry(metrics, instrumentation_of(store.client))
        self._stop_timeout = _positive_seconds(stop_timeout, "stop_timeout")
        self._workers: dict[str, Worker] = {}
        self._running = False
        self._stop_requested: asyncio.Event | None = None

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<Runner {state} with {len(self._workers)} projections>"

    @property
    def store(self) -> EventStore:
        """The `EventStore` the projections read through."""
        return self._store

    @property
    def owner(self) -> str | None:
        """The name this instance holds leases under (None without leases)."""
        return self._owner

    @property
    def running(self) -> bool:
        """Whether `start()` was called and `stop()` not yet."""
        return self._running

    # --- projections -------------------------------------------------------------------------

    def add(
        self,
        projection: P,
        *,
        checkpoints: CheckpointStore | None = None,
        progress: Callable[[Progress], None] | None = None,
    ) -> P:
        """Add `projection` (and start it, if the runner runs); return it.

        `checkpoints` overrides the runner's store for this projection; `progress` is called
        after every commit while it catches up. Every mistake is found here, before anything
        runs: a malformed subject or option, a name another projection has, a handler for a
        model the store's registry does not declare.
        """
        if not isinstance(projection, Projection):
            raise ProjectionDefinitionError(
                f"add takes a Projection (or Reactor) instance, got {projection!r}"
            )
        if projection._esdb_worker is not None:
            raise ProjectionDefinitionError(
                f"{projection!r} is in a runner already: make another instance to run it twice"
            )
        options = options_of(projection)
        if options.name in self._workers:
            raise DuplicateProjectionError(
                f"the runner has a projection named {options.name!r} already "
                f"({self._workers[options.name].projection!r}): names key checkpoints, so give "
                "one of them another name (set name = '...' on the class or the instance)",
                name=options.name,
            )
        self._check_models(projection, options.name)
        if (
            options.on_store_mismatch is OnStoreMismatch.REBUILD
            and type(projection).reset is Projection.reset
        ):
            raise ProjectionDefinitionError(
                f"{type(projection).__qualname__} declares on_store_mismatch = "
                "OnStoreMismatch.REBUILD but no reset(self, tx): define reset to empty its read "
                "model, so that it can be rebuilt"
            )
        if checkpoints is not None:
            chosen = _checked_store(checkpoints)
        else:
            if self._checkpoints is None:
                self._checkpoints = MemoryCheckpointStore()
            chosen = self._checkpoints
        worker = Worker(
            projection=projection,
            options=options,
            store=self._store,
            checkpoints=chosen,
            owner=self._owner,
            lease_ttl=self._lease_ttl,
            reconnect=self._reconnect,
            metrics=self._metrics,
            progress=progress,
        )
        self._workers[options.name] = worker
        projection._esdb_worker = worker
        if self._running:
            worker.start()
        return projection

    def _check_models(self, projection: Projection, name: str) -> None:
        registry = self._store.registry
        declared = [declaration.model for declaration in registry.declarations]
        for model in type(projection)._spec.handlers:
            if registry.declaration_of(model) is not None:
                continue
            if any(issubclass(candidate, model) for candidate in declared):
                continue
            raise UndeclaredEventTypeError(
                f"projection {name!r} has a handler for {model.__module__}.{model.__qualname__}, "
                "which the registry of the runner's EventStore does not declare, so no event "
                "could reach it: declare it with @event_type(...) in that registry, or give the "
                "EventStore the registry it is declared in",
                projection=name,
                model=model,
            )

    def _worker(self, name: str) -> Worker:
        try:
            return self._workers[name]
        except KeyError:
            known = ", ".join(repr(known) for known in self._workers) or "none"
            raise ProjectionNotFoundError(
                f"the runner has no projection named {name!r} (it has {known})", name=name
            ) from None

    def projection(self, name: str) -> Projection:
        """The projection named `name`."""
        return self._worker(name).projection

    @property
    def projections(self) -> tuple[Projection, ...]:
        """Every projection of the runner, in the order they were added."""
        return tuple(worker.projection for worker in self._workers.values())

    async def remove(self, name: str) -> Projection:
        """Stop the projection `name` (committing its batch) and take it out of the runner."""
        worker = self._worker(name)
        await worker.stop(self._stop_timeout)
        del self._workers[name]
        worker.projection._esdb_worker = None
        return worker.projection

    # --- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Get every checkpoint store ready, then start every projection.

        Raises `CheckpointStoreUnavailableError` (and starts nothing) if a store cannot be
        reached. Returns at once; the projections connect in the background (see `status()`).
        """
        if self._running:
            return
        opened: list[CheckpointStore] = []
        for worker in self._workers.values():
            if not any(worker.checkpoints is store for store in opened):
                await worker.checkpoints.open()
                opened.append(worker.checkpoints)
        self._running = True
        self._stop_requested = asyncio.Event()
        for worker in self._workers.values():
            worker.start()
        _logger.info("runner started %d projections (owner %s)", len(self._workers), self._owner)

    async def stop(self) -> None:
        """Stop every projection: each finishes and commits the batch at hand, then ends."""
        self._running = False
        if self._stop_requested is not None:
            self._stop_requested.set()
        await asyncio.gather(
            *(worker.stop(self._stop_timeout) for worker in self._workers.values())
        )

    def request_stop(self) -> None:
        """Ask `run()` to stop (safe to call from a signal handler in the loop's thread)."""
        if self._stop_requested is not None:
            self._stop_requested.set()

    async def run(self, *, handle_signals: bool = True) -> None:
        """Start, run until `request_stop()`, SIGTERM or SIGINT (with `handle_signals`, in the
        main thread) or cancellation, and stop gracefully."""
        await self.start()
        stop_requested = self._stop_requested
        assert stop_requested is not None
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        if handle_signals and threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                try:
                    loop.add_signal_handler(signum, self._on_signal, signum)
                except (NotImplementedError, RuntimeError):  # not on this platform or loop
                    continue
                installed.append(signum)
        try:
            await stop_requested.wait()
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)
            await asyncio.shield(self.stop())

    def _on_signal(self, signum: signal.Signals) -> None:
        _logger.info("received %s; stopping the projections", signum.name)
        self.request_stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- status and waiting ------------------------------------------------------------------

    def status(self) -> RunnerStatus:
        """Every projection's phase, position, lag and counters (for health checks)."""
        return RunnerStatus(
            running=self._running,
            projections=tuple(worker.status() for worker in self._workers.values()),
        )

    async def wait_for(self, event_id: str, *, timeout: float | None = 10.0) -> None:  # noqa: ASYNC109
        """Wait until every projection has committed every event up to `event_id` of its own."""
        async with asyncio.TaskGroup() as group:
            for worker in self._workers.values():
                group.create_task(worker.wait_for(event_id, timeout=timeout))

    async def wait_until_caught_up(self, *, timeout: float | None = 10.0) -> None:  # noqa: ASYNC109
        """Wait until every projection has committed the newest event of its subject (now)."""
        async with asyncio.TaskGroup() as group:
            for worker in self._workers.values():
                group.create_task(worker.wait_until_caught_up(timeout=timeout))

    # --- rebuilding and parked events ----------------------------------------------------------

    async def rebuild(
        self,
        name: str,
        *,
        into: Projection | None = None,
        progress: Callable[[Progress], None] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - a deadline for the whole rebuild
    ) -> Projection:
        """Replay projection `name` from the first event; return once it has caught up.

        In place (default): in one transaction its `reset(tx)` empties the read model and the
        checkpoint is forgotten, then it replays. `into`: a new projection (another name, e.g.
        another table) is added and catches up while `name` keeps serving; then `name` is
        removed and the new one returned. Other projections keep running meanwhile; `progress`
        is called after every commit. With leases, the rebuild happens once this instance holds
        the projection's lease.
        """
        worker = self._worker(name)
        if not self._running:
            raise InvalidArgumentError("rebuild needs a running runner: start it first")
        if into is not None:
            self.add(into, checkpoints=worker.checkpoints, progress=progress)
            new_worker = self._worker(options_of(into).name)
            await new_worker.wait_until_caught_up(timeout=timeout)
            await self.remove(name)
            _logger.info("projection %r rebuilt as %r", name, new_worker.name)
            return into
        if type(worker.projection).reset is Projection.reset:
            raise ProjectionDefinitionError(
                f"{type(worker.projection).__qualname__} cannot be rebuilt in place: define "
                "reset(self, tx) to empty its read model, or rebuild into a new projection "
                "(rebuild(..., into=...))"
            )
        await worker.stop(self._stop_timeout)
        worker.rebuild_pending = True
        worker.committed = None
        usual, worker.progress = worker.progress, progress or worker.progress
        worker.start()
        try:
            await worker.wait_until_caught_up(timeout=timeout)
        finally:
            worker.progress = usual
        _logger.info("projection %r rebuilt", name)
        return worker.projection

    async def parked(self, name: str) -> list[ParkedEvent]:
        """The events projection `name` parked (with `OnError.PARK`), oldest first."""
        worker = self._worker(name)
        return await worker.checkpoints.parked(name)

    async def retry_parked(self, name: str, event_id: str | None = None) -> list[ParkedEvent]:
        """Apply the parked events of `name` again (all, or the one of `event_id`), each in a
        transaction of its own and out of order; return the events still parked after it.

        An event that fails again stays parked with its new error.
        """
        worker = self._worker(name)
        if event_id is not None and not any(
            parked.event_id == event_id for parked in await worker.checkpoints.parked(name)
        ):
            raise ParkedEventNotFoundError(
                f"projection {name!r} has no parked event {event_id!r}",
                projection=name,
                event_id=event_id,
            )
        return await worker.retry_parked(event_id)


def _checked_store(store: object) -> CheckpointStore:
    if not isinstance(store, CheckpointStore):
        raise InvalidArgumentError(
            f"checkpoints must be a CheckpointStore (MemoryCheckpointStore, SqlCheckpointStore "
            f"or your own), got {type(store).__name__}"
        )
    return store


class _BothMetrics:
    """Reports to the metrics hook given and to OpenTelemetry."""

    def __init__(self, first: ProjectionMetrics, second: ProjectionMetrics) -> None:
        self._both = (first, second)

    def processed(self, name: str, events: int, seconds: float) -> None:
        for metrics in self._both:
            metrics.processed(name, events, seconds)

    def lag(self, name: str, events: int) -> None:
        for metrics in self._both:
            metrics.lag(name, events)

    def retry(self, name: str, reason: RetryReason, error: BaseException, delay: float) -> None:
        for metrics in self._both:
            metrics.retry(name, reason, error, delay)


def _with_telemetry(
    metrics: ProjectionMetrics | None, telemetry: Instrumentation
) -> ProjectionMetrics | None:
    """The metrics hook given, and OpenTelemetry's when the client's telemetry is on."""
    meter = telemetry.meter
    if meter is None:
        return metrics
    measured = ProjectionMeter(meter)
    return measured if metrics is None else _BothMetrics(metrics, measured)
