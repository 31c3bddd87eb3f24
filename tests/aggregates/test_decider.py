"""Deciders through `Repository.execute`: fold, decide, write guarded, decide again on conflict."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from eventsourcingdb.aggregates import (
    AggregateConcurrencyError,
    AggregateDefinitionError,
    Decider,
    Repository,
)
from eventsourcingdb.errors import InvalidArgumentError
from eventsourcingdb.models import EventStore
from eventsourcingdb.preconditions import IsEventQlQueryTrue
from examples.library.domain import (
    ChangeLimit,
    MemberAlreadyRegistered,
    MemberState,
    RegisterMember,
    member_decider,
)
from examples.library.events import MemberLimitChanged, MemberRegistered
from tests.aggregates.conftest import FAST, read_all
from tests.aggregates.domain import Add, Incremented, LineAdded, Tally, tally
from tests.twins import new_repository


async def test_execute_writes_the_decision_and_returns_the_new_state(
    repo: Repository, store: EventStore, root: str
) -> None:
    first = await repo.execute(tally, f"{root}/t", Add(3))
    assert first.state == Tally(total=3, additions=1)
    assert [recorded.data for recorded in first.events] == [Incremented(by=3)]
    assert first.version == first.events[-1].event_id
    second = await repo.execute(tally, f"{root}/t", Add(4))
    assert second.state == Tally(total=7, additions=2)
    assert await repo.load_state(tally, f"{root}/t") == (second.state, second.version)
    assert len(await read_all(store, f"{root}/t")) == 2


async def test_a_decision_without_events_writes_nothing(
    repo: Repository, store: EventStore, root: str
) -> None:
    await repo.execute(tally, f"{root}/t", Add(3))
    result = await repo.execute(tally, f"{root}/t", Add(0))
    assert result.events == ()
    assert result.state == Tally(total=3, additions=1)
    assert len(await read_all(store, f"{root}/t")) == 1
    empty = await repo.execute(tally, f"{root}/empty", Add(0))
    assert (empty.version, empty.state) == (None, Tally())


async def test_a_refused_command_raises_and_writes_nothing(
    repo: Repository, store: EventStore, root: str
) -> None:
    with pytest.raises(ValueError, match="only grows"):
        await repo.execute(tally, f"{root}/t", Add(-1))
    assert await read_all(store, f"{root}/t") == []


async def test_execute_decides_again_on_fresh_state_after_a_conflict(
    repo: Repository, store: EventStore, root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    subject = f"{root}/t"
    await repo.execute(tally, subject, Add(1))
    original = store.append
    calls = 0

    async def interfering(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:  # someone else writes between our read and our write
            await original(subject, Incremented(by=100))
        return await original(*args, **kwargs)

    monkeypatch.setattr(store, "append", interfering)
    result = await repo.execute(tally, subject, Add(2))
    assert result.state == Tally(total=103, additions=3)
    assert calls == 2


async def test_a_conflict_after_the_last_retry_names_the_subject(
    repo: Repository, store: EventStore, root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    subject = f"{root}/t"
    first = await repo.execute(tally, subject, Add(1))
    original = store.append

    async def interfering(*args: Any, **kwargs: Any) -> Any:
        await original(subject, Incremented(by=100))
        return await original(*args, **kwargs)

    monkeypatch.setattr(store, "append", interfering)
    with pytest.raises(AggregateConcurrencyError) as caught:
        await repo.execute(tally, subject, Add(2), retries=0)
    assert caught.value.subject == subject
    assert caught.value.expected_version == first.version
    assert caught.value.aggregate_type is None
    assert f"the decision on {subject}" in str(caught.value)


@pytest.mark.timeout(30)
async def test_concurrent_executions_all_count(store: EventStore, root: str) -> None:
    repo = new_repository(store, retries=30, backoff=FAST)
    results = await asyncio.gather(*(repo.execute(tally, f"{root}/t", Add(1)) for _ in range(10)))
    assert len(results) == 10
    state, _ = await repo.load_state(tally, f"{root}/t")
    assert state == Tally(total=10, additions=10)


async def test_extra_preconditions_guard_the_decision(repo: Repository, root: str) -> None:
    never = IsEventQlQueryTrue("FROM e IN events PROJECT INTO COUNT() < 0")
    with pytest.raises(AggregateConcurrencyError) as caught:
        await repo.execute(tally, f"{root}/t", Add(1), preconditions=[never], retries=0)
    assert caught.value.failed_precondition == never


async def test_the_library_member_decider_round_trips(library_store: EventStore, root: str) -> None:
    repo = new_repository(library_store)
    subject = f"{root}/members/ada"
    registered = await repo.execute(member_decider, subject, RegisterMember(name="Ada", limit=2))
    assert registered.state == MemberState(registered=True, name="Ada", limit=2)
    assert [r.data for r in registered.events] == [MemberRegistered(name="Ada", limit=2)]
    changed = await repo.execute(member_decider, subject, ChangeLimit(limit=3))
    assert [r.data for r in changed.events] == [MemberLimitChanged(limit=3)]
    unchanged = await repo.execute(member_decider, subject, ChangeLimit(limit=3))
    assert unchanged.events == ()
    with pytest.raises(MemberAlreadyRegistered):
        await repo.execute(member_decider, subject, RegisterMember(name="Ada", limit=1))
    state, version = await repo.load_state(member_decider, subject)
    assert state == MemberState(registered=True, name="Ada", limit=3)
    assert version == changed.version


async def test_a_recursive_decider_reads_and_guards_the_tree(
    repo: Repository, store: EventStore, root: str
) -> None:
    @dataclass(frozen=True)
    class Count:
        n: int = 0

    def decide(state: Count, command: str) -> list[Incremented]:
        return [Incremented(by=1)]

    def evolve(state: Count, event: Incremented | LineAdded) -> Count:
        return Count(state.n + 1)

    tree: Decider[Count, str, Incremented | LineAdded] = Decider(
        decide=decide, evolve=evolve, initial_state=Count(), recursive=True
    )
    await store.append(f"{root}/tree/leaf", LineAdded(sku="x", quantity=1))
    result = await repo.execute(tree, f"{root}/tree", "grow")
    assert result.state == Count(2)


def test_the_decider_checks_its_parts() -> None:
    with pytest.raises(AggregateDefinitionError, match="decide"):
        Decider(decide=1, evolve=lambda s, e: s, initial_state=0)  # type: ignore[arg-type]
    with pytest.raises(AggregateDefinitionError, match="recursive"):
        Decider(decide=lambda s, c: [], evolve=lambda s, e: s, initial_state=0, recursive=1)  # type: ignore[arg-type]


async def test_execute_checks_its_arguments(repo: Repository, root: str) -> None:
    with pytest.raises(InvalidArgumentError, match="Decider"):
        await repo.execute(object(), f"{root}/t", Add(1))  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="malformed"):
        await repo.execute(tally, "t", Add(1))
    with pytest.raises(InvalidArgumentError, match="Decider"):
        await repo.load_state(object(), f"{root}/t")  # type: ignore[arg-type]
    bad: Decider[Tally, Add, Incremented] = Decider(
        decide=lambda s, c: ["not an event"],  # type: ignore[list-item]
        evolve=lambda s, e: s,
        initial_state=Tally(),
    )
    with pytest.raises(InvalidArgumentError, match="event models"):
        await repo.execute(bad, f"{root}/t", Add(1))


def test_fold_applies_events_to_the_initial_or_a_given_state() -> None:
    assert tally.fold([Incremented(by=2), Incremented(by=3)]) == Tally(total=5, additions=2)
    assert tally.fold([Incremented(by=1)], Tally(total=10, additions=4)) == Tally(11, 5)
