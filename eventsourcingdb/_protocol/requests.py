"""The HTTP request of every call, for API v1 and v2, built as a small immutable value.

Builders take checked values (candidates, preconditions, options) and an API version and return a
`Request`; the transport sends it. Bodies are compact UTF-8 JSON; v2 bodies leave out optional
members instead of sending `null`.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import isfinite as _isfinite
from typing import Any, Final

import orjson

from eventsourcingdb import _wire
from eventsourcingdb._validation import rephrase
from eventsourcingdb.errors import (
    ErrorCode,
    IncompatibleServerError,
    InvalidArgumentError,
    RefusedArgumentError,
)
from eventsourcingdb.event import EventCandidate
from eventsourcingdb.options import ObserveEventsOptions, ReadEventsOptions
from eventsourcingdb.preconditions import Precondition, SubjectPrecondition


class ApiVersion(enum.IntEnum):
    """The two HTTP APIs of EventSourcingDB: `/api/v1` and (servers since 1.3) `/api/v2`."""

    V1 = 1
    V2 = 2


class Operation(enum.Enum):
    """The public calls of the client; the value is the method name used in messages."""

    PING = "ping"
    VERIFY_API_TOKEN = "verify_api_token"
    WRITE_EVENTS = "write_events"
    READ_EVENTS = "read_events"
    OBSERVE_EVENTS = "observe_events"
    RUN_EVENTQL_QUERY = "run_eventql_query"
    REGISTER_EVENT_SCHEMA = "register_event_schema"
    READ_SUBJECTS = "read_subjects"
    READ_EVENT_TYPES = "read_event_types"
    READ_EVENT_TYPE = "read_event_type"

    @property
    def changes_state(self) -> bool:
        """Whether the call writes to the store: never retried, and a lost answer is unknown."""
        return self in (Operation.WRITE_EVENTS, Operation.REGISTER_EVENT_SCHEMA)


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request: method, path and body, plus what the client needs to know about it."""

    operation: Operation
    version: ApiVersion
    method: str
    path: str
    body: bytes | None = None
    authenticated: bool = True
    context: str | None = None
    """What the user called, when it differs from `operation` (the probe made on behalf of
    another call): messages then name that instead."""

    def headers(self, api_token: str) -> dict[str, str]:
        """The request headers: the token (except on pings) and a content type with a body."""
        headers: dict[str, str] = {}
        if self.authenticated:
            headers[_wire.AUTHORIZATION_HEADER] = f"Bearer {api_token}"
        if self.body is not None:
            headers["content-type"] = _wire.JSON_CONTENT_TYPE
        return headers

    @property
    def label(self) -> str:
        """How messages name the call: the method the user called (`write_events`, ...)."""
        return self.context if self.context is not None else self.operation.value

    @property
    def target(self) -> str:
        """`METHOD /path`, for messages and logs."""
        return f"{self.method} {self.path}"

    def __repr__(self) -> str:
        size = "no body" if self.body is None else f"{len(self.body)} bytes"
        return f"Request({self.operation.value}, v{int(self.version)}, {self.target}, {size})"


