"""A program written for the official SDK 2.2.4 runs unchanged against the emulator with our
package; the same program runs with 2.2.4 itself, which shows that it asks nothing 2.2.4 does not
offer."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.compat import program_2_2_4

PROGRAM = Path(program_2_2_4.__file__)
EVERYTHING = [
    "ping",
    "schema",
    "preconditions",
    "error codes",
    "read",
    "observe",
    "subjects",
    "event types",
    "eventql",
    "verification",
]


@pytest.fixture
def server() -> Iterator[Any]:
    """A fresh emulator with a signing key on a loopback socket, as a real server would be."""
    emulator = pytest.importorskip("eventsourcingdb.emulator")
    # nine fractional digits: the official 2.2.4 client cannot parse shorter ones
    nine_digits = emulator.TimeFormat.NINE_DIGITS
    with emulator.Emulator().with_signing_key().with_time_format(nine_digits) as running:
        yield running


async def test_the_2_2_4_program_runs_with_our_package(server: Any) -> None:
    checked = await program_2_2_4.main(
        server.get_base_url(), server.get_api_token(), server.get_verification_key()
    )
    assert checked == [*EVERYTHING, "pandas"]


@pytest.mark.official_client
def test_the_same_program_runs_with_2_2_4_itself(server: Any, tmp_path: Path) -> None:
    from tests.emulator.official.conftest import ensure_official_venv

    python = ensure_official_venv("2.2.4")
    key_file = tmp_path / "verification-key.pem"
    key_file.write_bytes(
        server.get_verification_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    completed = subprocess.run(
        [
            str(python),
            "-I",
            str(PROGRAM),
            server.get_base_url(),
            server.get_api_token(),
            str(key_file),
            "--without-pandas",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert json.loads(completed.stdout) == EVERYTHING
