"""3. Observing: latency from `write_events` returning to the observer receiving the event.

One worker observes a fresh subject (not recursively) and writes 1,000 events to it, one per
call, waiting for each to arrive before writing the next. For every event it notes when the write
returned and when the observer's loop body got the event; the latency is the difference, p50 and
p99 over the 1,000 events. An event that arrives before the write returns (the server pushes it
to observers while it answers the write) counts as 0 and is reported as "early".
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, Final

from bench import raw
from bench.harness import (
    API_TOKEN,
    Contender,
    EmulatorProcess,
    Measurement,
    Settings,
    contenders,
    event_dict,
    interleaved,
    log,
    percentile,
)
from bench.session import Params, Result, Session, operation

EVENTS: Final = 1000
QUICK_EVENTS: Final = 200
ARRIVAL_SECONDS: Final = 10.0


# --- worker side -----------------------------------------------------------------------------


class Arrivals:
    """When the observer got each event, by the `sequence` of its data."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._waiting: dict[int, asyncio.Future[float]] = {}

    def expect(self, sequence: int) -> asyncio.Future[float]:
        future: asyncio.Future[float] = self._loop.create_future()
        self._waiting[sequence] = future
        return future

    def arrived(self, data: Any) -> None:
        now = time.perf_counter()
        future = self._waiting.pop(data["sequence"], None)
        if future is not None and not future.done():
            future.set_result(now)


async def measure_latencies(
    observe: Callable[[Arrivals], Any],
    write: Callable[[int], Any],
    count: int,
) -> Result:
    """Start `observe(arrivals)` as a task, then write `count` events one by one with `write`."""
    arrivals = Arrivals()
    primed = arrivals.expect(0)
    await write(0)
    observer = asyncio.ensure_future(observe(arrivals))
    try:
        await asyncio.wait_for(primed, ARRIVAL_SECONDS)  # the observation is running
        after_return: list[float] = []
        end_to_end: list[float] = []
        early = 0
        for sequence in range(1, count + 1):
            arrival = arrivals.expect(sequence)
            called = time.perf_counter()
            await write(sequence)
            returned = time.perf_counter()
            received = await asyncio.wait_for(arrival, ARRIVAL_SECONDS)
            if received < returned:
                early += 1
            after_return.append(max(0.0, received - returned))
            end_to_end.append(received - called)
    finally:
        observer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await observer
    return {
        "p50": percentile(after_return, 0.5),
        "p99": percentile(after_return, 0.99),
        "mean": sum(after_return) / len(after_return),
        "end_to_end_p50": percentile(end_to_end, 0.5),
        "end_to_end_p99": percentile(end_to_end, 0.99),
        "early": early,
        "count": count,
    }


@operation("observe")
async def observe_operation(params: Params, session: Session) -> Result:
    """Observe a fresh subject while writing `count` events to it; latency percentiles."""
    base_url: str = params["base_url"]
    subject: str = params["subject"]
    count: int = params["count"]
    if params["kind"] == "ours":
        from eventsourcingdb import ObserveEventsOptions

        client = session.ours(base_url)

        async def observe_ours(arrivals: Arrivals) -> None:
            options = ObserveEventsOptions(recursive=False)
            async for event in client.observe_events(subject, options):
                arrivals.arrived(event.data)

        async def write_ours(sequence: int) -> None:
            await client.write_events([event_dict(subject, sequence)])

        return await measure_latencies(observe_ours, write_ours, count)

    http = session.raw(base_url)
    url = session.url(base_url)

    async def observe_raw(arrivals: Arrivals) -> None:
        await raw.observe_events(http, url, API_TOKEN, subject, arrivals.arrived)

    async def write_raw(sequence: int) -> None:
        await raw.write_events(http, url, API_TOKEN, [event_dict(subject, sequence)])

    return await measure_latencies(observe_raw, write_raw, count)


# --- orchestrator side -----------------------------------------------------------------------


def run(settings: Settings) -> list[Measurement]:
    count = settings.size(EVENTS, QUICK_EVENTS)
    log(f"observe: {count:,} events, one write per event, {settings.repetitions} repetitions")
    turns: dict[str, int] = {}
    early: dict[str, list[int]] = {}
    with EmulatorProcess("observe") as emulator, contenders(settings) as group:

        def one(contender: Contender, *, warm_up: bool = False) -> dict[str, float]:
            turn = turns[contender.label] = turns.get(contender.label, -1) + 1
            result = contender.worker.call(
                "observe",
                kind=contender.kind,
                base_url=emulator.base_url,
                subject=f"/bench/observe/{contender.label}/{turn}",
                count=20 if warm_up else count,
            )
            if not warm_up:
                early.setdefault(contender.label, []).append(result["early"])
            return {
                "p50": result["p50"] * 1000,
                "p99": result["p99"] * 1000,
                "end_to_end_p50": result["end_to_end_p50"] * 1000,
            }

        for contender in group:
            one(contender, warm_up=True)
        samples = interleaved(group, settings.repetitions, one)
    details = {"events": count, "early_deliveries": early}
    common = (
        "latency after write_events returned; events delivered before it returned count as 0 "
        "(see details.early_deliveries)"
    )
    return [
        Measurement(
            id="observe.p50",
            group="observe",
            title=f"observe_events latency p50, {count:,} events",
            unit="ms",
            higher_is_better=False,
            samples=samples["p50"],
            notes=common,
            details=details,
        ),
        Measurement(
            id="observe.p99",
            group="observe",
            title=f"observe_events latency p99, {count:,} events",
            unit="ms",
            higher_is_better=False,
            samples=samples["p99"],
            notes=common,
            details=details,
        ),
        Measurement(
            id="observe.end-to-end-p50",
            group="observe",
            title="write call to arrival, p50 (for context)",
            unit="ms",
            higher_is_better=False,
            samples=samples["end_to_end_p50"],
            notes="from calling write_events to the observer receiving the event",
            details=details,
        ),
    ]
