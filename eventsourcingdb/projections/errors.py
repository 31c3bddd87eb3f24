"""Errors of the projections layer, each a leaf of the SDK's one exception tree.

```
EventSourcingDBError
├── InvalidArgumentError
│   └── ProjectionDefinitionError      a projection (or its options) cannot work as declared
│       ├── DuplicateProjectionError   two projections of one runner share a name
│       └── UndeclaredEventTypeError   a handler takes a model the store's registry does not declare
├── ProjectionNotFoundError            the runner has no projection of that name (a LookupError)
├── ParkedEventNotFoundError           no parked event of that id (a LookupError)
├── CheckpointStoreError               the checkpoint store failed
│   ├── CheckpointStoreUnavailableError  ... could not be reached (retried while running)
│   └── LeaseLostError                 another instance took the projection over
├── ProjectionFailedError              a projection stopped on an error (its cause is chained)
│   └── StoreMismatchError             the server lost the checkpoint's event (reset, other store)
├── ProjectionStoppedError             waited on a projection that is not running
└── ProjectionTimeoutError             a wait ran out of time (also a TimeoutError)
```
"""

from __future__ import annotations

from eventsourcingdb.errors import EventSourcingDBError, InvalidArgumentError

__all__ = [
    "CheckpointStoreError",
    "CheckpointStoreUnavailableError",
    "DuplicateProjectionError",
    "LeaseLostError",
    "ParkedEventNotFoundError",
    "ProjectionDefinitionError",
    "ProjectionFailedError",
    "ProjectionNotFoundError",
    "ProjectionStoppedError",
    "ProjectionTimeoutError",
    "StoreMismatchError",
    "UndeclaredEventTypeError",
]


class ProjectionDefinitionError(InvalidArgumentError):
    """A projection class, instance or option cannot work as declared; raised before it runs."""


class DuplicateProjectionError(ProjectionDefinitionError):
    """Two projections of one runner have the same name, so they would share a checkpoint."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(message)
        self.name = name


class UndeclaredEventTypeError(ProjectionDefinitionError):
    """A handler takes an event model that the registry of the runner's `EventStore` does not
    declare, so no stored event could ever reach it."""

    def __init__(self, message: str, *, projection: str, model: type[object]) -> None:
        super().__init__(message)
        self.projection = projection
        self.model = model


class ProjectionNotFoundError(EventSourcingDBError, LookupError):
    """The runner has no projection of that name."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(message)
        self.name = name


class ParkedEventNotFoundError(EventSourcingDBError, LookupError):
    """The projection has no parked event of that id."""

    def __init__(self, message: str, *, projection: str, event_id: str) -> None:
        super().__init__(message)
        self.projection = projection
        self.event_id = event_id


class CheckpointStoreError(EventSourcingDBError):
    """The checkpoint store failed; the database's own error is the `__cause__`."""


class CheckpointStoreUnavailableError(CheckpointStoreError):
    """The checkpoint store cannot be reached (connection refused, database locked, ...).

    Raised by `Runner.start()` before anything runs; while running, the runner retries with
    backoff instead.
    """


class LeaseLostError(CheckpointStoreError):
    """Another instance holds the projection's lease: this one must not commit.

    The batch that found out was rolled back; the runner waits as a standby.
    """

    def __init__(self, message: str, *, projection: str, owner: str) -> None:
        super().__init__(message)
        self.projection = projection
        self.owner = owner


class ProjectionFailedError(EventSourcingDBError):
    """A projection stopped on an error: its cause is `cause` (and `__cause__`).

    `event_id` is the event whose handler failed (None for other errors); the checkpoint stays
    before it, so nothing is lost: fix the handler and start the projection again. Waits on the
    projection raise it, and `ProjectionStatus.error` holds it.
    """

    def __init__(
        self, message: str, *, projection: str, event_id: str | None, cause: BaseException | None
    ) -> None:
        super().__init__(message)
        self.projection = projection
        self.event_id = event_id
        self.cause = cause


class StoreMismatchError(ProjectionFailedError):
    """The server does not hold the event a checkpoint was taken at, or holds another one there.

    The store was reset or replaced, or the projection points at another server: resuming would
    silently skip events. `found_hash` is the hash of the event the server has at that id (None
    if it has none); `newest_event_id` the newest id under the projection's subject (None if no
    events).
    """

    def __init__(
        self,
        message: str,
        *,
        projection: str,
        event_id: str,
        expected_hash: str,
        found_hash: str | None,
        newest_event_id: str | None,
    ) -> None:
        super().__init__(message, projection=projection, event_id=event_id, cause=None)
        self.expected_hash = expected_hash
        self.found_hash = found_hash
        self.newest_event_id = newest_event_id


class ProjectionStoppedError(EventSourcingDBError):
    """A wait was made on a projection that is not running (never started, stopped, removed)."""

    def __init__(self, message: str, *, projection: str) -> None:
        super().__init__(message)
        self.projection = projection


class ProjectionTimeoutError(EventSourcingDBError, TimeoutError):
    """A projection did not reach the awaited event within the timeout."""

    def __init__(self, message: str, *, projection: str, position: str | None) -> None:
        super().__init__(message)
        self.projection = projection
        self.position = position
