"""The runner: catch up, then live on one stream; read-your-writes; status; life cycle."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from eventsourcingdb.client import Client
from eventsourcingdb.errors import InvalidArgumentError
from eventsourcingdb.models import EventStore, RecordedEvent
from eventsourcingdb.projections import (
    CheckpointStoreUnavailableError,
    MemoryCheckpointStore,
    Phase,
    Progress,
    Projection,
    ProjectionStoppedError,
    ProjectionTimeoutError,
    RetryReason,
    Runner,
    SqlCheckpointStore,
    StartAt,
    handles,
)
from tests.projections.domain import (
    SOURCE,
    BookAcquired,
    BookBorrowed,
    BookReturned,
    OnLoan,
    SqlOnLoan,
    SyncSqlOnLoan,
    lend,
    table_rows,
)
from tests.twins import new_runner

Make = Any  # the make_runner fixture: a callable returning a Runner


SIGNALS = (
    "run() in the test's event loop receives SIGTERM there; the blocking runner's run() handles "
    "signals in the main thread, which tests/sync/test_sync_runner.py checks"
)
TEST_EVENTS = (
    "its handler waits on asyncio events of the test's loop, which the blocking runner's loop "
    "cannot wait on; stopping mid-batch is the async runner's code either way"
)
CANCELLATION = (
    "cancelling the task of run() is asyncio's; the blocking runner stops with request_stop() "
    "from another thread or a signal (tests/sync/test_sync_runner.py)"
)


class Recorder:
    """A metrics hook that keeps every call."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, int]] = []
        self.lags: list[tuple[str, int]] = []
        self.retries: list[tuple[str, RetryReason]] = []

    def processed(self, name: str, events: int, seconds: float) -> None:
        assert seconds >= 0
        self.batches.append((name, events))

    def lag(self, name: str, events: int) -> None:
        self.lags.append((name, events))

    def retry(self, name: str, reason: RetryReason, error: BaseException, delay: float) -> None:
        self.retries.append((name, reason))


async def test_it_catches_up_then_follows_new_events_on_one_stream(
    store: EventStore, make_runner: Make
) -> None:
    await lend(store, range(5))
    await store.append("/books/1", BookReturned(member="/members/ada"))
    runner = make_runner()
    on_loan = runner.add(OnLoan())
    async with runner:
        await on_loan.wait_until_caught_up()
        assert on_loan.loans == {f"/books/{n}": "/members/ada" for n in (0, 2, 3, 4)}
        assert on_loan.status.phase is Phase.LIVE
        last = await lend(store, range(7, 9), "/members/grace")
        await on_loan.wait_for(last)
        assert on_loan.loans["/books/8"] == "/members/grace"
        status = on_loan.status
        assert (status.position, status.lag, status.processed) == (last, 0, 8)
    assert on_loan.seen == [str(n) for n in range(8)]
    assert runner.status()["on-loan"].phase is Phase.STOPPED


async def test_events_it_has_no_handler_for_move_its_position_on(
    store: EventStore, esdb_client: Client, make_runner: Make
) -> None:
    await store.append("/books/1", BookAcquired(title="Solaris"))
    await esdb_client.write_events(
        [{"source": SOURCE, "subject": "/books/1", "type": "io.example.undeclared", "data": {}}]
    )
    outside = await store.append("/members/ada", BookBorrowed(member="nobody"))
    runner = make_runner()
    on_loan = runner.add(OnLoan())
    async with runner:
        await on_loan.wait_until_caught_up()
        assert on_loan.status.position == "1", "the last event under /books"
        assert on_loan.loans == {}
        await on_loan.wait_for(outside[0].event_id, timeout=2)  # nothing of its own to wait for
        assert on_loan.status.position == "1"


async def test_retired_event_types_arrive_upcast_to_the_current_model(
    store: EventStore, make_runner: Make
) -> None:
    await store.client.write_events(
        [
            {
                "source": SOURCE,
                "subject": "/books/1",
                "type": "io.eventsourcingdb.tests.projections.book-lent",
                "data": {"borrower": "/members/old"},
            }
        ]
    )
    runner = make_runner()
    on_loan = runner.add(OnLoan())
    async with runner:
        await on_loan.wait_until_caught_up()
    assert on_loan.loans == {"/books/1": "/members/old"}


