"""2. Writing: events per second for batches of 1, 10, 100 and 1,000 events per call.

Each batch size runs twice: without preconditions, and with one precondition on every call
(`IsSubjectOnEventId` on the event the previous call wrote; `IsSubjectPristine` on the first).
The events to write are built before the clock starts, in the form each client takes: dicts for
ours, the raw limit and the plain loop (ours validates them into candidates, timed),
`EventCandidate`s for the official client. Every call's answer is parsed: ours and the official
client return events, the raw limit and the plain loop (`bench.plain`: aiohttp and orjson, no
objects) parse each line. Each contender writes to subjects of its own.
"""

from __future__ import annotations

import time
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
    interleaved,
    log,
)
from bench.session import Params, Result, Session, operation

PLAIN: Final = "plain"
BATCH_SIZES: Final = (1, 10, 100, 1000)
CALLS: Final = {1: 300, 10: 150, 100: 40, 1000: 8}
QUICK_CALLS: Final = {1: 40, 10: 20, 100: 5, 1000: 2}


# --- worker side -----------------------------------------------------------------------------


def batches(subject: str, batch: int, calls: int) -> list[list[dict[str, Any]]]:
    return [
        [event_dict(subject, call * batch + index) for index in range(batch)]
        for call in range(calls)
    ]


async def write_ours(
    session: Session,
    base_url: str,
    plan: list[list[dict[str, Any]]],
    subject: str,
    precondition: bool,
) -> float:
    from eventsourcingdb import IsSubjectOnEventId, IsSubjectPristine, Precondition

    client = session.ours(base_url)
    last: str | None = None
    started = time.perf_counter()
    for events in plan:
        preconditions: list[Precondition] | None = None
        if precondition:
            preconditions = [
                IsSubjectPristine(subject) if last is None else IsSubjectOnEventId(subject, last)
            ]
        written = await client.write_events(events, preconditions)
        last = written[-1].event_id
    return time.perf_counter() - started


async def write_raw(
    session: Session,
    base_url: str,
    plan: list[list[dict[str, Any]]],
    subject: str,
    precondition: bool,
    *,
    aiohttp_plain: bool = False,
) -> float:
    """The raw limit (httpx and `json`), or with `aiohttp_plain` the plain loop."""
    http = session.raw(base_url)
    session_plain = session.plain()
    url = session.url(base_url)
    last: str | None = None
    started = time.perf_counter()
    for events in plan:
        preconditions: list[dict[str, Any]] | None = None
        if precondition:
            preconditions = [
                raw.is_subject_pristine(subject)
                if last is None
                else raw.is_subject_on_event_id(subject, last)
            ]
        if aiohttp_plain:
            written = await plain.write_events(session_plain, url, API_TOKEN, events, preconditions)
        else:
            written = await raw.write_events(http, url, API_TOKEN, events, preconditions)
        last = written[-1]["id"]
    return time.perf_counter() - started


@operation("write")
async def write_operation(params: Params, session: Session) -> Result:
    """Write `calls` batches of `batch` events to `subject`; seconds and the number of events."""
    subject: str = params["subject"]
    plan = batches(subject, params["batch"], params["calls"])
    kind, base_url, precondition = params["kind"], params["base_url"], params["precondition"]
    if kind == OURS:
        seconds = await write_ours(session, base_url, plan, subject, precondition)
    else:
        seconds = await write_raw(
            session, base_url, plan, subject, precondition, aiohttp_plain=kind == PLAIN
        )
    return {"seconds": seconds, "events": sum(len(events) for events in plan)}


# --- orchestrator side -----------------------------------------------------------------------


def run(settings: Settings) -> list[Measurement]:
    calls = QUICK_CALLS if settings.quick else CALLS
    measurements: list[Measurement] = []
    with EmulatorProcess("write") as emulator, contenders(settings) as group:
        group.insert(2, Contender(PLAIN, group[0].worker, PLAIN))
        base_url = emulator.base_url
        for contender in group:  # the connection, the API version probe, warm code paths
            contender.worker.call(
                "write",
                kind=contender.kind,
                base_url=base_url,
                subject=f"/bench/write/warm-up/{contender.label}",
                batch=10,
                calls=10,
                precondition=True,
            )
        for precondition in (False, True):
            for batch in BATCH_SIZES:
                measurements.append(
                    _measure(settings, group, base_url, batch, calls[batch], precondition)
                )
    return measurements


def _measure(
    settings: Settings,
    group: list[Contender],
    base_url: str,
    batch: int,
    calls: int,
    precondition: bool,
) -> Measurement:
    mode = "precondition" if precondition else "plain"
    log(f"write: {calls} calls of {batch} events ({mode})")
    turns: dict[str, int] = {}

    def one(contender: Contender) -> dict[str, float]:
        turn = turns[contender.label] = turns.get(contender.label, -1) + 1
        result = contender.worker.call(
            "write",
            kind=contender.kind,
            base_url=base_url,
            subject=f"/bench/write/{contender.label}/{batch}/{mode}/{turn}",
            batch=batch,
            calls=calls,
            precondition=precondition,
        )
        rate: float = result["events"] / result["seconds"]
        return {"rate": rate}

    samples = interleaved(group, settings.repetitions, one)
    with_precondition = ", IsSubjectOnEventId on each call" if precondition else ""
    return Measurement(
        id=f"write.batch-{batch}" + (".precondition" if precondition else ""),
        group="write",
        title=f"write_events, {batch:,} per call{with_precondition}",
        unit="events/s",
        higher_is_better=True,
        samples=samples["rate"],
        ratios_of=((OURS, RAW), (OURS, PLAIN), (OURS, OFFICIAL)),
        details={"batch": batch, "calls": calls, "precondition": precondition},
    )
