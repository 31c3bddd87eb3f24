"""Request bodies read the way the real server (Go) reads them, and checked in full.

Go decodes into structs: object keys match field names case-insensitively (so `traceParent`
works), a missing member is the zero value, unknown members are ignored. v2 is strict: unknown
members and `null` values make the body unreadable (400). Every check raises a `Refusal` that
knows both the v1 text and the v2 error code.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

from eventsourcingdb import _wire
from eventsourcingdb.emulator import _messages as m
from eventsourcingdb.emulator._messages import Refusal
from eventsourcingdb.emulator.encoding import decode_json, encode_json
from eventsourcingdb.emulator.eventql import EventQLError, EventQLSyntaxError, Query, parse
from eventsourcingdb.emulator.records import (
    Bound,
    Candidate,
    FromLatestEvent,
    IfEventIsMissing,
    Precondition,
    PreconditionKind,
    QueryPrecondition,
    Selection,
    SubjectPrecondition,
)
from eventsourcingdb.errors import ErrorCode

__all__ = ["MAX_EVENT_TYPE_LENGTH", "MAX_SUBJECT_LENGTH", "BodyReader", "Purpose"]

MAX_SUBJECT_LENGTH: Final = 4096
"""The longest subject the emulator takes, in characters (the real server documents none)."""
MAX_EVENT_TYPE_LENGTH: Final = 1024
"""The longest event type the emulator takes, in characters (the real server documents none)."""

_MISSING = object()
_MAX_EVENT_ID: Final = str(_wire.MAX_EVENT_ID)
"""The largest id Go's `strconv.ParseUint(id, 10, 64)` reads; a longer id is malformed."""
_T = TypeVar("_T")


class Purpose(enum.Enum):
    """What a selection is for: reads accept more options than observations."""

    READ = "read"
    OBSERVE = "observe"


def _bad_body(detail: str) -> Refusal:
    return Refusal(400, m.invalid_body(detail))


def query_error_code(error: EventQLError) -> ErrorCode:
    """The v2 code of an EventQL error (`query-malformed`, `query-unevaluable`, ...)."""
    return ErrorCode.from_url(error.code) or ErrorCode.QUERY_UNEVALUABLE


def query_error_details(error: EventQLError) -> dict[str, object]:
    """`startToken` and `endToken` of an EventQL error, when it knows them."""
    details: dict[str, object] = {}
    for key, token in (("startToken", error.start_token), ("endToken", error.end_token)):
        if token is not None:
            details[key] = {
                "line": token.line,
                "column": token.column,
                "text": token.text,
                "type": token.type,
            }
    return details


