"""10. Projections: catching up into a SQLite read model, and resuming after a server restart.

Catch-up: 20,000 stored events over 100 subjects are applied to a read model in SQLite (one
row per subject: a running total, updated or inserted for every event), from the first event
until the newest, on a fresh database each time. Side by side:

* `ours` - a `Projection` on a `Runner` with a `SqlCheckpointStore` (aiosqlite): catch up, then
  live; batches of 500 events, each committed with its checkpoint; the lease, the checkpoint
  check and the catch-up target read first, as every start does;
* `hand-rolled` - what a user writes without it: `EventStore.observe` (the same typed events)
  in a loop doing the same SQL writes on one connection, with a checkpoint row updated and the
  transaction committed every 500 events.

Resume: a server with a durable data directory is stopped under a caught-up projection, kept
down for a second, and started again on the same port; the time from the server answering
again until the projection has committed an event written then. The runner's default
reconnect backoff (up to 1 s, doubling to 60 s, full jitter) and one of 50 ms, side by side.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from bench.harness import (
    API_TOKEN,
    OURS,
    Contender,
    EmulatorProcess,
    Measurement,
    Settings,
    event_dict,
    interleaved,
    log,
    our_worker,
)
from bench.session import Params, Result, Session, operation

if TYPE_CHECKING:
    import sqlalchemy as sa

HAND_ROLLED: Final = "hand-rolled"
FAST_BACKOFF: Final = "ours, 50 ms backoff"
EVENTS: Final = 20_000
QUICK_EVENTS: Final = 2_000
SUBJECTS: Final = 100
BATCH: Final = 500
SEED_BATCH: Final = 1_000
DOWN_SECONDS: Final = 1.0
RESUME_EVENTS: Final = 1_000


# --- worker side -----------------------------------------------------------------------------


def _totals_table() -> sa.Table:
    import sqlalchemy as sa

    return sa.Table(
        "totals",
        sa.MetaData(),
        sa.Column("subject", sa.String(200), primary_key=True),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("bookings", sa.Integer, nullable=False),
    )


async def _book(tx: Any, table: sa.Table, subject: str, amount: int) -> None:
    """The read model's one write per event: add `amount` to the subject's row."""
    updated = await tx.execute(
        table.update()
        .where(table.c.subject == subject)
        .values(total=table.c.total + amount, bookings=table.c.bookings + 1)
    )
    if not updated.rowcount:
        await tx.execute(table.insert().values(subject=subject, total=amount, bookings=1))


def _projection(prefix: str, table: sa.Table) -> Any:
    """A projection of the bench events under `prefix` into `table`."""
    from bench.rehydrate import AmountBooked
    from eventsourcingdb.models import RecordedEvent
    from eventsourcingdb.projections import Projection, handles

    class Totals(Projection):
        subject = prefix
        batch_size = BATCH

        async def setup(self, tx: Any) -> None:
            await tx.run_sync(table.metadata.create_all)

        @handles(AmountBooked)
        async def _booked(self, event: RecordedEvent[AmountBooked], tx: Any) -> None:
            await _book(tx, table, event.subject, event.data.amount)

    return Totals()


async def _sum(engine: Any, table: sa.Table) -> int:
    import sqlalchemy as sa

    async with engine.connect() as connection:
        total = (await connection.execute(sa.select(sa.func.sum(table.c.total)))).scalar()
    return int(total or 0)


@operation("projection-seed")
async def seed_operation(params: Params, session: Session) -> Result:
    """Write `count` bench events below `prefix`, over `SUBJECTS` subjects; the last id."""
    client = session.ours(params["base_url"])
    prefix: str = params["prefix"]
    count: int = params["count"]
    last = ""
    for start in range(0, count, SEED_BATCH):
        written = await client.write_events(
            [
                event_dict(f"{prefix}/{sequence % SUBJECTS}", sequence)
                for sequence in range(start, min(count, start + SEED_BATCH))
            ]
        )
        last = written[-1].event_id
    return {"last": last}


async def _catch_up_ours(store: Any, prefix: str, database: Path) -> tuple[float, int]:
    from eventsourcingdb.projections import Runner, SqlCheckpointStore

    table = _totals_table()
    async with SqlCheckpointStore.from_url(f"sqlite+aiosqlite:///{database}") as checkpoints:
        projection = _projection(prefix, table)
        runner = Runner(store, checkpoints=checkpoints)
        runner.add(projection)
        started = time.perf_counter()
        await runner.start()
        await projection.wait_until_caught_up(timeout=600)
        seconds = time.perf_counter() - started
        await runner.stop()
        return seconds, await _sum(checkpoints.engine, table)


async def _catch_up_by_hand(
    store: Any, prefix: str, database: Path, last: str
) -> tuple[float, int]:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    from eventsourcingdb import ObserveEventsOptions

    table = _totals_table()
    checkpoints = sa.Table(
        "checkpoints",
        table.metadata,
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("event_id", sa.BigInteger, nullable=False),
    )
    engine = create_async_engine(f"sqlite+aiosqlite:///{database}")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(table.metadata.create_all)
            await connection.execute(checkpoints.insert().values(name="totals", event_id=-1))
        started = time.perf_counter()
        async with engine.connect() as connection:
            await connection.begin()
            pending = 0
            options = ObserveEventsOptions(recursive=True)
            async for recorded in store.observe(prefix, options):
                await _book(connection, table, recorded.subject, recorded.data.amount)
                pending += 1
                if pending == BATCH or recorded.event_id == last:
                    await connection.execute(
                        checkpoints.update().values(event_id=int(recorded.event_id))
                    )
                    await connection.commit()
                    pending = 0
                    if recorded.event_id == last:
                        break
                    await connection.begin()
        seconds = time.perf_counter() - started
        return seconds, await _sum(engine, table)
    finally:
        await engine.dispose()


@operation("projection-catch-up")
async def catch_up_operation(params: Params, session: Session) -> Result:
    """Catch a fresh SQLite read model up with the events below `prefix`; seconds, and the sum
    of the totals (to check both sides did the same)."""
    from bench.rehydrate import store

    chosen = store(session, params["base_url"])
    with tempfile.TemporaryDirectory(prefix="bench-projection-") as directory:
        database = Path(directory) / "read-model.db"
        if params["kind"] == OURS:
            seconds, total = await _catch_up_ours(chosen, params["prefix"], database)
        else:
            seconds, total = await _catch_up_by_hand(
                chosen, params["prefix"], database, params["last"]
            )
    return {"seconds": seconds, "total": total}


@operation("projection-resume")
async def resume_operation(params: Params, session: Session) -> Result:
    """Restart a durable server under a caught-up projection; seconds from the server answering
    again until an event written then is committed, and the reconnection attempts."""
    from bench.rehydrate import store
    from eventsourcingdb import Client
    from eventsourcingdb.aggregates import Backoff
    from eventsourcingdb.projections import Runner, SqlCheckpointStore

    prefix = "/bench/resume"
    reconnect = None if params["backoff"] is None else Backoff(params["backoff"], 60.0)
    with tempfile.TemporaryDirectory(prefix="bench-resume-") as directory:
        data = Path(directory) / "data"
        data.mkdir()
        with EmulatorProcess("resume", data_directory=data) as server:
            async with Client(server.base_url, API_TOKEN, timeout=30.0) as client:
                for start in range(0, RESUME_EVENTS, SEED_BATCH):
                    await client.write_events(
                        [
                            event_dict(f"{prefix}/{sequence % SUBJECTS}", sequence)
                            for sequence in range(start, start + SEED_BATCH)
                        ]
                    )
                chosen = store(session, server.base_url)
                database = Path(directory) / "read-model.db"
                table = _totals_table()
                async with SqlCheckpointStore.from_url(f"sqlite+aiosqlite:///{database}") as cps:
                    projection = _projection(prefix, table)
                    runner = Runner(chosen, checkpoints=cps, reconnect=reconnect)
                    runner.add(projection)
                    async with runner:
                        await projection.wait_until_caught_up(timeout=120)
                        # in a thread: the runner lives through the downtime, retrying
                        answering = await asyncio.to_thread(server.restart, DOWN_SECONDS)
                        async with Client(server.base_url, API_TOKEN) as writer:
                            written = await writer.write_events(
                                [event_dict(f"{prefix}/0", RESUME_EVENTS)]
                            )
                        await projection.wait_for(written[0].event_id, timeout=120)
                        seconds = time.perf_counter() - answering
                        retries = projection.status.retries
    return {"seconds": seconds, "retries": retries}


# --- orchestrator side -----------------------------------------------------------------------


def run(settings: Settings) -> list[Measurement]:
    count = settings.size(EVENTS, QUICK_EVENTS)
    log(
        f"projection: catch-up of {count:,} events into SQLite, and resume after a restart, "
        f"{settings.repetitions} repetitions"
    )
    prefix = "/bench/projection"
    with EmulatorProcess("projection") as emulator, our_worker() as worker:
        seeded = worker.call(
            "projection-seed", base_url=emulator.base_url, prefix=prefix, count=count
        )
        expected: int | None = None
        group = [Contender(OURS, worker, OURS), Contender(HAND_ROLLED, worker, HAND_ROLLED)]

        def catch_up(contender: Contender) -> dict[str, float]:
            nonlocal expected
            result = worker.call(
                "projection-catch-up",
                kind=contender.kind,
                base_url=emulator.base_url,
                prefix=prefix,
                last=seeded["last"],
            )
            if expected is None:
                expected = result["total"]
            if result["total"] != expected:
                raise RuntimeError(f"{contender.label} ended at {result}, expected {expected}")
            return {"rate": count / result["seconds"]}

        for contender in group:  # warm code paths, the connection, the API version probe
            catch_up(contender)
        rates = interleaved(group, settings.repetitions, catch_up)["rate"]

        resumes = [Contender(OURS, worker, "default"), Contender(FAST_BACKOFF, worker, "fast")]
        attempts: dict[str, list[int]] = {}

        def resume(contender: Contender) -> dict[str, float]:
            backoff = None if contender.kind == "default" else 0.05
            result = worker.call("projection-resume", backoff=backoff)
            attempts.setdefault(contender.label, []).append(result["retries"])
            return {"seconds": result["seconds"]}

        resumed = interleaved(resumes, settings.repetitions, resume)["seconds"]
    return [
        Measurement(
            id="projection.catch-up",
            group="projection",
            title=f"projection catch-up into SQLite, {count:,} events",
            unit="events/s",
            higher_is_better=True,
            samples=rates,
            ratios_of=((OURS, HAND_ROLLED),),
            notes=(
                f"one row update (or insert) per event, a commit with the checkpoint every "
                f"{BATCH} events; hand-rolled: EventStore.observe and the same SQL on one "
                "connection"
            ),
            details={"events": count, "subjects": SUBJECTS, "batch": BATCH},
        ),
        Measurement(
            id="projection.resume",
            group="projection",
            title=f"resume after a server restart ({DOWN_SECONDS:.0f} s down)",
            unit="s",
            higher_is_better=False,
            samples=resumed,
            ratios_of=(),
            notes=(
                "from the restarted server answering until an event written then is committed; "
                "the default reconnect backoff, and one starting at 50 ms"
            ),
            details={"down_seconds": DOWN_SECONDS, "reconnect_attempts": attempts},
        ),
    ]
