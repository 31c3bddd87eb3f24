"""What every measurement shares: the workload, emulator processes, workers, statistics, results.

The orchestrator never times anything itself. It starts an emulator (the command line, in its
own process, so server work never shares the contenders' interpreter), seeds it, and asks each
contender's worker to do one repetition at a time, rotating the order of the contenders from one
repetition to the next so that drift on a busy machine hits them all alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Self

ROOT: Final = Path(__file__).resolve().parents[1]
BENCH_DIR: Final = ROOT / "bench"
RESULTS_DIR: Final = BENCH_DIR / "results"

API_TOKEN: Final = "secret"
SOURCE: Final = "https://bench.eventsourcingdb.io"
EVENT_TYPE: Final = "io.eventsourcingdb.bench.amount-booked"
NOTE_LENGTH: Final = 140
"""With it, the JSON of an event's data is about 200 bytes (see `event_data`)."""

SEED_BATCH: Final = 1000
SEED_CONCURRENCY: Final = 3
EMULATOR_READY_SECONDS: Final = 30.0
WORKER_REPLY_SECONDS: Final = 900.0

OURS: Final = "ours"
RAW: Final = "raw"
OFFICIAL: Final = "official"


def log(message: str) -> None:
    """Progress for the console (stderr, so stdout stays the table)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the workload ----------------------------------------------------------------------------


def event_data(sequence: int) -> dict[str, Any]:
    """The data of one benchmark event: about 200 bytes of JSON.

    The official worker builds the same dict with the same formula (it cannot import this).
    """
    return {
        "sequence": sequence,
        "amount": sequence % 97,
        "currency": "EUR",
        "note": "n" * NOTE_LENGTH,
    }


def event_dict(subject: str, sequence: int) -> dict[str, Any]:
    """One event to write, in the plain-dict form both clients accept."""
    return {"source": SOURCE, "subject": subject, "type": EVENT_TYPE, "data": event_data(sequence)}


def data_size() -> int:
    """The size in bytes of one event's data as JSON (for the report)."""
    return len(json.dumps(event_data(123_456), separators=(",", ":")))


# --- processes -------------------------------------------------------------------------------


def clean_environment() -> dict[str, str]:
    """The environment for child processes, without anything that redirects their imports."""
    environment = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"):
        environment.pop(name, None)
    environment["PYTHONUNBUFFERED"] = "1"
    return environment


