"""`python -m bench [MEASUREMENT ...]`: run the suite (or some measurements) and report.

    bench/run                      # everything, 5 repetitions (about 5 minutes on 2 cores)
    bench/run read write           # a subset
    bench/run --reps 7 read        # more repetitions
    bench/run --quick              # small sizes, to try the suite out (not for numbers)
    bench/run --update-docs        # also rewrite the results section of docs/performance.md
    bench/run --patch fast-raw-data rehydrate   # a proposed fix (bench/proposals.py)
    bench/run profile read         # pyinstrument profile of our client's hot path

A run of every measurement writes bench/results/latest.json and bench/results/chart.png; a run
of a subset (or a --quick or --patch one) writes bench/results/partial.json and partial.png
instead, so the numbers the docs show always come from one complete run.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from bench import (
    command,
    eventql,
    memory,
    observe,
    projections,
    read,
    rehydrate,
    report,
    server,
    startup,
    twins,
    write,
)
from bench.harness import RESULTS_DIR, Measurement, Settings, log, machine_facts
from bench.official import OFFICIAL_VERSION, OfficialClientUnavailable, ensure_official_python
from bench.proposals import PATCHES, PATCHES_VARIABLE

STAGES: Final[dict[str, Callable[[Settings], list[Measurement]]]] = {
    "read": read.run,
    "write": write.run,
    "observe": observe.run,
    "rehydrate": rehydrate.run,
    "eventql": eventql.run,
    "memory": memory.run,
    "command": command.run,
    "startup": startup.run,
    "server": server.run,
    "projection": projections.run,
    "sync": twins.run_sync,
    "telemetry": twins.run_telemetry,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description="Benchmarks: our client, the raw-HTTP limit and the official client.",
    )
    parser.add_argument(
        "measurements",
        nargs="*",
        metavar="MEASUREMENT",
        help=f"which to run (default all): {', '.join(STAGES)}",
    )
    parser.add_argument("--reps", type=int, default=5, help="repetitions of each number (5)")
    parser.add_argument(
        "--memory-reps", type=int, default=1, help="fresh-process runs per memory size (1)"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, to try the suite out")
    parser.add_argument("--no-official", action="store_true", help="leave out the official client")
    parser.add_argument(
        "--no-in-process",
        action="store_true",
        help="leave out the reads over the in-process transport",
    )
    parser.add_argument(
        "--patch",
        action="append",
        default=[],
        choices=sorted(PATCHES),
        help="apply a proposed fix of ours (bench/proposals.py) in our workers; repeatable",
    )
    parser.add_argument(
        "--emulator-baseline",
        metavar="REVISION",
        help="run the emulator of this git revision beside this tree's in the server measurement",
    )
    parser.add_argument("--output", type=Path, help="where to write the JSON results")
    parser.add_argument("--no-chart", action="store_true", help="do not draw the chart")
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help="rewrite the results section of docs/performance.md (complete runs only)",
    )
    return parser


def _clean(value: Any) -> Any:
    """NaN and infinities as null, so the file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["profile"]:
        from bench import profiling

        return profiling.main(arguments[1:])
    options = _parser().parse_args(arguments)
    chosen = options.measurements or list(STAGES)
    unknown = [name for name in chosen if name not in STAGES]
    if unknown:
        print(f"unknown measurement(s) {unknown}; choose from {list(STAGES)}", file=sys.stderr)
        return 2
    if options.reps < 1 or options.memory_reps < 1:
        print("--reps and --memory-reps must be at least 1", file=sys.stderr)
        return 2
    complete = set(chosen) == set(STAGES) and not options.quick and not options.patch
    if options.update_docs and not complete:
        print(
            "--update-docs needs a complete run (every measurement, not --quick)", file=sys.stderr
        )
        return 2

    os.environ[PATCHES_VARIABLE] = ",".join(options.patch)
    official_python: Path | None = None
    official_version: str | None = None
    if not options.no_official:
        try:
            official_python = ensure_official_python()
            official_version = OFFICIAL_VERSION
        except OfficialClientUnavailable as error:
            log(f"the official client is unavailable, measuring without it: {error}")
    settings = Settings(
        repetitions=options.reps,
        quick=options.quick,
        official_python=official_python,
        in_process=not options.no_in_process,
        memory_repetitions=options.memory_reps,
        emulator_baseline=options.emulator_baseline,
    )
    started = time.perf_counter()
    facts = machine_facts(official_version)
    results: list[Measurement] = []
    for name in STAGES:
        if name in chosen:
            stage_started = time.perf_counter()
            log(f"=== {name} ===")
            results.extend(STAGES[name](settings))
            log(f"=== {name} done in {time.perf_counter() - stage_started:.0f} s ===")
    elapsed = time.perf_counter() - started
    run = _clean(
        {
            "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "elapsed_seconds": elapsed,
            "complete": complete,
            "settings": {
                "measurements": chosen,
                "repetitions": settings.repetitions,
                "memory_repetitions": settings.memory_repetitions,
                "quick": settings.quick,
                "official": official_version,
                "in_process": settings.in_process,
                "patches": options.patch,
                "emulator_baseline": options.emulator_baseline,
            },
            "machine": facts,
            "measurements": [measurement.to_json() for measurement in results],
        }
    )
    output = options.output or (report.LATEST if complete else RESULTS_DIR / "partial.json")
    report.save(run, output)
    print(report.table(run))
    log(f"results: {output}")
    if not options.no_chart:
        chart_path = report.CHART if output == report.LATEST else output.with_suffix(".png")
        report.chart(run, chart_path)
        log(f"chart: {chart_path}")
    if options.update_docs:
        report.update_docs(run)
        log(f"updated {report.DOCS_PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