@dataclass(frozen=True, slots=True)
class BodyReader:
    """Reads request bodies for one API version (`strict` for v2)."""

    strict: bool

    # --- generic ----------------------------------------------------------------------------

    def decode(self, body: bytes) -> object:
        """The decoded body; an empty body is refused (Go's decoder reports EOF)."""
        if not body.strip():
            raise _bad_body("the body is empty")
        try:
            return decode_json(body)
        except ValueError as error:
            raise _bad_body(str(error)) from None

    def fields(self, value: object, names: tuple[str, ...], where: str) -> dict[str, object]:
        """The known members of an object, matched like Go matches struct fields."""
        if value is None and not self.strict:
            return {}
        if not isinstance(value, dict):
            raise _bad_body(f"{where} must be a JSON object")
        folded = {name.casefold(): name for name in names}
        result: dict[str, object] = {}
        for key, item in value.items():
            name = key if key in names else folded.get(key.casefold())
            if name is None:
                if self.strict:
                    raise _bad_body(f'unknown field "{key}" in {where}')
                continue
            if item is None:
                if self.strict:
                    raise _bad_body(f'field "{key}" in {where} must not be null')
                continue
            result[name] = item
        return result

    def string(self, fields: Mapping[str, object], name: str, where: str) -> str | None:
        """A string member; None when absent or empty (Go's zero value means "not given")."""
        value = fields.get(name, _MISSING)
        if value is _MISSING:
            return None
        if not isinstance(value, str):
            raise _bad_body(f'field "{name}" in {where} must be a string')
        return value or None

    def boolean(self, fields: Mapping[str, object], name: str, where: str) -> bool:
        """A boolean member, false when absent."""
        value = fields.get(name, False)
        if not isinstance(value, bool):
            raise _bad_body(f'field "{name}" in {where} must be a boolean')
        return value

    def subject(self, value: str | None) -> str:
        """A subject, refused when missing, malformed or longer than `MAX_SUBJECT_LENGTH`."""
        if value is None:
            raise Refusal(400, m.invalid("subject", ""), ErrorCode.SUBJECT_MISSING)
        if len(value) > MAX_SUBJECT_LENGTH:
            text = m.too_long("subject", value, MAX_SUBJECT_LENGTH)
            raise Refusal(400, text, ErrorCode.SUBJECT_MALFORMED)
        if not _wire.SUBJECT_PATTERN.fullmatch(value):
            raise Refusal(400, m.invalid("subject", value), ErrorCode.SUBJECT_MALFORMED)
        return value

    def event_type(self, value: str | None) -> str:
        """An event type, refused when missing, malformed or longer than `MAX_EVENT_TYPE_LENGTH`."""
        if value is None:
            raise Refusal(400, _wire.text_invalid_event_type(""), ErrorCode.EVENT_TYPE_MISSING)
        if len(value) > MAX_EVENT_TYPE_LENGTH:
            text = m.too_long("event type", value, MAX_EVENT_TYPE_LENGTH)
            raise Refusal(400, text, ErrorCode.EVENT_TYPE_MALFORMED)
        if not _wire.EVENT_TYPE_PATTERN.fullmatch(value):
            raise Refusal(400, _wire.text_invalid_event_type(value), ErrorCode.EVENT_TYPE_MALFORMED)
        return value

    def event_id(self, value: str | None) -> int:
        """An event id (a decimal integer that fits Go's uint64, as the server parses it),
        refused when missing or malformed."""
        if value is None:
            raise Refusal(400, m.invalid("event ID", ""), ErrorCode.EVENT_ID_MISSING)
        digits = value.lstrip("0")
        if (
            not _wire.EVENT_ID_PATTERN.fullmatch(value)
            or len(digits) > len(_MAX_EVENT_ID)
            or (len(digits) == len(_MAX_EVENT_ID) and digits > _MAX_EVENT_ID)
        ):
            raise Refusal(400, m.invalid("event ID", value), ErrorCode.EVENT_ID_MALFORMED)
        return int(value)

    def query(self, value: str | None) -> Query:
        """A parsed EventQL query, refused when missing or malformed."""
        if value is None or not value.strip():
            raise Refusal(400, m.TEXT_QUERY_MISSING, ErrorCode.QUERY_MISSING)
        try:
            return parse(value)
        except EventQLSyntaxError as error:
            raise Refusal(
                400, error.message, ErrorCode.QUERY_MALFORMED, query_error_details(error)
            ) from None

    # --- write-events -----------------------------------------------------------------------

    def write_request(self, body: object) -> tuple[list[Candidate], list[Precondition]]:
        """The candidates and preconditions of a write-events body."""
        fields = self.fields(body, ("events", "preconditions"), "the request body")
        events = fields.get("events", [])
        if not isinstance(events, list):
            raise _bad_body('field "events" must be an array')
        if not events:
            raise Refusal(400, m.TEXT_EVENTS_MISSING, ErrorCode.EVENTS_MISSING)
        preconditions = fields.get("preconditions", [])
        if not isinstance(preconditions, list):
            raise _bad_body('field "preconditions" must be an array')
        candidates = [self._located(self.candidate, e, i) for i, e in enumerate(events)]
        checks = [self._located(self.precondition, p, i) for i, p in enumerate(preconditions)]
        return candidates, checks

    @staticmethod
    def _located(read: Callable[[object, int], _T], value: object, index: int) -> _T:
        try:
            return read(value, index)
        except Refusal as refusal:
            raise refusal.with_details(index=index) from None

    def candidate(self, value: object, index: int) -> Candidate:
        """One event candidate, with its data encoded the server's way."""
        where = f"events[{index}]"
        names = ("source", "subject", "type", "data", "traceparent", "tracestate")
        fields = self.fields(value, names, where)
        source = self.string(fields, "source", where)
        if source is None:
            raise Refusal(400, m.invalid("source", ""), ErrorCode.SOURCE_MISSING)
        if not _wire.SOURCE_PATTERN.fullmatch(source):
            raise Refusal(400, m.invalid("source", source), ErrorCode.SOURCE_MALFORMED)
        subject = self.subject(self.string(fields, "subject", where))
        event_type = self.event_type(self.string(fields, "type", where))
        if "data" not in fields:
            raise Refusal(400, m.TEXT_DATA_MISSING, ErrorCode.DATA_MISSING)
        data = fields["data"]
        if not isinstance(data, dict):
            raise Refusal(400, m.TEXT_DATA_MALFORMED, ErrorCode.DATA_MALFORMED)
        traceparent = self.string(fields, "traceparent", where)
        tracestate = self.string(fields, "tracestate", where)
        if traceparent is not None and not _wire.TRACE_PARENT_PATTERN.fullmatch(traceparent):
            raise Refusal(
                400, m.invalid("traceparent", traceparent), ErrorCode.TRACEPARENT_MALFORMED
            )
        if tracestate is not None:
            if traceparent is None:
                raise Refusal(
                    400,
                    m.TEXT_TRACESTATE_WITHOUT_TRACEPARENT,
                    ErrorCode.TRACESTATE_WITHOUT_TRACEPARENT,
                )
            if not _is_trace_state(tracestate):
                raise Refusal(
                    400, m.invalid("tracestate", tracestate), ErrorCode.TRACESTATE_MALFORMED
                )
        data_bytes = encode_json(data)
        if len(data_bytes) > _wire.MAX_EVENT_DATA_BYTES:
            raise Refusal(400, m.event_too_large(len(data_bytes)), ErrorCode.EVENT_TOO_LARGE)
        return Candidate(
            source=source,
            subject=subject,
            type=event_type,
            data=data,
            data_bytes=data_bytes,
            traceparent=traceparent,
            tracestate=tracestate,
        )

    def precondition(self, value: object, index: int) -> Precondition:
        """One precondition; v2 adds `options.recursive` to the three subject preconditions."""
        where = f"preconditions[{index}]"
        fields = self.fields(value, ("type", "payload"), where)
        kind_name = self.string(fields, "type", where)
        if kind_name is None:
            raise Refusal(
                400, m.TEXT_PRECONDITION_TYPE_MISSING, ErrorCode.PRECONDITION_TYPE_MISSING
            )
        if "payload" not in fields:
            raise Refusal(400, m.TEXT_PAYLOAD_MISSING, ErrorCode.PAYLOAD_MISSING)
        payload_where = f"{where}.payload"
        if kind_name == "isEventQlQueryTrue":
            payload = self.fields(fields["payload"], ("query",), payload_where)
            return QueryPrecondition(self.query(self.string(payload, "query", payload_where)))
        try:
            kind = PreconditionKind(kind_name)
        except ValueError:
            raise Refusal(
                400, m.invalid("precondition type", kind_name), ErrorCode.PRECONDITION_UNKNOWN
            ) from None
        names: tuple[str, ...] = ("subject", "options") if self.strict else ("subject",)
        if kind is PreconditionKind.IS_SUBJECT_ON_EVENT_ID:
            names += ("eventId",)
        payload = self.fields(fields["payload"], names, payload_where)
        subject = self.subject(self.string(payload, "subject", payload_where))
        event_id = None
        if kind is PreconditionKind.IS_SUBJECT_ON_EVENT_ID:
            event_id = self.event_id(self.string(payload, "eventId", payload_where))
        recursive = False
        if "options" in payload:
            options_where = f"{payload_where}.options"
            options = self.fields(payload["options"], ("recursive",), options_where)
            recursive = self.boolean(options, "recursive", options_where)
        return SubjectPrecondition(kind, subject, recursive=recursive, event_id=event_id)

    # --- read-events and observe-events -----------------------------------------------------

    def selection(self, body: object, purpose: Purpose) -> Selection:
        """The subject and options of a read or an observation (spec §7)."""
        fields = self.fields(body, ("subject", "options"), "the request body")
        subject = self.subject(self.string(fields, "subject", "the request body"))
        names: tuple[str, ...] = ("recursive", "lowerBound", "fromLatestEvent")
        if purpose is Purpose.READ:
            names += ("order", "upperBound")
        options = self.fields(fields.get("options", {}), names, "options")
        recursive = self.boolean(options, "recursive", "options")
        antichronological = False
        order = self.string(options, "order", "options")
        if order is not None:
            if order not in ("chronological", "antichronological"):
                raise Refusal(400, m.invalid("order", order), ErrorCode.ORDER_UNKNOWN)
            antichronological = order == "antichronological"
        lower = self._bound(options, "lowerBound")
        upper = self._bound(options, "upperBound")
        from_latest = self._from_latest(options, purpose)
        if lower is not None and from_latest is not None:
            raise Refusal(400, m.TEXT_SELECTION_CONFLICTING, ErrorCode.SELECTION_CONFLICTING)
        return Selection(
            subject=subject,
            recursive=recursive,
            lower=lower,
            upper=upper,
            from_latest=from_latest,
            antichronological=antichronological,
        )

    def _bound(self, options: Mapping[str, object], name: str) -> Bound | None:
        if name not in options:
            return None
        fields = self.fields(options[name], ("id", "type"), name)
        event_id = self.event_id(self.string(fields, "id", name))
        kind = self.string(fields, "type", name)
        if kind is None:
            raise Refusal(400, m.invalid("bound type", ""), ErrorCode.BOUND_TYPE_MISSING)
        if kind not in ("inclusive", "exclusive"):
            raise Refusal(400, m.invalid("bound type", kind), ErrorCode.BOUND_TYPE_UNKNOWN)
        return Bound(event_id, inclusive=kind == "inclusive")

    def _from_latest(
        self, options: Mapping[str, object], purpose: Purpose
    ) -> FromLatestEvent | None:
        if "fromLatestEvent" not in options:
            return None
        where = "fromLatestEvent"
        fields = self.fields(options[where], ("subject", "type", "ifEventIsMissing"), where)
        subject = self.string(fields, "subject", where)
        event_type = self.string(fields, "type", where)
        if_missing = self.string(fields, "ifEventIsMissing", where)
        if subject is None or event_type is None or if_missing is None:
            raise Refusal(
                400, m.TEXT_FROM_LATEST_EVENT_INCOMPLETE, ErrorCode.FROM_LATEST_EVENT_INCOMPLETE
            )
        allowed = (
            (IfEventIsMissing.READ_NOTHING, IfEventIsMissing.READ_EVERYTHING)
            if purpose is Purpose.READ
            else (IfEventIsMissing.READ_EVERYTHING, IfEventIsMissing.WAIT_FOR_EVENT)
        )
        mode = next((mode for mode in allowed if mode.value == if_missing), None)
        if mode is None:
            raise Refusal(
                400,
                m.invalid("ifEventIsMissing", if_missing),
                ErrorCode.IF_EVENT_IS_MISSING_UNKNOWN,
            )
        return FromLatestEvent(self.subject(subject), self.event_type(event_type), mode)


def _is_trace_state(value: str) -> bool:
    members = [member for member in value.split(",") if member.strip(" \t")]
    return len(members) <= _wire.TRACE_STATE_MAX_MEMBERS and all(
        _wire.TRACE_STATE_MEMBER_PATTERN.fullmatch(member) for member in members
    )
