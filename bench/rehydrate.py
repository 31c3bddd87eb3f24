"""4. Typed rehydration: loading an aggregate of 10,000 and 100,000 events through the repository.

The events are pydantic models (`AmountBooked`, the same ~200 bytes of data as everywhere) read
through `EventStore` and replayed by `Repository.load` into a `Ledger` aggregate. Side by side in
the same worker, on the same subject:

* `ours` - `Repository.load(Ledger, subject)`: typed, decoded, replayed through the handler;
* `read_events` - our client's `read_events` over the same subject, untyped (the "raw read rate"
  that typed rehydration is held against);
* `hand-rolled` - `read_events` plus `AmountBooked.model_validate(event.data)` and the same state
  change by hand: what a user without the repository would write.

With a snapshot, `SnapshottingLedger` writes a `LedgerSnapshot` every 1,000 events; its history is
seeded so that the latest snapshot is 500 events before the end, and loading reads the snapshot
and those 500 events. Its rate is the whole history's events per second of loading, compared with
loading the same history without a snapshot. The official client has no typed layer, so it does
not take part here.
"""

from __future__ import annotations

import time
from contextlib import aclosing
from typing import Final

from pydantic import BaseModel, ConfigDict

from bench.harness import (
    EVENT_TYPE,
    SOURCE,
    Contender,
    EmulatorProcess,
    Measurement,
    Settings,
    Worker,
    event_data,
    interleaved,
    log,
    our_worker,
)
from bench.session import Params, Result, Session, operation
from eventsourcingdb.aggregates import Aggregate, Repository, Snapshots, handles
from eventsourcingdb.models import EventRegistry, EventStore

REGISTRY: Final = EventRegistry()
SNAPSHOT_EVERY: Final = 1000
TAIL: Final = 500
"""Events after the latest snapshot."""


@REGISTRY.event_type(EVENT_TYPE)
class AmountBooked(BaseModel):
    """The benchmark event as a typed model."""

    model_config = ConfigDict(frozen=True)

    sequence: int
    amount: int
    currency: str
    note: str


@REGISTRY.event_type("io.eventsourcingdb.bench.ledger-snapshot")
class LedgerSnapshot(BaseModel):
    """The state of a `Ledger`, for snapshots."""

    model_config = ConfigDict(frozen=True)

    balance: int
    bookings: int


class Ledger(Aggregate):
    """A balance that every booking changes."""

    balance: int = 0
    bookings: int = 0

    def book(self, sequence: int) -> None:
        self.record(AmountBooked(**event_data(sequence)))

    @handles(AmountBooked)
    def _booked(self, event: AmountBooked) -> None:
        self.balance += event.amount
        self.bookings += 1


class SnapshottingLedger(Ledger, snapshots=Snapshots(LedgerSnapshot, every=SNAPSHOT_EVERY)):
    """The same ledger, with a snapshot every 1,000 events."""


def expected_balance(count: int) -> int:
    return sum(event_data(sequence)["amount"] for sequence in range(count))


