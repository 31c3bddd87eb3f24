"""The exception tree of the SDK. Every error it raises is one of these.

```
EventSourcingDBError                   (CustomError)
├── ValidationError                    a check on the client's side failed
│   ├── InvalidArgumentError           bad input, found before any request (also a ValueError)
│   │   └── RefusedArgumentError       ... that the server would refuse: also a ClientError
│   │       └── EventTooLargeError     an event's data beyond the 64 KiB the server accepts
│   └── IntegrityError                 an event failed verification
│       ├── HashMismatchError          (HashVerificationFailedError)
│       ├── UnsupportedHashVersionError
│       ├── SignatureMismatchError     (SignatureVerificationFailedError)
│       └── MissingSignatureError
├── ClientClosedError                  the client was used after aclose()
├── EventLoopMismatchError             the client was used in an event loop other than its own
├── IncompatibleServerError            the call needs the v2 API, which the server lacks
├── AsyncMismatchError                 an async object used from blocking code, or the reverse
├── TransportError                     the server could not be reached, or the connection broke
│   ├── StreamStalledError             no byte within the stall timeout (ConnectionStalledError,
│   │                                  HeartbeatTimeoutError); also a ServerError
│   └── IncompleteStreamError          a stream ended before it was complete; also a ServerError
├── ServerError                        the server failed the request
│   ├── DbApiError                     it refused the request: .status, .code, .description, ...
│   │   ├── ClientError                ... because of what the request asked for (4xx, codes)
│   │   │   ├── AuthenticationError, ConcurrencyError, EventTypeNotFoundError, QueryError,
│   │   │   ├── RateLimitedError, RefusedArgumentError
│   │   │   └── SchemaError > SchemaViolationError, SchemaAlreadyRegisteredError,
│   │   │                     InvalidSchemaError
│   │   └── StoreReadOnlyError         503: the store is in read-only mode
│   └── ProtocolError                  not an answer EventSourcingDB gives (InternalError)
├── OutcomeUnknownError                a write may or may not have been stored: never retry blindly
├── ContainerError                     the server's Docker container could not be started
└── MissingExtraError                  an optional dependency is not installed (an ImportError)
```

Errors carry the request path and what the server said, never the API token. The names and
the places in the tree are those of the official SDK 2.2.4 as well (names in parentheses are
its aliases), so code written for it catches the same errors.
"""

from __future__ import annotations

import enum
from typing import Any, Final

from eventsourcingdb._wire import ERROR_CODE_URL_PREFIX


