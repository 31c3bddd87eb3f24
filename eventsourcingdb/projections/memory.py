"""`MemoryCheckpointStore`: checkpoints in this process, for tests and rebuild-on-start read models.

Nothing survives the process, which suits a read model that lives in memory too: both start
from scratch together. It is not transactional, so the runner saves its checkpoint after every
event (a dictionary assignment): an event is applied once, unless its handler fails after
changing something, which is then the handler's own partial change.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from eventsourcingdb.projections.checkpoints import Checkpoint, ParkedEvent
from eventsourcingdb.projections.errors import LeaseLostError

__all__ = ["MemoryCheckpointStore"]

R = TypeVar("R")


class MemoryCheckpointStore:
    """Checkpoints, parked events and leases in dictionaries of this process.

    Handlers get `None` as their transaction. Leases work between runners of one process.
    """

    def __init__(self) -> None:
        self._checkpoints: dict[str, Checkpoint] = {}
        self._parked: dict[str, dict[str, ParkedEvent]] = {}
        self._leases: dict[str, tuple[str, float]] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<{len(self._checkpoints)} checkpoints>)"

    @property
    def transactional(self) -> bool:
        """False: there is nothing to roll back."""
        return False

    async def open(self) -> None:
        """Nothing to prepare."""

    async def load(self, name: str) -> Checkpoint | None:
        """The checkpoint of `name`, None before its first event."""
        return self._checkpoints.get(name)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        yield None

    def transaction(self) -> Any:
        """A block that yields `None`: writes take effect at once."""
        return self._transaction()

    async def run_sync(self, tx: Any, function: Callable[[Any], R]) -> R:
        """Call `function(tx)`."""
        return function(tx)

    def _check_owner(self, name: str, owner: str | None) -> None:
        if owner is None:
            return
        holder = self._leases.get(name)
        if holder is not None and holder[0] != owner:
            raise LeaseLostError(
                f"projection {name!r} is held by {holder[0]!r}, not by {owner!r}: this "
                "instance must not commit",
                projection=name,
                owner=owner,
            )

    async def save(self, tx: Any, name: str, checkpoint: Checkpoint, *, owner: str | None) -> None:
        """Set the checkpoint of `name`."""
        self._check_owner(name, owner)
        self._checkpoints[name] = checkpoint

    async def reset(self, tx: Any, name: str, *, owner: str | None) -> None:
        """Forget the checkpoint and parked events of `name`."""
        self._check_owner(name, owner)
        self._checkpoints.pop(name, None)
        self._parked.pop(name, None)

    async def acquire(self, name: str, owner: str, ttl: float) -> bool:
        """Take or extend the lease of `name`; False while another owner's lease runs."""
        now = time.monotonic()
        holder = self._leases.get(name)
        if holder is not None and holder[0] != owner and holder[1] > now:
            return False
        self._leases[name] = (owner, now + ttl)
        return True

    async def release(self, name: str, owner: str) -> None:
        """Give the lease up if `owner` holds it."""
        holder = self._leases.get(name)
        if holder is not None and holder[0] == owner:
            del self._leases[name]

    async def park(self, tx: Any, name: str, event: ParkedEvent) -> None:
        """Record a parked event."""
        self._parked.setdefault(name, {})[event.event_id] = event

    async def unpark(self, tx: Any, name: str, event_id: str) -> None:
        """Remove a parked event."""
        self._parked.get(name, {}).pop(event_id, None)

    async def parked(self, name: str) -> list[ParkedEvent]:
        """The parked events of `name`, oldest event first."""
        return sorted(self._parked.get(name, {}).values(), key=lambda event: int(event.event_id))
