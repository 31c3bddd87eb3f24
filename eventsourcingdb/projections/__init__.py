"""The read side: projections and reactors that follow the event log, with durable checkpoints.

```python
class BooksOnLoan(Projection):
    subject = "/books"                          # with nested subjects

    @handles(BookBorrowed)
    async def _borrowed(self, event: RecordedEvent[BookBorrowed], tx: AsyncConnection) -> None:
        await tx.execute(on_loan.insert().values(book=event.subject, member=event.data.member))

checkpoints = SqlCheckpointStore.from_url("sqlite+aiosqlite:///read-models.db")
runner = Runner(store, checkpoints=checkpoints)  # an EventStore from eventsourcingdb.models
runner.add(BooksOnLoan())
async with runner:                              # catch up, then follow new events
    written = await store.append("/books/42", BookBorrowed(member="/members/7"))
    await runner.wait_for(written[0].event_id)  # read your writes
```

Modules: `projection` (`Projection`, `Reactor`, options), `runner` (`Runner`), `checkpoints`
(`Checkpoint`, the `CheckpointStore` protocol, `ParkedEvent`), `memory`
(`MemoryCheckpointStore`), `sql` (`SqlCheckpointStore`, imported on first use: it needs the `sql`
extra), `status` (phases, status, progress, the metrics hook), `testing` (given events, then
the read model; the replay-twice idempotency check), `errors`.
"""

import importlib as _importlib
import typing as _typing
from types import FunctionType as _FunctionType

from eventsourcingdb.aggregates.handlers import handles
from eventsourcingdb.projections.checkpoints import Checkpoint, CheckpointStore, ParkedEvent
from eventsourcingdb.projections.errors import (
    CheckpointStoreError,
    CheckpointStoreUnavailableError,
    DuplicateProjectionError,
    LeaseLostError,
    ParkedEventNotFoundError,
    ProjectionDefinitionError,
    ProjectionFailedError,
    ProjectionNotFoundError,
    ProjectionStoppedError,
    ProjectionTimeoutError,
    StoreMismatchError,
    UndeclaredEventTypeError,
)
from eventsourcingdb.projections.memory import MemoryCheckpointStore
from eventsourcingdb.projections.projection import (
    OnError,
    OnStoreMismatch,
    Projection,
    Reactor,
    StartAt,
)
from eventsourcingdb.projections.runner import Runner
from eventsourcingdb.projections.status import (
    Phase,
    Progress,
    ProgressBar,
    ProjectionMetrics,
    ProjectionStatus,
    RetryReason,
    RunnerStatus,
)

if _typing.TYPE_CHECKING:
    from eventsourcingdb.projections.sql import SqlCheckpointStore

__all__ = [
    "Checkpoint",
    "CheckpointStore",
    "CheckpointStoreError",
    "CheckpointStoreUnavailableError",
    "DuplicateProjectionError",
    "LeaseLostError",
    "MemoryCheckpointStore",
    "OnError",
    "OnStoreMismatch",
    "ParkedEvent",
    "ParkedEventNotFoundError",
    "Phase",
    "Progress",
    "ProgressBar",
    "Projection",
    "ProjectionDefinitionError",
    "ProjectionFailedError",
    "ProjectionMetrics",
    "ProjectionNotFoundError",
    "ProjectionStatus",
    "ProjectionStoppedError",
    "ProjectionTimeoutError",
    "Reactor",
    "RetryReason",
    "Runner",
    "RunnerStatus",
    "SqlCheckpointStore",
    "StartAt",
    "StoreMismatchError",
    "UndeclaredEventTypeError",
    "handles",
]

_LAZY = frozenset({"SqlCheckpointStore"})
"""Public names imported on first access: they need the `sql` extra (SQLAlchemy)."""


def __getattr__(name: str) -> _typing.Any:
    if name in _LAZY:
        value = getattr(_importlib.import_module("eventsourcingdb.projections.sql"), name)
        value.__module__ = __name__
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)


def _present_as_public() -> None:
    """Make reprs and docs name `eventsourcingdb.projections.X`, where users import `X` from."""
    for name in __all__:
        if name in _LAZY:
            continue
        value = globals()[name]
        if isinstance(value, type | _FunctionType) and value.__module__.startswith(__name__ + "."):
            value.__module__ = __name__


_present_as_public()
