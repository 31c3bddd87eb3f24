"""The library demo: a short story of books and members, told by the events it writes.

Run it from the repository root with `python -m examples.library`. It uses an embedded emulator,
or the EventSourcingDB named by `ESDB_URL` and `ESDB_API_TOKEN`. Every run works under a subject
of its own (`/library-<random>`), so it also runs against a shared server. It checks what it tells
and exits with 1 if anything is wrong.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack, aclosing
from pathlib import Path

from pydantic import BaseModel

from eventsourcingdb import (
    Bound,
    BoundType,
    Client,
    ObserveEventsOptions,
    ReadEventsOptions,
    ReadFromLatestEvent,
)
from eventsourcingdb.aggregates import AggregateConcurrencyError
from eventsourcingdb.models import EventStore, RecordedEvent
from eventsourcingdb.options import IfEventIsMissingDuringRead
from eventsourcingdb.projections import ProgressBar
from examples.library.domain import Book, BookAlreadyBorrowed, BorrowingLimitReached
from examples.library.events import LIBRARY, SOURCE, BookSnapshot
from examples.library.library import Library, open_loans
from examples.library.read_models import BooksOnLoan, MemberStats, ReadSide

__all__ = ["DemoFailure", "main", "run", "story"]

Say = Callable[[str], None]


class DemoFailure(Exception):
    """Something the demo checks does not hold."""


def _check(say: Say, condition: bool, what: str) -> None:
    if not condition:
        say(f"  ✗ {what}")
        raise DemoFailure(what)
    say(f"  ✓ {what}")


class _Feed:
    """A live observer of everything under the library's root: the activity feed."""

    def __init__(self, store: EventStore, root: str) -> None:
        self.seen: list[RecordedEvent[BaseModel]] = []
        self._store = store
        self._root = root
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        options = ObserveEventsOptions(recursive=True)
        async with aclosing(self._store.observe(self._root, options)) as events:
            async for recorded in events:
                async with self._changed:
                    self.seen.append(recorded)
                    self._changed.notify_all()

    async def wait_for(self, count: int, *, seconds: float) -> None:
        """Wait until the feed has seen `count` events (TimeoutError after `seconds`)."""

        async def enough() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.seen) >= count or self._task.done())
            if self._task.done():
                self._task.result()  # the observer failed: raise why

        await asyncio.wait_for(enough(), seconds)

    async def stop(self) -> None:
        """Stop observing."""
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            if not self._task.cancelled():
                raise


def _outcomes(results: Sequence[object]) -> tuple[list[Book], list[BaseException]]:
    won = [result for result in results if isinstance(result, Book)]
    lost = [result for result in results if isinstance(result, BaseException)]
    return won, lost


async def story(client: Client, say: Say = print) -> None:
    """Tell the library's story on `client`; raise `DemoFailure` if a check fails."""
    root = f"/library-{uuid.uuid4().hex[:8]}"
    store = EventStore(client, source=SOURCE, registry=LIBRARY)
    report = await store.register_schemas()
    known = len(report.registered) + len(report.unchanged)
    say(f"The library opens under {root}; the server checks its {known} event types by schema.")
    library = Library(store, root=root)
    feed = _Feed(store, root)
    with tempfile.TemporaryDirectory(prefix="library-read-models-") as directory:
        read_side = ReadSide(store, root, Path(directory) / "read-models.db")
        await read_side.start()
        say("Its read side starts: books on loan and member statistics in SQLite, and a reactor.")
        try:
            await _chapters(library, say, read_side)
            everything = [r async for r in store.read(root, ReadEventsOptions(recursive=True))]
            await feed.wait_for(len(everything), seconds=10)
            kinds = sorted({recorded.data.__class__.__name__ for recorded in feed.seen})
            say(
                f"The activity feed, observing live, saw {len(feed.seen)} events: "
                f"{', '.join(kinds)}."
            )
            _check(
                say,
                [r.event_id for r in feed.seen] == [r.event_id for r in everything],
                "the feed saw every event of the library, in the order it was written",
            )
            await _read_side_at_closing(library, read_side, everything[-1].event_id, say)
            await _final_state(library, say)
        finally:
            await read_side.aclose()
            await feed.stop()