def free_port() -> int:
    """A TCP port on the loopback interface that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def answers_ping(base_url: str) -> bool:
    """Whether a server answers `GET /api/v1/ping` with 200."""
    try:
        with urllib.request.urlopen(f"{base_url}/api/v1/ping", timeout=2) as response:
            status: int = response.status
    except (urllib.error.URLError, OSError):
        return False
    return status == 200


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class EmulatorProcess:
    """The emulator's command line on a free loopback port, as a user would start the server.

    With `source`, a directory holding another tree's `eventsourcingdb` package (`exported`),
    that package's emulator runs instead of this tree's (with the same dependencies).
    """

    def __init__(
        self,
        label: str,
        *extra_arguments: str,
        data_directory: Path | None = None,
        source: Path | None = None,
    ) -> None:
        self.label = label
        self._extra = extra_arguments
        self._source = source
        self._storage = (
            ["--data-directory-temporary"]
            if data_directory is None
            else ["--data-directory", str(data_directory)]
        )
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self, *, port: int | None = None) -> Self:
        """Start the server on `port` (default: a free one) and wait until it answers."""
        for _ in range(3):
            self.port = free_port() if port is None else port
            command = [
                sys.executable,
                "-m",
                "eventsourcingdb.emulator",
                "run",
                "--api-token",
                API_TOKEN,
                *self._storage,
                "--http-enabled",
                "--https-enabled=false",
                "--http-port",
                str(self.port),
                # the official 2.2.4 client, measured beside ours, cannot parse short fractions
                # (an emulator of an earlier revision writes nine digits, and knows no option)
                *(["--emulator-time-format=nine-digits"] if self._source is None else []),
                *self._extra,
            ]
            self._output = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
                prefix=f"bench-emulator-{self.label}-", suffix=".log", delete=False
            )
            environment = clean_environment()
            if self._source is not None:
                environment["PYTHONPATH"] = str(self._source)
            self._process = subprocess.Popen(
                command,
                cwd=ROOT if self._source is None else self._source,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=self._output,
                stderr=subprocess.STDOUT,
            )
            deadline = time.monotonic() + EMULATOR_READY_SECONDS
            while time.monotonic() < deadline and self._process.poll() is None:
                if answers_ping(self.base_url):
                    return self
                time.sleep(0.05)
            output = _tail(Path(self._output.name))
            self.stop()
            if "address already in use" not in output.lower():
                raise RuntimeError(f"the emulator ({self.label}) did not start:\n{output}")
        raise RuntimeError(f"the emulator ({self.label}) found no free port")

    def restart(self, down_seconds: float) -> float:
        """Stop the server, wait `down_seconds`, start it on the same port; when it answers
        again (`time.perf_counter()`). With a data directory, its events survive."""
        port = self.port
        self.stop()
        time.sleep(down_seconds)
        self.start(port=port)
        return time.perf_counter()

    def rss_megabytes(self) -> float:
        """The emulator's resident memory now (it keeps every event in memory)."""
        return _rss_of(self.pid)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        output, self._output = self._output, None
        if output is not None:
            output.close()
            with contextlib.suppress(OSError):
                os.unlink(output.name)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def exported(revision: str) -> Iterator[Path]:
    """A temporary directory holding the `eventsourcingdb` package as of git `revision`."""
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as directory:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", revision, "eventsourcingdb"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", directory], input=archive, check=True)
        yield Path(directory)


def revision_name(revision: str) -> str:
    """`revision` as a short commit id with its subject, for reports."""
    described: str = subprocess.run(
        ["git", "log", "-1", "--format=%h %s", revision],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return described.strip()


def _rss_of(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


class WorkerError(RuntimeError):
    """A worker failed an operation (its traceback is in the message)."""


class Worker:
    """A long-lived process that runs one operation per JSON line and answers with one line.

    Request: `{"op": name, "params": {...}}`; answer: `{"ok": true, "result": {...}}` or
    `{"ok": false, "error": text}`. Its stderr goes to a file whose tail explains a crash.
    """

    def __init__(self, name: str, command: Sequence[str], *, cwd: Path = ROOT) -> None:
        self.name = name
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in close()
            prefix=f"bench-worker-{name}-", suffix=".log", delete=False
        )
        self._process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=clean_environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            encoding="utf-8",
        )

    def call(self, op: str, /, **params: Any) -> dict[str, Any]:
        """Run `op` in the worker and return its result."""
        process = self._process
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            process.stdin.write(json.dumps({"op": op, "params": params}) + "\n")
            process.stdin.flush()
            line = process.stdout.readline()
        except (BrokenPipeError, OSError) as error:
            raise WorkerError(
                f"worker {self.name} is gone ({error}):\n{self.stderr_tail()}"
            ) from None
        if not line:
            raise WorkerError(f"worker {self.name} exited during {op}:\n{self.stderr_tail()}")
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            raise WorkerError(f"worker {self.name} failed {op}: {answer.get('error')}")
        result: dict[str, Any] = answer["result"]
        return result

    def stderr_tail(self) -> str:
        self._log.flush()
        return _tail(Path(self._log.name))

    def close(self) -> None:
        process = self._process
        if process.poll() is None:
            with contextlib.suppress(OSError):
                assert process.stdin is not None
                process.stdin.close()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=20)
        if process.stdout is not None:
            process.stdout.close()
        self._log.close()
        with contextlib.suppress(OSError):
            os.unlink(self._log.name)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def our_worker(name: str = OURS) -> Worker:
    """A worker for our client and the raw limit, in this (the bench) environment."""
    return Worker(name, [sys.executable, "-m", "bench.worker"])


