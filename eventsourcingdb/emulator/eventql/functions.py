"""The values EventQL computes with, and every operation on them that is not syntax.

Here live the input protocols (:class:`EventRow`, :class:`QuerySource`), the internal value types
(temporal values and the lazy :class:`EventValue`), equality and ordering, ``AS`` conversions,
the scalar functions and the aggregates. Everything raises :class:`ValueProblem`, which carries
no position; the evaluator adds the position of the failing expression.

Numbers follow float64: every number EventQL computes is a Python ``float`` (``2.0`` is sent as
``2`` by the emulator's Go-style encoder); numbers taken unchanged from event data keep their
Python type.
"""

from __future__ import annotations

import functools
import json
import math
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, Final, Protocol, TypeAlias, TypeGuard

__all__ = [
    "AGGREGATE_FUNCTIONS",
    "CONVERSIONS",
    "MAX_STRING_LENGTH",
    "SCALAR_FUNCTIONS",
    "AggregateFunction",
    "DateTimeValue",
    "DateValue",
    "EventRow",
    "EventTypeEntry",
    "EventTypeInfoLike",
    "EventValue",
    "QuerySource",
    "ScalarFunction",
    "Temporal",
    "TimeValue",
    "ValueProblem",
    "canonical",
    "compare",
    "equals",
    "event_type_row",
    "export",
    "format_number",
    "is_number",
    "type_name",
]


# -- inputs ------------------------------------------------------------------------------------


class EventRow(Protocol):
    """A stored event as the emulator offers it to queries."""

    def eventql_fields(self) -> Mapping[str, object]:
        """The 13 event fields as JSON-like values; ``time`` as its RFC 3339 string."""
        ...


class EventTypeInfoLike(Protocol):
    """One known event type as the store describes it."""

    @property
    def type(self) -> str:
        """The event type."""
        ...

    @property
    def has_events(self) -> bool:
        """Whether at least one event of this type exists (else it is a phantom)."""
        ...

    @property
    def schema(self) -> object:
        """The registered schema: a JSON object, an object whose ``.schema`` is one, or None."""
        ...


EventTypeEntry: TypeAlias = EventTypeInfoLike | tuple[str, bool, Mapping[str, object] | None]
"""One known event type: an object with ``type``/``has_events``/``schema``, or such a tuple."""


def event_type_row(entry: EventTypeEntry) -> dict[str, object]:
    """The row of an ``eventtypes`` source, shaped like a read-event-types payload."""
    schema: object
    if isinstance(entry, tuple):
        event_type, has_events, schema = entry
    else:
        event_type, has_events, schema = entry.type, entry.has_events, entry.schema
    if schema is not None and not isinstance(schema, Mapping):
        schema = getattr(schema, "schema", None)
    row: dict[str, object] = {"eventType": event_type, "isPhantom": not has_events}
    if schema is not None:
        row["schema"] = schema
    return row


class QuerySource(Protocol):
    """A consistent snapshot of the store that a query runs against."""

    def events(self) -> Sequence[EventRow]:
        """All events in write order."""
        ...

    def subjects(self) -> Sequence[str]:
        """All known subjects (as read-subjects from ``/`` lists them), in output order."""
        ...

    def event_types(self) -> Sequence[EventTypeEntry]:
        """All known event types, in output order."""
        ...


MAX_STRING_LENGTH: Final = 1 << 20
"""The longest string a query may compute (1,048,576 characters): REPLACE nested in REPLACE
would otherwise build strings of gigabytes, at parse time when the arguments are constants."""


class ValueProblem(Exception):
    """An operation failed on its values; the evaluator turns it into a located error."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


# -- numbers -----------------------------------------------------------------------------------


def is_number(value: object) -> TypeGuard[int | float]:
    """True for int and float, but not for bool (which Python counts as an int)."""
    kind = type(value)
    if kind is float or kind is int:
        return True
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(value: float) -> float:
    """Return ``value`` unless it is infinite or NaN, which JSON cannot carry."""
    if math.isfinite(value):
        return value
    raise ValueProblem("the result is not a finite number")


def format_number(value: float | int) -> str:
    """Format a number the way Go's JSON encoder does (``2``, ``1.5``, ``1e-7``, ``1e+21``)."""
    if type(value) is int:
        return str(value)
    number = float(value)
    if number.is_integer() and abs(number) < 1e21:
        return str(int(number))
    magnitude = abs(number)
    if magnitude < 1e-6 or magnitude >= 1e21:
        mantissa, _, exponent = repr(number).partition("e")
        power = int(exponent)
        return f"{mantissa}e{'+' if power > 0 else '-'}{abs(power)}"
    return format(Decimal(repr(number)), "f")