class ErrorCode(enum.StrEnum):
    """The error codes of EventSourcingDB (v2 error envelopes, and v1 texts mapped to them).

    A code is the URL of its page in the server's documentation, exactly as a v2 server sends it
    (`https://docs.eventsourcingdb.io/errors/precondition-violated`), so a member compares equal
    to the code as sent. `slug` is its last part; `ErrorCode("precondition-violated")` finds a
    member by slug as well.
    """

    SUBJECT_MISSING = ERROR_CODE_URL_PREFIX + "subject-missing"
    SUBJECT_MALFORMED = ERROR_CODE_URL_PREFIX + "subject-malformed"
    ORDER_UNKNOWN = ERROR_CODE_URL_PREFIX + "order-unknown"
    EVENT_ID_MISSING = ERROR_CODE_URL_PREFIX + "event-id-missing"
    EVENT_ID_MALFORMED = ERROR_CODE_URL_PREFIX + "event-id-malformed"
    BOUND_TYPE_MISSING = ERROR_CODE_URL_PREFIX + "bound-type-missing"
    BOUND_TYPE_UNKNOWN = ERROR_CODE_URL_PREFIX + "bound-type-unknown"
    RANGE_UNSATISFIABLE = ERROR_CODE_URL_PREFIX + "range-unsatisfiable"
    FROM_LATEST_EVENT_INCOMPLETE = ERROR_CODE_URL_PREFIX + "from-latest-event-incomplete"
    IF_EVENT_IS_MISSING_UNKNOWN = ERROR_CODE_URL_PREFIX + "if-event-is-missing-unknown"
    SELECTION_CONFLICTING = ERROR_CODE_URL_PREFIX + "selection-conflicting"
    EVENT_TYPE_MISSING = ERROR_CODE_URL_PREFIX + "event-type-missing"
    EVENT_TYPE_MALFORMED = ERROR_CODE_URL_PREFIX + "event-type-malformed"
    EVENT_TYPE_UNKNOWN = ERROR_CODE_URL_PREFIX + "event-type-unknown"
    SOURCE_MISSING = ERROR_CODE_URL_PREFIX + "source-missing"
    SOURCE_MALFORMED = ERROR_CODE_URL_PREFIX + "source-malformed"
    DATA_MISSING = ERROR_CODE_URL_PREFIX + "data-missing"
    DATA_MALFORMED = ERROR_CODE_URL_PREFIX + "data-malformed"
    TRACEPARENT_MALFORMED = ERROR_CODE_URL_PREFIX + "traceparent-malformed"
    TRACESTATE_MALFORMED = ERROR_CODE_URL_PREFIX + "tracestate-malformed"
    TRACESTATE_WITHOUT_TRACEPARENT = ERROR_CODE_URL_PREFIX + "tracestate-without-traceparent"
    EVENTS_MISSING = ERROR_CODE_URL_PREFIX + "events-missing"
    PRECONDITION_TYPE_MISSING = ERROR_CODE_URL_PREFIX + "precondition-type-missing"
    PRECONDITION_UNKNOWN = ERROR_CODE_URL_PREFIX + "precondition-unknown"
    PRECONDITION_VIOLATED = ERROR_CODE_URL_PREFIX + "precondition-violated"
    PAYLOAD_MISSING = ERROR_CODE_URL_PREFIX + "payload-missing"
    LICENSE_INVALID = ERROR_CODE_URL_PREFIX + "license-invalid"
    CAPACITY_EXCEEDED = ERROR_CODE_URL_PREFIX + "capacity-exceeded"
    EVENT_SCHEMA_VIOLATED = ERROR_CODE_URL_PREFIX + "event-schema-violated"
    EVENT_SCHEMA_UNREGISTERED = ERROR_CODE_URL_PREFIX + "event-schema-unregistered"
    EVENT_SCHEMA_MISSING = ERROR_CODE_URL_PREFIX + "event-schema-missing"
    EVENT_SCHEMA_MALFORMED = ERROR_CODE_URL_PREFIX + "event-schema-malformed"
    EVENT_SCHEMA_NOT_OBJECT = ERROR_CODE_URL_PREFIX + "event-schema-not-object"
    EVENT_SCHEMA_ALREADY_REGISTERED = ERROR_CODE_URL_PREFIX + "event-schema-already-registered"
    QUERY_MISSING = ERROR_CODE_URL_PREFIX + "query-missing"
    QUERY_MALFORMED = ERROR_CODE_URL_PREFIX + "query-malformed"
    QUERY_UNEVALUABLE = ERROR_CODE_URL_PREFIX + "query-unevaluable"
    QUERY_NOT_BOOLEAN = ERROR_CODE_URL_PREFIX + "query-not-boolean"
    STORE_READ_ONLY = ERROR_CODE_URL_PREFIX + "store-read-only"
    READ_ONLY_MODE_ALREADY_ENABLED = ERROR_CODE_URL_PREFIX + "read-only-mode-already-enabled"
    DISK_FULL = ERROR_CODE_URL_PREFIX + "disk-full"
    STORE_FAILED = ERROR_CODE_URL_PREFIX + "store-failed"
    SERVER_SHUTTING_DOWN = ERROR_CODE_URL_PREFIX + "server-shutting-down"
    EVENT_TOO_LARGE = ERROR_CODE_URL_PREFIX + "event-too-large"
    RESTORE_IN_PROGRESS = ERROR_CODE_URL_PREFIX + "restore-in-progress"
    INDEXES_REBUILDING = ERROR_CODE_URL_PREFIX + "indexes-rebuilding"
    LAST_AUDITED_EVENT_MISSING = ERROR_CODE_URL_PREFIX + "last-audited-event-missing"
    LAST_AUDITED_EVENT_MISMATCHED = ERROR_CODE_URL_PREFIX + "last-audited-event-mismatched"
    LAST_AUDITED_EVENT_UNKNOWN = ERROR_CODE_URL_PREFIX + "last-audited-event-unknown"
    EVENT_HASH_MISSING = ERROR_CODE_URL_PREFIX + "event-hash-missing"
    EVENT_HASH_MALFORMED = ERROR_CODE_URL_PREFIX + "event-hash-malformed"
    EVENT_CHAIN_BROKEN = ERROR_CODE_URL_PREFIX + "event-chain-broken"
    LAST_BACKED_UP_EVENT_MISSING = ERROR_CODE_URL_PREFIX + "last-backed-up-event-missing"
    LAST_BACKED_UP_EVENT_MISMATCHED = ERROR_CODE_URL_PREFIX + "last-backed-up-event-mismatched"
    LAST_BACKED_UP_EVENT_UNKNOWN = ERROR_CODE_URL_PREFIX + "last-backed-up-event-unknown"
    STORE_NOT_EMPTY = ERROR_CODE_URL_PREFIX + "store-not-empty"
    EVENT_HASH_VERSION_UNKNOWN = ERROR_CODE_URL_PREFIX + "event-hash-version-unknown"
    BACKUP_MALFORMED = ERROR_CODE_URL_PREFIX + "backup-malformed"
    BACKUP_INCOMPLETE = ERROR_CODE_URL_PREFIX + "backup-incomplete"
    BACKUP_FORMAT_UNKNOWN = ERROR_CODE_URL_PREFIX + "backup-format-unknown"
    FULL_BACKUP_MISSING = ERROR_CODE_URL_PREFIX + "full-backup-missing"
    BACKUP_INCREMENT_DISCONNECTED = ERROR_CODE_URL_PREFIX + "backup-increment-disconnected"
    BACKUP_FAILED = ERROR_CODE_URL_PREFIX + "backup-failed"
    BACKUP_UNREADABLE = ERROR_CODE_URL_PREFIX + "backup-unreadable"

    @classmethod
    def _missing_(cls, value: object) -> ErrorCode | None:
        if isinstance(value, str) and not value.startswith(ERROR_CODE_URL_PREFIX):
            for member in cls:
                if member.slug == value:
                    return member
        return None

    @property
    def slug(self) -> str:
        """The code's name in the URL, e.g. `precondition-violated`."""
        return self.value.removeprefix(ERROR_CODE_URL_PREFIX)

    @property
    def url(self) -> str:
        """The documentation page of this code, as v2 servers send it (the value itself)."""
        return self.value

    @classmethod
    def from_url(cls, url: str) -> ErrorCode | None:
        """The code named by a documentation URL (or a bare slug); None if it is not known."""
        slug = url.removeprefix(ERROR_CODE_URL_PREFIX).strip("/")
        try:
            return cls(ERROR_CODE_URL_PREFIX + slug)
        except ValueError:
            return None


