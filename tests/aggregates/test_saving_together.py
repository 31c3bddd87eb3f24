"""`Repository.save(a, b, c)`: several aggregates in one atomic write, each guarded by its
version; all saved, or none and an error naming the aggregate that changed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel

from eventsourcingdb.aggregates import (
    AggregateConcurrencyError,
    AggregateConflict,
    Repository,
)
from eventsourcingdb.client import Client
from eventsourcingdb.errors import ConcurrencyError, InvalidArgumentError, TransportError
from eventsourcingdb.models import EventStore
from eventsourcingdb.preconditions import IsEventQlQueryTrue, IsSubjectOnEventId, IsSubjectPristine
from eventsourcingdb.testing import ServerHandle
from tests.aggregates.conftest import FAST, read_all
from tests.aggregates.domain import (
    REGISTRY,
    SOURCE,
    Counter,
    CounterSnapshot,
    Incremented,
    LineAdded,
    Order,
    SnapshottingCounter,
)
from tests.twins import new_repository, new_store


class WriteCounter:
    """Counts the calls of `write_events`."""

    def __init__(self, client: Client) -> None:
        self.calls = 0
        original = client.write_events

        async def counting(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return await original(*args, **kwargs)

        self.counting = counting


@pytest.fixture
def writes(esdb_client: Client, monkeypatch: pytest.MonkeyPatch) -> WriteCounter:
    counter = WriteCounter(esdb_client)
    monkeypatch.setattr(esdb_client, "write_events", counter.counting)
    return counter


@pytest.fixture(params=[2, 1], ids=["v2", "v1"])
async def either_repo(
    request: pytest.FixtureRequest, esdb_server: ServerHandle, store: EventStore
) -> AsyncIterator[Repository]:
    """A repository over API v2 (whose errors name the failed precondition) or v1 (which does
    not), for the same server as `repo`."""
    async with esdb_server.get_client(api_version=request.param) as client:
        yield new_repository(new_store(client, source=SOURCE, registry=REGISTRY), backoff=FAST)


def _name(model: type[BaseModel]) -> str:
    declaration = REGISTRY.declaration_of(model)
    assert declaration is not None
    return declaration.name


async def _stored(repo: Repository, subject: str, *amounts: int) -> Counter:
    counter = await repo.load_or_new(Counter, subject)
    for amount in amounts:
        counter.increment(amount)
    await repo.save(counter)
    return counter


async def test_several_aggregates_are_written_in_one_call(
    repo: Repository, root: str, writes: WriteCounter
) -> None:
    a = await _stored(repo, f"{root}/a", 1)
    b = await _stored(repo, f"{root}/b", 2)
    c = Counter.new(f"{root}/c")
    writes.calls = 0
    a.increment(10)
    b.increment(20)
    b.increment(21)
    c.increment(30)
    written = await repo.save(a, b, c)
    assert writes.calls == 1
    assert [(r.subject, r.data) for r in written] == [
        (f"{root}/a", Incremented(by=10)),
        (f"{root}/b", Incremented(by=20)),
        (f"{root}/b", Incremented(by=21)),
        (f"{root}/c", Incremented(by=30)),
    ]
    assert (a.version, b.version, c.version) == (
        written[0].event_id,
        written[2].event_id,
        written[3].event_id,
    )
    assert a.pending == b.pending == c.pending == ()
    for saved in (a, b, c):
        reloaded = await repo.load(Counter, saved.subject)
        assert (reloaded.value, reloaded.version) == (saved.value, saved.version)


async def test_each_aggregate_is_guarded_by_its_own_version(
    repo: Repository, root: str, esdb_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = await _stored(repo, f"{root}/a", 1)
    b = await _stored(repo, f"{root}/b", 2)
    c = Counter.new(f"{root}/c")
    sent: list[Any] = []
    original = esdb_client.write_events

    async def recording(*args: Any, **kwargs: Any) -> Any:
        sent.append(kwargs["preconditions"])
        return await original(*args, **kwargs)

    monkeypatch.setattr(esdb_client, "write_events", recording)
    extra = IsEventQlQueryTrue("FROM e IN events PROJECT INTO COUNT() >= 0")
    guards = [
        IsSubjectOnEventId(a.subject, str(a.version)),
        IsSubjectOnEventId(b.subject, str(b.version)),
        IsSubjectPristine(c.subject),
    ]
    a.increment()
    c.increment()
    await repo.save(a, b, c, preconditions=[extra])
    assert sent == [[*guards, extra]]


async def test_an_aggregate_with_nothing_pending_is_still_guarded(
    repo: Repository, root: str
) -> None:
    member = await _stored(repo, f"{root}/member", 1)
    book = Counter.new(f"{root}/book")
    book.increment()
    meanwhile = await repo.load(Counter, member.subject)
    meanwhile.increment()
    await repo.save(meanwhile)
    with pytest.raises(AggregateConcurrencyError) as caught:
        await repo.save(book, member)
    assert caught.value.subject == member.subject
    assert book.version is None
    assert book.pending == (Incremented(by=1),)


async def test_nothing_pending_anywhere_sends_nothing(
    repo: Repository, root: str, writes: WriteCounter
) -> None:
    a = await _stored(repo, f"{root}/a", 1)
    b = await _stored(repo, f"{root}/b", 1)
    writes.calls = 0
    assert await repo.save(a, b) == []
    assert writes.calls == 0


async def test_snapshots_are_written_and_counted_for_each_aggregate(
    repo: Repository, root: str
) -> None:
    due = SnapshottingCounter.new(f"{root}/due")
    not_yet = SnapshottingCounter.new(f"{root}/not-yet")
    for _ in range(5):
        due.increment()
    for _ in range(3):
        not_yet.increment()
    written = await repo.save(due, not_yet)
    assert len(written) == 8  # the snapshot is not among the returned events
    stored = await read_all(repo.store, due.subject)
    assert [event.type for event in stored][-1] == _name(CounterSnapshot)
    assert due.version == stored[-1].event_id
    assert [event.type for event in await read_all(repo.store, not_yet.subject)] == [
        _name(Incremented)
    ] * 3
    not_yet.increment()
    not_yet.increment()
    await repo.save(not_yet)  # 3 + 2: due now
    tail = await read_all(repo.store, not_yet.subject)
    assert tail[-1].type == _name(CounterSnapshot)
    reloaded = await repo.load(SnapshottingCounter, due.subject)
    assert reloaded.value == 5


async def test_a_conflict_names_the_aggregate_that_changed_and_saves_none(
    either_repo: Repository, root: str
) -> None:
    repo = either_repo
    a = await _stored(repo, f"{root}/a", 1)
    b = await _stored(repo, f"{root}/b", 2)
    a_version, expected = a.version, b.version
    other = await repo.load(Counter, b.subject)
    other.increment(5)
    await repo.save(other)
    a.increment(10)
    b.increment(20)
    with pytest.raises(AggregateConcurrencyError) as caught:
        await repo.save(a, b)
    error = caught.value
    assert isinstance(error, ConcurrencyError)
    assert (error.aggregate_type, error.subject, error.expected_version) == (
        Counter,
        b.subject,
        expected,
    )
    assert error.conflicts == (
        AggregateConflict(
            aggregate_type=Counter,
            subject=b.subject,
            expected_version=expected,
            actual_version=other.version,
        ),
    )
    assert error.together == ((Counter, a.subject), (Counter, b.subject))
    assert f"Counter at {b.subject} changed since version {expected!r}" in str(error)
    assert f"it is at {other.version!r} now" in str(error)
    assert len(await read_all(repo.store, a.subject)) == 1  # a was not written either
    assert (a.version, b.version) == (a_version, expected)
    assert a.pending == (Incremented(by=10),)


async def test_several_conflicts_are_all_named(repo: Repository, root: str) -> None:
    a = await _stored(repo, f"{root}/a", 1)
    b = Counter.new(f"{root}/b")
    for stale in (a, b):
        fresh = await repo.load_or_new(Counter, stale.subject)
        fresh.increment()
        await repo.save(fresh)
    a.increment()
    b.increment()
    with pytest.raises(AggregateConcurrencyError) as caught:
        await repo.save(a, b)
    assert [conflict.subject for conflict in caught.value.conflicts] == [a.subject, b.subject]
    assert caught.value.conflicts[1].expected_version is None
    assert f"Counter at {b.subject} was new, but has events now" in str(caught.value)


async def test_an_additional_precondition_that_fails_is_told_apart(
    either_repo: Repository, root: str
) -> None:
    a = Counter.new(f"{root}/a")
    b = Counter.new(f"{root}/b")
    a.increment()
    b.increment()
    never = IsEventQlQueryTrue("FROM e IN events PROJECT INTO COUNT() < 0")
    with pytest.raises(AggregateConcurrencyError) as caught:
        await either_repo.save(a, b, preconditions=[never])
    assert caught.value.conflicts == ()
    assert "none of them changed" in str(caught.value)
    assert caught.value.preconditions[-1] == never
    assert (a.version, b.version) == (None, None)


async def test_a_failed_attribution_still_raises_the_conflict(
    repo: Repository, root: str, esdb_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = Counter.new(f"{root}/a")
    b = await _stored(repo, f"{root}/b", 1)
    await _stored(repo, f"{root}/b", 1)
    a.increment()
    b.increment()

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise TransportError("the server went away")

    monkeypatch.setattr(esdb_client, "read_events", unreachable)
    with pytest.raises(AggregateConcurrencyError, match="could not be found out") as caught:
        await repo.save(a, b)
    assert caught.value.conflicts == ()


async def test_retrying_decides_again_on_several_aggregates(repo: Repository, root: str) -> None:
    await _stored(repo, f"{root}/from", 10)
    await _stored(repo, f"{root}/to", 0)
    interfered = False

    async def transfer() -> None:
        nonlocal interfered
        source = await repo.load(Counter, f"{root}/from")
        target = await repo.load(Counter, f"{root}/to")
        if not interfered:  # someone else moves the target once, between load and save
            interfered = True
            await _stored(repo, f"{root}/to", 1)
        source.increment(-3)
        target.increment(3)
        await repo.save(source, target)

    await repo.retrying(transfer)
    assert (await repo.load(Counter, f"{root}/from")).value == 7
    assert (await repo.load(Counter, f"{root}/to")).value == 4


async def test_what_cannot_be_saved_together_is_refused(repo: Repository, root: str) -> None:
    a = Counter.new(f"{root}/a")
    a.increment()
    with pytest.raises(InvalidArgumentError, match="save takes the aggregates to save"):
        await repo.save()
    with pytest.raises(InvalidArgumentError, match="passed to save twice"):
        await repo.save(a, a)
    twin = Counter.new(f"{root}/a")
    with pytest.raises(InvalidArgumentError, match="same subject"):
        await repo.save(a, twin)
    order = Order.new(f"{root}/orders/1")
    order.add_line("x", 1)
    line = Counter.new(f"{root}/orders/1/lines/y")
    with pytest.raises(InvalidArgumentError, match="spans the subject tree"):
        await repo.save(line, order)
    with pytest.raises(InvalidArgumentError, match="save takes an Aggregate"):
        await repo.save(a, LineAdded(sku="x", quantity=1))  # type: ignore[arg-type]
    nested = Counter.new(f"{root}/a/b")  # not recursive: the subjects do not overlap
    nested.increment()
    assert len(await repo.save(a, nested)) == 2
