"""The quick-start demo that `scripts/demo` runs tells its story and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"


def test_the_quickstart_demo_runs_on_the_embedded_emulator() -> None:
    environment = {k: v for k, v in os.environ.items() if k not in ("ESDB_URL", "ESDB_API_TOKEN")}
    finished = subprocess.run(
        [sys.executable, str(_EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "✗" not in finished.stdout
    assert finished.stdout.rstrip().endswith("Done: the library's story is consistent.")
