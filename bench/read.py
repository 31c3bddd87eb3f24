"""1. Reading: events per second for `read_events` over 100,000 events of about 200 bytes of data.

Two shapes: all events on one subject, and the same number spread over 1,000 subjects read
recursively from their parent. Each contender iterates the whole stream and counts the events
(ours: `Event` objects; the official client: its `Event` objects; the raw limit: parsed lines).
Unless `--no-in-process` is given, our client and the raw limit also read from an emulator inside
the worker (the in-process transport: no socket; server work then shares the worker's
interpreter).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any, Final

from bench import plain, raw
from bench.harness import (
    API_TOKEN,
    OFFICIAL,
    OURS,
    RAW,
    Contender,
    EmulatorProcess,
    Measurement,
    Settings,
    contenders,
    event_dict,
    events_on,
    interleaved,
    log,
    our_worker,
    seed,
)
from bench.session import IN_PROCESS, Params, Result, Session, operation

PLAIN: Final = "plain"
"""The plain loop (`bench.plain`): aiohttp chunks split on newlines, orjson, no objects."""
ONE: Final = "/bench/read/one"
MANY: Final = "/bench/read/many"
WARM_UP: Final = "/bench/read/warm-up"
WARM_UP_EVENTS: Final = 2_000


def spread(parent: str, subjects: int, count: int) -> Iterator[dict[str, Any]]:
    """`count` events over `subjects` subjects below `parent`, round robin."""
    for sequence in range(count):
        yield event_dict(f"{parent}/{sequence % subjects:04d}", sequence)


# --- worker side -----------------------------------------------------------------------------


async def read_ours(session: Session, base_url: str, subject: str, recursive: bool) -> int:
    from eventsourcingdb import ReadEventsOptions

    client = session.ours(base_url)
    count = 0
    async for _ in client.read_events(subject, ReadEventsOptions(recursive=recursive)):
        count += 1
    return count


@operation("read")
async def read_operation(params: Params, session: Session) -> Result:
    """Read a subject once with `kind` (ours or raw); seconds and the number of events."""
    base_url: str = params["base_url"]
    subject: str = params["subject"]
    recursive: bool = params["recursive"]
    started = time.perf_counter()
    if params["kind"] == OURS:
        count = await read_ours(session, base_url, subject, recursive)
    elif params["kind"] == PLAIN:
        count = await plain.read_events(
            session.plain(), session.url(base_url), API_TOKEN, subject, recursive=recursive
        )
    else:
        count = await raw.read_events(
            session.raw(base_url), session.url(base_url), API_TOKEN, subject, recursive=recursive
        )
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "count": count}


@operation("seed_in_process")
async def seed_in_process(params: Params, session: Session) -> Result:
    """Start the worker's in-process emulator and write `count` events to `subject`."""
    base_url = session.start_in_process()
    client = session.ours(base_url)
    subject: str = params["subject"]
    count: int = params["count"]
    started = time.perf_counter()
    for start in range(0, count, 1000):
        batch = [event_dict(subject, sequence) for sequence in range(start, start + 1000)]
        await client.write_events(batch[: count - start])
    return {"base_url": base_url, "seconds": time.perf_counter() - started}


# --- orchestrator side -----------------------------------------------------------------------


def _rate(contender: Contender, base_url: str, subject: str, recursive: bool, expect: int) -> float:
    result = contender.worker.call(
        "read", kind=contender.kind, base_url=base_url, subject=subject, recursive=recursive
    )
    if result["count"] != expect:
        raise RuntimeError(f"{contender.label} read {result['count']} events, expected {expect}")
    rate: float = result["count"] / result["seconds"]
    return rate


def _measure(
    group: list[Contender],
    settings: Settings,
    base_url: str,
    target: tuple[str, bool, int],
    warm_up: str,
) -> dict[str, list[float]]:
    subject, recursive, expect = target
    for contender in group:  # the connection, the API version probe, warm code paths
        contender.worker.call(
            "read", kind=contender.kind, base_url=base_url, subject=warm_up, recursive=False
        )
    samples = interleaved(
        group,
        settings.repetitions,
        lambda contender: {"rate": _rate(contender, base_url, subject, recursive, expect)},
    )
    return samples["rate"]


RATIOS: Final = ((OURS, RAW), (OURS, PLAIN), (OURS, OFFICIAL))


def run(settings: Settings) -> list[Measurement]:
    count = settings.size(100_000, 10_000)
    subjects = settings.size(1_000, 100)
    measurements: list[Measurement] = []
    with EmulatorProcess("read") as emulator:
        seed(
            emulator.base_url,
            itertools.chain(
                events_on(WARM_UP, WARM_UP_EVENTS),
                events_on(ONE, count),
                spread(MANY, subjects, count),
            ),
            "read",
        )
        with contenders(settings) as group:
            group.insert(2, Contender(PLAIN, group[0].worker, PLAIN))
            log(f"read: {count:,} events on one subject, {settings.repetitions} repetitions")
            one = _measure(group, settings, emulator.base_url, (ONE, False, count), WARM_UP)
            measurements.append(
                Measurement(
                    id="read.one-subject",
                    group="read",
                    title=f"read_events, {count:,} events, one subject",
                    unit="events/s",
                    higher_is_better=True,
                    samples=one,
                    ratios_of=RATIOS,
                )
            )
            log(f"read: {count:,} events over {subjects:,} subjects, recursively")
            many = _measure(group, settings, emulator.base_url, (MANY, True, count), WARM_UP)
            measurements.append(
                Measurement(
                    id="read.recursive",
                    group="read",
                    title=f"read_events, {count:,} events, {subjects:,} subjects, recursive",
                    unit="events/s",
                    higher_is_better=True,
                    samples=many,
                    ratios_of=RATIOS,
                    notes="the emulator scans its whole store for a recursive read",
                )
            )
    if settings.in_process:
        measurements.append(_in_process(settings, count))
    return measurements


def _in_process(settings: Settings, count: int) -> Measurement:
    log(f"read: {count:,} events on one subject, in-process transport (no socket)")
    with our_worker("in-process") as worker:
        seeded = worker.call("seed_in_process", subject=ONE, count=count)
        log(f"seeded {count:,} events in process in {seeded['seconds']:.1f} s")
        group = [
            Contender(OURS, worker, OURS),
            Contender(RAW, worker, RAW),
        ]
        samples = _measure(group, settings, IN_PROCESS, (ONE, False, count), ONE)
    return Measurement(
        id="read.one-subject.in-process",
        group="read",
        title=f"read_events, {count:,} events, one subject, in-process transport",
        unit="events/s",
        higher_is_better=True,
        samples=samples,
        notes=(
            "the emulator runs inside the worker (no socket): server and client share one "
            "interpreter, so both rates include the server's work"
        ),
        ratios_of=((OURS, RAW),),
    )
