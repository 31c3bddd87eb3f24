"""Events: `EventCandidate` (what a client writes) and `Event` (what the server stored and returns).

An `Event` read from the server keeps the line it came from, so `verify_hash()` can hash the exact
bytes of `data` as the server sent them; nothing is re-serialised and nothing is scanned twice
unless verification asks for it.

Both are dataclasses as far as `dataclasses` is concerned: `dataclasses.replace(event, ...)`,
`fields()` and `asdict()` work on them, as on the official SDK's events.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import FrozenInstanceError, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Final, NoReturn

from eventsourcingdb._protocol import hashing
from eventsourcingdb._protocol.events import (
    OPTIONAL_TEXT_FIELDS,
    REQUIRED_TEXT_FIELDS,
    exact_member,
    fast_parse_time,
    find_raw_data,
    find_raw_member,
    format_time,
    has_inexact_number,
    parse_raw_member,
    parse_time,
    parser_keys,
    payload_problem,
)
from eventsourcingdb._validation import (
    check_event_type,
    check_json_object,
    check_source,
    check_trace_parent,
    check_trace_state,
    check_written_subject,
)
from eventsourcingdb.errors import (
    ErrorCode,
    HashMismatchError,
    InvalidArgumentError,
    ProtocolError,
    RefusedArgumentError,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

_MISSING_CODES: Final = {
    "source": ErrorCode.SOURCE_MISSING,
    "subject": ErrorCode.SUBJECT_MISSING,
    "type": ErrorCode.EVENT_TYPE_MISSING,
    "data": ErrorCode.DATA_MISSING,
}
"""The server's code for a candidate without one of its required members."""

_CANDIDATE_KEYS: Final = {
    "source": "source",
    "subject": "subject",
    "type": "type",
    "data": "data",
    "traceparent": "trace_parent",
    "trace_parent": "trace_parent",
    "tracestate": "trace_state",
    "trace_state": "trace_state",
}

_PLAIN_CANDIDATE_KEYS: Final = frozenset(("source", "subject", "type", "data"))


@dataclass(frozen=True, slots=True)
class EventCandidate:
    """An event to write: where it comes from, what it is about, what happened, and its data.

    `data` must be a JSON object (a dict with string keys); `trace_parent` and `trace_state` carry
    W3C trace context and are optional (`trace_state` only together with `trace_parent`). The
    values are checked when the candidate is created; `data` is not copied.
    """

    source: str
    subject: str
    type: str
    data: dict[str, Any]
    trace_parent: str | None = None
    trace_state: str | None = None

    def __post_init__(self) -> None:
        check_source(self.source)
        check_written_subject(self.subject)
        check_event_type(self.type, "event type")
        check_json_object(self.data, "data")
        if self.trace_parent is not None:
            check_trace_parent(self.trace_parent)
        if self.trace_state is not None:
            check_trace_state(self.trace_state)
            if self.trace_parent is None:
                raise RefusedArgumentError(
                    "trace_state was given without trace_parent: trace state only means "
                    "something within a trace; pass trace_parent as well, or leave trace_state out",
                    code=ErrorCode.TRACESTATE_WITHOUT_TRACEPARENT,
                )

    @classmethod
    def from_dict(cls, event: Mapping[str, Any], *, what: str = "event") -> EventCandidate:
        """A candidate from the plain-dict form of the official SDK's README.

        Keys: `source`, `subject`, `type`, `data`, and optionally `traceparent`/`tracestate`
        (also spelt `trace_parent`/`trace_state`). Unknown or missing keys are refused.
        """
        if type(event) is dict and event.keys() == _PLAIN_CANDIDATE_KEYS:  # the usual form
            return cls(event["source"], event["subject"], event["type"], event["data"])
        if not isinstance(event, Mapping):
            raise InvalidArgumentError(
                f"{what} must be an EventCandidate or a dict with the keys source, subject, type "
                f"and data, got {type(event).__name__}"
            )
        fields: dict[str, Any] = {}
        for key, value in event.items():
            field = _CANDIDATE_KEYS.get(key) if isinstance(key, str) else None
            if field is None:
                raise InvalidArgumentError(
                    f"{what} has the unknown key {key!r}: the keys of an event are source, "
                    "subject, type, data, traceparent and tracestate"
                )
            if field in fields:
                raise InvalidArgumentError(
                    f"{what} gives {field} twice (as {key!r} and in another spelling); keep one"
                )
            fields[field] = value
        for required in ("source", "subject", "type", "data"):
            if required not in fields:
                raise RefusedArgumentError(
                    f"{what} has no {required!r}: every event needs source, subject, type and data",
                    code=_MISSING_CODES[required],
                )
        return cls(**fields)

    def to_json(self) -> dict[str, Any]:
        """The candidate as the server expects it in `write-events` (trace fields only when set)."""
        wire: dict[str, Any] = {
            "source": self.source,
            "subject": self.subject,
            "type": self.type,
            "data": self.data,
        }
        if self.trace_parent is not None:
            wire["traceparent"] = self.trace_parent
        if self.trace_state is not None:
            wire["tracestate"] = self.trace_state
        return wire


