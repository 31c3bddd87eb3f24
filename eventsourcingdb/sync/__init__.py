"""The blocking twin of EventSourcingDB for Python, for code without an event loop.

```python
from eventsourcingdb.sync import Client, EventStore, Repository

with Client(base_url="http://localhost:3000", api_token="secret") as client:
    repository = Repository(EventStore(client, source="https://library.example.com"))
    book = repository.load(Book, "/books/42")
```

`Client` has the methods, arguments, errors and behaviour of the async `eventsourcingdb.Client`;
its streams are plain generators that `close()` ends, also from another thread. It shares the
protocol core with the async client and runs neither an event loop nor a thread of its own.

`EventStore`, `Repository` and `retry_on_conflict` are generated from their async sources
(`eventsourcingdb/models/store.py`, `eventsourcingdb/aggregates/repository.py` and
`retrying.py`) by `scripts/unasync.py`: one implementation, whose blocking form a test keeps in
step. `Runner` runs the projections runner of `eventsourcingdb.projections` on an event loop in a
thread of its own (see `eventsourcingdb/sync/runner.py`). Everything without I/O (models,
registries, aggregates, deciders, boundaries, projections) is shared: import it from
`eventsourcingdb.models`, `eventsourcingdb.aggregates` and `eventsourcingdb.projections` as usual.
"""

from types import FunctionType as _FunctionType

from eventsourcingdb.sync.client import Client
from eventsourcingdb.sync.repository import Repository
from eventsourcingdb.sync.retrying import retry_on_conflict
from eventsourcingdb.sync.runner import Runner
from eventsourcingdb.sync.store import EventStore

__all__ = ["Client", "EventStore", "Repository", "Runner", "retry_on_conflict"]


def _present_as_public() -> None:
    """Make reprs and docs name `eventsourcingdb.sync.X`, where users import `X` from."""
    for name in __all__:
        value = globals()[name]
        if isinstance(value, type | _FunctionType) and value.__module__.startswith(__name__ + "."):
            value.__module__ = __name__


_present_as_public()
