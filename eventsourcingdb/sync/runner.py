"""`Runner`: the projections runner for blocking code, a portal to the async `Runner`.

The runner is long-running and concurrent by nature: every projection follows the event log in a
task of its own, reconnects with backoff, renews its lease, and wakes whoever waits for an
event. That is what an event loop is for, and re-implementing it with threads would be a second
runner. So the blocking `Runner` starts an event loop in a thread of its own and runs the async
`eventsourcingdb.projections.Runner` there, over an async client to the same server with the
same settings; every method hands its work to that loop and waits for the answer. This is the
one place in `eventsourcingdb.sync` with a thread and an event loop; the blocking client, store
and repository have neither.

Projections are the same classes as for the async runner. Their handlers may be `def` functions:
with a SQL checkpoint store, such a handler gets the blocking form of the transaction (a
`sqlalchemy.Connection`), so a read model written with blocking SQLAlchemy commits together with
the checkpoint. Handlers run in the runner's thread, one projection at a time.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Coroutine
from types import FrameType, TracebackType
from typing import Any, Self, TypeVar

from eventsourcingdb import _twins
from eventsourcingdb._portal import LoopThread
from eventsourcingdb.aggregates.backoff import Backoff
from eventsourcingdb.errors import AsyncMismatchError, InvalidArgumentError
from eventsourcingdb.models.store import EventStore as AsyncEventStore
from eventsourcingdb.projections.checkpoints import CheckpointStore, ParkedEvent
from eventsourcingdb.projections.projection import Projection
from eventsourcingdb.projections.runner import Runner as AsyncRunner
from eventsourcingdb.projections.status import Progress, ProjectionMetrics, RunnerStatus
from eventsourcingdb.sync.store import EventStore

__all__ = ["Runner"]

P = TypeVar("P", bound=Projection)
T = TypeVar("T")


async def _call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a plain function in the loop's thread (where the runner's objects live)."""
    return function(*args, **kwargs)