async def test_a_wait_that_runs_out_raises_a_timeout_error(
    store: EventStore, make_runner: Make
) -> None:
    gate = asyncio.Event()

    class Slow(Projection):
        subject = "/books"

        @handles(BookBorrowed)
        async def _borrowed(self, event: RecordedEvent[BookBorrowed]) -> None:
            await gate.wait()

    last = await lend(store, range(1))
    runner = make_runner()
    slow = runner.add(Slow())
    async with runner:
        with pytest.raises(ProjectionTimeoutError) as waited:
            await slow.wait_for(last, timeout=0.2)
        assert isinstance(waited.value, TimeoutError)
        assert waited.value.projection == "slow"
        assert waited.value.position is None
        gate.set()
        await slow.wait_for(last)


async def test_waiting_on_a_projection_that_does_not_run_says_so(
    store: EventStore, make_runner: Make
) -> None:
    await lend(store, range(1))
    on_loan = OnLoan()
    with pytest.raises(ProjectionStoppedError, match="not in a runner"):
        await on_loan.wait_for("0")
    runner = make_runner()
    runner.add(on_loan)
    with pytest.raises(ProjectionTimeoutError, match="the runner has not started it"):
        await on_loan.wait_for("0", timeout=0.1)
    async with runner:
        await on_loan.wait_until_caught_up()
    with pytest.raises(ProjectionStoppedError, match="is stopped: start the runner again"):
        await on_loan.wait_for("0")


async def test_a_sql_read_model_resumes_where_it_stopped_exactly_once(
    store: EventStore, make_runner: Make, sql_checkpoints: SqlCheckpointStore
) -> None:
    await lend(store, range(3))
    first = make_runner(checkpoints=sql_checkpoints)
    first.add(SqlOnLoan())
    async with first:
        await first.wait_until_caught_up()
    await lend(store, range(2, 5), "/members/grace")
    second = make_runner(checkpoints=sql_checkpoints)
    model = second.add(SqlOnLoan())
    async with second:
        await second.wait_until_caught_up()
        assert model.status.processed == 3, "only the events since the checkpoint"
    assert await table_rows(sql_checkpoints.engine, model.table) == [
        ("/books/0", "/members/ada", 1),
        ("/books/1", "/members/ada", 1),
        ("/books/2", "/members/grace", 2),
        ("/books/3", "/members/grace", 1),
        ("/books/4", "/members/grace", 1),
    ]


async def test_blocking_handlers_get_the_blocking_connection_of_the_same_transaction(
    store: EventStore, make_runner: Make, sql_checkpoints: SqlCheckpointStore
) -> None:
    last = await lend(store, range(3))
    await store.append("/books/0", BookReturned(member="/members/ada"))
    runner = make_runner(checkpoints=sql_checkpoints)
    model = runner.add(SyncSqlOnLoan())
    async with runner:
        await model.wait_until_caught_up()
    assert int(last) < int(model.status.position or "0")
    assert await table_rows(sql_checkpoints.engine, model.table) == [
        ("/books/0", "", 1),
        ("/books/1", "/members/ada", 1),
        ("/books/2", "/members/ada", 1),
    ]


async def test_catching_up_commits_in_batches_and_live_events_at_once(
    store: EventStore, make_runner: Make, sqlite_checkpoints: SqlCheckpointStore
) -> None:
    await lend(store, range(95))
    metrics = Recorder()
    progress: list[Progress] = []
    runner = make_runner(checkpoints=sqlite_checkpoints, metrics=metrics)
    model = SqlOnLoan()
    model.batch_size = 10
    model.batch_seconds = 5.0
    runner.add(model, progress=progress.append)
    async with runner:
        await model.wait_until_caught_up()
        sizes = [events for _, events in metrics.batches]
        assert sum(sizes) == 95
        assert max(sizes) == 10
        assert len(sizes) <= 12, sizes
        assert progress[-1].done
        assert progress[-1].processed == 95
        assert [p.position for p in progress] == sorted(p.position or 0 for p in progress)
        metrics.batches.clear()
        last = await lend(store, range(100, 101))
        await asyncio.wait_for(model.wait_for(last), 2)  # not held back by batch_seconds
        assert metrics.batches == [("sql-on-loan", 1)]
        assert metrics.lags[-1] == ("sql-on-loan", 0)


async def test_a_batch_closes_when_its_time_is_up_before_it_is_full(
    store: EventStore, make_runner: Make, sqlite_checkpoints: SqlCheckpointStore
) -> None:
    await lend(store, range(20))
    metrics = Recorder()
    runner = make_runner(checkpoints=sqlite_checkpoints, metrics=metrics)
    model = SqlOnLoan()
    model.batch_size = 1000
    model.batch_seconds = 1e-9  # over before a second event can join: every batch holds one
    runner.add(model)
    async with runner:
        await model.wait_until_caught_up()
    assert [events for _, events in metrics.batches] == [1] * 20
    assert len(await table_rows(sqlite_checkpoints.engine, model.table)) == 20


