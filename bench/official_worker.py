"""The worker that runs the official Python client (2.2.4, from PyPI) for the benchmarks.

A standalone script: it runs with the Python of the official client's own virtual environment
(`python -I official_worker.py`), never with ours, since both packages are called
`eventsourcingdb`. It needs nothing but the standard library and that package, and speaks the same
protocol as `bench.worker`: one JSON request per line on stdin (`{"op", "params"}`), one JSON
answer per line on stdout. Each operation does the same work as ours does in `bench.worker` and
times it itself. The workload (`event_data`) is the same formula as `bench.harness.event_data`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import json
import math
import os
import sys
import time
import traceback
from typing import Any

# Imported by name at run time, this is the official package (the script runs in its venv).
esdb: Any = importlib.import_module("eventsourcingdb")

API_TOKEN = "secret"
SOURCE = "https://bench.eventsourcingdb.io"
EVENT_TYPE = "io.eventsourcingdb.bench.amount-booked"
NOTE_LENGTH = 140
ARRIVAL_SECONDS = 10.0
IDLE_CATCH_UP = 0.02


def event_data(sequence: int) -> dict[str, Any]:
    return {
        "sequence": sequence,
        "amount": sequence % 97,
        "currency": "EUR",
        "note": "n" * NOTE_LENGTH,
    }


def candidate(subject: str, sequence: int) -> Any:
    return esdb.EventCandidate(
        source=SOURCE, subject=subject, type=EVENT_TYPE, data=event_data(sequence)
    )


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class Session:
    """One official client per server, created on first use and kept, as an application would."""

    def __init__(self) -> None:
        self.clients: dict[str, Any] = {}

    async def client(self, base_url: str) -> Any:
        client = self.clients.get(base_url)
        if client is None:
            client = esdb.Client(base_url=base_url, api_token=API_TOKEN)
            await client.__aenter__()
            self.clients[base_url] = client
        return client

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.__aexit__(None, None, None)


# --- operations ------------------------------------------------------------------------------


async def read(params: dict[str, Any], session: Session) -> dict[str, Any]:
    client = await session.client(params["base_url"])
    options = esdb.ReadEventsOptions(recursive=params["recursive"])
    started = time.perf_counter()
    count = 0
    async for _ in client.read_events(params["subject"], options):
        count += 1
    return {"seconds": time.perf_counter() - started, "count": count}


async def write(params: dict[str, Any], session: Session) -> dict[str, Any]:
    client = await session.client(params["base_url"])
    subject = params["subject"]
    batch, calls = params["batch"], params["calls"]
    plan = [
        [candidate(subject, call * batch + index) for index in range(batch)]
        for call in range(calls)
    ]
    last = None
    started = time.perf_counter()
    for events in plan:
        preconditions = None
        if params["precondition"]:
            preconditions = [
                esdb.IsSubjectPristine(subject)
                if last is None
                else esdb.IsSubjectOnEventId(subject, last)
            ]
        written = await client.write_events(events, preconditions)
        last = written[-1].event_id
    return {"seconds": time.perf_counter() - started, "events": batch * calls}


async def command(params: dict[str, Any], session: Session) -> dict[str, Any]:
    """One command on each of `count` aggregates of 10 events (seeded first): read its events,
    fold the balance, write one event guarded by `IsSubjectOnEventId` (what `bench.command`
    measures)."""
    client = await session.client(params["base_url"])
    history, seed_aggregates = 10, 100
    aggregates = [f"{params['prefix']}/{index}" for index in range(params["count"])]
    for start in range(0, len(aggregates), seed_aggregates):
        await client.write_events(
            [
                candidate(subject, sequence)
                for subject in aggregates[start : start + seed_aggregates]
                for sequence in range(history)
            ]
        )
    options = esdb.ReadEventsOptions(recursive=False)
    total = 0
    started = time.perf_counter()
    for subject in aggregates:
        balance, last = 0, None
        async for event in client.read_events(subject, options):
            balance += event.data["amount"]
            last = event.event_id
        await client.write_events(
            [candidate(subject, history)], [esdb.IsSubjectOnEventId(subject, last)]
        )
        total += balance + event_data(history)["amount"]
    return {"seconds": time.perf_counter() - started, "count": len(aggregates), "balance": total}


async def observe(params: dict[str, Any], session: Session) -> dict[str, Any]:
    client = await session.client(params["base_url"])
    subject, count = params["subject"], params["count"]
    loop = asyncio.get_running_loop()
    waiting: dict[int, asyncio.Future[float]] = {}

    def expect(sequence: int) -> asyncio.Future[float]:
        future: asyncio.Future[float] = loop.create_future()
        waiting[sequence] = future
        return future

    async def observer() -> None:
        options = esdb.ObserveEventsOptions(recursive=False)
        async for event in client.observe_events(subject, options):
            now = time.perf_counter()
            future = waiting.pop(event.data["sequence"], None)
            if future is not None and not future.done():
                future.set_result(now)

    primed = expect(0)
    await client.write_events([candidate(subject, 0)])
    task = asyncio.ensure_future(observer())
    after_return: list[float] = []
    end_to_end: list[float] = []
    early = 0
    try:
        await asyncio.wait_for(primed, ARRIVAL_SECONDS)
        for sequence in range(1, count + 1):
            arrival = expect(sequence)
            called = time.perf_counter()
            await client.write_events([candidate(subject, sequence)])
            returned = time.perf_counter()
            received = await asyncio.wait_for(arrival, ARRIVAL_SECONDS)
            if received < returned:
                early += 1
            after_return.append(max(0.0, received - returned))
            end_to_end.append(received - called)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return {
        "p50": percentile(after_return, 0.5),
        "p99": percentile(after_return, 0.99),
        "mean": sum(after_return) / len(after_return),
        "end_to_end_p50": percentile(end_to_end, 0.5),
        "end_to_end_p99": percentile(end_to_end, 0.99),
        "early": early,
        "count": count,
    }


async def query(params: dict[str, Any], session: Session) -> dict[str, Any]:
    client = await session.client(params["base_url"])
    started = time.perf_counter()
    count = 0
    async for _ in client.run_eventql_query(params["query"]):
        count += 1
    return {"seconds": time.perf_counter() - started, "count": count}


def resident_megabytes() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def peak_megabytes() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


async def memory(params: dict[str, Any], session: Session) -> dict[str, Any]:
    client = await session.client(params["base_url"])
    every = params["every"]
    samples: list[tuple[int, float]] = []

    async def stream(upper_bound: str, sample: bool) -> int:
        bound = esdb.Bound(id=upper_bound, type=esdb.BoundType.INCLUSIVE)
        options = esdb.ReadEventsOptions(recursive=False, upper_bound=bound)
        count = 0
        async for _ in client.read_events(params["subject"], options):
            count += 1
            if sample and count % every == 0:
                samples.append((count, resident_megabytes()))
        return count

    await stream("999", False)
    baseline = resident_megabytes()
    was_reset = reset_peak()
    started = time.perf_counter()
    count = await stream(params["upper_bound"], True)
    seconds = time.perf_counter() - started
    return {
        "count": count,
        "seconds": seconds,
        "baseline": baseline,
        "peak": peak_megabytes(),
        "peak_was_reset": was_reset,
        "samples": samples,
    }


OPERATIONS = {
    "read": read,
    "write": write,
    "observe": observe,
    "query": query,
    "memory": memory,
    "command": command,
}


async def run(name: str, params: dict[str, Any], session: Session) -> dict[str, Any]:
    operation = OPERATIONS[name]
    # The loop only runs during an operation: let it take in what happened while it was idle
    # (aiohttp learns that the server closed a kept-alive connection only from the loop) before
    # anything is timed, as the loop of a running application would have.
    await asyncio.sleep(IDLE_CATCH_UP)
    gc.collect()
    return await operation(params, session)


def main() -> int:
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    version = importlib.import_module("importlib.metadata").version("eventsourcingdb")
    print(f"official worker: eventsourcingdb {version} from {esdb.__file__}", file=sys.stderr)
    with asyncio.Runner() as runner:
        session = Session()
        try:
            for line in sys.stdin:
                if not line.strip():
                    continue
                request = json.loads(line)
                try:
                    result = runner.run(run(request["op"], request.get("params", {}), session))
                    answer = {"ok": True, "result": result}
                except Exception:
                    answer = {"ok": False, "error": traceback.format_exc()}
                answers.write(json.dumps(answer) + "\n")
        finally:
            runner.run(session.aclose())
    return 0


if __name__ == "__main__":
    sys.exit(main())
