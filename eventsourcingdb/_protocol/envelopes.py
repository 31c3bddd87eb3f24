"""Decoding answers: v1 lines `{"type","payload"}`, v2 envelopes `{"type","data"}`, and documents.

`StreamDecoder` turns the byte chunks of one streamed answer into values (events, rows, subjects,
event types), skips heartbeats, stops at an `error` item (kept as the exception to raise once the
values before it are delivered) and at the v2 `end` item, and notices a stream that breaks off.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from typing import Any, Final, Generic, TypeVar

import orjson

from eventsourcingdb import _wire
from eventsourcingdb._protocol.errors import (
    broken_stream,
    protocol_error,
    v1_error_line,
    v2_error_envelope,
)
from eventsourcingdb._protocol.events import parser_keys
from eventsourcingdb._protocol.ndjson import LineSplitter
from eventsourcingdb._protocol.requests import ApiVersion, Operation, Request
from eventsourcingdb.errors import EventSourcingDBError, ProtocolError
from eventsourcingdb.event import Event
from eventsourcingdb.event_type import EventType

T = TypeVar("T")

Converter = Callable[[Any, bytes | str, str], T]
"""Turns an item's payload (with its line and the envelope member holding it) into a value.

The line (typed `Any`) is `bytes | str`: the bytes the server sent when orjson read them, else their
decoded text (`_parse_text`)."""

LineDecoder = Callable[[bytes], Any]
"""Decodes a whole line into a value by itself, or returns None (then the line is decoded as
usual). A typed read passes one that validates an event line in one pass (`StreamDecoder`)."""

_loads = json.loads
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
"""The C scanner under `json.loads`, without its per-call overhead; lines are parsed once."""

_fast_loads: Callable[[bytes], Any] = orjson.loads
"""orjson, two to three times as fast as `json.loads` on event lines.

Lines orjson may read differently take the `json.loads` path (`_parse_text`), so that results and
errors stay exactly those of `json.loads`:

* what orjson refuses (a `ValueError`): lone surrogate escapes, `NaN`/`Infinity`, numbers beyond
  the float range (`1e400`), a byte order mark, invalid UTF-8, blank lines and malformed JSON;
* integers beyond 64 bits, which orjson reads as floats: a line with a run of 19 or more digits
  (`_LONG_DIGITS`) is parsed again by `json.loads` before anything is taken from it; an event is
  checked instead, after the parse, by `Event._from_wire`, which looks at its data only (the
  rest of an event are strings) and is cheaper than scanning the line's bytes;
* deep nesting, where `json.loads` raises `RecursionError` but orjson (up to 1024 levels) does not:
  a long line with more opening brackets than half the recursion limit is not given to orjson.
"""

BATCH_LINES: Final = 64
"""The most lines whose values `StreamDecoder.batches` decodes into one batch."""

_DIGIT_MAP: Final = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
"""Maps every digit to `0` and every other byte to a space, for `_LONG_DIGITS`."""
_LONG_DIGITS: Final = b"0" * 19
"""A run of 19 digits: the shortest an integer outside [-2**63, 2**64) can be written with."""


class MalformedItem(Exception):
    """An item whose payload does not have the expected shape (the message says how)."""


_TYPE_KEY, _V2_KEY, _V1_KEY = parser_keys("type", _wire.V2_DATA_KEY, _wire.V1_PAYLOAD_KEY)
"""An item's members, as the objects orjson's dicts hold them (`parser_keys`)."""


def envelope_key(version: ApiVersion) -> str:
    """The member holding an item's value: `payload` in v1, `data` in v2."""
    return _V2_KEY if version is ApiVersion.V2 else _V1_KEY


# --- converters ------------------------------------------------------------------------------


convert_event: Converter[Event] = Event._from_wire
"""An `event` item: the event, keeping its line for exact hashing."""


def convert_row_v1(value: Any, line: bytes | str, key: str) -> Any:
    """A v1 `row` item: the payload is the row (any JSON value, null included)."""
    return value


