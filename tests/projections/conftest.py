"""Fixtures of the projection tests: stores, runners and checkpoint stores of every kind.

`esdb_client` (a client of an empty emulator) comes from the package's pytest plugin. SQL
checkpoint stores run on a SQLite file of the test, or on a PostgreSQL server the session
starts once from the machine's binaries (each test in a schema of its own); PostgreSQL tests
skip with the reason when the machine has no PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from eventsourcingdb.aggregates import Backoff
from eventsourcingdb.client import Client
from eventsourcingdb.models import EventStore
from eventsourcingdb.projections import (
    CheckpointStore,
    MemoryCheckpointStore,
    Runner,
    SqlCheckpointStore,
)
from tests.projections.domain import REGISTRY, SOURCE
from tests.projections.postgres import PostgresServer, PostgresUnavailable, postgres_server
from tests.twins import AsyncFace, Twin, new_runner, new_store, twin_client

FAST = Backoff(initial=0.01, maximum=0.05)
"""Short waits, so that retries and reconnections keep the tests quick."""


@pytest.fixture
def esdb_client(esdb_client: Client, twin: Twin, request: pytest.FixtureRequest) -> Client:
    """The plugin's client of the twin under test: every test that uses it runs against the
    async runner and the blocking one (behind an async face, see `tests/twins.py`)."""
    return twin_client(twin, esdb_client, request)


@pytest.fixture
def store(esdb_client: Client) -> EventStore:
    """A typed store of the twin under test for the test domain."""
    return new_store(esdb_client, source=SOURCE, registry=REGISTRY)


ONE_LOOP_PER_POOL = (
    "asyncpg's connections belong to the event loop that opened them: this test opens the SQL "
    "checkpoint store and reads the read model in its own loop, which the blocking runner, whose "
    "loop is its own, cannot share (it opens stores itself; SQLite covers it here, and "
    "tests/sync/test_sync_runner.py a blocking application end to end)"
)


def _on_postgres(options: dict[str, Any]) -> bool:
    checkpoints = options.get("checkpoints")
    engine = getattr(checkpoints, "engine", None)
    return engine is not None and engine.url.drivername.startswith("postgresql")


@pytest.fixture
def make_runner(store: EventStore) -> Iterator[Callable[..., Runner]]:
    """Makes runners over `store` with quick retries; stops them all after the test."""
    made: list[Runner] = []

    def make(**options: Any) -> Runner:
        options.setdefault("reconnect", FAST)
        options.setdefault("stop_timeout", 10.0)
        if isinstance(options.get("store", store), AsyncFace) and _on_postgres(options):
            pytest.skip(ONE_LOOP_PER_POOL)
        runner = new_runner(options.pop("store", store), **options)
        made.append(runner)
        return runner

    yield make
    for runner in made:
        assert not runner.running, "a test left a runner running: stop it in the test"
        if isinstance(runner, AsyncFace):  # the blocking runner's thread ends with close()
            runner.blocking.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (skips where the machine cannot run one)."""
    try:
        with postgres_server() as server:
            yield server
    except PostgresUnavailable as reason:
        pytest.skip(f"no PostgreSQL for these tests: {reason}")


def _execute(url: str, statement: str) -> None:
    """Run one SQL statement on `url`, in a thread with its own event loop."""

    async def run() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.execute(sa.text(statement))
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> Iterator[tuple[str, dict[str, Any]]]:
    """A URL and engine options that put every table of the test in a schema of its own."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    _execute(postgres.url(), f"CREATE SCHEMA {schema}")
    try:
        yield postgres.url(), {"connect_args": {"server_settings": {"search_path": schema}}}
    finally:
        _execute(postgres.url(), f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of a SQLite file of the test."""
    return f"sqlite+aiosqlite:///{tmp_path / 'read-models.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def sql_url(request: pytest.FixtureRequest, sqlite_url: str) -> tuple[str, dict[str, Any]]:
    """The URL (and engine options) of a SQLite file, then of a PostgreSQL schema."""
    if request.param == "sqlite":
        return sqlite_url, {}
    chosen: tuple[str, dict[str, Any]] = request.getfixturevalue("postgres_url")
    return chosen


@pytest.fixture
async def sql_checkpoints(
    sql_url: tuple[str, dict[str, Any]],
) -> AsyncIterator[SqlCheckpointStore]:
    """A SQL checkpoint store on SQLite, then on PostgreSQL."""
    url, options = sql_url
    async with SqlCheckpointStore.from_url(url, **options) as checkpoints:
        yield checkpoints


@pytest.fixture
async def sqlite_checkpoints(sqlite_url: str) -> AsyncIterator[SqlCheckpointStore]:
    """A SQL checkpoint store on a SQLite file of the test."""
    async with SqlCheckpointStore.from_url(sqlite_url) as checkpoints:
        yield checkpoints


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def checkpoints(
    request: pytest.FixtureRequest, sqlite_url: str
) -> AsyncIterator[CheckpointStore]:
    """Every kind of checkpoint store, in turn."""
    if request.param == "memory":
        yield MemoryCheckpointStore()
        return
    url, options = (
        (sqlite_url, {}) if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    )
    async with SqlCheckpointStore.from_url(url, **options) as store:
        yield store


async def eventually(condition: Callable[[], bool], *, seconds: float = 10.0) -> None:
    """Wait until `condition()` holds (a phase reached in another task), at most `seconds`."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - the phases have no event to wait on
            await asyncio.sleep(0.01)
