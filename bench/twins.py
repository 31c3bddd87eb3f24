"""11. The blocking twin beside the async client, and what telemetry costs with no SDK configured.

`sync`: `read_events` over 100,000 events and `write_events` with 1 and 100 events per call, for
the async client (`ours`), the blocking `eventsourcingdb.sync.Client` (`blocking`, its own
pool) and its ceiling, a plain blocking loop on the standard library's `http.client` (`plain`:
one kept-alive connection, raw chunks split on newlines, `orjson.loads`, no objects;
`bench/plain.py`), on one socket server, interleaved. The worker calls the blocking ones from its
event loop thread: nothing else runs there meanwhile, so the loop waiting does not matter.

`telemetry`: the same read and the one-event write, for our client as installed (the
OpenTelemetry API present, no SDK configured, so no span is made) and the same client with
`Telemetry(enabled=False)`, which does not even look; and the same pair for the blocking client.
The target: no more than 3% between each client and its untraced self.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any, Final

from bench import plain
from bench.harness import (
    API_TOKEN,
    OURS,
    Contender,
    EmulatorProcess,
    Measurement,
    Settings,
    event_dict,
    events_on,
    interleaved,
    log,
    our_worker,
    seed,
)
from bench.session import Params, Result, Session, operation

BLOCKING: Final = "blocking"
"""The blocking twin, `eventsourcingdb.sync.Client`."""
UNTRACED: Final = "untraced"
"""Our client with `Telemetry(enabled=False)`."""
PLAIN: Final = "plain"
"""The plain blocking loop on `http.client` (`bench/plain.py`), the blocking twin's ceiling."""
BLOCKING_UNTRACED: Final = "blocking-untraced"
"""The blocking client with `Telemetry(enabled=False)`."""
TRACED_UNTRACED: Final = ((OURS, UNTRACED), (BLOCKING, BLOCKING_UNTRACED))
"""Each client with telemetry on (no SDK configured) against itself with telemetry off."""
SYNC_RATIOS: Final = ((BLOCKING, PLAIN), (BLOCKING, OURS))
"""The blocking twin against its ceiling, and against the async client."""
SUBJECT: Final = "/bench/twins/read"
WARM_UP: Final = "/bench/twins/warm-up"
WRITES: Final = {1: 300, 100: 30}
QUICK_WRITES: Final = {1: 40, 100: 5}

_clients: dict[tuple[str, str], Any] = {}
_plain: dict[str, Any] = {}


def _connection(base_url: str) -> Any:
    """The plain loop's kept-alive `http.client` connection to `base_url`, made once."""
    connection = _plain.get(base_url)
    if connection is None:
        connection = _plain[base_url] = plain.blocking_connection(base_url)
    return connection


def _client(kind: str, base_url: str) -> Any:
    """The worker's client of `kind` for `base_url`, made once (an application keeps one)."""
    key = (kind, base_url)
    client = _clients.get(key)
    if client is None:
        if kind in (BLOCKING, BLOCKING_UNTRACED):
            from eventsourcingdb.sync import Client as BlockingClient
            from eventsourcingdb.telemetry import Telemetry

            telemetry = Telemetry(enabled=kind == BLOCKING)
            client = BlockingClient(base_url, API_TOKEN, timeout=300.0, telemetry=telemetry)
        else:
            from eventsourcingdb import Client
            from eventsourcingdb.telemetry import Telemetry

            client = Client(base_url, API_TOKEN, timeout=300.0, telemetry=Telemetry(enabled=False))
        _clients[key] = client
    return client


async def _read(session: Session, kind: str, base_url: str, subject: str) -> int:
    if kind == PLAIN:
        return plain.blocking_read_events(
            _connection(base_url), API_TOKEN, subject, recursive=False
        )
    count = 0
    if kind in (BLOCKING, BLOCKING_UNTRACED):
        for _ in _client(kind, base_url).read_events(subject):
            count += 1
        return count
    client = session.ours(base_url) if kind == OURS else _client(kind, base_url)
    async for _ in client.read_events(subject):
        count += 1
    return count


async def _write(
    session: Session, kind: str, base_url: str, plan: list[list[dict[str, Any]]]
) -> None:
    if kind == PLAIN:
        connection = _connection(base_url)
        for events in plan:
            plain.blocking_write_events(connection, API_TOKEN, events)
        return
    if kind in (BLOCKING, BLOCKING_UNTRACED):
        blocking = _client(kind, base_url)
        for events in plan:
            blocking.write_events(events)
        return
    client = session.ours(base_url) if kind == OURS else _client(kind, base_url)
    for events in plan:
        await client.write_events(events)


@operation("twins_read")
async def read_operation(params: Params, session: Session) -> Result:
    """Read `subject` once with the client of `kind`; seconds and the number of events."""
    started = time.perf_counter()
    count = await _read(session, params["kind"], params["base_url"], params["subject"])
    return {"seconds": time.perf_counter() - started, "count": count}


