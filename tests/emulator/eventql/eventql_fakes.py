"""Fakes for the EventQL tests: a small in-memory store as the engine sees it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from eventsourcingdb.emulator.eventql import EventTypeEntry, parse


@dataclass(eq=False)
class FakeEvent:
    """An event row that counts how often the engine asks for its fields."""

    fields: dict[str, object]
    calls: int = 0

    def eventql_fields(self) -> Mapping[str, object]:
        """The 13 EventQL fields."""
        self.calls += 1
        return self.fields


def make_event(
    index: int,
    *,
    type_: str = "io.eventsourcingdb.test.thing-happened",
    subject: str = "/things/1",
    data: object = None,
    time: str | None = None,
    traceparent: str | None = None,
) -> FakeEvent:
    """An event with id ``index`` and a write time ``index`` seconds after 2025-01-01."""
    return FakeEvent(
        {
            "specversion": "1.0",
            "id": str(index),
            "time": time or f"2025-01-01T00:00:{index:02d}.123456789Z",
            "source": "https://library.eventsourcingdb.io",
            "subject": subject,
            "type": type_,
            "datacontenttype": "application/json",
            "data": {} if data is None else data,
            "predecessorhash": "0" * 64,
            "hash": f"{index:064x}",
            "traceparent": traceparent,
            "tracestate": None,
            "signature": None,
        }
    )


@dataclass
class FakeSource:
    """A snapshot: events in write order, known subjects, known event types."""

    event_list: list[FakeEvent] = field(default_factory=list)
    subject_list: list[str] = field(default_factory=list)
    type_list: list[EventTypeEntry] = field(default_factory=list)

    def events(self) -> Sequence[FakeEvent]:
        """All events in write order."""
        return self.event_list

    def subjects(self) -> Sequence[str]:
        """All known subjects."""
        return self.subject_list

    def event_types(self) -> Sequence[EventTypeEntry]:
        """All known event types."""
        return self.type_list


def run(query: str, source: FakeSource) -> list[object]:
    """Parse and run ``query``, collecting every row."""
    return list(parse(query).run(source))


BOOK_TYPES = (
    "io.library.book-acquired",
    "io.library.book-borrowed",
    "io.library.book-returned",
    "io.library.book-borrowed",
    "io.library.book-borrowed",
)
