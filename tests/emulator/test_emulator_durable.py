"""The data directory: what survives a restart, when a write is answered, and what is refused."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eventsourcingdb import OutcomeUnknownError
from eventsourcingdb.emulator import Emulator, durable
from eventsourcingdb.emulator.__main__ import main
from eventsourcingdb.emulator.durable import DATABASE_NAME, Journal
from eventsourcingdb.emulator.encoding import TimeFormat, format_time
from eventsourcingdb.errors import ContainerError, InvalidArgumentError
from tests.emulator.emulator_helpers import AUTH, candidate

TIMEOUT = 10.0
WRITE = "/api/v2/data/write-events"
SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
SCHEMA_TYPE = "io.eventsourcingdb.library.book-acquired"


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "data"


def _emulator(directory: Path, key: Ed25519PrivateKey, **options: Any) -> Emulator:
    return Emulator(in_process=True, data_directory=directory, **options).with_signing_key(key)


@pytest.fixture
def running(directory: Path, key: Ed25519PrivateKey) -> Iterator[Emulator]:
    with _emulator(directory, key) as started:
        yield started


async def _http(emulator: Emulator) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=emulator.async_transport(),
        base_url=emulator.get_base_url(),
        headers=AUTH,
        timeout=TIMEOUT,
    )


@pytest.fixture
async def http(running: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with await _http(running) as client:
        yield client


async def _write(http: httpx.AsyncClient, *events: dict[str, Any]) -> list[bytes]:
    """Write and return each written event's exact bytes, as the answer carried them."""
    response = await http.post(WRITE, json={"events": list(events) or [candidate()]})
    assert response.status_code == 200, response.text
    return _event_bytes(response.content)


def _event_bytes(body: bytes) -> list[bytes]:
    head, tail = b'{"type":"event","data":', b"}"
    return [line[len(head) : -len(tail)] for line in body.splitlines() if line.startswith(head)]


async def _stored(http: httpx.AsyncClient) -> list[bytes]:
    response = await http.request(
        "QUERY", "/api/v2/data/read-events", json={"subject": "/", "options": {"recursive": True}}
    )
    assert response.status_code == 200, response.text
    return _event_bytes(response.content)


# --- what survives -----------------------------------------------------------------------------


async def test_events_and_schemas_survive_a_restart_byte_for_byte(
    directory: Path, key: Ed25519PrivateKey
) -> None:
    traced = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    events = [
        candidate("/books/1", data={"title": "Ubik", "price": 1.5e-7, "tags": ["<&>", "ü"]}),
        candidate("/books/2", traceparent=traced, tracestate="vendor=value"),
        candidate("/", SCHEMA_TYPE, data={"title": "Solaris", "nested": {"deep": [None, True]}}),
    ]
    with _emulator(directory, key) as first:
        async with await _http(first) as http:
            written = await _write(http, *events)
            response = await http.post(
                "/api/v2/data/register-event-schema", json={"type": SCHEMA_TYPE, "schema": SCHEMA}
            )
            assert '"type":"end"' in response.text
            written += await _write(http, candidate("/books/1", SCHEMA_TYPE))
    with _emulator(directory, key) as second:
        async with await _http(second) as http:
            assert await _stored(http) == written
            refused = await http.post(
                WRITE, json={"events": [candidate(type_=SCHEMA_TYPE, data={"title": 42})]}
            )
            assert "event-schema-violated" in refused.text
            (following,) = await _write(http)
    last, new = json.loads(written[-1]), json.loads(following)
    assert new["id"] == "4"
    assert new["predecessorhash"] == last["hash"]


async def test_a_restart_reads_the_directory_back_and_cuts_connections(
    running: Emulator, http: httpx.AsyncClient
) -> None:
    written = await _write(http, candidate(), candidate())
    before = running.server.store
    running.restart()
    assert running.server.store is not before
    assert await _stored(http) == written
    assert len(await _write(http)) == 1


async def test_reset_empties_the_directory(
    directory: Path, key: Ed25519PrivateKey, running: Emulator, http: httpx.AsyncClient
) -> None:
    await _write(http, candidate(), candidate())
    running.reset()
    (first,) = await _write(http)
    running.stop()
    with _emulator(directory, key) as reopened:
        async with await _http(reopened) as again:
            assert await _stored(again) == [first]
    assert json.loads(first)["id"] == "0"


def test_times_are_read_back_to_the_nanosecond() -> None:
    for nanoseconds in (0, 1, 1_700_000_000_123_456_789, 1_700_000_000_100_000_000):
        for time_format in TimeFormat:
            text = format_time(nanoseconds, time_format)
            assert durable._time_ns(text) == nanoseconds, text


# --- when a write is answered ------------------------------------------------------------------