async def _chapters(library: Library, say: Say, read_side: ReadSide) -> None:
    solaris, left_hand, kindred = "solaris", "left-hand", "kindred"
    await library.acquire(solaris, title="Solaris", author="Stanisław Lem")
    await library.acquire(left_hand, title="The Left Hand of Darkness", author="Ursula K. Le Guin")
    await library.acquire(kindred, title="Kindred", author="Octavia E. Butler")
    say("It acquires three books: Solaris, The Left Hand of Darkness and Kindred.")
    await library.register("ada", name="Ada", limit=2)
    await library.register("grace", name="Grace", limit=1)
    say("Ada joins, allowed two books at a time; Grace joins, allowed one.")

    book = await library.lend(solaris, "ada")
    say("Ada borrows Solaris.")
    _check(say, book.borrowed_by == library.member("ada"), "Solaris is out, with Ada")
    try:
        await library.lend(solaris, "grace")
    except BookAlreadyBorrowed as refusal:
        say(f"Grace asks for Solaris too and is told: {refusal}.")
    else:
        _check(say, False, "a borrowed book cannot be lent again")
    stopped_at = await _stop_read_side(library, read_side, say)

    results = await asyncio.gather(
        library.lend(kindred, "grace"), library.lend(kindred, "ada"), return_exceptions=True
    )
    won, lost = _outcomes(results)
    winner = "Grace" if won and won[0].borrowed_by == library.member("grace") else "Ada"
    say(f"Grace and Ada ask for Kindred at two desks at the same moment; {winner} gets it.")
    _check(
        say,
        len(won) == 1 and len(lost) == 1 and isinstance(lost[0], BookAlreadyBorrowed),
        "exactly one desk lent Kindred, the other was refused",
    )
    await library.take_back(kindred, winner.lower())
    say(f"{winner} brings Kindred back at once.")

    results = await asyncio.gather(
        library.lend(kindred, "ada"), library.lend(left_hand, "ada"), return_exceptions=True
    )
    won, lost = _outcomes(results)
    say(
        "Ada, who still has Solaris, asks for Kindred and The Left Hand of Darkness at two desks "
        "at once; her limit is two books."
    )
    _check(
        say,
        len(won) == 1 and len(lost) == 1 and isinstance(lost[0], BorrowingLimitReached),
        "one desk lent her a book, the other refused: the limit held across books",
    )
    loans = await library.repository.read_boundary(library.loans_of(library.member("ada")))
    _check(say, open_loans(loans) == 2, "Ada has exactly two books")

    await library.change_limit("ada", 3)
    other = left_hand if won[0].subject == library.book(kindred) else kindred
    await library.lend(other, "ada")
    say("Her limit goes up to three, and she takes the other book home as well.")
    await _restart_read_side(library, read_side, stopped_at, say)
    await _evening(library, read_side, say)

    first = await library.repository.load(Book, library.book(kindred))
    second = await library.repository.load(Book, library.book(kindred))
    first.give_back(library.member("ada"))
    second.give_back(library.member("ada"))
    await library.repository.save(first)
    try:
        await library.repository.save(second)
    except AggregateConcurrencyError as conflict:
        say(
            "Two librarians open Kindred's record at once and both check it in; the second save "
            f"is refused, as Kindred changed since version {conflict.expected_version}."
        )
    else:
        _check(say, False, "a save on a stale version is refused")
    await library.take_back(left_hand, "ada")
    await library.take_back(solaris, "ada")
    say("Ada returns the other two books.")

    for _ in range(6):
        await library.lend(solaris, "grace")
        await library.take_back(solaris, "grace")
    say("Solaris is popular: Grace borrows and returns it six times.")
    await _snapshots(library, solaris, say)

    rows = await library.loans_per_book()
    say(
        "The loans report (an EventQL query): "
        + ", ".join(f"{row.book.rsplit('/', 1)[-1]} {row.loans}" for row in rows)
        + "."
    )
    expected = [
        (library.book(solaris), 7),
        (library.book(kindred), 2),
        (library.book(left_hand), 1),
    ]
    _check(
        say,
        [(row.book, row.loans) for row in rows] == expected,
        "Solaris went out 7 times, Kindred twice, The Left Hand of Darkness once",
    )


async def _stop_read_side(library: Library, read_side: ReadSide, say: Say) -> str:
    """Stop the read side (a deploy); the id of the last event its member statistics hold."""
    last = [r async for r in library.store.read(library.root, ReadEventsOptions(recursive=True))]
    await read_side.wait_for(last[-1].event_id)
    await read_side.stop()
    say(
        f"The read side stops for a deploy, up to date at event {last[-1].event_id}; the desks "
        "go on lending."
    )
    return last[-1].event_id


async def _restart_read_side(
    library: Library, read_side: ReadSide, stopped_at: str, say: Say
) -> None:
    """Start the read side again; it resumes after its checkpoints."""
    since = ReadEventsOptions(
        recursive=True, lower_bound=Bound(id=stopped_at, type=BoundType.EXCLUSIVE)
    )
    meanwhile = [r async for r in library.store.read(library.root, since)]
    runner = await read_side.start()
    await read_side.wait_for(meanwhile[-1].event_id)
    stats = runner.status()["member-stats"]
    say(
        f"The read side starts again and resumes after event {stopped_at}: it applies the "
        f"{stats.processed} events written meanwhile, and no other."
    )
    _check(
        say,
        stats.processed == len(meanwhile),
        "the member statistics resumed from their checkpoint, skipping nothing, repeating nothing",
    )


