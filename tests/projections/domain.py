"""A small domain for the projection tests: books lent and returned, and read models of them.

`OnLoan` keeps its read model in memory; `SqlOnLoan` in a SQL table written in the checkpoint
store's transaction (exactly once); `SyncSqlOnLoan` does the same with blocking handlers.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from eventsourcingdb.models import EventRegistry, EventStore, RecordedEvent
from eventsourcingdb.projections import Projection, handles

REGISTRY = EventRegistry()
SOURCE = "https://tests.eventsourcingdb.io"
PREFIX = "io.eventsourcingdb.tests.projections"


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True)


@REGISTRY.event_type(f"{PREFIX}.book-acquired")
class BookAcquired(_Event):
    title: str


@REGISTRY.event_type(f"{PREFIX}.book-borrowed")
class BookBorrowed(_Event):
    member: str


@REGISTRY.event_type(f"{PREFIX}.book-returned")
class BookReturned(_Event):
    member: str


@REGISTRY.event_type(f"{PREFIX}.book-lent")
class BookLent(_Event):
    """The retired name of `BookBorrowed`, with the member under another key."""

    borrower: str


REGISTRY.add_upcaster(BookLent, to=BookBorrowed, function=lambda old: {"member": old.borrower})


class OnLoan(Projection):
    """Which member has which book, in memory."""

    subject = "/books"

    def __init__(self) -> None:
        self.loans: dict[str, str] = {}
        self.seen: list[str] = []

    @handles(BookBorrowed)
    def _borrowed(self, event: RecordedEvent[BookBorrowed]) -> None:
        self.loans[event.subject] = event.data.member
        self.seen.append(event.event_id)

    @handles(BookReturned)
    async def _returned(self, event: RecordedEvent[BookReturned]) -> None:
        self.loans.pop(event.subject, None)
        self.seen.append(event.event_id)


def loans_table(name: str = "on_loan") -> sa.Table:
    """The table of a SQL read model of loans: one row per book that is out."""
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("book", sa.String(200), primary_key=True),
        sa.Column("member", sa.String(200), nullable=False),
        sa.Column("times", sa.Integer, nullable=False),
    )


class SqlOnLoan(Projection):
    """Which member has which book, in a SQL table (and how often each went out)."""

    subject = "/books"

    def __init__(self, table: str = "on_loan", *, name: str | None = None) -> None:
        self.table = loans_table(table)
        self.times: dict[str, int] = {}
        if name is not None:
            self.name = name

    async def setup(self, tx: AsyncConnection) -> None:
        await tx.run_sync(self.table.metadata.create_all)

    async def reset(self, tx: AsyncConnection) -> None:
        await tx.execute(self.table.delete())

    @handles(BookBorrowed)
    async def _borrowed(self, event: RecordedEvent[BookBorrowed], tx: AsyncConnection) -> None:
        table = self.table
        row = (
            await tx.execute(sa.select(table.c.times).where(table.c.book == event.subject))
        ).first()
        if row is None:
            await tx.execute(
                table.insert().values(book=event.subject, member=event.data.member, times=1)
            )
        else:
            await tx.execute(
                table.update()
                .where(table.c.book == event.subject)
                .values(member=event.data.member, times=row.times + 1)
            )

    @handles(BookReturned)
    async def _returned(self, event: RecordedEvent[BookReturned], tx: AsyncConnection) -> None:
        table = self.table
        await tx.execute(table.update().where(table.c.book == event.subject).values(member=""))


class SyncSqlOnLoan(Projection):
    """`SqlOnLoan` with blocking handlers: they get a `sqlalchemy.Connection`."""

    subject = "/books"

    def __init__(self) -> None:
        self.table = loans_table("sync_on_loan")

    def setup(self, tx: sa.Connection) -> None:
        self.table.metadata.create_all(tx)

    @handles(BookBorrowed)
    def _borrowed(self, event: RecordedEvent[BookBorrowed], tx: sa.Connection) -> None:
        table = self.table
        updated = tx.execute(
            table.update()
            .where(table.c.book == event.subject)
            .values(member=event.data.member, times=table.c.times + 1)
        )
        if not updated.rowcount:
            tx.execute(table.insert().values(book=event.subject, member=event.data.member, times=1))

    @handles(BookReturned)
    def _returned(self, event: RecordedEvent[BookReturned], tx: sa.Connection) -> None:
        tx.execute(self.table.update().where(self.table.c.book == event.subject).values(member=""))


async def table_rows(engine: AsyncEngine, table: sa.Table) -> list[tuple[Any, ...]]:
    """Every row of `table`, sorted."""
    async with engine.connect() as connection:
        rows = (await connection.execute(sa.select(table))).all()
    return sorted(tuple(row) for row in rows)


async def lend(store: EventStore, books: range, member: str = "/members/ada") -> str:
    """Lend the books `/books/<n>` for each n of `books` to `member`, in one write; the last
    event's id."""
    written = await store.append_many([(f"/books/{n}", BookBorrowed(member=member)) for n in books])
    return written[-1].event_id
