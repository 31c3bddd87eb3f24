"""The emulator's data directory: events and schemas in SQLite (WAL), committed in groups.

One database file, `eventsourcingdb-emulator.sqlite3`, holds each event as the exact bytes the
server sends for it (`events`: id and bytes), the schemas (`schemas`: type and schema) and what
binds the directory (`meta`: format, hash version, verification key). `Journal` owns the
connection: writers hand it entries under the store's lock, one thread commits whatever has
gathered in one transaction (group commit, `synchronous=FULL`), and only then are the writers
answered and the events shown to readers. `open_journal` refuses a directory that is foreign,
damaged, in use or bound to other settings, and never changes what it refuses.
"""

from __future__ import annotations

import calendar
import concurrent.futures
import contextlib
import enum
import itertools
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from eventsourcingdb import _wire
from eventsourcingdb.emulator.encoding import decode_json
from eventsourcingdb.emulator.hashing import EventMetadata, HashVersion, compute_hash
from eventsourcingdb.emulator.options import DEFAULT_SERVER_HEADER
from eventsourcingdb.emulator.records import (
    DATA_CONTENT_TYPE,
    SPEC_VERSION,
    StoredEvent,
    StoreUnavailableError,
    encode_event,
    normalize_subject,
)
from eventsourcingdb.emulator.schemas import CompiledSchema, InvalidSchemaError, compile_schema

__all__ = [
    "DATABASE_NAME",
    "DataDirectoryError",
    "DirectoryIdentity",
    "History",
    "Journal",
    "JournalEntry",
    "Verification",
    "open_journal",
]

_logger = logging.getLogger("eventsourcingdb.emulator")

DATABASE_NAME: Final = "eventsourcingdb-emulator.sqlite3"
"""The one file of a data directory (SQLite adds `-wal` beside it while it is open)."""
FORMAT_VERSION: Final = 1
"""The layout of the database; stored as SQLite's `user_version`."""
APPLICATION_ID: Final = 0x45534442
"""`ESDB`, stored as SQLite's `application_id`: a database of another program is foreign."""
TAIL: Final = 1000
"""How many of the last events a start checks in full (hash, signature, bytes)."""

_SCHEMA: Final = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE events (position INTEGER PRIMARY KEY, encoded BLOB NOT NULL)",
    "CREATE TABLE schemas (type TEXT PRIMARY KEY, schema BLOB NOT NULL)",
)
_DATA: Final = b',"data":'
_HASH: Final = b',"hash":'
_V2_PREFIX: Final = "esdb:hash:v2:"


class DataDirectoryError(Exception):
    """The data directory cannot be used: foreign, damaged, in use, or bound to other settings."""


class Verification(enum.Enum):
    """How much of a data directory a start checks."""

    TAIL = "tail"
    """The chain of every event's predecessor hash, and the last `TAIL` events in full."""
    FULL = "full"
    """Every event in full, and SQLite's own integrity check of the file."""


@dataclass(frozen=True, slots=True)
class DirectoryIdentity:
    """What binds a data directory: its events carry hashes and signatures of these."""

    hash_version: HashVersion
    verification_key: bytes | None
    """The raw Ed25519 public key that verifies the signatures, or None for unsigned events."""

    def describe_key(self) -> str:
        if self.verification_key is None:
            return "no signing key"
        return f"the signing key whose public key starts {self.verification_key.hex()[:16]}"


@dataclass(frozen=True, slots=True)
class History:
    """What a data directory holds: every event in order, the schemas, the last event's time."""

    events: list[StoredEvent]
    schemas: dict[str, CompiledSchema]
    last_time_ns: int


def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True, eq=False)
class JournalEntry:
    """One change to make durable, and what the store does once it is (under its lock)."""

    events: Sequence[StoredEvent] = ()
    schema: tuple[str, CompiledSchema] | None = None
    clear: bool = False
    """Delete every event and schema first (a reset)."""
    on_durable: Callable[[], None] = _nothing
    done: concurrent.futures.Future[None] = field(default_factory=concurrent.futures.Future)


