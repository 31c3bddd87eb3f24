"""What mypy --strict sees of the typed layer, locked down with `assert_type`.

mypy checks this file (`mypy --strict tests/typing`); pytest runs it too, against the in-process
emulator, so every assertion is also true at run time. Lines marked `type: ignore[...]` must stay
errors: with `warn_unused_ignores` mypy fails if one of them is accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import assert_type

import pytest
from pydantic import BaseModel, TypeAdapter

from eventsourcingdb.client import Client
from eventsourcingdb.errors import InvalidArgumentError
from eventsourcingdb.event import Event
from eventsourcingdb.models import (
    EventRegistry,
    EventStore,
    JsonObject,
    OnUnknown,
    RecordedEvent,
    SchemaReport,
    event_type,
    upcaster,
)
from eventsourcingdb.options import ReadEventsOptions

REGISTRY = EventRegistry()
SOURCE = "https://library.eventsourcingdb.io"


@event_type("io.eventsourcingdb.typing.book-acquired", registry=REGISTRY)
class BookAcquired(BaseModel):
    title: str


@REGISTRY.event_type("io.eventsourcingdb.typing.book-acquired.v2")
class BookAcquiredV2(BaseModel):
    title: str
    author: str


@REGISTRY.event_type("io.eventsourcingdb.typing.book-borrowed")
class BookBorrowed(BaseModel):
    reader: str


@upcaster("io.eventsourcingdb.typing.book-acquired", to=BookAcquiredV2, registry=REGISTRY)
def add_author(old: JsonObject) -> BookAcquiredV2:
    return BookAcquiredV2(title=str(old["title"]), author="unknown")


class TitleRow(BaseModel):
    title: str


def test_declaring_keeps_the_class_and_the_function_types() -> None:
    assert_type(BookAcquired, type[BookAcquired])
    assert_type(BookAcquired(title="x"), BookAcquired)
    assert_type(add_author, Callable[[JsonObject], BookAcquiredV2 | JsonObject])


def _event() -> Event:
    return Event(
        event_id="0",
        time="2026-10-07T13:32:50.439461594Z",
        source=SOURCE,
        subject="/books/42",
        type="io.eventsourcingdb.typing.book-borrowed",
        data={"reader": "ada"},
        predecessor_hash="0" * 64,
        hash="0" * 64,
    )


def test_recorded_event_data_has_the_model_type() -> None:
    recorded = RecordedEvent(data=BookBorrowed(reader="ada"), event=_event())
    assert_type(recorded, RecordedEvent[BookBorrowed])
    assert_type(recorded.data, BookBorrowed)
    assert_type(recorded.event_id, str)
    assert_type(recorded.signature, str | None)
    widened: RecordedEvent[BaseModel] = recorded  # covariant: a narrower event fits a wider slot
    assert widened.data.model_dump() == {"reader": "ada"}


def _describe(recorded: RecordedEvent[BaseModel]) -> str:
    match recorded.data:
        case BookAcquiredV2():
            assert_type(recorded.data, BookAcquiredV2)
            return recorded.data.author
        case BookBorrowed(reader=reader):
            assert_type(reader, str)
            return reader
        case _:
            return ""


async def test_store_methods_are_typed_by_their_arguments(esdb_client: Client) -> None:
    store = EventStore(esdb_client, source=SOURCE, registry=REGISTRY)
    assert_type(await store.register_schemas(), SchemaReport)

    written = await store.append("/books/42", BookAcquiredV2(title="Dune", author="Herbert"))
    assert_type(written, list[RecordedEvent[BookAcquiredV2]])
    assert_type(written[0].data, BookAcquiredV2)
    assert written[0].data.author == "Herbert"

    mixed = await store.append(
        "/books/44", BookAcquiredV2(title="Ubik", author="Dick"), BookBorrowed(reader="bob")
    )
    assert_type(mixed, list[RecordedEvent[BaseModel]])  # two models: their common base
    many = await store.append_many([("/books/43", BookBorrowed(reader="ada"))])
    assert_type(many, list[RecordedEvent[BookBorrowed]])

    described = [
        _describe(recorded) async for recorded in store.read("/", ReadEventsOptions(recursive=True))
    ]
    assert described == ["Herbert", "Dick", "bob", "ada"]

    async for recorded in store.read("/books/42"):
        assert_type(recorded, RecordedEvent[BaseModel])
    async for skipped in store.read("/books/42", on_unknown=OnUnknown.SKIP):
        assert_type(skipped, RecordedEvent[BaseModel])
    async for item in store.read("/books/42", on_unknown=OnUnknown.YIELD_RAW):
        assert_type(item, RecordedEvent[BaseModel] | Event)
    observed = store.observe("/books/42")
    async for observed_event in observed:
        assert_type(observed_event, RecordedEvent[BaseModel])
        break
    await observed.aclose()

    eventql = (
        'FROM e IN events WHERE e.type == "io.eventsourcingdb.typing.book-acquired.v2" '
        "PROJECT INTO { title: e.data.title }"
    )
    async for row in store.query(eventql, row_type=TitleRow):
        assert_type(row, TitleRow)
        assert row.title in {"Dune", "Ubik"}
    async for count in store.query("FROM e IN events PROJECT INTO COUNT()", row_type=int):
        assert_type(count, int)
    async for maybe in store.query(
        "FROM e IN events PROJECT INTO null", row_type=TypeAdapter(int | None)
    ):
        assert_type(maybe, int | None)
    async for whole in store.query("FROM e IN events PROJECT INTO e", row_type=RecordedEvent):
        assert_type(whole, RecordedEvent[BaseModel])


async def test_what_is_not_an_event_model_is_refused(esdb_client: Client) -> None:
    store = EventStore(esdb_client, source=SOURCE, registry=REGISTRY)
    with pytest.raises(InvalidArgumentError):
        await store.append("/books/42", {"title": "x"})  # type: ignore[type-var]
    with pytest.raises(InvalidArgumentError):
        await store.append_many([("/books/42", "x")])  # type: ignore[type-var]
