"""9. The emulator as a server: write throughput and observe fan-out.

The emulator is the embedded default users develop against, so its own speed is measured too,
driven by the plain aiohttp loops (the cheapest client), from one worker process:

* writing: events per second at 1, 100 and 1,000 events per call, by `WRITERS` concurrent
  writers on subjects of their own, without and with a precondition (`isSubjectOnEventId` on
  the writer's previous event);
* fan-out: `OBSERVERS` observers on one subject, one writer writing events one at a time and
  waiting until every observer has the event; the delivery latency (write call to each
  observer's receipt) at p50 and p99.

With `--emulator-baseline REVISION`, the emulator of that git revision runs beside this tree's,
each on its own port and measured in turn by the same worker, and the ratio *emulator/baseline*
says whether the emulator got faster or slower since (`bench/run server --emulator-baseline
cbe1248`, the revision that added this measurement). Without it, the numbers are held against
earlier runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Final

import orjson

from bench import plain
from bench.harness import (
    API_TOKEN,
    Contender,
    EmulatorProcess,
    Measurement,
    Settings,
    Worker,
    event_dict,
    exported,
    interleaved,
    log,
    our_worker,
    percentile,
    revision_name,
)
from bench.session import Params, Result, Session, operation

EMULATOR: Final = "emulator"
BASELINE: Final = "baseline"
WRITERS: Final = 4
BATCHES: Final = {1: 600, 100: 40, 1000: 6}
QUICK_BATCHES: Final = {1: 60, 100: 4, 1000: 2}
OBSERVERS: Final = 100
FAN_OUT_EVENTS: Final = 100
QUICK_FAN_OUT_EVENTS: Final = 20


# --- worker side -----------------------------------------------------------------------------


async def _write(
    session: Session, base_url: str, subject: str, events: list[dict[str, Any]], after: str | None
) -> str:
    preconditions: list[dict[str, Any]] = []
    if after is not None:
        payload = {"subject": subject, "eventId": after}
        preconditions.append({"type": "isSubjectOnEventId", "payload": payload})
    body: dict[str, Any] = {"events": events}
    if preconditions:
        body["preconditions"] = preconditions
    async with session.plain().post(
        base_url + plain.V2_WRITE_EVENTS, data=orjson.dumps(body), headers=plain.headers(API_TOKEN)
    ) as response:
        answer = await response.read()
        if response.status != 200:
            raise RuntimeError(f"write-events answered {response.status}: {answer[:200]!r}")
    last = orjson.loads(answer.rstrip(b"\n").rsplit(b"\n", 1)[-1])
    if last["type"] == "end":
        last = orjson.loads(answer.rstrip(b"\n").split(b"\n")[-2])
    event_id: str = last["data"]["id"]
    return event_id


@operation("server_write")
async def server_write(params: Params, session: Session) -> Result:
    """`WRITERS` concurrent writers, `calls` calls of `batch` events each; seconds."""
    base_url: str = params["base_url"]
    prefix: str = params["subject"]
    batch, calls, precondition = params["batch"], params["calls"], params["precondition"]

    async def writer(index: int) -> None:
        subject = f"{prefix}/{index}"
        after = await _write(session, base_url, subject, [event_dict(subject, 0)], None)
        for call in range(calls):
            events = [event_dict(subject, call * batch + item) for item in range(batch)]
            written = await _write(
                session, base_url, subject, events, after if precondition else None
            )
            after = written

    started = time.perf_counter()
    await asyncio.gather(*(writer(index) for index in range(WRITERS)))
    return {"seconds": time.perf_counter() - started, "events": WRITERS * calls * batch}


@operation("server_fan_out")
async def server_fan_out(params: Params, session: Session) -> Result:
    """`observers` observers of one subject; `count` events written one at a time, each waited
    for at every observer; delivery latencies."""
    base_url: str = params["base_url"]
    subject: str = params["subject"]
    observers, count = params["observers"], params["count"]
    http = session.plain()
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    pending: dict[int, tuple[float, int, asyncio.Future[None]]] = {}

    async def observe() -> None:
        body = orjson.dumps({"subject": subject, "options": {"recursive": False}})
        async with http.request(
            "QUERY",
            base_url + "/api/v2/data/observe-events",
            data=body,
            headers=plain.headers(API_TOKEN),
        ) as response:
            rest = b""
            while chunk := await response.content.readany():
                lines = (rest + chunk).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    item = orjson.loads(line) if line else None
                    if item is None or item["type"] != "event":
                        continue
                    now = time.perf_counter()
                    sequence = item["data"]["data"]["sequence"]
                    entry = pending.get(sequence)
                    if entry is None:
                        continue
                    called, left, done = entry
                    latencies.append(now - called)
                    pending[sequence] = (called, left - 1, done)
                    if left == 1:
                        done.set_result(None)

    first = loop.create_future()
    pending[0] = (time.perf_counter(), observers, first)
    await _write(session, base_url, subject, [event_dict(subject, 0)], None)
    tasks = [asyncio.ensure_future(observe()) for _ in range(observers)]
    try:
        await asyncio.wait_for(first, 30)
        latencies.clear()
        for sequence in range(1, count + 1):
            done = loop.create_future()
            pending[sequence] = (time.perf_counter(), observers, done)
            await _write(session, base_url, subject, [event_dict(subject, sequence)], None)
            await asyncio.wait_for(done, 30)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return {
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "deliveries": len(latencies),
    }


# --- orchestrator side -----------------------------------------------------------------------


def run(settings: Settings) -> list[Measurement]:
    with contextlib.ExitStack() as stack:
        emulator = stack.enter_context(EmulatorProcess("server"))
        base_urls = {EMULATOR: emulator.base_url}
        notes = ""
        if settings.emulator_baseline is not None:
            source = stack.enter_context(exported(settings.emulator_baseline))
            baseline = stack.enter_context(EmulatorProcess("baseline", source=source))
            base_urls[BASELINE] = baseline.base_url
            notes = f"baseline: the emulator of {revision_name(settings.emulator_baseline)}"
            log(f"server: beside {notes}")
        worker = stack.enter_context(our_worker("server"))
        return _measure(settings, worker, base_urls, notes)
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack does not swallow


def _measure(
    settings: Settings, worker: Worker, base_urls: dict[str, str], notes: str
) -> list[Measurement]:
    batches = QUICK_BATCHES if settings.quick else BATCHES
    fan_out_events = QUICK_FAN_OUT_EVENTS if settings.quick else FAN_OUT_EVENTS
    measurements: list[Measurement] = []
    turns = [0]
    group = [Contender(label, worker, label) for label in base_urls]
    ratios = ((EMULATOR, BASELINE),) if BASELINE in base_urls else ()

    def subject() -> str:
        turns[0] += 1
        return f"/bench/server/{turns[0]}"

    for base_url in base_urls.values():  # the connections, warm code paths
        worker.call(
            "server_write",
            base_url=base_url,
            subject=subject(),
            batch=10,
            calls=5,
            precondition=True,
        )
    for precondition in (False, True):
        for batch, calls in batches.items():
            mode = "precondition" if precondition else "plain"
            log(f"server: {WRITERS} writers, {calls} calls of {batch} events ({mode})")

            def write(
                contender: Contender, b: int = batch, c: int = calls, p: bool = precondition
            ) -> dict[str, float]:
                result = contender.worker.call(
                    "server_write",
                    base_url=base_urls[contender.kind],
                    subject=subject(),
                    batch=b,
                    calls=c,
                    precondition=p,
                )
                rate: float = result["events"] / result["seconds"]
                return {"rate": rate}

            samples = interleaved(group, settings.repetitions, write)["rate"]
            suffix = ", isSubjectOnEventId on each call" if precondition else ""
            measurements.append(
                Measurement(
                    id=f"server.write-{batch}" + (".precondition" if precondition else ""),
                    group="server",
                    title=f"emulator: writes of {batch:,} per call, {WRITERS} writers{suffix}",
                    unit="events/s",
                    higher_is_better=True,
                    samples=samples,
                    ratios_of=ratios,
                    notes=notes,
                    details={"batch": batch, "calls": calls, "writers": WRITERS},
                )
            )
    log(f"server: {OBSERVERS} observers of one subject, {fan_out_events} events")

    def fan_out(contender: Contender) -> dict[str, float]:
        result = contender.worker.call(
            "server_fan_out",
            base_url=base_urls[contender.kind],
            subject=subject(),
            observers=OBSERVERS,
            count=fan_out_events,
        )
        return {"p50": result["p50"] * 1000, "p99": result["p99"] * 1000}

    fanned = interleaved(group, settings.repetitions, fan_out)
    for quantile in ("p50", "p99"):
        measurements.append(
            Measurement(
                id=f"server.fan-out.{quantile}",
                group="server",
                title=f"emulator: delivery to {OBSERVERS} observers of one subject, {quantile}",
                unit="ms",
                higher_is_better=False,
                samples=fanned[quantile],
                ratios_of=ratios,
                notes="from the write call to each observer's receipt"
                + (f"; {notes}" if notes else ""),
                details={"observers": OBSERVERS, "events": fan_out_events},
            )
        )
    return measurements