def convert_row_v2(value: Any, line: bytes | str, key: str) -> Any:
    """A v2 `row` item: the row is `data.value`."""
    if not isinstance(value, dict) or "value" not in value:
        raise MalformedItem("a v2 row has no 'value' member in its data")
    return value["value"]


def convert_subject(value: Any, line: bytes | str, key: str) -> str:
    """A `subject` item: `{"subject": "/..."}`."""
    subject = value.get("subject") if isinstance(value, dict) else None
    if not isinstance(subject, str):
        raise MalformedItem("a subject item has no string 'subject' member")
    return subject


def event_type_from_v1(value: Any) -> EventType:
    """A v1 event type `{"eventType", "isPhantom", "schema"?}`."""
    if not isinstance(value, dict):
        raise MalformedItem("an event type must be a JSON object")
    name, phantom, schema = value.get("eventType"), value.get("isPhantom"), value.get("schema")
    if not isinstance(name, str) or not isinstance(phantom, bool):
        raise MalformedItem("an event type needs a string 'eventType' and a boolean 'isPhantom'")
    if schema is not None and not isinstance(schema, dict):
        raise MalformedItem("an event type's 'schema' must be a JSON object")
    return EventType(type=name, has_events=not phantom, schema=schema)


def event_type_from_v2(value: Any) -> EventType:
    """A v2 event type `{"type", "hasEvents", "schema"?}`."""
    if not isinstance(value, dict):
        raise MalformedItem("an event type must be a JSON object")
    name, has_events, schema = value.get("type"), value.get("hasEvents"), value.get("schema")
    if not isinstance(name, str) or not isinstance(has_events, bool):
        raise MalformedItem("an event type needs a string 'type' and a boolean 'hasEvents'")
    if schema is not None and not isinstance(schema, dict):
        raise MalformedItem("an event type's 'schema' must be a JSON object")
    return EventType(type=name, has_events=has_events, schema=schema)


def convert_event_type_v1(value: Any, line: bytes | str, key: str) -> EventType:
    """A v1 `eventType` item."""
    return event_type_from_v1(value)


def convert_event_type_v2(value: Any, line: bytes | str, key: str) -> EventType:
    """A v2 `eventType` item."""
    return event_type_from_v2(value)


# --- streams ---------------------------------------------------------------------------------

_HEARTBEAT: Final = _wire.ITEM_HEARTBEAT
_ERROR: Final = _wire.ITEM_ERROR
_END: Final = _wire.ITEM_END