class Journal:
    """The connection to a data directory and the thread that commits entries in groups."""

    def __init__(self, connection: sqlite3.Connection, database: Path) -> None:
        self._connection = connection
        self._database = database
        self._condition = threading.Condition()
        self._queue: list[JournalEntry] = []
        self._closing = False
        self._failure: StoreUnavailableError | None = None
        self._commits = 0
        self._on_durable: Callable[[Sequence[JournalEntry]], None] = lambda entries: None
        self._thread = threading.Thread(
            target=self._run, name="eventsourcingdb-emulator-commit", daemon=True
        )

    @property
    def database(self) -> Path:
        """The database file."""
        return self._database

    @property
    def commits(self) -> int:
        """How many transactions were committed (fewer than entries: they are grouped)."""
        return self._commits

    @property
    def pending(self) -> int:
        """How many entries wait for the next commit."""
        with self._condition:
            return len(self._queue)

    @property
    def failure(self) -> StoreUnavailableError | None:
        """Why the journal takes no more entries: a commit failed, or it was closed."""
        return self._failure

    def start(self, on_durable: Callable[[Sequence[JournalEntry]], None]) -> None:
        """Start committing; `on_durable` learns of each committed group, in order."""
        self._on_durable = on_durable
        self._thread.start()

    def submit(self, entry: JournalEntry) -> concurrent.futures.Future[None]:
        """Queue an entry (in the order the store decided); its future is done once durable."""
        with self._condition:
            if self._failure is not None:
                _answer(entry, self._failure)
            else:
                self._queue.append(entry)
                self._condition.notify()
        return entry.done

    def close(self) -> None:
        """Commit what is queued, stop the thread and close the database."""
        with self._condition:
            self._closing = True
            self._condition.notify()
        if self._thread.is_alive():
            self._thread.join()
        with contextlib.suppress(sqlite3.Error):
            self._connection.close()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._queue and not self._closing:
                    self._condition.wait()
                if not self._queue:
                    if self._failure is None:
                        self._failure = StoreUnavailableError("the store is closed", closed=True)
                    return
                batch, self._queue = self._queue, []
            try:
                self._commit(batch)
            except sqlite3.Error as error:
                self._fail(batch, error)
                continue
            self._commits += 1
            try:
                self._on_durable(batch)
            except Exception:  # a bug must not leave the writers waiting forever
                _logger.exception("the emulator failed to show committed events")
            for entry in batch:
                _answer(entry, None)

    def _commit(self, batch: Sequence[JournalEntry]) -> None:
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            for entry in batch:
                if entry.clear:
                    connection.execute("DELETE FROM events")
                    connection.execute("DELETE FROM schemas")
                if entry.events:
                    connection.executemany(
                        "INSERT INTO events (position, encoded) VALUES (?, ?)",
                        [(event.index, event.encoded) for event in entry.events],
                    )
                if entry.schema is not None:
                    name, schema = entry.schema
                    connection.execute(
                        "INSERT INTO schemas (type, schema) VALUES (?, ?)", (name, schema.encoded)
                    )
            connection.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            raise

    def _fail(self, batch: Sequence[JournalEntry], error: sqlite3.Error) -> None:
        """A commit failed: its entries and all later ones fail, and no more are taken."""
        _logger.error("the emulator could not write to %s: %s", self._database, error)
        failure = StoreUnavailableError(
            f"the data directory could not be written ({error}); restart the emulator"
        )
        with self._condition:
            self._failure = failure
            pending = [*batch, *self._queue]
            self._queue.clear()
        for entry in pending:
            _answer(entry, failure)


def _answer(entry: JournalEntry, failure: StoreUnavailableError | None) -> None:
    """Tell an entry's writer how its commit went, unless the writer stopped waiting.

    A cancelled wait (a client's deadline, a dropped request) withdraws nothing: the entry is
    committed all the same, and the journal goes on with the next.
    """
    if not entry.done.set_running_or_notify_cancel():
        return
    if failure is None:
        entry.done.set_result(None)
    else:
        entry.done.set_exception(failure)


# --- opening and checking ----------------------------------------------------------------------


def open_journal(
    directory: Path, identity: DirectoryIdentity, verification: Verification = Verification.TAIL
) -> tuple[Journal, History]:
    """Open (or create) a data directory, check it and read it back; `DataDirectoryError` if
    it cannot be used. The journal is not started yet."""
    database = _database_path(directory)
    try:
        connection = sqlite3.connect(
            database, isolation_level=None, check_same_thread=False, timeout=0
        )
    except sqlite3.Error as error:
        raise DataDirectoryError(f"cannot open {database}: {error}") from None
    try:
        created = _claim(connection, database)
        if created:
            _create(connection, identity)
        else:
            _check_settings(connection, database, identity)
        history = _read(connection, database, identity, verification)
    except DataDirectoryError:
        connection.close()
        raise
    except sqlite3.DatabaseError as error:
        connection.close()
        raise DataDirectoryError(
            f"{database} is damaged or not an emulator's database ({error}); it was left as it "
            "is: restore it from a backup, or use another directory"
        ) from None
    return Journal(connection, database), history


