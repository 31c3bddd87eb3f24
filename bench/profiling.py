"""`bench/run profile TARGET ...`: where the time goes, for the client and for the emulator.

Each target seeds an emulator (the command line, as in the suite), then runs our client's
operation in a worker under pyinstrument (the client side) while py-spy samples the emulator
process, if py-spy is installed and allowed to attach (the server side). The reports land in
bench/results/profiles/: `<target>.client.txt` (pyinstrument's call tree) and
`<target>.emulator.txt` (the functions py-spy saw most, by own and by total time).

Targets: read, read-recursive, write-1, write-1000, rehydrate, eventql.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import importlib
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bench.harness import (
    RESULTS_DIR,
    EmulatorProcess,
    Worker,
    events_on,
    log,
    our_worker,
    seed,
)
from bench.session import OPERATIONS, Params, Result, Session, operation

PROFILES: Final = RESULTS_DIR / "profiles"


@dataclass(frozen=True)
class Target:
    """What to seed, and which worker operation to profile with which parameters."""

    seed: Callable[[str, Worker], None]
    op: str
    params: Callable[[str], dict[str, Any]]


def _seed_read(base_url: str, worker: Worker) -> None:
    from bench.read import MANY, ONE, spread

    seed(base_url, events_on(ONE, 100_000), "profile")
    seed(base_url, spread(MANY, 1000, 100_000), "profile")


def _seed_nothing(base_url: str, worker: Worker) -> None:
    return None


def _seed_eventql(base_url: str, worker: Worker) -> None:
    seed(base_url, events_on("/bench/eventql", 100_000), "profile")


def _seed_rehydrate(base_url: str, worker: Worker) -> None:
    worker.call(
        "rehydrate_seed",
        base_url=base_url,
        subject="/bench/ledgers/plain-100000",
        count=100_000,
        snapshots=False,
    )


def _targets() -> dict[str, Target]:
    from bench.eventql import QUERY
    from bench.read import MANY, ONE

    def write_params(batch: int, calls: int) -> Callable[[str], dict[str, Any]]:
        return lambda base_url: {
            "kind": "ours",
            "base_url": base_url,
            "subject": f"/bench/profile/write-{batch}",
            "batch": batch,
            "calls": calls,
            "precondition": True,
        }

    return {
        "read": Target(
            _seed_read,
            "read",
            lambda base_url: {
                "kind": "ours",
                "base_url": base_url,
                "subject": ONE,
                "recursive": False,
            },
        ),
        "read-recursive": Target(
            _seed_read,
            "read",
            lambda base_url: {
                "kind": "ours",
                "base_url": base_url,
                "subject": MANY,
                "recursive": True,
            },
        ),
        "write-1": Target(_seed_nothing, "write", write_params(1, 1000)),
        "write-1000": Target(_seed_nothing, "write", write_params(1000, 40)),
        "rehydrate": Target(
            _seed_rehydrate,
            "rehydrate",
            lambda base_url: {
                "kind": "ours",
                "base_url": base_url,
                "subject": "/bench/ledgers/plain-100000",
                "snapshots": False,
            },
        ),
        "eventql": Target(
            _seed_eventql,
            "query",
            lambda base_url: {"kind": "ours", "base_url": base_url, "query": QUERY},
        ),
    }


# --- worker side -----------------------------------------------------------------------------


@operation("profile")
async def profile_operation(params: Params, session: Session) -> Result:
    """Run operation `op` once unprofiled (warm-up), then once under pyinstrument."""
    profiler_type: Any = importlib.import_module("pyinstrument").Profiler
    function = OPERATIONS[params["op"]]
    inner: dict[str, Any] = params["params"]
    await function(inner, session)
    if params["op"] == "write":  # a fresh subject, as the first write expects a pristine one
        inner = {**inner, "subject": inner["subject"] + "/profiled"}
    profiler = profiler_type(interval=0.0005, async_mode="enabled")
    profiler.start()
    result = await function(inner, session)
    profiler.stop()
    text = profiler.output_text(unicode=True, color=False, show_all=False)
    await asyncio.to_thread(Path(params["output"]).write_text, text, encoding="utf-8")
    return result


# --- the emulator side (py-spy) --------------------------------------------------------------


def _function(frame: str) -> str:
    """`name (path:line)` as `name (path)`: time is summed per function, not per line."""
    head, colon, line = frame.rpartition(":")
    if colon and line.rstrip(")").isdigit():
        return head + ")"
    return frame


def _summarise_collapsed(collapsed: Path, output: Path, top: int = 40) -> None:
    """The functions of py-spy's collapsed stacks with the most own and total samples."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = [_function(frame) for frame in stack.split(";")]
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    lines = [f"py-spy samples of the emulator process: {samples}", "", "own time:"]
    for frame, count in own.most_common(top):
        lines.append(f"  {100 * count / max(1, samples):5.1f}%  {frame}")
    lines.extend(["", "total time (the function and what it calls):"])
    for frame, count in total.most_common(top):
        lines.append(f"  {100 * count / max(1, samples):5.1f}%  {frame}")
    output.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _py_spy(pid: int, collapsed: Path) -> subprocess.Popen[bytes] | None:
    executable = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(executable).exists():
        log("py-spy is not installed: no profile of the emulator (pip install py-spy)")
        return None
    return subprocess.Popen(
        [
            executable,
            "record",
            "--pid",
            str(pid),
            "--rate",
            "250",
            "--format",
            "raw",
            "--output",
            str(collapsed),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def profile(name: str, target: Target) -> None:
    PROFILES.mkdir(parents=True, exist_ok=True)
    client_output = PROFILES / f"{name}.client.txt"
    collapsed = PROFILES / f"{name}.emulator.collapsed"
    with EmulatorProcess(f"profile-{name}") as emulator, our_worker("profile") as worker:
        target.seed(emulator.base_url, worker)
        sampler = _py_spy(emulator.pid, collapsed)
        time.sleep(0.5)
        started = time.perf_counter()
        result = worker.call(
            "profile",
            op=target.op,
            params=target.params(emulator.base_url),
            output=str(client_output),
        )
        elapsed = time.perf_counter() - started
        if sampler is not None:
            sampler.send_signal(2)  # SIGINT: py-spy writes what it has and exits
            _, errors = sampler.communicate(timeout=60)
            if collapsed.exists():
                _summarise_collapsed(collapsed, PROFILES / f"{name}.emulator.txt")
                collapsed.unlink()
            else:
                log(f"py-spy wrote nothing: {errors.decode(errors='replace').strip()[-500:]}")
    log(f"profile {name}: {result} ({elapsed:.1f} s with warm-up) -> {client_output}")


def main(argv: Sequence[str]) -> int:
    targets = _targets()
    parser = argparse.ArgumentParser(prog="bench/run profile", description=__doc__)
    parser.add_argument("targets", nargs="+", choices=sorted(targets))
    arguments = parser.parse_args(argv)
    for name in arguments.targets:
        profile(name, targets[name])
    return 0
