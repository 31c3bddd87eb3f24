"""The library example's read side, specified without a server: given events, then the tables."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from eventsourcingdb.projections import SqlCheckpointStore
from eventsourcingdb.projections.testing import at, given
from examples.library.events import (
    LIBRARY,
    BookAcquired,
    BookBorrowed,
    BookReturned,
    LibraryClosed,
    MemberLimitChanged,
    MemberRegistered,
)
from examples.library.read_models import (
    BooksOnLoan,
    Mailbox,
    MemberStats,
    Notice,
    OverdueNotices,
    Stats,
)

ROOT = "/library"
ADA = f"{ROOT}/members/ada"
SOLARIS = f"{ROOT}/books/solaris"
KINDRED = f"{ROOT}/books/kindred"


@pytest.fixture
async def checkpoints(tmp_path: Path) -> AsyncIterator[SqlCheckpointStore]:
    async with SqlCheckpointStore.from_url(f"sqlite+aiosqlite:///{tmp_path}/read.db") as store:
        yield store


async def test_books_on_loan_lists_who_has_which_book(checkpoints: SqlCheckpointStore) -> None:
    await given(
        BooksOnLoan(ROOT),
        at(SOLARIS, BookAcquired(title="Solaris", author="Stanisław Lem")),
        at(KINDRED, BookAcquired(title="Kindred", author="Octavia E. Butler")),
        at(SOLARIS, BookBorrowed(member=ADA)),
        at(KINDRED, BookBorrowed(member=ADA)),
        at(KINDRED, BookReturned(member=ADA)),
        registry=LIBRARY,
        checkpoints=checkpoints,
    ).then(lambda _: None)
    assert await BooksOnLoan.on_loan(checkpoints.engine) == [("Solaris", ADA)]


async def test_member_stats_count_loans_and_books_at_home(checkpoints: SqlCheckpointStore) -> None:
    await given(
        MemberStats(ROOT),
        at(ADA, MemberRegistered(name="Ada", limit=2)),
        at(SOLARIS, BookBorrowed(member=ADA)),
        at(SOLARIS, BookReturned(member=ADA)),
        at(KINDRED, BookBorrowed(member=ADA)),
        at(ADA, MemberLimitChanged(limit=3)),
        registry=LIBRARY,
        checkpoints=checkpoints,
    ).then(lambda _: None)
    assert await MemberStats.table(checkpoints.engine) == [
        Stats(member=ADA, name="Ada", limit=3, loans=2, at_home=1)
    ]


async def test_overdue_notices_go_out_once_per_book_still_out(
    checkpoints: SqlCheckpointStore,
) -> None:
    mailbox = Mailbox()
    sent = await given(
        OverdueNotices(ROOT, mailbox),
        at(SOLARIS, BookAcquired(title="Solaris", author="Stanisław Lem")),
        at(KINDRED, BookAcquired(title="Kindred", author="Octavia E. Butler")),
        at(SOLARIS, BookBorrowed(member=ADA)),
        at(KINDRED, BookBorrowed(member=ADA)),
        at(KINDRED, BookReturned(member=ADA)),
        at(f"{ROOT}/days/1", LibraryClosed(day=1)),
        registry=LIBRARY,
        checkpoints=checkpoints,
    ).then_idempotent(lambda reactor: reactor.mailbox.sent)
    assert sent == [Notice(member=ADA, title="Solaris", day=1)]
    assert mailbox.repeats == 1, "delivered twice, the notice was not sent twice"
