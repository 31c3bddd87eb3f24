"""Every public operation as a value: checked arguments, how to build its request for an API
version, and how to read its answer. The async client (and a blocking twin) only move bytes.

Preparing a call validates everything that does not depend on the server, so bad input fails
before any network traffic, the probe included.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, Generic, TypeVar

import orjson

from eventsourcingdb import _wire
from eventsourcingdb._eventql import bind_parameters
from eventsourcingdb._protocol.envelopes import (
    LineDecoder,
    MalformedItem,
    StreamDecoder,
    check_management_event,
    convert_event,
    convert_event_type_v1,
    convert_event_type_v2,
    convert_row_v1,
    convert_row_v2,
    convert_subject,
    decode_document,
    decode_stream_body,
    envelope_key,
    event_type_from_v1,
    event_type_from_v2,
    unwrap_v2_document,
)
from eventsourcingdb._protocol.errors import (
    FailureKind,
    TransportFailure,
    outcome_unknown,
    protocol_error,
    server_header_error,
    status_error,
)
from eventsourcingdb._protocol.events import split_json_array
from eventsourcingdb._protocol.requests import (
    ApiVersion,
    Operation,
    Request,
    TraceContext,
    build_observe_events,
    build_ping,
    build_read_event_type,
    build_read_event_types,
    build_read_events,
    build_read_subjects,
    build_register_event_schema,
    build_run_eventql_query,
    build_verify_api_token,
    build_write_events,
    check_candidates,
    check_preconditions,
    encode_candidates,
    encode_json,
)
from eventsourcingdb._protocol.sizes import check_event_sizes
from eventsourcingdb._validation import (
    check_event_type,
    check_json_object,
    check_str,
    check_subject,
)
from eventsourcingdb.errors import (
    ErrorCode,
    InvalidArgumentError,
    ProtocolError,
    RefusedArgumentError,
)
from eventsourcingdb.event import Event
from eventsourcingdb.event_type import EventType
from eventsourcingdb.options import ObserveEventsOptions, ReadEventsOptions, ReadSubjectsOptions

T = TypeVar("T")

_loads: Final[Callable[[bytes], Any]] = orjson.loads
_V2_KEY: Final = envelope_key(ApiVersion.V2)


@dataclass(frozen=True, slots=True)
class About:
    """What a call concerns, as telemetry reports it: never event data, never the token."""

    subject: str | None = None
    """The one subject the call reads, observes, lists or writes to."""
    event_type: str | None = None
    """The one event type the call is about."""
    count: int | None = None
    """How many events a write sends."""
    query: str | None = None
    """An EventQL query with bound parameters, as written (the values are not in it)."""


NOTHING_IN_PARTICULAR: Final = About()


@dataclass(frozen=True, slots=True)
class DocumentCall(Generic[T]):
    """A call whose answer is read whole (within the request timeout) and then interpreted."""

    operation: Operation
    build: Callable[[ApiVersion], Request]
    read: Callable[[Request, bytes], T]
    about: About = NOTHING_IN_PARTICULAR


@dataclass(frozen=True, slots=True)
class StreamCall(Generic[T]):
    """A call whose answer streams: its values are decoded chunk by chunk as they arrive."""

    operation: Operation
    build: Callable[[ApiVersion], Request]
    decoder: Callable[[Request], StreamDecoder[T]]
    about: About = NOTHING_IN_PARTICULAR


# --- answers ---------------------------------------------------------------------------------


def check_server(
    request: Request, server: str | None, status: int | None = None, body: bytes = b""
) -> None:
    """Raise unless the answer comes from EventSourcingDB (checked before the status); `status`
    and `body`, when given, describe a foreign answer to a write (a gateway's error page)."""
    error = server_header_error(request, server, status, body)
    if error is not None:
        raise error


def check_status(request: Request, status: int, body: bytes, retry_after: str | None) -> None:
    """Raise the mapped error unless the status is 200."""
    if status != 200:
        raise status_error(request, status, body, retry_after)


def may_retry(request: Request, failure: TransportFailure, attempt: int) -> bool:
    """Whether to send `request` once more after `failure`.

    Only calls that do not change state, only once, and only when the connection broke before
    any answer arrived (typically a kept-alive connection the server had closed). Writes never.
    """
    return (
        attempt == 0
        and not request.operation.changes_state
        and failure.kind is FailureKind.LOST
        and failure.before_response
    )


def read_ping(request: Request, body: bytes) -> None:
    """The ping answer: a management event of type `ping-received`."""
    document = decode_document(request, body)
    if request.version is ApiVersion.V2:
        document = unwrap_v2_document(request, document, _wire.ITEM_EVENT)
    check_management_event(request, document, _wire.PING_RECEIVED)


def _read_verify_api_token(request: Request, body: bytes) -> None:
    document = decode_document(request, body)
    if request.version is ApiVersion.V2:
        document = unwrap_v2_document(request, document, _wire.ITEM_EVENT)
        check_management_event(request, document, _wire.TOKEN_VERIFIED_V2)
    else:
        check_management_event(request, document, _wire.API_TOKEN_VERIFIED_V1)


def _usual_written_events(body: bytes, expected: int) -> list[Event] | None:
    """The events of a v2 write answer of the usual shape (`expected` event lines, then the
    `end` item, each line short enough for any parser), or None for anything else, which the
    stream decoder then reads, with its errors. The same events either way: what the decoder
    does with such an answer, without its generality (one small answer per write)."""
    lines = body.split(b"\n")
    if len(lines) != expected + 2 or lines[-1]:
        return None
    longest = sys.getrecursionlimit() // 2 * 2  # the decoder's limit for its fast parser
    events: list[Event] = []
    try:
        if _loads(lines[-2])["type"] != _wire.ITEM_END:
            return None
        for line in lines[:-2]:
            if len(line) > longest:
                return None
            item = _loads(line)
            if item["type"] != _wire.ITEM_EVENT:
                return None
            events.append(convert_event(item[_V2_KEY], line, _V2_KEY))
    except (ValueError, TypeError, KeyError, ProtocolError):
        return None
    return events


def _read_written_events(expected: int, request: Request, body: bytes) -> list[Event]:
    if request.version is ApiVersion.V2:
        usual = _usual_written_events(body, expected)
        if usual is not None:
            return usual
        decoder = StreamDecoder(request, _wire.ITEM_EVENT, convert_event)
        events = decode_stream_body(decoder, body)
    else:
        try:
            elements = split_json_array(body.decode("utf-8", "surrogatepass"))
        except (UnicodeDecodeError, ValueError) as error:
            raise outcome_unknown(request, f"the answer is not a JSON array: {error}") from None
        try:
            events = [Event._from_wire(value, text, None) for value, text in elements]
        except ProtocolError as error:
            raise outcome_unknown(request, error.message) from None
    if len(events) != expected:
        raise outcome_unknown(
            request, f"the server confirmed {len(events)} events, but {expected} were sent"
        )
    return events


def _management_value(value: Any, line: bytes | str, key: str) -> Any:
    return value


def _read_schema_registered(request: Request, body: bytes) -> None:
    if request.version is ApiVersion.V2:
        decoder = StreamDecoder(request, _wire.ITEM_EVENT, _management_value)
        items = decode_stream_body(decoder, body)
        if len(items) != 1:
            raise protocol_error(request, f"expected one event in the answer, got {len(items)}")
        document = items[0]
    else:
        document = decode_document(request, body)
    check_management_event(request, document, _wire.EVENT_SCHEMA_REGISTERED)


def _read_event_type(request: Request, body: bytes) -> EventType:
    document = decode_document(request, body)
    try:
        if request.version is ApiVersion.V2:
            return event_type_from_v2(unwrap_v2_document(request, document, _wire.ITEM_EVENT_TYPE))
        return event_type_from_v1(document)
    except MalformedItem as error:
        raise protocol_error(request, str(error)) from None


# --- preparing calls -------------------------------------------------------------------------


def ping() -> DocumentCall[None]:
    """`ping()`: whether the server is reachable (no token needed)."""
    return DocumentCall(Operation.PING, build_ping, read_ping)


def verify_api_token() -> DocumentCall[None]:
    """`verify_api_token()`: whether the server accepts the token."""
    return DocumentCall(Operation.VERIFY_API_TOKEN, build_verify_api_token, _read_verify_api_token)


def write_events(
    events: object, preconditions: object, trace_context: TraceContext | None = None
) -> DocumentCall[list[Event]]:
    """`write_events(events, preconditions)`: all events atomically, if every precondition holds.

    `trace_context` (`traceparent`, `tracestate`) goes into every event that carries none.
    """
    candidates = check_candidates(events)
    checked_preconditions = check_preconditions(preconditions)
    events_json = encode_candidates(candidates, trace_context)
    check_event_sizes(candidates, events_json)
    subjects = {candidate.subject for candidate in candidates}
    return DocumentCall(
        Operation.WRITE_EVENTS,
        lambda version: build_write_events(version, events_json, checked_preconditions),
        partial(_read_written_events, len(candidates)),
        About(subject=subjects.pop() if len(subjects) == 1 else None, count=len(candidates)),
    )


def register_event_schema(event_type: object, json_schema: object) -> DocumentCall[None]:
    """`register_event_schema(event_type, json_schema)`: a schema for a type, once and for all."""
    checked_type = check_event_type(event_type, "event_type")
    schema = check_json_object(
        dict(json_schema) if isinstance(json_schema, Mapping) else json_schema,
        "json_schema",
        ErrorCode.EVENT_SCHEMA_NOT_OBJECT,
    )
    schema_json = encode_json(schema, "json_schema")
    return DocumentCall(
        Operation.REGISTER_EVENT_SCHEMA,
        lambda version: build_register_event_schema(version, checked_type, schema_json),
        _read_schema_registered,
        About(event_type=checked_type),
    )


def read_event_type(event_type: object) -> DocumentCall[EventType]:
    """`read_event_type(event_type)`: one event type with its schema."""
    checked_type = check_event_type(event_type, "event_type")
    return DocumentCall(
        Operation.READ_EVENT_TYPE,
        lambda version: build_read_event_type(version, checked_type),
        _read_event_type,
        About(event_type=checked_type),
    )


def _event_decoder(request: Request) -> StreamDecoder[Event]:
    return StreamDecoder(request, _wire.ITEM_EVENT, convert_event)


def read_events(
    subject: object,
    options: object,
    line_decoders: Callable[[str], LineDecoder | None] | None = None,
) -> StreamCall[Any]:
    """`read_events(subject, options)`: the selected events, then the stream ends.

    `line_decoders` (for typed reads) gives, for the envelope member that holds an event, a
    `LineDecoder` the stream tries first on each line; its values are yielded as they are, in
    place of `Event`s.
    """
    checked_subject = check_subject(subject)
    if options is None:
        options = ReadEventsOptions()
    if not isinstance(options, ReadEventsOptions):
        raise InvalidArgumentError(
            f"options must be ReadEventsOptions, got {type(options).__name__}; for example "
            "ReadEventsOptions(recursive=False)"
        )
    checked_options = options
    decoder = _event_decoder
    if line_decoders is not None:
        make_line_decoder = line_decoders

        def decoder(request: Request) -> StreamDecoder[Any]:
            line_decoder = make_line_decoder(envelope_key(request.version))
            return StreamDecoder(request, _wire.ITEM_EVENT, convert_event, line_decoder)

    return StreamCall(
        Operation.READ_EVENTS,
        lambda version: build_read_events(version, checked_subject, checked_options),
        decoder,
        About(subject=checked_subject),
    )


def observe_events(subject: object, options: object) -> StreamCall[Event]:
    """`observe_events(subject, options)`: stored events, then new ones; never ends by itself."""
    checked_subject = check_subject(subject)
    if options is None:
        options = ObserveEventsOptions()
    if not isinstance(options, ObserveEventsOptions):
        raise InvalidArgumentError(
            f"options must be ObserveEventsOptions, got {type(options).__name__}; for example "
            "ObserveEventsOptions(recursive=False)"
        )
    checked_options = options
    return StreamCall(
        Operation.OBSERVE_EVENTS,
        lambda version: build_observe_events(version, checked_subject, checked_options),
        _event_decoder,
        About(subject=checked_subject),
    )


def _row_decoder(request: Request) -> StreamDecoder[Any]:
    convert = convert_row_v2 if request.version is ApiVersion.V2 else convert_row_v1
    return StreamDecoder(request, _wire.ITEM_ROW, convert)


def eventql_query(query: object, parameters: object = None) -> str:
    """The query to send: checked, not empty, with `parameters` bound to its `$name`s if given."""
    checked_query = check_str(query, "query", ErrorCode.QUERY_MISSING)
    if not checked_query.strip():
        raise RefusedArgumentError(
            "query must not be empty: pass an EventQL query, for example "
            "'FROM e IN events PROJECT INTO e'",
            code=ErrorCode.QUERY_MISSING,
        )
    if parameters is not None:
        checked_query = bind_parameters(checked_query, parameters)
    encode_json(checked_query, "query")
    return checked_query


def run_eventql_query(query: object, parameters: object = None) -> StreamCall[Any]:
    """`run_eventql_query(query, parameters=...)`: the rows of an EventQL query, as JSON values."""
    checked_query = eventql_query(query, parameters)
    return StreamCall(
        Operation.RUN_EVENTQL_QUERY,
        lambda version: build_run_eventql_query(version, checked_query),
        _row_decoder,
        # a query with parameters is recorded as written: its values are not in its text
        About(query=query) if parameters is not None and isinstance(query, str) else About(),
    )


def _subject_decoder(request: Request) -> StreamDecoder[str]:
    return StreamDecoder(request, _wire.ITEM_SUBJECT, convert_subject)


class _OneSubjectDecoder(StreamDecoder[str]):
    """Keeps only `subject` of a v1 listing, which always includes the subjects below it."""

    __slots__ = ("_subject",)

    def __init__(self, request: Request, subject: str) -> None:
        super().__init__(request, _wire.ITEM_SUBJECT, convert_subject)
        self._subject = subject

    def _decode(self, lines: list[bytes]) -> list[str]:
        return [value for value in super()._decode(lines) if value == self._subject]


def read_subjects(
    subject: object, options: object = None, *, what: str = "subject"
) -> StreamCall[str]:
    """`read_subjects(subject, options)`: the subject and (with `options.recursive`, the
    default) every known subject below it."""
    checked_subject = check_subject(subject, what)
    if options is None:
        options = ReadSubjectsOptions(recursive=True)
    if not isinstance(options, ReadSubjectsOptions):
        raise InvalidArgumentError(
            f"options must be ReadSubjectsOptions, got {type(options).__name__}; for example "
            "ReadSubjectsOptions(recursive=True)"
        )
    recursive = options.recursive

    def decoder(request: Request) -> StreamDecoder[str]:
        if recursive or request.version is ApiVersion.V2:
            return _subject_decoder(request)
        return _OneSubjectDecoder(request, checked_subject)

    return StreamCall(
        Operation.READ_SUBJECTS,
        lambda version: build_read_subjects(version, checked_subject, recursive),
        decoder,
        About(subject=checked_subject),
    )


def _event_type_decoder(request: Request) -> StreamDecoder[EventType]:
    convert = convert_event_type_v2 if request.version is ApiVersion.V2 else convert_event_type_v1
    return StreamDecoder(request, _wire.ITEM_EVENT_TYPE, convert)


def read_event_types() -> StreamCall[EventType]:
    """`read_event_types()`: every event type that has events or a schema."""
    return StreamCall(Operation.READ_EVENT_TYPES, build_read_event_types, _event_type_decoder)
