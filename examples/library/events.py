"""The library's events: what happened to books and members, as typed pydantic models.

They live in their own registry, `LIBRARY`, so the example never clashes with other declarations
in the same process; type names carry an `examples` namespace for the same reason on shared servers.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from eventsourcingdb.models import EventRegistry

LIBRARY = EventRegistry()
"""Every event type of the library example."""

SOURCE = "https://library.eventsourcingdb.io"
"""The source set on every event the library writes."""

_PREFIX = "io.eventsourcingdb.examples.library"


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True)


@LIBRARY.event_type(f"{_PREFIX}.book-acquired")
class BookAcquired(_Event):
    """The library bought a book and put it on the shelf."""

    title: str
    author: str


@LIBRARY.event_type(f"{_PREFIX}.book-borrowed")
class BookBorrowed(_Event):
    """A member took the book home; `member` is the member's subject."""

    member: str


@LIBRARY.event_type(f"{_PREFIX}.book-returned")
class BookReturned(_Event):
    """The member brought the book back."""

    member: str


@LIBRARY.event_type(f"{_PREFIX}.book-snapshot")
class BookSnapshot(_Event):
    """The state of a book at one moment, so loading it need not replay its whole history."""

    acquired: bool
    title: str
    author: str
    borrowed_by: str | None
    times_borrowed: int


@LIBRARY.event_type(f"{_PREFIX}.member-registered")
class MemberRegistered(_Event):
    """Someone joined the library, allowed to borrow up to `limit` books at once."""

    name: str
    limit: int = Field(ge=0)


@LIBRARY.event_type(f"{_PREFIX}.member-limit-changed")
class MemberLimitChanged(_Event):
    """The member's borrowing limit changed."""

    limit: int = Field(ge=0)


@LIBRARY.event_type(f"{_PREFIX}.library-closed")
class LibraryClosed(_Event):
    """The library closed for the day: books still out are overdue."""

    day: int = Field(ge=1)
