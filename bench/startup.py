"""8. Cold start: how long `import eventsourcingdb` takes in a fresh interpreter.

Each repetition starts a new Python process per contender (ours from this environment, the
official client from its own, `-I` so that our package is not on its path) and times the import
statement alone, interpreter start-up excluded. Each sample is the median of `RUNS` processes.
The report also lists which of the modules the core must not import were imported (the emulator,
lark, jsonschema, uvicorn, testcontainers, the typed layer, aiohttp before the first request).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

from bench.harness import OFFICIAL, OURS, Measurement, Settings, clean_environment, log

RUNS: Final = 9
QUICK_RUNS: Final = 3
UNWANTED: Final = (
    "eventsourcingdb.emulator",
    "lark",
    "jsonschema",
    "uvicorn",
    "testcontainers",
    "eventsourcingdb.models",
    "eventsourcingdb.aggregates",
    "aiohttp",
    "httpx",
)
"""Modules a plain `import eventsourcingdb` should leave out (aiohttp is imported on the first
request; httpx is reported, since only injected clients need it)."""

_PROGRAM: Final = f"""
import json, sys, time
started = time.perf_counter()
import eventsourcingdb
seconds = time.perf_counter() - started
unwanted = {UNWANTED!r}
print(json.dumps({{"seconds": seconds, "imported": [m for m in unwanted if m in sys.modules],
                  "modules": len(sys.modules)}}))
"""


def _once(python: str, isolated: bool) -> dict[str, object]:
    command = [python, *(["-I"] if isolated else []), "-c", _PROGRAM]
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        env=clean_environment(),
        cwd=tempfile.gettempdir() if isolated else None,
    )
    result: dict[str, object] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def _sample(python: str, isolated: bool, runs: int) -> tuple[float, dict[str, object]]:
    results = [_once(python, isolated) for _ in range(runs)]
    milliseconds = statistics.median(float(str(result["seconds"])) * 1000 for result in results)
    return milliseconds, results[-1]


def run(settings: Settings) -> list[Measurement]:
    runs = QUICK_RUNS if settings.quick else RUNS
    pythons: list[tuple[str, str, bool]] = [(OURS, sys.executable, False)]
    if settings.official_python is not None:
        pythons.append((OFFICIAL, str(Path(settings.official_python)), True))
    log(f"startup: import eventsourcingdb, {runs} fresh processes per sample")
    samples: dict[str, list[float]] = {}
    facts: dict[str, object] = {}
    for turn in range(settings.repetitions):
        order = pythons[turn % len(pythons) :] + pythons[: turn % len(pythons)]
        for label, python, isolated in order:
            milliseconds, last = _sample(python, isolated, runs)
            samples.setdefault(label, []).append(milliseconds)
            facts[label] = {"imported": last["imported"], "modules": last["modules"]}
    return [
        Measurement(
            id="startup.import",
            group="startup",
            title="import eventsourcingdb, fresh interpreter",
            unit="ms",
            higher_is_better=False,
            samples=samples,
            ratios_of=((OURS, OFFICIAL),),
            notes="the import statement alone; median of fresh processes per sample",
            details={"runs_per_sample": runs, "unwanted_modules_imported": facts},
        )
    ]
