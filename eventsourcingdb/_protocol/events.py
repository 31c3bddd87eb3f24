"""Reading event payloads as the server sends them: times, field checks and the raw `data` span.

An event is parsed once (by orjson, or `json.loads`); what hashing needs beyond that (the exact
bytes of `data`) is found later, only when asked for, by scanning the kept line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

import orjson

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)

REQUIRED_TEXT_FIELDS: Final = (
    "specversion",
    "id",
    "time",
    "source",
    "subject",
    "type",
    "datacontenttype",
    "predecessorhash",
    "hash",
)
"""The members every event carries as strings."""

OPTIONAL_TEXT_FIELDS: Final = ("traceparent", "tracestate", "signature")
"""The members that are strings when set, and absent or null otherwise."""


def parser_keys(*names: str) -> tuple[str, ...]:
    """`names` as the very string objects orjson puts into the objects it parses, in order.

    orjson keeps the keys it reads in a cache and reuses them, and its dicts are not of the kind
    CPython specialises for string keys: there, a key given as the same object is found by
    identity, while an equal string is compared. Looking up the members of parsed lines with
    these objects saves about 130 instructions per lookup. Should orjson ever hand out other
    objects (its cache replaced an entry), lookups find the same entries, only slower.
    """
    parsed = orjson.loads(orjson.dumps(dict.fromkeys(names, 0)))
    return tuple(parsed)


def parse_time(text: str) -> datetime:
    """An RFC 3339 time (0 to 9 or more fraction digits, any offset) as an aware UTC datetime.

    Fractions beyond microseconds are truncated, never rounded, so a time never moves into the next
    second. Raises `ValueError` with a description when `text` is not an RFC 3339 time, or when
    its UTC form would leave the range of `datetime` (`0001-01-01T00:00:00+01:00`).
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not an RFC 3339 time such as '2026-10-07T13:32:50.439461594Z'"
        )
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    microsecond = int((fraction or "")[:6].ljust(6, "0"))
    if zulu:
        tzinfo = UTC
    else:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if offset >= timedelta(hours=24):
            raise ValueError(f"{text!r} has an offset of 24 hours or more")
        tzinfo = timezone(-offset if sign == "-" else offset)
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            microsecond,
            tzinfo=tzinfo,
        )
    except ValueError as error:
        raise ValueError(f"{text!r} is not a valid time: {error}") from None
    if tzinfo is UTC:
        return moment
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"{text!r} is out of range: in UTC it falls outside the years 1 to 9999"
        ) from None


def fast_parse_time(text: str) -> datetime:
    """`parse_time`, trying the C parser of the standard library first (the server's form).

    `datetime.fromisoformat` of Python 3.11 accepts `Z` and any number of fraction digits and
    truncates to microseconds; anything it rejects or reads without an offset goes the slow way.
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return parse_time(text)
    if moment.tzinfo is UTC:
        return moment
    return parse_time(text)


INEXACT_FLOAT: Final = 9.2e18
"""Below 2**63: orjson reads an integer outside [-2**63, 2**64) as a float at least this large."""


def has_inexact_number(value: Any) -> bool:
    """Whether a value parsed by orjson holds a float that might have been an integer beyond 64
    bits (which orjson reads as a float and `json.loads` as an int); then parse it again exactly.

    Any float of that size counts, also one written as a float, so the answer errs on the safe
    side; nesting is bounded by the decoder's depth check.
    """
    kind = type(value)
    if kind is dict:
        values = value.values()
    elif kind is list:
        values = value
    else:
        return kind is float and not -INEXACT_FLOAT < value < INEXACT_FLOAT
    for item in values:
        item_kind = type(item)
        if item_kind is float:
            if not -INEXACT_FLOAT < item < INEXACT_FLOAT:
                return True
        elif (item_kind is dict or item_kind is list) and has_inexact_number(item):
            return True
    return False


def exact_member(line: bytes, container: str | None) -> tuple[Any, str]:
    """The value of `line` (or of its member `container`) parsed by `json.loads`, with its text:
    what a line that orjson may have misread is decoded as."""
    text = line.decode()
    value = json.loads(text)
    return (value if container is None else value[container]), text


def format_time(moment: datetime) -> str:
    """An aware datetime in the server's form: UTC, `Z`, fraction without trailing zeros."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("the time must be timezone-aware, for example datetime.now(timezone.utc)")
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"{moment.isoformat()} is out of range: in UTC it falls outside the years 1 to 9999"
        ) from None
    text = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    if utc.microsecond:
        text += "." + f"{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def payload_problem(payload: object) -> str | None:
    """What is wrong with an event payload, or None if it has every member with the right type."""
    if not isinstance(payload, dict):
        return f"an event must be a JSON object, got {type(payload).__name__}"
    for name in REQUIRED_TEXT_FIELDS:
        if name not in payload:
            return f"the event has no {name!r} member"
        if not isinstance(payload[name], str):
            return f"the event's {name!r} must be a string, got {type(payload[name]).__name__}"
    if "data" not in payload:
        return "the event has no 'data' member"
    if not isinstance(payload["data"], dict):
        return f"the event's 'data' must be a JSON object, got {type(payload['data']).__name__}"
    for name in OPTIONAL_TEXT_FIELDS:
        value = payload.get(name)
        if value is not None and not isinstance(value, str):
            return f"the event's {name!r} must be a string or null, got {type(value).__name__}"
    try:
        fast_parse_time(payload["time"])
    except ValueError as error:
        return f"the event's 'time' is malformed: {error}"
    return None


