"""7. Commands: `Repository.update` of a small aggregate, commands per second.

A command loads an aggregate of 10 events (read-events), decides (one new event) and saves it with
a guard on the version it loaded (write-events with `isSubjectOnEventId`): two requests, the path
every command handler takes. Side by side:

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


@operation("command")
async def command_operation(params: Params, session: Session) -> Result:
    """Run `count` commands on the aggregate at `subject` (seeding it first); seconds."""
    from bench.rehydrate import Ledger, store
    from eventsourcingdb.aggregates import Repository

    base_url: str = params["base_url"]
    subject: str = params["subject"]
    count: int = params["count"]
    await session.ours(base_url).write_events(
        [event_dict(subject, sequence) for sequence in range(HISTORY)]
    )
    if params["kind"] == OURS:
        repository = Repository(store(session, base_url))
        started = time.perf_counter()
        for sequence in range(HISTORY, HISTORY + count):

            def book(ledger: Ledger, sequence: int = sequence) -> None:
                ledger.book(sequence)

            ledger = await repository.update(Ledger, subject, book)
        seconds = time.perf_counter() - started
        balance = ledger.balance
    else:
        http = session.plain()
        url = session.url(base_url)
        started = time.perf_counter()
        for sequence in range(HISTORY, HISTORY + count):
            balance = await plain.command(
                http, url, API_TOKEN, subject, event_dict(subject, sequence)
            )
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "count": count, "balance": balance}


# --- orchestrator side -----------------------------------------------------------------------


def run(settings: Settings) -> list[Measurement]:
    count = QUICK_COMMANDS if settings.quick else COMMANDS
    balance = sum(event_data(sequence)["amount"] for sequence in range(HISTORY + count))
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
                    subject=f"/bench/command/{contender.label}/{turn}",
                    count=commands,
                )
                if commands == count and result["balance"] != balance:
                    raise RuntimeError(f"{contender.label} ended at {result}, expected {balance}")
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