_new = object.__new__
_fromisoformat = datetime.fromisoformat
(
    _ID,
    _TIME,
    _SOURCE,
    _SUBJECT,
    _TYPE,
    _SPEC_VERSION,
    _CONTENT_TYPE,
    _PREDECESSOR_HASH,
    _DATA,
    _HASH,
    _TRACE_PARENT,
    _TRACE_STATE,
    _SIGNATURE,
) = parser_keys(
    "id",
    "time",
    "source",
    "subject",
    "type",
    "specversion",
    "datacontenttype",
    "predecessorhash",
    "data",
    "hash",
    "traceparent",
    "tracestate",
    "signature",
)
"""The members of an event, as the objects orjson's dicts hold them (`parser_keys`)."""
_NOT_SCALARS: Final = frozenset((float, dict, list))
"""Data whose values are all of other types hold no number orjson may have misread."""


class Event:
    """An event as stored by EventSourcingDB. Immutable; attribute names follow the official SDK.

    `time` is an aware UTC datetime (truncated to microseconds); the server's exact time string is
    kept for hashing and returned by `to_json()`. Events from the server also keep the line they
    came from, so `verify_hash()` hashes the bytes of `data` exactly as received.

    `data` is the parsed JSON object itself, not a copy (reads stay fast), so the event's
    immutability stops at it: `data` must not be changed. Copy it before changing it
    (`copy.deepcopy(event.data)`). `verify_hash()` notices a change: it raises
    `HashMismatchError` when `data` no longer equals the bytes the server sent.
    """

    __slots__ = ("_payload", "_raw", "_raw_container", "_time")

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    _payload: dict[str, Any]
    _raw: bytes | str | None
    _raw_container: str | None
    _time: datetime

    def __init__(
        self,
        *,
        event_id: str,
        time: datetime | str,
        source: str,
        subject: str,
        type: str,
        data: dict[str, Any],
        predecessor_hash: str,
        hash: str,
        spec_version: str = "1.0",
        data_content_type: str = "application/json",
        trace_parent: str | None = None,
        trace_state: str | None = None,
        signature: str | None = None,
        time_text: str | None = None,
    ) -> None:
        """Build an event from its fields (for tests and tools; clients get events from reads).

        Pass `time` as the server's string to keep the event's hash verifiable; a datetime is
        written in the server's form, which keeps only microseconds, unless `time_text` (the
        server's string, as `dataclasses.replace` passes it on) denotes the same instant.
        """
        if isinstance(time, datetime) and time_text is not None:
            try:
                if fast_parse_time(time_text) == time:
                    time = time_text
            except ValueError:
                raise InvalidArgumentError(
                    f"time_text {time_text!r} is not an RFC 3339 time"
                ) from None
        if isinstance(time, datetime):
            try:
                time = format_time(time)
            except ValueError as error:
                raise InvalidArgumentError(f"time: {error}") from None
        payload: dict[str, Any] = {
            "specversion": spec_version,
            "id": event_id,
            "time": time,
            "source": source,
            "subject": subject,
            "type": type,
            "datacontenttype": data_content_type,
            "predecessorhash": predecessor_hash,
            "data": data,
            "hash": hash,
            "signature": signature,
        }
        if trace_parent is not None:
            payload["traceparent"] = trace_parent
        if trace_state is not None:
            payload["tracestate"] = trace_state
        _initialise(self, _checked(payload, InvalidArgumentError), None, None)

    # --- construction from the wire ----------------------------------------------------------

    @classmethod
    def _from_wire(cls, payload: Any, raw: bytes | str | None, container: str | None) -> Event:
        """The event of a decoded line; `raw` is the line (kept for hashing), `container` the
        envelope member holding the event. The hot path of every read: checks are cheap.

        A line kept as bytes was parsed by orjson, which reads integers beyond 64 bits as floats:
        then (or when the event is refused, so that the error names the same types) the line is
        parsed again by `json.loads`, and the event is what that gives. Members the event does
        not know are not looked at.
        """
        try:
            text = payload[_TIME]
            try:
                time = _fromisoformat(text)
            except ValueError:  # not the server's form (`t`, `z`, ...): the strict RFC 3339 parser
                time = parse_time(text)
            else:
                if time.tzinfo is not UTC:
                    time = parse_time(text)
            get = payload.get
            trace_parent = get(_TRACE_PARENT)
            trace_state = get(_TRACE_STATE)
            signature = get(_SIGNATURE)
            data = payload[_DATA]
            valid = (
                type(payload[_ID]) is str
                and type(payload[_SOURCE]) is str
                and type(payload[_SUBJECT]) is str
                and type(payload[_TYPE]) is str
                and type(payload[_SPEC_VERSION]) is str
                and type(payload[_CONTENT_TYPE]) is str
                and type(payload[_PREDECESSOR_HASH]) is str
                and type(payload[_HASH]) is str
                and type(data) is dict
                and (trace_parent is None or type(trace_parent) is str)
                and (trace_state is None or type(trace_state) is str)
                and (signature is None or type(signature) is str)
            )
        except (KeyError, TypeError, ValueError, OverflowError):
            valid = False
        if type(raw) is bytes and (
            not valid
            or (not _NOT_SCALARS.isdisjoint(map(type, data.values())) and has_inexact_number(data))
        ):
            exact, line = exact_member(raw, container)
            return cls._from_wire(exact, line, container)
        if not valid:
            _refuse(payload, ProtocolError)
        event: Event = _new(_Unfrozen)  # plain slot stores, then the class it is
        event._payload = payload
        event._time = time
        event._raw = raw
        event._raw_container = container
        event.__class__ = cls
        return event

    @classmethod
    def parse(cls, unknown_object: Mapping[str, Any]) -> Event:
        """An event from its JSON form (a dict with the server's member names).

        Without the bytes the server sent, `verify_hash()` re-encodes `data` the way the server
        does; prefer `Event.from_json(line)` when you have the JSON text.
        """
        if not isinstance(unknown_object, Mapping):
            raise InvalidArgumentError(
                f"an event must be a mapping of the server's member names, got "
                f"{type(unknown_object).__name__}"
            )
        event = _new(cls)
        _initialise(event, _checked(dict(unknown_object), InvalidArgumentError), None, None)
        return event

    @classmethod
    def from_json(cls, text: str | bytes) -> Event:
        """An event from the JSON text of one event object, keeping the text for exact hashing."""
        try:
            payload = json.loads(text)
        except (ValueError, TypeError) as error:
            raise InvalidArgumentError(f"the text is not JSON: {error}") from None
        event = _new(cls)
        _initialise(event, _checked(payload, InvalidArgumentError), text, None)
        return event

    # --- fields ------------------------------------------------------------------------------

    @property
    def event_id(self) -> str:
        """The id: a decimal integer as a string, unique and gap-free across the whole store."""
        value: str = self._payload["id"]
        return value

    @property
    def time(self) -> datetime:
        """When the event was written: an aware UTC datetime (microsecond precision)."""
        return self._time

    @property
    def source(self) -> str:
        """Where the event comes from (a URI)."""
        value: str = self._payload["source"]
        return value

    @property
    def subject(self) -> str:
        """What the event is about, e.g. `/books/42`."""
        value: str = self._payload["subject"]
        return value

    @property
    def type(self) -> str:
        """What happened, e.g. `io.eventsourcingdb.library.book-acquired`."""
        value: str = self._payload["type"]
        return value

    @property
    def data(self) -> dict[str, Any]:
        """The event's data (a parsed JSON object); not a copy, so do not change it."""
        try:
            value: dict[str, Any] = self._payload["data"]
        except KeyError:
            value = self._parse_data()
        return value

    def _parse_data(self) -> dict[str, Any]:
        """The data of an event that a typed read built without them (`models._typed_lines`,
        which validated the line and every member `_from_wire` checks), parsed from its line
        the first time they are asked for, with `json.loads`, and kept."""
        raw = self._raw
        assert type(raw) is bytes, "only events from typed reads have their data parsed late"
        payload, _ = exact_member(raw, self._raw_container)
        data: dict[str, Any] = payload["data"]
        self._payload["data"] = data
        return data

    @property
    def spec_version(self) -> str:
        """The CloudEvents version (`1.0`)."""
        value: str = self._payload["specversion"]
        return value

    @property
    def data_content_type(self) -> str:
        """The media type of `data` (`application/json`)."""
        value: str = self._payload["datacontenttype"]
        return value

    @property
    def predecessor_hash(self) -> str:
        """The hash of the event written just before this one (64 zeros for the first)."""
        value: str = self._payload["predecessorhash"]
        return value

    @property
    def hash(self) -> str:
        """The event's hash (version 1: 64 hex digits; version 2: `esdb:hash:v2:` + 64 hex)."""
        value: str = self._payload["hash"]
        return value

    @property
    def trace_parent(self) -> str | None:
        """The W3C `traceparent` the event was written with, if any."""
        value: str | None = self._payload.get("traceparent")
        return value

    @property
    def trace_state(self) -> str | None:
        """The W3C `tracestate` the event was written with, if any."""
        value: str | None = self._payload.get("tracestate")
        return value

    @property
    def signature(self) -> str | None:
        """The server's Ed25519 signature (`esdb:signature:v1:...`), None without a signing key."""
        value: str | None = self._payload.get("signature")
        return value

    @property
    def time_text(self) -> str:
        """The time exactly as the server wrote it (what the hash covers)."""
        value: str = self._payload["time"]
        return value

    def _line(self) -> tuple[bytes | str | None, str | None]:
        """The line the event came in (None for an event built from fields) and the envelope
        member holding the event in it (None: the line is the event). For typed reads."""
        return self._raw, self._raw_container

    @property
    def raw_data(self) -> bytes | None:
        """The bytes of `data` exactly as the server sent them; None for an event built from a
        parsed dict. Found on first use by scanning the kept line."""
        raw = self._raw
        if raw is None:
            return None
        text: str | None = raw if type(raw) is str else None
        if type(raw) is bytes:  # lines read by orjson stay bytes until their data are needed
            try:
                text = raw.decode("utf-8", "surrogatepass")
            except UnicodeDecodeError:  # not UTF-8 (`from_json` of UTF-16): the member walk says so
                text = None
        if text is not None:  # first the quick search, checked
            found = find_raw_data(text, self._raw_container, self.data)
            if found is not None:
                return found
        try:
            return find_raw_member(raw, self._raw_container, "data")
        except ValueError as error:
            raise ProtocolError(
                f"the raw data of event {self.event_id} cannot be located in its line: {error}"
            ) from None

    # --- verification ------------------------------------------------------------------------

    def verify_hash(self) -> None:
        """Recompute the event's hash and raise `HashMismatchError` if it differs.

        Supports hash versions 1 and 2; another version raises `UnsupportedHashVersionError`.
        Hashes the raw `data` bytes as received, and checks that `data` still equals them (so a
        change to `event.data` after the read is noticed too); an event built from a parsed dict
        (`Event(...)`, `Event.parse`) has no raw bytes, so its `data` is re-encoded the way the
        server encodes it.
        """
        raw = self.raw_data
        if raw is None:
            hashing.verify_hash(
                self._payload, hashing.canonical_data(self.data), raw_is_exact=False
            )
            return
        hashing.verify_hash(self._payload, raw)
        if _decode_raw(raw) != self.data:
            raise HashMismatchError(
                f"the data of event {self.event_id} no longer match the bytes the server sent: "
                "the event's data were changed after it was received (Event.data is not a copy; "
                "copy it before changing it)"
            )

    def verify_signature(self, verification_key: Ed25519PublicKey) -> None:
        """Verify the hash, then the server's Ed25519 signature over it with `verification_key`.

        Raises `MissingSignatureError`, `HashMismatchError`, `UnsupportedHashVersionError` or
        `SignatureMismatchError`.
        """
        hashing.require_signature(self._payload, verification_key)
        self.verify_hash()
        hashing.verify_signature(self._payload, verification_key)

    # --- conversions and protocols -----------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON-ready dict with the server's member names and exact time string."""
        wire: dict[str, Any] = {name: self._payload[name] for name in REQUIRED_TEXT_FIELDS}
        wire["data"] = self.data
        for name in OPTIONAL_TEXT_FIELDS:
            value = self._payload.get(name)
            if value is not None or name == "signature":
                wire[name] = value
        return wire

    if not TYPE_CHECKING:  # hidden from type checkers, so they still flag assignments

        def __setattr__(self, name: str, value: object) -> NoReturn:
            raise FrozenInstanceError(f"cannot assign to field {name!r}: an Event is immutable")

        def __delattr__(self, name: str) -> NoReturn:
            raise FrozenInstanceError(f"cannot delete field {name!r}: an Event is immutable")

    def _key(self) -> tuple[Any, ...]:
        payload = self._payload
        return (
            *(payload[name] for name in REQUIRED_TEXT_FIELDS),
            self.data,
            *(payload.get(name) for name in OPTIONAL_TEXT_FIELDS),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self._payload["id"], self._payload["hash"]))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(event_id={self.event_id!r}, time={self.time_text!r}, "
            f"source={self.source!r}, subject={self.subject!r}, type={self.type!r})"
        )

    def __replace__(self, **changes: Any) -> Event:
        """`copy.replace(event, ...)` (Python 3.13), as `dataclasses.replace(event, ...)`."""
        return dataclasses.replace(self, **changes)

    def __reduce__(self) -> tuple[Any, ...]:
        self.data  # noqa: B018 - parsed now if they were left for later
        return (_restore, (self._payload, self._raw, self._raw_container))

    def __copy__(self) -> Event:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Event:
        self.data  # noqa: B018 - parsed now if they were left for later
        return _restore(copy.deepcopy(self._payload, memo), self._raw, self._raw_container)


