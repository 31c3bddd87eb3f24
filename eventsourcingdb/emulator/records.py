"""The values of the emulator's engine: candidates, stored events, selections and refusals.

A `StoredEvent` carries the JSON object the server sends for it (`encoded`), built once when it is
written, in the member order of the real server's captured line.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from eventsourcingdb import _wire
from eventsourcingdb.emulator.encoding import encode_string
from eventsourcingdb.emulator.eventql import EventQLError, Query
from eventsourcingdb.emulator.hashing import EventMetadata
from eventsourcingdb.emulator.schemas import CompiledSchema

__all__ = [
    "DATA_CONTENT_TYPE",
    "SPEC_VERSION",
    "Bound",
    "Candidate",
    "EventTypeInfo",
    "FromLatestEvent",
    "IfEventIsMissing",
    "ObservationClosedError",
    "Precondition",
    "PreconditionFailedError",
    "PreconditionKind",
    "PreconditionQueryError",
    "QueryPrecondition",
    "RangeUnsatisfiableError",
    "SchemaAlreadyRegisteredError",
    "SchemaMismatchError",
    "Selection",
    "StoreError",
    "StoreUnavailableError",
    "StoredEvent",
    "StoredEventMismatchError",
    "SubjectPrecondition",
    "encode_event",
    "is_within",
    "matches",
    "normalize_subject",
]

SPEC_VERSION = "1.0"
"""The CloudEvents version of every event."""
DATA_CONTENT_TYPE = _wire.JSON_CONTENT_TYPE
"""The content type of every event's data."""


def normalize_subject(subject: str) -> str:
    """The node of the subject tree a subject names: `/a/` and `/a` are the same node."""
    return "/" + subject.strip("/")


def is_within(node: str, base: str) -> bool:
    """Whether subject node `node` is `base` or lies below it."""
    return node == base or base == "/" or node.startswith(base + "/")


# --- values ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """An event to write, already validated; `data_bytes` is `data` encoded the server's way."""

    source: str
    subject: str
    type: str
    data: object
    data_bytes: bytes
    traceparent: str | None = None
    tracestate: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class StoredEvent:
    """A written event, with the JSON object (`encoded`) that is sent for it, byte for byte."""

    index: int
    id: str
    time: str
    source: str
    subject: str
    node: str
    type: str
    data: object
    data_bytes: bytes
    traceparent: str | None
    tracestate: str | None
    predecessorhash: str
    hash: str
    signature: str | None
    encoded: bytes

    def eventql_fields(self) -> Mapping[str, object]:
        """The fields EventQL sees as `e.<name>`; unset trace fields and signature are None."""
        return {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "time": self.time,
            "source": self.source,
            "subject": self.subject,
            "type": self.type,
            "datacontenttype": DATA_CONTENT_TYPE,
            "data": self.data,
            "predecessorhash": self.predecessorhash,
            "hash": self.hash,
            "traceparent": self.traceparent,
            "tracestate": self.tracestate,
            "signature": self.signature,
        }


class PreconditionKind(enum.Enum):
    """The three preconditions about a subject."""

    IS_SUBJECT_PRISTINE = "isSubjectPristine"
    IS_SUBJECT_POPULATED = "isSubjectPopulated"
    IS_SUBJECT_ON_EVENT_ID = "isSubjectOnEventId"


@dataclass(frozen=True, slots=True)
class SubjectPrecondition:
    """A precondition about a subject (with its nested subjects when `recursive`)."""

    kind: PreconditionKind
    subject: str
    recursive: bool = False
    event_id: int | None = None


@dataclass(frozen=True, slots=True)
class QueryPrecondition:
    """`isEventQlQueryTrue`: the parsed query must yield a single `true`."""

    query: Query


Precondition = SubjectPrecondition | QueryPrecondition


@dataclass(frozen=True, slots=True)
class Bound:
    """A bound on event ids."""

    id: int
    inclusive: bool


