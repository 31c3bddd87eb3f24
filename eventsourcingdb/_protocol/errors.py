"""What went wrong, as the SDK's exceptions: statuses, v1 texts, v2 codes and transport failures.

Also decides, for calls that change state, whether a failure is a refusal (nothing happened) or
an unknown outcome (the write may have landed): a write is never reported as refused unless the
server said so.
"""

from __future__ import annotations

import enum
import json
import math
from typing import Any, Final

from eventsourcingdb import _wire
from eventsourcingdb._protocol.requests import ApiVersion, Operation, Request
from eventsourcingdb.errors import (
    AuthenticationError,
    ClientError,
    ConcurrencyError,
    DbApiError,
    ErrorCode,
    EventSourcingDBError,
    EventTypeNotFoundError,
    IncompleteStreamError,
    InvalidSchemaError,
    OutcomeUnknownError,
    ProtocolError,
    QueryError,
    RateLimitedError,
    SchemaAlreadyRegisteredError,
    SchemaError,
    SchemaViolationError,
    StoreReadOnlyError,
    StreamStalledError,
    TransportError,
)

_DESCRIPTION_LIMIT: Final = 1000

_CLASS_BY_CODE: Final[dict[ErrorCode, type[DbApiError]]] = {
    ErrorCode.PRECONDITION_VIOLATED: ConcurrencyError,
    ErrorCode.EVENT_TYPE_UNKNOWN: EventTypeNotFoundError,
    ErrorCode.QUERY_MISSING: QueryError,
    ErrorCode.QUERY_MALFORMED: QueryError,
    ErrorCode.QUERY_UNEVALUABLE: QueryError,
    ErrorCode.QUERY_NOT_BOOLEAN: QueryError,
    ErrorCode.EVENT_SCHEMA_VIOLATED: SchemaViolationError,
    ErrorCode.EVENT_SCHEMA_ALREADY_REGISTERED: SchemaAlreadyRegisteredError,
    ErrorCode.EVENT_SCHEMA_MALFORMED: InvalidSchemaError,
    ErrorCode.EVENT_SCHEMA_NOT_OBJECT: InvalidSchemaError,
    ErrorCode.EVENT_SCHEMA_MISSING: InvalidSchemaError,
    ErrorCode.EVENT_SCHEMA_UNREGISTERED: SchemaError,
    ErrorCode.STORE_READ_ONLY: StoreReadOnlyError,
    ErrorCode.LICENSE_INVALID: DbApiError,
    ErrorCode.CAPACITY_EXCEEDED: DbApiError,
    ErrorCode.DISK_FULL: DbApiError,
    ErrorCode.STORE_FAILED: DbApiError,
    ErrorCode.SERVER_SHUTTING_DOWN: DbApiError,
    ErrorCode.RESTORE_IN_PROGRESS: DbApiError,
    ErrorCode.INDEXES_REBUILDING: DbApiError,
    ErrorCode.READ_ONLY_MODE_ALREADY_ENABLED: DbApiError,
}
"""Codes not listed here are about the request itself: `ClientError`."""

_SUMMARY: Final[dict[type[DbApiError], str]] = {
    AuthenticationError: (
        "the server refused the API token: it is missing or wrong; check the api_token given to "
        "Client"
    ),
    ConcurrencyError: "a precondition does not hold, so nothing was written",
    EventTypeNotFoundError: "the server knows no such event type",
    QueryError: "the EventQL query was refused",
    SchemaViolationError: "event data do not match the event schema",
    SchemaAlreadyRegisteredError: (
        "the event type has a schema already, and schemas cannot be changed"
    ),
    InvalidSchemaError: "the server does not accept the schema",
    SchemaError: "the request conflicts with event schemas",
    StoreReadOnlyError: "the store is in read-only mode and refuses the request",
    RateLimitedError: "too many requests: the server's rate limit was reached",
    ClientError: "the server refused the request",
    DbApiError: "the server could not handle the request",
}


class FailureKind(enum.Enum):
    """How a request failed below HTTP."""

    NOT_SENT = "not sent"
    """No connection could be made: the request did not reach the server."""
    LOST = "lost"
    """The connection broke while sending or receiving: the server may have acted on it."""
    TIMEOUT = "timeout"
    """No complete answer within the request timeout."""
    STALLED = "stalled"
    """No byte arrived on a stream within the stall timeout."""
    MALFORMED = "malformed"
    """The body could not be decoded (for example a broken content encoding)."""
    POOL_EXHAUSTED = "pool exhausted"
    """No connection of the pool became free in time: the request was not sent."""


class TransportCause(Exception):
    """What the HTTP library reported, as text only: the cause chained to a transport error.

    The library's own exception holds the request, and with it the `Authorization` header; this
    keeps only its type name and message, so no object reachable from an SDK error holds the
    API token.
    """

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name