def _database_path(directory: Path) -> Path:
    if directory.exists() and not directory.is_dir():
        raise DataDirectoryError(f"{directory} is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataDirectoryError(f"cannot create the data directory {directory}: {error}") from None
    database = directory / DATABASE_NAME
    if not database.exists():
        others = sorted(entry.name for entry in directory.iterdir())
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise DataDirectoryError(
                f"{directory} is not an emulator's data directory: it holds other files "
                f"({shown}) and no {DATABASE_NAME}; it was left as it is: pass an empty or a "
                "new directory"
            )
    return database


def _claim(connection: sqlite3.Connection, database: Path) -> bool:
    """Hold the database for this process alone while the connection is open; whether it is new.

    A database of another program is refused before anything is written to it.
    """
    try:
        connection.execute("PRAGMA locking_mode=EXCLUSIVE")
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
        tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        new = bool(application_id == 0 and tables == 0)
        if not new and application_id != APPLICATION_ID:
            raise DataDirectoryError(
                f"{database} is not an emulator's database (a SQLite database of another "
                "program); it was left as it is: use another directory"
            )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("BEGIN IMMEDIATE")  # takes the exclusive lock, and keeps it
        connection.execute("COMMIT")
    except sqlite3.OperationalError as error:
        if "locked" in str(error) or "busy" in str(error):
            raise DataDirectoryError(
                f"{database.parent} is in use by another emulator (or another program); stop it "
                "first, or use another directory"
            ) from None
        raise
    return new


def _check_settings(
    connection: sqlite3.Connection, database: Path, identity: DirectoryIdentity
) -> None:
    """An existing directory of a format this emulator reads, bound to the same settings."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > FORMAT_VERSION:
        raise DataDirectoryError(
            f"{database} was written by a newer version of the emulator (format {version}, this "
            f"one reads format {FORMAT_VERSION}); it was left as it is: update eventsourcingdb"
        )
    meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
    stored = _identity(meta, database)
    stored_version = int(stored.hash_version)
    if stored.hash_version is not identity.hash_version:
        raise DataDirectoryError(
            f"{database.parent} holds events hashed with hash version {stored_version}, this "
            f"emulator is set to version {int(identity.hash_version)}: start it with hash "
            f"version {stored_version} (--emulator-hash-version {stored_version}, or "
            f"with_hash_version({stored_version}))"
        )
    if stored.verification_key != identity.verification_key:
        raise DataDirectoryError(
            f"{database.parent} holds events signed with {stored.describe_key()}, this emulator "
            f"has {identity.describe_key()}: start it with the directory's key "
            "(--signing-key-file, or with_signing_key(key)), or without one if it has none"
        )


def _create(connection: sqlite3.Connection, identity: DirectoryIdentity) -> None:
    key = identity.verification_key.hex() if identity.verification_key is not None else ""
    meta = {
        "format": str(FORMAT_VERSION),
        "hash_version": str(int(identity.hash_version)),
        "verification_key": key,
        "created_by": DEFAULT_SERVER_HEADER,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    connection.execute("BEGIN IMMEDIATE")
    try:
        for statement in _SCHEMA:
            connection.execute(statement)
        connection.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
        connection.execute(f"PRAGMA application_id={APPLICATION_ID}")
        connection.execute(f"PRAGMA user_version={FORMAT_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _identity(meta: dict[str, str], database: Path) -> DirectoryIdentity:
    try:
        version = HashVersion(int(meta["hash_version"]))
        key = bytes.fromhex(meta["verification_key"]) or None
    except (KeyError, ValueError) as error:
        raise DataDirectoryError(
            f"{database} is damaged: its settings cannot be read ({error!r}); it was left as it is"
        ) from None
    return DirectoryIdentity(version, key)


def _read(
    connection: sqlite3.Connection,
    database: Path,
    identity: DirectoryIdentity,
    verification: Verification,
) -> History:
    """Every event and schema, checked as `verification` says."""
    if verification is Verification.FULL:
        problems = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise DataDirectoryError(
                f"{database} is damaged: SQLite's integrity check reports "
                f"{'; '.join(problems[:5])}; it was left as it is"
            )
    events: list[StoredEvent] = []
    predecessor = _wire.ZERO_HASH
    rows = connection.execute("SELECT position, encoded FROM events ORDER BY position")
    for expected, (position, encoded) in zip(itertools.count(), rows, strict=False):
        if position != expected:
            raise _damaged(database, f"event {expected} is missing (the next is {position})")
        if not isinstance(encoded, bytes):
            raise _damaged(database, f"event {position} is not stored as bytes")
        event = _decode(position, encoded, database)
        if event.predecessorhash != predecessor:
            raise _damaged(database, f"the hash chain breaks at event {position}")
        predecessor = event.hash
        events.append(event)
    checked = events if verification is Verification.FULL else events[-TAIL:]
    key = (
        Ed25519PublicKey.from_public_bytes(identity.verification_key)
        if identity.verification_key is not None
        else None
    )
    for event in checked:
        _check_event(event, identity.hash_version, key, database)
    schemas: dict[str, CompiledSchema] = {}
    for name, encoded in connection.execute("SELECT type, schema FROM schemas ORDER BY type"):
        try:
            schemas[name] = compile_schema(decode_json(bytes(encoded)))
        except (ValueError, InvalidSchemaError) as error:
            raise _damaged(database, f"the schema of {name!r} cannot be read: {error}") from None
    last_time_ns = _time_ns(events[-1].time) if events else 0
    return History(events, schemas, last_time_ns)


def _damaged(database: Path, problem: str) -> DataDirectoryError:
    return DataDirectoryError(
        f"{database} is damaged: {problem}; it was left as it is: restore it from a backup, or "
        "use another directory"
    )


def _decode(position: int, encoded: bytes, database: Path) -> StoredEvent:
    """An event back from its stored bytes: `data` as sent, the other members decoded."""
    try:
        start = encoded.index(_DATA) + len(_DATA)
        end = encoded.rindex(_HASH)
        data_bytes = encoded[start:end]
        members = json.loads(encoded[:start] + b"null" + encoded[end:])
        subject = members["subject"]
        return StoredEvent(
            index=position,
            id=members["id"],
            time=members["time"],
            source=members["source"],
            subject=subject,
            node=normalize_subject(subject),
            type=members["type"],
            data=decode_json(data_bytes),
            data_bytes=data_bytes,
            traceparent=members.get("traceparent"),
            tracestate=members.get("tracestate"),
            predecessorhash=members["predecessorhash"],
            hash=members["hash"],
            signature=members["signature"],
            encoded=encoded,
        )
    except (ValueError, KeyError, TypeError) as error:
        raise _damaged(database, f"event {position} cannot be read ({error!r})") from None


def _check_event(
    event: StoredEvent, version: HashVersion, key: Ed25519PublicKey | None, database: Path
) -> None:
    """An event's id, bytes, hash and signature are what the server made of it."""
    metadata = EventMetadata(
        specversion=SPEC_VERSION,
        id=event.id,
        predecessorhash=event.predecessorhash,
        time=event.time,
        source=event.source,
        subject=event.subject,
        type=event.type,
        datacontenttype=DATA_CONTENT_TYPE,
        traceparent=event.traceparent,
        tracestate=event.tracestate,
    )
    if event.id != str(event.index):
        raise _damaged(database, f"event {event.index} carries the id {event.id!r}")
    if encode_event(metadata, event.data_bytes, event.hash, event.signature) != event.encoded:
        raise _damaged(database, f"the bytes of event {event.id} are not an event's")
    if compute_hash(version, metadata, event.data_bytes) != event.hash:
        raise _damaged(database, f"event {event.id} does not match its hash")
    if key is None:
        if event.signature is not None:
            raise _damaged(database, f"event {event.id} is signed, but the directory is not")
        return
    signature = (event.signature or "").removeprefix(_wire.SIGNATURE_V1_PREFIX)
    try:
        key.verify(bytes.fromhex(signature), event.hash.encode("utf-8"))
    except (ValueError, InvalidSignature):
        raise _damaged(database, f"the signature of event {event.id} does not verify") from None


def _time_ns(text: str) -> int:
    """The nanoseconds since the epoch of an RFC 3339 UTC time as the store writes it."""
    stamp, _, fraction = text.removesuffix("Z").partition(".")
    seconds = calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1_000_000_000 + int(fraction.ljust(9, "0") or "0")
