"""JSON and time exactly as the real server (written in Go) produces them.

The server decodes `data` into Go values (numbers become float64) and re-encodes them with
`encoding/json`: keys sorted by bytes, `<`, `>`, `&`, U+2028 and U+2029 escaped, other non-ASCII
raw, no whitespace. Times are RFC 3339 in UTC with nanoseconds. The bytes matter because hashes
cover them, so this module reproduces Go's rules rather than Python's defaults.
"""

from __future__ import annotations

import codecs
import enum
import functools
import json
import json.encoder
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Final

__all__ = [
    "MAX_NESTING_DEPTH",
    "JSONValue",
    "TimeFormat",
    "decode_json",
    "encode_json",
    "encode_string",
    "format_float",
    "format_time",
]

JSONValue = None | bool | int | float | str | Sequence["JSONValue"] | Mapping[str, "JSONValue"]
"""A decoded JSON value (numbers are floats when decoded by `decode_json`)."""

_GO_REPLACE: Final = "eventsourcingdb-emulator-go-replace"


def _replace_each_byte(error: UnicodeError) -> tuple[str, int]:
    """Replace every invalid byte with U+FFFD, as Go's JSON decoder does (not per sequence)."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return "\ufffd" * (error.end - error.start), error.end


codecs.register_error(_GO_REPLACE, _replace_each_byte)

_ESCAPES: Final = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
    **dict.fromkeys(range(0xD800, 0xE000), "\ufffd"),
}
"""What Go escapes beyond Python's `ensure_ascii=False` output; lone surrogates become U+FFFD."""

_NEEDS_ESCAPES: Final = re.compile("[<>&\u2028\u2029\ud800-\udfff]")
_encode_basestring: Final[Callable[[str], str]] = json.encoder.encode_basestring
"""The C encoder of `json.dumps(text, ensure_ascii=False)`, without building an encoder."""
_LONE_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]", re.ASCII)
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


class TimeFormat(enum.Enum):
    """How event times are written.

    `RFC3339_NANO` is Go's layout exactly, as the real server writes times (trailing zeros of the
    fraction trimmed, no fraction at all for whole seconds); the default. `NINE_DIGITS` always
    writes nine fractional digits, for clients that need at least six (the official Python
    client 2.2.4 fails on shorter fractions).
    """

    RFC3339_NANO = "rfc3339nano"
    NINE_DIGITS = "nine-digits"


@functools.lru_cache(maxsize=8)
def _seconds_stamp(seconds: int) -> str:
    """`YYYY-MM-DDTHH:MM:SS` in UTC; cached, as events written together share their second."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def format_time(nanoseconds: int, time_format: TimeFormat = TimeFormat.NINE_DIGITS) -> str:
    """A Unix time in nanoseconds as an RFC 3339 UTC string, e.g. `2026-10-07T13:32:50.4394Z`."""
    seconds, fraction = divmod(nanoseconds, 1_000_000_000)
    stamp = _seconds_stamp(seconds)
    digits = f"{fraction:09d}"
    if time_format is TimeFormat.RFC3339_NANO:
        digits = digits.rstrip("0")
    return f"{stamp}.{digits}Z" if digits else f"{stamp}Z"


def _reject_constant(name: str) -> float:
    raise ValueError(f"invalid JSON number {name}")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text} is out of range of a 64-bit float")
    return value


def _sanitize(value: object) -> object:
    """Replace lone surrogates (from `\\ud800` escapes) with U+FFFD, as Go's decoder does.

    Loops rather than comprehensions: one stack frame per level of nesting, not two.
    """
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = _sanitize(item)
        return value
    if isinstance(value, dict):
        result: dict[str, object] = {}
        for key, item in value.items():
            result[_SURROGATE.sub("\ufffd", key)] = _sanitize(item)
        return result
    return value


MAX_NESTING_DEPTH: Final = 512
"""How deeply arrays and objects may nest in a decoded document.

Go's decoder allows 10,000 levels; Python recurses once per level (the emulator's encoder and the
schema validator as well as the decoder), so the emulator refuses what it could not process.
"""


def _too_deep(value: object, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` levels deep in `value` (no recursion)."""
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Iterable[object] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def decode_json(body: bytes | str) -> object:
    """Decode JSON as Go does: numbers as float64, invalid UTF-8 and lone surrogates as U+FFFD.

    Raises `ValueError` for malformed JSON, NaN/Infinity literals, numbers beyond float64 and
    documents nested more than `MAX_NESTING_DEPTH` levels deep.
    """
    text = body.decode("utf-8", _GO_REPLACE) if isinstance(body, bytes) else body
    try:
        value: object = json.loads(
            text, parse_int=_finite, parse_float=_finite, parse_constant=_reject_constant
        )
    except RecursionError:
        value = None
        too_deep = True
    else:
        # fewer brackets than the limit cannot nest that deeply: most bodies skip the walk
        brackets = text.count("[") + text.count("{")
        too_deep = brackets > MAX_NESTING_DEPTH and _too_deep(value, MAX_NESTING_DEPTH)
    if too_deep:
        raise ValueError(f"exceeded max depth: more than {MAX_NESTING_DEPTH} nested levels")
    if _LONE_SURROGATE_ESCAPE.search(text):
        value = _sanitize(value)
    return value