# -- temporal values ---------------------------------------------------------------------------

_NS = 1_000_000_000
_DAY_NS = 86_400 * _NS
_DATETIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:[Zz]|([+-])(\d{2}):(\d{2}))"
)
_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TIME_RE = re.compile(r"(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?")
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """The (year, month, day) of a day number counted from 1970-01-01."""
    days += 719_468
    era = days // 146_097
    doe = days - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def _valid_date(year: int, month: int, day: int) -> bool:
    """True if the date exists (leap years included)."""
    if not 1 <= month <= 12 or day < 1:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return day <= (29 if month == 2 and leap else _MONTH_DAYS[month - 1])


def _fraction_ns(fraction: str | None) -> int:
    """Nanoseconds of a fraction of up to nine digits."""
    return int(fraction.ljust(9, "0")) if fraction else 0


@functools.lru_cache(maxsize=4096)
def _day_number(year: str, month: str, day: str) -> int | None:
    """Day number of a validated date given as digit strings (cached: times share dates)."""
    y, m, d = int(year), int(month), int(day)
    return _days_from_civil(y, m, d) if _valid_date(y, m, d) else None


def parse_datetime_ns(text: str) -> int | None:
    """Nanoseconds since the epoch (UTC) of an RFC 3339 timestamp, or None if it is not one."""
    match = _DATETIME_RE.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    days = _day_number(year, month, day)
    h, m, s = int(hour), int(minute), int(second)
    if days is None or h > 23 or m > 59 or s > 59:
        return None
    seconds = days * 86_400 + h * 3600 + m * 60 + s
    if sign:
        offset_hours, offset_minutes = int(off_h), int(off_m)
        if offset_hours > 23 or offset_minutes > 59:
            return None
        offset = (offset_hours * 3600 + offset_minutes * 60) * (1 if sign == "+" else -1)
        seconds -= offset
    return seconds * _NS + (int(fraction.ljust(9, "0")) if fraction else 0)


def parse_date_days(text: str) -> int | None:
    """Day number of ``YYYY-MM-DD`` (or of the UTC date of an RFC 3339 timestamp)."""
    match = _DATE_RE.fullmatch(text)
    if match is None:
        ns = parse_datetime_ns(text)
        return None if ns is None else ns // _DAY_NS
    year, month, day = int(match.group(1)), int(match.group(2)), int(match.group(3))
    return _days_from_civil(year, month, day) if _valid_date(year, month, day) else None


def parse_time_ns(text: str) -> int | None:
    """Nanoseconds since midnight of ``HH:MM:SS[.fraction]`` (or of an RFC 3339 timestamp)."""
    match = _TIME_RE.fullmatch(text)
    if match is None:
        ns = parse_datetime_ns(text)
        return None if ns is None else ns % _DAY_NS
    hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3))
    if hour > 23 or minute > 59 or second > 59:
        return None
    return (hour * 3600 + minute * 60 + second) * _NS + _fraction_ns(match.group(4))


def _format_fraction(ns: int) -> str:
    """``.fraction`` with trailing zeros removed, or nothing for whole seconds (RFC3339Nano)."""
    return "." + f"{ns:09d}".rstrip("0") if ns else ""


def _format_time_of_day(ns: int) -> str:
    """``HH:MM:SS[.fraction]`` of nanoseconds since midnight."""
    seconds, fraction = divmod(ns, _NS)
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}{_format_fraction(fraction)}"


def _format_date(days: int) -> str:
    """``YYYY-MM-DD`` of a day number."""
    year, month, day = _civil_from_days(days)
    return f"{year:04d}-{month:02d}-{day:02d}"


def format_datetime(ns: int) -> str:
    """RFC 3339 in UTC with nanoseconds and trailing zeros trimmed, like Go's RFC3339Nano."""
    days, rest = divmod(ns, _DAY_NS)
    return f"{_format_date(days)}T{_format_time_of_day(rest)}Z"