def official_worker(python: Path) -> Worker:
    """A worker for the official client, with the Python of its own virtual environment.

    `-I` keeps the script's folder (and with it our package's name) off its import path.
    """
    script = BENCH_DIR / "official_worker.py"
    return Worker(OFFICIAL, [str(python), "-I", str(script)], cwd=Path(tempfile.gettempdir()))


# --- settings and contenders -----------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """How a run measures: repetitions, size, and which optional contenders take part."""

    repetitions: int
    quick: bool
    official_python: Path | None
    in_process: bool
    memory_repetitions: int = 1
    emulator_baseline: str | None = None
    """A git revision whose emulator the server measurement runs beside this tree's."""

    def size(self, full: int, quick: int) -> int:
        """A workload size: `full` normally, `quick` with `--quick` (for trying the suite out)."""
        return quick if self.quick else full


@dataclass(frozen=True)
class Contender:
    """One side of a comparison: a label, the worker that runs it, and the kind it runs as."""

    label: str
    worker: Worker
    kind: str


def rotated(items: Sequence[Contender], turn: int) -> list[Contender]:
    """`items` starting at position `turn` (so each contender goes first in turn)."""
    if not items:
        return []
    shift = turn % len(items)
    return [*items[shift:], *items[:shift]]


def interleaved(
    contenders: Sequence[Contender],
    repetitions: int,
    run: Callable[[Contender], Mapping[str, float]],
) -> dict[str, dict[str, list[float]]]:
    """Run each contender `repetitions` times, rotating the order; metric -> label -> samples."""
    samples: dict[str, dict[str, list[float]]] = {}
    for turn in range(repetitions):
        for contender in rotated(contenders, turn):
            for metric, value in run(contender).items():
                samples.setdefault(metric, {}).setdefault(contender.label, []).append(value)
    return samples


# --- statistics and results ------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """The `fraction` percentile (0..1) with linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(samples: Sequence[float]) -> dict[str, Any]:
    """Median and spread of repeated samples: min, max, and (max - min) / median."""
    median = statistics.median(samples)
    low, high = min(samples), max(samples)
    return {
        "median": median,
        "min": low,
        "max": high,
        "spread": (high - low) / median if median else float("nan"),
        "samples": list(samples),
    }


@dataclass
class Measurement:
    """One number measured for several contenders, with its unit and which way is better."""

    id: str
    group: str
    title: str
    unit: str
    higher_is_better: bool
    samples: dict[str, list[float]]
    notes: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    ratios_of: tuple[tuple[str, str], ...] = ((OURS, RAW), (OURS, OFFICIAL))

    def median(self, label: str) -> float | None:
        values = self.samples.get(label)
        return statistics.median(values) if values else None

    def paired_ratios(self, numerator: str, denominator: str) -> list[float]:
        """`numerator / denominator` within each repetition (they ran back to back)."""
        tops, bottoms = self.samples.get(numerator, []), self.samples.get(denominator, [])
        if not tops or len(tops) != len(bottoms):
            return []
        return [top / bottom for top, bottom in zip(tops, bottoms, strict=True) if bottom]

    def ratios(self) -> dict[str, float]:
        """`a/b` for each pair whose both sides were measured: the median of the ratios within
        each repetition (robust against a busy minute that slows one repetition down), or the
        ratio of the medians when the repetitions do not pair up."""
        found: dict[str, float] = {}
        for numerator, denominator in self.ratios_of:
            paired = self.paired_ratios(numerator, denominator)
            if paired:
                found[f"{numerator}/{denominator}"] = statistics.median(paired)
                continue
            top, bottom = self.median(numerator), self.median(denominator)
            if top is not None and bottom:
                found[f"{numerator}/{denominator}"] = top / bottom
        return found

    def ratio_ranges(self) -> dict[str, list[float]]:
        """The lowest and highest ratio within a repetition, for each pair."""
        ranges: dict[str, list[float]] = {}
        for numerator, denominator in self.ratios_of:
            paired = self.paired_ratios(numerator, denominator)
            if paired:
                ranges[f"{numerator}/{denominator}"] = [min(paired), max(paired)]
        return ranges

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "group": self.group,
            "title": self.title,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "contenders": {label: summary(values) for label, values in self.samples.items()},
            "ratios": self.ratios(),
            "ratio_ranges": self.ratio_ranges(),
            "notes": self.notes,
            "details": self.details,
        }