_PLAIN_SCALARS: Final = frozenset((str, int, bool, type(None)))
_ORJSON_OPTIONS: Final = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_STR_ONLY: Final = frozenset((str,))
_FLAT_SCALARS: Final = frozenset((str, int, bool, type(None)))
_MAX_PLAIN_DEPTH: Final = 200
"""Deeper values (or cycles) take `json`'s way, which reads up to the recursion limit."""


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether `value` holds only what orjson writes exactly as `encode_json` does: dicts with
    str keys, lists, tuples, str, int, bool, None and finite floats, of exactly these types.

    orjson also writes UUIDs, enums and dataclasses, and writes NaN and infinity as `null`,
    where `json` refuses them: such values take `json`'s way, with its errors.
    """
    if depth > _MAX_PLAIN_DEPTH:
        return False
    kind = type(value)
    if kind is dict:
        if _STR_ONLY.issuperset(map(type, value)) and _FLAT_SCALARS.issuperset(
            map(type, value.values())
        ):
            return True  # the usual data: str keys and values without floats, looked at in C
        if not _STR_ONLY.issuperset(map(type, value)):
            return False
        values = value.values()
    elif kind is list or kind is tuple:
        values = value
    else:
        return kind in _PLAIN_SCALARS or (kind is float and _isfinite(value))
    scalars = _PLAIN_SCALARS
    for item in values:
        kind = type(item)
        if kind in scalars:
            continue
        if kind is float:
            if not _isfinite(item):
                return False
        elif not ((kind is dict or kind is list or kind is tuple) and _plain(item, depth + 1)):
            return False
    return True


def encode_json(value: Any, what: str) -> bytes:
    """`value` as compact UTF-8 JSON; a value JSON cannot represent is an `InvalidArgumentError`.

    Plain values go to orjson (the same document as `json` writes, in a fraction of the time);
    anything else, and what orjson refuses (integers beyond 64 bits, lone surrogates), takes
    `json`'s way (`encode_with_json`), with its errors.
    """
    if _plain(value):
        try:
            return orjson.dumps(value, option=_ORJSON_OPTIONS)
        except orjson.JSONEncodeError:
            pass
    return encode_with_json(value, what)


def encode_with_json(value: Any, what: str) -> bytes:
    """`value` as compact UTF-8 JSON by the standard library's encoder (see `encode_json`)."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
            "utf-8"
        )
    except UnicodeEncodeError:
        raise InvalidArgumentError(
            f"{what} contains a lone surrogate character, which is not valid Unicode text; "
            "remove or replace it"
        ) from None
    except (TypeError, ValueError, RecursionError) as error:
        raise InvalidArgumentError(
            f"{what} cannot be encoded as JSON: {error}; use only dicts with string keys, lists, "
            "strings, numbers (not NaN or infinity), booleans and None"
        ) from None


# --- system calls ----------------------------------------------------------------------------


def build_ping(version: ApiVersion) -> Request:
    """`ping`: the only call without a token; for v2 also the probe of the API version."""
    path = _wire.V2_PING if version is ApiVersion.V2 else _wire.V1_PING
    return Request(Operation.PING, version, "GET", path, authenticated=False)


def build_verify_api_token(version: ApiVersion) -> Request:
    """`verify_api_token`: a POST without a body."""
    path = _wire.V2_VERIFY_TOKEN if version is ApiVersion.V2 else _wire.V1_VERIFY_API_TOKEN
    return Request(Operation.VERIFY_API_TOKEN, version, "POST", path)


# --- writing ---------------------------------------------------------------------------------


def _precondition_to_wire(
    precondition: Precondition, version: ApiVersion, index: int
) -> dict[str, Any]:
    """One precondition as `to_json()` gives it (the v2 form); for v1 without options, which
    that API does not know, and a recursive one is refused: v1 cannot check nested subjects."""
    wire = precondition.to_json()
    if not isinstance(wire, dict):
        raise InvalidArgumentError(
            f"preconditions[{index}].to_json() must return a dict with type and payload, got "
            f"{type(wire).__name__}"
        )
    if version is ApiVersion.V1 and isinstance(precondition, SubjectPrecondition):
        if precondition.recursive:
            raise IncompatibleServerError(
                f"preconditions[{index}] ({type(precondition).__name__} with recursive=True) "
                "needs the v2 API, but the server speaks only v1, which checks a subject without "
                "its nested subjects; upgrade the server to EventSourcingDB 1.3 or newer, or pass "
                "recursive=False; nothing was written"
            )
        wire = {**wire, "payload": {**wire["payload"]}}
        wire["payload"].pop("options", None)
    return wire