@operation("twins_write")
async def write_operation(params: Params, session: Session) -> Result:
    """Write `calls` batches of `batch` events with the client of `kind`; seconds and events."""
    subject: str = params["subject"]
    batch: int = params["batch"]
    plan = [
        [event_dict(subject, call * batch + index) for index in range(batch)]
        for call in range(params["calls"])
    ]
    started = time.perf_counter()
    await _write(session, params["kind"], params["base_url"], plan)
    return {"seconds": time.perf_counter() - started, "events": batch * len(plan)}


# --- orchestrator side -----------------------------------------------------------------------


def _reads(
    group: list[Contender], settings: Settings, base_url: str, count: int
) -> dict[str, list[float]]:
    def one(contender: Contender) -> dict[str, float]:
        result = contender.worker.call(
            "twins_read", kind=contender.kind, base_url=base_url, subject=SUBJECT
        )
        if result["count"] != count:
            raise RuntimeError(f"{contender.label} read {result['count']} events, not {count}")
        return {"rate": result["count"] / result["seconds"]}

    return interleaved(group, settings.repetitions, one)["rate"]


def _writes(
    group: list[Contender], settings: Settings, base_url: str, batch: int, calls: int
) -> dict[str, list[float]]:
    turns: dict[str, int] = {}

    def one(contender: Contender) -> dict[str, float]:
        turn = turns[contender.label] = turns.get(contender.label, -1) + 1
        subject = f"/bench/twins/write/{contender.label}/{batch}/{turn}"
        result = contender.worker.call(
            "twins_write",
            kind=contender.kind,
            base_url=base_url,
            subject=subject,
            batch=batch,
            calls=calls,
        )
        return {"rate": result["events"] / result["seconds"]}

    return interleaved(group, settings.repetitions, one)["rate"]


def _compare(
    settings: Settings,
    label: str,
    measure: Callable[[list[Contender], str, int], list[Measurement]],
) -> list[Measurement]:
    count = settings.size(100_000, 10_000)
    with EmulatorProcess(f"twins-{label}") as emulator, our_worker(label) as worker:
        seed(
            emulator.base_url,
            itertools.chain(events_on(WARM_UP, 100), events_on(SUBJECT, count)),
            label,
        )
        others = [BLOCKING, PLAIN] if label == "sync" else [UNTRACED, BLOCKING, BLOCKING_UNTRACED]
        group = [Contender(kind, worker, kind) for kind in (OURS, *others)]
        for contender in group:  # connections, the version probe, warm code paths
            contender.worker.call(
                "twins_read", kind=contender.kind, base_url=emulator.base_url, subject=WARM_UP
            )
        return measure(group, emulator.base_url, count)


def run_sync(settings: Settings) -> list[Measurement]:
    writes = QUICK_WRITES if settings.quick else WRITES

    def measure(group: list[Contender], base_url: str, count: int) -> list[Measurement]:
        log(f"sync: read_events of {count:,} events, async, blocking and plain")
        measurements = [
            Measurement(
                id="sync.read",
                group="sync",
                title=f"read_events, {count:,} events: async, blocking, plain http.client",
                unit="events/s",
                higher_is_better=True,
                samples=_reads(group, settings, base_url, count),
                ratios_of=SYNC_RATIOS,
            )
        ]
        for batch, calls in writes.items():
            log(f"sync: {calls} write_events calls of {batch} events, async, blocking and plain")
            measurements.append(
                Measurement(
                    id=f"sync.write.batch-{batch}",
                    group="sync",
                    title=f"write_events, {batch:,} per call: async, blocking, plain http.client",
                    unit="events/s",
                    higher_is_better=True,
                    samples=_writes(group, settings, base_url, batch, calls),
                    ratios_of=SYNC_RATIOS,
                )
            )
        return measurements

    return _compare(settings, "sync", measure)


def run_telemetry(settings: Settings) -> list[Measurement]:
    calls = (QUICK_WRITES if settings.quick else WRITES)[1]

    def measure(group: list[Contender], base_url: str, count: int) -> list[Measurement]:
        log(f"telemetry: read_events of {count:,} events, with and without telemetry")
        read = Measurement(
            id="telemetry.read",
            group="telemetry",
            title=f"read_events, {count:,} events: telemetry on (no SDK) and off, both twins",
            unit="events/s",
            higher_is_better=True,
            samples=_reads(group, settings, base_url, count),
            ratios_of=TRACED_UNTRACED,
            notes="target: each ratio at least 0.97",
        )
        log(f"telemetry: {calls} write_events calls of 1 event, with and without telemetry")
        write = Measurement(
            id="telemetry.write.batch-1",
            group="telemetry",
            title="write_events, 1 per call: telemetry on (no SDK) and off, both twins",
            unit="events/s",
            higher_is_better=True,
            samples=_writes(group, settings, base_url, 1, calls),
            ratios_of=TRACED_UNTRACED,
            notes="target: each ratio at least 0.97",
        )
        return [read, write]

    return _compare(settings, "telemetry", measure)
