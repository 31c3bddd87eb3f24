"""A process that runs a SQLite read model on a `Runner` until a signal stops it.

`python -m tests.projections.runner_process URL TOKEN DATABASE` catches up on `/books` in
batches of `BATCH` events, slowly (`PAUSE` seconds per event), printing `applying <id>` before
each event, then `stopped` once `Runner.run()` has returned. The signal tests send it SIGTERM or
SIGINT mid-batch and read what it committed.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from eventsourcingdb.client import Client
from eventsourcingdb.models import EventStore, RecordedEvent
from eventsourcingdb.projections import Runner, SqlCheckpointStore, handles
from tests.projections.domain import REGISTRY, SOURCE, BookBorrowed, SqlOnLoan

BATCH = 10
PAUSE = 0.05
NAME = "slow-on-loan"


class SlowOnLoan(SqlOnLoan):
    """`SqlOnLoan`, telling each event it applies and taking its time over it."""

    name = NAME
    batch_size = BATCH
    batch_seconds = 5.0

    @handles(BookBorrowed)
    async def _borrowed(self, event: RecordedEvent[BookBorrowed], tx: Any) -> None:
        print(f"applying {event.event_id}", flush=True)
        await asyncio.sleep(PAUSE)
        await super()._borrowed(event, tx)


async def _main(url: str, token: str, database: str) -> None:
    async with (
        Client(base_url=url, api_token=token) as client,
        SqlCheckpointStore.from_url(f"sqlite+aiosqlite:///{database}") as checkpoints,
    ):
        runner = Runner(
            EventStore(client, source=SOURCE, registry=REGISTRY), checkpoints=checkpoints
        )
        runner.add(SlowOnLoan())
        await runner.run()
    print("stopped", flush=True)


if __name__ == "__main__":
    asyncio.run(_main(*sys.argv[1:4]))
