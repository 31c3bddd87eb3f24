"""`SqlCheckpointStore`: checkpoints in a SQL database through SQLAlchemy's async Core.

Handlers receive the store's transaction (an `AsyncConnection`; a `def` handler gets the
blocking `Connection` of the same transaction), and the checkpoint is written in it too: the
read model and its position commit together, so every event takes effect exactly once.

Two tables, created on `open()` if missing: `<prefix>checkpoints` (one row per projection: the
event id and hash, the lease holder and when the lease runs out) and `<prefix>parked_events`.
Tested on SQLite (aiosqlite) and PostgreSQL (asyncpg); other databases SQLAlchemy supports
should work, but are not tested. Needs the `sql` extra (`postgres` adds asyncpg).

On SQLite, transactions begin with `BEGIN IMMEDIATE` (the write lock is taken at once, so two
writers wait for each other instead of failing) and one transaction of this store runs at a
time in a process. Use a database file; a `:memory:` database lives in one connection.
"""

from __future__ import annotations

from eventsourcingdb._extras import import_extra

import_extra("sqlalchemy.ext.asyncio", extra="sql", feature="SqlCheckpointStore")

import asyncio  # noqa: E402 - after the check that names the extra
import logging  # noqa: E402
import time  # noqa: E402
from collections.abc import AsyncIterator, Callable  # noqa: E402
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from types import TracebackType  # noqa: E402
from typing import Any, Final, Self, TypeVar  # noqa: E402

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine  # noqa: E402

from eventsourcingdb.errors import InvalidArgumentError, MissingExtraError  # noqa: E402
from eventsourcingdb.projections.checkpoints import Checkpoint, ParkedEvent  # noqa: E402
from eventsourcingdb.projections.errors import (  # noqa: E402
    CheckpointStoreError,
    CheckpointStoreUnavailableError,
    LeaseLostError,
)

__all__ = ["SqlCheckpointStore"]

_logger = logging.getLogger("eventsourcingdb.projections")

R = TypeVar("R")

DEFAULT_PREFIX: Final = "eventsourcingdb_"
_SQLITE_TIMEOUT: Final = 30.0
"""Seconds a SQLite connection made by `from_url` waits for another process's write lock."""
_DRIVERS: Final = {"asyncpg": "postgres", "aiosqlite": "sql", "sqlalchemy": "sql"}


_PASSING_STATES: Final = ("08", "53", "57P01", "57P02", "57P03", "40001", "40P01")
"""SQLSTATE codes (or their classes) of passing conditions: connection exceptions, insufficient
resources, a server shutting down, crashed or starting, serialization failures and deadlocks."""


