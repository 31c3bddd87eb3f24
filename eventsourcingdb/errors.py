"""The exception tree of the SDK. Every error it raises is one of these.

```
EventSourcingDBError                   (CustomError)
├── InvalidArgumentError               bad input, found before any request (ValidationError)
├── ClientClosedError                  the client was used after aclose()
├── EventLoopMismatchError             the client was used in an event loop other than its own
├── TransportError                     the server could not be reached, or the connection broke
│   └── StreamStalledError             no byte arrived within the stall timeout
│                                      (HeartbeatTimeoutError)
├── ProtocolError                      not an answer EventSourcingDB gives (InternalError)
├── ServerError                        the server refused the request: .status, .code, .description
│   ├── ClientError                    ... because of what the request asked for (4xx, coded errors)
│   │   ├── AuthenticationError        401: the API token is missing or wrong
│   │   ├── ConcurrencyError           a precondition does not hold
│   │   ├── EventTypeNotFoundError     read_event_type() for a type the server does not know
│   │   ├── QueryError                 an EventQL query is malformed or cannot be evaluated
│   │   ├── RateLimitedError           429: .retry_after seconds
│   │   └── SchemaError
│   │       ├── SchemaViolationError           event data (or stored events) do not match a schema
│   │       ├── SchemaAlreadyRegisteredError   the event type has a schema already
│   │       └── InvalidSchemaError             the schema itself is not acceptable
│   └── StoreReadOnlyError             503: the store is in read-only mode
├── OutcomeUnknownError                a write may or may not have been stored: never retry blindly
├── ContainerError                     the server's Docker container could not be started
├── MissingExtraError                  an optional dependency is not installed (an ImportError)
└── IntegrityError                     an event failed verification
    ├── HashMismatchError
    ├── UnsupportedHashVersionError
    ├── SignatureMismatchError
    └── MissingSignatureError
```

Errors carry the request path and what the server said, never the API token.
"""

from __future__ import annotations

import enum

from eventsourcingdb._wire import ERROR_CODE_URL_PREFIX


class ErrorCode(enum.StrEnum):
    """The error codes of EventSourcingDB (v2 error envelopes, and v1 texts mapped to them)."""

    SUBJECT_MISSING = "subject-missing"
    SUBJECT_MALFORMED = "subject-malformed"
    ORDER_UNKNOWN = "order-unknown"
    EVENT_ID_MISSING = "event-id-missing"
    EVENT_ID_MALFORMED = "event-id-malformed"
    BOUND_TYPE_MISSING = "bound-type-missing"
    BOUND_TYPE_UNKNOWN = "bound-type-unknown"
    RANGE_UNSATISFIABLE = "range-unsatisfiable"
    FROM_LATEST_EVENT_INCOMPLETE = "from-latest-event-incomplete"
    IF_EVENT_IS_MISSING_UNKNOWN = "if-event-is-missing-unknown"
    SELECTION_CONFLICTING = "selection-conflicting"
    EVENT_TYPE_MISSING = "event-type-missing"
    EVENT_TYPE_MALFORMED = "event-type-malformed"
    EVENT_TYPE_UNKNOWN = "event-type-unknown"
    SOURCE_MISSING = "source-missing"
    SOURCE_MALFORMED = "source-malformed"
    DATA_MISSING = "data-missing"
    DATA_MALFORMED = "data-malformed"
    TRACEPARENT_MALFORMED = "traceparent-malformed"
    TRACESTATE_MALFORMED = "tracestate-malformed"
    TRACESTATE_WITHOUT_TRACEPARENT = "tracestate-without-traceparent"
    EVENTS_MISSING = "events-missing"
    PRECONDITION_TYPE_MISSING = "precondition-type-missing"
    PRECONDITION_UNKNOWN = "precondition-unknown"
    PRECONDITION_VIOLATED = "precondition-violated"
    PAYLOAD_MISSING = "payload-missing"
    LICENSE_INVALID = "license-invalid"
    CAPACITY_EXCEEDED = "capacity-exceeded"
    EVENT_SCHEMA_VIOLATED = "event-schema-violated"
    EVENT_SCHEMA_UNREGISTERED = "event-schema-unregistered"
    EVENT_SCHEMA_MISSING = "event-schema-missing"
    EVENT_SCHEMA_MALFORMED = "event-schema-malformed"
    EVENT_SCHEMA_NOT_OBJECT = "event-schema-not-object"
    EVENT_SCHEMA_ALREADY_REGISTERED = "event-schema-already-registered"
    QUERY_MISSING = "query-missing"
    QUERY_MALFORMED = "query-malformed"
    QUERY_UNEVALUABLE = "query-unevaluable"
    QUERY_NOT_BOOLEAN = "query-not-boolean"
    STORE_READ_ONLY = "store-read-only"
    READ_ONLY_MODE_ALREADY_ENABLED = "read-only-mode-already-enabled"
    DISK_FULL = "disk-full"
    STORE_FAILED = "store-failed"
    SERVER_SHUTTING_DOWN = "server-shutting-down"
    EVENT_TOO_LARGE = "event-too-large"
    RESTORE_IN_PROGRESS = "restore-in-progress"
    INDEXES_REBUILDING = "indexes-rebuilding"

    @property
    def url(self) -> str:
        """The documentation page of this code, as v2 servers send it."""
        return ERROR_CODE_URL_PREFIX + self.value

    @classmethod
    def from_url(cls, url: str) -> ErrorCode | None:
        """The code named by a documentation URL (or a bare slug); None if it is not known."""
        slug = url.removeprefix(ERROR_CODE_URL_PREFIX).strip("/")
        try:
            return cls(slug)
        except ValueError:
            return None


