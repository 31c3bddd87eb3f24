"""Typed events: pydantic models as event data, with generated schemas, typed reads and upcasting.

Declare each event type once, as a pydantic model, and let an `EventStore` write and read it:

```python
@event_type("io.eventsourcingdb.library.book-acquired")
class BookAcquired(BaseModel):
    title: str

store = EventStore(client, source="https://library.eventsourcingdb.io")
await store.register_schemas()
await store.append("/books/42", BookAcquired(title="2001"))
async for recorded in store.read("/books/42"):
    recorded.data  # a BookAcquired
```

Modules: `declare` (the decorators), `registry` (`EventRegistry`), `schema` (JSON Schema
generation), `codec` (models to candidates and back, without I/O), `recorded`
(`RecordedEvent`), `store` (`EventStore`), `errors` (this layer's exceptions).
"""

from types import FunctionType as _FunctionType

from eventsourcingdb.models.codec import OnUnknown, Verification
from eventsourcingdb.models.declare import event_type, upcaster
from eventsourcingdb.models.errors import (
    DeclarationError,
    EventDecodingError,
    EventEncodingError,
    RowDecodingError,
    SchemaDrift,
    SchemaDriftError,
    SupersededEventTypeError,
    UndeclaredModelError,
    UnknownEventTypeError,
    UpcastingError,
)
from eventsourcingdb.models.recorded import RecordedEvent
from eventsourcingdb.models.registry import (
    EventDeclaration,
    EventRegistry,
    JsonObject,
    Upcaster,
    default_registry,
)
from eventsourcingdb.models.schema import SchemaEvolution, event_schema
from eventsourcingdb.models.store import EventStore, SchemaReport

__all__ = [
    "DeclarationError",
    "EventDeclaration",
    "EventDecodingError",
    "EventEncodingError",
    "EventRegistry",
    "EventStore",
    "JsonObject",
    "OnUnknown",
    "RecordedEvent",
    "RowDecodingError",
    "SchemaDrift",
    "SchemaDriftError",
    "SchemaEvolution",
    "SchemaReport",
    "SupersededEventTypeError",
    "UndeclaredModelError",
    "UnknownEventTypeError",
    "Upcaster",
    "UpcastingError",
    "Verification",
    "default_registry",
    "event_schema",
    "event_type",
    "upcaster",
]


def _present_as_public() -> None:
    """Make reprs and docs name `eventsourcingdb.models.X`, where users import `X` from."""
    for name in __all__:
        value = globals()[name]
        if isinstance(value, type | _FunctionType) and value.__module__.startswith(__name__ + "."):
            value.__module__ = __name__


_present_as_public()
