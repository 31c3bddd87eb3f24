"""`kill -9` in the middle of a burst of concurrent writers: every acknowledged event survives.

The emulator runs as its own process from the command line, on a data directory with a signing
key. Writers on their own connections write until the process is killed (after a number of
acknowledged events, or a while after the first one); then it starts again on the same
directory, and every event that was acknowledged must be there with the same bytes (id, time,
data, hash, signature), the ids must have no gap, the chain and every signature must verify, and
the schema registered before the burst must still hold.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eventsourcingdb import Client, ReadEventsOptions
from tests.emulator.emulator_helpers import AUTH, candidate
from tests.emulator.test_emulator_cli import _free_port

WRITERS = 8
TYPE = "io.eventsourcingdb.library.book-acquired"
SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
HEAD, TAIL = b'{"type":"event","data":', b"}"


class _Server:
    """The emulator's command line on a data directory, as a process of its own."""

    def __init__(self, directory: Path, key_file: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "eventsourcingdb.emulator",
                "run",
                "--api-token=secret",
                f"--data-directory={directory}",
                f"--signing-key-file={key_file}",
                "--http-enabled",
                "--https-enabled=false",
                f"--http-port={self.port}",
                "--emulator-api-versions=1,2",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONWARNINGS": "error"},
        )

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.communicate()[1].decode()
            try:
                if httpx.get(f"{self.url}/api/v2/system/ping", timeout=1).is_success:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("the emulator did not start")

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no clean-up of any kind
        self.process.communicate(timeout=10)

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        _, stderr = self.process.communicate(timeout=20)
        assert self.process.returncode == 0, stderr.decode()
        return stderr.decode()


def _events(body: bytes) -> list[bytes]:
    return [line[len(HEAD) : -len(TAIL)] for line in body.splitlines() if line.startswith(HEAD)]


async def _burst(
    server: _Server, kill_after_events: int | None, kill_after: float | None
) -> dict[str, bytes]:
    """Write from several connections until the server dies; the acknowledged events by id."""
    acknowledged: dict[str, bytes] = {}
    killed = asyncio.Event()
    first_acknowledged = asyncio.Event()

    async def writer(number: int) -> None:
        async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=10) as http:
            batch = 0
            while not killed.is_set():
                batch += 1
                events = [
                    candidate(f"/writers/{number}", TYPE, data={"title": f"{number}-{batch}-{i}"})
                    for i in range(1 + batch % 3)
                ]
                try:
                    response = await http.post("/api/v2/data/write-events", json={"events": events})
                except httpx.TransportError:
                    return  # killed: this write's outcome is unknown
                assert response.status_code == 200, response.text
                assert response.content.endswith(b'{"type":"end","data":{}}\n'), response.text
                for event in _events(response.content):
                    acknowledged[_id(event)] = event
                first_acknowledged.set()
                if kill_after_events is not None and len(acknowledged) >= kill_after_events:
                    kill()

    def kill() -> None:
        if not killed.is_set():
            killed.set()
            server.kill()

    async def timer() -> None:
        if kill_after is not None:
            # timed from the first answer, so that a slow start on a busy machine still
            # leaves writes acknowledged before the kill
            try:
                async with asyncio.timeout(30):
                    await first_acknowledged.wait()
            except TimeoutError:  # the writers stop; the test says nothing was acknowledged
                kill()
                return
            await asyncio.sleep(kill_after)
            kill()

    await asyncio.gather(timer(), *(writer(number) for number in range(WRITERS)))
    return acknowledged


def _id(event: bytes) -> str:
    start = event.index(b'"id":"') + len(b'"id":"')
    return event[start : event.index(b'"', start)].decode()


@pytest.mark.parametrize(
    ("kill_after_events", "kill_after"),
    [(1, None), (150, None), (None, 0.3), (None, 0.8)],
    ids=["after-the-first-event", "after-150-events", "0.3-s-later", "0.8-s-later"],
)
async def test_every_acknowledged_event_survives_kill_9(
    tmp_path: Path, kill_after_events: int | None, kill_after: float | None
) -> None:
    key = Ed25519PrivateKey.generate()
    key_file = tmp_path / "signing-key.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    directory = tmp_path / "data"
    first = _Server(directory, key_file)
    try:
        await asyncio.to_thread(first.wait_until_ready)
        async with Client(first.url, "secret") as client:
            await client.register_event_schema(TYPE, SCHEMA)
        acknowledged = await _burst(first, kill_after_events, kill_after)
    finally:
        if first.process.poll() is None:
            first.kill()
    assert acknowledged, "nothing was acknowledged before the kill"

    second = _Server(directory, key_file)
    try:
        await asyncio.to_thread(second.wait_until_ready)
        async with httpx.AsyncClient(base_url=second.url, headers=AUTH, timeout=30) as http:
            read = await http.request(
                "QUERY",
                "/api/v2/data/read-events",
                json={"subject": "/", "options": {"recursive": True}},
            )
            stored = {_id(event): event for event in _events(read.content)}
            assert list(stored) == [str(n) for n in range(len(stored))], "ids with a gap"
            missing = [n for n, event in acknowledged.items() if stored.get(n) != event]
            assert not missing, f"acknowledged, then lost or changed: {missing[:10]}"
            refused = await http.post(
                "/api/v2/data/write-events",
                json={"events": [candidate(type_=TYPE, data={"title": 42})]},
            )
            assert "event-schema-violated" in refused.text, "the schema was lost"
        async with Client(second.url, "secret") as client:
            previous = None
            async for event in client.read_events("/", ReadEventsOptions(recursive=True)):
                event.verify_hash()
                event.verify_signature(key.public_key())
                if previous is not None:
                    assert event.predecessor_hash == previous.hash
                previous = event
    finally:
        if second.process.poll() is None:
            second.stop()