class EventSourcingDBError(Exception):
    """The root of every error this SDK raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgumentError(EventSourcingDBError, ValueError):
    """An argument is not acceptable; raised before any request is sent."""


class ClientClosedError(EventSourcingDBError, RuntimeError):
    """The client was used after `aclose()`."""


class EventLoopMismatchError(EventSourcingDBError, RuntimeError):
    """The client was used in an event loop while the loop its connections belong to is open.

    A client follows a new event loop once its previous one is closed (two `asyncio.run` calls
    work); two loops alive at once need a client each.
    """


class TransportError(EventSourcingDBError):
    """The server could not be reached, or the connection broke off."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class StreamStalledError(TransportError):
    """No byte arrived on a stream within the stall timeout; the connection was given up."""

    def __init__(self, message: str, *, path: str | None = None, timeout: float) -> None:
        super().__init__(message, path=path)
        self.timeout = timeout


class ProtocolError(EventSourcingDBError):
    """Not an answer EventSourcingDB gives: a missing Server header, a malformed line, ..."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class ServerError(EventSourcingDBError):
    """The server refused the request.

    `status` is the HTTP status (200 for a v2 error envelope), `code` the server's error code when
    known, `description` the server's own text, `details` what v2 envelopes add to locate it.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: ErrorCode | None = None,
        description: str = "",
        path: str | None = None,
        details: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.description = description
        self.path = path
        self.details: dict[str, object] = dict(details or {})


class ClientError(ServerError):
    """The server refused the request because of what it asked for."""


class AuthenticationError(ClientError):
    """The API token is missing or wrong (401)."""


class ConcurrencyError(ClientError):
    """A precondition of a write does not hold; nothing was written."""


class EventTypeNotFoundError(ClientError):
    """The server knows no event type of that name."""


class QueryError(ClientError):
    """An EventQL query is malformed, cannot be evaluated, or (as a precondition) is not boolean."""


class RateLimitedError(ClientError):
    """Too many requests (429); `retry_after` is the wait in seconds, when the server says."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 429,
        description: str = "",
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, description=description, path=path)
        self.retry_after = retry_after


class SchemaError(ClientError):
    """An event schema conflict or problem."""


class SchemaViolationError(SchemaError):
    """Event data (of a candidate, or of stored events for a new schema) do not match a schema."""


class SchemaAlreadyRegisteredError(SchemaError):
    """The event type has a schema already; schemas are immutable."""


class InvalidSchemaError(SchemaError):
    """The schema itself is not acceptable to the server."""


class StoreReadOnlyError(ServerError):
    """The store is in read-only mode and refuses the request (503)."""


class OutcomeUnknownError(EventSourcingDBError):
    """A write reached the server but its answer was lost: the events may or may not be stored.

    Never retry such a write blindly; read the subject (or use a precondition) to find out.
    `status` and `description` are the HTTP status and text of the answer when one arrived (a
    gateway's 500, 502 or 504), else None and "".
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        status: int | None = None,
        description: str = "",
    ) -> None:
        super().__init__(message)
        self.path = path
        self.status = status
        self.description = description


class ContainerError(EventSourcingDBError):
    """The EventSourcingDB container could not be started or used (no Docker engine, ...)."""


class MissingExtraError(EventSourcingDBError, ImportError):
    """A feature needs an optional dependency that is not installed; `extra` names the extra
    of `eventsourcingdb-toolkit` that brings it (`pip install 'eventsourcingdb-toolkit[extra]'`)."""

    def __init__(self, message: str, *, extra: str, module: str) -> None:
        super().__init__(message)
        self.extra = extra
        self.module = module
        self.msg = message


class IntegrityError(EventSourcingDBError):
    """An event failed verification of its hash or signature."""


class HashMismatchError(IntegrityError):
    """The hash computed from the event does not equal the hash it carries."""


class UnsupportedHashVersionError(IntegrityError):
    """The hash has a version this SDK does not know: it can be neither trusted nor denied."""


class SignatureMismatchError(IntegrityError):
    """The signature does not verify with the given public key."""


class MissingSignatureError(IntegrityError):
    """The event carries no signature (the server runs without a signing key)."""


CustomError = EventSourcingDBError
ValidationError = InvalidArgumentError
InternalError = ProtocolError
HeartbeatTimeoutError = StreamStalledError

__all__ = [
    "AuthenticationError",
    "ClientClosedError",
    "ClientError",
    "ConcurrencyError",
    "ContainerError",
    "CustomError",
    "ErrorCode",
    "EventLoopMismatchError",
    "EventSourcingDBError",
    "EventTypeNotFoundError",
    "HashMismatchError",
    "HeartbeatTimeoutError",
    "IntegrityError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidSchemaError",
    "MissingExtraError",
    "MissingSignatureError",
    "OutcomeUnknownError",
    "ProtocolError",
    "QueryError",
    "RateLimitedError",
    "SchemaAlreadyRegisteredError",
    "SchemaError",
    "SchemaViolationError",
    "ServerError",
    "SignatureMismatchError",
    "StoreReadOnlyError",
    "StreamStalledError",
    "TransportError",
    "UnsupportedHashVersionError",
    "ValidationError",
]
