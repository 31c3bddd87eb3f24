"""The library's read side: two read models in SQL and a reactor, run by a projections `Runner`.

- `BooksOnLoan`: the catalogue, with who has each book (table `catalogue`);
- `MemberStats`: per member, the name, limit, loans so far and books at home (`member_stats`);
- `OverdueNotices`: a reactor; when the library closes for the day, it writes to every member
  who still has a book. It keeps the open loans in its own table (`open_loans`), so it forgets
  nothing across restarts, and mails through a `Mailbox` that drops a repeated notice, since a
  reactor may see an event twice;
- `ReadSide`: the three on a `Runner`, with their checkpoints in a SQLite file.

All three write through the checkpoint store's transaction: with a `SqlCheckpointStore`, a
read model and its position commit together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from eventsourcingdb.models import EventStore, RecordedEvent
from eventsourcingdb.projections import (
    Progress,
    Projection,
    Reactor,
    Runner,
    SqlCheckpointStore,
    handles,
)
from examples.library.events import (
    BookAcquired,
    BookBorrowed,
    BookReturned,
    LibraryClosed,
    MemberLimitChanged,
    MemberRegistered,
)

__all__ = [
    "BooksOnLoan",
    "Mailbox",
    "MemberStats",
    "Notice",
    "OverdueNotices",
    "ReadSide",
    "Stats",
]

_METADATA = sa.MetaData()

CATALOGUE = sa.Table(
    "catalogue",
    _METADATA,
    sa.Column("book", sa.String(300), primary_key=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("member", sa.String(300), nullable=True),
)

MEMBER_STATS = sa.Table(
    "member_stats",
    _METADATA,
    sa.Column("member", sa.String(300), primary_key=True),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("limit", sa.Integer, nullable=False),
    sa.Column("loans", sa.Integer, nullable=False),
    sa.Column("at_home", sa.Integer, nullable=False),
)

OPEN_LOANS = sa.Table(
    "open_loans",
    _METADATA,
    sa.Column("book", sa.String(300), primary_key=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("member", sa.String(300), nullable=True),
)


async def _create(tx: AsyncConnection, table: sa.Table) -> None:
    await tx.run_sync(lambda connection: table.create(connection, checkfirst=True))


class BooksOnLoan(Projection):
    """The catalogue of the library under `root`, and who has which book."""

    name = "books-on-loan"

    def __init__(self, root: str) -> None:
        self.subject = f"{root}/books"

    async def setup(self, tx: AsyncConnection) -> None:
        await _create(tx, CATALOGUE)

    async def reset(self, tx: AsyncConnection) -> None:
        await tx.execute(CATALOGUE.delete())

    @handles(BookAcquired)
    async def _acquired(self, event: RecordedEvent[BookAcquired], tx: AsyncConnection) -> None:
        await tx.execute(CATALOGUE.insert().values(book=event.subject, title=event.data.title))

    @handles(BookBorrowed, BookReturned)
    async def _lent(
        self, event: RecordedEvent[BookBorrowed | BookReturned], tx: AsyncConnection
    ) -> None:
        member = event.data.member if isinstance(event.data, BookBorrowed) else None
        await tx.execute(
            CATALOGUE.update().where(CATALOGUE.c.book == event.subject).values(member=member)
        )

    @staticmethod
    async def on_loan(engine: AsyncEngine) -> list[tuple[str, str]]:
        """(title, member) of every book that is out, by title."""
        query = (
            sa.select(CATALOGUE.c.title, CATALOGUE.c.member)
            .where(CATALOGUE.c.member.is_not(None))
            .order_by(CATALOGUE.c.title)
        )
        async with engine.connect() as connection:
            return [(row.title, row.member) for row in await connection.execute(query)]


@dataclass(frozen=True, slots=True)
class Stats:
    """A row of the member statistics."""

    member: str
    name: str
    limit: int
    loans: int
    at_home: int


class MemberStats(Projection):
    """Per member of the library under `root`: limit, loans so far, books at home."""

    name = "member-stats"

    def __init__(self, root: str) -> None:
        self.subject = root

    async def setup(self, tx: AsyncConnection) -> None:
        await _create(tx, MEMBER_STATS)

    async def reset(self, tx: AsyncConnection) -> None:
        await tx.execute(MEMBER_STATS.delete())

    @handles(MemberRegistered)
    async def _registered(
        self, event: RecordedEvent[MemberRegistered], tx: AsyncConnection
    ) -> None:
        data = event.data
        await tx.execute(
            MEMBER_STATS.insert().values(
                member=event.subject, name=data.name, limit=data.limit, loans=0, at_home=0
            )
        )

    @handles(MemberLimitChanged)
    async def _limited(self, event: RecordedEvent[MemberLimitChanged], tx: AsyncConnection) -> None:
        row = MEMBER_STATS.c.member == event.subject
        await tx.execute(MEMBER_STATS.update().where(row).values(limit=event.data.limit))

    @handles(BookBorrowed)
    async def _borrowed(self, event: RecordedEvent[BookBorrowed], tx: AsyncConnection) -> None:
        row = MEMBER_STATS.c.member == event.data.member
        await tx.execute(
            MEMBER_STATS.update()
            .where(row)
            .values(loans=MEMBER_STATS.c.loans + 1, at_home=MEMBER_STATS.c.at_home + 1)
        )

    @handles(BookReturned)
    async def _returned(self, event: RecordedEvent[BookReturned], tx: AsyncConnection) -> None:
        row = MEMBER_STATS.c.member == event.data.member
        await tx.execute(
            MEMBER_STATS.update().where(row).values(at_home=MEMBER_STATS.c.at_home - 1)
        )

    @staticmethod
    async def table(engine: AsyncEngine) -> list[Stats]:
        """Every member's row, by name."""
        async with engine.connect() as connection:
            rows = await connection.execute(sa.select(MEMBER_STATS).order_by(MEMBER_STATS.c.name))
            return [Stats(**row._mapping) for row in rows]


