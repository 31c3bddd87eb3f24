"""Rebuilds: in place (reset, then replay) or into a new projection, with progress, while the
other projections keep running."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest

from eventsourcingdb.emulator import Emulator
from eventsourcingdb.errors import InvalidArgumentError
from eventsourcingdb.models import EventStore, RecordedEvent
from eventsourcingdb.projections import (
    MemoryCheckpointStore,
    Phase,
    Progress,
    ProgressBar,
    ProjectionDefinitionError,
    ProjectionNotFoundError,
    SqlCheckpointStore,
    StoreMismatchError,
    handles,
)
from tests.projections.conftest import eventually
from tests.projections.domain import BookBorrowed, OnLoan, SqlOnLoan, lend, table_rows

Make = Any


async def test_a_rebuild_in_place_replays_into_the_emptied_read_model(
    store: EventStore, make_runner: Make, sql_checkpoints: SqlCheckpointStore
) -> None:
    await lend(store, range(30))
    await lend(store, range(10))
    runner = make_runner(checkpoints=sql_checkpoints)
    model = SqlOnLoan()
    model.batch_size = 7
    runner.add(model)
    async with runner:
        await model.wait_until_caught_up()
        before = await table_rows(sql_checkpoints.engine, model.table)
        progress: list[Progress] = []
        rebuilt = await runner.rebuild("sql-on-loan", progress=progress.append, timeout=30)
        assert rebuilt is model
        assert model.status.phase is Phase.LIVE
        after = await table_rows(sql_checkpoints.engine, model.table)
    assert after == before, "the same read model, not the events applied twice"
    assert progress[-1].done
    assert progress[-1].processed == 40
    assert (progress[0].start, progress[0].target) == (None, 39)
    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions)
    assert fractions[0] < 1.0


async def test_a_rebuild_into_a_new_projection_swaps_it_in_once_caught_up(
    store: EventStore, make_runner: Make, sql_checkpoints: SqlCheckpointStore
) -> None:
    last = await lend(store, range(12))
    runner = make_runner(checkpoints=sql_checkpoints)
    old = runner.add(SqlOnLoan())
    async with runner:
        await old.wait_for(last)
        bar = io.StringIO()
        new = SqlOnLoan("on_loan_v2", name="sql-on-loan-v2")
        swapped = await runner.rebuild("sql-on-loan", into=new, progress=ProgressBar(bar))
        assert swapped is new
        assert runner.projections == (new,)
        with pytest.raises(ProjectionNotFoundError):
            runner.projection("sql-on-loan")
        later = await lend(store, range(12, 13))
        await new.wait_for(later)
    assert "100%" in bar.getvalue()
    assert bar.getvalue().endswith("\n")
    old_rows = await table_rows(sql_checkpoints.engine, old.table)
    new_rows = await table_rows(sql_checkpoints.engine, new.table)
    assert [row for row in new_rows if row[0] != "/books/12"] == old_rows
    assert len(old_rows) == 12
    assert len(new_rows) == 13


async def test_other_projections_stay_live_during_a_rebuild(
    store: EventStore, make_runner: Make, sql_checkpoints: SqlCheckpointStore
) -> None:
    gate = asyncio.Event()

    class Slow(SqlOnLoan):
        @handles(BookBorrowed)
        async def _borrowed(self, event: RecordedEvent[BookBorrowed], tx: Any) -> None:
            await gate.wait()
            await super()._borrowed(event, tx)

    await lend(store, range(5))
    runner = make_runner(checkpoints=sql_checkpoints)
    slow = Slow()
    runner.add(slow)
    on_loan = runner.add(OnLoan(), checkpoints=MemoryCheckpointStore())  # SQLite has one writer
    async with runner:
        gate.set()
        await runner.wait_until_caught_up()
        gate.clear()
        rebuilding = asyncio.create_task(runner.rebuild("slow", timeout=30))
        await eventually(lambda: slow.status.phase is Phase.CATCHING_UP)
        last = await lend(store, range(5, 6), "/members/grace")
        await on_loan.wait_for(last)
        assert on_loan.loans["/books/5"] == "/members/grace"
        assert not rebuilding.done()
        assert slow.status.phase is Phase.CATCHING_UP
        gate.set()
        await rebuilding
        await slow.wait_for(last)
    rows = await table_rows(sql_checkpoints.engine, slow.table)
    assert len(rows) == 6


@pytest.mark.esdb_fresh_store
async def test_a_rebuild_brings_back_a_projection_stopped_by_a_store_mismatch(
    store: EventStore,
    esdb_server: Emulator,
    make_runner: Make,
    sqlite_checkpoints: SqlCheckpointStore,
) -> None:
    await lend(store, range(4))
    runner = make_runner(checkpoints=sqlite_checkpoints)
    model = runner.add(SqlOnLoan())
    async with runner:
        await model.wait_until_caught_up()
    esdb_server.reset()
    last = await lend(store, range(2), "/members/grace")
    runner = make_runner(checkpoints=sqlite_checkpoints)
    model = runner.add(SqlOnLoan())
    async with runner:
        with pytest.raises(StoreMismatchError):
            await model.wait_until_caught_up()
        await runner.rebuild("sql-on-loan", timeout=30)
        await model.wait_for(last)
        assert model.status.phase is Phase.LIVE
    assert await table_rows(sqlite_checkpoints.engine, model.table) == [
        ("/books/0", "/members/grace", 1),
        ("/books/1", "/members/grace", 1),
    ]


async def test_a_rebuild_needs_a_way_to_empty_the_read_model(
    store: EventStore, make_runner: Make
) -> None:
    runner = make_runner()
    runner.add(OnLoan())
    with pytest.raises(InvalidArgumentError, match="running runner"):
        await runner.rebuild("on-loan")
    async with runner:
        with pytest.raises(ProjectionDefinitionError, match="define reset"):
            await runner.rebuild("on-loan")
        with pytest.raises(ProjectionNotFoundError, match="'on-loan'"):
            await runner.rebuild("nothing")