class Temporal:
    """Base of DATETIME, DATE and TIME values; ``key()`` orders values of one kind."""

    __slots__ = ()
    kind: ClassVar[str]

    def key(self) -> int:
        """An integer that orders values of this kind chronologically."""
        raise NotImplementedError

    def text(self) -> str:
        """The value as it is sent to clients."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{self.kind}({self.text()!r})"


class DateTimeValue(Temporal):
    """An instant with nanosecond precision; parses its text only when compared."""

    __slots__ = ("_ns", "_text")
    kind: ClassVar[str] = "DATETIME"

    def __init__(self, ns: int | None = None, text: str | None = None) -> None:
        self._ns = ns
        self._text = text

    @property
    def ns(self) -> int:
        """Nanoseconds since the epoch, UTC."""
        ns = self._ns
        if ns is None:
            text = self._text or ""
            ns = parse_datetime_ns(text)
            if ns is None:
                raise ValueProblem(f"'{text}' is not a valid DATETIME")
            self._ns = ns
        return ns

    def key(self) -> int:
        """Chronological order."""
        return self.ns

    def text(self) -> str:
        """The original text when there is one (``e.time``), else RFC3339Nano in UTC."""
        return self._text if self._text is not None else format_datetime(self.ns)

    def days(self) -> int:
        """The UTC day number."""
        return self.ns // _DAY_NS

    def time_of_day(self) -> int:
        """Nanoseconds since UTC midnight."""
        return self.ns % _DAY_NS


class DateValue(Temporal):
    """A calendar date."""

    __slots__ = ("days",)
    kind: ClassVar[str] = "DATE"

    def __init__(self, days: int) -> None:
        self.days = days

    def key(self) -> int:
        """Chronological order."""
        return self.days

    def text(self) -> str:
        """``YYYY-MM-DD``."""
        return _format_date(self.days)


class TimeValue(Temporal):
    """A time of day with nanosecond precision."""

    __slots__ = ("ns",)
    kind: ClassVar[str] = "TIME"

    def __init__(self, ns: int) -> None:
        self.ns = ns

    def key(self) -> int:
        """Order within a day."""
        return self.ns

    def text(self) -> str:
        """``HH:MM:SS[.fraction]``."""
        return _format_time_of_day(self.ns)


# -- events ------------------------------------------------------------------------------------


class EventValue:
    """An event bound to an alias; its fields are fetched once, on first use.

    Hot paths read ``cached`` directly and call :meth:`fields` only while it is None.
    """

    __slots__ = ("cached", "row")

    def __init__(self, row: EventRow) -> None:
        self.row = row
        self.cached: Mapping[str, object] | None = None

    def fields(self) -> Mapping[str, object]:
        """The event's fields, fetched from the row on first use."""
        fields = self.cached
        if fields is None:
            fields = self.cached = self.row.eventql_fields()
        return fields

    def field(self, name: str) -> object:
        """One field as an EventQL value (``time`` becomes a DATETIME)."""
        value = self.fields().get(name)
        if name == "time" and type(value) is str:
            return DateTimeValue(None, value)
        return value

    def as_dict(self) -> dict[str, object]:
        """The event as a JSON-like object (``time`` stays a string)."""
        return dict(self.fields())


# -- generic helpers ---------------------------------------------------------------------------


