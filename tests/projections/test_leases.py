"""Scale-out: runners in several processes share a checkpoint store; one instance of a projection
is active (it holds the lease), the others stand by, take over when it lapses, and a late
commit of an instance that lost its lease is rolled back (the checkpoint row fences it).

Each runner gets a checkpoint store of its own on the same database, as separate processes
would have."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from eventsourcingdb.models import EventStore, RecordedEvent
from eventsourcingdb.projections import (
    LeaseLostError,
    MemoryCheckpointStore,
    Phase,
    Projection,
    SqlCheckpointStore,
    handles,
)
from tests.projections.conftest import eventually
from tests.projections.domain import BookBorrowed, OnLoan, SqlOnLoan, lend, table_rows

Make = Any
TTL = 0.6


async def _phases(*projections: Projection) -> list[Phase]:
    """The phases once every projection is either live or standing by."""
    settled = (Phase.LIVE, Phase.STANDBY)
    await eventually(lambda: all(p.status.phase in settled for p in projections))
    return [projection.status.phase for projection in projections]


async def test_two_runners_share_a_projection_one_active_at_a_time(
    store: EventStore, make_runner: Make, sql_url: tuple[str, dict[str, Any]]
) -> None:
    url, options = sql_url
    await lend(store, range(10))
    async with (
        SqlCheckpointStore.from_url(url, **options) as first_store,
        SqlCheckpointStore.from_url(url, **options) as second_store,
    ):
        first = make_runner(checkpoints=first_store, owner="first", lease_ttl=TTL)
        second = make_runner(checkpoints=second_store, owner="second", lease_ttl=TTL)
        one, other = first.add(SqlOnLoan()), second.add(SqlOnLoan())
        await first.start()
        await second.start()
        try:
            assert sorted(await _phases(one, other)) == [Phase.LIVE, Phase.STANDBY]
            active, standby = (first, second) if one.status.phase is Phase.LIVE else (second, first)
            last = await lend(store, range(10, 20))
            await standby.wait_for(last)  # a standby reads the shared checkpoint
            await active.stop()
            last = await lend(store, range(20, 30))
            await standby.wait_for(last)
            assert standby.status().projections[0].phase is Phase.LIVE
        finally:
            await first.stop()
            await second.stop()
        rows = await table_rows(first_store.engine, one.table)
    assert [(book, times) for book, _, times in rows] == [
        (f"/books/{n}", 1) for n in sorted(range(30), key=str)
    ], "every event applied exactly once, across both instances"


class _Freezable(SqlCheckpointStore):
    """A store whose lease renewals hang while `frozen`: a process that stopped running."""

    frozen = False

    async def acquire(self, name: str, owner: str, ttl: float) -> bool:
        await eventually(lambda: not self.frozen)
        return await super().acquire(name, owner, ttl)


async def test_an_instance_that_lost_its_lease_cannot_commit(
    store: EventStore, make_runner: Make, postgres_url: tuple[str, dict[str, Any]]
) -> None:
    url, options = postgres_url
    entered, release = asyncio.Event(), asyncio.Event()

    class Stalling(SqlOnLoan):
        name = "sql-on-loan"
        stall = True

        @handles(BookBorrowed)
        async def _borrowed(self, event: RecordedEvent[BookBorrowed], tx: Any) -> None:
            if self.stall:
                entered.set()
                await release.wait()
            await super()._borrowed(event, tx)

    frozen_store = _Freezable.from_url(url, **options)
    assert isinstance(frozen_store, _Freezable)
    async with frozen_store, SqlCheckpointStore.from_url(url, **options) as healthy_store:
        frozen = make_runner(checkpoints=frozen_store, owner="frozen", lease_ttl=TTL)
        healthy = make_runner(checkpoints=healthy_store, owner="healthy", lease_ttl=TTL)
        stalling = frozen.add(Stalling())
        taking_over = healthy.add(SqlOnLoan())
        await frozen.start()
        await _phases(stalling)
        await healthy.start()
        try:
            last = await lend(store, range(3))
            await entered.wait()  # the first instance is in the middle of a batch ...
            frozen_store.frozen = True  # ... and stops renewing its lease
            await taking_over.wait_for(last)  # the second took over and applied everything
            release.set()
            stalling.stall = False
            frozen_store.frozen = False
            await eventually(lambda: stalling.status.phase is Phase.STANDBY)
            more = await lend(store, range(3, 5))
            await taking_over.wait_for(more)
        finally:
            await frozen.stop()
            await healthy.stop()
        rows = await table_rows(healthy_store.engine, taking_over.table)
    assert [(book, times) for book, _, times in rows] == [(f"/books/{n}", 1) for n in range(5)]
    assert isinstance(stalling.status.error, LeaseLostError)
    assert "the batch was rolled back" in str(stalling.status.error)


async def test_runners_of_one_process_share_leases_of_a_memory_store(
    store: EventStore, make_runner: Make
) -> None:
    checkpoints = MemoryCheckpointStore()
    await lend(store, range(3))
    first = make_runner(checkpoints=checkpoints, owner="first", lease_ttl=TTL)
    second = make_runner(checkpoints=checkpoints, owner="second", lease_ttl=TTL)
    one, other = first.add(OnLoan()), second.add(OnLoan())
    async with first, second:
        phases = await _phases(one, other)
    assert sorted(phases) == [Phase.LIVE, Phase.STANDBY]


@pytest.mark.parametrize("leases", [True, False])
def test_the_owner_names_this_instance(store: EventStore, make_runner: Make, leases: bool) -> None:
    runner = make_runner(leases=leases)
    if leases:
        assert runner.owner is not None
        assert runner.owner.count(":") == 2
    else:
        assert runner.owner is None
