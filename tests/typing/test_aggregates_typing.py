"""What mypy --strict sees of the aggregates layer, locked down with `assert_type`.

mypy checks this file; pytest runs it too, against the in-process emulator, so every assertion is
also true at run time. Lines marked `type: ignore[...]` must stay errors: with
`warn_unused_ignores` mypy fails if one of them is accepted.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import assert_type

import pytest
from pydantic import BaseModel

from eventsourcingdb import sync
from eventsourcingdb.aggregates import (
    Aggregate,
    AggregateConcurrencyError,
    Boundary,
    BoundaryRead,
    Decider,
    DecisionResult,
    Repository,
    handles,
    unchanged,
)
from eventsourcingdb.aggregates.testing import AggregateScenario, DeciderScenario, given
from eventsourcingdb.client import Client
from eventsourcingdb.errors import InvalidArgumentError
from eventsourcingdb.models import EventRegistry, EventStore, RecordedEvent
from eventsourcingdb.preconditions import IsEventQlQueryTrue, SubjectPrecondition

REGISTRY = EventRegistry()
SOURCE = "https://typing.eventsourcingdb.io"


@REGISTRY.event_type("io.eventsourcingdb.typing.aggregates.book-acquired")
class BookAcquired(BaseModel):
    title: str


@REGISTRY.event_type("io.eventsourcingdb.typing.aggregates.book-borrowed")
class BookBorrowed(BaseModel):
    member: str


class Book(Aggregate):
    title: str = ""
    borrowed_by: str | None = None

    def borrow(self, member: str) -> None:
        self.record(BookBorrowed(member=member))

    @handles(BookAcquired)
    def _acquired(self, event: BookAcquired) -> None:
        self.title = event.title

    @handles(BookBorrowed)
    def _borrowed(self, event: BookBorrowed) -> None:
        self.borrowed_by = event.member


@dataclass(frozen=True)
class Shelf:
    books: int = 0


@dataclass(frozen=True)
class Acquire:
    title: str


def _decide(state: Shelf, command: Acquire) -> list[BookAcquired]:
    return [BookAcquired(title=command.title)]


def _evolve(state: Shelf, event: BookAcquired) -> Shelf:
    return Shelf(state.books + 1)


shelf = Decider(decide=_decide, evolve=_evolve, initial_state=Shelf())


def test_the_decider_infers_its_types() -> None:
    assert_type(shelf, Decider[Shelf, Acquire, BookAcquired])
    assert_type(shelf.fold([BookAcquired(title="x")]), Shelf)


def test_aggregates_are_dataclasses_to_mypy() -> None:
    book = Book(title="Solaris")
    assert_type(book.title, str)
    assert_type(Book.new("/books/1"), Book)
    assert_type(book.version, str | None)
    assert_type(book.pending, tuple[BaseModel, ...])
    with pytest.raises(TypeError):
        Book(pages=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Book("Solaris")  # type: ignore[call-arg]


async def test_the_repository_returns_what_it_was_asked_for(esdb_client: Client) -> None:
    repo = Repository(EventStore(esdb_client, source=SOURCE, registry=REGISTRY))
    new = await repo.load_or_new(Book, "/books/1")
    assert_type(new, Book)
    new.record(BookAcquired(title="Solaris"))
    written = await repo.save(new)
    assert_type(written, list[RecordedEvent[BaseModel]])
    loaded = await repo.load(Book, "/books/1")
    assert_type(loaded, Book)
    assert loaded.title == "Solaris"
    updated = await repo.update(Book, "/books/1", lambda book: book.borrow("/members/7"))
    assert_type(updated, Book)
    assert updated.borrowed_by == "/members/7"
    result = await repo.execute(shelf, "/shelves/1", Acquire("Kindred"))
    assert_type(result, DecisionResult[Shelf, BookAcquired])
    assert_type(result.events, tuple[RecordedEvent[BookAcquired], ...])
    assert result.state == Shelf(1)
    state = await repo.load_state(shelf, "/shelves/1")
    assert_type(state, tuple[Shelf, str | None])

    async def counted() -> int:
        return 3

    assert_type(await repo.retrying(counted), int)
    read = await repo.read_boundary(Boundary(types=[BookBorrowed]))
    assert_type(read, BoundaryRead)
    assert_type(read.precondition, IsEventQlQueryTrue)
    assert_type(unchanged(loaded), SubjectPrecondition)
    with pytest.raises(ValueError, match="valid string"):  # str.title is no title
        await repo.execute(shelf, "/shelves/1", "acquire")  # type: ignore[misc]
    with pytest.raises(InvalidArgumentError):
        await repo.load(Shelf, "/books/1")  # type: ignore[type-var]


def test_concurrency_errors_carry_what_was_expected() -> None:
    def describe(error: AggregateConcurrencyError) -> tuple[str, str | None]:
        return error.subject, error.expected_version

    assert describe.__name__ == "describe"


def test_scenarios_are_typed_by_what_they_test() -> None:
    scenario = given(Book, BookAcquired(title="Solaris"))
    assert_type(scenario, AggregateScenario[Book])
    book = scenario.when(lambda b: b.borrow("/members/7")).then(BookBorrowed(member="/members/7"))
    assert_type(book, Book)
    decided = given(shelf).when(Acquire("x"))
    assert_type(decided, DeciderScenario[Shelf, Acquire, BookAcquired])
    assert_type(decided.then(BookAcquired(title="x")), Shelf)
    error = given(Book).when(lambda b: b.__dict__["missing"]).then_raises(KeyError)
    assert_type(error, KeyError)
    given(Book).when(lambda b: b.borrow(7)).then_raises(ValueError)  # type: ignore[arg-type]


def test_the_blocking_repository_returns_what_it_was_asked_for(
    esdb_sync_client: sync.Client,
) -> None:
    repo = sync.Repository(sync.EventStore(esdb_sync_client, source=SOURCE, registry=REGISTRY))
    new = repo.load_or_new(Book, "/books/1")
    assert_type(new, Book)
    new.record(BookAcquired(title="Solaris"))
    assert_type(repo.save(new), list[RecordedEvent[BaseModel]])
    loaded = repo.load(Book, "/books/1")
    assert_type(loaded, Book)
    updated = repo.update(Book, "/books/1", lambda book: book.borrow("/members/7"))
    assert_type(updated, Book)
    result = repo.execute(shelf, "/shelves/1", Acquire("Kindred"))
    assert_type(result, DecisionResult[Shelf, BookAcquired])
    assert_type(repo.load_state(shelf, "/shelves/1"), tuple[Shelf, str | None])
    assert_type(repo.retrying(lambda: 3), int)
    assert_type(repo.read_boundary(Boundary(types=[BookBorrowed])), BoundaryRead)
    typed = repo.store.read("/books/1")
    assert_type(typed, Generator[RecordedEvent[BaseModel], None, None])
    assert [recorded.event_id for recorded in typed] == ["0", "1"]
    with pytest.raises(InvalidArgumentError):
        repo.load(Shelf, "/books/1")  # type: ignore[type-var]