class StreamDecoder(Generic[T]):
    """Decodes the streamed answer of `request`, whose values are items of type `kind`.

    Feed it the body's chunks; each `feed` returns the values completed so far. After an `error`
    or `end` item it stops (`done`); `failure` is then the error to raise after delivering the
    values. Call `close()` at the end of the body: it detects a missing `end` (v2), a truncated
    last line, and an observe stream that ended.
    """

    __slots__ = (
        "_checks_numbers",
        "_convert",
        "_done",
        "_ended",
        "_endless",
        "_failure",
        "_key",
        "_kind",
        "_line_decoder",
        "_needs_end",
        "_request",
        "_splitter",
    )

    def __init__(
        self,
        request: Request,
        kind: str,
        convert: Converter[T],
        line_decoder: LineDecoder | None = None,
    ) -> None:
        self._request = request
        self._kind = kind
        self._convert = convert
        self._checks_numbers = convert == convert_event
        """Whether `convert` parses a line orjson read again where it may hold an integer
        beyond 64 bits (events do, looking at their data only); other items are scanned first."""
        self._key = envelope_key(request.version)
        self._line_decoder = line_decoder
        """Tried first on every line that `json.loads` reads the way its own parser does (not
        nested too deep, no integer too long to convert); a value it returns is taken as is."""
        self._endless = request.operation is Operation.OBSERVE_EVENTS
        self._needs_end = request.version is ApiVersion.V2 and not self._endless
        self._splitter = LineSplitter()
        self._failure: EventSourcingDBError | None = None
        self._done = False
        self._ended = False

    @property
    def failure(self) -> EventSourcingDBError | None:
        """The error that ended the stream (an `error` item, a malformed line), if any."""
        return self._failure

    @property
    def done(self) -> bool:
        """Whether the stream is over (an `end` or `error` item arrived, or it failed)."""
        return self._done

    def _fail(self, error: EventSourcingDBError) -> None:
        self._failure = error
        self._done = True

    def feed(self, chunk: bytes) -> list[T]:
        """The values completed by `chunk`, in order; nothing once the stream is done."""
        return self._decode(self._splitter.feed(chunk))

    def batches(self, chunk: bytes) -> Iterator[list[T]]:
        """The values completed by `chunk` as `feed` gives them, in batches of those of at most
        `BATCH_LINES` lines (never an empty batch); stops once the stream is done.

        A stream's consumer frees each batch's values before the next is decoded, so a large
        chunk does not keep hundreds of values alive at once (which costs cache misses and
        garbage collections, since each value is a new container object)."""
        lines = self._splitter.feed(chunk)
        if len(lines) <= BATCH_LINES:
            values = self._decode(lines)
            if values:
                yield values
            return
        for start in range(0, len(lines), BATCH_LINES):
            values = self._decode(lines[start : start + BATCH_LINES])
            if values:
                yield values
            if self._done:
                return

    def _decode(self, lines: list[bytes]) -> list[T]:
        """The values of complete `lines`, in order; stops at the item that ends the stream."""
        if self._done:
            return []
        values: list[T] = []
        append = values.append
        convert = self._convert
        key = self._key
        kind = self._kind
        checks_numbers = self._checks_numbers
        type_key = _TYPE_KEY
        fast_loads = _fast_loads
        digit_map = _DIGIT_MAP
        long_digits = _LONG_DIGITS
        depth = sys.getrecursionlimit() // 2  # a nesting json.loads reads without RecursionError
        deep = 2 * depth  # no line this short nests that deep
        line_decoder = self._line_decoder
        digits = sys.get_int_max_str_digits()
        plain = min(deep, digits) if digits else deep  # no line this short needs a closer look
        parsed: tuple[Any, str] | None
        for line in lines:
            if not line:
                continue
            if line_decoder is not None and (
                len(line) <= plain or _reads_alike(line, depth, digits)
            ):
                value = line_decoder(line)
                if value is not None:
                    append(value)
                    continue
            text: bytes | str = line
            try:
                if len(line) <= deep or line.count(b"[") + line.count(b"{") <= depth:
                    try:
                        item = fast_loads(line)
                    except ValueError:
                        parsed = _parse_text(line)
                        if parsed is None:  # a blank line (whitespace only)
                            continue
                        item, text = parsed
                else:
                    parsed = _parse_text(line)
                    if parsed is None:
                        continue
                    item, text = parsed
                item_type = item[type_key]
                ours = item_type == kind
                if (
                    text is line
                    and not (ours and checks_numbers)
                    and long_digits in line.translate(digit_map)
                ):
                    parsed = _parse_text(line)
                    assert parsed is not None  # orjson read it: it is not blank
                    item, text = parsed
                    item_type = item[type_key]
                    ours = item_type == kind
            except (ValueError, TypeError, KeyError) as error:
                self._fail(protocol_error(self._request, _malformed(line, error)))
                break
            if ours:
                try:
                    append(convert(item[key], text, key))
                except KeyError:
                    self._fail(
                        protocol_error(self._request, f"a {kind!r} item has no {key!r} member")
                    )
                    break
                except (MalformedItem, ProtocolError) as error:
                    reason = error.message if isinstance(error, ProtocolError) else str(error)
                    self._fail(protocol_error(self._request, reason))
                    break
            elif item_type == _HEARTBEAT:
                continue
            elif item_type == _ERROR:
                self._fail(self._error(item.get(key)))
                break
            elif item_type == _END and self._needs_end:
                self._ended = True
                self._done = True
                break
            else:
                self._fail(
                    protocol_error(
                        self._request,
                        f"the answer holds an item of type {item_type!r}, which this call does "
                        f"not expect (expected {kind!r})",
                    )
                )
                break
        return values

    def _error(self, payload: Any) -> EventSourcingDBError:
        if self._request.version is ApiVersion.V2:
            return v2_error_envelope(self._request, payload)
        return v1_error_line(self._request, payload)

    def close(self) -> list[T]:
        """Call at the end of the body: the values of an unterminated last line, if complete.

        Sets `failure` when the stream broke off: a truncated line, no `end` (v2), or the end of
        an observe stream (which the server never ends on its own).
        """
        rest = self._splitter.finish()
        values: list[T] = []
        if self._done:
            return values
        if rest.strip():
            try:
                _loads(rest)
            except ValueError:
                self._fail(broken_stream(self._request, "the answer ended in the middle of a line"))
                return values
            values = self.feed(rest + b"\n")
            if self._done:
                return values
        if self._needs_end:
            self._fail(broken_stream(self._request, "the answer ended without its 'end' item"))
        elif self._endless:
            self._fail(
                broken_stream(
                    self._request,
                    "the server ended the observe stream, which it never does on its own",
                )
            )
        self._done = True
        return values


