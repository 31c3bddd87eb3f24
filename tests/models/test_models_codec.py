"""Encoding models into candidates and decoding stored events, without a server."""

from __future__ import annotations

import enum
import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field

from eventsourcingdb.emulator.encoding import decode_json, encode_json
from eventsourcingdb.event import Event
from eventsourcingdb.models import (
    EventDecodingError,
    EventEncodingError,
    EventRegistry,
    JsonObject,
    SupersededEventTypeError,
    UndeclaredModelError,
    UnknownEventTypeError,
    UpcastingError,
    codec,
)
from eventsourcingdb.models.codec import decode_event, encode_event

SOURCE = "https://library.eventsourcingdb.io"
ACQUIRED = "io.eventsourcingdb.library.book-acquired"
ACQUIRED_V2 = "io.eventsourcingdb.library.book-acquired.v2"
ACQUIRED_V3 = "io.eventsourcingdb.library.book-acquired.v3"


class BookAcquired(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str
    isbn: str = Field(alias="ISBN")


class BookAcquiredV2(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str
    author: str
    isbn: str


class BookAcquiredV3(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str
    authors: tuple[str, ...]
    isbn: str


class Counted(BaseModel):
    count: int
    nested: dict[str, list[int]] = {}


def _stored(event_type: str, data: Any, *, event_id: str = "7") -> Event:
    """An event as a read delivers it: parsed from its JSON text, which it keeps."""
    text = json.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "time": "2026-10-07T13:32:50.439461594Z",
            "source": SOURCE,
            "subject": "/books/42",
            "type": event_type,
            "datacontenttype": "application/json",
            "predecessorhash": "0" * 64,
            "data": data,
            "hash": "0" * 64,
            "signature": None,
        },
        ensure_ascii=False,
    )
    return Event.from_json(text)


def _registry() -> EventRegistry:
    registry = EventRegistry()
    registry.declare(ACQUIRED, BookAcquired)
    registry.declare(ACQUIRED_V2, BookAcquiredV2)
    registry.declare(ACQUIRED_V3, BookAcquiredV3)
    registry.declare("io.eventsourcingdb.tests.counted", Counted)
    return registry


def test_a_model_becomes_a_candidate_with_its_type_source_and_json_data() -> None:
    candidate = encode_event(
        _registry(),
        "/books/42",
        BookAcquired(title="2001", ISBN="978-0756906788"),
        source=SOURCE,
        trace_parent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        trace_state="rojo=00f067aa0ba902b7",
    )
    assert candidate.type == ACQUIRED
    assert candidate.source == SOURCE
    assert candidate.subject == "/books/42"
    assert candidate.data == {"title": "2001", "ISBN": "978-0756906788"}
    assert candidate.trace_parent == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert candidate.trace_state == "rojo=00f067aa0ba902b7"


def test_an_undeclared_model_is_refused() -> None:
    class Stray(BaseModel):
        title: str

    with pytest.raises(UndeclaredModelError, match="Stray is not a declared event type"):
        encode_event(_registry(), "/books/42", Stray(title="x"), source=SOURCE)


def test_a_subclass_of_a_declared_model_is_not_declared_itself() -> None:
    class Special(BookAcquired):
        edition: int

    with pytest.raises(UndeclaredModelError):
        encode_event(
            _registry(), "/books/42", Special(title="x", ISBN="y", edition=2), source=SOURCE
        )


def test_writing_a_type_with_an_upcaster_is_refused_naming_the_current_type() -> None:
    registry = _registry()
    registry.add_upcaster(
        ACQUIRED, to=BookAcquiredV2, function=lambda old: {**old, "author": "unknown"}
    )
    registry.add_upcaster(
        BookAcquiredV2,
        to=BookAcquiredV3,
        function=lambda old: BookAcquiredV3(title=old.title, authors=(old.author,), isbn=old.isbn),
    )
    with pytest.raises(SupersededEventTypeError) as caught:
        encode_event(registry, "/books/42", BookAcquired(title="x", ISBN="y"), source=SOURCE)
    assert caught.value.event_type == ACQUIRED
    assert caught.value.current_type == ACQUIRED_V3
    assert ACQUIRED_V3 in str(caught.value)
    assert "BookAcquiredV3" in str(caught.value)
    with pytest.raises(SupersededEventTypeError, match=ACQUIRED_V3):
        encode_event(
            registry,
            "/books/42",
            BookAcquiredV2(title="x", author="a", isbn="y"),
            source=SOURCE,
        )


@pytest.mark.parametrize("count", [2**53 + 1, -(2**53) - 1, 10**30])
def test_integers_the_server_would_round_are_refused(count: int) -> None:
    with pytest.raises(EventEncodingError, match=r"data\.count .*2\*\*53"):
        encode_event(_registry(), "/c", Counted(count=count), source=SOURCE)


def test_nested_integers_the_server_would_round_are_refused() -> None:
    with pytest.raises(EventEncodingError, match=r"data\.nested\.a\[1\]"):
        encode_event(_registry(), "/c", Counted(count=1, nested={"a": [1, 2**60]}), source=SOURCE)


def test_integers_up_to_2_53_are_written() -> None:
    candidate = encode_event(_registry(), "/c", Counted(count=2**53), source=SOURCE)
    assert candidate.data == {"count": 2**53, "nested": {}}


def test_a_stored_event_decodes_into_its_model_with_the_envelope() -> None:
    event = _stored(ACQUIRED, {"title": "2001", "ISBN": "978"})
    recorded = decode_event(_registry(), event)
    assert recorded.data == BookAcquired(title="2001", ISBN="978")
    assert recorded.event is event
    assert recorded.event_id == "7"
    assert recorded.type == ACQUIRED
    assert recorded.subject == "/books/42"
    assert recorded.source == SOURCE
    assert recorded.time.year == 2026
    assert recorded.hash == "0" * 64
    assert recorded.signature is None
    assert recorded.trace_parent is None


def test_an_event_without_its_raw_bytes_decodes_too() -> None:
    event = Event.parse(_stored(ACQUIRED, {"title": "2001", "ISBN": "978"}).to_json())
    assert event.raw_data is None
    assert decode_event(_registry(), event).data == BookAcquired(title="2001", ISBN="978")


def test_data_the_model_refuses_raise_a_decoding_error() -> None:
    event = _stored(ACQUIRED, {"title": 2001})
    with pytest.raises(EventDecodingError) as caught:
        decode_event(_registry(), event)
    assert caught.value.event_id == "7"
    assert caught.value.event_type == ACQUIRED
    assert caught.value.model.endswith("BookAcquired")
    assert caught.value.__cause__ is not None


def test_an_unknown_type_raises_naming_the_type() -> None:
    event = _stored("io.eventsourcingdb.library.book-lost", {"title": "x"})
    with pytest.raises(
        UnknownEventTypeError, match=r"'io\.eventsourcingdb\.library\.book-lost'"
    ) as e:
        decode_event(_registry(), event)
    assert e.value.event_type == "io.eventsourcingdb.library.book-lost"
    assert e.value.event_id == "7"
    assert e.value.subject == "/books/42"


def _chained() -> EventRegistry:
    registry = EventRegistry()
    registry.declare(ACQUIRED_V2, BookAcquiredV2)
    registry.declare(ACQUIRED_V3, BookAcquiredV3)

    @registry.upcaster(ACQUIRED, to=BookAcquiredV2)
    def add_author(old: JsonObject) -> JsonObject:
        return {**old, "author": "unknown", "isbn": old.pop("ISBN")}

    @registry.upcaster(BookAcquiredV2, to=BookAcquiredV3)
    def to_authors(old: BookAcquiredV2) -> BookAcquiredV3:
        return BookAcquiredV3(title=old.title, authors=(old.author,), isbn=old.isbn)

    return registry


def test_a_chain_of_upcasters_turns_the_oldest_type_into_the_current_model() -> None:
    recorded = decode_event(_chained(), _stored(ACQUIRED, {"title": "2001", "ISBN": "978"}))
    assert recorded.data == BookAcquiredV3(title="2001", authors=("unknown",), isbn="978")
    assert recorded.type == ACQUIRED


def test_a_chain_can_start_in_its_middle() -> None:
    stored = _stored(ACQUIRED_V2, {"title": "2001", "author": "Clarke", "isbn": "978"})
    recorded = decode_event(_chained(), stored)
    assert recorded.data == BookAcquiredV3(title="2001", authors=("Clarke",), isbn="978")


def test_a_raw_upcaster_after_a_model_upcaster_gets_the_data_as_json() -> None:
    registry = EventRegistry()
    registry.declare(ACQUIRED, BookAcquired)
    registry.declare(ACQUIRED_V2, BookAcquiredV2)
    registry.declare(ACQUIRED_V3, BookAcquiredV3)
    seen: list[object] = []

    @registry.upcaster(BookAcquired, to=BookAcquiredV2)
    def first(old: BookAcquired) -> BookAcquiredV2:
        seen.append(old)
        return BookAcquiredV2(title=old.title, author="unknown", isbn=old.isbn)

    @registry.upcaster(ACQUIRED_V2, to=BookAcquiredV3)
    def second(old: JsonObject) -> JsonObject:
        seen.append(dict(old))
        return {"title": old["title"], "authors": [old["author"]], "isbn": old["isbn"]}

    recorded = decode_event(registry, _stored(ACQUIRED, {"title": "2001", "ISBN": "978"}))
    assert recorded.data == BookAcquiredV3(title="2001", authors=("unknown",), isbn="978")
    assert seen == [
        BookAcquired(title="2001", ISBN="978"),
        {"title": "2001", "author": "unknown", "isbn": "978"},
    ]


def test_upcasters_do_not_change_the_stored_event() -> None:
    stored = _stored(ACQUIRED, {"title": "2001", "ISBN": "978"})
    decode_event(_chained(), stored)
    assert stored.data == {"title": "2001", "ISBN": "978"}
    assert Event.parse(stored.to_json()).data == {"title": "2001", "ISBN": "978"}


def test_a_failing_upcaster_raises_an_upcasting_error_naming_both_types() -> None:
    registry = EventRegistry()
    registry.declare(ACQUIRED_V2, BookAcquiredV2)

    @registry.upcaster(ACQUIRED, to=BookAcquiredV2)
    def broken(old: JsonObject) -> JsonObject:
        raise KeyError("author")

    with pytest.raises(UpcastingError, match=f"'{ACQUIRED}' to '{ACQUIRED_V2}'") as caught:
        decode_event(registry, _stored(ACQUIRED, {"title": "x"}))
    assert isinstance(caught.value.__cause__, KeyError)
    assert caught.value.event_id == "7"


def test_an_upcaster_returning_the_wrong_thing_is_reported() -> None:
    registry = EventRegistry()
    registry.declare(ACQUIRED_V2, BookAcquiredV2)
    registry.declare(ACQUIRED_V3, BookAcquiredV3)
    registry.add_upcaster(
        ACQUIRED,
        to=BookAcquiredV2,
        function=lambda old: BookAcquiredV3(title="x", authors=(), isbn="y"),  # type: ignore[arg-type, return-value]
    )
    with pytest.raises(UpcastingError, match="returned BookAcquiredV3"):
        decode_event(registry, _stored(ACQUIRED, {"title": "x"}))


def test_upcast_data_the_target_refuses_raise_a_decoding_error() -> None:
    registry = EventRegistry()
    registry.declare(ACQUIRED_V2, BookAcquiredV2)
    registry.add_upcaster(ACQUIRED, to=BookAcquiredV2, function=lambda old: old)
    with pytest.raises(EventDecodingError, match="BookAcquiredV2"):
        decode_event(registry, _stored(ACQUIRED, {"title": "x"}))


class Kind(enum.StrEnum):
    NOVEL = "novel"
    ESSAY = "essay"


class Part(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    pages: int


class Everything(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    number: int
    ratio: float
    price: Decimal
    flag: bool
    kind: Kind
    id: UUID
    at: datetime
    day: date
    duration: timedelta
    maybe: str | None
    parts: list[Part]
    tags: tuple[str, ...]
    scores: dict[str, float]


_offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
"""UTC offsets in whole minutes: ISO 8601 (and so pydantic) writes no seconds of an offset."""

_everything = st.builds(
    Everything,
    text=st.text(),
    number=st.integers(min_value=-(2**53), max_value=2**53),
    ratio=st.floats(allow_nan=False, allow_infinity=False),
    price=st.decimals(allow_nan=False, allow_infinity=False),
    flag=st.booleans(),
    kind=st.sampled_from(Kind),
    id=st.uuids(),
    at=st.datetimes(timezones=st.none() | _offsets),
    day=st.dates(),
    duration=st.timedeltas(),
    maybe=st.none() | st.text(),
    parts=st.lists(st.builds(Part, name=st.text(), pages=st.integers(0, 10_000)), max_size=3),
    tags=st.lists(st.text(), max_size=3).map(tuple),
    scores=st.dictionaries(st.text(), st.floats(allow_nan=False, allow_infinity=False)),
)


def _as_the_server_sends_it(event_type: str, data: JsonObject) -> Event:
    """The event line a Go server would send: data decoded to doubles and re-encoded by Go's
    rules (sorted keys, HTML-safe escapes, shortest floats)."""
    raw = encode_json(decode_json(json.dumps(data))).decode()
    envelope = json.dumps(
        {
            "specversion": "1.0",
            "id": "0",
            "time": "2026-10-07T13:32:50.439461594Z",
            "source": SOURCE,
            "subject": "/books/42",
            "type": event_type,
            "datacontenttype": "application/json",
            "predecessorhash": "0" * 64,
            "hash": "0" * 64,
            "signature": None,
        }
    )
    return Event.from_json(envelope[:-1] + ',"data":' + raw + "}")


@settings(max_examples=100, deadline=None)
@given(original=_everything)
def test_every_field_type_survives_the_servers_json(original: Everything) -> None:
    registry = EventRegistry()
    registry.declare("io.eventsourcingdb.tests.everything", Everything)
    candidate = encode_event(registry, "/books/42", original, source=SOURCE)
    stored = _as_the_server_sends_it(candidate.type, candidate.data)
    decoded = decode_event(registry, stored).data
    assert decoded == original
    assert isinstance(decoded, Everything)
    assert decoded.at.utcoffset() == original.at.utcoffset()
    assert str(decoded.price) == str(original.price)


# --- the line path: pydantic validates the whole line, with the general path as the check ------


def _wire(data: Any, container: str | None, *, extra: str = "") -> Event:
    """An event as a read delivers it, in a v2 envelope (`data`), a v1 one (`payload`) or bare."""
    event = dict(_stored("io.eventsourcingdb.tests.counted", {}).to_json(), data=data)
    text = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    if extra:
        text = text[:-1] + "," + extra + "}"
    line = text if container is None else '{"type":"event","' + container + '":' + text + "}"
    payload = json.loads(line)
    return Event._from_wire(payload if container is None else payload[container], line, container)


@settings(max_examples=60)
@given(
    st.integers(-(2**53), 2**53),
    st.dictionaries(st.text(max_size=4), st.lists(st.integers(-5, 5), max_size=3), max_size=3),
    st.sampled_from([None, "data", "payload"]),
)
def test_the_line_path_decodes_what_the_raw_data_path_decodes(
    count: int, nested: dict[str, list[int]], container: str | None
) -> None:
    event = _wire({"count": count, "nested": nested}, container)
    assert codec._decode_line(Counted, event) is not None  # the line path was taken
    recorded = decode_event(_registry(), event)
    assert recorded.data == Counted.model_validate_json(event.raw_data or b"")
    assert recorded.event is event


def test_data_the_model_refuses_leave_the_line_path_for_the_general_error() -> None:
    event = _wire({"count": "many"}, "data")
    assert codec._decode_line(Counted, event) is None
    with pytest.raises(EventDecodingError, match="do not validate into") as caught:
        decode_event(_registry(), event)
    assert caught.value.event_id == "7"


def test_a_line_pydantic_refuses_elsewhere_falls_back_to_the_raw_data() -> None:
    event = _wire({"count": 3}, "data", extra='"extension":"\\ud800"')
    assert codec._decode_line(Counted, event) is None
    assert decode_event(_registry(), event).data == Counted(count=3)


def test_a_model_with_its_own_model_validate_json_keeps_it() -> None:
    class Doubled(BaseModel):
        count: int

        @classmethod
        def model_validate_json(cls, json_data: str | bytes | bytearray, **_: Any) -> Doubled:
            parsed = json.loads(json_data)
            return cls(count=parsed["count"] * 2)

    registry = EventRegistry()
    registry.declare("io.eventsourcingdb.tests.counted", Doubled)
    event = _wire({"count": 21}, "data")
    assert codec._line_validator(Doubled, "data") is None
    assert decode_event(registry, event).data == Doubled(count=42)


def test_a_model_pydantic_cannot_build_yet_takes_the_general_path() -> None:
    class Later(BaseModel):
        value: Undefined  # type: ignore[name-defined]  # noqa: F821

    assert codec._build_line_validator(Later, "data") is None