def check_preconditions(preconditions: object) -> tuple[Precondition, ...]:
    """The preconditions as a tuple, each a `Precondition` (the four classes, or a subclass)."""
    if preconditions is None:
        return ()
    if isinstance(preconditions, str | bytes | Mapping) or not isinstance(preconditions, Sequence):
        raise InvalidArgumentError(
            "preconditions must be a list of preconditions, for example "
            f"[IsSubjectPristine('/books/42')], got {type(preconditions).__name__}"
        )
    checked = tuple(preconditions)
    for index, precondition in enumerate(checked):
        if not isinstance(precondition, Precondition):
            raise InvalidArgumentError(
                f"preconditions[{index}] must be IsSubjectPristine, IsSubjectPopulated, "
                f"IsSubjectOnEventId or IsEventQlQueryTrue, got {type(precondition).__name__}"
            )
    return checked


def check_candidates(events: object) -> tuple[EventCandidate, ...]:
    """The events to write as candidates: `EventCandidate`s or plain dicts; at least one."""
    if isinstance(events, str | bytes | Mapping) or not isinstance(events, Sequence):
        raise InvalidArgumentError(
            "events must be a list of events (EventCandidate values or dicts with source, "
            f"subject, type and data), got {type(events).__name__}"
        )
    if not events:
        raise RefusedArgumentError(
            "events must not be empty: pass at least one event to write",
            code=ErrorCode.EVENTS_MISSING,
        )
    candidates: list[EventCandidate] = []
    for index, event in enumerate(events):
        if isinstance(event, EventCandidate):
            candidates.append(event)
        else:
            try:
                candidates.append(EventCandidate.from_dict(event, what=f"events[{index}]"))
            except InvalidArgumentError as error:
                message = error.message
                if not message.startswith(f"events[{index}]"):
                    message = f"events[{index}]: {message}"
                raise rephrase(error, message) from None
    return tuple(candidates)


_COMPACT: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
"""What `encode_with_json` runs, built once: `json.dumps` with arguments builds one per call."""


TraceContext = tuple[str, str | None]
"""W3C trace context as events carry it: `traceparent`, and `tracestate` or None."""


def encode_candidates(
    candidates: Sequence[EventCandidate], trace_context: TraceContext | None = None
) -> bytes:
    """The `events` member of write-events as JSON, encoded once, before anything is sent.

    One encoder call for the whole list (orjson when the data are plain, see `encode_json`); when
    it fails, the candidates are encoded one by one, so that the error names the one that cannot
    be encoded (the document is the same either way).
    `trace_context` goes into every candidate that carries none of its own.
    """
    wires = [candidate.to_json() for candidate in candidates]
    if trace_context is not None:
        parent, state = trace_context
        for wire in wires:
            if "traceparent" not in wire:
                wire["traceparent"] = parent
                if state:
                    wire["tracestate"] = state
    # the other members are checked strings (a str subclass reads as a str either way)
    if all(_plain(candidate.data) for candidate in candidates):
        try:
            return orjson.dumps(wires, option=_ORJSON_OPTIONS)
        except orjson.JSONEncodeError:  # integers beyond 64 bits, lone surrogates
            pass
    try:
        return _COMPACT.encode(wires).encode("utf-8")
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        pass
    fragments = [
        encode_with_json(wire, f"events[{index}].data") for index, wire in enumerate(wires)
    ]
    return b"[" + b",".join(fragments) + b"]"


def build_write_events(
    version: ApiVersion,
    events_json: bytes,
    preconditions: Sequence[Precondition],
) -> Request:
    """`write_events`: the encoded candidates and (if any) the preconditions, atomically."""
    body = b'{"events":' + events_json
    if preconditions:
        wire = [
            _precondition_to_wire(precondition, version, index)
            for index, precondition in enumerate(preconditions)
        ]
        body += b',"preconditions":' + encode_json(wire, "preconditions")
    body += b"}"
    path = _wire.V2_WRITE_EVENTS if version is ApiVersion.V2 else _wire.V1_WRITE_EVENTS
    return Request(Operation.WRITE_EVENTS, version, "POST", path, body)