def type_name(value: object) -> str:
    """The EventQL name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Temporal):
        return value.kind
    if isinstance(value, EventValue):
        return "event"
    if isinstance(value, Mapping):
        return "record"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _show(value: object) -> str:
    """A short rendering of a value for error messages."""
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return repr(text)
    if isinstance(value, Temporal):
        return f"{value.kind} {value.text()}"
    if value is None or isinstance(value, bool):
        return "null" if value is None else ("true" if value else "false")
    if is_number(value):
        return format_number(value)
    return type_name(value)


def export(value: object) -> object:
    """Turn an internal value into what is sent: temporal text, an event as a plain object."""
    if isinstance(value, Temporal):
        return value.text()
    if isinstance(value, EventValue):
        return value.as_dict()
    return value


def canonical(value: object) -> object:
    """A hashable key under which equal values (by :func:`equals`) coincide."""
    kind = type(value)
    if kind is str:
        return ("s", value)
    if value is None:
        return ("n",)
    if kind is bool:
        return ("b", value)
    if is_number(value):
        return ("f", float(value))
    if isinstance(value, Temporal):
        return (value.kind, value.key())
    if isinstance(value, EventValue):
        return ("e", id(value.row))
    if isinstance(value, Mapping):
        return ("r", frozenset((key, canonical(item)) for key, item in value.items()))
    if isinstance(value, list | tuple):
        return ("a", tuple(canonical(item) for item in value))
    return ("o", id(value))


def _temporal_keys(left: Temporal, right: object) -> tuple[int, int]:
    """Comparable keys for a temporal value and another value (a string is parsed)."""
    if isinstance(right, str):
        parsed: int | None
        if isinstance(left, DateTimeValue):
            parsed = parse_datetime_ns(right)
        elif isinstance(left, DateValue):
            parsed = parse_date_days(right)
        else:
            parsed = parse_time_ns(right)
        if parsed is None:
            raise ValueProblem(f"cannot compare {left.kind} with {_show(right)}")
        return left.key(), parsed
    if isinstance(right, Temporal):
        if type(left) is type(right):
            return left.key(), right.key()
        if isinstance(left, DateTimeValue):
            if isinstance(right, DateValue):
                return left.days(), right.days
            if isinstance(right, TimeValue):
                return left.time_of_day(), right.ns
        if isinstance(right, DateTimeValue):
            if isinstance(left, DateValue):
                return left.days, right.days()
            if isinstance(left, TimeValue):
                return left.ns, right.time_of_day()
    raise ValueProblem(f"cannot compare {left.kind} with {type_name(right)}")


def equals(left: object, right: object) -> bool:
    """EventQL ``==``: deep, type-strict (``1 == true`` is false), null equals only null."""
    if left is None or right is None:
        return left is None and right is None
    left_kind, right_kind = type(left), type(right)
    if left_kind is bool or right_kind is bool:
        return left_kind is right_kind and left == right
    if is_number(left):
        return is_number(right) and left == right
    if isinstance(left, Temporal):
        if isinstance(right, Temporal | str):
            keys = _temporal_keys(left, right)
            return keys[0] == keys[1]
        return False
    if isinstance(right, Temporal):
        return equals(right, left)
    if isinstance(left, str):
        return isinstance(right, str) and left == right
    if isinstance(left, EventValue):
        left = left.as_dict()
    if isinstance(right, EventValue):
        right = right.as_dict()
    if isinstance(left, list | tuple):
        return (
            isinstance(right, list | tuple)
            and len(left) == len(right)
            and all(equals(a, b) for a, b in zip(left, right, strict=True))
        )
    if isinstance(left, Mapping):
        return (
            isinstance(right, Mapping)
            and left.keys() == right.keys()
            and all(equals(item, right[key]) for key, item in left.items())
        )
    return left == right


def compare(left: object, right: object) -> int:
    """EventQL ordering: -1, 0 or 1 for numbers, strings or temporal values; else a problem."""
    if is_number(left) and is_number(right):
        return (left > right) - (left < right)
    if isinstance(left, str) and isinstance(right, str):
        return (left > right) - (left < right)
    if isinstance(left, Temporal):
        a, b = _temporal_keys(left, right)
    elif isinstance(right, Temporal):
        b, a = _temporal_keys(right, left)
    else:
        raise ValueProblem(f"cannot compare {type_name(left)} with {type_name(right)}")
    return (a > b) - (a < b)


def sort_key_kind(value: object) -> str:
    """The ordering class of an ORDER BY value; values of different classes cannot be sorted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Temporal):
        return value.kind
    raise ValueProblem(f"cannot order by a value of type {type_name(value)}")


def sort_key(value: object) -> object:
    """A Python-comparable key for a non-null ORDER BY value."""
    if isinstance(value, Temporal):
        return value.key()
    return value


# -- conversions (AS) --------------------------------------------------------------------------

_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TRUE_TEXTS = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE_TEXTS = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def _cannot_convert(value: object, target: str) -> ValueProblem:
    """The problem for a value that has no ``target`` representation."""
    return ValueProblem(f"cannot convert {type_name(value)} {_show(value)} to {target}")