def _unavailable(error: BaseException) -> bool:
    """Whether `error` says the database cannot serve now but may soon (worth a retry)."""
    if isinstance(error, CheckpointStoreError):
        return isinstance(error, CheckpointStoreUnavailableError)
    if isinstance(error, OSError | sa.exc.OperationalError | sa.exc.InterfaceError):
        return True
    if isinstance(error, sa.exc.TimeoutError | asyncio.TimeoutError):
        return True
    if not isinstance(error, sa.exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    state = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return isinstance(state, str) and state.startswith(_PASSING_STATES)


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class SqlCheckpointStore:
    """Checkpoints, parked events and leases in two tables of the database behind `engine`.

    `table_prefix` (default `eventsourcingdb_`) and `schema` place the tables. A store made with
    `from_url` owns its engine and disposes it on `aclose()`; a given engine stays yours.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        table_prefix: str = DEFAULT_PREFIX,
        schema: str | None = None,
    ) -> None:
        if not isinstance(engine, AsyncEngine):
            raise InvalidArgumentError(
                "SqlCheckpointStore needs an AsyncEngine (sqlalchemy.ext.asyncio."
                f"create_async_engine), got {type(engine).__name__}; or use "
                "SqlCheckpointStore.from_url('sqlite+aiosqlite:///read-models.db')"
            )
        if not isinstance(table_prefix, str) or not table_prefix.replace("_", "a").isalnum():
            raise InvalidArgumentError(
                f"table_prefix must be letters, digits and '_', got {table_prefix!r}"
            )
        if schema is not None and (not isinstance(schema, str) or not schema):
            raise InvalidArgumentError(f"schema must be a non-empty string or None, got {schema!r}")
        self._engine = engine
        self._owns_engine = False
        self._sqlite = engine.dialect.name == "sqlite"
        self._lock: asyncio.Lock | None = None
        self._opened = False
        metadata = sa.MetaData(schema=schema)
        self.metadata = metadata
        """The tables' metadata (for migrations tools such as Alembic)."""
        self.checkpoints_table = sa.Table(
            f"{table_prefix}checkpoints",
            metadata,
            sa.Column("name", sa.String(200), primary_key=True),
            sa.Column("event_id", sa.BigInteger, nullable=True),
            sa.Column("event_hash", sa.String(256), nullable=True),
            sa.Column("owner", sa.String(256), nullable=True),
            sa.Column("lease_expires", sa.Float, nullable=True),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        )
        self.parked_table = sa.Table(
            f"{table_prefix}parked_events",
            metadata,
            sa.Column("name", sa.String(200), primary_key=True),
            sa.Column("event_id", sa.BigInteger, primary_key=True),
            sa.Column("event_type", sa.Text, nullable=False),
            sa.Column("subject", sa.Text, nullable=False),
            sa.Column("error_type", sa.Text, nullable=False),
            sa.Column("error", sa.Text, nullable=False),
            sa.Column("attempts", sa.Integer, nullable=False),
            sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
        )

    @classmethod
    def from_url(cls, url: str, **engine_options: Any) -> SqlCheckpointStore:
        """A store on a new engine for `url`, e.g. `sqlite+aiosqlite:///read-models.db` or
        `postgresql+asyncpg://user:password@host/db`; `engine_options` go to
        `create_async_engine`. The store disposes the engine on `aclose()`."""
        if not isinstance(url, str):
            raise InvalidArgumentError(f"url must be a string, got {type(url).__name__}")
        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError as error:
            raise InvalidArgumentError(f"{url!r} is not a database URL: {error}") from None
        if parsed.get_backend_name() == "sqlite":
            connect_args = dict(engine_options.pop("connect_args", {}))
            connect_args.setdefault("timeout", _SQLITE_TIMEOUT)
            engine_options["connect_args"] = connect_args
        try:
            engine = create_async_engine(parsed, **engine_options)
        except ImportError as error:
            missing = (error.name or parsed.get_driver_name()).split(".")[0]
            shown = parsed.render_as_string(hide_password=True)
            extra = _DRIVERS.get(missing)
            if extra is None:
                raise InvalidArgumentError(
                    f"the database URL {shown!r} needs the driver {missing!r}, which is not "
                    f"installed: install it (pip install {missing})"
                ) from error
            raise MissingExtraError(
                f"the database URL {shown!r} needs the driver {missing!r}, which is not "
                f"installed: install it with: pip install 'eventsourcingdb-toolkit[{extra}]'",
                extra=extra,
                module=missing,
            ) from error
        except (sa.exc.ArgumentError, sa.exc.InvalidRequestError) as error:
            raise InvalidArgumentError(
                f"cannot make an async engine for "
                f"{parsed.render_as_string(hide_password=True)!r}: {error} (use an async "
                "driver, such as sqlite+aiosqlite:// or postgresql+asyncpg://)"
            ) from None
        store = cls(engine)
        store._owns_engine = True
        return store

    @property
    def engine(self) -> AsyncEngine:
        """The engine the store (and typically the read model) uses."""
        return self._engine

    def __repr__(self) -> str:
        url = self._engine.url.render_as_string(hide_password=True)
        return f"{type(self).__name__}({url!r}, table={self.checkpoints_table.fullname!r})"

    async def aclose(self) -> None:
        """Dispose the engine, if the store made it (`from_url`)."""
        if self._owns_engine:
            await self._engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- errors and transactions -------------------------------------------------------------

    def _error(self, error: BaseException, what: str) -> CheckpointStoreError:
        where = self._engine.url.render_as_string(hide_password=True)
        kind = CheckpointStoreUnavailableError if _unavailable(error) else CheckpointStoreError
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        return kind(f"the checkpoint store at {where!r} failed to {what}: {detail}")

    @asynccontextmanager
    async def _errors(self, what: str) -> AsyncIterator[None]:
        """Turn the database's errors into the store's (`CheckpointStoreError` and subclasses)."""
        try:
            yield
        except CheckpointStoreError:
            raise
        except (TimeoutError, sa.exc.SQLAlchemyError, OSError) as error:
            raise self._error(error, what) from error

    def _serial(self) -> AbstractAsyncContextManager[Any]:
        """On SQLite, one operation of this store at a time in this process."""
        if not self._sqlite:
            return nullcontext()
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self._serial():
            async with self._errors("begin a transaction"):
                connection = await self._engine.connect()
            try:
                async with self._errors("begin a transaction"):
                    if self._sqlite:
                        await connection.exec_driver_sql("BEGIN IMMEDIATE")
                    else:
                        await connection.begin()
                try:
                    yield connection
                except BaseException as error:
                    try:
                        await connection.rollback()
                    except Exception as rollback_error:  # a lost connection: nothing to undo
                        _logger.debug("rollback failed: %s", rollback_error)
                    if isinstance(error, Exception) and _unavailable(error):
                        raise self._error(error, "run a transaction") from error
                    raise
                async with self._errors("commit"):
                    await connection.commit()
            finally:
                try:
                    await connection.close()
                except Exception as close_error:
                    _logger.debug("closing a connection failed: %s", close_error)

    def transaction(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A transaction on a connection of the engine, committed when the block ends normally.

        An error that means the database cannot be reached becomes
        `CheckpointStoreUnavailableError`; others (a handler's own) pass through unchanged.
        """
        return self._transaction()

    @property
    def transactional(self) -> bool:
        """True: handlers' writes through `tx` commit or roll back with the checkpoint."""
        return True

    async def run_sync(self, tx: Any, function: Callable[[Any], R]) -> R:
        """Call `function` with the blocking `sqlalchemy.Connection` of the transaction."""
        connection: AsyncConnection = tx
        return await connection.run_sync(function)

    # --- the protocol ------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the tables if they are missing; `CheckpointStoreUnavailableError` if the
        database cannot be reached."""
        if self._opened:
            return
        for attempt in range(2):
            try:
                async with (
                    self._serial(),
                    self._errors("create its tables"),
                    self._engine.begin() as connection,
                ):
                    await connection.run_sync(self.metadata.create_all)
            except CheckpointStoreError as error:
                if isinstance(error, CheckpointStoreUnavailableError) or attempt:
                    raise
                continue  # another process created them at the same moment
            break
        self._opened = True

    async def load(self, name: str) -> Checkpoint | None:
        """The checkpoint of `name`, None before its first event."""
        table = self.checkpoints_table
        query = sa.select(table.c.event_id, table.c.event_hash).where(table.c.name == name)
        async with (
            self._serial(),
            self._errors("load a checkpoint"),
            self._engine.connect() as connection,
        ):
            row = (await connection.execute(query)).first()
        if row is None or row.event_id is None:
            return None
        return Checkpoint(str(row.event_id), row.event_hash)

    async def save(self, tx: Any, name: str, checkpoint: Checkpoint, *, owner: str | None) -> None:
        """Set the checkpoint of `name` in `tx`; with `owner`, only while it holds the lease
        (else `LeaseLostError`, which rolls the transaction back)."""
        connection: AsyncConnection = tx
        table = self.checkpoints_table
        values = {
            "event_id": int(checkpoint.event_id),
            "event_hash": checkpoint.event_hash,
            "updated_at": _now(),
        }
        statement = sa.update(table).where(table.c.name == name)
        if owner is not None:
            statement = statement.where(table.c.owner == owner)
        async with self._errors("save a checkpoint"):
            result = await connection.execute(statement.values(values))
            if result.rowcount:
                return
            if owner is not None:
                raise LeaseLostError(
                    f"projection {name!r} is not held by {owner!r} any more (another instance "
                    "took it over): the batch was rolled back",
                    projection=name,
                    owner=owner,
                )
            await connection.execute(sa.insert(table).values(name=name, **values))

    async def reset(self, tx: Any, name: str, *, owner: str | None) -> None:
        """Forget the checkpoint and the parked events of `name` in `tx`."""
        connection: AsyncConnection = tx
        table = self.checkpoints_table
        statement = sa.update(table).where(table.c.name == name)
        if owner is not None:
            statement = statement.where(table.c.owner == owner)
        async with self._errors("reset a checkpoint"):
            result = await connection.execute(
                statement.values(event_id=None, event_hash=None, updated_at=_now())
            )
            if owner is not None and not result.rowcount:
                raise LeaseLostError(
                    f"projection {name!r} is not held by {owner!r}: it cannot be reset here",
                    projection=name,
                    owner=owner,
                )
            parked = self.parked_table
            await connection.execute(sa.delete(parked).where(parked.c.name == name))

    async def acquire(self, name: str, owner: str, ttl: float) -> bool:
        """Take or extend the lease of `name` for `ttl` seconds; False while another owner's
        lease runs. Lease times come from this machine's clock: a skew between machines only
        shifts when a standby may take over, never lets two instances commit."""
        table = self.checkpoints_table
        now = time.time()
        free = sa.or_(table.c.owner.is_(None), table.c.owner == owner, table.c.lease_expires < now)
        take = (
            sa.update(table)
            .where(table.c.name == name, free)
            .values(owner=owner, lease_expires=now + ttl)
        )
        try:
            async with self._transaction() as connection, self._errors("take a lease"):
                if (await connection.execute(take)).rowcount:
                    return True
                exists = sa.select(table.c.name).where(table.c.name == name)
                if (await connection.execute(exists)).first() is not None:
                    return False
                await connection.execute(
                    sa.insert(table).values(
                        name=name, owner=owner, lease_expires=now + ttl, updated_at=_now()
                    )
                )
                return True
        except CheckpointStoreError as error:
            if isinstance(error.__cause__, sa.exc.IntegrityError):
                return False  # another instance made the row at the same moment
            raise

    async def release(self, name: str, owner: str) -> None:
        """Give the lease of `name` up, if `owner` holds it."""
        table = self.checkpoints_table
        statement = (
            sa.update(table)
            .where(table.c.name == name, table.c.owner == owner)
            .values(owner=None, lease_expires=None)
        )
        async with self._transaction() as connection, self._errors("release a lease"):
            await connection.execute(statement)

    async def park(self, tx: Any, name: str, event: ParkedEvent) -> None:
        """Record a parked event of `name` in `tx` (replacing one with the same id)."""
        connection: AsyncConnection = tx
        table = self.parked_table
        key = (table.c.name == name) & (table.c.event_id == int(event.event_id))
        async with self._errors("park an event"):
            await connection.execute(sa.delete(table).where(key))
            await connection.execute(
                sa.insert(table).values(
                    name=name,
                    event_id=int(event.event_id),
                    event_type=event.event_type,
                    subject=event.subject,
                    error_type=event.error_type,
                    error=event.error,
                    attempts=event.attempts,
                    parked_at=event.parked_at,
                )
            )

    async def unpark(self, tx: Any, name: str, event_id: str) -> None:
        """Remove a parked event of `name` in `tx`."""
        connection: AsyncConnection = tx
        table = self.parked_table
        key = (table.c.name == name) & (table.c.event_id == int(event_id))
        async with self._errors("remove a parked event"):
            await connection.execute(sa.delete(table).where(key))

    async def parked(self, name: str) -> list[ParkedEvent]:
        """The parked events of `name`, oldest event first."""
        table = self.parked_table
        query = sa.select(table).where(table.c.name == name).order_by(table.c.event_id)
        async with (
            self._serial(),
            self._errors("list parked events"),
            self._engine.connect() as connection,
        ):
            rows = (await connection.execute(query)).all()
        return [
            ParkedEvent(
                event_id=str(row.event_id),
                event_type=row.event_type,
                subject=row.subject,
                error_type=row.error_type,
                error=row.error,
                attempts=row.attempts,
                parked_at=_aware(row.parked_at),
            )
            for row in rows
        ]
