"""Checkpoints: where a projection is in the event log, and the protocol of the stores keeping it.

A checkpoint is the id and the hash of the last event a projection applied. The hash lets the
runner check, on every start and reconnect, that the server still holds that very event: a store
that was reset (ids start again at 0) or replaced is then never silently skipped.

A `CheckpointStore` keeps checkpoints, the events a projection parked, and the lease that lets
one instance of a projection run at a time. A transactional store (SQL) hands handlers the
transaction in which it also writes the checkpoint, so a read model and its position commit
together; the in-memory store is not transactional.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

from eventsourcingdb._validation import check_event_id, check_str
from eventsourcingdb.errors import InvalidArgumentError

__all__ = ["Checkpoint", "CheckpointStore", "ParkedEvent"]

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The last event a projection applied (or skipped as not its concern): its id and hash."""

    event_id: str
    event_hash: str

    def __post_init__(self) -> None:
        check_event_id(self.event_id, "checkpoint event_id")
        if not check_str(self.event_hash, "checkpoint event_hash"):
            raise InvalidArgumentError("checkpoint event_hash must not be empty")

    @property
    def position(self) -> int:
        """The event id as a number, for comparisons."""
        return int(self.event_id)


@dataclass(frozen=True, slots=True)
class ParkedEvent:
    """An event whose handler kept failing, set aside by `OnError.PARK` with what went wrong.

    The checkpoint moved past it, so the projection went on; `Runner.retry_parked` applies it
    again (out of order) once the handler is fixed.
    """

    event_id: str
    event_type: str
    subject: str
    error_type: str
    """The qualified name of the exception's class, e.g. `builtins.KeyError`."""
    error: str
    """The exception's message."""
    attempts: int
    """How often the handler was called for the event before it was parked."""
    parked_at: datetime
    """When it was parked (aware UTC)."""


@runtime_checkable
class CheckpointStore(Protocol):
    """What the runner needs of a place that keeps checkpoints (memory, SQL, or your own).

    `transaction()` yields the handle handlers receive (`tx`); `save`, `reset`, `park` and
    `unpark` run inside it, so on a transactional store they commit or roll back with the
    handlers' writes. Errors meaning "cannot be reached" are `CheckpointStoreUnavailableError`
    (the runner retries them); `save` with an `owner` raises `LeaseLostError` when another
    owner holds the lease, which rolls the transaction back.
    """

    @property
    def transactional(self) -> bool:
        """Whether a rolled-back transaction also undoes what handlers wrote through `tx`."""
        ...

    async def open(self) -> None:
        """Get ready (create tables); raise `CheckpointStoreUnavailableError` if unreachable."""
        ...

    async def load(self, name: str) -> Checkpoint | None:
        """The checkpoint of projection `name`, None before its first event."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Any]:
        """A transaction, committed when the block ends normally and rolled back on an error."""
        ...

    async def run_sync(self, tx: Any, function: Callable[[Any], R]) -> R:
        """Call a blocking `function` with the blocking form of `tx` (for `def` handlers)."""
        ...

    async def save(self, tx: Any, name: str, checkpoint: Checkpoint, *, owner: str | None) -> None:
        """Set the checkpoint of `name` in `tx`; with `owner`, only while it holds the lease."""
        ...

    async def reset(self, tx: Any, name: str, *, owner: str | None) -> None:
        """Forget the checkpoint and the parked events of `name` in `tx` (for a rebuild)."""
        ...

    async def acquire(self, name: str, owner: str, ttl: float) -> bool:
        """Take or extend the lease of `name` for `ttl` seconds; False if another owner has it."""
        ...

    async def release(self, name: str, owner: str) -> None:
        """Give the lease of `name` up, if `owner` holds it."""
        ...

    async def park(self, tx: Any, name: str, event: ParkedEvent) -> None:
        """Record a parked event of `name` in `tx` (replacing one with the same id)."""
        ...

    async def unpark(self, tx: Any, name: str, event_id: str) -> None:
        """Remove a parked event of `name` in `tx` (nothing if there is none)."""
        ...

    async def parked(self, name: str) -> list[ParkedEvent]:
        """The parked events of `name`, oldest event first."""
        ...
