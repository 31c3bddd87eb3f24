"""Snapshots: written in the same call when due, and loading reads only what came after."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field

import pytest
from pydantic import BaseModel

from eventsourcingdb.aggregates import (
    Aggregate,
    AggregateDefinitionError,
    Repository,
    Snapshots,
    handles,
)
from eventsourcingdb.models import EventRegistry, EventStore
from tests.aggregates.conftest import ReadCounter, read_all
from tests.aggregates.domain import (
    PREFIX,
    REGISTRY,
    SOURCE,
    Counter,
    CounterSnapshot,
    Incremented,
    SnapshottingCounter,
)
from tests.twins import new_repository, new_store

SNAPSHOT_TYPE = f"{PREFIX}.counter-snapshot.v2"


async def _increment_one_by_one(repo: Repository, subject: str, times: int) -> None:
    for _ in range(times):
        await repo.update(SnapshottingCounter, subject, lambda c: c.increment(), create=True)


async def test_a_snapshot_is_written_with_the_event_that_makes_it_due(
    repo: Repository, store: EventStore, root: str
) -> None:
    subject = f"{root}/c"
    await _increment_one_by_one(repo, subject, 4)
    assert [e.type for e in await read_all(store, subject)].count(SNAPSHOT_TYPE) == 0
    counter = await repo.load(SnapshottingCounter, subject)
    counter.increment()
    written = await repo.save(counter)
    assert [recorded.data for recorded in written] == [Incremented(by=1)]  # not the snapshot
    stored = await read_all(store, subject)
    assert [e.type for e in stored][-2:] == [f"{PREFIX}.incremented", SNAPSHOT_TYPE]
    assert stored[-1].data == {"value": 5, "history": [1] * 5, "maximum": 1_000_000}
    assert counter.version == stored[-1].event_id  # the snapshot is the latest event now


async def test_a_batch_that_makes_a_snapshot_due_ends_with_it(
    repo: Repository, store: EventStore, root: str
) -> None:
    counter = SnapshottingCounter.new(f"{root}/c")
    for _ in range(12):
        counter.increment()
    await repo.save(counter)
    types = [e.type for e in await read_all(store, f"{root}/c")]
    assert types == [f"{PREFIX}.incremented"] * 12 + [SNAPSHOT_TYPE]


async def test_loading_reads_only_the_events_after_the_last_snapshot(
    repo: Repository, store: EventStore, root: str, read_counter: ReadCounter
) -> None:
    subject = f"{root}/c"
    await _increment_one_by_one(repo, subject, 23)
    stored = await read_all(store, subject)
    assert [e.type for e in stored].count(SNAPSHOT_TYPE) == 4  # after 5, 10, 15 and 20 events
    read_counter.events.clear()

    counter = await repo.load(SnapshottingCounter, subject)
    assert [e.type for e in read_counter.events] == [SNAPSHOT_TYPE] + [f"{PREFIX}.incremented"] * 3
    assert (counter.value, counter.history) == (23, [1] * 23)
    assert counter.version == stored[-1].event_id


async def test_the_state_from_a_snapshot_equals_the_state_from_all_events(
    repo: Repository, store: EventStore, root: str
) -> None:
    subject = f"{root}/c"
    counter = SnapshottingCounter.new(subject)
    for amount in range(1, 8):
        counter.increment(amount)
    counter.reset()
    counter.increment(9)
    await repo.save(counter)
    from_snapshot = await repo.load(SnapshottingCounter, subject)

    class Replaying(Counter):
        """The same aggregate without snapshots: it replays everything, snapshots skipped."""

        @handles(CounterSnapshot)
        def _ignore(self, event: CounterSnapshot) -> None:
            pass

    replayed = await repo.load(Replaying, subject)
    assert (from_snapshot.value, from_snapshot.history) == (replayed.value, replayed.history)
    assert (from_snapshot.value, from_snapshot.history) == (9, [*range(1, 8), 9])


async def test_the_count_since_the_snapshot_survives_loading(
    repo: Repository, store: EventStore, root: str
) -> None:
    subject = f"{root}/c"
    await _increment_one_by_one(repo, subject, 7)  # snapshot after 5, then 2 more
    await _increment_one_by_one(repo, subject, 3)  # the 3rd makes 5 since the snapshot
    types = [e.type for e in await read_all(store, subject)]
    assert [i for i, t in enumerate(types) if t == SNAPSHOT_TYPE] == [5, 11]


async def test_retired_snapshot_types_are_skipped_on_load(
    store: EventStore, root: str, read_counter: ReadCounter
) -> None:
    registry = EventRegistry()

    @registry.event_type(f"{PREFIX}.incremented")
    class Step(BaseModel):
        by: int

    @registry.event_type(f"{PREFIX}.tally-snapshot.v2")
    class TallySnapshotV2(BaseModel):
        total: int

    class Tally(
        Aggregate,
        snapshots=Snapshots(TallySnapshotV2, every=100, retired=(f"{PREFIX}.counter-snapshot.v2",)),
    ):
        total: int = 0

        @handles(Step)
        def _step(self, event: Step) -> None:
            self.total += event.by

    old = new_repository(store)  # the test registry: writes counter-snapshot.v2 snapshots
    subject = f"{root}/c"
    counter = SnapshottingCounter.new(subject)
    for _ in range(6):
        counter.increment(2)
    await old.save(counter)
    new = new_repository(new_store(store.client, source=SOURCE, registry=registry))
    tally = await new.load(Tally, subject)
    assert tally.total == 12
    assert tally.version == (await read_all(store, subject))[-1].event_id


async def test_an_undeclared_snapshot_model_is_a_clear_error(store: EventStore, root: str) -> None:
    class Elsewhere(BaseModel):
        value: int

    class Odd(Aggregate, snapshots=Snapshots(Elsewhere, every=2)):
        value: int = 0

    with pytest.raises(AggregateDefinitionError, match="not declared"):
        await new_repository(store).load_or_new(Odd, f"{root}/c")


async def test_snapshots_of_a_recursive_aggregate_cover_the_tree(
    store: EventStore, root: str, read_counter: ReadCounter
) -> None:
    registry = REGISTRY

    @registry.event_type(f"{PREFIX}.tree-snapshot")
    class TreeSnapshot(BaseModel):
        leaves: list[str]

    class Tree(Aggregate, recursive=True, snapshots=Snapshots(TreeSnapshot, every=3)):
        leaves: list[str] = field(default_factory=list)

        def grow(self, name: str) -> None:
            self.record(Incremented(by=1), subject=f"{self.subject}/{name}")

        @handles(Incremented)
        def _grown(self, event: Incremented) -> None:
            self.leaves.append(str(len(self.leaves)))

    repo = new_repository(store)
    subject = f"{root}/tree"

    def growing(name: str) -> Callable[[Tree], None]:
        return lambda tree: tree.grow(name)

    for name in ["a", "b", "c", "d"]:
        await repo.update(Tree, subject, growing(name), create=True)
    read_counter.events.clear()
    tree = await repo.load(Tree, subject)
    assert tree.leaves == ["0", "1", "2", "3"]
    assert [e.subject for e in read_counter.events] == [subject, f"{subject}/d"]