def _json_text(value: object) -> str:
    """Compact JSON text of a JSON-like value, numbers formatted Go-style."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        return format_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Temporal | EventValue):
        return _json_text(export(value))
    if isinstance(value, Mapping):
        items = (f"{_json_text(str(k))}:{_json_text(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json_text(item) for item in value) + "]"
    return _json_text(str(value))


def _to_string(value: object) -> object:
    """``AS STRING``."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_number(value):
        return format_number(value)
    if isinstance(value, Temporal):
        return value.text()
    return _json_text(value)


def _to_int(value: object) -> object:
    """``AS INT``: truncates numbers, parses decimal integer strings."""
    if value is None:
        return None
    if is_number(value):
        return float(math.trunc(value))
    if isinstance(value, str) and _INT_RE.fullmatch(value):
        try:
            return _finite(float(int(value)))
        except (OverflowError, ValueError):  # beyond float64, or beyond Python's 4,300 digits
            raise _cannot_convert(value, "INT") from None
    raise _cannot_convert(value, "INT")


def _to_float(value: object) -> object:
    """``AS FLOAT64``: numbers stay, decimal strings are parsed."""
    if value is None:
        return None
    if is_number(value):
        return float(value)
    if isinstance(value, str) and _FLOAT_RE.fullmatch(value):
        number = float(value)
        if math.isfinite(number):
            return number
    raise _cannot_convert(value, "FLOAT64")


def _to_boolean(value: object) -> object:
    """``AS BOOLEAN``: booleans stay; strings as Go's ParseBool reads them."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value in _TRUE_TEXTS:
            return True
        if value in _FALSE_TEXTS:
            return False
    raise _cannot_convert(value, "BOOLEAN")


def _to_datetime(value: object) -> object:
    """``AS DATETIME``: RFC 3339 strings (a bare date means midnight UTC), DATE values."""
    if value is None or isinstance(value, DateTimeValue):
        return value
    if isinstance(value, DateValue):
        return DateTimeValue(value.days * _DAY_NS)
    if isinstance(value, str):
        ns = parse_datetime_ns(value)
        if ns is not None:
            return DateTimeValue(ns)
        days = parse_date_days(value)
        if days is not None:
            return DateTimeValue(days * _DAY_NS)
    raise _cannot_convert(value, "DATETIME")


def _to_date(value: object) -> object:
    """``AS DATE``: ``YYYY-MM-DD`` or RFC 3339 strings, DATETIME values (UTC date)."""
    if value is None or isinstance(value, DateValue):
        return value
    if isinstance(value, DateTimeValue):
        return DateValue(value.days())
    if isinstance(value, str):
        days = parse_date_days(value)
        if days is not None:
            return DateValue(days)
    raise _cannot_convert(value, "DATE")


def _to_time(value: object) -> object:
    """``AS TIME``: ``HH:MM:SS[.f]`` or RFC 3339 strings, DATETIME values (UTC time of day)."""
    if value is None or isinstance(value, TimeValue):
        return value
    if isinstance(value, DateTimeValue):
        return TimeValue(value.time_of_day())
    if isinstance(value, str):
        ns = parse_time_ns(value)
        if ns is not None:
            return TimeValue(ns)
    raise _cannot_convert(value, "TIME")


CONVERSIONS: Mapping[str, Callable[[object], object]] = {
    "STRING": _to_string,
    "INT": _to_int,
    "FLOAT64": _to_float,
    "BOOLEAN": _to_boolean,
    "DATETIME": _to_datetime,
    "DATE": _to_date,
    "TIME": _to_time,
}
"""Type names accepted after ``AS`` (upper-case) and their conversion; null stays null."""


# -- scalar functions --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScalarFunction:
    """A row-level function: arity, implementation, and whether equal inputs give equal output."""

    min_args: int
    max_args: int
    impl: Callable[..., object]
    deterministic: bool = True


def _number_arg(function: str, value: object, position: int = 1) -> float:
    """Argument ``position`` of ``function`` as a number."""
    if is_number(value):
        return value
    raise ValueProblem(
        f"{function} expects a number as argument {position}, got {type_name(value)}"
    )


def _integer_arg(function: str, value: object, position: int) -> int:
    """Argument ``position`` of ``function`` as an integral number."""
    number = _number_arg(function, value, position)
    if float(number).is_integer():
        return int(number)
    raise ValueProblem(f"{function} expects an integer as argument {position}, got {_show(value)}")


def _string_arg(function: str, value: object, position: int = 1) -> str:
    """Argument ``position`` of ``function`` as a string."""
    if isinstance(value, str):
        return value
    raise ValueProblem(
        f"{function} expects a string as argument {position}, got {type_name(value)}"
    )


def _date_days_arg(function: str, value: object) -> int:
    """The UTC day number of a DATETIME, DATE or date string argument."""
    if isinstance(value, DateTimeValue):
        return value.days()
    if isinstance(value, DateValue):
        return value.days
    if isinstance(value, str):
        days = parse_date_days(value)
        if days is not None:
            return days
    raise ValueProblem(f"{function} expects a DATE or DATETIME, got {type_name(value)}")


def _time_ns_arg(function: str, value: object) -> int:
    """Nanoseconds since UTC midnight of a DATETIME, TIME or time string argument."""
    if isinstance(value, DateTimeValue):
        return value.time_of_day()
    if isinstance(value, TimeValue):
        return value.ns
    if isinstance(value, str):
        ns = parse_time_ns(value)
        if ns is not None:
            return ns
    raise ValueProblem(f"{function} expects a TIME or DATETIME, got {type_name(value)}")


def _round_half_away(value: float) -> float:
    """Round half away from zero, like Go's math.Round (exact for every float64)."""
    if value < 0:
        return -_round_half_away(-value)
    floor = math.floor(value)
    return float(floor + 1 if value - floor >= 0.5 else floor)


