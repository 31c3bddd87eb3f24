"""`EventStore` against the in-process emulator: schemas, typed writes and reads, upcasting."""

from __future__ import annotations

import asyncio
import enum
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal, cast
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict

from eventsourcingdb.client import Client
from eventsourcingdb.errors import (
    ConcurrencyError,
    HashMismatchError,
    InvalidArgumentError,
    SchemaViolationError,
    SignatureMismatchError,
)
from eventsourcingdb.event import Event
from eventsourcingdb.models import (
    EventRegistry,
    EventStore,
    JsonObject,
    OnUnknown,
    RecordedEvent,
    RowDecodingError,
    SchemaDriftError,
    SupersededEventTypeError,
    UnknownEventTypeError,
    Verification,
)
from eventsourcingdb.options import (
    Bound,
    BoundType,
    IfEventIsMissingDuringRead,
    ObserveEventsOptions,
    Order,
    ReadEventsOptions,
    ReadFromLatestEvent,
)
from eventsourcingdb.preconditions import (
    IsEventQlQueryTrue,
    IsSubjectOnEventId,
    IsSubjectPristine,
)
from eventsourcingdb.sync import Client as SyncClient
from tests.twins import AsyncFace, new_store

pytestmark = pytest.mark.esdb_fresh_store  # the store's schemas and ids start empty

SOURCE = "https://library.eventsourcingdb.io"
ACQUIRED = "io.eventsourcingdb.library.book-acquired"
ACQUIRED_V2 = "io.eventsourcingdb.library.book-acquired.v2"
ACQUIRED_V3 = "io.eventsourcingdb.library.book-acquired.v3"
BORROWED = "io.eventsourcingdb.library.book-borrowed"
LOST = "io.eventsourcingdb.library.book-lost"

LIBRARY = EventRegistry()


