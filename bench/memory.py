"""6. Memory: the peak resident memory of a process streaming 100,000 and 1,000,000 events.

Each run is a fresh worker process: it warms up (imports, connection, a read of 1,000 events),
resets the kernel's high-water mark of its resident memory (`/proc/self/clear_refs`), streams the
events keeping none of them, and reports the high-water mark (`VmHWM`) and its resident memory
every 5% of the stream. Streaming is flat when the peak for 1,000,000 events is within a few MB
of the peak for 100,000: what a stream holds must not grow with its length. Both sizes read the
same subject of 1,000,000 events; the 100,000 run stops at an upper bound.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, Final

from bench import raw
from bench.harness import (
    API_TOKEN,
    OFFICIAL,
    OURS,
    RAW,
    EmulatorProcess,
    Measurement,
    Settings,
    Worker,
    events_on,
    log,
    official_worker,
    our_worker,
    seed,
)
from bench.session import Params, Result, Session, operation

SUBJECT: Final = "/bench/memory"
FLAT_MEGABYTES: Final = 5.0
"""Streaming is flat when 10x the events raise the peak by no more than this."""
SAMPLES: Final = 20


def resident_megabytes() -> float:
    """This process's resident memory now."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def reset_peak() -> bool:
    """Reset the kernel's high-water mark of resident memory; False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def peak_megabytes() -> float:
    """The high-water mark of resident memory (since the last reset)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


# --- worker side -----------------------------------------------------------------------------


async def stream_ours(
    session: Session, base_url: str, upper_bound: str, every: int, sample: Callable[[int], None]
) -> int:
    from eventsourcingdb import Bound, ReadEventsOptions

    options = ReadEventsOptions(recursive=False, upper_bound=Bound(upper_bound))
    count = 0
    async for _ in session.ours(base_url).read_events(SUBJECT, options):
        count += 1
        if count % every == 0:
            sample(count)
    return count


@operation("memory")
async def memory_operation(params: Params, session: Session) -> Result:
    """Stream events up to `upper_bound` keeping none; peak and sampled resident memory."""
    base_url: str = params["base_url"]
    kind: str = params["kind"]
    every: int = params["every"]
    samples: list[tuple[int, float]] = []

    def sample(count: int) -> None:
        samples.append((count, resident_megabytes()))

    async def stream(upper_bound: str, on_every: Callable[[int], None]) -> int:
        if kind == OURS:
            return await stream_ours(session, base_url, upper_bound, every, on_every)
        return await raw.read_events(
            session.raw(base_url),
            base_url,
            API_TOKEN,
            SUBJECT,
            recursive=False,
            upper_bound=upper_bound,
            every=every,
            on_every=on_every,
        )

    await stream("999", lambda count: None)  # warm-up
    baseline = resident_megabytes()
    was_reset = reset_peak()
    started = time.perf_counter()
    count = await stream(params["upper_bound"], sample)
    seconds = time.perf_counter() - started
    return {
        "count": count,
        "seconds": seconds,
        "baseline": baseline,
        "peak": peak_megabytes(),
        "peak_was_reset": was_reset,
        "samples": samples,
    }


# --- orchestrator side -----------------------------------------------------------------------


def _run_once(settings: Settings, label: str, base_url: str, count: int) -> dict[str, Any]:
    worker: Worker
    if label == OFFICIAL:
        assert settings.official_python is not None
        worker = official_worker(settings.official_python)
    else:
        worker = our_worker(f"memory-{label}")
    with worker:
        result = worker.call(
            "memory",
            kind=label,
            base_url=base_url,
            subject=SUBJECT,
            upper_bound=str(count - 1),
            every=max(1, count // SAMPLES),
        )
    if result["count"] != count:
        raise RuntimeError(f"memory: {label} streamed {result['count']} events, not {count}")
    return result


def run(settings: Settings) -> list[Measurement]:
    large = settings.size(1_000_000, 100_000)
    small = large // 10
    labels = [OURS, RAW] + ([OFFICIAL] if settings.official_python is not None else [])
    runs: dict[int, dict[str, list[dict[str, Any]]]] = {small: {}, large: {}}
    with EmulatorProcess("memory") as emulator:
        seed(emulator.base_url, events_on(SUBJECT, large), "memory")
        log(f"memory: the emulator holds {large:,} events in {emulator.rss_megabytes():,.0f} MB")
        for repetition in range(settings.memory_repetitions):
            for count in (small, large):
                for label in (
                    labels[repetition % len(labels) :] + labels[: repetition % len(labels)]
                ):
                    log(f"memory: {label} streams {count:,} events in a fresh process")
                    result = _run_once(settings, label, emulator.base_url, count)
                    runs[count].setdefault(label, []).append(result)
    peaks = {
        count: {label: [result["peak"] for result in results] for label, results in by.items()}
        for count, by in runs.items()
    }
    growth: dict[str, float] = {}
    verdict: dict[str, bool] = {}
    for label in labels:
        difference = min(peaks[large][label]) - min(peaks[small][label])
        growth[label] = difference
        verdict[label] = difference <= FLAT_MEGABYTES
    details = {
        "growth_mb_from_small_to_large": growth,
        "flat": verdict,
        "flat_threshold_mb": FLAT_MEGABYTES,
        "timeline_large": {label: results[0]["samples"] for label, results in runs[large].items()},
        "baseline_mb": {label: results[0]["baseline"] for label, results in runs[large].items()},
        "rate_large": {
            label: [result["count"] / result["seconds"] for result in results]
            for label, results in runs[large].items()
        },
    }
    notes = "peak resident memory of a fresh process while streaming (VmHWM after a reset)"
    return [
        Measurement(
            id=f"memory.peak-{_short(small)}",
            group="memory",
            title=f"peak memory streaming {small:,} events",
            unit="MB",
            higher_is_better=False,
            samples=peaks[small],
            notes=notes,
        ),
        Measurement(
            id=f"memory.peak-{_short(large)}",
            group="memory",
            title=f"peak memory streaming {large:,} events",
            unit="MB",
            higher_is_better=False,
            samples=peaks[large],
            notes=notes,
            details=details,
        ),
    ]


def _short(count: int) -> str:
    return f"{count // 1_000_000}M" if count % 1_000_000 == 0 else f"{count // 1000}k"
