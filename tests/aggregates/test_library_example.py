"""The library demo runs, in process and as `python -m examples.library`, and checks itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eventsourcingdb.client import Client
from examples.library.main import DemoFailure, _check, story

_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(60)
async def test_the_story_runs_on_the_plugins_server(esdb_client: Client) -> None:
    told: list[str] = []
    await story(esdb_client, told.append)
    assert not [line for line in told if "✗" in line]
    assert "  ✓ one desk lent her a book, the other refused: the limit held across books" in told
    assert told[-1] == "  ✓ Grace has no books at home"


def test_a_failed_check_stops_the_story() -> None:
    told: list[str] = []
    with pytest.raises(DemoFailure):
        _check(told.append, False, "two and two make five")
    assert told == ["  ✗ two and two make five"]


@pytest.mark.timeout(120)
def test_the_demo_command_exits_zero() -> None:
    environment = {
        key: value for key, value in os.environ.items() if key not in ("ESDB_URL", "ESDB_API_TOKEN")
    }
    result = subprocess.run(
        [sys.executable, "-m", "examples.library"],
        cwd=_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Using the embedded emulator at http://")
    assert result.stdout.rstrip().endswith("Done: every check held.")
    assert "✗" not in result.stdout
    told = result.stdout.splitlines()
    for read_side in _READ_SIDE_CHECKS:
        assert f"  ✓ {read_side}" in told, f"the demo no longer checks that {read_side}"
    assert "100% member-stats" in result.stderr, "the rebuild draws its progress bar on stderr"


_READ_SIDE_CHECKS = (
    "the member statistics resumed from their checkpoint, skipping nothing, repeating nothing",
    "the books-on-loan read model shows Ada with all three books",
    "one overdue notice for each book still out, and no other",
    "the member statistics count the 10 loans of the report, exactly once, none still out",
    "the rebuilt statistics are the ones kept up to date live",
)
"""What the README says the demo shows of its read side, each a check the demo makes."""
