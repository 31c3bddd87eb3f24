"""NDJSON lines of both API versions: `{"type":..,"payload":..}` (v1) and `{"type":..,"data":..}`.

Events are framed around their pre-encoded bytes, never re-encoded. Members keep the order the
real server's Go structs give them; only maps (data, schemas, query rows) have sorted keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from eventsourcingdb.emulator.encoding import encode_json, encode_string
from eventsourcingdb.emulator.records import EventTypeInfo, StoredEvent
from eventsourcingdb.errors import ErrorCode

__all__ = ["CHUNK_SIZE", "V1_LINES", "V2_LINES", "Lines", "chunks"]

CHUNK_SIZE: Final = 64 * 1024
"""Lines are joined into chunks of about this many bytes before they are sent."""


@dataclass(frozen=True, slots=True)
class Lines:
    """Builds the lines of one API version."""

    version: int

    def _envelope(self, kind: str, value: bytes) -> bytes:
        key = b"payload" if self.version == 1 else b"data"
        return b'{"type":"' + kind.encode("ascii") + b'","' + key + b'":' + value + b"}\n"

    def event_parts(self) -> tuple[bytes, bytes]:
        """What goes before and after an event's encoded object to make its line."""
        key = b"payload" if self.version == 1 else b"data"
        return b'{"type":"event","' + key + b'":', b"}\n"

    def event(self, event: StoredEvent) -> bytes:
        """One event line."""
        head, tail = self.event_parts()
        return head + event.encoded + tail

    def row(self, value: bytes) -> bytes:
        """One EventQL row; v2 wraps the value as `{"value": ...}`."""
        if self.version == 1:
            return self._envelope("row", value)
        return self._envelope("row", b'{"value":' + value + b"}")

    def subject(self, subject: str) -> bytes:
        """One subject of read-subjects."""
        return self._envelope("subject", b'{"subject":' + encode_string(subject).encode() + b"}")

    def event_type(self, info: EventTypeInfo) -> bytes:
        """One event type of read-event-types (and the body of read-event-type)."""
        return self._envelope("eventType", self.event_type_object(info))

    def event_type_object(self, info: EventTypeInfo) -> bytes:
        """`{"eventType","isPhantom"[,"schema"]}` (v1) or `{"type","hasEvents"[,"schema"]}`."""
        name = encode_string(info.type).encode()
        if self.version == 1:
            text = b'{"eventType":' + name + b',"isPhantom":' + _bool(not info.has_events)
        else:
            text = b'{"type":' + name + b',"hasEvents":' + _bool(info.has_events)
        if info.schema is not None:
            text += b',"schema":' + info.schema.encoded
        return text + b"}"

    def heartbeat(self) -> bytes:
        """A heartbeat: `{"type":"heartbeat","payload":{}}` or with `data`."""
        return self._envelope("heartbeat", b"{}")

    def end(self) -> bytes:
        """The last line of a finished v2 stream (v1 streams just end)."""
        return self._envelope("end", b"{}") if self.version == 2 else b""

    def error(
        self,
        text: str,
        code: ErrorCode | None = None,
        details: Mapping[str, object] | None = None,
    ) -> bytes:
        """An error line: v1 `{"error": text, ...details}`, v2 `{"code","description","details"}`.

        In v1 the details (EventQL's `startToken`/`endToken`) sit beside `error`.
        """
        details = details or {}
        if self.version == 1:
            value = b'{"error":' + encode_string(text).encode()
            for key, item in details.items():
                value += b"," + encode_string(key).encode() + b":" + _ordered(item)
            return self._envelope("error", value + b"}")
        url = (code or ErrorCode.STORE_FAILED).url
        value = (
            b'{"code":'
            + encode_string(url).encode()
            + b',"description":'
            + encode_string(text).encode()
            + b',"details":'
            + _ordered(details)
            + b"}"
        )
        return self._envelope("error", value)


def _bool(value: bool) -> bytes:
    return b"true" if value else b"false"


def _ordered(value: object) -> bytes:
    """Like `encode_json`, but objects keep their insertion order (Go struct members)."""
    if isinstance(value, Mapping):
        members = (
            encode_string(str(key)).encode() + b":" + _ordered(item) for key, item in value.items()
        )
        return b"{" + b",".join(members) + b"}"
    return encode_json(value)


V1_LINES: Final = Lines(1)
V2_LINES: Final = Lines(2)


def chunks(lines: Iterable[bytes], size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Join lines into chunks of about `size` bytes."""
    buffer: list[bytes] = []
    filled = 0
    for line in lines:
        buffer.append(line)
        filled += len(line)
        if filled >= size:
            yield b"".join(buffer)
            buffer.clear()
            filled = 0
    if buffer:
        yield b"".join(buffer)


def event_chunks(
    events: Iterable[StoredEvent], lines: Lines, size: int = CHUNK_SIZE
) -> Iterator[bytes]:
    """Event lines joined into chunks, framing each pre-encoded event without copying it twice."""
    head, tail = lines.event_parts()
    framing = len(head) + len(tail)
    buffer: list[bytes] = []
    filled = 0
    for event in events:
        buffer += (head, event.encoded, tail)
        filled += len(event.encoded) + framing
        if filled >= size:
            yield b"".join(buffer)
            buffer.clear()
            filled = 0
    if buffer:
        yield b"".join(buffer)
