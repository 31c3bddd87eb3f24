"""What only the blocking twins of the typed store and the repository have: plain generators,
closing from another thread, plain functions for callbacks, and mixing up the twins.

Everything they share with the async ones runs against both in `tests/models` and
`tests/aggregates`.
"""

from __future__ import annotations

import collections.abc
import gc
import threading
import time
import warnings
from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from eventsourcingdb import AsyncMismatchError, ConcurrencyError
from eventsourcingdb.aggregates import Aggregate, Backoff, handles
from eventsourcingdb.aggregates import Repository as AsyncRepository
from eventsourcingdb.emulator import Emulator
from eventsourcingdb.models import EventRegistry, RecordedEvent
from eventsourcingdb.models import EventStore as AsyncEventStore
from eventsourcingdb.sync import Client, EventStore, Repository, retry_on_conflict

SOURCE = "https://library.eventsourcingdb.io"
REGISTRY = EventRegistry()


@REGISTRY.event_type("io.eventsourcingdb.library.book-acquired")
class BookAcquired(BaseModel):
    title: str


@REGISTRY.event_type("io.eventsourcingdb.library.book-borrowed")
class BookBorrowed(BaseModel):
    member: str


class Book(Aggregate):
    title: str = ""
    borrowed_by: str | None = None

    def acquire(self, title: str) -> None:
        self.record(BookAcquired(title=title))

    def borrow(self, member: str) -> None:
        if self.borrowed_by is not None:
            raise ValueError("borrowed already")
        self.record(BookBorrowed(member=member))

    @handles(BookAcquired)
    def _acquired(self, event: BookAcquired) -> None:
        self.title = event.title

    @handles(BookBorrowed)
    def _borrowed(self, event: BookBorrowed) -> None:
        self.borrowed_by = event.member


@pytest.fixture(params=["in-process", "socket"])
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    with Emulator(in_process=request.param == "in-process") as server:
        yield server


@pytest.fixture
def client(emulator: Emulator) -> Iterator[Client]:
    with emulator.get_sync_client() as esdb:
        yield esdb


@pytest.fixture
def store(client: Client) -> EventStore:
    store = EventStore(client, source=SOURCE, registry=REGISTRY)
    store.register_schemas()
    store.append("/books/42", BookAcquired(title="Dune"), BookAcquired(title="Emma"))
    return store


def test_typed_streams_are_generators(store: EventStore) -> None:
    streams = {
        "read": store.read("/books/42"),
        "observe": store.observe("/books/42"),
        "query": store.query("FROM e IN events PROJECT INTO e", row_type=RecordedEvent),
    }
    for name, stream in streams.items():
        assert isinstance(stream, collections.abc.Generator), name
        assert isinstance(next(stream), RecordedEvent), name
        stream.close()
        with pytest.raises(StopIteration):
            next(stream)


def test_close_from_another_thread_ends_a_typed_observation(store: EventStore) -> None:
    observed = store.observe("/books/42")
    seen: list[str] = []
    ended = threading.Event()

    def observe() -> None:
        for recorded in observed:
            seen.append(recorded.data.title)  # type: ignore[attr-defined]
        ended.set()

    observer = threading.Thread(target=observe)
    observer.start()
    deadline = time.monotonic() + 5
    while len(seen) < 2 or getattr(observed, "_owner", None) is None:
        assert time.monotonic() < deadline, "the observer never waited for new events"
        time.sleep(0.01)
    observed.close()
    assert ended.wait(5), "the observer's loop ended"
    observer.join()
    assert seen == ["Dune", "Emma"]


def test_a_blocking_repository_loads_updates_and_retries(store: EventStore) -> None:
    repository = Repository(store, backoff=Backoff(initial=0.001, maximum=0.01))
    repository.update(Book, "/books/7", lambda book: book.acquire("Solaris"), create=True)
    book = repository.update(Book, "/books/7", lambda book: book.borrow("/members/1"))
    assert (book.title, book.borrowed_by) == ("Solaris", "/members/1")
    assert repository.load(Book, "/books/7").version == book.version
    attempts: list[int] = []

    def conflicting() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConcurrencyError("precondition failed", status=409)
        return "done"

    assert repository.retrying(conflicting) == "done"
    assert len(attempts) == 3
    assert retry_on_conflict(lambda: 42, retries=0) == 42


def test_an_async_change_given_to_the_blocking_repository_names_the_fix(
    store: EventStore,
) -> None:
    repository = Repository(store)

    async def change(book: Book) -> None:
        book.acquire("Dune")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(AsyncMismatchError, match=r"change returned coroutine.*plain function"):
            repository.update(Book, "/books/9", change, create=True)
        gc.collect()
    assert [str(warning.message) for warning in caught] == [], "the coroutine was closed"
    assert list(store.read("/books/9")) == []


def test_each_twin_refuses_the_other_twins_parts_and_names_the_fix(emulator: Emulator) -> None:
    blocking = emulator.get_sync_client()
    asynchronous = emulator.get_client()
    with pytest.raises(AsyncMismatchError, match=r"blocking eventsourcingdb\.sync\.Client"):
        EventStore(asynchronous, source=SOURCE)  # type: ignore[arg-type]
    with pytest.raises(AsyncMismatchError, match=r"async eventsourcingdb\.Client"):
        AsyncEventStore(blocking, source=SOURCE)  # type: ignore[arg-type]
    async_store = AsyncEventStore(asynchronous, source=SOURCE)
    blocking_store = EventStore(blocking, source=SOURCE)
    with pytest.raises(AsyncMismatchError, match=r"eventsourcingdb\.sync\.EventStore"):
        Repository(async_store)  # type: ignore[arg-type]
    with pytest.raises(AsyncMismatchError, match=r"eventsourcingdb\.models\.EventStore"):
        AsyncRepository(blocking_store)  # type: ignore[arg-type]
    blocking.close()
