"""Decisions across subjects: `Boundary` queries and preconditions, and a rule under concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from pydantic import BaseModel

from eventsourcingdb.aggregates import Boundary, unchanged
from eventsourcingdb.errors import ConcurrencyError, InvalidArgumentError
from eventsourcingdb.models import EventRegistry, EventStore, JsonObject
from eventsourcingdb.preconditions import (
    IsEventQlQueryTrue,
    IsSubjectOnEventId,
    IsSubjectPristine,
    Precondition,
)
from examples.library.domain import Book, BorrowingLimitReached, member_decider
from examples.library.events import LIBRARY, BookBorrowed, BookReturned
from examples.library.library import Library, open_loans
from tests.aggregates.conftest import FAST
from tests.aggregates.domain import Counter, Order
from tests.twins import new_repository

BORROWED = "io.eventsourcingdb.examples.library.book-borrowed"
RETURNED = "io.eventsourcingdb.examples.library.book-returned"


def test_the_condition_selects_types_subjects_and_data() -> None:
    boundary = Boundary(
        types=(BookBorrowed, BookReturned),
        subjects=("/books",),
        recursive=True,
        data={"member": "/members/7"},
    )
    assert boundary.condition(LIBRARY) == (
        f"(e.type == '{BORROWED}' OR e.type == '{RETURNED}') "
        "AND (e.subject == '/books' OR STARTSWITH(e.subject, '/books/')) "
        "AND e.data.member == '/members/7'"
    )
    assert (
        boundary.query(LIBRARY)
        == f"FROM e IN events WHERE {boundary.condition(LIBRARY)} PROJECT INTO e"
    )
    assert boundary.unchanged_since("41", LIBRARY) == IsEventQlQueryTrue(
        f"FROM e IN events WHERE {boundary.condition(LIBRARY)} AND e.id AS INT > 41 "
        "PROJECT INTO COUNT() == 0"
    )
    assert boundary.unchanged_since(None, LIBRARY) == IsEventQlQueryTrue(
        f"FROM e IN events WHERE {boundary.condition(LIBRARY)} PROJECT INTO COUNT() == 0"
    )


def test_a_boundary_is_an_immutable_value() -> None:
    data = {"member": "/members/7"}
    boundary = Boundary(types=[BORROWED], subjects=["/books"], data=data)
    data["member"] = "/members/8"
    assert boundary.data == {"member": "/members/7"}
    assert boundary.types == (BORROWED,)
    assert boundary == Boundary(types=(BORROWED,), subjects=("/books",), data=dict(boundary.data))
    same = Boundary(types=[BORROWED], subjects=["/books"], data={"member": "/members/7"})
    assert hash(boundary) == hash(same)
    assert {boundary, same} == {boundary}
    with pytest.raises(TypeError):
        boundary.data["member"] = "x"  # type: ignore[index]


def test_exact_subjects_any_subject_and_literals() -> None:
    exact = Boundary(types=[BORROWED], subjects=["/books/1", "/books/2/"])
    assert exact.condition() == (
        f"e.type == '{BORROWED}' AND (e.subject == '/books/1' OR e.subject == '/books/2')"
    )
    everywhere = Boundary(types=[BORROWED], subjects=["/"], recursive=True)
    assert everywhere.condition() == f"e.type == '{BORROWED}'"
    anywhere = Boundary(types=[BORROWED])
    assert anywhere.condition() == f"e.type == '{BORROWED}'"
    literals = Boundary(
        types=[BORROWED],
        data={"a": 3, "b.c": True, "d": None, "e": 1.5, "f": "it's", "g": 'say "hi"'},
    )
    assert literals.condition().endswith(
        "e.data.a == 3 AND e.data.b.c == true AND e.data.d == null AND e.data.e == 1.5 "
        'AND e.data.f == "it\'s" AND e.data.g == \'say "hi"\''
    )


def test_models_count_with_every_type_upcast_to_them() -> None:
    registry = EventRegistry()

    @registry.event_type("io.eventsourcingdb.tests.loan.v3")
    class LoanV3(BaseModel):
        member: str

    @registry.upcaster("io.eventsourcingdb.tests.loan.v2", to=LoanV3)
    def v2(old: JsonObject) -> JsonObject:
        return old

    @registry.event_type("io.eventsourcingdb.tests.other")
    class Other(BaseModel):
        pass

    @registry.upcaster("io.eventsourcingdb.tests.loan", to=Other)
    def unrelated(old: JsonObject) -> JsonObject:
        return {}

    boundary = Boundary(types=[LoanV3])
    assert boundary.type_names(registry) == (
        "io.eventsourcingdb.tests.loan.v2",
        "io.eventsourcingdb.tests.loan.v3",
    )
    with pytest.raises(InvalidArgumentError, match="not a declared event type"):
        Boundary(types=[LoanV3]).type_names(EventRegistry())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"types": []}, "non-empty"),
        ({"types": BORROWED}, "non-empty"),
        ({"types": ["nope"]}, "malformed"),
        ({"types": [dict]}, "event models or type names"),
        ({"types": [BORROWED], "subjects": "/books"}, "not one string"),
        ({"types": [BORROWED], "subjects": ["books"]}, "malformed"),
        ({"types": [BORROWED], "recursive": 1}, "recursive"),
        ({"types": [BORROWED], "data": {"a b": 1}}, "field path"),
        ({"types": [BORROWED], "data": {"a": "\\"}}, "backslash"),
        ({"types": [BORROWED], "data": {"a": "'\""}}, "both kinds of quotes"),
        ({"types": [BORROWED], "data": {"a": float("nan")}}, "finite"),
        ({"types": [BORROWED], "data": {"a": [1]}}, "string, number, boolean or None"),
    ],
)
def test_a_boundary_checks_what_it_is_given(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        Boundary(**kwargs)  # type: ignore[arg-type]


def test_unchanged_since_checks_the_event_id() -> None:
    with pytest.raises(InvalidArgumentError):
        Boundary(types=[BORROWED]).unchanged_since("x")


def test_unchanged_guards_an_aggregate_at_its_version() -> None:
    counter = Counter.new("/c")
    assert unchanged(counter) == IsSubjectPristine("/c")
    counter._replay(None, event_id="4")
    assert unchanged(counter) == IsSubjectOnEventId("/c", "4")
    order = Order.new("/o")
    assert unchanged(order) == IsSubjectPristine("/o", recursive=True)


async def test_read_boundary_returns_the_events_and_a_precondition_that_holds(
    library_store: EventStore, root: str
) -> None:
    repo = new_repository(library_store)
    ada, grace = f"{root}/members/ada", f"{root}/members/grace"
    await library_store.append(f"{root}/books/1", BookBorrowed(member=ada))
    await library_store.append(f"{root}/books/2", BookBorrowed(member=grace))
    await library_store.append(f"{root}/books/1", BookReturned(member=ada))
    await library_store.append(f"{root}/books/3", BookBorrowed(member=ada))
    await library_store.append(f"{root}/elsewhere/4", BookBorrowed(member=ada))
    boundary = Boundary(
        types=(BookBorrowed, BookReturned),
        subjects=(f"{root}/books",),
        recursive=True,
        data={"member": ada},
    )
    read = await repo.read_boundary(boundary)
    assert [r.data for r in read.events] == [
        BookBorrowed(member=ada),
        BookReturned(member=ada),
        BookBorrowed(member=ada),
    ]
    assert read.last_event_id == read.events[-1].event_id
    assert read.precondition == boundary.unchanged_since(read.last_event_id, library_store.registry)
    assert open_loans(read) == 1

    # unrelated writes keep it true; a new event of the boundary makes it false
    await library_store.append(
        f"{root}/books/9", BookBorrowed(member=grace), preconditions=[read.precondition]
    )
    await library_store.append(f"{root}/books/8", BookBorrowed(member=ada))
    with pytest.raises(ConcurrencyError):
        await library_store.append(
            f"{root}/books/7", BookBorrowed(member=grace), preconditions=[read.precondition]
        )

    nothing = await repo.read_boundary(Boundary(types=[BookBorrowed], data={"member": "nobody"}))
    assert (nothing.events, nothing.last_event_id) == ((), None)


async def _library(store: EventStore, root: str, *, limit: int, books: int) -> Library:
    # the example's service over the repository of the twin under test (its constructor makes
    # an async repository, which the blocking twin's store cannot have)
    library = Library.__new__(Library)
    library.store, library.root = store, root
    library.repository = new_repository(store, retries=20, backoff=FAST)
    await library.register("ada", name="Ada", limit=limit)
    for number in range(books):
        await library.acquire(str(number), title=f"Book {number}", author="Anon")
    return library


async def _lend_all_at_once(
    library: Library, books: int, *, guarded: bool
) -> Sequence[Book | BaseException]:
    """Every task reads Ada's loans and her limit before any of them saves, on its first try."""
    member = library.member("ada")
    first_reads = asyncio.Barrier(books)

    async def lend(book_id: str) -> Book:
        first = True

        async def attempt() -> Book:
            nonlocal first
            state, version = await library.repository.load_state(member_decider, member)
            assert version is not None
            loans = await library.repository.read_boundary(library.loans_of(member))
            book = await library.repository.load(Book, library.book(book_id))
            book.borrow(member, open_loans=open_loans(loans), limit=state.limit)
            if first:
                first = False
                await first_reads.wait()
            extra: list[Precondition] = [loans.precondition] if guarded else []
            await library.repository.save(book, preconditions=extra)
            return book

        return await library.repository.retrying(attempt)

    return await asyncio.gather(
        *(lend(str(number)) for number in range(books)), return_exceptions=True
    )


