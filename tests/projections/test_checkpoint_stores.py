"""Every checkpoint store keeps the protocol: checkpoints, resets, leases, parked events.

The same tests run on the in-memory store, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from eventsourcingdb.errors import InvalidArgumentError
from eventsourcingdb.projections import (
    Checkpoint,
    CheckpointStore,
    LeaseLostError,
    ParkedEvent,
)

FIRST = Checkpoint("3", "a" * 64)
SECOND = Checkpoint("7", "b" * 64)


def _parked(event_id: str, error: str = "boom") -> ParkedEvent:
    return ParkedEvent(
        event_id=event_id,
        event_type="io.eventsourcingdb.tests.thing-happened",
        subject="/things/1",
        error_type="builtins.KeyError",
        error=error,
        attempts=4,
        parked_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


async def test_a_new_projection_has_no_checkpoint(checkpoints: CheckpointStore) -> None:
    await checkpoints.open()
    assert await checkpoints.load("nothing-yet") is None


async def test_a_saved_checkpoint_is_loaded_and_replaced(checkpoints: CheckpointStore) -> None:
    await checkpoints.open()
    async with checkpoints.transaction() as tx:
        await checkpoints.save(tx, "p", FIRST, owner=None)
    assert await checkpoints.load("p") == FIRST
    async with checkpoints.transaction() as tx:
        await checkpoints.save(tx, "p", SECOND, owner=None)
    assert await checkpoints.load("p") == SECOND
    assert await checkpoints.load("other") is None


async def test_opening_twice_is_harmless(checkpoints: CheckpointStore) -> None:
    await checkpoints.open()
    await checkpoints.open()
    assert await checkpoints.load("p") is None


async def test_a_failed_transaction_keeps_the_old_checkpoint_where_stores_are_transactional(
    checkpoints: CheckpointStore,
) -> None:
    await checkpoints.open()
    async with checkpoints.transaction() as tx:
        await checkpoints.save(tx, "p", FIRST, owner=None)

    async def fail_after_saving() -> None:
        async with checkpoints.transaction() as tx:
            await checkpoints.save(tx, "p", SECOND, owner=None)
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        await fail_after_saving()
    expected = FIRST if checkpoints.transactional else SECOND
    assert await checkpoints.load("p") == expected


async def test_reset_forgets_the_checkpoint_and_the_parked_events(
    checkpoints: CheckpointStore,
) -> None:
    await checkpoints.open()
    async with checkpoints.transaction() as tx:
        await checkpoints.save(tx, "p", SECOND, owner=None)
        await checkpoints.park(tx, "p", _parked("5"))
        await checkpoints.park(tx, "other", _parked("6"))
    async with checkpoints.transaction() as tx:
        await checkpoints.reset(tx, "p", owner=None)
    assert await checkpoints.load("p") is None
    assert await checkpoints.parked("p") == []
    assert [p.event_id for p in await checkpoints.parked("other")] == ["6"]


async def test_parked_events_are_listed_in_event_order_and_replaced_by_id(
    checkpoints: CheckpointStore,
) -> None:
    await checkpoints.open()
    async with checkpoints.transaction() as tx:
        await checkpoints.park(tx, "p", _parked("12"))
        await checkpoints.park(tx, "p", _parked("9"))
        await checkpoints.park(tx, "p", _parked("12", error="again"))
    parked = await checkpoints.parked("p")
    assert [(p.event_id, p.error) for p in parked] == [("9", "boom"), ("12", "again")]
    assert parked[0] == _parked("9")
    async with checkpoints.transaction() as tx:
        await checkpoints.unpark(tx, "p", "9")
        await checkpoints.unpark(tx, "p", "404")
    assert [p.event_id for p in await checkpoints.parked("p")] == ["12"]


async def test_one_owner_holds_a_lease_until_it_runs_out_or_is_released(
    checkpoints: CheckpointStore,
) -> None:
    await checkpoints.open()
    assert await checkpoints.acquire("p", "a", 30)
    assert await checkpoints.acquire("p", "a", 30), "the holder extends its lease"
    assert not await checkpoints.acquire("p", "b", 30)
    await checkpoints.release("p", "b")  # not b's to release
    assert not await checkpoints.acquire("p", "b", 30)
    await checkpoints.release("p", "a")
    assert await checkpoints.acquire("p", "b", 0.2)
    assert not await checkpoints.acquire("p", "a", 30)
    await asyncio.sleep(0.3)
    assert await checkpoints.acquire("p", "a", 30), "b's lease ran out"
    assert await checkpoints.acquire("q", "b", 30), "leases are per projection"


async def test_only_the_lease_holder_may_save(checkpoints: CheckpointStore) -> None:
    await checkpoints.open()
    assert await checkpoints.acquire("p", "a", 30)
    async with checkpoints.transaction() as tx:
        await checkpoints.save(tx, "p", FIRST, owner="a")
    with pytest.raises(LeaseLostError) as lost:
        async with checkpoints.transaction() as tx:
            await checkpoints.save(tx, "p", SECOND, owner="b")
    assert lost.value.projection == "p"
    assert lost.value.owner == "b"
    with pytest.raises(LeaseLostError):
        async with checkpoints.transaction() as tx:
            await checkpoints.reset(tx, "p", owner="b")
    assert await checkpoints.load("p") == FIRST


async def test_concurrent_acquirers_get_one_lease(checkpoints: CheckpointStore) -> None:
    await checkpoints.open()
    results = await asyncio.gather(
        *(checkpoints.acquire("contested", f"owner-{n}", 30) for n in range(5))
    )
    assert results.count(True) == 1


def test_checkpoints_check_their_values() -> None:
    with pytest.raises(InvalidArgumentError, match="event id"):
        Checkpoint("-1", "abc")
    with pytest.raises(InvalidArgumentError, match="must not be empty"):
        Checkpoint("1", "")
    assert Checkpoint("41", "h").position == 41
