"""5. EventQL: rows per second for a projecting query over 100,000 events.

The store holds only the benchmark's events, so `FROM e IN events` covers all of them; the query
projects three fields of each into a row. Every contender iterates all rows. The emulator
evaluates EventQL in Python, so this measures the emulator at least as much as the clients: a
ratio to the raw limit near 1 means the server is the bottleneck, not the client.
"""

from __future__ import annotations

import time
from typing import Final

from bench import raw
from bench.harness import (
    API_TOKEN,
    Contender,
    EmulatorProcess,
    Measurement,
    Settings,
    contenders,
    events_on,
    interleaved,
    log,
    seed,
)
from bench.session import Params, Result, Session, operation

QUERY: Final = (
    "FROM e IN events PROJECT INTO { id: e.id, sequence: e.data.sequence, amount: e.data.amount }"
)
WARM_UP_QUERY: Final = "FROM e IN events WHERE e.data.sequence < 100 PROJECT INTO { id: e.id }"


# --- worker side -----------------------------------------------------------------------------


@operation("query")
async def query_operation(params: Params, session: Session) -> Result:
    """Run `query` once with `kind` (ours or raw); seconds and the number of rows."""
    base_url: str = params["base_url"]
    query: str = params["query"]
    started = time.perf_counter()
    if params["kind"] == "ours":
        count = 0
        async for _ in session.ours(base_url).run_eventql_query(query):
            count += 1
    else:
        count = await raw.run_query(session.raw(base_url), session.url(base_url), API_TOKEN, query)
    return {"seconds": time.perf_counter() - started, "count": count}


# --- orchestrator side -----------------------------------------------------------------------


def run(settings: Settings) -> list[Measurement]:
    count = settings.size(100_000, 10_000)
    with EmulatorProcess("eventql") as emulator:
        seed(emulator.base_url, events_on("/bench/eventql", count), "eventql")
        with contenders(settings) as group:

            def one(contender: Contender, query: str = QUERY) -> dict[str, float]:
                result = contender.worker.call(
                    "query", kind=contender.kind, base_url=emulator.base_url, query=query
                )
                expected = count if query == QUERY else 100
                if result["count"] != expected:
                    raise RuntimeError(f"{contender.label}: {result['count']} rows, not {expected}")
                rate: float = result["count"] / result["seconds"]
                return {"rate": rate}

            for contender in group:
                one(contender, WARM_UP_QUERY)
            log(f"eventql: {count:,} rows, {settings.repetitions} repetitions")
            samples = interleaved(group, settings.repetitions, one)
    return [
        Measurement(
            id="eventql.project",
            group="eventql",
            title=f"run_eventql_query, projecting {count:,} events into rows",
            unit="rows/s",
            higher_is_better=True,
            samples=samples["rate"],
            notes="the emulator evaluates EventQL in Python: it is the bottleneck here",
            details={"query": QUERY},
        )
    ]
