"""The `Library` service: loads, decides and saves through a `Repository`, safely under concurrency.

Lending is the interesting case. Whether a member may borrow depends on events of many subjects
(their loans of every book), so it is a decision across subjects: read the member's loans as a
`Boundary`, decide on the book, and save the book only if no loan of that member was written
meanwhile and the member's limit is unchanged. A lost race is retried on fresh facts.
"""

from __future__ import annotations

from pydantic import BaseModel

from eventsourcingdb.aggregates import Boundary, BoundaryRead, Repository
from eventsourcingdb.models import EventStore
from eventsourcingdb.preconditions import IsSubjectOnEventId
from examples.library.domain import (
    Book,
    ChangeLimit,
    MemberState,
    MemberUnknown,
    RegisterMember,
    member_decider,
)
from examples.library.events import BookBorrowed, BookReturned, LibraryClosed

__all__ = ["Library", "LoanCount", "loans_of", "open_loans"]


class LoanCount(BaseModel):
    """A row of the loans report: how often a book went out."""

    book: str
    loans: int


def open_loans(loans: BoundaryRead) -> int:
    """How many books the member of a loans boundary has now: borrowed minus returned."""
    count = 0
    for recorded in loans.events:
        count += 1 if isinstance(recorded.data, BookBorrowed) else -1
    return count


def loans_of(root: str, member: str) -> Boundary:
    """The events that say which books `member` (a subject) of the library under `root` has:
    its loans and returns of every book."""
    return Boundary(
        types=(BookBorrowed, BookReturned),
        subjects=(f"{root}/books",),
        recursive=True,
        data={"member": member},
    )


class Library:
    """A library whose books and members live under the subject `root` (e.g. `/library`)."""

    def __init__(self, store: EventStore, *, root: str = "/library", retries: int = 10) -> None:
        self.store = store
        self.repository = Repository(store, retries=retries)
        self.root = root.rstrip("/")

    def book(self, book_id: str) -> str:
        """The subject of a book."""
        return f"{self.root}/books/{book_id}"

    def member(self, member_id: str) -> str:
        """The subject of a member."""
        return f"{self.root}/members/{member_id}"

    def loans_of(self, member: str) -> Boundary:
        """The events that say which books `member` (a subject) has: loans and returns."""
        return loans_of(self.root, member)

    async def acquire(self, book_id: str, *, title: str, author: str) -> Book:
        """Put a new book into the catalogue."""
        return await self.repository.update(
            Book, self.book(book_id), lambda book: book.acquire(title, author), create=True
        )

    async def register(self, member_id: str, *, name: str, limit: int) -> MemberState:
        """Register a member with a borrowing limit."""
        result = await self.repository.execute(
            member_decider, self.member(member_id), RegisterMember(name=name, limit=limit)
        )
        return result.state

    async def change_limit(self, member_id: str, limit: int) -> MemberState:
        """Change a member's borrowing limit."""
        result = await self.repository.execute(
            member_decider, self.member(member_id), ChangeLimit(limit=limit)
        )
        return result.state

    async def lend(self, book_id: str, member_id: str) -> Book:
        """Lend a book to a member, if the book is free and the member is below their limit."""
        member = self.member(member_id)

        async def attempt() -> Book:
            state, version = await self.repository.load_state(member_decider, member)
            if version is None or not state.registered:
                raise MemberUnknown(f"no member is registered at {member}")
            loans = await self.repository.read_boundary(self.loans_of(member))
            book = await self.repository.load(Book, self.book(book_id))
            book.borrow(member, open_loans=open_loans(loans), limit=state.limit)
            await self.repository.save(
                book, preconditions=[loans.precondition, IsSubjectOnEventId(member, version)]
            )
            return book

        return await self.repository.retrying(attempt)

    async def take_back(self, book_id: str, member_id: str) -> Book:
        """Take a book back from the member who has it."""
        member = self.member(member_id)
        return await self.repository.update(
            Book, self.book(book_id), lambda book: book.give_back(member)
        )

    def day(self, number: int) -> str:
        """The subject of a day of the library."""
        return f"{self.root}/days/{number}"

    async def close_day(self, number: int) -> str:
        """Close the library for the day; the id of the event that says so."""
        written = await self.store.append(self.day(number), LibraryClosed(day=number))
        return written[0].event_id

    async def loans_per_book(self) -> list[LoanCount]:
        """The report: how often each book went out, most borrowed first (an EventQL query)."""
        borrowed = self.store.registry.declaration_of(BookBorrowed)
        if borrowed is None:
            raise LookupError("BookBorrowed is not declared in the store's registry")
        query = (
            f"FROM e IN events WHERE e.type == '{borrowed.name}' "
            f"AND STARTSWITH(e.subject, '{self.root}/books/') "
            "GROUP BY e.subject PROJECT INTO { book: UNIQUE(e.subject), loans: COUNT() }"
        )
        rows = [row async for row in self.store.query(query, row_type=LoanCount)]
        return sorted(rows, key=lambda row: (-row.loans, row.book))
