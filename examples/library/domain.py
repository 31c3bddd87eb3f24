"""The library's rules, as plain Python: a `Book` aggregate and a member decider.

A book is an aggregate class (commands check rules and record events; handlers change state).
A member is a decider (`decide`, `evolve`, an initial state), to show the functional style too.
Neither knows about the server: the `Library` service loads, decides and saves.
"""

from __future__ import annotations

from dataclasses import dataclass

from eventsourcingdb.aggregates import Aggregate, Decider, Snapshots, handles
from examples.library.events import (
    BookAcquired,
    BookBorrowed,
    BookReturned,
    BookSnapshot,
    MemberLimitChanged,
    MemberRegistered,
)

__all__ = [
    "Book",
    "BookAlreadyAcquired",
    "BookAlreadyBorrowed",
    "BookNotBorrowedByMember",
    "BookNotInCatalogue",
    "BorrowingLimitReached",
    "ChangeLimit",
    "LibraryError",
    "MemberAlreadyRegistered",
    "MemberCommand",
    "MemberEvent",
    "MemberState",
    "MemberUnknown",
    "RegisterMember",
    "member_decider",
]


class LibraryError(Exception):
    """A rule of the library refused a command."""


class BookAlreadyAcquired(LibraryError):
    """The book is in the catalogue already."""


class BookNotInCatalogue(LibraryError):
    """The book was never acquired."""


class BookAlreadyBorrowed(LibraryError):
    """Someone else has the book."""


class BookNotBorrowedByMember(LibraryError):
    """The member returning the book does not have it."""


class BorrowingLimitReached(LibraryError):
    """The member has as many books as the limit allows."""


class MemberAlreadyRegistered(LibraryError):
    """The member is registered already."""


class MemberUnknown(LibraryError):
    """No member is registered at that subject."""


class Book(Aggregate, snapshots=Snapshots(BookSnapshot, every=10)):
    """A book of the catalogue: who has it, and how often it went out.

    Popular books live long and borrow often, so they take a snapshot every 10 events.
    """

    acquired: bool = False
    title: str = ""
    author: str = ""
    borrowed_by: str | None = None
    times_borrowed: int = 0

    def acquire(self, title: str, author: str) -> None:
        """Put the book into the catalogue."""
        if self.acquired:
            raise BookAlreadyAcquired(f"{self.subject} is in the catalogue already")
        self.record(BookAcquired(title=title, author=author))

    def borrow(self, member: str, *, open_loans: int, limit: int) -> None:
        """Lend the book to `member`, who has `open_loans` books and may have `limit`."""
        if not self.acquired:
            raise BookNotInCatalogue(f"{self.subject} is not in the catalogue")
        if self.borrowed_by is not None:
            raise BookAlreadyBorrowed(f"{self.title!r} is borrowed already")
        if open_loans >= limit:
            raise BorrowingLimitReached(
                f"{member} has {open_loans} books and may borrow {limit} at once"
            )
        self.record(BookBorrowed(member=member))

    def give_back(self, member: str) -> None:
        """Take the book back from `member`."""
        if self.borrowed_by != member:
            raise BookNotBorrowedByMember(f"{member} does not have {self.title!r}")
        self.record(BookReturned(member=member))

    @handles(BookAcquired)
    def _acquired(self, event: BookAcquired) -> None:
        self.acquired = True
        self.title = event.title
        self.author = event.author

    @handles(BookBorrowed)
    def _borrowed(self, event: BookBorrowed) -> None:
        self.borrowed_by = event.member
        self.times_borrowed += 1

    @handles(BookReturned)
    def _returned(self, event: BookReturned) -> None:
        self.borrowed_by = None


@dataclass(frozen=True, slots=True)
class MemberState:
    """What the library knows about a member."""

    registered: bool = False
    name: str = ""
    limit: int = 0


@dataclass(frozen=True, slots=True)
class RegisterMember:
    """Register a new member with a borrowing limit."""

    name: str
    limit: int


@dataclass(frozen=True, slots=True)
class ChangeLimit:
    """Set the member's borrowing limit."""

    limit: int


MemberCommand = RegisterMember | ChangeLimit
MemberEvent = MemberRegistered | MemberLimitChanged


def _decide(state: MemberState, command: MemberCommand) -> list[MemberEvent]:
    match command:
        case RegisterMember(name=name, limit=limit):
            if state.registered:
                raise MemberAlreadyRegistered(f"{state.name} is registered already")
            return [MemberRegistered(name=name, limit=limit)]
        case ChangeLimit(limit=limit):
            if not state.registered:
                raise MemberUnknown("only a registered member has a limit")
            return [] if limit == state.limit else [MemberLimitChanged(limit=limit)]


def _evolve(state: MemberState, event: MemberEvent) -> MemberState:
    match event:
        case MemberRegistered(name=name, limit=limit):
            return MemberState(registered=True, name=name, limit=limit)
        case MemberLimitChanged(limit=limit):
            return MemberState(registered=state.registered, name=state.name, limit=limit)


member_decider: Decider[MemberState, MemberCommand, MemberEvent] = Decider(
    decide=_decide, evolve=_evolve, initial_state=MemberState()
)
"""A member, in the functional style: registering and changing the borrowing limit."""