def _exp(value: object) -> float:
    """EXP; overflow is an error, not infinity."""
    try:
        return _finite(math.exp(_number_arg("EXP", value)))
    except OverflowError:
        raise ValueProblem("the result is not a finite number") from None


def _pow(base: object, exponent: object) -> float:
    """POW; results that are not finite real numbers are errors."""
    a, b = _number_arg("POW", base, 1), _number_arg("POW", exponent, 2)
    try:
        return _finite(math.pow(a, b))
    except (OverflowError, ValueError):
        raise ValueProblem(f"POW({_show(base)}, {_show(exponent)}) is not a real number") from None


def _sqrt(value: object) -> float:
    """SQRT of a non-negative number."""
    number = _number_arg("SQRT", value)
    if number < 0:
        raise ValueProblem(f"SQRT of the negative number {_show(value)}")
    return math.sqrt(number)


def _len(value: object) -> float:
    """LEN: characters of a string (code points) or items of an array."""
    if isinstance(value, str | list | tuple):
        return float(len(value))
    raise ValueProblem(f"LEN expects a string or an array, got {type_name(value)}")


def _instr(haystack: object, needle: object) -> float:
    """INSTR: 1-based position of the first occurrence, 0 when absent."""
    text = _string_arg("INSTR", haystack, 1)
    return float(text.find(_string_arg("INSTR", needle, 2)) + 1)


def _substring(value: object, start: object, length: object = None) -> str:
    """SUBSTRING(text, start[, length]) with a 1-based start clamped to 1."""
    text = _string_arg("SUBSTRING", value, 1)
    begin = max(_integer_arg("SUBSTRING", start, 2), 1) - 1
    if length is None:
        return text[begin:]
    count = _integer_arg("SUBSTRING", length, 3)
    if count < 0:
        raise ValueProblem(f"SUBSTRING expects a non-negative length, got {_show(length)}")
    return text[begin : begin + count]


def _replace(value: object, old: object, new: object) -> str:
    """REPLACE: every occurrence; a result longer than `MAX_STRING_LENGTH` is refused before it
    is built."""
    text = _string_arg("REPLACE", value, 1)
    pattern, replacement = _string_arg("REPLACE", old, 2), _string_arg("REPLACE", new, 3)
    growth = len(replacement) - len(pattern)
    if growth > 0:
        _bounded("REPLACE", len(text) + text.count(pattern) * growth)
    return text.replace(pattern, replacement)


def _bounded(what: str, length: int) -> int:
    """`length`, the size of a string about to be computed, if it is within the bound."""
    if length > MAX_STRING_LENGTH:
        raise ValueProblem(
            f"the result of {what} would have {length:,} characters, more than the "
            f"{MAX_STRING_LENGTH:,} a computed string may have"
        )
    return length


def _starts_with(value: object, prefix: object) -> bool:
    """STARTSWITH(text, prefix)."""
    text = _string_arg("STARTSWITH", value, 1)
    return text.startswith(_string_arg("STARTSWITH", prefix, 2))


