"""Events as data frames, with pandas (as the official SDK 2.2.4) and polars, typed events too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

import eventsourcingdb.pandas
import eventsourcingdb.polars
from eventsourcingdb import Event, InvalidArgumentError
from eventsourcingdb.models import RecordedEvent

EVENT_COLUMNS = [
    "event_id",
    "time",
    "source",
    "subject",
    "type",
    "data",
    "spec_version",
    "data_content_type",
    "predecessor_hash",
    "hash",
    "trace_parent",
    "trace_state",
    "signature",
]


class Author(BaseModel):
    name: str
    born: int


class BookAcquired(BaseModel):
    title: str
    author: Author
    tags: list[str] = []


def event(event_id: str, data: dict[str, Any], **fields: Any) -> Event:
    return Event(
        event_id=event_id,
        time="2026-10-07T13:32:50.439461594Z",
        source="https://library.eventsourcingdb.io",
        subject=fields.get("subject", "/books/42"),
        type="io.eventsourcingdb.library.book-acquired",
        data=data,
        predecessor_hash="0" * 64,
        hash="f" * 64,
        trace_parent=fields.get("trace_parent"),
    )


async def stream(*events: Any) -> AsyncIterator[Any]:
    for item in events:
        await asyncio.sleep(0)
        yield item


async def test_pandas_frames_have_every_event_field_and_data_as_a_dict() -> None:
    first = event("0", {"title": "2001"})
    second = event(
        "1",
        {"title": "Rama", "pages": 256},
        trace_parent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    frame = await eventsourcingdb.pandas.events_to_dataframe(stream(first, second))
    assert list(frame.columns) == EVENT_COLUMNS
    assert list(frame["event_id"]) == ["0", "1"]
    assert frame["data"][1] == {"title": "Rama", "pages": 256}
    assert frame["time"][0] == datetime(2026, 10, 7, 13, 32, 50, 439461, tzinfo=UTC)
    assert frame["trace_parent"].isna().tolist() == [True, False]
    assert frame["trace_parent"][1].startswith("00-0af7")
    from_list = await eventsourcingdb.pandas.events_to_dataframe([first, second])
    assert from_list.equals(frame)


async def test_an_empty_stream_gives_the_columns_without_rows() -> None:
    pandas_frame = await eventsourcingdb.pandas.events_to_dataframe(stream())
    assert (len(pandas_frame), list(pandas_frame.columns)) == (0, EVENT_COLUMNS)
    polars_frame = await eventsourcingdb.polars.events_to_dataframe([])
    assert (polars_frame.height, polars_frame.columns) == (0, EVENT_COLUMNS)
    assert str(polars_frame.schema["time"]) == "Datetime(time_unit='us', time_zone='UTC')"


async def test_polars_frames_are_the_twin_of_the_pandas_ones() -> None:
    import polars

    frame = await eventsourcingdb.polars.events_to_dataframe(
        stream(event("0", {"title": "2001"}), event("1", {"title": "Rama"}, subject="/books/43"))
    )
    assert frame.columns == EVENT_COLUMNS
    assert frame["subject"].to_list() == ["/books/42", "/books/43"]
    assert frame.schema["subject"] == polars.String
    assert frame["data"].to_list()[0] == {"title": "2001"}
    assert frame["time"].to_list()[0] == datetime(2026, 10, 7, 13, 32, 50, 439461, tzinfo=UTC)


def typed(event_id: str, data: BookAcquired) -> RecordedEvent[BookAcquired]:
    return RecordedEvent(data=data, event=event(event_id, data.model_dump()))


async def test_typed_events_get_their_model_fields_as_columns() -> None:
    dune = BookAcquired(title="Dune", author=Author(name="Frank Herbert", born=1920), tags=["sf"])
    rama = BookAcquired(title="Rama", author=Author(name="Arthur C. Clarke", born=1917))
    flattened = ["data.title", "data.author.name", "data.author.born", "data.tags"]
    frame = await eventsourcingdb.pandas.events_to_dataframe(
        stream(typed("0", dune), typed("1", rama))
    )
    assert list(frame.columns) == [*EVENT_COLUMNS, *flattened]
    assert list(frame["data.author.name"]) == ["Frank Herbert", "Arthur C. Clarke"]
    assert list(frame["data.author.born"]) == [1920, 1917]
    assert frame["data"][0] is dune
    polars_frame = await eventsourcingdb.polars.events_to_dataframe([typed("0", dune)])
    assert polars_frame.columns == [*EVENT_COLUMNS, *flattened]
    assert polars_frame["data.title"].to_list() == ["Dune"]
    assert polars_frame["data.tags"].to_list() == [["sf"]]


async def test_anything_but_events_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match=r"events\[1\] must be an Event"):
        await eventsourcingdb.pandas.events_to_dataframe(
            [event("0", {}), {"id": "1"}]  # type: ignore[list-item]
        )
    with pytest.raises(InvalidArgumentError, match="async stream of events"):
        await eventsourcingdb.polars.events_to_dataframe(42)  # type: ignore[arg-type]


class Payment(BaseModel):
    amount: int
    note: str | None = None


class Refund(BaseModel):
    amount: str


async def test_a_field_of_two_types_keeps_its_values_in_polars() -> None:
    """The same field with another type in two models: polars gets an object column with the
    values as they are, not a cast that makes 1 and "1" the same."""
    payments = [
        RecordedEvent(data=Payment(amount=1, note="first"), event=event("0", {})),
        RecordedEvent(data=Refund(amount="1"), event=event("1", {})),
    ]
    frame = await eventsourcingdb.polars.events_to_dataframe(payments)
    assert frame["data.amount"].to_list() == [1, "1"]
    assert frame["data.note"].to_list() == ["first", None]
    assert str(frame.schema["data.note"]) == "String"
    pandas_frame = await eventsourcingdb.pandas.events_to_dataframe(payments)
    assert list(pandas_frame["data.amount"]) == [1, "1"]
