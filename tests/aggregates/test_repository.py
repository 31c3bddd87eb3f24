"""`Repository.load` and `save` against the in-process emulator: round trips and concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from eventsourcingdb.aggregates import (
    AggregateConcurrencyError,
    AggregateNotFoundError,
    MissingHandlerError,
    Repository,
    unchanged,
)
from eventsourcingdb.errors import ClientClosedError, ConcurrencyError, InvalidArgumentError
from eventsourcingdb.models import EventStore, UnknownEventTypeError
from eventsourcingdb.preconditions import IsEventQlQueryTrue, IsSubjectOnEventId, IsSubjectPristine
from tests.aggregates.conftest import read_all
from tests.aggregates.domain import (
    SOURCE,
    Add,
    Counter,
    Incremented,
    LenientCounter,
    LineAdded,
    Noted,
    Order,
    OrderPlaced,
    Reset,
    tally,
)
from tests.twins import new_repository

TRACE_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def test_a_new_aggregate_is_saved_and_loaded_back(repo: Repository, root: str) -> None:
    counter = Counter.new(f"{root}/counter")
    counter.increment(2)
    counter.increment(3)
    written = await repo.save(counter)
    assert [recorded.data for recorded in written] == [Incremented(by=2), Incremented(by=3)]
    assert counter.version == written[-1].event_id
    assert counter.pending == ()

    loaded = await repo.load(Counter, f"{root}/counter")
    assert isinstance(loaded, Counter)
    assert (loaded.value, loaded.history) == (5, [2, 3])
    assert loaded.subject == f"{root}/counter"
    assert loaded.version == written[-1].event_id
    assert loaded.pending == ()


async def test_saving_again_appends_and_moves_the_version(
    repo: Repository, store: EventStore, root: str
) -> None:
    counter = Counter.new(f"{root}/counter")
    counter.increment()
    await repo.save(counter)
    first = counter.version
    loaded = await repo.load(Counter, f"{root}/counter")
    loaded.increment(4)
    loaded.reset()
    loaded.increment(1)
    written = await repo.save(loaded)
    assert len(written) == 3
    assert loaded.version == written[-1].event_id != first
    again = await repo.load(Counter, f"{root}/counter")
    assert (again.value, again.history, again.version) == (1, [1, 4, 1], loaded.version)
    stored = await read_all(store, f"{root}/counter")
    assert [event.event_id for event in stored][-1] == loaded.version


async def test_save_guards_with_pristine_then_with_the_version(
    repo: Repository, store: EventStore, root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[object] = []
    original = store.append_many

    async def spying(*args: Any, **kwargs: Any) -> Any:
        sent.append(list(kwargs["preconditions"]))
        return await original(*args, **kwargs)

    monkeypatch.setattr(store, "append_many", spying)
    counter = Counter.new(f"{root}/c")
    counter.increment()
    await repo.save(counter)
    version = counter.version
    assert version is not None
    counter.increment()
    await repo.save(counter)
    assert sent == [
        [IsSubjectPristine(f"{root}/c")],
        [IsSubjectOnEventId(f"{root}/c", version)],
    ]


async def test_loading_a_subject_without_events_raises_not_found(
    repo: Repository, root: str
) -> None:
    with pytest.raises(AggregateNotFoundError) as caught:
        await repo.load(Counter, f"{root}/missing")
    assert caught.value.aggregate_type is Counter
    assert caught.value.subject == f"{root}/missing"
    assert "load_or_new" in str(caught.value)
    assert isinstance(caught.value, LookupError)


async def test_load_or_new_returns_a_fresh_aggregate_or_the_stored_one(
    repo: Repository, root: str
) -> None:
    fresh = await repo.load_or_new(Counter, f"{root}/c")
    assert (fresh.version, fresh.value, fresh.subject) == (None, 0, f"{root}/c")
    fresh.increment(7)
    await repo.save(fresh)
    stored = await repo.load_or_new(Counter, f"{root}/c")
    assert (stored.value, stored.version) == (7, fresh.version)


async def test_nothing_pending_sends_no_request(store: EventStore, root: str) -> None:
    repo = new_repository(store)
    counter = Counter.new(f"{root}/c")
    counter.increment()
    await repo.save(counter)
    await store.client.aclose()
    assert await repo.save(counter) == []  # a request would raise ClientClosedError
    counter.increment()
    with pytest.raises(ClientClosedError):
        await repo.save(counter)


async def test_a_new_aggregate_on_a_used_subject_is_refused(repo: Repository, root: str) -> None:
    first = Counter.new(f"{root}/c")
    first.increment()
    await repo.save(first)
    second = Counter.new(f"{root}/c")
    second.increment()
    with pytest.raises(AggregateConcurrencyError) as caught:
        await repo.save(second)
    assert caught.value.expected_version is None
    assert caught.value.failed_precondition == IsSubjectPristine(f"{root}/c")
    assert "was new" in str(caught.value)
    assert second.pending == (Incremented(by=1),)


@pytest.mark.timeout(30)
async def test_concurrent_saves_have_exactly_one_winner(repo: Repository, root: str) -> None:
    subject = f"{root}/c"
    seed = Counter.new(subject)
    seed.increment()
    await repo.save(seed)
    both_loaded = asyncio.Barrier(2)

    async def increment_by(amount: int) -> Counter:
        counter = await repo.load(Counter, subject)
        await both_loaded.wait()
        counter.increment(amount)
        await repo.save(counter)
        return counter

    results = await asyncio.gather(increment_by(10), increment_by(20), return_exceptions=True)
    winners = [result for result in results if isinstance(result, Counter)]
    losers = [result for result in results if isinstance(result, BaseException)]
    assert len(winners) == 1
    assert len(losers) == 1
    error = losers[0]
    assert isinstance(error, AggregateConcurrencyError)
    assert isinstance(error, ConcurrencyError)
    assert error.subject == subject
    assert error.expected_version == seed.version
    assert error.failed_precondition == IsSubjectOnEventId(subject, str(seed.version))
    assert isinstance(error.__cause__, ConcurrencyError)
    assert not isinstance(error.__cause__, AggregateConcurrencyError)
    assert error.status == error.__cause__.status
    assert error.code == error.__cause__.code
    assert f"changed since version {seed.version!r}" in str(error)
    final = await repo.load(Counter, subject)
    assert final.value == 1 + winners[0].history[-1]


async def test_except_concurrency_error_catches_the_repositorys_error(
    repo: Repository, root: str
) -> None:
    counter = Counter.new(f"{root}/c")
    counter.increment()
    await repo.save(counter)
    stale = await repo.load(Counter, f"{root}/c")
    fresh = await repo.load(Counter, f"{root}/c")
    fresh.increment()
    await repo.save(fresh)
    stale.reset()
    with pytest.raises(ConcurrencyError):
        await repo.save(stale)


async def test_extra_preconditions_are_sent_and_named_when_they_fail(
    repo: Repository, root: str
) -> None:
    counter = Counter.new(f"{root}/c")
    counter.increment()
    never = IsEventQlQueryTrue("FROM e IN events PROJECT INTO COUNT() < 0")
    with pytest.raises(AggregateConcurrencyError) as caught:
        await repo.save(counter, preconditions=[never])
    assert caught.value.preconditions == (IsSubjectPristine(f"{root}/c"), never)
    assert caught.value.failed_precondition == never
    assert "depends on was written meanwhile" in str(caught.value)
    assert counter.version is None
    ok = IsEventQlQueryTrue("FROM e IN events PROJECT INTO COUNT() >= 0")
    await repo.save(counter, preconditions=[ok])
    assert counter.version is not None


async def test_save_passes_the_trace_context(repo: Repository, root: str) -> None:
    counter = Counter.new(f"{root}/c")
    counter.increment()
    written = await repo.save(counter, trace_parent=TRACE_PARENT)
    assert written[0].trace_parent == TRACE_PARENT


async def test_a_loaded_event_without_a_handler_is_an_error(
    repo: Repository, store: EventStore, root: str
) -> None:
    await store.append(f"{root}/c", Incremented(by=1), Noted(text="between"), Incremented(by=2))
    with pytest.raises(MissingHandlerError, match="no handler for Noted") as caught:
        await repo.load(Counter, f"{root}/c")
    assert caught.value.event_type is Noted
    assert caught.value.event_id is not None
    lenient = await repo.load(LenientCounter, f"{root}/c")
    assert lenient.value == 3


async def test_an_undeclared_event_type_is_an_error_unless_ignored(
    repo: Repository, store: EventStore, root: str
) -> None:
    await store.append(f"{root}/c", Incremented(by=1))
    raw = await store.client.write_events(
        [
            {
                "source": SOURCE,
                "subject": f"{root}/c",
                "type": "io.eventsourcingdb.tests.aggregates.unknown",
                "data": {},
            }
        ]
    )
    with pytest.raises(UnknownEventTypeError):
        await repo.load(Counter, f"{root}/c")
    lenient = await repo.load(LenientCounter, f"{root}/c")
    assert lenient.value == 1
    assert lenient.version == raw[0].event_id  # skipped events still move the version
    lenient.increment()
    await repo.save(lenient)


async def test_a_recursive_aggregate_spans_its_subject_tree(
    repo: Repository, store: EventStore, root: str
) -> None:
    subject = f"{root}/orders/1"
    order = Order.new(subject)
    order.place("ada")
    order.add_line("tea", 2)
    order.add_line("cake", 1)
    written = await repo.save(order)
    assert [recorded.subject for recorded in written] == [
        subject,
        f"{subject}/lines/tea",
        f"{subject}/lines/cake",
    ]
    loaded = await repo.load(Order, subject)
    assert (loaded.customer, loaded.lines) == ("ada", {"tea": 2, "cake": 1})
    assert loaded.version == written[-1].event_id

    await store.append(f"{subject}/lines/tea", LineAdded(sku="tea", quantity=1))
    loaded.add_line("jam", 1)
    with pytest.raises(AggregateConcurrencyError):
        await repo.save(loaded)  # a change deep in the tree counts as a change
    assert unchanged(loaded) == IsSubjectOnEventId(subject, written[-1].event_id, recursive=True)


async def test_a_new_recursive_aggregate_needs_the_whole_tree_empty(
    repo: Repository, store: EventStore, root: str
) -> None:
    await store.append(f"{root}/orders/1/lines/tea", LineAdded(sku="tea", quantity=1))
    order = Order.new(f"{root}/orders/1")
    order.place("ada")
    with pytest.raises(AggregateConcurrencyError):
        await repo.save(order)


async def test_a_plain_aggregate_ignores_nested_subjects(
    repo: Repository, store: EventStore, root: str
) -> None:
    await store.append(f"{root}/c", Incremented(by=1))
    await store.append(f"{root}/c/child", OrderPlaced(customer="x"))
    counter = await repo.load(Counter, f"{root}/c")
    assert counter.value == 1
    counter.reset()
    await repo.save(counter)


async def test_the_repository_checks_its_arguments(repo: Repository, root: str) -> None:
    with pytest.raises(InvalidArgumentError, match="EventStore"):
        Repository(object())  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="retries"):
        new_repository(repo.store, retries=-1)
    with pytest.raises(InvalidArgumentError, match="Aggregate subclasses"):
        await repo.load(dict, f"{root}/c")  # type: ignore[type-var]
    with pytest.raises(InvalidArgumentError, match="save takes an Aggregate"):
        await repo.save(Reset())  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="malformed"):
        await repo.load(Counter, "no-slash")
    assert "retries=3" in repr(repo)


async def test_an_aggregate_subject_has_no_trailing_slash(repo: Repository, root: str) -> None:
    with pytest.raises(InvalidArgumentError, match=f"write '{root}/c'"):
        await repo.load_or_new(Counter, f"{root}/c/")
    with pytest.raises(InvalidArgumentError, match="ends with '/'"):
        Counter.new(f"{root}/c/")
    with pytest.raises(InvalidArgumentError, match="ends with '/'"):
        await repo.execute(tally, f"{root}/t/", Add(1))
    order = Order.new(f"{root}/o")
    with pytest.raises(InvalidArgumentError, match="ends with '/'"):
        order.record(LineAdded(sku="a", quantity=1), subject=f"{root}/o/lines/a/")
    assert order.pending == ()