def _reads_alike(line: bytes, depth: int, digits: int) -> bool:
    """Whether `json.loads` reads a long `line` as other JSON parsers do: it nests at most `depth`
    deep, and has no integer with more than `digits` digits (which `json.loads` refuses)."""
    if line.count(b"[") + line.count(b"{") > depth:
        return False
    return not digits or b"0" * (digits + 1) not in line.translate(_DIGIT_MAP)


def _parse_text(line: bytes) -> tuple[Any, str] | None:
    """`line` parsed the way `json.loads` parses it, with its text; None for a blank line.

    Raises what `json.loads` raises (`ValueError`, `UnicodeDecodeError` included)."""
    text = line.decode()
    try:
        item, end = _scan(text, 0)
    except StopIteration:
        end = -1
    if end != len(text):
        if text.isspace():
            return None
        item = _loads(text)
    return item, text


def _malformed(line: bytes, error: Exception) -> str:
    if isinstance(error, ValueError):
        return f"a line of the answer ({len(line)} bytes) is not JSON: {error}"
    return f"a line of the answer ({len(line)} bytes) is not an object with a 'type' member"


def decode_stream_body(decoder: StreamDecoder[T], body: bytes) -> list[T]:
    """Run a whole (already received) streamed body through `decoder`; raise its failure."""
    values = decoder.feed(body)
    if not decoder.done:
        values.extend(decoder.close())
    if decoder.failure is not None:
        raise decoder.failure
    return values


# --- single documents ------------------------------------------------------------------------


def decode_document(request: Request, body: bytes) -> Any:
    """A one-document answer, parsed; not JSON is a protocol error (outcome unknown for writes)."""
    try:
        return _loads(body)
    except ValueError as error:
        raise protocol_error(request, f"the answer is not JSON: {error}") from None


def unwrap_v2_document(request: Request, document: Any, kind: str) -> Any:
    """The `data` of a v2 single-document envelope of type `kind`; an `error` envelope raises."""
    if not isinstance(document, dict) or "type" not in document or "data" not in document:
        raise protocol_error(request, "the answer is not an envelope with 'type' and 'data'")
    if document["type"] == _ERROR:
        raise v2_error_envelope(request, document["data"])
    if document["type"] != kind:
        raise protocol_error(
            request, f"the answer is an item of type {document['type']!r}, expected {kind!r}"
        )
    return document["data"]


def check_management_event(request: Request, document: Any, expected_type: str) -> None:
    """A management event (ping, token verified, schema registered) must have `expected_type`."""
    actual = document.get("type") if isinstance(document, dict) else None
    if actual != expected_type:
        raise protocol_error(
            request,
            f"the answer should be a management event of type {expected_type!r}, got "
            f"{'an event of type ' + repr(actual) if isinstance(actual, str) else 'another value'}",
        )