class Runner:
    """Runs projections over `store` (a blocking `sync.EventStore`) from blocking code.

    Takes the settings of `eventsourcingdb.projections.Runner` and offers its methods, blocking;
    a `with` block starts and stops it, as `async with` does the async one. `close()` stops it
    and ends its thread (a daemon thread: a runner never closed does not keep a process alive).
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
                f"Runner needs an EventStore from eventsourcingdb.sync, got {type(store).__name__}"
            )
        self._store = store
        twin = getattr(store.client, "_async_twin", None)
        if twin is None:
            raise InvalidArgumentError(
                f"the store's client ({type(store.client).__name__}) is not an "
                "eventsourcingdb.sync.Client, whose settings the runner needs to reach the server"
            )
        client = twin()
        self._loop = LoopThread("eventsourcingdb-runner")
        self._closed = False
        async_store = AsyncEventStore(
            client,
            source=store.source,
            registry=store.registry,
            verification=store._verification,
            verification_key=store._verification_key,
        )
        settings: dict[str, Any] = {
            "checkpoints": checkpoints,
            "leases": leases,
            "owner": owner,
            "lease_ttl": lease_ttl,
            "reconnect": reconnect,
            "metrics": metrics,
            "stop_timeout": stop_timeout,
        }
        try:
            self._runner = self._loop.run(_call(AsyncRunner, async_store, **settings))
        except BaseException:
            self._loop.run(client.aclose())
            self._loop.close()
            raise
        self._client = client
        self._stores: list[CheckpointStore] = [] if checkpoints is None else [checkpoints]
        """The checkpoint stores given, which `close()` closes: their connections belong to
        the runner's loop."""

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coroutine.close()
            raise InvalidArgumentError(
                "the runner is closed (by close() or at the end of its with block): create a "
                "new Runner"
            )
        self._refuse_own_thread(coroutine)
        return self._loop.run(coroutine)

    def _refuse_own_thread(self, coroutine: Coroutine[Any, Any, object] | None = None) -> None:
        """Refuse a call from the runner's own thread (a handler), which would wait for itself."""
        if not self._loop.is_current:
            return
        if coroutine is not None:
            coroutine.close()
        raise AsyncMismatchError(
            "a blocking sync.Runner method was called from a handler of that runner: handlers run "
            "on the runner's own event loop, which would wait for itself forever: call it from "
            "outside the handlers (another thread; request_stop() and status() work anywhere)"
        )

    def __repr__(self) -> str:
        return f"<eventsourcingdb.sync.Runner of {self._runner!r}>"

    @property
    def store(self) -> EventStore:
        """The `EventStore` the projections read through."""
        return self._store

    @property
    def owner(self) -> str | None:
        """The name this instance holds leases under (None without leases)."""
        return self._runner.owner

    @property
    def running(self) -> bool:
        """Whether `start()` was called and `stop()` not yet."""
        return self._runner.running

    # --- projections -------------------------------------------------------------------------

    def add(
        self,
        projection: P,
        *,
        checkpoints: CheckpointStore | None = None,
        progress: Callable[[Progress], None] | None = None,
    ) -> P:
        """Add `projection` (and start it, if the runner runs); return it. See
        `eventsourcingdb.projections.Runner.add`."""
        runner = self._runner

        async def add() -> P:  # in the loop's thread, where the runner's objects live
            return runner.add(projection, checkpoints=checkpoints, progress=progress)

        added = self._run(add())
        if checkpoints is not None and not any(checkpoints is known for known in self._stores):
            self._stores.append(checkpoints)
        return added

    def projection(self, name: str) -> Projection:
        """The projection named `name`."""
        return self._runner.projection(name)

    @property
    def projections(self) -> tuple[Projection, ...]:
        """Every projection of the runner, in the order they were added."""
        return self._runner.projections

    def remove(self, name: str) -> Projection:
        """Stop the projection `name` (committing its batch) and take it out of the runner."""
        return self._run(self._runner.remove(name))

    # --- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Get every checkpoint store ready, then start every projection; returns at once."""
        self._run(self._runner.start())

    def stop(self) -> None:
        """Stop every projection: each finishes and commits the batch at hand, then ends."""
        self._run(self._runner.stop())

    def request_stop(self) -> None:
        """Ask `run()` to stop; safe to call from any thread, and from a signal handler."""
        self._loop.call_soon(self._runner.request_stop)

    def run(self, *, handle_signals: bool = True) -> None:
        """Start, run until `request_stop()` or (with `handle_signals`, in the main thread)
        SIGTERM or SIGINT, and stop gracefully."""
        previous: dict[signal.Signals, Any] = {}
        if handle_signals and threading.current_thread() is threading.main_thread():

            def stop_on(signum: int, frame: FrameType | None) -> None:
                self.request_stop()

            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, stop_on)
        try:
            self._run(self._runner.run(handle_signals=False))
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def close(self) -> None:
        """Stop the runner if it runs, close its connections and the checkpoint stores it was
        given (theirs belong to its loop) and end its thread; calling it twice is fine."""
        if self._closed:
            return
        self._refuse_own_thread()
        try:
            if self._runner.running:
                self._loop.run(self._runner.stop())
            for store in self._stores:
                close = getattr(store, "aclose", None)
                if close is not None:
                    self._loop.run(close())
            self._loop.run(self._client.aclose())
        finally:
            self._closed = True
            self._loop.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- watching ----------------------------------------------------------------------------

    def status(self) -> RunnerStatus:
        """Every projection's phase, position, lag and counters (for health checks)."""
        if self._closed or self._loop.is_current:  # closed: what it left; a handler: at hand
            return self._runner.status()
        return self._run(_call(self._runner.status))

    def wait_for(self, event_id: str, *, timeout: float | None = 10.0) -> None:
        """Wait until every projection has committed every event up to `event_id` of its own
        (read your writes)."""
        self._run(self._runner.wait_for(event_id, timeout=timeout))

    def wait_until_caught_up(self, *, timeout: float | None = 10.0) -> None:
        """Wait until every projection has committed the newest event of its subject (now)."""
        self._run(self._runner.wait_until_caught_up(timeout=timeout))

    # --- rebuilding and parked events --------------------------------------------------------

    def rebuild(
        self,
        name: str,
        *,
        into: Projection | None = None,
        progress: Callable[[Progress], None] | None = None,
        timeout: float | None = None,
    ) -> Projection:
        """Replay projection `name` from the first event; return once it has caught up. See
        `eventsourcingdb.projections.Runner.rebuild`."""
        return self._run(self._runner.rebuild(name, into=into, progress=progress, timeout=timeout))

    def parked(self, name: str) -> list[ParkedEvent]:
        """The events projection `name` parked (with `OnError.PARK`), oldest first."""
        return self._run(self._runner.parked(name))

    def retry_parked(self, name: str, event_id: str | None = None) -> list[ParkedEvent]:
        """Apply the parked events of `name` again (all, or the one of `event_id`)."""
        return self._run(self._runner.retry_parked(name, event_id))
