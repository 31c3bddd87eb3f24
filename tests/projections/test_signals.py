"""Graceful shutdown of a real process: SIGTERM or SIGINT in the middle of a batch lets the
batch finish and commit with its checkpoint; the process then exits 0, and a new one resumes
after it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventsourcingdb.emulator import Emulator
from eventsourcingdb.models import EventStore
from eventsourcingdb.projections import SqlCheckpointStore
from tests.projections.domain import REGISTRY, SOURCE, lend, table_rows
from tests.projections.runner_process import BATCH, NAME, SlowOnLoan

_ROOT = Path(__file__).resolve().parents[2]
EVENTS = 4 * BATCH


@pytest.fixture
def server() -> Iterator[Emulator]:
    """An emulator on a loopback socket, which another process can reach."""
    with Emulator() as emulator:
        yield emulator


async def _run_until(
    server: Emulator, database: Path, stop_at: str, signum: signal.Signals
) -> tuple[list[str], int]:
    """Run the process, send it `signum` once it applies the event `stop_at`; return the events
    it applied and its exit code."""
    environment = {**os.environ, "PYTHONPATH": str(_ROOT)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.projections.runner_process",
        server.get_base_url(),
        server.get_api_token(),
        str(database),
        cwd=_ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    applied: list[str] = []
    try:
        async with asyncio.timeout(30):
            while not applied or applied[-1] != stop_at:
                line = (await process.stdout.readline()).decode().strip()
                if not line:
                    _, errors = await process.communicate()
                    raise AssertionError(f"the process ended early: {errors.decode()}")
                if not line.startswith("applying "):
                    raise AssertionError(f"unexpected output {line!r}")
                applied.append(line.removeprefix("applying "))
            process.send_signal(signum)
            rest, errors = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    lines = rest.decode().splitlines()
    assert lines[-1:] == ["stopped"], errors.decode()
    applied += [line.removeprefix("applying ") for line in lines if line != "stopped"]
    assert process.returncode is not None
    return applied, process.returncode


@pytest.mark.timeout(90)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_mid_batch_commits_the_batch_and_exits_cleanly(
    server: Emulator, tmp_path: Path, signum: signal.Signals
) -> None:
    async with server.get_client() as client:
        await lend(EventStore(client, source=SOURCE, registry=REGISTRY), range(EVENTS))
    database = tmp_path / "read-models.db"
    mid_batch = str(BATCH + 2)

    applied, code = await _run_until(server, database, mid_batch, signum)
    assert code == 0, "a signal stops the runner gracefully, it does not kill the process"
    batch_end = str(2 * BATCH - 1)
    assert applied == [str(n) for n in range(2 * BATCH)], (
        "the batch in hand when the signal came was applied to its end, and no further"
    )
    async with SqlCheckpointStore.from_url(f"sqlite+aiosqlite:///{database}") as checkpoints:
        saved = await checkpoints.load(NAME)
        assert saved is not None
        assert saved.event_id == batch_end, "the batch in hand was committed with its checkpoint"
        rows = await table_rows(checkpoints.engine, SlowOnLoan().table)
        assert [book for book, _, _ in rows] == sorted(f"/books/{n}" for n in range(2 * BATCH))

    applied, code = await _run_until(server, database, str(EVENTS - 1), signal.SIGTERM)
    assert code == 0
    assert applied == [str(n) for n in range(2 * BATCH, EVENTS)], "resumed after the checkpoint"
    async with SqlCheckpointStore.from_url(f"sqlite+aiosqlite:///{database}") as checkpoints:
        rows = await table_rows(checkpoints.engine, SlowOnLoan().table)
    assert [(book, times) for book, _, times in rows] == sorted(
        (f"/books/{n}", 1) for n in range(EVENTS)
    ), "every event applied exactly once across the two processes"
