# Generated from eventsourcingdb/aggregates/repository.py by scripts/unasync.py:
# edit that file and run the script.
"""`Repository`: loads aggregates from their events and saves what they recorded, safely.

Loading reads the subject through an `EventStore` (typed, upcast) and replays it through the
aggregate's handlers, from the latest snapshot on when the aggregate takes snapshots. Saving
writes every pending event (of one aggregate, or of several together) in one atomic call guarded
by the version each was loaded at (`IsSubjectOnEventId`, or `IsSubjectPristine` for a new
aggregate); a lost race is an `AggregateConcurrencyError` naming the aggregate that changed, and
`update`, `execute` and `retrying` decide again on fresh state.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from typing import Final, TypeVar, cast

from pydantic import BaseModel

from eventsourcingdb import _twins
from eventsourcingdb._validation import check_written_subject
from eventsourcingdb.aggregates.aggregate import Aggregate, AggregateSpec
from eventsourcingdb.aggregates.backoff import Backoff, checked_retries
from eventsourcingdb.aggregates.boundaries import Boundary, BoundaryRead, unchanged
from eventsourcingdb.aggregates.decider import Decider, DecisionResult
from eventsourcingdb.aggregates.errors import (
    AggregateConcurrencyError,
    AggregateConflict,
    AggregateDefinitionError,
    AggregateNotFoundError,
)
from eventsourcingdb.aggregates.handlers import MissingHandler
from eventsourcingdb.errors import ConcurrencyError, EventSourcingDBError, InvalidArgumentError
from eventsourcingdb.event import Event
from eventsourcingdb.models import OnUnknown, RecordedEvent, UnknownEventTypeError, Verification
from eventsourcingdb.options import (
    IfEventIsMissingDuringRead,
    Order,
    ReadEventsOptions,
    ReadFromLatestEvent,
)
from eventsourcingdb.preconditions import (
    IsSubjectOnEventId,
    IsSubjectPristine,
    Precondition,
    SubjectPrecondition,
)
from eventsourcingdb.sync.retrying import retry_on_conflict
from eventsourcingdb.sync.store import EventStore
from eventsourcingdb.telemetry import Instrumentation, Operated, _NoOperation, instrumentation_of

__all__ = ["Repository"]

_logger = logging.getLogger("eventsourcingdb.aggregates")

A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")
S = TypeVar("S")
C = TypeVar("C")
E = TypeVar("E", bound=BaseModel)


def _pairs(
    events: Generator[RecordedEvent[BaseModel], None, None],
) -> Generator[list[tuple[BaseModel, str]], None, None]:
    """`events` as `Repository` replays them: batches of one `(data, event_id)` pair."""
    with closing(events) as stream:
        for event in stream:
            yield [(event.data, event.event_id)]


_AGGREGATE_TYPE: Final = "eventsourcingdb.aggregate.type"
_SUBJECT: Final = "eventsourcingdb.subject"


def _guard(subject: str, version: str | None, *, recursive: bool) -> SubjectPrecondition:
    if version is None:
        return IsSubjectPristine(subject, recursive=recursive)
    return IsSubjectOnEventId(subject, version, recursive=recursive)


class Repository:
    """Aggregates and deciders over an `EventStore`, with optimistic concurrency.

    `retries` is how often `update`, `execute` and `retrying` decide again after a conflict
    (each call can say otherwise); `backoff` spaces those attempts out.
    """

    def __init__(
        self, store: EventStore, *, retries: int = 3, backoff: Backoff | None = None
    ) -> None:
        _twins.refuse_other_twin(store, EventStore, "Repository")
        if not isinstance(store, EventStore):
            raise InvalidArgumentError(
                f"Repository needs an EventStore from eventsourcingdb.models, got "
                f"{type(store).__name__}"
            )
        self._store = store
        self._retries = checked_retries(retries)
        self._backoff = Backoff() if backoff is None else backoff

    @property
    def store(self) -> EventStore:
        """The store this repository reads and writes through."""
        return self._store

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._store!r}, retries={self._retries})"

    # --- loading -----------------------------------------------------------------------------

    def load(self, aggregate_type: type[A], subject: str) -> A:
        """The aggregate rebuilt from the events of `subject`; `AggregateNotFoundError` if none."""
        aggregate = self._rehydrate(aggregate_type, subject)
        if aggregate.version is None:
            raise AggregateNotFoundError(
                f"there is no {aggregate_type.__qualname__} at {subject}: the subject has no "
                "events (use load_or_new to start a new one)",
                aggregate_type=aggregate_type,
                subject=subject,
            )
        return aggregate

    def load_or_new(self, aggregate_type: type[A], subject: str) -> A:
        """The aggregate at `subject`, or a fresh one if the subject has no events yet."""
        return self._rehydrate(aggregate_type, subject)

    def _telemetry(self) -> Instrumentation:
        return instrumentation_of(self._store.client)

    def _rehydrate(self, aggregate_type: type[A], subject: str) -> A:
        if not (isinstance(aggregate_type, type) and issubclass(aggregate_type, Aggregate)):
            raise InvalidArgumentError(
                f"the repository loads Aggregate subclasses, got {aggregate_type!r}"
            )
        name = aggregate_type.__qualname__
        described = {_AGGREGATE_TYPE: name, _SUBJECT: subject}
        with self._telemetry().operation("load", name, attributes=described) as traced:
            aggregate = self._replayed(aggregate_type, subject)
            traced.set({"eventsourcingdb.aggregate.version": aggregate.version or ""})
            return aggregate

    def _replayed(self, aggregate_type: type[A], subject: str) -> A:
        aggregate = aggregate_type.new(subject)
        spec = aggregate_type._spec
        retired = spec.snapshots.retired if spec.snapshots is not None else ()
        tolerant = spec.on_missing_handler is MissingHandler.IGNORE or bool(retired)
        options = self._read_options(spec, aggregate.subject)
        replayed = 0
        if not tolerant:
            # unknown types raise and nothing is retired: every item is a `RecordedEvent`, and
            # without verification they come in batches (one step per batch, not per event)
            replay = aggregate._replay_all
            store = self._store
            if store._verification is Verification.NONE:
                batches = store._replay_batches(aggregate.subject, options)
            else:
                batches = _pairs(store.read(aggregate.subject, options))
            with closing(batches) as decoded:
                for batch in decoded:
                    replayed += len(batch)
                    replay(batch)
        else:
            stream = self._store.read(aggregate.subject, options, on_unknown=OnUnknown.YIELD_RAW)
            with closing(stream) as events:
                for item in events:
                    replayed += 1
                    if item.type in retired:
                        aggregate._replay(None, event_id=item.event_id)
                    elif isinstance(item, Event):
                        if spec.on_missing_handler is not MissingHandler.IGNORE:
                            raise _unknown(item)
                        aggregate._replay(None, event_id=item.event_id)
                    else:
                        aggregate._replay(item.data, event_id=item.event_id)
        _logger.debug(
            "loaded %s at %s from %d events", aggregate_type.__qualname__, subject, replayed
        )
        return aggregate

    def _read_options(self, spec: AggregateSpec, subject: str) -> ReadEventsOptions:
        if spec.snapshots is None:
            return ReadEventsOptions(recursive=spec.recursive)
        declaration = self._store.registry.declaration_of(spec.snapshots.model)
        if declaration is None:
            raise AggregateDefinitionError(
                f"the snapshot model {spec.snapshots.model.__qualname__} is not declared in the "
                f"store's registry {self._store.registry!r}: decorate it with @event_type"
            )
        return ReadEventsOptions(
            recursive=spec.recursive,
            from_latest_event=ReadFromLatestEvent(
                subject=subject,
                type=declaration.name,
                if_event_is_missing=IfEventIsMissingDuringRead.READ_EVERYTHING,
            ),
        )

    # --- saving ------------------------------------------------------------------------------

    def save(
        self,
        *aggregates: Aggregate,
        preconditions: Sequence[Precondition] = (),
        trace_parent: str | None = None,
        trace_state: str | None = None,
    ) -> list[RecordedEvent[BaseModel]]:
        """Write the pending events of `aggregates` in one atomic call, if each is still at its
        version; return them as recorded (snapshots left out), in the order given.

        Each aggregate's version guard is sent (those with nothing pending too: the decision
        read them), then `preconditions` (for example a boundary's `unchanged_since`). Snapshots
        that are due are written in the same call. Nothing pending anywhere: nothing is sent
        and `[]` returned. Either every aggregate is saved (versions move, nothing pending) or
        none is: a violated precondition raises `AggregateConcurrencyError` naming the
        aggregate that changed, and leaves all of them as they were; load again to decide again.
        """
        _check_together(aggregates)
        if not any(aggregate._pending for aggregate in aggregates):
            return []
        types = sorted({type(aggregate).__qualname__ for aggregate in aggregates})
        described: dict[str, str | int] = {
            _AGGREGATE_TYPE: ",".join(types),
            "eventsourcingdb.aggregate.count": len(aggregates),
        }
        if len(aggregates) == 1:
            described[_SUBJECT] = aggregates[0].subject
        with self._telemetry().operation("save", attributes=described) as traced:
            return self._save(aggregates, preconditions, trace_parent, trace_state, traced)

    def _save(
        self,
        aggregates: Sequence[Aggregate],
        preconditions: Sequence[Precondition],
        trace_parent: str | None,
        trace_state: str | None,
        traced: Operated | _NoOperation,
    ) -> list[RecordedEvent[BaseModel]]:
        sent = [*(unchanged(aggregate) for aggregate in aggregates), *preconditions]
        pairs: list[tuple[str, BaseModel]] = []
        plan: list[tuple[Aggregate, int, bool]] = []
        for aggregate in aggregates:
            if not aggregate._pending:
                continue
            pairs += aggregate._pending
            snapshot = aggregate.take_snapshot() if aggregate._snapshot_due() else None
            if snapshot is not None:
                pairs.append((aggregate.subject, snapshot))
            plan.append((aggregate, len(aggregate._pending), snapshot is not None))
        try:
            written = self._store.append_many(
                pairs, preconditions=sent, trace_parent=trace_parent, trace_state=trace_state
            )
        except ConcurrencyError as error:
            traced.refused()
            raise self._conflict(aggregates, sent, error) from error
        traced.wrote(len(written))
        recorded: list[RecordedEvent[BaseModel]] = []
        position = 0
        for aggregate, count, snapshot_written in plan:
            part = written[position : position + count + snapshot_written]
            position += len(part)
            aggregate._saved(part[-1].event_id, snapshot_written=snapshot_written)
            recorded += part[:count]
            if snapshot_written:
                _logger.debug(
                    "wrote a snapshot of %s at %s", type(aggregate).__qualname__, aggregate.subject
                )
        return recorded

    def _conflict(
        self, aggregates: Sequence[Aggregate], sent: Sequence[Precondition], cause: ConcurrencyError
    ) -> AggregateConcurrencyError:
        """The error of a save that lost a race, naming the aggregate that changed.

        The server says that a precondition failed, not (reliably) which; so after a failed
        save of several aggregates, each subject's latest event id is read again. Events are
        never removed, so an aggregate still at its version did not cause the failure; one
        that moved did, or was changed right after it.
        """
        first = aggregates[0]
        if len(aggregates) == 1:
            return AggregateConcurrencyError(
                aggregate_type=type(first),
                subject=first.subject,
                expected_version=first.version,
                preconditions=sent,
                cause=cause,
            )
        conflicts: list[AggregateConflict] = []
        unattributed: str | None = None
        try:
            for aggregate in aggregates:
                latest = self._latest_event_id(aggregate)
                if latest != aggregate.version:
                    conflicts.append(
                        AggregateConflict(
                            aggregate_type=type(aggregate),
                            subject=aggregate.subject,
                            expected_version=aggregate.version,
                            actual_version=latest,
                        )
                    )
        except EventSourcingDBError as error:
            conflicts = []
            unattributed = f"reading the subjects again failed: {error.message}"
        named = conflicts[0] if conflicts else None
        return AggregateConcurrencyError(
            aggregate_type=type(first) if named is None else named.aggregate_type,
            subject=first.subject if named is None else named.subject,
            expected_version=first.version if named is None else named.expected_version,
            preconditions=sent,
            cause=cause,
            together=[(type(aggregate), aggregate.subject) for aggregate in aggregates],
            conflicts=conflicts,
            unattributed=unattributed,
        )

    def _latest_event_id(self, aggregate: Aggregate) -> str | None:
        """The id of the latest event of the aggregate's subject (its tree, if recursive)."""
        options = ReadEventsOptions(
            recursive=type(aggregate)._spec.recursive, order=Order.ANTICHRONOLOGICAL
        )
        with closing(self._store.client.read_events(aggregate.subject, options)) as events:
            for event in events:
                return event.event_id
        return None

    # --- deciding again after a conflict -----------------------------------------------------

    def retrying(self, operation: Callable[[], R], *, retries: int | None = None) -> R:
        """Run `operation`, running it again after a `ConcurrencyError` (never after others).

        `operation` must load what it decides on afresh each time. Use it for decisions that
        span several aggregates or a boundary; `update` and `execute` use it themselves.
        """
        with self._telemetry().operation("retrying", retrying=True) as traced:
            return self._retrying(operation, retries, traced)

    def _retrying(
        self,
        operation: Callable[[], R],
        retries: int | None,
        traced: Operated | _NoOperation,
    ) -> R:
        return retry_on_conflict(
            operation,
            retries=self._retries if retries is None else retries,
            backoff=self._backoff,
            on_conflict=traced.retry,
        )

    def update(
        self,
        aggregate_type: type[A],
        subject: str,
        change: Callable[[A], object],
        *,
        retries: int | None = None,
        create: bool = False,
    ) -> A:
        """Load, apply `change`, save; on a conflict, all of it again.

        `create=True` starts a new aggregate when the subject has no events. Errors of `change`
        and `OutcomeUnknownError` are never retried. Returns the saved aggregate.
        """

        def attempt() -> A:
            if create:
                aggregate = self.load_or_new(aggregate_type, subject)
            else:
                aggregate = self.load(aggregate_type, subject)
            outcome = change(aggregate)
            if outcome is not None and inspect.isawaitable(outcome):
                raise _twins.awaitable_in_blocking_code(outcome, "change")
            self.save(aggregate)
            return aggregate

        name = getattr(aggregate_type, "__qualname__", repr(aggregate_type))
        described = {_AGGREGATE_TYPE: name, _SUBJECT: subject}
        with self._telemetry().operation(
            "update", name, retrying=True, attributes=described
        ) as traced:
            return self._retrying(attempt, retries, traced)

    # --- deciders ----------------------------------------------------------------------------

    def execute(
        self,
        decider: Decider[S, C, E],
        subject: str,
        command: C,
        *,
        retries: int | None = None,
        preconditions: Sequence[Precondition] = (),
    ) -> DecisionResult[S, E]:
        """Fold the subject's events with `decider`, decide on `command`, write the outcome.

        The write is guarded like `save`; on a conflict the whole decision runs again (up to
        `retries` times). A decision without events writes nothing.
        """
        if not isinstance(decider, Decider):
            raise InvalidArgumentError(f"execute takes a Decider, got {type(decider).__name__}")
        check_written_subject(subject)

        def attempt() -> DecisionResult[S, E]:
            state, version = self._fold(decider, subject)
            decided = list(decider.decide(state, command))
            if not decided:
                return DecisionResult(state=state, events=(), version=version)
            for event in decided:
                if not isinstance(event, BaseModel):
                    raise InvalidArgumentError(
                        f"decide returned {type(event).__name__}; it returns event models"
                    )
            sent = [_guard(subject, version, recursive=decider.recursive), *preconditions]
            try:
                written = self._store.append(subject, *decided, preconditions=sent)
            except ConcurrencyError as error:
                traced.refused()
                raise AggregateConcurrencyError(
                    aggregate_type=None,
                    subject=subject,
                    expected_version=version,
                    preconditions=sent,
                    cause=error,
                ) from error
            traced.wrote(len(written))
            return DecisionResult(
                state=decider.fold(decided, state),
                events=tuple(written),
                version=written[-1].event_id,
            )

        described = {_SUBJECT: subject}
        with self._telemetry().operation("execute", retrying=True, attributes=described) as traced:
            return self._retrying(attempt, retries, traced)

    def load_state(self, decider: Decider[S, C, E], subject: str) -> tuple[S, str | None]:
        """The decider's state of `subject` and the id of its last event (None: it has none).

        For decisions that read a decider's state without changing it: guard them with
        `IsSubjectOnEventId(subject, version)` (or `IsSubjectPristine` for None).
        """
        if not isinstance(decider, Decider):
            raise InvalidArgumentError(f"load_state takes a Decider, got {type(decider).__name__}")
        check_written_subject(subject)
        return self._fold(decider, subject)

    def _fold(self, decider: Decider[S, C, E], subject: str) -> tuple[S, str | None]:
        state = decider.initial_state
        version: str | None = None
        options = ReadEventsOptions(recursive=decider.recursive)
        with closing(self._store.read(subject, options)) as events:
            for recorded in events:
                # The decider's event type is a static promise; the store yields declared models.
                state = decider.evolve(state, cast(E, recorded.data))
                version = recorded.event_id
        return state, version

    # --- boundaries --------------------------------------------------------------------------

    def read_boundary(self, boundary: Boundary) -> BoundaryRead:
        """The events of `boundary` now, and the precondition that they stay the last ones."""
        if not isinstance(boundary, Boundary):
            raise InvalidArgumentError(
                f"read_boundary takes a Boundary, got {type(boundary).__name__}"
            )
        registry = self._store.registry
        rows = self._store.query(boundary.query(registry), row_type=RecordedEvent)
        with closing(rows) as stream:
            events = tuple(stream)
        last = max((recorded.event_id for recorded in events), key=int) if events else None
        return BoundaryRead(
            boundary=boundary,
            events=events,
            precondition=boundary.unchanged_since(last, registry),
        )


def _within(tree: str, subject: str) -> bool:
    """Whether `subject` is `tree` or nested below it."""
    root = tree.rstrip("/")
    return subject == tree or subject.startswith(root + "/")


def _check_together(aggregates: Sequence[object]) -> None:
    """Refuse what one save cannot write consistently: no aggregate, one twice, or two whose
    subjects overlap (each guard would count the other's events as a change)."""
    if not aggregates:
        raise InvalidArgumentError(
            "save takes the aggregates to save: repository.save(book), or several at once, "
            "repository.save(order, product)"
        )
    for aggregate in aggregates:
        if not isinstance(aggregate, Aggregate):
            raise InvalidArgumentError(f"save takes an Aggregate, got {type(aggregate).__name__}")
    checked = cast(Sequence[Aggregate], aggregates)
    for index, first in enumerate(checked):
        for second in checked[index + 1 :]:
            if first is second:
                raise InvalidArgumentError(
                    f"{type(first).__name__} at {first.subject} is passed to save twice"
                )
            for one, other in ((first, second), (second, first)):
                if _within(one.subject, other.subject) and (
                    one.subject == other.subject or type(one)._spec.recursive
                ):
                    raise InvalidArgumentError(
                        f"{type(one).__name__} at {one.subject} and {type(other).__name__} at "
                        f"{other.subject} cannot be saved together: "
                        + (
                            "they are the same subject (load it once)"
                            if one.subject == other.subject
                            else f"{type(one).__name__} spans the subject tree of "
                            f"{other.subject}, so the events of one would change the other"
                        )
                    )


def _unknown(event: Event) -> UnknownEventTypeError:
    return UnknownEventTypeError(
        f"event {event.event_id} of {event.subject} has the type {event.type!r}, which has "
        "neither a model nor an upcaster in the store's registry: declare a model for it (and a "
        "handler), or let the aggregate ignore such events (on_missing_handler=MissingHandler."
        "IGNORE)",
        event_type=event.type,
        event_id=event.event_id,
        subject=event.subject,
    )