def build_register_event_schema(
    version: ApiVersion, event_type: str, schema_json: bytes
) -> Request:
    """`register_event_schema`: the type and its encoded JSON Schema (v1 names the type
    `eventType`, v2 `type`)."""
    key = b'"type"' if version is ApiVersion.V2 else b'"eventType"'
    body = b"{" + key + b":" + encode_json(event_type, "event_type") + b',"schema":'
    body += schema_json + b"}"
    path = (
        _wire.V2_REGISTER_EVENT_SCHEMA
        if version is ApiVersion.V2
        else _wire.V1_REGISTER_EVENT_SCHEMA
    )
    return Request(Operation.REGISTER_EVENT_SCHEMA, version, "POST", path, body)


# --- reading ---------------------------------------------------------------------------------


def _read_method(version: ApiVersion) -> str:
    return _wire.QUERY_METHOD if version is ApiVersion.V2 else "POST"


def build_read_events(version: ApiVersion, subject: str, options: ReadEventsOptions) -> Request:
    """`read_events`: a stream of the selected events."""
    body = encode_json({"subject": subject, "options": options.to_json()}, "options")
    path = _wire.V2_READ_EVENTS if version is ApiVersion.V2 else _wire.V1_READ_EVENTS
    return Request(Operation.READ_EVENTS, version, _read_method(version), path, body)


def build_observe_events(
    version: ApiVersion, subject: str, options: ObserveEventsOptions
) -> Request:
    """`observe_events`: stored events, then new ones as they are written; never ends."""
    body = encode_json({"subject": subject, "options": options.to_json()}, "options")
    path = _wire.V2_OBSERVE_EVENTS if version is ApiVersion.V2 else _wire.V1_OBSERVE_EVENTS
    return Request(Operation.OBSERVE_EVENTS, version, _read_method(version), path, body)


def build_run_eventql_query(version: ApiVersion, query: str) -> Request:
    """`run_eventql_query`: a stream of result rows."""
    body = encode_json({"query": query}, "query")
    path = _wire.V2_RUN_EVENTQL_QUERY if version is ApiVersion.V2 else _wire.V1_RUN_EVENTQL_QUERY
    return Request(Operation.RUN_EVENTQL_QUERY, version, _read_method(version), path, body)


def build_read_subjects(version: ApiVersion, base_subject: str, recursive: bool = True) -> Request:
    """`read_subjects`: the subject, and with `recursive` every known subject below it.

    v2 names the base `subject` and takes `recursive`; v1 always lists the subjects below too
    (the decoder then keeps only the subject itself when `recursive` is False).
    """
    if version is ApiVersion.V2:
        body = encode_json(
            {"subject": base_subject, "options": {"recursive": recursive}}, "subject"
        )
        path = _wire.V2_READ_SUBJECTS
    else:
        body = encode_json({"baseSubject": base_subject}, "base_subject")
        path = _wire.V1_READ_SUBJECTS
    return Request(Operation.READ_SUBJECTS, version, _read_method(version), path, body)


def build_read_event_types(version: ApiVersion) -> Request:
    """`read_event_types`: a stream of every known event type; no body."""
    path = _wire.V2_READ_EVENT_TYPES if version is ApiVersion.V2 else _wire.V1_READ_EVENT_TYPES
    return Request(Operation.READ_EVENT_TYPES, version, _read_method(version), path)


def build_read_event_type(version: ApiVersion, event_type: str) -> Request:
    """`read_event_type`: one event type (v1 calls the member `eventType`, v2 `type`)."""
    key = "type" if version is ApiVersion.V2 else "eventType"
    body = encode_json({key: event_type}, "event_type")
    path = _wire.V2_READ_EVENT_TYPE if version is ApiVersion.V2 else _wire.V1_READ_EVENT_TYPE
    return Request(Operation.READ_EVENT_TYPE, version, _read_method(version), path, body)
