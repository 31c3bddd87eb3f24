"""How large an event is as the server counts it, so that an oversized one is refused before it
is sent.

The server (written in Go) decodes `data` into maps and float64 numbers and encodes it again with
Go's `encoding/json`; the 64 KiB limit applies to those bytes. Python's compact JSON is the same
but for a few spellings, which `go_json_size` accounts for: Go escapes `<`, `>`, `&`, U+2028 and
U+2029 (six bytes each), writes every number as a float64 (`1` for `1.0`, `1e-7` for `1e-07`,
`1e+21` beyond 10^21), and leaves no room for anything Python would write differently.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Final

from eventsourcingdb import _wire
from eventsourcingdb.errors import EventTooLargeError
from eventsourcingdb.event import EventCandidate

__all__ = ["check_event_sizes", "go_json_size"]

_SPECIAL: Final = re.compile(r'["\\\x00-\x1f<>&\u2028\u2029]')
_EXTRA: Final = {
    **{chr(code): 5 for code in range(0x20)},  # \u00XX
    **dict.fromkeys('"\\\n\r\t\b\f', 1),  # two-byte escapes
    **dict.fromkeys("<>&", 5),  # \u003c and the like
    **dict.fromkeys("\u2028\u2029", 3),  # \u2028 (six bytes) for three
}
"""Bytes Go's encoding of a special character takes beyond the character's own UTF-8 bytes."""

_UPPER_BOUND: Final = 6
"""No character takes more than six times its UTF-8 bytes in Go's encoding (`<` as `\\u003c`)."""

_COMPACT: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _string_size(text: str) -> int:
    size = len(text.encode("utf-8", "surrogatepass")) + 2
    for special in _SPECIAL.findall(text):
        size += _EXTRA[special]
    return size


def _number_size(number: int | float) -> int:
    """The length of a number as Go writes a float64 (`strconv` shortest digits)."""
    try:
        value = float(number)
    except OverflowError:  # beyond float64: the server refuses it, whatever its size
        return len(str(number))
    if value == 0:
        return 2 if math.copysign(1.0, value) < 0 else 1
    text = repr(value)
    magnitude = abs(value)
    if 1e-6 <= magnitude < 1e21:
        if value.is_integer():
            return len(str(int(value)))
        return len(format(Decimal(text), "f"))
    mantissa, _, exponent = text.partition("e")
    return len(mantissa) + 2 + len(exponent.lstrip("+-").lstrip("0") or "0")


def go_json_size(value: object) -> int:
    """The bytes of `value` (JSON-ready: dicts, lists, strings, numbers, booleans, None) as
    Go's `encoding/json` writes it after decoding it into maps and float64 numbers."""
    if value is None or value is True:
        return 4
    if value is False:
        return 5
    if isinstance(value, str):
        return _string_size(value)
    if isinstance(value, int | float):
        return _number_size(value)
    if isinstance(value, dict):
        members = sum(_string_size(key) + 1 + go_json_size(item) for key, item in value.items())
        return 2 + members + max(len(value) - 1, 0)
    if isinstance(value, list | tuple):
        return 2 + sum(map(go_json_size, value)) + max(len(value) - 1, 0)
    return len(_COMPACT.encode(value).encode("utf-8"))


def check_event_sizes(candidates: Sequence[EventCandidate], encoded: bytes) -> None:
    """Refuse the first event whose `data` the server would find larger than 64 KiB.

    `encoded` is the whole write as sent: a write that small cannot hold an oversized event, and
    only events whose compact JSON could exceed the limit are measured exactly.
    """
    limit = _wire.MAX_EVENT_DATA_BYTES
    if len(encoded) * _UPPER_BOUND <= limit:
        return
    for index, candidate in enumerate(candidates):
        if len(_COMPACT.encode(candidate.data).encode("utf-8")) * _UPPER_BOUND <= limit:
            continue
        try:
            size = go_json_size(candidate.data)
        except RecursionError:  # deeper than the server takes: it refuses that on its own
            continue
        if size > limit:
            raise EventTooLargeError(
                f"events[{index}]: the data of the event takes {size:,} bytes as JSON, more "
                f"than the {limit:,} EventSourcingDB accepts for one event; keep large content "
                "(files, documents) elsewhere and put a reference to it into the event",
                index=index,
                size=size,
                limit=limit,
            )