class TransportFailure(Exception):
    """Raised by the transport; the client turns it into a public error with `failure_error`.

    It chains no exception of the HTTP library (whose request holds the token); `cause` is the
    sanitised text of one, to chain to the public error, and `pool_size` the number of pooled
    connections when known (for `POOL_EXHAUSTED`).
    """

    def __init__(
        self,
        kind: FailureKind,
        detail: str,
        *,
        before_response: bool,
        seconds: float | None = None,
        cause: TransportCause | None = None,
        pool_size: int | None = None,
    ) -> None:
        super().__init__(f"{kind.value}: {detail}")
        self.kind = kind
        self.detail = detail
        self.before_response = before_response
        self.seconds = seconds
        self.cause = cause
        self.pool_size = pool_size


def _where(request: Request, status: int | None = None, code: ErrorCode | None = None) -> str:
    parts = []
    if status is not None:
        parts.append(str(status))
    if code is not None:
        parts.append(code.slug)
    parts.append(request.target)
    return "[" + ", ".join(parts) + "]"


def _trim(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _DESCRIPTION_LIMIT else text[:_DESCRIPTION_LIMIT] + "..."


def outcome_unknown(
    request: Request, reason: str, *, status: int | None = None, description: str = ""
) -> OutcomeUnknownError:
    """A write whose answer was lost: it may or may not have been stored.

    `status` and `description` are those of the answer that arrived instead (a gateway's 502).
    """
    what = (
        "the schema may or may not have been registered"
        if request.operation is Operation.REGISTER_EVENT_SCHEMA
        else "the events may or may not have been written"
    )
    return OutcomeUnknownError(
        f"{request.label}: the answer was lost, so {what}: {reason}; do not retry "
        "blindly: read the subject (or write with a precondition such as IsSubjectOnEventId) to "
        f"find out {_where(request)}",
        path=request.path,
        status=status,
        description=description,
    )


def server_header_error(
    request: Request, server: str | None, status: int | None = None, body: bytes = b""
) -> EventSourcingDBError | None:
    """None if the `Server` header says EventSourcingDB, else the error to raise.

    For a write, the `status` and `body` of such an answer other than 200 (a gateway's 502 page)
    go into the `OutcomeUnknownError`.
    """
    if server is not None and server.startswith(_wire.SERVER_HEADER_PREFIX):
        return None
    problem = (
        "has no Server header" if server is None else f"has the Server header {_trim(server)!r}"
    )
    reason = (
        f"the answer {problem}, so it does not come from EventSourcingDB (expected "
        f"'{_wire.SERVER_HEADER_PREFIX}<version>'); check base_url and any proxy in between"
    )
    if request.operation.changes_state:
        if status is None or status == 200:
            return outcome_unknown(request, reason)
        description = _trim(body.decode("utf-8", "replace"))
        return outcome_unknown(
            request,
            f"{reason}; it answered {status}: {description or '(no text)'}",
            status=status,
            description=description,
        )
    return ProtocolError(f"{request.label}: {reason} {_where(request)}", path=request.path)


_V1_QUERY_TEXTS: Final = (
    ("syntax error", ErrorCode.QUERY_MALFORMED),
    ("query must return a single boolean value", ErrorCode.QUERY_NOT_BOOLEAN),
    ("evaluation error", ErrorCode.QUERY_UNEVALUABLE),
)
"""How a v1 text describes an EventQL problem (the emulator's texts, after the server's), and the
v2 code for it. A prefix may be followed by ` at line L, column C` and `: <detail>`."""


def _v1_query_code(text: str) -> ErrorCode | None:
    """The code of a v1 text about an EventQL query, None if it is about something else."""
    for prefix, code in _V1_QUERY_TEXTS:
        if text.startswith(prefix):
            return code
    return None


def _v1_code(operation: Operation, status: int, text: str) -> ErrorCode | None:
    """The code the official client maps a v1 error text to (texts of EventSourcingDB 1.2).

    A 400 to `write_events` (an `IsEventQlQueryTrue` precondition) or to `run_eventql_query`
    whose text is about the query gets the query's code, as a v2 server would send.
    """
    if status == 400 and operation in (Operation.WRITE_EVENTS, Operation.RUN_EVENTQL_QUERY):
        query_code = _v1_query_code(text)
        if query_code is not None:
            return query_code
    if status == 409:
        for prefix, code in (
            (_wire.TEXT_PRECONDITION_FAILED, ErrorCode.PRECONDITION_VIOLATED),
            (_wire.TEXT_CAPACITY_EXCEEDED, ErrorCode.CAPACITY_EXCEEDED),
            (_wire.TEXT_CANDIDATE_VIOLATES_SCHEMA, ErrorCode.EVENT_SCHEMA_VIOLATED),
            (_wire.TEXT_SCHEMA_ALREADY_EXISTS, ErrorCode.EVENT_SCHEMA_ALREADY_REGISTERED),
            (_wire.TEXT_STORED_EVENT_VIOLATES_SCHEMA, ErrorCode.EVENT_SCHEMA_VIOLATED),
            (_wire.TEXT_RANGE_UNSATISFIABLE, ErrorCode.RANGE_UNSATISFIABLE),
        ):
            if text.startswith(prefix):
                return code
    if (
        status == 404
        and operation is Operation.READ_EVENT_TYPE
        and not text.startswith(_wire.TEXT_NOT_FOUND)
    ):
        return ErrorCode.EVENT_TYPE_UNKNOWN
    if status == 503 and text.startswith(_wire.TEXT_READ_ONLY):
        return ErrorCode.STORE_READ_ONLY
    if status == 507 and operation is Operation.WRITE_EVENTS:
        return ErrorCode.LICENSE_INVALID
    return None


def _class_for_status(request: Request, status: int) -> type[DbApiError]:
    if status == 401:
        return AuthenticationError
    if status == 400 and request.version is ApiVersion.V1:
        if request.operation is Operation.REGISTER_EVENT_SCHEMA:
            return InvalidSchemaError
        if request.operation is Operation.RUN_EVENTQL_QUERY:
            return QueryError
    if 400 <= status < 500:
        return ClientError
    return DbApiError


def parse_retry_after(value: str | None) -> float | None:
    """The seconds of a `Retry-After` header (the server sends whole seconds); None if absent
    or not a number of seconds."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def is_refusal(version: ApiVersion, status: int) -> bool:
    """Whether a non-200 status means the server did not act on a write.

    Any 4xx, and 503; v1 also 507 (licence). Everything else (500, 502, 504, ...) leaves the
    outcome unknown.
    """
    if 400 <= status < 500 or status == 503:
        return True
    return version is ApiVersion.V1 and status == 507


def status_error(
    request: Request, status: int, body: bytes, retry_after: str | None = None
) -> EventSourcingDBError:
    """The error of a non-200 answer with a plain-text body."""
    description = _trim(body.decode("utf-8", "replace"))
    code = _v1_code(request.operation, status, description)
    if status == 429:
        seconds = parse_retry_after(retry_after)
        wait = f"; retry after {seconds:g} seconds" if seconds is not None else ""
        if request.operation.changes_state:
            wait = f", so the request was not executed and may be sent again safely{wait}"
        error: DbApiError = RateLimitedError(
            f"{request.label}: {_SUMMARY[RateLimitedError]}{wait}: {description} "
            f"{_where(request, status)}",
            status=status,
            description=description,
            path=request.path,
            retry_after=seconds,
        )
    else:
        cls = _CLASS_BY_CODE.get(code, ClientError) if code else _class_for_status(request, status)
        summary = _SUMMARY.get(cls, _SUMMARY[DbApiError])
        if status in (404, 405) and code is None:
            summary = (
                "the server does not offer this route; it may be older than this call needs, or "
                "base_url may point elsewhere"
            )
        error = cls(
            f"{request.label}: {summary}: {description or '(no text)'} "
            f"{_where(request, status, code)}",
            status=status,
            code=code,
            description=description,
            path=request.path,
        )
    if request.operation.changes_state and not is_refusal(request.version, status):
        unknown = outcome_unknown(
            request,
            f"the server answered {status}: {description or '(no text)'}",
            status=status,
            description=description,
        )
        unknown.__cause__ = error
        return unknown
    return error


def coded_error(
    request: Request,
    code: ErrorCode | None,
    description: str,
    details: dict[str, Any] | None = None,
    *,
    raw_code: str | None = None,
) -> DbApiError:
    """The error of a v2 `error` envelope (or a v1 `error` line) that arrived under status 200."""
    if code is not None:
        cls = _CLASS_BY_CODE.get(code, ClientError)
    elif request.operation is Operation.RUN_EVENTQL_QUERY:
        cls = QueryError
    else:
        cls = DbApiError
    summary = _SUMMARY.get(cls, _SUMMARY[DbApiError])
    where = _where(request, 200, code)
    if code is None and raw_code:
        where = where[:-1] + f", code {raw_code!r}]"
    text = _trim(description) or "(no description)"
    return cls(
        f"{request.label}: {summary}: {text} {where}",
        status=200,
        code=code if code is not None else raw_code,
        description=_trim(description),
        path=request.path,
        details=details,
    )


def v1_error_line(request: Request, payload: Any) -> DbApiError:
    """The error of a v1 `{"type":"error","payload":{"error":...}}` line."""
    details: dict[str, Any] = {}
    if isinstance(payload, dict):
        message = payload.get("error")
        description = message if isinstance(message, str) else json.dumps(payload)
        details = {key: value for key, value in payload.items() if key != "error"}
    else:
        description = json.dumps(payload)
    code = _v1_code(request.operation, 409, description)
    if code is None and request.operation is Operation.RUN_EVENTQL_QUERY:
        code = _v1_query_code(description)
    return coded_error(request, code, description, details)


def v2_error_envelope(request: Request, data: Any) -> DbApiError:
    """The error of a v2 `{"type":"error","data":{"code","description","details"}}` envelope."""
    if not isinstance(data, dict):
        return coded_error(request, None, json.dumps(data))
    raw_code = data.get("code")
    code = ErrorCode.from_url(raw_code) if isinstance(raw_code, str) else None
    description = data.get("description")
    if not isinstance(description, str):
        description = json.dumps(data)
    details = data.get("details")
    return coded_error(
        request,
        code,
        description,
        details if isinstance(details, dict) else None,
        raw_code=raw_code if isinstance(raw_code, str) and code is None else None,
    )


def protocol_error(request: Request, reason: str) -> EventSourcingDBError:
    """An answer that breaks the protocol; for a write the outcome is then unknown."""
    if request.operation.changes_state:
        return outcome_unknown(request, reason)
    return ProtocolError(f"{request.label}: {reason} {_where(request)}", path=request.path)


def broken_stream(request: Request, reason: str) -> EventSourcingDBError:
    """A stream that ended before it was complete; for a write the outcome is then unknown."""
    if request.operation.changes_state:
        return outcome_unknown(request, reason)
    return IncompleteStreamError(
        f"{request.label}: the stream broke off: {reason} {_where(request)}",
        path=request.path,
    )


def failure_error(
    request: Request, failure: TransportFailure, base_url: str
) -> EventSourcingDBError:
    """The public error for a transport failure of `request`."""
    operation = request.label
    if failure.kind is FailureKind.POOL_EXHAUSTED:
        held = (
            f"all {failure.pool_size} connections of the client's pool"
            if failure.pool_size is not None
            else "all connections of the pool of the given http_client"
        )
        waited = f" within {failure.seconds:g} seconds" if failure.seconds is not None else ""
        return TransportError(
            f"{operation}: no connection became free{waited}: {held} are held by open streams "
            "(reads, observations, queries or listings not yet ended), so the request was not "
            "sent; close the streams you no longer need (break out of their loop, or aclose() "
            "them, for example with contextlib.aclosing), or pass an http_client with larger "
            f"httpx.Limits(max_connections=...) {_where(request)}",
            path=request.path,
        )
    if failure.kind is FailureKind.NOT_SENT:
        return TransportError(
            f"{operation}: could not reach the server at {base_url}: {failure.detail}; check "
            f"base_url and that the server is running {_where(request)}",
            path=request.path,
        )
    if request.operation.changes_state:
        reasons = {
            FailureKind.LOST: f"the connection broke off ({failure.detail})",
            FailureKind.TIMEOUT: f"no answer within {failure.seconds:g} seconds"
            if failure.seconds is not None
            else f"the request timed out ({failure.detail})",
            FailureKind.STALLED: f"no byte arrived for {failure.seconds:g} seconds"
            if failure.seconds is not None
            else f"the answer stalled ({failure.detail})",
            FailureKind.MALFORMED: f"the answer could not be decoded ({failure.detail})",
        }
        return outcome_unknown(request, reasons[failure.kind])
    if failure.kind is FailureKind.STALLED:
        seconds = failure.seconds if failure.seconds is not None else 0.0
        return StreamStalledError(
            f"{operation}: no byte arrived for {seconds:g} seconds, so the connection was given "
            f"up; the server or the network stalled (raise stall_timeout to wait longer) "
            f"{_where(request)}",
            path=request.path,
            timeout=seconds,
        )
    if failure.kind is FailureKind.TIMEOUT:
        limit = f"within {failure.seconds:g} seconds" if failure.seconds is not None else "in time"
        return TransportError(
            f"{operation}: the server did not answer {limit} ({failure.detail}); raise timeout "
            f"to wait longer {_where(request)}",
            path=request.path,
        )
    if failure.kind is FailureKind.MALFORMED:
        return ProtocolError(
            f"{operation}: the answer could not be decoded: {failure.detail} {_where(request)}",
            path=request.path,
        )
    return TransportError(
        f"{operation}: the connection to the server broke off: {failure.detail} {_where(request)}",
        path=request.path,
    )
