"""7. Commands: `Repository.update` of a small aggregate, commands per second.

A command loads an aggregate of 10 events (read-events), decides (one new event) and saves it with
a guard on the version it loaded (write-events with `isSubjectOnEventId`): two requests, the path
every command handler takes. Each command goes to an aggregate of its own, seeded with its 10
events before the clock starts, so every load reads 10 events (one aggregate taking every command
would grow, and the measurement would become one of reading). Side by side:

* `ours` - `Repository.update(Ledger, subject, book)` (typed events, `AmountBooked`);
* `plain` - a hand-written aiohttp loop making the same two requests (`bench.plain.command`):
  orjson, no objects, the state folded by hand;
* `official` - the official client: `read_events`, the state folded by hand, `write_events` with
  `IsSubjectOnEventId`.

Each contender runs its commands one after the other on an aggregate of its own.
"""

from __future__ import annotations

import time
from typing import Final

from bench import plain
from bench.harness import (
    API_TOKEN,
    OFFICIAL,
    OURS,
    Contender,
    EmulatorProcess,
    Measurement,
    Settings,
    event_data,
    event_dict,
    interleaved,
    log,
    official_worker,
    our_worker,
)
from bench.session import Params, Result, Session, operation

PLAIN: Final = "plain"
HISTORY: Final = 10
COMMANDS: Final = 300
QUICK_COMMANDS: Final = 40


# --- worker side -----------------------------------------------------------------------------


SEED_AGGREGATES: Final = 100
"""Aggregates seeded per write call (1,000 events)."""


def subjects(prefix: str, count: int) -> list[str]:
    """The subjects of `count` aggregates, one per command."""
    return [f"{prefix}/{index}" for index in range(count)]


@operation("command")
async def command_operation(params: Params, session: Session) -> Result:
    """Seed `count` aggregates of `HISTORY` events below `prefix`, then run one command on each;
    seconds, and the sum of the balances the commands ended at."""
    from bench.rehydrate import Ledger, store
    from eventsourcingdb.aggregates import Repository

    base_url: str = params["base_url"]
    aggregates = subjects(params["prefix"], params["count"])
    client = session.ours(base_url)
    for start in range(0, len(aggregates), SEED_AGGREGATES):
        await client.write_events(
            [
                event_dict(subject, sequence)
                for subject in aggregates[start : start + SEED_AGGREGATES]
                for sequence in range(HISTORY)
            ]
        )
    total = 0
    if params["kind"] == OURS:
        repository = Repository(store(session, base_url))

        def book(ledger: Ledger) -> None:
            ledger.book(HISTORY)

        started = time.perf_counter()
        for subject in aggregates:
            ledger = await repository.update(Ledger, subject, book)
            total += ledger.balance
        seconds = time.perf_counter() - started
    else:
        http = session.plain()
        url = session.url(base_url)
        started = time.perf_counter()
        for subject in aggregates:
            total += await plain.command(
                http, url, API_TOKEN, subject, event_dict(subject, HISTORY)
            )
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "count": len(aggregates), "balance": total}


# --- orchestrator side -----------------------------------------------------------------------


def run(settings: Settings) -> list[Measurement]:
    count = QUICK_COMMANDS if settings.quick else COMMANDS
    per_aggregate = sum(event_data(sequence)["amount"] for sequence in range(HISTORY + 1))
    log(f"command: {count} commands of Repository.update, {settings.repetitions} repetitions")
    turns: dict[str, int] = {}
    with EmulatorProcess("command") as emulator, our_worker() as ours:
        group = [Contender(OURS, ours, OURS), Contender(PLAIN, ours, PLAIN)]
        official = None
        if settings.official_python is not None:
            official = official_worker(settings.official_python)
            group.append(Contender(OFFICIAL, official, OFFICIAL))
        try:

            def one(contender: Contender, *, commands: int = count) -> dict[str, float]:
                turn = turns[contender.label] = turns.get(contender.label, -1) + 1
                result = contender.worker.call(
                    "command",
                    kind=contender.kind,
                    base_url=emulator.base_url,
                    prefix=f"/bench/command/{contender.label}/{turn}",
                    count=commands,
                )
                if result["balance"] != commands * per_aggregate:
                    expected = commands * per_aggregate
                    raise RuntimeError(f"{contender.label} ended at {result}, expected {expected}")
                rate: float = result["count"] / result["seconds"]
                return {"rate": rate}

            for contender in group:  # the connection, the API version probe, warm code paths
                one(contender, commands=10)
            samples = interleaved(group, settings.repetitions, one)["rate"]
        finally:
            if official is not None:
                official.close()
    return [
        Measurement(
            id="command.update",
            group="command",
            title=f"Repository.update, aggregate of {HISTORY} events (load, decide, save)",
            unit="commands/s",
            higher_is_better=True,
            samples=samples,
            ratios_of=((OURS, PLAIN), (OURS, OFFICIAL)),
            notes="two requests per command: read-events, write-events with isSubjectOnEventId",
            details={"commands": count, "history": HISTORY},
        )
    ]
