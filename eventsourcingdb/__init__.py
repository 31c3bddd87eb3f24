"""EventSourcingDB for Python: an async client, an embedded emulator, typed events, aggregates.

```python
from eventsourcingdb import Client

async with Client(base_url="http://localhost:3000", api_token="secret") as client:
    await client.ping()
```

Every public name lives here; `Container` (testcontainers) is imported only when first used.
"""

import importlib as _importlib
import typing as _typing

from eventsourcingdb.client import Client
from eventsourcingdb.errors import (
    AsyncMismatchError,
    AuthenticationError,
    ClientClosedError,
    ClientError,
    ConcurrencyError,
    ConnectionStalledError,
    ContainerError,
    CustomError,
    DbApiError,
    ErrorCode,
    EventLoopMismatchError,
    EventSourcingDBError,
    EventTooLargeError,
    EventTypeNotFoundError,
    HashMismatchError,
    HashVerificationFailedError,
    HeartbeatTimeoutError,
    IncompatibleServerError,
    IncompleteStreamError,
    IntegrityError,
    InternalError,
    InvalidArgumentError,
    InvalidSchemaError,
    MissingExtraError,
    MissingSignatureError,
    OutcomeUnknownError,
    ProtocolError,
    QueryError,
    RateLimitedError,
    RefusedArgumentError,
    SchemaAlreadyRegisteredError,
    SchemaError,
    SchemaViolationError,
    ServerError,
    SignatureMismatchError,
    SignatureVerificationFailedError,
    StoreReadOnlyError,
    StreamStalledError,
    TransportError,
    UnsupportedHashVersionError,
    ValidationError,
    is_outcome_unknown,
)
from eventsourcingdb.event import Event, EventCandidate
from eventsourcingdb.event_type import EventType
from eventsourcingdb.options import (
    Bound,
    BoundType,
    IfEventIsMissingDuringObserve,
    IfEventIsMissingDuringRead,
    ObserveEventsOptions,
    ObserveFromLatestEvent,
    Order,
    ReadEventsOptions,
    ReadFromLatestEvent,
    ReadSubjectsOptions,
)
from eventsourcingdb.preconditions import (
    IsEventQlQueryTrue,
    IsSubjectOnEventId,
    IsSubjectPopulated,
    IsSubjectPristine,
    Precondition,
    PreconditionOptions,
    SubjectPrecondition,
)

if _typing.TYPE_CHECKING:
    from eventsourcingdb.container import Container

__all__ = [
    "AsyncMismatchError",
    "AuthenticationError",
    "Bound",
    "BoundType",
    "Client",
    "ClientClosedError",
    "ClientError",
    "ConcurrencyError",
    "ConnectionStalledError",
    "Container",
    "ContainerError",
    "CustomError",
    "DbApiError",
    "ErrorCode",
    "Event",
    "EventCandidate",
    "EventLoopMismatchError",
    "EventSourcingDBError",
    "EventTooLargeError",
    "EventType",
    "EventTypeNotFoundError",
    "HashMismatchError",
    "HashVerificationFailedError",
    "HeartbeatTimeoutError",
    "IfEventIsMissingDuringObserve",
    "IfEventIsMissingDuringRead",
    "IncompatibleServerError",
    "IncompleteStreamError",
    "IntegrityError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidSchemaError",
    "IsEventQlQueryTrue",
    "IsSubjectOnEventId",
    "IsSubjectPopulated",
    "IsSubjectPristine",
    "MissingExtraError",
    "MissingSignatureError",
    "ObserveEventsOptions",
    "ObserveFromLatestEvent",
    "Order",
    "OutcomeUnknownError",
    "Precondition",
    "PreconditionOptions",
    "ProtocolError",
    "QueryError",
    "RateLimitedError",
    "ReadEventsOptions",
    "ReadFromLatestEvent",
    "ReadSubjectsOptions",
    "RefusedArgumentError",
    "SchemaAlreadyRegisteredError",
    "SchemaError",
    "SchemaViolationError",
    "ServerError",
    "SignatureMismatchError",
    "SignatureVerificationFailedError",
    "StoreReadOnlyError",
    "StreamStalledError",
    "SubjectPrecondition",
    "TransportError",
    "UnsupportedHashVersionError",
    "ValidationError",
    "is_outcome_unknown",
]

_LAZY = frozenset({"Container"})
"""Public names imported on first access (they pull in heavy optional dependencies)."""


def __getattr__(name: str) -> _typing.Any:
    if name in _LAZY:
        value = getattr(_importlib.import_module("eventsourcingdb.container"), name)
        value.__module__ = __name__
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)


for _name in __all__:
    if _name in _LAZY:
        continue
    _value = globals()[_name]
    if isinstance(_value, type) and _value.__module__.startswith(__name__ + "."):
        _value.__module__ = __name__
del _name, _value