@pytest.mark.timeout(30)
async def test_a_member_borrows_at_most_the_limit_under_concurrency(
    library_store: EventStore, root: str
) -> None:
    library = await _library(library_store, root, limit=3, books=6)
    results = await _lend_all_at_once(library, 6, guarded=True)
    lent = [r for r in results if isinstance(r, Book)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(lent) == 3
    assert len(refused) == 3
    assert all(isinstance(error, BorrowingLimitReached) for error in refused)
    loans = await library.repository.read_boundary(library.loans_of(library.member("ada")))
    assert open_loans(loans) == 3


@pytest.mark.timeout(30)
async def test_without_the_boundary_precondition_the_rule_breaks(
    library_store: EventStore, root: str
) -> None:
    """The control: the same race without the guard lends every book, so the guard matters."""
    library = await _library(library_store, root, limit=3, books=6)
    results = await _lend_all_at_once(library, 6, guarded=False)
    assert all(isinstance(r, Book) for r in results)
    loans = await library.repository.read_boundary(library.loans_of(library.member("ada")))
    assert open_loans(loans) == 6


@pytest.mark.timeout(30)
async def test_the_library_service_keeps_the_limit_under_concurrency(
    library_store: EventStore, root: str
) -> None:
    library = await _library(library_store, root, limit=2, books=5)
    results = await asyncio.gather(
        *(library.lend(str(number), "ada") for number in range(5)), return_exceptions=True
    )
    assert sum(isinstance(r, Book) for r in results) == 2
    assert sum(isinstance(r, BorrowingLimitReached) for r in results) == 3