def save_sizes(count: int, snapshots: bool) -> list[int]:
    """How many events each save writes while seeding.

    With snapshots: 500 first, then 1,000 per save (a snapshot with each), then the last 500, so
    the latest snapshot is 500 events before the end.
    """
    if not snapshots:
        return [min(1000, count - start) for start in range(0, count, 1000)]
    if count < 2 * SNAPSHOT_EVERY or count % SNAPSHOT_EVERY:
        raise ValueError(f"a snapshotted history needs a multiple of 1,000 events, got {count}")
    return [TAIL, *[SNAPSHOT_EVERY] * (count // SNAPSHOT_EVERY - 1), TAIL]


# --- worker side -----------------------------------------------------------------------------


def store(session: Session, base_url: str) -> EventStore:
    """A typed store of the benchmark's events over our client of `base_url`."""
    return EventStore(session.ours(base_url), source=SOURCE, registry=REGISTRY)


@operation("rehydrate_seed")
async def seed_operation(params: Params, session: Session) -> Result:
    """Write the history of one aggregate through the repository, as an application would."""
    subject: str = params["subject"]
    count: int = params["count"]
    snapshots: bool = params["snapshots"]
    repository = Repository(store(session, params["base_url"]))
    ledger: Ledger = (SnapshottingLedger if snapshots else Ledger).new(subject)
    sequence = 0
    for size in save_sizes(count, snapshots):
        for _ in range(size):
            ledger.book(sequence)
            sequence += 1
        await repository.save(ledger)
    return {"version": ledger.version, "bookings": ledger.bookings}


@operation("rehydrate")
async def rehydrate_operation(params: Params, session: Session) -> Result:
    """Load the aggregate at `subject` once, the way `kind` says; seconds and what it found."""
    from eventsourcingdb import ReadEventsOptions

    base_url: str = params["base_url"]
    subject: str = params["subject"]
    kind: str = params["kind"]
    typed = store(session, base_url)
    client = session.ours(base_url)
    started = time.perf_counter()
    if kind == "ours":
        aggregate_type = SnapshottingLedger if params["snapshots"] else Ledger
        ledger = await Repository(typed).load(aggregate_type, subject)
        balance, bookings = ledger.balance, ledger.bookings
    elif kind == "read_events":
        balance, bookings = 0, 0
        async with aclosing(
            client.read_events(subject, ReadEventsOptions(recursive=False))
        ) as events:
            async for _ in events:
                bookings += 1
    else:
        balance, bookings = 0, 0
        validate = AmountBooked.model_validate
        async with aclosing(
            client.read_events(subject, ReadEventsOptions(recursive=False))
        ) as events:
            async for event in events:
                booked = validate(event.data)
                balance += booked.amount
                bookings += 1
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "balance": balance, "bookings": bookings}


# --- orchestrator side -----------------------------------------------------------------------


def run(settings: Settings) -> list[Measurement]:
    sizes = (settings.size(10_000, 2_000), settings.size(100_000, 10_000))
    measurements: list[Measurement] = []
    with EmulatorProcess("rehydrate") as emulator, our_worker() as worker:
        base_url = emulator.base_url
        started = time.perf_counter()
        for count in sizes:
            for snapshots in (False, True):
                worker.call(
                    "rehydrate_seed",
                    base_url=base_url,
                    subject=_subject(count, snapshots),
                    count=count,
                    snapshots=snapshots,
                )
        elapsed = time.perf_counter() - started
        log(f"seeded {2 * sum(sizes):,} events through the repository in {elapsed:.1f} s")
        for count in sizes:
            measurements.extend(_measure(settings, worker, base_url, count))
    return measurements


def _subject(count: int, snapshots: bool) -> str:
    return f"/bench/ledgers/{'snapshotted' if snapshots else 'plain'}-{count}"


def _measure(settings: Settings, worker: Worker, base_url: str, count: int) -> list[Measurement]:
    balance = expected_balance(count)
    log(f"rehydrate: {count:,} events, {settings.repetitions} repetitions")

    def load(kind: str, snapshots: bool) -> dict[str, float]:
        result = worker.call(
            "rehydrate",
            kind=kind,
            base_url=base_url,
            subject=_subject(count, snapshots),
            snapshots=snapshots,
        )
        if result["bookings"] != count or (kind != "read_events" and result["balance"] != balance):
            raise RuntimeError(f"rehydrate {kind} found {result}, expected {count} bookings")
        rate: float = count / result["seconds"]
        return {"rate": rate}

    plain = [
        Contender("ours", worker, "ours"),
        Contender("read_events", worker, "read_events"),
        Contender("hand-rolled", worker, "hand-rolled"),
    ]
    for contender in plain:
        load(contender.kind, False)  # warm-up
    samples = interleaved(plain, settings.repetitions, lambda c: load(c.kind, False))["rate"]
    snapshotted = [
        Contender("ours", worker, "snapshot"),
        Contender("no snapshot", worker, "no snapshot"),
    ]
    snapshot_samples = interleaved(
        snapshotted,
        settings.repetitions,
        lambda c: load("ours", c.kind == "snapshot"),
    )["rate"]
    return [
        Measurement(
            id=f"rehydrate.{count // 1000}k",
            group="rehydrate",
            title=f"Repository.load, {count:,} typed events, no snapshot",
            unit="events/s",
            higher_is_better=True,
            samples=samples,
            ratios_of=(("ours", "read_events"), ("ours", "hand-rolled")),
            notes="read_events: our untyped read of the same subject (the raw read rate)",
        ),
        Measurement(
            id=f"rehydrate.{count // 1000}k.snapshot",
            group="rehydrate",
            title=(
                f"Repository.load, {count:,} events, snapshot every {SNAPSHOT_EVERY:,} "
                f"({TAIL} after the latest)"
            ),
            unit="events/s",
            higher_is_better=True,
            samples=snapshot_samples,
            ratios_of=(("ours", "no snapshot"),),
            notes="history events per second of loading; reads the snapshot and the last 500",
        ),
    ]