class _HeldCommits:
    """Holds the journal's commits until the test lets them go; records each commit's size."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.batches: list[int] = []
        real = Journal._commit

        def commit(journal: Journal, batch: Any) -> None:
            self.batches.append(len(batch))
            self.started.set()
            self.release.wait()  # the fixture lets go at the latest when the test ends
            real(journal, batch)

        monkeypatch.setattr(Journal, "_commit", commit)


@pytest.fixture
def held(running: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[_HeldCommits]:
    commits = _HeldCommits(monkeypatch)
    try:
        yield commits
    finally:
        commits.release.set()  # also when the test failed: the emulator then stops cleanly


async def test_a_write_is_answered_and_shown_only_once_it_is_committed(
    http: httpx.AsyncClient, held: _HeldCommits
) -> None:
    writing = asyncio.ensure_future(_write(http))
    assert await asyncio.to_thread(held.started.wait, TIMEOUT)
    assert not writing.done()
    assert await _stored(http) == [], "readers see nothing that is not durable"
    held.release.set()
    written = await writing
    assert await _stored(http) == written


async def test_concurrent_writers_share_one_commit(
    running: Emulator, http: httpx.AsyncClient, held: _HeldCommits
) -> None:
    journal = running.server.store.journal
    assert journal is not None
    first = asyncio.ensure_future(_write(http, candidate("/w/0")))
    assert await asyncio.to_thread(held.started.wait, TIMEOUT)
    others = [asyncio.ensure_future(_write(http, candidate(f"/w/{n}"))) for n in range(1, 50)]
    async with asyncio.timeout(TIMEOUT):
        while journal.pending < 49:  # noqa: ASYNC110 - the journal counts on another thread
            await asyncio.sleep(0.01)
    assert not first.done()
    held.release.set()
    written = [event for events in await asyncio.gather(first, *others) for event in events]
    assert held.batches == [1, 49], "the first write alone, then the 49 that gathered meanwhile"
    assert journal.commits == 2
    assert sorted(await _stored(http)) == sorted(written)


async def test_a_writer_that_stops_waiting_stops_no_commit(
    running: Emulator, http: httpx.AsyncClient, held: _HeldCommits
) -> None:
    writing = asyncio.ensure_future(_write(http, candidate("/given-up")))
    assert await asyncio.to_thread(held.started.wait, TIMEOUT)
    writing.cancel()  # a client's deadline, say: the write's outcome is unknown to it
    held.release.set()
    async with asyncio.timeout(TIMEOUT):
        (following,) = await _write(http, candidate("/following"))
    stored = await _stored(http)
    assert [json.loads(event)["subject"] for event in stored] == ["/given-up", "/following"]
    assert stored[-1] == following
    journal = running.server.store.journal
    assert journal is not None
    assert journal.failure is None


async def test_a_failed_commit_leaves_the_outcome_unknown_and_refuses_writes(
    running: Emulator, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = await _write(http)

    def failing(journal: Journal, batch: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(Journal, "_commit", failing)
    async with running.get_client() as client:
        with pytest.raises(OutcomeUnknownError):
            await client.write_events([candidate()])
        with pytest.raises(OutcomeUnknownError):
            await client.write_events([candidate()])
    assert await _stored(http) == written, "reads go on"
    monkeypatch.undo()
    running.restart()
    assert await _stored(http) == written
    assert len(await _write(http)) == 1


# --- what is refused ---------------------------------------------------------------------------


def _refused(directory: Path, key: Ed25519PrivateKey, **options: Any) -> str:
    with pytest.raises(ContainerError) as refused:
        _emulator(directory, key, **options).start()
    return str(refused.value)


def _files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in directory.iterdir()}


def test_a_directory_of_other_files_is_refused_and_left_alone(
    directory: Path, key: Ed25519PrivateKey
) -> None:
    directory.mkdir()
    (directory / "notes.txt").write_text("mine")
    message = _refused(directory, key)
    assert "not an emulator's data directory" in message
    assert "notes.txt" in message
    assert _files(directory) == {"notes.txt": b"mine"}


def test_a_database_of_another_program_is_refused_and_left_alone(
    directory: Path, key: Ed25519PrivateKey
) -> None:
    directory.mkdir()
    with sqlite3.connect(directory / DATABASE_NAME) as other:
        other.execute("CREATE TABLE accounts (id INTEGER)")
    other.close()
    before = _files(directory)
    assert "a SQLite database of another program" in _refused(directory, key)
    assert _files(directory) == before


def test_a_file_that_is_no_database_is_refused_and_left_alone(
    directory: Path, key: Ed25519PrivateKey
) -> None:
    directory.mkdir()
    (directory / DATABASE_NAME).write_bytes(b"certainly not SQLite " * 100)
    before = _files(directory)
    assert "is damaged or not an emulator's database" in _refused(directory, key)
    assert _files(directory) == before


def test_a_path_that_is_a_file_is_refused(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    assert "is not a directory" in _refused(path, key)


def test_a_directory_in_use_is_refused(
    running: Emulator, directory: Path, key: Ed25519PrivateKey
) -> None:
    assert "in use by another emulator" in _refused(directory, key)
    assert running.is_running()


async def _populated(directory: Path, key: Ed25519PrivateKey, count: int) -> None:
    with _emulator(directory, key) as filling:
        async with await _http(filling) as http:
            await _write(http, *(candidate(f"/books/{n}") for n in range(count)))


def _tamper(directory: Path, statement: str, *parameters: object) -> None:
    with sqlite3.connect(directory / DATABASE_NAME) as connection:
        connection.execute(statement, parameters)
    connection.close()


async def test_changed_bytes_in_the_tail_are_found_on_start(
    directory: Path, key: Ed25519PrivateKey
) -> None:
    await _populated(directory, key, 5)
    _tamper(
        directory,
        "UPDATE events SET encoded = "
        "CAST(replace(encoded, X'2f626f6f6b732f34', X'2f626f6f6b732f35') AS BLOB) "
        "WHERE position = 4",
    )
    assert "event 4 does not match its hash" in _refused(directory, key)


async def test_changed_bytes_before_the_tail_are_found_by_the_full_check(
    directory: Path, key: Ed25519PrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(durable, "TAIL", 2)
    await _populated(directory, key, 5)
    _tamper(
        directory,
        "UPDATE events SET encoded = "
        "CAST(replace(encoded, X'2f626f6f6b732f31', X'2f626f6f6b732f39') AS BLOB) "
        "WHERE position = 1",
    )
    with _emulator(directory, key):
        pass  # the chain still links: only the tail is checked in full
    assert "event 1 does not match its hash" in _refused(directory, key, verify_data_directory=True)


async def test_a_missing_event_or_a_broken_chain_is_refused(
    directory: Path, key: Ed25519PrivateKey
) -> None:
    await _populated(directory, key, 5)
    _tamper(directory, "DELETE FROM events WHERE position = 2")
    assert "event 2 is missing" in _refused(directory, key)


async def test_a_forged_signature_is_refused(directory: Path, key: Ed25519PrivateKey) -> None:
    await _populated(directory, key, 2)
    with sqlite3.connect(directory / DATABASE_NAME) as connection:
        (encoded,) = connection.execute("SELECT encoded FROM events WHERE position = 1").fetchone()
    connection.close()
    signature = json.loads(encoded)["signature"]
    forged = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    _tamper(
        directory,
        "UPDATE events SET encoded = ? WHERE position = 1",
        bytes(encoded).replace(signature.encode(), forged.encode()),
    )
    assert "the signature of event 1 does not verify" in _refused(directory, key)


async def test_a_directory_is_bound_to_its_hash_version_and_key(
    directory: Path, key: Ed25519PrivateKey
) -> None:
    await _populated(directory, key, 1)
    with pytest.raises(ContainerError, match="start it with hash version 1"):
        _emulator(directory, key).with_hash_version(2).start()
    with pytest.raises(ContainerError, match="signed with the signing key whose public key"):
        _emulator(directory, Ed25519PrivateKey.generate()).start()
    with pytest.raises(ContainerError, match="this emulator has no signing key"):
        Emulator(in_process=True, data_directory=directory).start()
    with _emulator(directory, key).with_api_versions(1).with_time_format(TimeFormat.RFC3339_NANO):
        pass  # the API and the time format of new events are free to change


def test_a_data_directory_must_be_a_path() -> None:
    with pytest.raises(InvalidArgumentError, match="data_directory must be a path"):
        Emulator(data_directory=42)  # type: ignore[arg-type]


# --- the command line --------------------------------------------------------------------------


def test_the_command_line_refuses_a_foreign_directory_with_status_1(
    directory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory.mkdir()
    (directory / "notes.txt").write_text("mine")
    plain = ["--http-enabled", "--https-enabled=false", "--http-port", "1"]
    status = main(["run", "--api-token", "t", "--data-directory", str(directory), *plain])
    assert status == 1
    assert "is not an emulator's data directory" in capsys.readouterr().err
    assert _files(directory) == {"notes.txt": b"mine"}


async def test_the_command_line_checks_every_event_when_asked(
    directory: Path,
    key: Ed25519PrivateKey,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(durable, "TAIL", 1)
    await _populated(directory, key, 3)
    _tamper(
        directory,
        "UPDATE events SET encoded = "
        "CAST(replace(encoded, X'2f626f6f6b732f30', X'2f626f6f6b732f39') AS BLOB) "
        "WHERE position = 0",
    )
    key_file = directory.parent / "key.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    arguments = ["run", "--api-token", "t", f"--data-directory={directory}", "--http-enabled"]
    arguments += ["--https-enabled=false"]
    arguments += [f"--signing-key-file={key_file}", "--emulator-verify-data-directory"]
    assert main(arguments) == 1
    assert "event 0 does not match its hash" in capsys.readouterr().err