async def _evening(library: Library, read_side: ReadSide, say: Say) -> None:
    """The library closes for the day: the read models and the reactor show who has what."""
    closed = await library.close_day(1)
    await read_side.wait_for(closed)
    on_loan = await BooksOnLoan.on_loan(read_side.engine)
    ada = library.member("ada")
    say(
        "Evening: the library closes for the day. Books on loan: "
        + ", ".join(f"{title} ({member.rsplit('/', 1)[-1]})" for title, member in on_loan)
        + "."
    )
    titles = ["Kindred", "Solaris", "The Left Hand of Darkness"]
    _check(
        say,
        on_loan == [(title, ada) for title in titles],
        "the books-on-loan read model shows Ada with all three books",
    )
    sent = read_side.mailbox.sent
    letters = ", ".join(notice.title for notice in sent)
    say(f"The overdue-notices reactor writes to Ada {len(sent)} times: {letters}.")
    _check(
        say,
        [(n.member, n.title, n.day) for n in sent] == [(ada, title, 1) for title in titles],
        "one overdue notice for each book still out, and no other",
    )


async def _read_side_at_closing(
    library: Library, read_side: ReadSide, last_event: str, say: Say
) -> None:
    """At closing time, the read models agree with the events; a rebuild agrees too."""
    await read_side.wait_for(last_event)
    engine = read_side.engine
    on_loan = await BooksOnLoan.on_loan(engine)
    stats = await MemberStats.table(engine)
    say(
        "The member statistics: "
        + "; ".join(
            f"{row.name}, limit {row.limit}, {row.loans} loans, {row.at_home} at home"
            for row in stats
        )
        + "."
    )
    _check(say, on_loan == [], "the books-on-loan read model shows every book back on the shelf")
    _check(
        say,
        sum(row.loans for row in stats) == 10 and all(row.at_home == 0 for row in stats),
        "the member statistics count the 10 loans of the report, exactly once, none still out",
    )
    await read_side.rebuild("member-stats", ProgressBar())
    say("The member statistics are rebuilt from the first event (a progress bar on stderr).")
    _check(
        say,
        await MemberStats.table(engine) == stats,
        "the rebuilt statistics are the ones kept up to date live",
    )


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


async def _final_state(library: Library, say: Say) -> None:
    say("At closing time, the library checks its state:")
    for book_id in ("solaris", "left-hand", "kindred"):
        book = await library.repository.load(Book, library.book(book_id))
        _check(
            say,
            book.borrowed_by is None,
            f"{book.title} is back on the shelf, lent {_times(book.times_borrowed)}",
        )
    for member_id in ("ada", "grace"):
        loans = await library.repository.read_boundary(library.loans_of(library.member(member_id)))
        _check(say, open_loans(loans) == 0, f"{member_id.title()} has no books at home")


async def _snapshots(library: Library, book_id: str, say: Say) -> None:
    subject = library.book(book_id)
    store = library.store
    history = [r async for r in store.read(subject)]
    snapshot_type = store.registry.declaration_of(BookSnapshot)
    if snapshot_type is None:
        raise DemoFailure("the snapshot model is not declared")
    since_snapshot = ReadEventsOptions(
        from_latest_event=ReadFromLatestEvent(
            subject=subject,
            type=snapshot_type.name,
            if_event_is_missing=IfEventIsMissingDuringRead.READ_EVERYTHING,
        )
    )
    tail = [r async for r in store.read(subject, since_snapshot)]
    say(
        f"Solaris has {len(history)} events now; loading it reads only {len(tail)}: its latest "
        "snapshot and what happened since."
    )
    _check(
        say,
        isinstance(tail[0].data, BookSnapshot) and len(tail) <= 10,
        "a snapshot keeps loading short",
    )
    book = await library.repository.load(Book, subject)
    _check(
        say,
        book.times_borrowed == 7
        and book.borrowed_by is None
        and book.version == history[-1].event_id,
        "the book loaded from its snapshot is the book its history tells",
    )


async def main(say: Say = print) -> int:
    """Run the story against ESDB_URL, or an embedded emulator; 0 if every check held."""
    url, token = os.environ.get("ESDB_URL"), os.environ.get("ESDB_API_TOKEN")
    with ExitStack() as stack:
        if url and token:
            say(f"Using the EventSourcingDB at {url}.")
            client = Client(base_url=url, api_token=token)
        else:
            from eventsourcingdb.emulator import Emulator

            emulator = stack.enter_context(Emulator())
            say(f"Using the embedded emulator at {emulator.get_base_url()}.")
            client = emulator.get_client()
        async with client:
            try:
                await story(client, say)
            except DemoFailure:
                say("The story does not add up.")
                return 1
    say("Done: every check held.")
    return 0


def run() -> None:
    """The command line entry point: exit with the demo's status."""
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    run()
