"""`update`, `retrying` and `Backoff`: deciding again after a conflict, and only then."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import pytest

from eventsourcingdb.aggregates import (
    AggregateConcurrencyError,
    AggregateDefinitionError,
    AggregateNotFoundError,
    Backoff,
    Repository,
    retry_on_conflict,
)
from eventsourcingdb.errors import ConcurrencyError, InvalidArgumentError, OutcomeUnknownError
from eventsourcingdb.models import EventStore
from tests.aggregates.conftest import FAST, read_all
from tests.aggregates.domain import Counter, CounterTooHigh, Incremented


async def _seed(repo: Repository, subject: str) -> Counter:
    counter = Counter.new(subject)
    counter.increment(0)
    await repo.save(counter)
    return counter


async def test_update_loads_changes_and_saves(repo: Repository, root: str) -> None:
    await _seed(repo, f"{root}/c")
    updated = await repo.update(Counter, f"{root}/c", lambda counter: counter.increment(5))
    assert updated.value == 5
    assert updated.pending == ()
    assert (await repo.load(Counter, f"{root}/c")).value == 5


async def test_update_takes_an_async_change(repo: Repository, root: str) -> None:
    await _seed(repo, f"{root}/c")

    async def change(counter: Counter) -> None:
        await asyncio.sleep(0)
        counter.increment(2)

    assert (await repo.update(Counter, f"{root}/c", change)).value == 2


async def test_update_of_a_missing_subject_raises_unless_create(
    repo: Repository, root: str
) -> None:
    with pytest.raises(AggregateNotFoundError):
        await repo.update(Counter, f"{root}/c", lambda counter: counter.increment())
    created = await repo.update(
        Counter, f"{root}/c", lambda counter: counter.increment(), create=True
    )
    assert created.value == 1


@pytest.mark.timeout(30)
async def test_update_converges_under_contention_without_lost_updates(
    repo: Repository, store: EventStore, root: str
) -> None:
    subject = f"{root}/c"
    await _seed(repo, subject)
    tasks = 12
    everyone_loaded = asyncio.Barrier(tasks)
    attempts: list[int] = []

    def incrementer(amount: int) -> Callable[[Counter], Awaitable[None]]:
        first = True

        async def change(counter: Counter) -> None:
            nonlocal first
            attempts.append(amount)
            if first:  # make every task load the same version before anyone saves
                first = False
                await everyone_loaded.wait()
            counter.increment(amount)

        return change

    results = await asyncio.gather(
        *(
            repo.update(Counter, subject, incrementer(amount), retries=tasks)
            for amount in range(1, tasks + 1)
        )
    )
    assert len(results) == tasks
    final = await repo.load(Counter, subject)
    assert final.value == sum(range(1, tasks + 1))
    assert sorted(final.history) == [0, *range(1, tasks + 1)]
    assert len(await read_all(store, subject)) == tasks + 1
    assert len(attempts) > tasks  # there was contention, and it was retried


@pytest.mark.timeout(30)
async def test_without_retries_contention_surfaces_as_conflicts(
    repo: Repository, root: str
) -> None:
    subject = f"{root}/c"
    await _seed(repo, subject)
    everyone_loaded = asyncio.Barrier(4)

    async def change(counter: Counter) -> None:
        await everyone_loaded.wait()
        counter.increment()

    results = await asyncio.gather(
        *(repo.update(Counter, subject, change, retries=0) for _ in range(4)),
        return_exceptions=True,
    )
    conflicts = [r for r in results if isinstance(r, AggregateConcurrencyError)]
    assert len(conflicts) == 3
    assert (await repo.load(Counter, subject)).value == 1


async def test_a_domain_error_is_not_retried(repo: Repository, root: str) -> None:
    await _seed(repo, f"{root}/c")
    calls = 0

    def change(counter: Counter) -> None:
        nonlocal calls
        calls += 1
        counter.maximum = 0
        counter.increment()

    with pytest.raises(CounterTooHigh):
        await repo.update(Counter, f"{root}/c", change, retries=5)
    assert calls == 1


async def test_an_unknown_outcome_is_never_retried(
    repo: Repository, store: EventStore, root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _seed(repo, f"{root}/c")
    writes = 0

    async def lost_answer(*args: object, **kwargs: object) -> object:
        nonlocal writes
        writes += 1
        raise OutcomeUnknownError("the answer was lost", path="/api/v2/data/write-events")

    monkeypatch.setattr(store, "append_many", lost_answer)
    with pytest.raises(OutcomeUnknownError):
        await repo.update(Counter, f"{root}/c", lambda counter: counter.increment(), retries=5)
    assert writes == 1


async def test_retries_run_out_with_the_last_conflict(
    repo: Repository, store: EventStore, root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _seed(repo, f"{root}/c")
    writes = 0

    async def always_conflicting(*args: object, **kwargs: object) -> object:
        nonlocal writes
        writes += 1
        raise ConcurrencyError("precondition failed", status=409)

    monkeypatch.setattr(store, "append_many", always_conflicting)
    with pytest.raises(AggregateConcurrencyError) as caught:
        await repo.update(Counter, f"{root}/c", lambda counter: counter.increment(), retries=2)
    assert writes == 3
    assert "gave up after 3 attempts" in (caught.value.__notes__ or [""])[0]


async def test_update_retries_after_a_real_conflict_on_fresh_state(
    repo: Repository, store: EventStore, root: str
) -> None:
    subject = f"{root}/c"
    await _seed(repo, subject)
    seen: list[int] = []

    async def change(counter: Counter) -> None:
        seen.append(counter.value)
        if len(seen) == 1:  # someone else writes between our load and our save
            await store.append(subject, Incremented(by=100))
        counter.increment(1)

    updated = await repo.update(Counter, subject, change)
    assert seen == [0, 100]
    assert updated.value == 101


async def test_retrying_runs_any_operation_again(repo: Repository) -> None:
    calls = 0

    async def operation() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConcurrencyError("no", status=409)
        return "done"

    assert await repo.retrying(operation) == "done"
    assert calls == 3
    calls = 0
    with pytest.raises(ConcurrencyError):
        await repo.retrying(operation, retries=1)
    assert calls == 2


async def test_retry_on_conflict_checks_retries() -> None:
    async def operation() -> None:
        return None

    with pytest.raises(InvalidArgumentError, match="retries"):
        await retry_on_conflict(operation, retries=True)
    await retry_on_conflict(operation, retries=0)


def test_backoff_waits_a_random_time_below_a_growing_capped_ceiling() -> None:
    backoff = Backoff(initial=0.01, maximum=0.1, multiplier=2, rng=random.Random(7))
    for attempt, ceiling in enumerate([0.01, 0.02, 0.04, 0.08, 0.1, 0.1]):
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert all(0 <= delay <= ceiling for delay in delays)
        assert max(delays) > ceiling / 2  # jittered across the range, not fixed
    assert backoff.delay(10_000) <= 0.1
    same = Backoff(rng=random.Random(1)), Backoff(rng=random.Random(1))
    assert [same[0].delay(3) for _ in range(5)] == [same[1].delay(3) for _ in range(5)]
    assert FAST.maximum == 0.01


def test_backoff_checks_its_numbers() -> None:
    with pytest.raises(AggregateDefinitionError, match="initial"):
        Backoff(initial=-1)
    with pytest.raises(AggregateDefinitionError, match="multiplier"):
        Backoff(multiplier=0.5)
    with pytest.raises(AggregateDefinitionError, match="maximum"):
        Backoff(maximum=True)