def format_float(value: float) -> str:
    """A float64 as Go's `encoding/json` writes it: shortest round trip, `1` for `1.0`.

    Plain decimal notation for 1e-6 <= |x| < 1e21, otherwise exponent form such as `1e+21` or
    `1e-7`.
    """
    if not math.isfinite(value):
        raise ValueError(f"{value!r} cannot be encoded as JSON")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    mantissa, _, exponent_text = repr(magnitude).partition("e")
    integral, _, fractional = mantissa.partition(".")
    digits = integral + fractional
    point = len(integral) + (int(exponent_text) if exponent_text else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    if 1e-6 <= magnitude < 1e21:
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return f"{sign}{digits}{'0' * (point - len(digits))}"
        return f"{sign}{digits[:point]}.{digits[point:]}"
    exponent = point - 1
    head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    tail = f"e-{-exponent}" if exponent < 0 else f"e+{exponent:02d}"
    return f"{sign}{head}{tail}"


def _go_escaped(text: str) -> str:
    """JSON text from the C encoder (`ensure_ascii=False`) with Go's further escapes applied.

    Most text is ASCII without `<`, `>` or `&`: three substring checks (no regex) tell.
    """
    if text.isascii():
        if "<" not in text and ">" not in text and "&" not in text:
            return text
    elif not _NEEDS_ESCAPES.search(text):
        return text
    return text.translate(_ESCAPES)


def encode_string(text: str) -> str:
    """A JSON string literal as Go writes it (HTML-safe escapes, raw non-ASCII)."""
    return _go_escaped(_encode_basestring(text))


_EXACT: Final = 2**53
"""Integers up to this magnitude survive the round trip through float64 unchanged."""


def _format_number(value: int | float) -> str:
    """A number as Go writes the float64 it becomes; `str()` where that is exact."""
    if type(value) is int:
        if -_EXACT <= value <= _EXACT:
            return str(value)
    elif type(value) is float and value.is_integer() and 0 < abs(value) <= _EXACT:
        return str(int(value))
    return format_float(float(value))


def _encode(value: object, parts: list[str]) -> None:
    if isinstance(value, str):
        parts.append(encode_string(value))
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int | float):
        parts.append(_format_number(value))
    elif isinstance(value, Mapping):
        parts.append("{")
        # code point order of the keys is the UTF-8 byte order Go sorts by
        for index, key in enumerate(sorted(value)):
            if index:
                parts.append(",")
            parts.append(encode_string(str(key)))
            parts.append(":")
            _encode(value[key], parts)
        parts.append("}")
    elif isinstance(value, list | tuple):
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _encode(item, parts)
        parts.append("]")
    else:
        raise TypeError(f"{type(value).__name__} cannot be encoded as JSON")


class _NotPlain(Exception):
    """`_plain` met a value whose Go encoding the standard library does not write."""


def _plain(value: object) -> object:
    """`value` with integral floats as ints, so `json` writes every number as Go would.

    Only exact builtin types take part: dicts with string keys, lists, tuples, strings, bools,
    None, ints and floats whose `repr` Go writes the same way (integral floats become ints,
    others need plain notation, which `repr` uses from 1e-4 up). Anything else raises
    `_NotPlain` and the caller takes the general encoder.
    """
    if value is None or type(value) is str or type(value) is bool:
        return value
    if type(value) is float:
        if not value.is_integer():
            if abs(value) >= 1e-4:  # neither NaN nor infinite: `repr` writes plain notation
                return value
        elif abs(value) <= _EXACT and (value or math.copysign(1.0, value) > 0):
            return int(value)  # -0.0 stays out: Go writes `-0`
        raise _NotPlain
    if type(value) is int:
        if -_EXACT <= value <= _EXACT:
            return value
        raise _NotPlain
    if type(value) is dict:
        result: dict[str, object] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlain
            result[key] = _plain(item)
        return result
    if type(value) is list or type(value) is tuple:
        return [_plain(item) for item in value]
    raise _NotPlain


def _refuse(value: object) -> object:
    raise TypeError(f"{type(value).__name__} cannot be encoded as JSON")


def _plain_encoder() -> Callable[[object], str]:
    """The C encoder in Go's layout: compact, keys sorted by code point, non-ASCII raw.

    Built once and called directly (what `json.dumps` does per call, minus building an encoder
    object each time); the pure-Python encoder where the C one is missing.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it
        encoder = json.JSONEncoder(
            ensure_ascii=False, check_circular=False, allow_nan=False, sort_keys=True,
            separators=(",", ":"),
        )  # fmt: skip
        return encoder.encode
    chunks = make(None, _refuse, _encode_basestring, None, ":", ",", True, False, False)

    def encode(value: object) -> str:
        return "".join(chunks(value, 0))

    return encode


_encode_plain: Final = _plain_encoder()


def _encode_fast(value: object) -> str | None:
    """`value` as Go writes it through the C encoder, or None where only `_encode` can tell."""
    try:
        plain = _plain(value)
    except (_NotPlain, RecursionError):
        return None
    # `<`, `>`, `&`, U+2028, U+2029 and surrogates only occur inside strings
    return _go_escaped(_encode_plain(plain))


def _encode_general(value: object) -> str:
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts)


def encode_json(value: object) -> bytes:
    """`value` as Go's `encoding/json` marshals the equivalent `any`: compact, keys sorted.

    Values of builtin types whose numbers the C encoder writes as Go does (nearly all decoded
    data) go through `json`; the rest through the general encoder. Both give the same bytes.
    """
    text = _encode_fast(value)
    if text is None:
        text = _encode_general(value)
    return text.encode("utf-8")
