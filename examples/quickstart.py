"""A two-minute tour of the client on the embedded emulator (or a real server).

Run it with `./scripts/demo`. Set ESDB_URL and ESDB_API_TOKEN to run it against a real
EventSourcingDB instead of the embedded emulator. It exits non-zero if anything it checks is wrong.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from contextlib import ExitStack

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from eventsourcingdb import (
    Bound,
    BoundType,
    Client,
    ConcurrencyError,
    IsSubjectOnEventId,
    IsSubjectPristine,
    ObserveEventsOptions,
    ReadEventsOptions,
)
from eventsourcingdb.emulator import Emulator

SOURCE = "https://library.eventsourcingdb.io"
ACQUIRED = "io.eventsourcingdb.library.book-acquired"
BORROWED = "io.eventsourcingdb.library.book-borrowed"


def check(condition: bool, what: str) -> None:
    """Say what was checked; stop the demo with exit code 1 if it does not hold."""
    if not condition:
        print(f"  ✗ {what}")
        raise SystemExit(1)
    print(f"  ✓ {what}")


async def tour(client: Client, *, verification_key: Ed25519PublicKey | None) -> None:
    """Write, conflict, read, query and observe: the client's main calls in one story."""
    run = uuid.uuid4().hex[:8]
    book = f"/demo-{run}/books/42"

    await client.ping()
    await client.verify_api_token()
    print("The server answers, and our API token is good.")

    written = await client.write_events(
        events=[
            {
                "source": SOURCE,
                "subject": book,
                "type": ACQUIRED,
                "data": {"title": "2001 – A Space Odyssey", "author": "Arthur C. Clarke"},
            }
        ],
        preconditions=[IsSubjectPristine(book)],
    )
    acquired = written[0]
    print(f"The library acquires a book: event {acquired.event_id} on {acquired.subject}.")
    check(acquired.data["title"] == "2001 – A Space Odyssey", "the server returns what we wrote")

    borrow = {"source": SOURCE, "subject": book, "type": BORROWED, "data": {"member": "/m/7"}}
    await client.write_events(
        events=[borrow], preconditions=[IsSubjectOnEventId(book, acquired.event_id)]
    )
    print("Member 7 borrows it, on the condition that nothing happened to the book meanwhile.")
    try:
        await client.write_events(
            events=[{**borrow, "data": {"member": "/m/9"}}],
            preconditions=[IsSubjectOnEventId(book, acquired.event_id)],
        )
    except ConcurrencyError:
        print("Member 9 tries the same with an outdated view and is refused.")
    else:
        check(False, "a stale precondition is refused")

    history = [
        event
        async for event in client.read_events(
            subject=book, options=ReadEventsOptions(recursive=False)
        )
    ]
    check([e.type for e in history] == [ACQUIRED, BORROWED], "the book's history has two events")
    for event in history:
        event.verify_hash()
        if verification_key is not None:
            event.verify_signature(verification_key)
    signed = " and so does its signature" if verification_key else ""
    check(True, f"every event's hash verifies{signed}")

    rows = [
        row
        async for row in client.run_eventql_query(
            query=f"FROM e IN events WHERE e.subject == '{book}' "
            "PROJECT INTO { type: e.type, id: e.id }"
        )
    ]
    check(len(rows) == 2, f"EventQL finds both events: {rows}")

    observed = client.observe_events(
        subject=f"/demo-{run}",
        options=ObserveEventsOptions(
            recursive=True, lower_bound=Bound(id=acquired.event_id, type=BoundType.EXCLUSIVE)
        ),
    )
    first = await anext(observed)
    check(first.type == BORROWED, "an observer replays what happened after the acquisition")
    await client.write_events(
        events=[
            {
                "source": SOURCE,
                "subject": f"/demo-{run}/books/7",
                "type": ACQUIRED,
                "data": {"title": "Solaris", "author": "Stanisław Lem"},
            }
        ]
    )
    live = await asyncio.wait_for(anext(observed), timeout=10)
    await observed.aclose()
    check(live.data["title"] == "Solaris", "and then sees a new book arrive live")
    print("Done: the library's story is consistent.")


async def main() -> None:
    """Run the tour against ESDB_URL, or against an embedded emulator with signing."""
    url, token = os.environ.get("ESDB_URL"), os.environ.get("ESDB_API_TOKEN")
    with ExitStack() as stack:
        if url and token:
            print(f"Using the EventSourcingDB at {url}.")
            client = Client(base_url=url, api_token=token)
            key: Ed25519PublicKey | None = None
        else:
            emulator = stack.enter_context(Emulator().with_signing_key())
            print(f"Using the embedded emulator at {emulator.get_base_url()}.")
            client = Client(base_url=emulator.get_base_url(), api_token=emulator.get_api_token())
            key = emulator.get_verification_key()
        async with client:
            await tour(client, verification_key=key)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
