"""A checkpoint names its event by id and hash: a reset or other store is never silently skipped.

The emulator's `reset()` plays a store that was wiped: ids start again at 0, with other hashes.
"""

from __future__ import annotations

from typing import Any

import pytest

from eventsourcingdb.emulator import Emulator
from eventsourcingdb.models import EventStore
from eventsourcingdb.projections import (
    MemoryCheckpointStore,
    OnStoreMismatch,
    Phase,
    ProjectionFailedError,
    SqlCheckpointStore,
    StoreMismatchError,
)
from tests.projections.domain import OnLoan, SqlOnLoan, lend, table_rows

Make = Any


async def _run_once(make_runner: Make, checkpoints: Any, projection: Any) -> None:
    runner = make_runner(checkpoints=checkpoints)
    runner.add(projection)
    async with runner:
        await projection.wait_until_caught_up()


@pytest.mark.esdb_fresh_store
async def test_a_checkpoint_beyond_the_newest_event_is_refused(
    store: EventStore, esdb_server: Emulator, make_runner: Make
) -> None:
    checkpoints = MemoryCheckpointStore()
    await lend(store, range(5))
    await _run_once(make_runner, checkpoints, OnLoan())
    esdb_server.reset()
    runner = make_runner(checkpoints=checkpoints)
    on_loan = runner.add(OnLoan())
    async with runner:
        with pytest.raises(StoreMismatchError) as mismatch:
            await on_loan.wait_until_caught_up()
    error = mismatch.value
    assert isinstance(error, ProjectionFailedError)
    assert (error.projection, error.event_id, error.found_hash) == ("on-loan", "4", None)
    assert error.newest_event_id is None
    assert "the server has no event 4 under '/books'" in str(error)
    assert "Resuming would skip events" in str(error)
    assert on_loan.status.phase is Phase.FAILED
    assert on_loan.status.error is error
    assert on_loan.loans == {}, "nothing was applied"


@pytest.mark.esdb_fresh_store
async def test_a_store_that_grew_again_past_the_checkpoint_is_refused_by_its_hash(
    store: EventStore, esdb_server: Emulator, make_runner: Make
) -> None:
    checkpoints = MemoryCheckpointStore()
    await lend(store, range(3))
    await _run_once(make_runner, checkpoints, OnLoan())
    expected = await checkpoints.load("on-loan")
    assert expected is not None
    esdb_server.reset()
    await lend(store, range(10), "/members/grace")
    runner = make_runner(checkpoints=checkpoints)
    on_loan = runner.add(OnLoan())
    async with runner:
        with pytest.raises(StoreMismatchError) as mismatch:
            await on_loan.wait_until_caught_up()
    assert mismatch.value.expected_hash == expected.event_hash
    assert mismatch.value.found_hash not in (None, expected.event_hash)
    assert mismatch.value.newest_event_id == "9"
    assert on_loan.loans == {}


@pytest.mark.esdb_fresh_store
async def test_a_store_reset_under_a_running_projection_stops_it(
    store: EventStore, esdb_server: Emulator, make_runner: Make
) -> None:
    last = await lend(store, range(3))
    runner = make_runner()
    on_loan = runner.add(OnLoan())
    async with runner:
        await on_loan.wait_for(last)
        esdb_server.reset()  # ends the observe stream; the runner reconnects and checks
        await lend(store, range(10), "/members/grace")
        with pytest.raises(StoreMismatchError):
            await on_loan.wait_until_caught_up(timeout=10)
    assert on_loan.status.retries >= 1
    assert set(on_loan.loans.values()) == {"/members/ada"}, "nothing of the new store applied"


class Rebuilding(SqlOnLoan):
    on_store_mismatch = OnStoreMismatch.REBUILD


@pytest.mark.esdb_fresh_store
async def test_the_rebuild_policy_replays_the_new_store_into_an_emptied_read_model(
    store: EventStore,
    esdb_server: Emulator,
    make_runner: Make,
    sqlite_checkpoints: SqlCheckpointStore,
) -> None:
    await lend(store, range(5))
    await _run_once(make_runner, sqlite_checkpoints, Rebuilding())
    esdb_server.reset()
    await lend(store, range(2), "/members/grace")
    model = Rebuilding()
    await _run_once(make_runner, sqlite_checkpoints, model)
    assert model.status.phase is Phase.STOPPED
    assert await table_rows(sqlite_checkpoints.engine, model.table) == [
        ("/books/0", "/members/grace", 1),
        ("/books/1", "/members/grace", 1),
    ]