# --- seeding ---------------------------------------------------------------------------------


async def _seed(base_url: str, batches: list[list[dict[str, Any]]]) -> None:
    from eventsourcingdb import Client

    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)

    async def writer(client: Client) -> None:
        while not queue.empty():
            batch = queue.get_nowait()
            await client.write_events(batch)

    async with Client(base_url, API_TOKEN, timeout=120.0) as client:
        await asyncio.gather(*(writer(client) for _ in range(SEED_CONCURRENCY)))


def seed(base_url: str, events: Iterator[dict[str, Any]], what: str) -> int:
    """Write `events` to the server in batches, a few calls in flight (the order of batches on
    one subject is then not guaranteed, which no measurement depends on). Returns the count."""
    batches: list[list[dict[str, Any]]] = []
    batch: list[dict[str, Any]] = []
    for event in events:
        batch.append(event)
        if len(batch) == SEED_BATCH:
            batches.append(batch)
            batch = []
    if batch:
        batches.append(batch)
    count = sum(len(batch) for batch in batches)
    started = time.perf_counter()
    asyncio.run(_seed(base_url, batches))
    elapsed = time.perf_counter() - started
    log(f"seeded {count:,} events ({what}) in {elapsed:.1f} s ({count / elapsed:,.0f}/s)")
    return count


def events_on(subject: str, count: int, start: int = 0) -> Iterator[dict[str, Any]]:
    """`count` benchmark events on one subject."""
    for sequence in range(start, start + count):
        yield event_dict(subject, sequence)


# --- machine facts ---------------------------------------------------------------------------


def _package_version(name: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gigabytes() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        return float("nan")


def _git_revision() -> str | None:
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    revision = completed.stdout.strip()
    if not revision:
        return None
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    ).stdout.strip()
    return revision + ("+changes" if dirty else "")


def machine_facts(official_version: str | None) -> dict[str, Any]:
    """Where and with what the numbers were measured."""
    load = os.getloadavg()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(_memory_gigabytes(), 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "load_average_at_start": [round(value, 2) for value in load],
        "versions": {
            "eventsourcingdb (ours)": _package_version("eventsourcingdb-toolkit"),
            "eventsourcingdb (official)": official_version,
            "httpx": _package_version("httpx"),
            "httpcore": _package_version("httpcore"),
            "h11": _package_version("h11"),
            "uvicorn": _package_version("uvicorn"),
            "pydantic": _package_version("pydantic"),
            "pydantic-core": _package_version("pydantic-core"),
        },
        "git_revision": _git_revision(),
    }


@contextlib.contextmanager
def contenders(settings: Settings, *, with_raw: bool = True) -> Iterator[list[Contender]]:
    """Fresh workers for a measurement: ours (and the raw limit) and, if set up, the official."""
    workers: list[Worker] = []
    try:
        ours = our_worker()
        workers.append(ours)
        group = [Contender(OURS, ours, OURS)]
        if with_raw:
            group.append(Contender(RAW, ours, RAW))
        if settings.official_python is not None:
            official = official_worker(settings.official_python)
            workers.append(official)
            group.append(Contender(OFFICIAL, official, OFFICIAL))
        yield group
    finally:
        for worker in workers:
            worker.close()
