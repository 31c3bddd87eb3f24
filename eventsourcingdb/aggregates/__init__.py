"""Aggregates: domain logic as plain Python; loading, saving and concurrency handled here.

```python
class Book(Aggregate):
    title: str = ""

    def rename(self, title: str) -> None:       # a command: checks rules, records events
        self.record(BookRenamed(title=title))

    @handles(BookAcquired, BookRenamed)         # state changes only in handlers
    def _titled(self, event: BookAcquired | BookRenamed) -> None:
        self.title = event.title

repo = Repository(store)                        # an EventStore from eventsourcingdb.models
book = await repo.load(Book, "/books/42")
book.rename("Solaris")
await repo.save(book)                           # guarded by IsSubjectOnEventId
```

Modules: `aggregate` (`Aggregate`), `handlers` (`handles`, `MissingHandler`), `repository`
(`Repository`), `snapshots` (`Snapshots`), `decider` (`Decider`), `boundaries` (decisions across
subjects), `retrying` (`Backoff`), `testing` (given/when/then scenarios), `errors`.
"""

from types import FunctionType as _FunctionType

from eventsourcingdb.aggregates.aggregate import Aggregate
from eventsourcingdb.aggregates.boundaries import Boundary, BoundaryRead, JsonScalar, unchanged
from eventsourcingdb.aggregates.decider import Decider, DecisionResult
from eventsourcingdb.aggregates.errors import (
    AggregateConcurrencyError,
    AggregateConflict,
    AggregateDefinitionError,
    AggregateNotFoundError,
    MissingHandlerError,
)
from eventsourcingdb.aggregates.handlers import MissingHandler, handles
from eventsourcingdb.aggregates.repository import Repository
from eventsourcingdb.aggregates.retrying import Backoff, retry_on_conflict
from eventsourcingdb.aggregates.snapshots import Snapshots

__all__ = [
    "Aggregate",
    "AggregateConcurrencyError",
    "AggregateConflict",
    "AggregateDefinitionError",
    "AggregateNotFoundError",
    "Backoff",
    "Boundary",
    "BoundaryRead",
    "Decider",
    "DecisionResult",
    "JsonScalar",
    "MissingHandler",
    "MissingHandlerError",
    "Repository",
    "Snapshots",
    "handles",
    "retry_on_conflict",
    "unchanged",
]


def _present_as_public() -> None:
    """Make reprs and docs name `eventsourcingdb.aggregates.X`, where users import `X` from."""
    for name in __all__:
        value = globals()[name]
        if isinstance(value, type | _FunctionType) and value.__module__.startswith(__name__ + "."):
            value.__module__ = __name__


_present_as_public()