def _ends_with(value: object, suffix: object) -> bool:
    """ENDSWITH(text, suffix)."""
    text = _string_arg("ENDSWITH", value, 1)
    return text.endswith(_string_arg("ENDSWITH", suffix, 2))


def _if(condition: object, then: object, otherwise: object) -> object:
    """Eager IF (the evaluator compiles a lazy one; this serves direct calls)."""
    if condition is True:
        return then
    if condition is False:
        return otherwise
    raise ValueProblem(f"IF expects a boolean condition, got {type_name(condition)}")


def _string_function(name: str, method: Callable[[str], str]) -> Callable[[object], str]:
    """A one-argument string function from a ``str`` method (UPPER may grow a string: `ß`)."""

    def apply(value: object) -> str:
        result = method(_string_arg(name, value))
        _bounded(name, len(result))
        return result

    return apply


def _number_function(name: str, method: Callable[[float], float]) -> Callable[[object], float]:
    """A one-argument number function whose result is a float."""

    def apply(value: object) -> float:
        return float(method(_number_arg(name, value)))

    return apply


def _date_part(name: str, part: Callable[[int], int]) -> Callable[[object], float]:
    """YEAR/MONTH/DAY/WEEKDAY from the UTC day number."""

    def apply(value: object) -> float:
        return float(part(_date_days_arg(name, value)))

    return apply


def _time_part(name: str, part: Callable[[int], int]) -> Callable[[object], float]:
    """HOUR/MINUTE/SECOND from nanoseconds since UTC midnight."""

    def apply(value: object) -> float:
        return float(part(_time_ns_arg(name, value)))

    return apply