class EventSourcingDBError(Exception):
    """The root of every error this SDK raises (`CustomError` in the official SDK)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(EventSourcingDBError):
    """Something failed a check on the client's side: an argument, or an event's integrity."""


class InvalidArgumentError(ValidationError, ValueError):
    """An argument is not acceptable; raised before any request is sent."""


class ClientClosedError(EventSourcingDBError, RuntimeError):
    """The client was used after `aclose()`."""


class EventLoopMismatchError(EventSourcingDBError, RuntimeError):
    """The client was used in an event loop while the loop its connections belong to is open.

    A client follows a new event loop once its previous one is closed (two `asyncio.run` calls
    work); two loops alive at once need a client each.
    """


class IncompatibleServerError(EventSourcingDBError):
    """The call needs a newer server: a recursive precondition needs the v2 API, which the
    server does not offer. Raised before the write is sent, so nothing was written."""

    def __init__(
        self,
        message: str = "the server does not offer the v2 API, which a recursive precondition "
        "needs; upgrade it to EventSourcingDB 1.3 or newer",
    ) -> None:
        super().__init__(message)


class AsyncMismatchError(EventSourcingDBError, TypeError):
    """An async object was used from blocking code, or a blocking one from async code (for
    example `for` over an async stream, or an `httpx.AsyncClient` given to the blocking client);
    the message says which twin to use instead."""


class TransportError(EventSourcingDBError):
    """The server could not be reached, or the connection broke off."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class ServerError(EventSourcingDBError):
    """The server failed the request: it refused it (`DbApiError`), stalled, ended a stream
    early, or answered what EventSourcingDB never answers (`ProtocolError`).

    `status`, `code`, `description` and `details` describe the server's answer when there was
    one (a `DbApiError` always has them); otherwise they are None, None, "" and {}.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        description: str = "",
        path: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code: ErrorCode | str | None = _known_code(code)
        self.description = description
        self.path = path
        self.details: dict[str, Any] = dict(details or {})


def _known_code(code: str | None) -> ErrorCode | str | None:
    """The `ErrorCode` member for a code (URL or slug), else the code as given."""
    if code is None or isinstance(code, ErrorCode):
        return code
    return ErrorCode.from_url(code) or code


class DbApiError(ServerError):
    """EventSourcingDB refused the request and said why: everything it reports as an error.

    `status` is the HTTP status (200 for an error a v2 server reports inside its answer, 400 for
    an argument this SDK refuses before sending), `code` the server's error code (an `ErrorCode`,
    or the URL as sent for a code this SDK does not know; None when the server gave none),
    `description` its text, `details` what locates the problem (for example the index of a
    precondition), `retry_after` the seconds to wait after a 429, when the server says.
    """

    status: int

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int,
        description: str = "",
        code: str | None = None,
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(
            message or description or f"the server answered with status {status}",
            status=status,
            code=code,
            description=description,
            path=path,
            details=details,
        )
        self.retry_after = retry_after


class ClientError(DbApiError):
    """The server refused the request because of what it asked for."""


class RefusedArgumentError(InvalidArgumentError, ClientError):
    """An argument EventSourcingDB refuses, refused before anything was sent.

    An `InvalidArgumentError` and a `ClientError` at once: `code` is the code the server would
    have answered with (for example `ErrorCode.SUBJECT_MALFORMED`), `status` is 400.
    """

    def __init__(self, message: str, *, code: ErrorCode) -> None:
        ClientError.__init__(self, message, status=400, code=code)


class EventTooLargeError(RefusedArgumentError):
    """An event to write is larger than EventSourcingDB accepts (64 KiB of `data` as JSON);
    refused before anything was sent, so nothing was written.

    `index` is the event's position in the write, `size` its size in bytes, `limit` the maximum.
    """

    def __init__(self, message: str, *, index: int, size: int, limit: int) -> None:
        super().__init__(message, code=ErrorCode.EVENT_TOO_LARGE)
        self.index = index
        self.size = size
        self.limit = limit


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
        super().__init__(
            message, status=status, description=description, path=path, retry_after=retry_after
        )


class SchemaError(ClientError):
    """An event schema conflict or problem."""


class SchemaViolationError(SchemaError):
    """Event data (of a candidate, or of stored events for a new schema) do not match a schema."""


class SchemaAlreadyRegisteredError(SchemaError):
    """The event type has a schema already; schemas are immutable."""


class InvalidSchemaError(SchemaError):
    """The schema itself is not acceptable to the server."""


class StoreReadOnlyError(DbApiError):
    """The store is in read-only mode and refuses the request (503)."""


class StreamStalledError(TransportError, ServerError):
    """No byte arrived within the stall timeout; the connection was given up.

    Also a `ServerError`, as the official SDK's `ConnectionStalledError` is. `timeout` (also
    `stall_timeout`) is the stall timeout in seconds.
    """

    def __init__(self, message: str, *, path: str | None = None, timeout: float) -> None:
        ServerError.__init__(self, message, path=path)
        self.timeout = timeout

    @property
    def stall_timeout(self) -> float:
        """The stall timeout in seconds (the official SDK's name for `timeout`)."""
        return self.timeout


class IncompleteStreamError(TransportError, ServerError):
    """The server closed a stream before it was complete: a read without its end, or an
    observation (which never ends on its own). What was delivered before is valid."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        ServerError.__init__(self, message, path=path)


class ProtocolError(ServerError):
    """Not an answer EventSourcingDB gives: a missing Server header, a malformed line, ..."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message, path=path)


class OutcomeUnknownError(EventSourcingDBError):
    """A write reached the server but its answer was lost: the events may or may not be stored.

    Never retry such a write blindly; read the subject (or use a precondition) to find out.
    `status` and `description` are the HTTP status and text of the answer when one arrived (a
    gateway's 500, 502 or 504), else None and "". `cause` is the failure that left the outcome
    open, when there was one. As in the official SDK, `OutcomeUnknownError(error)` wraps `error`.
    """

    def __init__(
        self,
        message: str | BaseException,
        *,
        path: str | None = None,
        status: int | None = None,
        description: str = "",
    ) -> None:
        if isinstance(message, BaseException):
            cause = message
            what = f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
            message = f"the write may or may not have been stored, its outcome is unknown: {what}"
            self.__cause__ = cause
        super().__init__(message)
        self.path = path
        self.status = status
        self.description = description

    @property
    def cause(self) -> BaseException | None:
        """The failure that left the outcome open (the error's `__cause__`), if any."""
        return self.__cause__


class ContainerError(EventSourcingDBError, RuntimeError):
    """The EventSourcingDB container could not be started or used (no Docker engine, ...)."""


class MissingExtraError(EventSourcingDBError, ImportError):
    """A feature needs an optional dependency that is not installed; `extra` names the extra
    of `eventsourcingdb-toolkit` that brings it (`pip install 'eventsourcingdb-toolkit[extra]'`)."""

    def __init__(self, message: str, *, extra: str, module: str) -> None:
        super().__init__(message)
        self.extra = extra
        self.module = module
        self.msg = message


class IntegrityError(ValidationError):
    """An event failed verification of its hash or signature."""


class HashMismatchError(IntegrityError):
    """The hash computed from the event does not equal the hash it carries."""

    def __init__(self, message: str = "the event's hash does not match its content") -> None:
        super().__init__(message)


class UnsupportedHashVersionError(IntegrityError):
    """The hash has a version this SDK does not know: it can be neither trusted nor denied.

    `version` is the hash's version label, for example `v3`.
    """

    def __init__(self, version: str, message: str | None = None) -> None:
        super().__init__(
            message
            or f"hash version {version!r} is not supported; upgrade the SDK to verify such hashes"
        )
        self.version = version


class SignatureMismatchError(IntegrityError):
    """The signature does not verify with the given public key."""


class MissingSignatureError(IntegrityError):
    """The event carries no signature (the server runs without a signing key)."""


_OUTCOME_UNKNOWN_MARK: Final = "_eventsourcingdb_outcome_unknown"


def _mark_outcome_unknown(cancellation: BaseException) -> None:
    """Mark a write cancelled after it may have been sent, for `is_outcome_unknown`.

    A cancellation is marked rather than wrapped, so that it still cancels as asyncio expects.
    """
    setattr(cancellation, _OUTCOME_UNKNOWN_MARK, True)
    cancellation.add_note("the write may have been stored: it was cancelled after it was sent")


def is_outcome_unknown(error: BaseException) -> bool:
    """Whether `error` leaves open if a write was stored.

    True for an `OutcomeUnknownError`, a write cancelled after it was sent, and an error caused
    by one of them (such as the `TimeoutError` of `asyncio.timeout` around such a write); only
    causes count (`__cause__`), not errors merely raised while handling one.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OutcomeUnknownError):
            return True
        if getattr(current, _OUTCOME_UNKNOWN_MARK, False) is True:
            return True
        current = current.__cause__
    return False


CustomError = EventSourcingDBError
InternalError = ProtocolError
HeartbeatTimeoutError = StreamStalledError
ConnectionStalledError = StreamStalledError
HashVerificationFailedError = HashMismatchError
SignatureVerificationFailedError = SignatureMismatchError

__all__ = [
    "AsyncMismatchError",
    "AuthenticationError",
    "ClientClosedError",
    "ClientError",
    "ConcurrencyError",
    "ConnectionStalledError",
    "ContainerError",
    "CustomError",
    "DbApiError",
    "ErrorCode",
    "EventLoopMismatchError",
    "EventSourcingDBError",
    "EventTooLargeError",
    "EventTypeNotFoundError",
    "HashMismatchError",
    "HashVerificationFailedError",
    "HeartbeatTimeoutError",
    "IncompatibleServerError",
    "IncompleteStreamError",
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
    "RefusedArgumentError",
    "SchemaAlreadyRegisteredError",
    "SchemaError",
    "SchemaViolationError",
    "ServerError",
    "SignatureMismatchError",
    "SignatureVerificationFailedError",
    "StoreReadOnlyError",
    "StreamStalledError",
    "TransportError",
    "UnsupportedHashVersionError",
    "ValidationError",
    "is_outcome_unknown",
]
