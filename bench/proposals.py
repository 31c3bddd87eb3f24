"""Proposed fixes of hot paths, applied inside our workers to measure them before they land.

`bench/run --patch NAME ...` sets `BENCH_PATCHES`, and every worker of ours applies the named
patches when it starts (the emulator and the official client are untouched). A patched run is
never written to latest.json. The code here is the proposal itself: each patch replaces one
function of the package with the faster version suggested for it, keeping its behaviour.

* `fast-raw-data` - `Event.raw_data` finds the exact bytes of `data` by searching the kept line
  for the member and parsing the value there with the C scanner, checked against the parsed
  data, instead of walking every member of the line in Python (`find_raw_member`). Typed reads
  (`EventStore`, `Repository`) call it for every event.
* `lean-decode` - `EventStore` decodes an event of a declared type without upcasters straight
  into its model and builds the `RecordedEvent` through its slots, skipping the general path
  (upcaster chain, value checks, the frozen dataclass's `__init__`); everything else (retired
  types, events without a line, data the model refuses) still takes the general path.
* `sniffio` - makes `import sniffio` succeed, as adding `sniffio` to the package's dependencies
  would. httpcore 1.0 imports it (to tell asyncio from trio) each time it creates a lock or
  semaphore, four times per request; anyio 4.x no longer depends on it, so without it every
  request pays four failed imports, each a search of the whole `sys.path`. This patch stands in
  for the installed package (it answers "asyncio" as sniffio does in an asyncio task); it affects
  our client and the raw limit alike, both being httpx.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, Final

PATCHES_VARIABLE: Final = "BENCH_PATCHES"

_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_WHITESPACE: Final = " \t\n\r"


def find_data_fast(text: str, container: str | None, data: object) -> bytes | None:
    """The exact text of the event's `data` member in `text`, or None (then use the slow path).

    The event object is the value of the envelope member `container` (the first occurrence of
    that key), and its `data` member is the first `"data":` after it whose value parses to the
    event's parsed data. A JSON string cannot hold an unescaped quote, so the key pattern cannot
    start inside a string; what it finds is checked by parsing it, and anything unusual (escaped
    key names, whitespace inside keys) falls back to the exact walk over every member.
    """
    index = 0
    if container is not None:
        index = text.find(f'"{container}":')
        if index < 0:
            return None
        index += len(container) + 3
    while True:
        index = text.find('"data":', index)
        if index < 0:
            return None
        start = index + 7
        while start < len(text) and text[start] in _WHITESPACE:
            start += 1
        try:
            value, end = _scan(text, start)
        except StopIteration:
            return None
        if type(value) is dict and value == data:
            return text[start:end].encode("utf-8", "surrogatepass")
        index += 1


def _apply_fast_raw_data() -> None:
    from eventsourcingdb import event as event_module
    from eventsourcingdb._protocol.events import find_raw_member
    from eventsourcingdb.errors import ProtocolError

    def raw_data(self: Any) -> bytes | None:
        raw = self._raw
        if raw is None:
            return None
        if isinstance(raw, str):
            found = find_data_fast(raw, self._raw_container, self._payload["data"])
            if found is not None:
                return found
        try:
            member: bytes = find_raw_member(raw, self._raw_container, "data")
        except ValueError as error:
            raise ProtocolError(
                f"the raw data of event {self.event_id} cannot be located in its line: {error}"
            ) from None
        return member

    raw_data.__doc__ = event_module.Event.raw_data.__doc__
    type.__setattr__(event_module.Event, "raw_data", property(raw_data))


def _apply_lean_decode() -> None:
    from pydantic import ValidationError

    from eventsourcingdb.models import codec, store
    from eventsourcingdb.models.recorded import RecordedEvent

    decode_event = codec.decode_event
    new = object.__new__
    set_data = RecordedEvent.__dict__["data"].__set__
    set_event = RecordedEvent.__dict__["event"].__set__

    def lean_decode_event(registry: Any, event: Any) -> Any:
        # The common case: a declared type without upcasters, with the line it came in.
        name = event._payload["type"]
        declaration = registry._by_name.get(name)
        if declaration is None or name in registry._upcasters:
            return decode_event(registry, event)
        raw = event.raw_data
        if raw is None:
            return decode_event(registry, event)
        try:
            data = declaration.model.model_validate_json(raw)
        except ValidationError:
            return decode_event(registry, event)  # for its error message
        recorded = new(RecordedEvent)
        set_data(recorded, data)
        set_event(recorded, event)
        return recorded

    store.__dict__["decode_event"] = lean_decode_event


def _apply_sniffio() -> None:
    import importlib.util
    import sys
    import types

    if importlib.util.find_spec("sniffio") is not None:
        return  # installed already: the patch changes nothing

    def current_async_library() -> str:
        return "asyncio"  # what sniffio answers inside an asyncio task

    module = types.ModuleType("sniffio")
    module.__dict__["current_async_library"] = current_async_library
    sys.modules["sniffio"] = module


PATCHES: Final[dict[str, Callable[[], None]]] = {
    "fast-raw-data": _apply_fast_raw_data,
    "lean-decode": _apply_lean_decode,
    "sniffio": _apply_sniffio,
}


def requested() -> list[str]:
    """The patches named in the environment."""
    names = [name for name in os.environ.get(PATCHES_VARIABLE, "").split(",") if name]
    unknown = [name for name in names if name not in PATCHES]
    if unknown:
        raise ValueError(f"unknown patch(es) {unknown}; known: {sorted(PATCHES)}")
    return names


def apply_requested() -> list[str]:
    """Apply the patches named in the environment; their names."""
    names = requested()
    for name in names:
        PATCHES[name]()
    return names