@dataclass(frozen=True, kw_only=True)
class _EventFields:
    """The fields of `Event` as `dataclasses` sees them (in the official SDK's order), so that
    `dataclasses.replace`, `fields` and `asdict` work on events. `replace` reads each field from
    the event and passes it to `Event(...)`; `time_text` carries the server's exact time string
    over, so a replaced event verifies unless a field the hash covers was changed."""

    data: dict[str, Any]
    source: str
    subject: str
    type: str
    spec_version: str = "1.0"
    event_id: str
    time: datetime
    data_content_type: str = "application/json"
    predecessor_hash: str
    hash: str
    trace_parent: str | None = None
    trace_state: str | None = None
    signature: str | None = None
    time_text: str | None = None


class _Unfrozen(Event):
    """An `Event` being built: the same slots, set by plain assignments. `Event.__setattr__`
    (which keeps events immutable) would make each store a call; without it, CPython stores into
    a slot directly. `_from_wire` then turns the object into an `Event` by assigning
    `__class__` (same layout), which costs less than four calls of the slots' setters."""

    __slots__ = ()
    __setattr__ = object.__setattr__
    __delattr__ = object.__delattr__


Event.__dataclass_fields__ = _EventFields.__dataclass_fields__
setattr(Event, "__dataclass_params__", getattr(_EventFields, "__dataclass_params__"))  # noqa: B009, B010