@LIBRARY.event_type(ACQUIRED)
class BookAcquired(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str
    author: str
    isbn: str


@LIBRARY.event_type(BORROWED)
class BookBorrowed(BaseModel):
    model_config = ConfigDict(frozen=True)

    reader: str
    until: date


class AlteredClient:
    """A client whose event streams pass through `alter` and whose event type listing can be
    hidden; everything else goes to the wrapped client."""

    def __init__(
        self,
        client: Client,
        *,
        alter: Callable[[Event], Event] = lambda event: event,
        hide_event_types: bool = False,
    ) -> None:
        self._client = client
        self._alter = alter
        self._hide_event_types = hide_event_types

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def read_events(self, **arguments: Any) -> AsyncIterator[Event]:
        async for event in self._client.read_events(**arguments):
            yield self._alter(event)

    async def read_event_types(self) -> AsyncIterator[Any]:
        if self._hide_event_types:
            return
        async for event_type in self._client.read_event_types():
            yield event_type


class BlockingAlteredClient:
    """`AlteredClient` for the blocking twin: the same, with plain generators."""

    def __init__(
        self,
        client: SyncClient,
        *,
        alter: Callable[[Event], Event] = lambda event: event,
        hide_event_types: bool = False,
    ) -> None:
        self._client = client
        self._alter = alter
        self._hide_event_types = hide_event_types

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def read_events(self, **arguments: Any) -> Iterator[Event]:
        for event in self._client.read_events(**arguments):
            yield self._alter(event)

    def read_event_types(self) -> Iterator[Any]:
        if self._hide_event_types:
            return
        yield from self._client.read_event_types()


@dataclass
class _Blocking:
    """What `new_store` takes a blocking client from (as from a face of one)."""

    blocking: BlockingAlteredClient


def altered(
    client: Client,
    *,
    alter: Callable[[Event], Event] = lambda event: event,
    hide_event_types: bool = False,
) -> Client:
    """`client` with `AlteredClient`'s changes, of its twin."""
    if isinstance(client, AsyncFace):
        changed = BlockingAlteredClient(
            client.blocking, alter=alter, hide_event_types=hide_event_types
        )
        return cast(Client, _Blocking(changed))
    return cast(Client, AlteredClient(client, alter=alter, hide_event_types=hide_event_types))


def _store(client: Client | AlteredClient, **options: Any) -> EventStore:
    return new_store(cast(Client, client), source=SOURCE, registry=LIBRARY, **options)


async def _drain(items: AsyncIterator[object]) -> list[object]:
    return [item async for item in items]


ACQUIRED_2001 = BookAcquired(title="2001 – A Space Odyssey", author="Arthur C. Clarke", isbn="978")


# --- schemas ---------------------------------------------------------------------------------


async def test_register_schemas_registers_every_declared_type(esdb_client: Client) -> None:
    report = await _store(esdb_client).register_schemas()
    assert report.registered == (ACQUIRED, BORROWED)
    assert report.unchanged == ()
    assert report.without_schema == ()
    registered = await esdb_client.read_event_type(ACQUIRED)
    declaration = LIBRARY.declaration_for(ACQUIRED)
    assert declaration is not None
    assert registered.schema == declaration.schema


async def test_registering_identical_schemas_again_is_fine(esdb_client: Client) -> None:
    store = _store(esdb_client)
    await store.register_schemas()
    report = await store.register_schemas()
    assert report.registered == ()
    assert report.unchanged == (ACQUIRED, BORROWED)


async def test_a_drifted_schema_raises_naming_the_type_and_registers_nothing(
    esdb_client: Client,
) -> None:
    await esdb_client.register_event_schema(
        event_type=ACQUIRED,
        json_schema={
            "type": "object",
            "properties": {"title": {"type": "string"}},
            "required": ["title"],
            "additionalProperties": False,
        },
    )
    with pytest.raises(SchemaDriftError) as caught:
        await _store(esdb_client).register_schemas()
    error = caught.value
    assert error.event_types == (ACQUIRED,)
    message = str(error)
    assert repr(ACQUIRED) in message
    assert "immutable" in message
    assert "upcaster" in message
    assert f"'{ACQUIRED}.v2'" in message
    assert '+    "author": {' in message
    assert '+    "author",' in message
    drift = error.drifts[0]
    assert drift.model.endswith("BookAcquired")
    assert drift.registered == (await esdb_client.read_event_type(ACQUIRED)).schema
    borrowed = [t async for t in esdb_client.read_event_types() if t.type == BORROWED]
    assert borrowed == []


async def test_a_schema_registered_meanwhile_is_compared_not_refused(esdb_client: Client) -> None:
    declaration = LIBRARY.declaration_for(ACQUIRED)
    assert declaration is not None
    await esdb_client.register_event_schema(event_type=ACQUIRED, json_schema=declaration.schema)
    racing = altered(esdb_client, hide_event_types=True)
    report = await _store(racing).register_schemas()
    assert report.registered == (BORROWED,)
    assert report.unchanged == (ACQUIRED,)


async def test_a_different_schema_registered_meanwhile_is_drift(esdb_client: Client) -> None:
    await esdb_client.register_event_schema(
        event_type=ACQUIRED, json_schema={"type": "object", "properties": {}}
    )
    racing = altered(esdb_client, hide_event_types=True)
    with pytest.raises(SchemaDriftError, match=ACQUIRED):
        await _store(racing).register_schemas()


async def test_types_with_events_but_no_schema_are_reported(
    esdb_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    await esdb_client.write_events(
        events=[{"source": SOURCE, "subject": "/books/1", "type": LOST, "data": {"why": "rain"}}]
    )
    with caplog.at_level(logging.WARNING, logger="eventsourcingdb.models"):
        report = await _store(esdb_client).register_schemas()
    assert report.without_schema == (LOST,)
    assert LOST in caplog.text


async def test_stored_events_that_violate_a_new_schema_fail_the_registration(
    esdb_client: Client,
) -> None:
    await esdb_client.write_events(
        events=[{"source": SOURCE, "subject": "/books/1", "type": ACQUIRED, "data": {"title": 1}}]
    )
    with pytest.raises(SchemaViolationError) as caught:
        await _store(esdb_client).register_schemas()
    assert any(ACQUIRED in note for note in caught.value.__notes__)


async def test_the_registered_schema_makes_the_server_refuse_foreign_data(
    esdb_client: Client,
) -> None:
    await _store(esdb_client).register_schemas()
    with pytest.raises(SchemaViolationError):
        await esdb_client.write_events(
            events=[
                {"source": SOURCE, "subject": "/b", "type": ACQUIRED, "data": {"title": "x"}},
            ]
        )


# --- writing and reading ---------------------------------------------------------------------


async def test_append_writes_and_returns_the_recorded_events(esdb_client: Client) -> None:
    store = _store(esdb_client)
    await store.register_schemas()
    borrowed = BookBorrowed(reader="ada", until=date(2026, 12, 24))
    written = await store.append("/books/42", ACQUIRED_2001, borrowed)
    assert [w.data for w in written] == [ACQUIRED_2001, borrowed]
    assert written[0].data is ACQUIRED_2001
    assert [w.event_id for w in written] == ["0", "1"]
    assert [w.type for w in written] == [ACQUIRED, BORROWED]
    assert all(w.source == SOURCE and w.subject == "/books/42" for w in written)

    read = [recorded async for recorded in store.read("/books/42")]
    assert [r.data for r in read] == [ACQUIRED_2001, borrowed]
    assert [r.event_id for r in read] == ["0", "1"]
    assert read[0].time == written[0].time
    assert read[1].hash == written[1].hash
    assert read[1].predecessor_hash == read[0].hash
    assert isinstance(read[0].data, BookAcquired)
    assert isinstance(read[1].data, BookBorrowed)


async def test_append_needs_an_event(esdb_client: Client) -> None:
    with pytest.raises(InvalidArgumentError, match="at least one event"):
        await _store(esdb_client).append("/books/42")
    with pytest.raises(InvalidArgumentError, match="at least one"):
        await _store(esdb_client).append_many([])


async def test_the_source_is_checked_once_for_the_store(esdb_client: Client) -> None:
    with pytest.raises(InvalidArgumentError, match="source"):
        new_store(esdb_client, source="not a uri", registry=LIBRARY)


async def test_append_many_writes_to_several_subjects_atomically(esdb_client: Client) -> None:
    store = _store(esdb_client)
    written = await store.append_many(
        [("/books/1", ACQUIRED_2001), ("/books/2", ACQUIRED_2001)],
        preconditions=[IsSubjectPristine("/books/1"), IsSubjectPristine("/books/2")],
    )
    assert [w.subject for w in written] == ["/books/1", "/books/2"]
    with pytest.raises(ConcurrencyError):
        await store.append_many(
            [("/books/3", ACQUIRED_2001), ("/books/2", ACQUIRED_2001)],
            preconditions=[IsSubjectPristine("/books/2")],
        )
    everything = [r async for r in store.read("/", ReadEventsOptions(recursive=True))]
    assert [r.subject for r in everything] == ["/books/1", "/books/2"]


async def test_preconditions_pass_through_append(esdb_client: Client) -> None:
    store = _store(esdb_client)
    first = await store.append(
        "/books/42", ACQUIRED_2001, preconditions=[IsSubjectPristine("/books/42")]
    )
    with pytest.raises(ConcurrencyError):
        await store.append(
            "/books/42", ACQUIRED_2001, preconditions=[IsSubjectPristine("/books/42")]
        )
    borrowed = BookBorrowed(reader="ada", until=date(2026, 12, 24))
    second = await store.append(
        "/books/42",
        borrowed,
        preconditions=[IsSubjectOnEventId("/books/42", first[-1].event_id)],
    )
    with pytest.raises(ConcurrencyError):
        await store.append(
            "/books/42",
            borrowed,
            preconditions=[IsSubjectOnEventId("/books/42", first[-1].event_id)],
        )
    query = f'FROM e IN events WHERE e.type == "{BORROWED}" PROJECT INTO COUNT() < 2'
    await store.append("/books/42", borrowed, preconditions=[IsEventQlQueryTrue(query)])
    with pytest.raises(ConcurrencyError):
        await store.append("/books/42", borrowed, preconditions=[IsEventQlQueryTrue(query)])
    ids = [r.event_id async for r in store.read("/books/42")]
    assert ids == [first[0].event_id, second[0].event_id, "2"]


async def test_trace_context_is_written_with_every_event(esdb_client: Client) -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    written = await _store(esdb_client).append(
        "/books/42", ACQUIRED_2001, ACQUIRED_2001, trace_parent=parent, trace_state="rojo=00f0"
    )
    assert [(w.trace_parent, w.trace_state) for w in written] == [(parent, "rojo=00f0")] * 2
    read = [r async for r in _store(esdb_client).read("/books/42")]
    assert read[1].trace_parent == parent
    assert read[1].trace_state == "rojo=00f0"


async def test_read_takes_every_read_option(esdb_client: Client) -> None:
    store = _store(esdb_client)
    borrowed = BookBorrowed(reader="ada", until=date(2026, 12, 24))
    await store.append("/books/42", ACQUIRED_2001, borrowed, borrowed)
    await store.append("/books/42/copies/1", ACQUIRED_2001)

    async def ids(options: ReadEventsOptions) -> list[str]:
        return [r.event_id async for r in store.read("/books/42", options)]

    assert await ids(ReadEventsOptions()) == ["0", "1", "2"]
    assert await ids(ReadEventsOptions(recursive=True)) == ["0", "1", "2", "3"]
    assert await ids(ReadEventsOptions(order=Order.ANTICHRONOLOGICAL)) == ["2", "1", "0"]
    assert await ids(
        ReadEventsOptions(
            lower_bound=Bound(id="1", type=BoundType.INCLUSIVE),
            upper_bound=Bound(id="2", type=BoundType.EXCLUSIVE),
        )
    ) == ["1"]
    assert await ids(
        ReadEventsOptions(
            from_latest_event=ReadFromLatestEvent(
                subject="/books/42",
                type=BORROWED,
                if_event_is_missing=IfEventIsMissingDuringRead.READ_NOTHING,
            )
        )
    ) == ["2"]


async def test_observe_yields_stored_then_new_events_typed(esdb_client: Client) -> None:
    store = _store(esdb_client)
    await store.append("/books/42", ACQUIRED_2001)
    borrowed = BookBorrowed(reader="ada", until=date(2026, 12, 24))
    seen: list[RecordedEvent[BaseModel]] = []
    first_seen = asyncio.Event()

    async def observe() -> None:
        async for recorded in store.observe("/books", ObserveEventsOptions(recursive=True)):
            seen.append(recorded)
            first_seen.set()
            if len(seen) == 2:
                return

    task = asyncio.create_task(observe())
    await asyncio.wait_for(first_seen.wait(), timeout=10)
    await store.append("/books/42", borrowed)
    await asyncio.wait_for(task, timeout=10)
    assert [r.data for r in seen] == [ACQUIRED_2001, borrowed]


# --- every field type ------------------------------------------------------------------------


class Condition(enum.StrEnum):
    NEW = "new"
    WORN = "worn"


class Shelf(enum.IntEnum):
    TOP = 1
    BOTTOM = 2


class Author(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    born: date | None = None


class Dimensions(TypedDict):
    width_mm: int
    height_mm: int


class Catalogued(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str
    main_author: Author
    authors: list[Author]
    co_authors: tuple[Author, ...] = ()
    condition: Condition
    shelf: Shelf
    price: Decimal
    tiny: Decimal
    copies: int
    weight_kg: float
    available: bool
    id: UUID
    acquired_at: datetime
    local_time: datetime
    opens: time
    published: date
    loan_period: timedelta
    subtitle: str | None = None
    notes: list[str] = Field(default_factory=list)
    dimensions: Dimensions
    ratings: dict[str, int]
    state: Literal["on-shelf", "lent"]
    raw_bytes: bytes


CATALOGUED = "io.eventsourcingdb.library.book-catalogued"


@pytest.fixture
def catalogue_registry() -> EventRegistry:
    registry = EventRegistry()
    registry.declare(CATALOGUED, Catalogued)
    return registry


def _catalogued(**changes: Any) -> Catalogued:
    values: dict[str, Any] = {
        "title": "2001 – A Space Odyssey <&> \u2028 é 😀",
        "main_author": Author(name="Arthur C. Clarke", born=date(1917, 12, 16)),
        "authors": [Author(name="Arthur C. Clarke"), Author(name="Stanley Kubrick")],
        "co_authors": (Author(name="Kubrick"),),
        "condition": Condition.WORN,
        "shelf": Shelf.BOTTOM,
        "price": Decimal("12.90"),
        "tiny": Decimal("1E-30"),
        "copies": 2**53,
        "weight_kg": 0.1 + 0.2,
        "available": True,
        "id": UUID("5f0c7bde-b8c3-4d9e-9a53-2f4c1a1f0e11"),
        "acquired_at": datetime(
            2026, 10, 7, 13, 32, 50, 439461, tzinfo=timezone(timedelta(hours=2))
        ),
        "local_time": datetime(2026, 10, 7, 13, 32, 50),
        "opens": time(9, 30),
        "published": date(1968, 7, 1),
        "loan_period": timedelta(days=14, seconds=1, microseconds=5),
        "subtitle": None,
        "notes": ["first edition", ""],
        "dimensions": {"width_mm": 130, "height_mm": 200},
        "ratings": {"ada": 5, "bob": -1},
        "state": "lent",
        "raw_bytes": b"plain text",
    }
    values.update(changes)
    return Catalogued(**values)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"subtitle": "A novel", "notes": [], "authors": [], "ratings": {}},
        {"price": Decimal("-0.000001"), "tiny": Decimal("123456789012345678901234567890.123")},
        {"weight_kg": 1e-7, "copies": -(2**53)},
        {"weight_kg": 1.0, "copies": 0},
        {"weight_kg": 1e300, "acquired_at": datetime(1970, 1, 1, tzinfo=UTC)},
        {"title": '\x00\x1f\t\n"\\/', "condition": Condition.NEW, "shelf": Shelf.TOP},
    ],
    ids=[
        "full",
        "optional-and-empty",
        "decimals",
        "small-numbers",
        "whole-float",
        "large",
        "controls",
    ],
)
async def test_every_field_type_survives_a_round_trip(
    esdb_client: Client, catalogue_registry: EventRegistry, changes: dict[str, Any]
) -> None:
    store = new_store(esdb_client, source=SOURCE, registry=catalogue_registry)
    await store.register_schemas()
    original = _catalogued(**changes)
    await store.append("/books/42", original)
    (recorded,) = [r async for r in store.read("/books/42", verification=Verification.HASH)]
    assert recorded.data == original
    assert recorded.data.model_dump(mode="json") == original.model_dump(mode="json")
    assert isinstance(recorded.data, Catalogued)
    assert recorded.data.acquired_at.utcoffset() == original.acquired_at.utcoffset()
    assert str(recorded.data.price) == str(original.price)


async def test_a_strict_model_reads_back_because_json_bytes_are_validated(
    esdb_client: Client,
) -> None:
    # In strict mode pydantic accepts datetimes, UUIDs and decimals from JSON strings only when
    # it parses JSON itself; validating a parsed dict would refuse all three.
    class Strict(BaseModel):
        model_config = ConfigDict(strict=True, frozen=True)

        at: datetime
        id: UUID
        amount: Decimal

    registry = EventRegistry()
    registry.declare("io.eventsourcingdb.tests.strict", Strict)
    store = new_store(esdb_client, source=SOURCE, registry=registry)
    original = Strict(
        at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        id=UUID(int=7),
        amount=Decimal("1.50"),
    )
    await store.append("/s", original)
    assert [r.data async for r in store.read("/s")] == [original]


# --- unknown types ---------------------------------------------------------------------------


async def _with_an_unknown_event(client: Client) -> EventStore:
    store = _store(client)
    await store.append("/books/42", ACQUIRED_2001)
    await client.write_events(
        events=[{"source": SOURCE, "subject": "/books/42", "type": LOST, "data": {"why": "rain"}}]
    )
    await store.append("/books/42", ACQUIRED_2001)
    return store


async def test_an_unknown_type_raises_by_default_naming_the_type(esdb_client: Client) -> None:
    store = await _with_an_unknown_event(esdb_client)
    seen: list[str] = []

    async def read() -> None:
        async for recorded in store.read("/books/42"):
            seen.append(recorded.event_id)

    with pytest.raises(UnknownEventTypeError, match=LOST) as caught:
        await read()
    assert seen == ["0"]
    assert caught.value.event_type == LOST
    assert caught.value.event_id == "1"


async def test_an_unknown_type_can_be_yielded_raw(esdb_client: Client) -> None:
    store = await _with_an_unknown_event(esdb_client)
    items = [item async for item in store.read("/books/42", on_unknown=OnUnknown.YIELD_RAW)]
    assert [type(item) for item in items] == [RecordedEvent, Event, RecordedEvent]
    raw = items[1]
    assert isinstance(raw, Event)
    assert raw.type == LOST
    assert raw.data == {"why": "rain"}


async def test_an_unknown_type_can_be_skipped(esdb_client: Client) -> None:
    store = await _with_an_unknown_event(esdb_client)
    items = [item async for item in store.read("/books/42", on_unknown=OnUnknown.SKIP)]
    assert [item.event_id for item in items] == ["0", "2"]


async def test_observe_handles_unknown_types_the_same_way(esdb_client: Client) -> None:
    store = await _with_an_unknown_event(esdb_client)

    async def first(count: int, on_unknown: OnUnknown) -> list[str]:
        found: list[str] = []
        async for item in store.observe("/books/42", on_unknown=on_unknown):
            found.append(item.event_id)
            if len(found) == count:
                break
        return found

    assert await asyncio.wait_for(first(2, OnUnknown.SKIP), 10) == ["0", "2"]
    assert await asyncio.wait_for(first(3, OnUnknown.YIELD_RAW), 10) == ["0", "1", "2"]
    with pytest.raises(UnknownEventTypeError):
        await asyncio.wait_for(first(3, OnUnknown.RAISE), 10)


async def test_the_unknown_policy_is_checked(esdb_client: Client) -> None:
    with pytest.raises(InvalidArgumentError, match="on_unknown"):
        await _drain(_store(esdb_client).read("/", on_unknown="skip"))  # type: ignore[call-overload]


# --- evolution -------------------------------------------------------------------------------


class BookAcquiredV1(BaseModel):
    title: str


class BookAcquiredV2(BaseModel):
    title: str
    author: str


class BookAcquiredV3(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str
    authors: tuple[str, ...]


def _evolved() -> EventRegistry:
    registry = EventRegistry()
    registry.declare(ACQUIRED, BookAcquiredV1)
    registry.declare(ACQUIRED_V2, BookAcquiredV2)
    registry.declare(ACQUIRED_V3, BookAcquiredV3)

    @registry.upcaster(BookAcquiredV1, to=BookAcquiredV2)
    def add_author(old: BookAcquiredV1) -> BookAcquiredV2:
        return BookAcquiredV2(title=old.title, author="unknown")

    @registry.upcaster(ACQUIRED_V2, to=BookAcquiredV3)
    def to_author_list(old: JsonObject) -> JsonObject:
        return {"title": old["title"], "authors": [old["author"]]}

    return registry


async def test_stored_old_events_are_read_as_the_current_model(esdb_client: Client) -> None:
    then = EventRegistry()  # the app before the model changed
    then.declare(ACQUIRED, BookAcquiredV1)
    then.declare(ACQUIRED_V2, BookAcquiredV2)
    await new_store(esdb_client, source=SOURCE, registry=then).register_schemas()
    old = new_store(esdb_client, source=SOURCE, registry=then)
    await old.append("/books/1", BookAcquiredV1(title="Dune"))
    await old.append("/books/1", BookAcquiredV2(title="Solaris", author="Lem"))

    now = new_store(esdb_client, source=SOURCE, registry=_evolved())
    report = await now.register_schemas()
    assert report.registered == (ACQUIRED_V3,)
    assert report.unchanged == (ACQUIRED, ACQUIRED_V2)
    await now.append("/books/1", BookAcquiredV3(title="Ubik", authors=("Dick",)))
    read = [r async for r in now.read("/books/1")]
    assert [r.data for r in read] == [
        BookAcquiredV3(title="Dune", authors=("unknown",)),
        BookAcquiredV3(title="Solaris", authors=("Lem",)),
        BookAcquiredV3(title="Ubik", authors=("Dick",)),
    ]
    assert [r.type for r in read] == [ACQUIRED, ACQUIRED_V2, ACQUIRED_V3]


async def test_writing_a_retired_type_is_refused_naming_the_new_one(esdb_client: Client) -> None:
    store = new_store(esdb_client, source=SOURCE, registry=_evolved())
    with pytest.raises(SupersededEventTypeError, match=ACQUIRED_V3):
        await store.append("/books/1", BookAcquiredV1(title="Dune"))
    with pytest.raises(SupersededEventTypeError, match="BookAcquiredV3"):
        await store.append_many([("/books/1", BookAcquiredV2(title="Dune", author="Herbert"))])
    assert [r async for r in store.read("/", ReadEventsOptions(recursive=True))] == []


# --- queries ---------------------------------------------------------------------------------


class TitleRow(BaseModel):
    title: str
    subject: str


async def test_query_rows_are_validated_as_the_row_type(esdb_client: Client) -> None:
    store = _store(esdb_client)
    await store.append("/books/1", ACQUIRED_2001)
    await store.append("/books/2", BookAcquired(title="Dune", author="Herbert", isbn="1"))
    by_model = [
        row
        async for row in store.query(
            f'FROM e IN events WHERE e.type == "{ACQUIRED}" '
            "PROJECT INTO { title: e.data.title, subject: e.subject }",
            row_type=TitleRow,
        )
    ]
    assert by_model == [
        TitleRow(title=ACQUIRED_2001.title, subject="/books/1"),
        TitleRow(title="Dune", subject="/books/2"),
    ]
    titles = [
        t async for t in store.query("FROM e IN events PROJECT INTO e.data.title", row_type=str)
    ]
    assert titles == [ACQUIRED_2001.title, "Dune"]
    counts = [c async for c in store.query("FROM e IN events PROJECT INTO COUNT()", row_type=int)]
    assert counts == [2]
    maybe = TypeAdapter(int | None)
    nothing = [v async for v in store.query("FROM e IN events PROJECT INTO null", row_type=maybe)]
    assert nothing == [None, None]


async def test_append_refuses_a_subject_with_a_trailing_slash(esdb_client: Client) -> None:
    with pytest.raises(InvalidArgumentError, match="write '/books/1'"):
        await _store(esdb_client).append("/books/1/", ACQUIRED_2001)


async def test_queries_bind_parameters(esdb_client: Client) -> None:
    store = _store(esdb_client)
    await store.append("/books/1", BookAcquired(title="Dune", author="O'Brien", isbn="1"))
    await store.append("/books/2", BookAcquired(title="Emma", author="Austen", isbn="2"))
    eventql = "FROM e IN events WHERE e.data.author == $author PROJECT INTO e.data.title"
    rows = [t async for t in store.query(eventql, row_type=str, parameters={"author": "O'Brien"})]
    assert rows == ["Dune"]
    whole = "FROM e IN events WHERE e.data.author == $author PROJECT INTO e"
    events = store.query(whole, row_type=RecordedEvent, parameters={"author": "Austen"})
    assert [r.data async for r in events] == [BookAcquired(title="Emma", author="Austen", isbn="2")]
    with pytest.raises(InvalidArgumentError, match="does not use"):
        await _drain(store.query(eventql, row_type=str, parameters={"author": "x", "isbn": "1"}))


async def test_a_row_of_the_wrong_shape_raises_a_row_decoding_error(esdb_client: Client) -> None:
    store = _store(esdb_client)
    await store.append("/books/1", ACQUIRED_2001)
    with pytest.raises(RowDecodingError, match="TitleRow") as caught:
        await _drain(store.query("FROM e IN events PROJECT INTO e.data.title", row_type=TitleRow))
    assert caught.value.query == "FROM e IN events PROJECT INTO e.data.title"


async def test_query_rows_that_are_events_decode_as_recorded_events(esdb_client: Client) -> None:
    store = await _with_an_unknown_event(esdb_client)
    eventql = "FROM e IN events PROJECT INTO e"
    rows = [
        r async for r in store.query(eventql, row_type=RecordedEvent, on_unknown=OnUnknown.SKIP)
    ]
    assert [(r.event_id, r.data) for r in rows] == [("0", ACQUIRED_2001), ("2", ACQUIRED_2001)]
    with pytest.raises(UnknownEventTypeError):
        await _drain(store.query(eventql, row_type=RecordedEvent))
    mixed = [
        r
        async for r in store.query(eventql, row_type=RecordedEvent, on_unknown=OnUnknown.YIELD_RAW)
    ]
    assert [type(r) for r in mixed] == [RecordedEvent, Event, RecordedEvent]
    verified = [
        r
        async for r in store.query(
            eventql,
            row_type=RecordedEvent,
            on_unknown=OnUnknown.SKIP,
            verification=Verification.HASH,
        )
    ]
    assert len(verified) == 2


async def test_query_rows_that_are_not_events_are_refused_as_events(esdb_client: Client) -> None:
    store = _store(esdb_client)
    await store.append("/books/1", ACQUIRED_2001)
    with pytest.raises(InvalidArgumentError, match="PROJECT INTO e"):
        await _drain(store.query("FROM e IN events PROJECT INTO e.id", row_type=RecordedEvent))


# --- integrity -------------------------------------------------------------------------------


def _tampered(event: Event) -> Event:
    """The event with its data changed but its hash kept, as a corrupted store would send it."""
    wire = event.to_json()
    wire["data"] = {**wire["data"], "title": "forged"}
    return Event.from_json(json.dumps(wire, ensure_ascii=False))


async def test_typed_reads_verify_hashes_when_asked(esdb_client: Client) -> None:
    await _store(esdb_client).append("/books/42", ACQUIRED_2001)
    tampered = altered(esdb_client, alter=_tampered)
    unverified = [r.data async for r in _store(tampered).read("/books/42")]
    assert unverified == [ACQUIRED_2001.model_copy(update={"title": "forged"})]
    with pytest.raises(HashMismatchError):
        await _drain(_store(tampered).read("/books/42", verification=Verification.HASH))
    with pytest.raises(HashMismatchError):
        await _drain(_store(tampered, verification=Verification.HASH).read("/books/42"))
    verified = [
        r async for r in _store(esdb_client, verification=Verification.HASH).read("/books/42")
    ]
    assert [r.data for r in verified] == [ACQUIRED_2001]


async def test_typed_reads_verify_signatures_when_asked(
    signing_client: Client, verification_key: Ed25519PublicKey
) -> None:
    store = _store(
        signing_client, verification=Verification.SIGNATURE, verification_key=verification_key
    )
    await store.append("/books/42", ACQUIRED_2001)
    assert [r.data async for r in store.read("/books/42")] == [ACQUIRED_2001]
    (recorded,) = [r async for r in store.read("/books/42")]
    recorded.verify_signature(verification_key)
    recorded.verify_hash()
    other_key = Ed25519PrivateKey.generate().public_key()
    wrong = _store(signing_client, verification=Verification.SIGNATURE, verification_key=other_key)
    with pytest.raises(SignatureMismatchError):
        await _drain(wrong.read("/books/42"))
    with pytest.raises(HashMismatchError):
        await _drain(
            _store(
                altered(signing_client, alter=_tampered),
                verification=Verification.SIGNATURE,
                verification_key=verification_key,
            ).read("/books/42")
        )


def test_signature_verification_needs_a_key(esdb_client: Client) -> None:
    with pytest.raises(InvalidArgumentError, match="verification_key"):
        _store(esdb_client, verification=Verification.SIGNATURE)


async def test_a_per_read_signature_check_needs_the_store_key(esdb_client: Client) -> None:
    store = _store(esdb_client)
    await store.append("/books/42", ACQUIRED_2001)
    with pytest.raises(InvalidArgumentError, match="verification_key"):
        await _drain(store.read("/books/42", verification=Verification.SIGNATURE))


async def test_every_drifted_type_is_named_in_one_error(esdb_client: Client) -> None:
    for name in (ACQUIRED, BORROWED):
        await esdb_client.register_event_schema(
            event_type=name, json_schema={"type": "object", "properties": {}}
        )
    with pytest.raises(SchemaDriftError) as caught:
        await _store(esdb_client).register_schemas()
    assert caught.value.event_types == (ACQUIRED, BORROWED)
    assert f"--- '{ACQUIRED}'" in str(caught.value)
    assert f"--- '{BORROWED}'" in str(caught.value)


async def test_decode_turns_a_client_event_into_a_recorded_event(esdb_client: Client) -> None:
    store = _store(esdb_client)
    await store.append("/books/42", ACQUIRED_2001)
    (event,) = [event async for event in esdb_client.read_events(subject="/books/42")]
    recorded = store.decode(event, verification=Verification.HASH)
    assert recorded.data == ACQUIRED_2001
    assert recorded.event is event
    with pytest.raises(HashMismatchError):
        store.decode(_tampered(event), verification=Verification.HASH)
