"""A small domain for the aggregate tests: counters, orders spanning a subject tree, notes.

Everything is declared in `REGISTRY`, apart from other tests' types, so the tests can register
schemas, write undeclared types on purpose, and evolve snapshot types without clashes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from eventsourcingdb.aggregates import Aggregate, Decider, MissingHandler, Snapshots, handles
from eventsourcingdb.models import EventRegistry

REGISTRY = EventRegistry()
SOURCE = "https://tests.eventsourcingdb.io"
PREFIX = "io.eventsourcingdb.tests.aggregates"


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True)


@REGISTRY.event_type(f"{PREFIX}.incremented")
class Incremented(_Event):
    by: int = 1


@REGISTRY.event_type(f"{PREFIX}.reset")
class Reset(_Event):
    pass


@REGISTRY.event_type(f"{PREFIX}.noted")
class Noted(_Event):
    text: str


@REGISTRY.event_type(f"{PREFIX}.counter-snapshot.v2")
class CounterSnapshot(_Event):
    value: int
    history: list[int]
    maximum: int


@REGISTRY.event_type(f"{PREFIX}.order-placed")
class OrderPlaced(_Event):
    customer: str


@REGISTRY.event_type(f"{PREFIX}.line-added")
class LineAdded(_Event):
    sku: str
    quantity: int


class CounterTooHigh(Exception):
    """The counter would pass its maximum."""


class Counter(Aggregate):
    """Counts; refuses to go past `maximum`."""

    value: int = 0
    history: list[int] = field(default_factory=list)
    maximum: int = 1_000_000

    def increment(self, by: int = 1) -> None:
        if self.value + by > self.maximum:
            raise CounterTooHigh(f"{self.value} + {by} > {self.maximum}")
        self.record(Incremented(by=by))

    def reset(self) -> None:
        self.record(Reset())

    @handles(Incremented)
    def _incremented(self, event: Incremented) -> None:
        self.value += event.by
        self.history.append(event.by)

    @handles(Reset)
    def _reset(self, event: Reset) -> None:
        self.value = 0


class SnapshottingCounter(Counter, snapshots=Snapshots(CounterSnapshot, every=5)):
    """A counter that writes a snapshot every 5 events."""


class LenientCounter(Counter, on_missing_handler=MissingHandler.IGNORE):
    """A counter that skips events it has no handler for (notes, undeclared types)."""


class Order(Aggregate, recursive=True):
    """An order at `/orders/<n>` whose lines live at `/orders/<n>/lines/<sku>`."""

    customer: str | None = None
    lines: dict[str, int] = field(default_factory=dict)

    def place(self, customer: str) -> None:
        self.record(OrderPlaced(customer=customer))

    def add_line(self, sku: str, quantity: int) -> None:
        self.record(LineAdded(sku=sku, quantity=quantity), subject=f"{self.subject}/lines/{sku}")

    @handles(OrderPlaced)
    def _placed(self, event: OrderPlaced) -> None:
        self.customer = event.customer

    @handles(LineAdded)
    def _line(self, event: LineAdded) -> None:
        self.lines[event.sku] = self.lines.get(event.sku, 0) + event.quantity


@dataclass(frozen=True, slots=True)
class Add:
    """Add `amount` to the tally."""

    amount: int


@dataclass(frozen=True, slots=True)
class Tally:
    """The state of the tally decider."""

    total: int = 0
    additions: int = 0


def _decide(state: Tally, command: Add) -> list[Incremented]:
    if command.amount < 0:
        raise ValueError("a tally only grows")
    return [] if command.amount == 0 else [Incremented(by=command.amount)]


def _evolve(state: Tally, event: Incremented) -> Tally:
    return Tally(total=state.total + event.by, additions=state.additions + 1)


tally: Decider[Tally, Add, Incremented] = Decider(
    decide=_decide, evolve=_evolve, initial_state=Tally()
)