_NOT_JSON: Final = object()


def _decode_raw(raw: bytes) -> Any:
    """The value of the raw `data` bytes; a value equal to nothing if they are not JSON."""
    try:
        return parse_raw_member(raw)
    except ValueError:
        return _NOT_JSON


def _refuse(payload: Any, error: type[InvalidArgumentError] | type[ProtocolError]) -> NoReturn:
    problem = payload_problem(payload) or "the event is malformed"
    raise error(f"not a valid event: {problem}")


def _checked(
    payload: Any, error: type[InvalidArgumentError] | type[ProtocolError]
) -> dict[str, Any]:
    problem = payload_problem(payload)
    if problem is not None:
        raise error(f"not a valid event: {problem}")
    checked: dict[str, Any] = payload
    return checked


# The slots' own setters: faster than object.__setattr__, and they bypass Event.__setattr__.
_set_payload: Callable[[Event, dict[str, Any]], None] = Event.__dict__["_payload"].__set__
_set_time: Callable[[Event, datetime], None] = Event.__dict__["_time"].__set__
_set_raw: Callable[[Event, bytes | str | None], None] = Event.__dict__["_raw"].__set__
_set_raw_container: Callable[[Event, str | None], None] = Event.__dict__["_raw_container"].__set__


def _initialise(
    event: Event, payload: dict[str, Any], raw: bytes | str | None, container: str | None
) -> None:
    _set_payload(event, payload)
    _set_time(event, fast_parse_time(payload["time"]))
    _set_raw(event, raw)
    _set_raw_container(event, container)


def _restore(payload: dict[str, Any], raw: bytes | str | None, container: str | None) -> Event:
    event = _new(Event)
    _initialise(event, payload, raw, container)
    return event


__all__ = ["Event", "EventCandidate"]
