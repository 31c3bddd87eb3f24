"""Faults under a running projection: the server drops, stalls, refuses and restarts, the
checkpoint database restarts; the projection resumes from its checkpoint every time, and its
read model ends exactly equal to a rebuild from scratch (nothing missed, nothing twice).

The server is the emulator on a real socket, failing on demand (`emulator.faults`,
`emulator.restart()`), or with a durable data directory, stopped and started again; the read
models live in SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from eventsourcingdb.client import Client
from eventsourcingdb.emulator import Emulator
from eventsourcingdb.errors import AuthenticationError, EventSourcingDBError
from eventsourcingdb.models import EventStore
from eventsourcingdb.projections import (
    Phase,
    ProjectionFailedError,
    RetryReason,
    Runner,
    SqlCheckpointStore,
)
from tests.projections.conftest import FAST, eventually
from tests.projections.domain import (
    REGISTRY,
    SOURCE,
    BookBorrowed,
    BookReturned,
    OnLoan,
    SqlOnLoan,
    table_rows,
)
from tests.projections.postgres import PostgresServer
from tests.projections.test_runner import Recorder

STALL_TIMEOUT = 0.5


@pytest.fixture
def server() -> Iterator[Emulator]:
    """An emulator of this test, on a loopback socket, with quick heartbeats."""
    with Emulator().with_heartbeat_interval(0.1) as emulator:
        yield emulator


@pytest.fixture
async def client(server: Emulator) -> AsyncIterator[Client]:
    """A client that gives a silent stream up after half a second."""
    async with server.get_client(stall_timeout=STALL_TIMEOUT, timeout=5.0) as chosen:
        yield chosen


@pytest.fixture
def faulty_store(client: Client) -> EventStore:
    return EventStore(client, source=SOURCE, registry=REGISTRY)


async def _write_through_faults(store: EventStore, count: int) -> None:
    """Lend and return books in `count` small writes, retrying what a fault refused.

    A write whose answer was lost may have been stored; the expected read model is taken from
    what the server holds in the end, so it does not matter.
    """
    for n in range(count):
        event = (
            BookBorrowed(member=f"/members/{n % 3}")
            if n % 4 != 3
            else BookReturned(member=f"/members/{n % 3}")
        )
        for _ in range(100):
            try:
                await store.append(f"/books/{n % 7}", event)
                break
            except EventSourcingDBError:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.002)


async def _rebuilt_rows(store: EventStore, sqlite_url: str) -> list[tuple[Any, ...]]:
    """The read model a fresh projection builds from everything the server holds now."""
    fresh = SqlOnLoan("on_loan_rebuilt", name="rebuilt")
    async with SqlCheckpointStore.from_url(sqlite_url) as checkpoints:
        runner = Runner(store, checkpoints=checkpoints, reconnect=FAST)
        runner.add(fresh)
        async with runner:
            await fresh.wait_until_caught_up(timeout=30)
        return await table_rows(checkpoints.engine, fresh.table)


@pytest.mark.timeout(120)
async def test_the_read_model_survives_every_server_fault_exactly_once(
    server: Emulator, faulty_store: EventStore, sqlite_url: str
) -> None:
    metrics = Recorder()
    async with SqlCheckpointStore.from_url(sqlite_url) as checkpoints:
        runner = Runner(faulty_store, checkpoints=checkpoints, reconnect=FAST, metrics=metrics)
        model = runner.add(SqlOnLoan())
        model.batch_size = 5
        async with runner:
            writing = asyncio.create_task(_write_through_faults(faulty_store, 240))
            faults: list[Callable[[], object]] = [
                lambda: server.faults.drop_streams(),
                lambda: server.restart(),
                lambda: server.faults.stall_streams(STALL_TIMEOUT * 3),
                lambda: server.faults.refuse_next(3, status=503),
                lambda: server.restart(),
                lambda: server.faults.refuse_next(2, status=429, retry_after=1),
                lambda: server.faults.refuse_next(2, status=500),
                lambda: server.faults.drop_streams(),
            ]
            for fault in faults:
                await asyncio.sleep(0.25)
                fault()
            await writing
            server.faults.clear()
            await model.wait_until_caught_up(timeout=30)
            status = model.status
            rows = await table_rows(checkpoints.engine, model.table)
    assert status.phase is Phase.LIVE
    assert status.retries >= 3, status  # refusals may hit the writer's requests instead
    assert {reason for _, reason in metrics.retries} == {RetryReason.SERVER}
    expected = await _rebuilt_rows(faulty_store, sqlite_url)
    assert len(expected) == 7
    assert rows == expected, "the same read model as a rebuild: no event missed or applied twice"


@pytest.mark.timeout(60)
async def test_a_restart_while_catching_up_resumes_from_the_checkpoint(
    server: Emulator, faulty_store: EventStore, sqlite_url: str
) -> None:
    await faulty_store.append_many(
        [(f"/books/{n % 50}", BookBorrowed(member="/members/ada")) for n in range(3000)]
    )
    async with SqlCheckpointStore.from_url(sqlite_url) as checkpoints:
        runner = Runner(faulty_store, checkpoints=checkpoints, reconnect=FAST)
        model = runner.add(SqlOnLoan())
        model.batch_size = 100
        async with runner:
            while model.status.processed < 300:  # noqa: ASYNC110 - a position, not an event
                await asyncio.sleep(0.005)
            assert model.status.phase is Phase.CATCHING_UP
            server.restart()
            await model.wait_until_caught_up(timeout=30)
            status = model.status
            rows = await table_rows(checkpoints.engine, model.table)
    assert status.retries >= 1
    assert status.processed == 3000, "each event committed once, across the restart"
    assert sum(times for _, _, times in rows) == 3000


@pytest.mark.timeout(60)
async def test_a_refused_token_stops_the_projection_instead_of_retrying(server: Emulator) -> None:
    async with server.get_client(api_token="wrong") as wrong:
        store = EventStore(wrong, source=SOURCE, registry=REGISTRY)
        runner = Runner(store, reconnect=FAST)
        model = runner.add(OnLoan())
        async with runner:
            with pytest.raises(ProjectionFailedError) as failed:
                await model.wait_until_caught_up(timeout=10)
    assert isinstance(failed.value.cause, AuthenticationError)
    assert failed.value.__cause__ is failed.value.cause
    assert model.status.retries == 0


@pytest.mark.timeout(120)
async def test_the_read_model_survives_a_restart_of_its_database(
    esdb_client: Client,
    postgres: PostgresServer,
    postgres_url: tuple[str, dict[str, Any]],
    sqlite_url: str,
) -> None:
    store = EventStore(esdb_client, source=SOURCE, registry=REGISTRY)
    url, options = postgres_url
    metrics = Recorder()
    async with SqlCheckpointStore.from_url(url, pool_pre_ping=True, **options) as checkpoints:
        runner = Runner(store, checkpoints=checkpoints, reconnect=FAST, metrics=metrics)
        model = runner.add(SqlOnLoan())
        async with runner:
            writing = asyncio.create_task(_write_through_faults(store, 150))
            await asyncio.sleep(0.3)
            await asyncio.to_thread(postgres.restart)
            await writing
            await model.wait_until_caught_up(timeout=60)
            rows = await table_rows(checkpoints.engine, model.table)
    assert (model.name, RetryReason.CHECKPOINT_STORE) in metrics.retries
    assert rows == await _rebuilt_rows(store, sqlite_url)


@pytest.mark.timeout(60)
async def test_a_durable_server_stopped_and_started_again_is_resumed_exactly_once(
    tmp_path: Path, sqlite_url: str
) -> None:
    durable = Emulator(data_directory=tmp_path / "data").with_heartbeat_interval(0.1).start()
    try:
        durable.with_port(durable.get_mapped_port())  # start again where clients look for it
        async with durable.get_client(stall_timeout=STALL_TIMEOUT, timeout=5.0) as client:
            store = EventStore(client, source=SOURCE, registry=REGISTRY)
            await _write_through_faults(store, 60)
            async with SqlCheckpointStore.from_url(sqlite_url) as checkpoints:
                runner = Runner(store, checkpoints=checkpoints, reconnect=FAST)
                model = runner.add(SqlOnLoan())
                async with runner:
                    await model.wait_until_caught_up(timeout=30)
                    durable.stop()  # the whole server goes away, its events stay on disk
                    await eventually(lambda: model.status.phase is Phase.RECONNECTING)
                    durable.start()
                    await _write_through_faults(store, 60)
                    await model.wait_until_caught_up(timeout=30)
                    status = model.status
                    rows = await table_rows(checkpoints.engine, model.table)
            assert status.retries >= 1
            assert status.phase is Phase.LIVE
            assert rows == await _rebuilt_rows(store, sqlite_url.replace(".db", "-rebuilt.db"))
    finally:
        durable.stop()