async def test_several_projections_run_side_by_side(
    store: EventStore, make_runner: Make, sqlite_checkpoints: SqlCheckpointStore
) -> None:
    await lend(store, range(20))
    runner = make_runner()
    in_memory = runner.add(OnLoan())
    in_sql = runner.add(SqlOnLoan(), checkpoints=sqlite_checkpoints)
    async with runner:
        last = await lend(store, range(20, 25))
        await runner.wait_for(last)
        status = runner.status()
        assert status.healthy
        assert {s.name: s.position for s in status.projections} == {
            "on-loan": last,
            "sql-on-loan": last,
        }
    assert len(in_memory.loans) == 25
    assert len(await table_rows(sqlite_checkpoints.engine, in_sql.table)) == 25


async def test_a_projection_added_while_running_starts_at_once(
    store: EventStore, make_runner: Make
) -> None:
    last = await lend(store, range(3))
    runner = make_runner()
    async with runner:
        on_loan = runner.add(OnLoan())
        await on_loan.wait_for(last)
        assert len(on_loan.loans) == 3
        removed = await runner.remove("on-loan")
        assert removed is on_loan
        assert runner.projections == ()
        again = runner.add(OnLoan())  # the name is free again
        await again.wait_for(last)


async def test_the_checkpoint_in_memory_survives_the_runner(
    store: EventStore, make_runner: Make
) -> None:
    checkpoints = MemoryCheckpointStore()
    await lend(store, range(3))
    first = make_runner(checkpoints=checkpoints)
    first.add(OnLoan())
    async with first:
        await first.wait_until_caught_up()
    last = await lend(store, range(3, 5))
    second = make_runner(checkpoints=checkpoints)
    resumed = second.add(OnLoan())
    async with second:
        await resumed.wait_for(last)
    assert resumed.seen == ["3", "4"]


async def test_start_at_now_skips_the_past(store: EventStore, make_runner: Make) -> None:
    await lend(store, range(3))

    class Mailer(Projection):
        subject = "/books"
        start_at = StartAt.NOW

        def __init__(self) -> None:
            self.sent: list[str] = []

        @handles(BookBorrowed)
        async def _borrowed(self, event: RecordedEvent[BookBorrowed]) -> None:
            self.sent.append(event.subject)

    checkpoints = MemoryCheckpointStore()
    runner = make_runner(checkpoints=checkpoints)
    mailer = runner.add(Mailer())
    async with runner:
        await mailer.wait_until_caught_up()
        last = await lend(store, range(10, 11))
        await mailer.wait_for(last)
    assert mailer.sent == ["/books/10"]
    assert await checkpoints.load("mailer") is not None


@pytest.mark.twins("async", reason=SIGNALS)
async def test_run_stops_cleanly_on_sigterm(store: EventStore, make_runner: Make) -> None:
    last = await lend(store, range(3))
    runner = make_runner()
    on_loan = runner.add(OnLoan())
    running = asyncio.create_task(runner.run())
    await asyncio.sleep(0)
    await on_loan.wait_for(last)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(running, 10)
    assert not runner.running
    assert on_loan.status.phase is Phase.STOPPED
    assert on_loan.status.position == last


class _Careful(SqlOnLoan):
    """`SqlOnLoan` whose handler waits for `release` (after setting `entered`)."""

    name = "careful"

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    @handles(BookBorrowed)
    async def _borrowed(self, event: RecordedEvent[BookBorrowed], tx: Any) -> None:
        self.entered.set()
        await self.release.wait()
        await super()._borrowed(event, tx)


async def _committed_the_batch(checkpoints: SqlCheckpointStore, model: _Careful, last: str) -> None:
    saved = await checkpoints.load("careful")
    rows = await table_rows(checkpoints.engine, model.table)
    assert saved is not None
    assert len(rows) == int(saved.event_id) + 1, "the read model matches its checkpoint"
    assert saved.event_id == last, "the events in hand were committed"