@dataclass(frozen=True, slots=True)
class Notice:
    """A letter to a member: the book is overdue."""

    member: str
    title: str
    day: int


class Mailbox:
    """Where notices go: a stand-in for mail, that sends a notice once however often it is
    asked (keyed by the event that caused it and the book)."""

    def __init__(self) -> None:
        self._sent: dict[tuple[str, str], Notice] = {}
        self.repeats = 0

    def send(self, key: tuple[str, str], notice: Notice) -> None:
        """Send `notice` unless a notice with `key` was sent already."""
        if key in self._sent:
            self.repeats += 1
            return
        self._sent[key] = notice

    @property
    def sent(self) -> list[Notice]:
        """Every notice sent, in order."""
        return list(self._sent.values())


class OverdueNotices(Reactor):
    """When the library under `root` closes for the day, a notice for every book still out."""

    name = "overdue-notices"

    def __init__(self, root: str, mailbox: Mailbox) -> None:
        self.subject = root
        self.mailbox = mailbox

    async def setup(self, tx: AsyncConnection) -> None:
        await _create(tx, OPEN_LOANS)

    @handles(BookAcquired)
    async def _acquired(self, event: RecordedEvent[BookAcquired], tx: AsyncConnection) -> None:
        known = sa.select(OPEN_LOANS.c.book).where(OPEN_LOANS.c.book == event.subject)
        if (await tx.execute(known)).first() is None:  # idempotent, as a reactor's state is
            await tx.execute(OPEN_LOANS.insert().values(book=event.subject, title=event.data.title))

    @handles(BookBorrowed, BookReturned)
    async def _lent(
        self, event: RecordedEvent[BookBorrowed | BookReturned], tx: AsyncConnection
    ) -> None:
        member = event.data.member if isinstance(event.data, BookBorrowed) else None
        await tx.execute(
            OPEN_LOANS.update().where(OPEN_LOANS.c.book == event.subject).values(member=member)
        )

    @handles(LibraryClosed)
    async def _closed(self, event: RecordedEvent[LibraryClosed], tx: AsyncConnection) -> None:
        query = sa.select(OPEN_LOANS).where(OPEN_LOANS.c.member.is_not(None))
        for row in await tx.execute(query.order_by(OPEN_LOANS.c.title)):
            notice = Notice(member=row.member, title=row.title, day=event.data.day)
            self.mailbox.send((event.event_id, row.book), notice)


class ReadSide:
    """The library's read models and reactor on a runner, with checkpoints in SQLite at `path`.

    `start()` and `stop()` may alternate, as deploys would: each start makes new projections
    (as a new process would) that resume after their checkpoints.
    """

    def __init__(self, store: EventStore, root: str, path: Path) -> None:
        self.store = store
        self.root = root
        self.mailbox = Mailbox()
        self.checkpoints = SqlCheckpointStore.from_url(f"sqlite+aiosqlite:///{path}")
        self.runner: Runner | None = None

    @property
    def engine(self) -> AsyncEngine:
        """The engine of the read models' database."""
        return self.checkpoints.engine

    def _running(self) -> Runner:
        if self.runner is None:
            raise RuntimeError("the read side is not running: start() it")
        return self.runner

    async def start(self) -> Runner:
        """Start a runner with fresh instances of the read models and the reactor."""
        runner = Runner(self.store, checkpoints=self.checkpoints)
        runner.add(BooksOnLoan(self.root))
        runner.add(MemberStats(self.root))
        runner.add(OverdueNotices(self.root, self.mailbox))
        await runner.start()
        self.runner = runner
        return runner

    async def stop(self) -> None:
        """Stop the runner: every projection commits what it applied."""
        if self.runner is not None:
            await self.runner.stop()

    async def wait_for(self, event_id: str) -> None:
        """Wait until every read model shows the event `event_id` (and all before it)."""
        await self._running().wait_for(event_id, timeout=30)

    async def rebuild(self, name: str, progress: Callable[[Progress], None]) -> None:
        """Rebuild the projection `name` in place, reporting `progress`."""
        await self._running().rebuild(name, progress=progress, timeout=60)

    async def aclose(self) -> None:
        """Stop, and close the database."""
        await self.stop()
        await self.checkpoints.aclose()
