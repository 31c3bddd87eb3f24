"""`Snapshots`: the opt-in policy that stores an aggregate's state now and then, to load faster.

A snapshot is an event of its own declared type, written to the aggregate's subject in the same
atomic write as the events that made it due. Loading reads from the latest snapshot on
(`from_latest_event`), so a long-lived aggregate loads in time proportional to the events since
its last snapshot, not to its whole history. The cost: snapshots are part of the subject's
history, visible to every reader and observer, and immutable like every other event.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from eventsourcingdb._validation import check_event_type
from eventsourcingdb.aggregates.errors import AggregateDefinitionError
from eventsourcingdb.errors import InvalidArgumentError

__all__ = ["Snapshots"]


@dataclass(frozen=True, slots=True)
class Snapshots:
    """Write a snapshot of the aggregate (an instance of `model`) every `every` events.

    `model` is a pydantic model declared as an event type in the store's registry; by default its
    fields are the aggregate's fields, one for one (override `take_snapshot` and
    `restore_snapshot` for anything else). `retired` names the types of earlier snapshot models
    that are still stored: loading skips them, as their state is in the events after them anyway.
    """

    model: type[BaseModel]
    every: int
    retired: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not (isinstance(self.model, type) and issubclass(self.model, BaseModel)):
            raise AggregateDefinitionError(
                f"Snapshots needs a pydantic model declared as an event type, got {self.model!r}"
            )
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise AggregateDefinitionError(
                f"Snapshots(every=...) must be a positive number of events, got {self.every!r}"
            )
        if isinstance(self.retired, str) or not isinstance(self.retired, tuple):
            raise AggregateDefinitionError(
                f"Snapshots(retired=...) must be a tuple of event type names, got {self.retired!r}"
            )
        for name in self.retired:
            try:
                check_event_type(name, "retired snapshot type")
            except InvalidArgumentError as error:
                raise AggregateDefinitionError(error.message) from None

    def due(self, events_since_snapshot: int) -> bool:
        """Whether a snapshot is due after this many events since the last one."""
        return events_since_snapshot >= self.every