@pytest.mark.twins("async", reason=CANCELLATION)
async def test_cancelling_run_finishes_the_batch_at_hand_and_commits(
    store: EventStore, make_runner: Make, sqlite_checkpoints: SqlCheckpointStore
) -> None:
    last = await lend(store, range(4))
    runner = make_runner(checkpoints=sqlite_checkpoints)
    model = runner.add(_Careful())
    running = asyncio.create_task(runner.run(handle_signals=False))
    await model.entered.wait()
    running.cancel()
    await asyncio.sleep(0.05)
    assert not running.done(), "the batch at hand is not abandoned"
    model.release.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(running, 10)
    assert model.status.phase is Phase.STOPPED
    await _committed_the_batch(sqlite_checkpoints, model, last)


@pytest.mark.twins("async", reason=TEST_EVENTS)
async def test_stop_finishes_the_batch_at_hand(
    store: EventStore, make_runner: Make, sqlite_checkpoints: SqlCheckpointStore
) -> None:
    last = await lend(store, range(4))
    runner = make_runner(checkpoints=sqlite_checkpoints)
    model = runner.add(_Careful())
    await runner.start()
    await model.entered.wait()
    stopping = asyncio.create_task(runner.stop())
    await asyncio.sleep(0.05)
    model.release.set()
    await asyncio.wait_for(stopping, 10)
    await _committed_the_batch(sqlite_checkpoints, model, last)


async def test_the_status_is_ready_for_a_health_endpoint(
    store: EventStore, make_runner: Make
) -> None:
    await lend(store, range(2))
    runner = make_runner()
    assert runner.status().as_dict() == {"running": False, "healthy": False, "projections": []}
    runner.add(OnLoan())
    async with runner:
        await runner.wait_until_caught_up()
        assert runner.status().as_dict() == {
            "running": True,
            "healthy": True,
            "projections": [
                {
                    "name": "on-loan",
                    "phase": "live",
                    "position": "1",
                    "lag": 0,
                    "processed": 2,
                    "retries": 0,
                    "error": None,
                }
            ],
        }
    with pytest.raises(KeyError):
        runner.status()["nothing"]


async def test_a_runner_without_leases_runs_too(store: EventStore, make_runner: Make) -> None:
    last = await lend(store, range(2))
    runner = make_runner(leases=False)
    assert runner.owner is None
    on_loan = runner.add(OnLoan())
    async with runner:
        await on_loan.wait_for(last)
    assert len(on_loan.loans) == 2


def test_a_runner_checks_its_options(store: EventStore) -> None:
    with pytest.raises(InvalidArgumentError, match="EventStore"):
        Runner(object())  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="lease_ttl"):
        new_runner(store, lease_ttl=0)
    with pytest.raises(InvalidArgumentError, match="CheckpointStore"):
        new_runner(store, checkpoints=object())
    with pytest.raises(InvalidArgumentError, match="owner"):
        new_runner(store, owner=" ")
    with pytest.raises(InvalidArgumentError, match="reconnect"):
        new_runner(store, reconnect=1.0)


async def test_an_unreachable_checkpoint_store_is_refused_before_anything_runs(
    store: EventStore, make_runner: Make, tmp_path: Path
) -> None:
    unreachable = [
        SqlCheckpointStore.from_url(f"sqlite+aiosqlite:///{tmp_path}/no/such/directory/x.db"),
        SqlCheckpointStore.from_url(f"postgresql+asyncpg://nobody@127.0.0.1:{_closed_port()}/x"),
    ]
    threads = set(threading.enumerate())
    for checkpoints in unreachable:
        async with checkpoints:
            runner = make_runner(checkpoints=checkpoints)
            on_loan = runner.add(OnLoan())
            with pytest.raises(CheckpointStoreUnavailableError, match="create its tables"):
                await runner.start()
            assert not runner.running
            assert on_loan.status.phase is Phase.STARTING
    for thread in set(threading.enumerate()) - threads:
        # aiosqlite stops the thread of a failed connection without waiting for it: let it
        # end while this test's event loop still runs
        await asyncio.to_thread(thread.join, 10)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_database_urls_are_checked() -> None:
    with pytest.raises(InvalidArgumentError, match="async driver"):
        SqlCheckpointStore.from_url("sqlite:///read-models.db")
    with pytest.raises(InvalidArgumentError, match="not a database URL"):
        SqlCheckpointStore.from_url("read-models.db")
    with pytest.raises(InvalidArgumentError, match=r"pip install aiomysql"):
        SqlCheckpointStore.from_url("mysql+aiomysql://user@host/db")
    with pytest.raises(InvalidArgumentError, match="AsyncEngine"):
        SqlCheckpointStore("sqlite+aiosqlite:///x.db")  # type: ignore[arg-type]
