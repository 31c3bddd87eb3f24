"""Specifications of projections that need no server: given events, then the read model.

```python
await given(OnLoan(), at("/books/1", BookBorrowed(member="ada"))).then(
    lambda on_loan: on_loan.loans == {"/books/1": "ada"}
)
await given(OnLoan, at("/books/1", BookBorrowed(member="ada"))).then_idempotent(
    lambda on_loan: dict(on_loan.loans)
)
```

The given events become stored events (ids from 0, the time now, upcasters applied on the way
in as on a read) and run through the projection's handlers exactly as the runner runs them:
the same lookup, decoding and calls, in one transaction of the checkpoint store (in memory by
default; pass a `SqlCheckpointStore` for a SQL read model). Events outside the projection's
subject are not delivered, as on a server.

`then_idempotent` delivers the events twice, as an at-least-once delivery may after a crash,
and asserts the state is the same after the second delivery as after the first. A failing
specification raises `ScenarioFailure` (an `AssertionError`) telling the given events.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar, overload

from pydantic import BaseModel

from eventsourcingdb._validation import check_subject
from eventsourcingdb.aggregates.testing import ScenarioFailure
from eventsourcingdb.errors import InvalidArgumentError
from eventsourcingdb.event import Event
from eventsourcingdb.models import EventRegistry, default_registry
from eventsourcingdb.models.codec import decode_event, dump_data
from eventsourcingdb.projections._dispatch import Dispatcher, within
from eventsourcingdb.projections.checkpoints import Checkpoint, CheckpointStore
from eventsourcingdb.projections.memory import MemoryCheckpointStore
from eventsourcingdb.projections.projection import Projection, options_of
from eventsourcingdb.telemetry import instrumentation_of

__all__ = ["At", "ProjectionScenario", "ScenarioFailure", "at", "given"]

P = TypeVar("P", bound=Projection)
S = TypeVar("S")
X = TypeVar("X", bound=BaseException)

SOURCE = "https://tests.eventsourcingdb.io"
"""The source of the events a scenario makes."""
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class At:
    """An event on a subject, for `given`: made by `at(subject, event)`."""

    subject: str
    event: BaseModel


def at(subject: str, event: BaseModel) -> At:
    """`event` (an instance of a declared model) written to `subject`."""
    if not isinstance(event, BaseModel):
        raise InvalidArgumentError(f"at takes an event model instance, got {type(event).__name__}")
    return At(check_subject(subject), event)


def _line(item: At) -> str:
    data = json.dumps(dump_data(item.event), ensure_ascii=False)
    return f"{item.subject} {type(item.event).__qualname__} {data}"


class ProjectionScenario(Generic[P]):
    """Given events for a projection; `then` checks the read model they make."""

    def __init__(
        self,
        projection: P | Callable[[], P],
        events: Sequence[At],
        *,
        registry: EventRegistry,
        checkpoints: CheckpointStore | None,
    ) -> None:
        self._projection = projection
        self._events = tuple(events)
        self._registry = registry
        self._checkpoints = checkpoints
        self._stored = [self._stored_event(position, item) for position, item in enumerate(events)]

    def _stored_event(self, position: int, item: At) -> Event:
        declaration = self._registry.declaration_of(type(item.event))
        if declaration is None:
            raise InvalidArgumentError(
                f"{type(item.event).__qualname__} is not declared in the scenario's registry: "
                "pass registry= (the one the model is declared in)"
            )
        data = dump_data(item.event)
        digest = hashlib.sha256(
            json.dumps([position, item.subject, declaration.name, data]).encode()
        ).hexdigest()
        return Event(
            event_id=str(position),
            time=_EPOCH + timedelta(milliseconds=position),
            source=SOURCE,
            subject=item.subject,
            type=declaration.name,
            data=data,
            predecessor_hash="0" * 64,
            hash=digest,
        )

    def _story(self, problem: str, detail: str = "") -> ScenarioFailure:
        given = "\n".join(f"    {_line(item)}" for item in self._events) or "    (none)"
        name = getattr(self._projection, "__name__", type(self._projection).__name__)
        tail = f"\n{detail}" if detail else ""
        return ScenarioFailure(f"{name}: {problem}\n  given:\n{given}{tail}")

    def _instance(self) -> P:
        chosen = self._projection
        if isinstance(chosen, Projection):
            return chosen
        made = chosen()
        if not isinstance(made, Projection):
            raise InvalidArgumentError(
                f"given takes a Projection or a class (or function) making one, got {made!r}"
            )
        return made

    async def _deliver(self, projection: P, checkpoints: CheckpointStore, *, setup: bool) -> None:
        """Run the given events through the handlers in one transaction, as one batch."""
        options = options_of(projection)
        dispatch = Dispatcher(
            projection,
            self._registry,
            lambda e: decode_event(self._registry, e),
            checkpoints,
            instrumentation_of(None),  # no client, no telemetry
            options.name,
        )
        failures: list[BaseException] = []
        async with checkpoints.transaction() as tx:
            if setup:
                await dispatch.hook(projection.setup, tx)
            for event in self._stored:
                if not within(event.subject, options.subject, recursive=options.recursive):
                    continue
                handler = dispatch.handler_for(event.type)
                if handler is not None:
                    await dispatch.call(handler, event, tx, failures)
            if self._stored:
                last = self._stored[-1]
                checkpoint = Checkpoint(last.event_id, last.hash)
                await checkpoints.save(tx, options.name, checkpoint, owner=None)

    async def _run(self) -> tuple[P, CheckpointStore]:
        projection = self._instance()
        checkpoints = self._checkpoints or MemoryCheckpointStore()
        await checkpoints.open()
        try:
            await self._deliver(projection, checkpoints, setup=True)
        except Exception as error:
            raise self._story(f"a handler raised {type(error).__qualname__}: {error}") from error
        return projection, checkpoints

    async def _check(self, check: Callable[[P], object], projection: P) -> object:
        try:
            result = check(projection)
            if inspect.isawaitable(result):
                result = await result
        except AssertionError as error:
            raise self._story(f"the check failed: {error}") from error
        return result

    async def then(self, check: Callable[[P], object | Awaitable[object]]) -> P:
        """Deliver the events, then run `check(projection)` (async or not): it fails the
        scenario by returning False or raising `AssertionError`. Returns the projection."""
        projection, _ = await self._run()
        if await self._check(check, projection) is False:
            raise self._story("the check returned False")
        return projection

    @overload
    async def then_idempotent(self, state: Callable[[P], Awaitable[S]]) -> S: ...

    @overload
    async def then_idempotent(self, state: Callable[[P], S]) -> S: ...

    async def then_idempotent(self, state: Callable[[P], Any]) -> Any:
        """Deliver the events, take `state(projection)`, deliver them all again (a redelivery)
        and assert the state is equal; return it. Handlers of an at-least-once projection (a
        reactor, an in-memory read model) must pass this."""
        projection, checkpoints = await self._run()
        first = await self._check(state, projection)
        try:
            await self._deliver(projection, checkpoints, setup=False)
        except Exception as error:
            raise self._story(
                f"delivered again, a handler raised {type(error).__qualname__}: {error}"
            ) from error
        second = await self._check(state, projection)
        if first != second:
            raise self._story(
                "the events delivered twice leave another state than delivered once",
                f"  once:  {first!r}\n  twice: {second!r}",
            )
        return first

    async def then_raises(self, error_type: type[X], *, match: str | None = None) -> X:
        """Assert that a handler raises `error_type` (with `match` found in its message)."""
        projection = self._instance()
        checkpoints = self._checkpoints or MemoryCheckpointStore()
        await checkpoints.open()
        try:
            await self._deliver(projection, checkpoints, setup=True)
        except error_type as error:
            if match is not None and not re.search(match, str(error)):
                raise self._story(
                    f"expected {error_type.__qualname__} matching {match!r}, got: {error}"
                ) from error
            return error
        except Exception as error:
            raise self._story(
                f"expected {error_type.__qualname__}, but {type(error).__qualname__} was raised: "
                f"{error}"
            ) from error
        raise self._story(f"expected {error_type.__qualname__}, but nothing was raised")


def given(
    projection: P | Callable[[], P],
    *events: At | BaseModel,
    subject: str | None = None,
    registry: EventRegistry | None = None,
    checkpoints: CheckpointStore | None = None,
) -> ProjectionScenario[P]:
    """A scenario: `projection` (an instance, or a class or function making a fresh one for
    every check) and the events before it, each `at(subject, event)` or a bare event on
    `subject` (default: the projection's own subject). Models come from `registry` (default:
    the one of `@event_type`); `checkpoints` holds the transaction (in memory by default)."""
    chosen_registry = default_registry if registry is None else registry
    if not isinstance(chosen_registry, EventRegistry):
        raise InvalidArgumentError(f"registry must be an EventRegistry, got {registry!r}")
    if checkpoints is not None and not isinstance(checkpoints, CheckpointStore):
        raise InvalidArgumentError(f"checkpoints must be a CheckpointStore, got {checkpoints!r}")
    placed: list[At] = []
    for event in events:
        if isinstance(event, At):
            placed.append(event)
            continue
        if subject is None:
            sample = projection if isinstance(projection, Projection) else None
            default = getattr(sample if sample is not None else projection, "subject", None)
            if not isinstance(default, str):
                raise InvalidArgumentError(
                    "bare events need a subject: pass subject=..., or use at(subject, event)"
                )
            subject = default
        placed.append(at(subject, event))
    return ProjectionScenario(projection, placed, registry=chosen_registry, checkpoints=checkpoints)