class IfEventIsMissing(enum.Enum):
    """What happens when `fromLatestEvent` finds no such event."""

    READ_NOTHING = "read-nothing"
    READ_EVERYTHING = "read-everything"
    WAIT_FOR_EVENT = "wait-for-event"


@dataclass(frozen=True, slots=True)
class FromLatestEvent:
    """Start at the latest event of exactly `subject` with type `type`."""

    subject: str
    type: str
    if_missing: IfEventIsMissing


@dataclass(frozen=True, slots=True)
class Selection:
    """Which events a read or an observation is about (the options of spec §7)."""

    subject: str
    recursive: bool = False
    lower: Bound | None = None
    upper: Bound | None = None
    from_latest: FromLatestEvent | None = None
    antichronological: bool = False


def matches(event: StoredEvent, node: str, recursive: bool) -> bool:
    """Whether an event lies at `node` (or below it, when `recursive`)."""
    return event.node == node or (recursive and is_within(event.node, node))


@dataclass(frozen=True, slots=True)
class EventTypeInfo:
    """An event type the store knows: it has events, a schema, or both."""

    type: str
    has_events: bool
    schema: CompiledSchema | None


# --- errors ------------------------------------------------------------------------------------


class StoreError(Exception):
    """Base of what the store refuses."""


class PreconditionFailedError(StoreError):
    """The precondition at `index` does not hold."""

    def __init__(self, index: int) -> None:
        super().__init__(f"precondition {index} failed")
        self.index = index


class PreconditionQueryError(StoreError):
    """The query of the `isEventQlQueryTrue` precondition at `index` failed or is not boolean."""

    def __init__(self, index: int, error: EventQLError) -> None:
        super().__init__(error.message)
        self.index = index
        self.error = error


class SchemaMismatchError(StoreError):
    """The candidate at `index` does not match the schema of its type."""

    def __init__(self, index: int, detail: str) -> None:
        super().__init__(detail)
        self.index = index
        self.detail = detail


class SchemaAlreadyRegisteredError(StoreError):
    """The type has a schema already; schemas never change."""


class StoredEventMismatchError(StoreError):
    """A stored event of the type does not match the schema that is being registered."""

    def __init__(self, event_id: str, detail: str) -> None:
        super().__init__(detail)
        self.event_id = event_id
        self.detail = detail


class RangeUnsatisfiableError(StoreError):
    """`fromLatestEvent` found an event beyond the upper bound."""


class StoreUnavailableError(StoreError):
    """The store takes no writes: it is shutting down (`closed`), or its data directory failed."""

    def __init__(self, message: str, *, closed: bool = False) -> None:
        super().__init__(message)
        self.closed = closed


class ObservationClosedError(StoreError):
    """The store was reset or shut down while an observation was open."""

    def __init__(self, shutdown: bool) -> None:
        super().__init__("the server is shutting down" if shutdown else "the store was reset")
        self.shutdown = shutdown


def encode_event(
    metadata: EventMetadata, data: bytes, event_hash: str, signature: str | None
) -> bytes:
    """The event object in the member order of the captured real server line (spec §3.2)."""
    members: list[str] = [
        '{"source":',
        encode_string(metadata.source),
        ',"subject":',
        encode_string(metadata.subject),
        ',"type":',
        encode_string(metadata.type),
    ]
    if metadata.traceparent is not None:
        members += [',"traceparent":', encode_string(metadata.traceparent)]
    if metadata.tracestate is not None:
        members += [',"tracestate":', encode_string(metadata.tracestate)]
    members += [
        ',"specversion":',
        encode_string(metadata.specversion),
        ',"id":',
        encode_string(metadata.id),
        ',"time":',
        encode_string(metadata.time),
        ',"datacontenttype":',
        encode_string(metadata.datacontenttype),
        ',"predecessorhash":',
        encode_string(metadata.predecessorhash),
        ',"data":',
    ]
    tail = ',"hash":' + encode_string(event_hash) + ',"signature":'
    tail += encode_string(signature) if signature is not None else "null"
    return "".join(members).encode("utf-8") + data + (tail + "}").encode("utf-8")