# --- the raw bytes of a member ---------------------------------------------------------------

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_scan_value: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_scan_string: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]


def _skip(text: str, index: int) -> int:
    match = _WHITESPACE.match(text, index)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _member_span(text: str, start: int, name: str) -> tuple[int, int] | None:
    """The span of the value of member `name` of the object that starts at `text[start]`.

    Every member is scanned, so with duplicate names the last one wins, as with `json.loads`.
    """
    if text[start] != "{":
        raise ValueError(f"expected an object at offset {start}")
    index = _skip(text, start + 1)
    if text[index] == "}":
        return None
    found: tuple[int, int] | None = None
    while True:
        if text[index] != '"':
            raise ValueError(f"expected a member name at offset {index}")
        key, index = _scan_string(text, index + 1)
        index = _skip(text, index)
        if text[index] != ":":
            raise ValueError(f"expected ':' at offset {index}")
        index = _skip(text, index + 1)
        try:
            _, end = _scan_value(text, index)
        except StopIteration:
            raise ValueError(f"expected a value at offset {index}") from None
        if key == name:
            found = (index, end)
        index = _skip(text, end)
        if text[index] == ",":
            index = _skip(text, index + 1)
        elif text[index] == "}":
            return found
        else:
            raise ValueError(f"expected ',' or '}}' at offset {index}")


def find_raw_member(source: bytes | str, container: str | None, name: str) -> bytes:
    """The exact bytes of member `name` of the event in `source`, as they appear there.

    `source` is a JSON object: the event itself (`container` None) or an envelope holding the event
    under `container` (`payload` in v1 lines, `data` in v2 envelopes). Raises `ValueError` when the
    text is not such an object.
    """
    text = source.decode("utf-8", "surrogatepass") if isinstance(source, bytes) else source
    try:
        start = _skip(text, 0)
        if container is not None:
            outer = _member_span(text, start, container)
            if outer is None:
                raise ValueError(f"the envelope has no {container!r} member")
            start = outer[0]
        span = _member_span(text, start, name)
    except IndexError:
        raise ValueError("the JSON text ends in the middle of an object") from None
    if span is None:
        raise ValueError(f"the event has no {name!r} member")
    return text[span[0] : span[1]].encode("utf-8", "surrogatepass")


_DATA_KEY: Final = '"data":'
_SPACE: Final = " \t\n\r"


def find_raw_data(text: str, container: str | None, data: object) -> bytes | None:
    """The exact bytes of the event's `data` in `text`, found quickly; None when unsure.

    The quick way to the answer of `find_raw_member(text, container, "data")` for the lines
    servers send: the first `"data":` after the envelope's `container` key, whose value, parsed by
    the C scanner, equals the event's parsed `data`. A JSON string holds no unescaped quote, so the
    pattern never starts inside a string; the equality check covers the rest (a key that is
    escaped or spaced differently, a `data` member nested in an earlier one). None means the
    caller walks the members with `find_raw_member`, which is exact for every line.
    """
    index = 0
    if container is not None:
        index = text.find(f'"{container}":')
        if index < 0:
            return None
        index += len(container) + 3
    find = text.find
    while True:
        index = find(_DATA_KEY, index)
        if index < 0:
            return None
        start = index + 7
        if text[start : start + 1] in _SPACE:  # whitespace after the colon (or the end)
            start = _skip(text, start)
        try:
            value, end = _scan_value(text, start)
        except (StopIteration, ValueError):
            return None
        if type(value) is dict and value == data:
            return text[start:end].encode("utf-8", "surrogatepass")
        index += 1


def parse_raw_member(raw: bytes) -> Any:
    """The JSON value of raw member bytes (as `find_raw_member` returns them), parsed with the
    scanner under `json.loads`; raises `ValueError` when they are not exactly one JSON value."""
    text = raw.decode("utf-8", "surrogatepass")
    try:
        value, end = _scan_value(text, 0)
    except (StopIteration, ValueError):
        raise ValueError("the bytes are not a JSON value") from None
    if end != len(text):
        raise ValueError("the bytes hold more than one JSON value")
    return value


def split_json_array(text: str) -> list[tuple[Any, str]]:
    """Each element of a JSON array, parsed, together with its exact text (for raw `data` spans).

    Raises `ValueError` when `text` is not one JSON array.
    """
    try:
        index = _skip(text, 0)
        if text[index] != "[":
            raise ValueError("expected a JSON array")
        index = _skip(text, index + 1)
        elements: list[tuple[Any, str]] = []
        if text[index] == "]":
            index += 1
        else:
            while True:
                try:
                    value, end = _scan_value(text, index)
                except StopIteration:
                    raise ValueError(f"expected a value at offset {index}") from None
                elements.append((value, text[index:end]))
                index = _skip(text, end)
                if text[index] == ",":
                    index = _skip(text, index + 1)
                elif text[index] == "]":
                    index += 1
                    break
                else:
                    raise ValueError(f"expected ',' or ']' at offset {index}")
    except IndexError:
        raise ValueError("the JSON text ends in the middle of the array") from None
    if _skip(text, index) != len(text):
        raise ValueError("unexpected text after the JSON array")
    return elements