SCALAR_FUNCTIONS: Mapping[str, ScalarFunction] = {
    "ABS": ScalarFunction(1, 1, _number_function("ABS", abs)),
    "CEIL": ScalarFunction(1, 1, _number_function("CEIL", math.ceil)),
    "FLOOR": ScalarFunction(1, 1, _number_function("FLOOR", math.floor)),
    "ROUND": ScalarFunction(1, 1, _number_function("ROUND", _round_half_away)),
    "COS": ScalarFunction(1, 1, _number_function("COS", math.cos)),
    "EXP": ScalarFunction(1, 1, _exp),
    "POW": ScalarFunction(2, 2, _pow),
    "SQRT": ScalarFunction(1, 1, _sqrt),
    "RAND": ScalarFunction(0, 0, random.random, deterministic=False),
    "PI": ScalarFunction(0, 0, lambda: math.pi),
    "LOWER": ScalarFunction(1, 1, _string_function("LOWER", str.lower)),
    "UPPER": ScalarFunction(1, 1, _string_function("UPPER", str.upper)),
    "TRIM": ScalarFunction(1, 1, _string_function("TRIM", str.strip)),
    "LTRIM": ScalarFunction(1, 1, _string_function("LTRIM", str.lstrip)),
    "RTRIM": ScalarFunction(1, 1, _string_function("RTRIM", str.rstrip)),
    "LEN": ScalarFunction(1, 1, _len),
    "INSTR": ScalarFunction(2, 2, _instr),
    "SUBSTRING": ScalarFunction(2, 3, _substring),
    "REPLACE": ScalarFunction(3, 3, _replace),
    "STARTSWITH": ScalarFunction(2, 2, _starts_with),
    "ENDSWITH": ScalarFunction(2, 2, _ends_with),
    "NOW": ScalarFunction(0, 0, lambda: DateTimeValue(time.time_ns()), deterministic=False),
    "YEAR": ScalarFunction(1, 1, _date_part("YEAR", lambda d: _civil_from_days(d)[0])),
    "MONTH": ScalarFunction(1, 1, _date_part("MONTH", lambda d: _civil_from_days(d)[1])),
    "DAY": ScalarFunction(1, 1, _date_part("DAY", lambda d: _civil_from_days(d)[2])),
    "WEEKDAY": ScalarFunction(1, 1, _date_part("WEEKDAY", lambda d: (d + 4) % 7)),
    "HOUR": ScalarFunction(1, 1, _time_part("HOUR", lambda ns: ns // (3600 * _NS))),
    "MINUTE": ScalarFunction(1, 1, _time_part("MINUTE", lambda ns: ns // (60 * _NS) % 60)),
    "SECOND": ScalarFunction(1, 1, _time_part("SECOND", lambda ns: ns // _NS % 60)),
    "IF": ScalarFunction(3, 3, _if),
}
"""Scalar functions by upper-case name."""


# -- aggregates --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AggregateFunction:
    """A function over the values of one argument across a group, in row order."""

    min_args: int
    max_args: int
    impl: Callable[[Sequence[object]], object]


def _numbers(name: str, values: Sequence[object]) -> list[float]:
    """The non-null values, which must all be numbers."""
    numbers: list[float] = []
    for value in values:
        if value is None:
            continue
        if not is_number(value):
            raise ValueProblem(f"{name} expects numbers, got {type_name(value)}")
        numbers.append(value)
    return numbers


def _count(values: Sequence[object]) -> float:
    """COUNT(condition): rows whose condition is true; null is skipped as every aggregate skips
    it, any other non-boolean is an error."""
    count = 0
    for value in values:
        if value is True:
            count += 1
        elif value is not False and value is not None:
            raise ValueProblem(f"COUNT expects a boolean condition, got {type_name(value)}")
    return float(count)


def _sum(values: Sequence[object]) -> float:
    """SUM of the non-null numbers; 0 when there are none."""
    return _finite(float(sum(_numbers("SUM", values))))


def _avg(values: Sequence[object]) -> float | None:
    """AVG of the non-null numbers; null when there are none."""
    numbers = _numbers("AVG", values)
    return _finite(float(sum(numbers)) / len(numbers)) if numbers else None


def _extreme(name: str, sign: int) -> Callable[[Sequence[object]], object]:
    """MIN (sign -1) or MAX (sign 1) over non-null numbers, strings or temporal values."""

    def apply(values: Sequence[object]) -> object:
        best: object = None
        for value in values:
            if value is None:
                continue
            if best is None or compare(value, best) * sign > 0:
                best = value
        if is_number(best):
            return float(best)
        if best is not None and not isinstance(best, str | Temporal):
            raise ValueProblem(f"{name} expects numbers, strings or dates, got {type_name(best)}")
        return best

    return apply


def _median(values: Sequence[object]) -> float | None:
    """MEDIAN of the non-null numbers (mean of the middle two for an even count)."""
    numbers = sorted(_numbers("MEDIAN", values))
    if not numbers:
        return None
    middle = len(numbers) // 2
    if len(numbers) % 2:
        return float(numbers[middle])
    return _finite((numbers[middle - 1] + numbers[middle]) / 2)


def _variance_of(name: str, values: Sequence[object]) -> float | None:
    """Population variance of the non-null numbers (None when there are none)."""
    numbers = _numbers(name, values)
    if not numbers:
        return None
    mean = sum(numbers) / len(numbers)
    return _finite(sum((x - mean) ** 2 for x in numbers) / len(numbers))


def _stddev(values: Sequence[object]) -> float | None:
    """Population standard deviation of the non-null numbers."""
    variance = _variance_of("STDDEV", values)
    return None if variance is None else math.sqrt(variance)


def _unique(values: Sequence[object]) -> object:
    """UNIQUE: the value all rows share (null without rows); differing values fail."""
    if not values:
        return None
    first = values[0]
    for value in values[1:]:
        if not equals(first, value):
            raise ValueProblem(
                f"UNIQUE found different values {_show(first)} and {_show(value)} in one group"
            )
    return first


AGGREGATE_FUNCTIONS: Mapping[str, AggregateFunction] = {
    "COUNT": AggregateFunction(0, 1, _count),
    "SUM": AggregateFunction(1, 1, _sum),
    "AVG": AggregateFunction(1, 1, _avg),
    "MIN": AggregateFunction(1, 1, _extreme("MIN", -1)),
    "MAX": AggregateFunction(1, 1, _extreme("MAX", 1)),
    "MEDIAN": AggregateFunction(1, 1, _median),
    "STDDEV": AggregateFunction(1, 1, _stddev),
    "VARIANCE": AggregateFunction(1, 1, lambda values: _variance_of("VARIANCE", values)),
    "UNIQUE": AggregateFunction(1, 1, _unique),
}
"""Aggregates by upper-case name; ``COUNT()`` without an argument counts rows."""
