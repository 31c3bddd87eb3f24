"""The engine of the emulator: one global, gap-free event list, schemas and observers, in memory.

Every event is encoded once, when it is written: its `data` bytes, its hash (and signature) and
the JSON object that every read, observe and query sends verbatim ever after. Writers and readers
may live on any thread and any event loop: one lock guards the state, observers are woken with
`call_soon_threadsafe` and follow the list by position, so they see every event once, in order.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eventsourcingdb import _wire
from eventsourcingdb.emulator.encoding import TimeFormat, format_time
from eventsourcingdb.emulator.eventql import EventQLError, evaluate_precondition
from eventsourcingdb.emulator.hashing import EventMetadata, HashVersion, Signer, compute_hash
from eventsourcingdb.emulator.records import (
    DATA_CONTENT_TYPE,
    SPEC_VERSION,
    Candidate,
    EventTypeInfo,
    FromLatestEvent,
    IfEventIsMissing,
    ObservationClosedError,
    Precondition,
    PreconditionFailedError,
    PreconditionKind,
    PreconditionQueryError,
    QueryPrecondition,
    RangeUnsatisfiableError,
    SchemaAlreadyRegisteredError,
    SchemaMismatchError,
    Selection,
    StoredEvent,
    StoredEventMismatchError,
    encode_event,
    is_within,
    matches,
    normalize_subject,
)
from eventsourcingdb.emulator.schemas import CompiledSchema

__all__ = ["Observation", "Store", "StoreSnapshot"]

_BATCH_LIMIT = 10_000
"""At most this many events are handed to an observer at once, so replays stream early."""


# --- snapshots for EventQL ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoreSnapshot:
    """What an EventQL query sees: the store at one moment (the `QuerySource` of the engine)."""

    _events: Sequence[StoredEvent]
    _subjects: Sequence[str]
    _event_types: Sequence[EventTypeInfo]

    def events(self) -> Sequence[StoredEvent]:
        """All events in write order."""
        return self._events

    def subjects(self) -> Sequence[str]:
        """Every known subject (those with events and their ancestors), ascending."""
        return self._subjects

    def event_types(self) -> Sequence[EventTypeInfo]:
        """Every known event type, ascending."""
        return self._event_types


# --- the store ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _State:
    """Everything that `reset()` empties."""

    events: list[StoredEvent] = field(default_factory=list)
    by_node: dict[str, list[int]] = field(default_factory=dict)
    known_subjects: set[str] = field(default_factory=set)
    type_counts: dict[str, int] = field(default_factory=dict)
    schemas: dict[str, CompiledSchema] = field(default_factory=dict)
    last_time_ns: int = 0


class Store:
    """The emulator's database: thread-safe, in memory, every event encoded once."""

    def __init__(
        self,
        *,
        hash_version: HashVersion = HashVersion.V1,
        signer: Signer | None = None,
        time_format: TimeFormat = TimeFormat.NINE_DIGITS,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._hash_version = hash_version
        self._signer = signer
        self._time_format = time_format
        self._clock = clock
        self._lock = threading.Lock()
        self._state = _State()
        self._observations: set[Observation] = set()
        self._closed = False

    @property
    def hash_version(self) -> HashVersion:
        """The recipe new events are hashed with."""
        return self._hash_version

    @property
    def is_closed(self) -> bool:
        """Whether the store has been shut down."""
        return self._closed

    # --- writing ----------------------------------------------------------------------------

    def write(
        self, candidates: Sequence[Candidate], preconditions: Sequence[Precondition] = ()
    ) -> list[StoredEvent]:
        """Check the preconditions, then the schemas, then append all candidates or none."""
        with self._lock:
            state = self._state
            for index, precondition in enumerate(preconditions):
                if not self._holds(state, index, precondition):
                    raise PreconditionFailedError(index)
            for index, candidate in enumerate(candidates):
                schema = state.schemas.get(candidate.type)
                if schema is not None:
                    detail = schema.violation(candidate.data)
                    if detail is not None:
                        raise SchemaMismatchError(index, detail)
            written = [self._append(state, candidate) for candidate in candidates]
            observations = list(self._observations)
        for observation in observations:
            observation.wake()
        return written

    def _holds(self, state: _State, index: int, precondition: Precondition) -> bool:
        if isinstance(precondition, QueryPrecondition):
            try:
                return evaluate_precondition(precondition.query, self._snapshot(state))
            except EventQLError as error:
                raise PreconditionQueryError(index, error) from None
        node = normalize_subject(precondition.subject)
        if precondition.recursive:
            indexes = [
                positions[-1]
                for other, positions in state.by_node.items()
                if is_within(other, node)
            ]
            latest = max(indexes) if indexes else None
        else:
            positions = state.by_node.get(node)
            latest = positions[-1] if positions else None
        if precondition.kind is PreconditionKind.IS_SUBJECT_PRISTINE:
            return latest is None
        if precondition.kind is PreconditionKind.IS_SUBJECT_POPULATED:
            return latest is not None
        return latest is not None and latest == precondition.event_id

    def _append(self, state: _State, candidate: Candidate) -> StoredEvent:
        index = len(state.events)
        event_id = str(index)
        now = max(self._clock(), state.last_time_ns)
        state.last_time_ns = now
        event_time = format_time(now, self._time_format)
        predecessor = state.events[-1].hash if state.events else _wire.ZERO_HASH
        metadata = EventMetadata(
            specversion=SPEC_VERSION,
            id=event_id,
            predecessorhash=predecessor,
            time=event_time,
            source=candidate.source,
            subject=candidate.subject,
            type=candidate.type,
            datacontenttype=DATA_CONTENT_TYPE,
            traceparent=candidate.traceparent,
            tracestate=candidate.tracestate,
        )
        event_hash = compute_hash(self._hash_version, metadata, candidate.data_bytes)
        signature = self._signer.sign(event_hash) if self._signer is not None else None
        node = normalize_subject(candidate.subject)
        event = StoredEvent(
            index=index,
            id=event_id,
            time=event_time,
            source=candidate.source,
            subject=candidate.subject,
            node=node,
            type=candidate.type,
            data=candidate.data,
            data_bytes=candidate.data_bytes,
            traceparent=candidate.traceparent,
            tracestate=candidate.tracestate,
            predecessorhash=predecessor,
            hash=event_hash,
            signature=signature,
            encoded=encode_event(metadata, candidate.data_bytes, event_hash, signature),
        )
        state.events.append(event)
        state.by_node.setdefault(node, []).append(index)
        state.type_counts[candidate.type] = state.type_counts.get(candidate.type, 0) + 1
        ancestor = node
        while ancestor not in state.known_subjects:
            state.known_subjects.add(ancestor)
            if ancestor == "/":
                break
            ancestor = ancestor.rsplit("/", 1)[0] or "/"
        return event

    # --- schemas ----------------------------------------------------------------------------

    def register_schema(self, event_type: str, schema: CompiledSchema) -> None:
        """Register the schema of a type: refused if one exists or a stored event violates it."""
        with self._lock:
            state = self._state
            if event_type in state.schemas:
                raise SchemaAlreadyRegisteredError(event_type)
            if state.type_counts.get(event_type):
                for event in state.events:
                    if event.type == event_type:
                        detail = schema.violation(event.data)
                        if detail is not None:
                            raise StoredEventMismatchError(event.id, detail)
            state.schemas[event_type] = schema

    def event_type(self, event_type: str) -> EventTypeInfo | None:
        """What the store knows about one type, or None when it has neither events nor schema."""
        with self._lock:
            return self._type_info(self._state, event_type)

    def event_types(self) -> list[EventTypeInfo]:
        """Every type with events or a schema, ascending by name."""
        with self._lock:
            return self._event_types(self._state)

    @staticmethod
    def _type_info(state: _State, event_type: str) -> EventTypeInfo | None:
        has_events = bool(state.type_counts.get(event_type))
        schema = state.schemas.get(event_type)
        if not has_events and schema is None:
            return None
        return EventTypeInfo(type=event_type, has_events=has_events, schema=schema)

    def _event_types(self, state: _State) -> list[EventTypeInfo]:
        names = sorted(set(state.type_counts) | set(state.schemas))
        return [info for name in names if (info := self._type_info(state, name)) is not None]

    # --- reading ----------------------------------------------------------------------------

    def subjects(self, base: str, *, recursive: bool = True) -> list[str]:
        """Known subjects at and (when `recursive`) below `base`, ascending by bytes."""
        node = normalize_subject(base)
        with self._lock:
            known = self._state.known_subjects
            if not recursive:
                return [node] if node in known else []
            return sorted(subject for subject in known if is_within(subject, node))

    def read(self, selection: Selection) -> list[StoredEvent]:
        """The events a read selects, in the order asked for (a snapshot of this moment)."""
        with self._lock:
            state = self._state
            start, stop = self._range(state, selection)
            if selection.from_latest is not None:
                found = self._latest(state, selection.from_latest)
                if found is None:
                    if selection.from_latest.if_missing is IfEventIsMissing.READ_NOTHING:
                        return []
                else:
                    if selection.upper is not None and found > selection.upper.id:
                        raise RangeUnsatisfiableError(_wire.TEXT_RANGE_UNSATISFIABLE)
                    start = max(start, found)
            events = self._select(state, selection, start, stop)
        if selection.antichronological:
            events.reverse()
        return events

    @staticmethod
    def _range(state: _State, selection: Selection) -> tuple[int, int]:
        start, stop = 0, len(state.events)
        if selection.lower is not None:
            start = selection.lower.id + (0 if selection.lower.inclusive else 1)
        if selection.upper is not None:
            stop = min(stop, selection.upper.id + (1 if selection.upper.inclusive else 0))
        return start, stop

    @staticmethod
    def _latest(state: _State, from_latest: FromLatestEvent) -> int | None:
        positions = state.by_node.get(normalize_subject(from_latest.subject), [])
        for position in reversed(positions):
            if state.events[position].type == from_latest.type:
                return position
        return None

    @staticmethod
    def _select(state: _State, selection: Selection, start: int, stop: int) -> list[StoredEvent]:
        if start >= stop:
            return []
        node = normalize_subject(selection.subject)
        events = state.events
        if selection.recursive and node == "/":
            return events[start:stop]
        if not selection.recursive:
            positions = state.by_node.get(node, [])
            return [events[p] for p in positions if start <= p < stop]
        prefix = node + "/"
        return [
            event
            for event in events[start:stop]
            if event.node == node or event.node.startswith(prefix)
        ]

    def snapshot(self) -> StoreSnapshot:
        """The store as an EventQL source, frozen at this moment."""
        with self._lock:
            return self._snapshot(self._state)

    def _snapshot(self, state: _State) -> StoreSnapshot:
        return StoreSnapshot(
            list(state.events), sorted(state.known_subjects), self._event_types(state)
        )

    def __len__(self) -> int:
        with self._lock:
            return len(self._state.events)

    # --- observing --------------------------------------------------------------------------

    def observe(self, selection: Selection) -> Observation:
        """Follow the events a selection matches: first the stored ones, then every new one.

        Must be called on the event loop that will wait for the observation.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._closed:
                raise ObservationClosedError(shutdown=True)
            state = self._state
            start, _ = self._range(state, selection)
            waiting = None
            if selection.from_latest is not None:
                found = self._latest(state, selection.from_latest)
                if found is not None:
                    start = found
                elif selection.from_latest.if_missing is IfEventIsMissing.WAIT_FOR_EVENT:
                    start = len(state.events)
                    waiting = selection.from_latest
            observation = Observation(self, selection, loop, state, start, waiting)
            self._observations.add(observation)
        return observation

    def observation_count(self) -> int:
        """How many observations are open (for diagnostics and leak checks)."""
        with self._lock:
            return len(self._observations)

    def _events_since(self, state: _State, position: int) -> list[StoredEvent] | None:
        """Events from `position` on (at most a batch); None when `state` is no longer current."""
        with self._lock:
            if self._closed or state is not self._state:
                return None
            return state.events[position : position + _BATCH_LIMIT]

    def _forget(self, observation: Observation) -> None:
        with self._lock:
            self._observations.discard(observation)

    # --- life cycle -------------------------------------------------------------------------

    def reset(self) -> None:
        """Empty the store (events and schemas); open observations end."""
        with self._lock:
            self._state = _State()
            observations = list(self._observations)
            self._observations.clear()
        for observation in observations:
            observation.close(shutdown=False)

    def close(self) -> None:
        """Shut down: open observations end and new ones are refused."""
        with self._lock:
            self._closed = True
            observations = list(self._observations)
            self._observations.clear()
        for observation in observations:
            observation.close(shutdown=True)


class Observation:
    """One open observe stream: hands out matching events in order, and wakes on new writes."""

    def __init__(
        self,
        store: Store,
        selection: Selection,
        loop: asyncio.AbstractEventLoop,
        state: _State,
        position: int,
        waiting_for: FromLatestEvent | None,
    ) -> None:
        self._store = store
        self._selection = selection
        self._loop = loop
        self._state = state
        self._position = position
        self._waiting_for = waiting_for
        self._node = normalize_subject(selection.subject)
        self._wakeup = asyncio.Event()
        self._closed: bool | None = None  # None while open, else whether by shutdown

    def wake(self) -> None:
        """Tell the observation that events were appended (safe from any thread)."""
        try:
            self._loop.call_soon_threadsafe(self._wakeup.set)
        except RuntimeError:  # the loop is closed: nobody waits any more
            self._store._forget(self)

    def close(self, *, shutdown: bool) -> None:
        """End the observation (safe from any thread); the waiter raises ObservationClosedError."""
        self._closed = shutdown
        self.wake()

    def release(self) -> None:
        """Stop following the store (when the stream is closed by the client)."""
        self._store._forget(self)

    async def next_batch(self, idle_seconds: float) -> list[StoredEvent] | None:
        """The next matching events, or None when `idle_seconds` pass without any."""
        deadline = self._loop.time() + idle_seconds
        while True:
            self._wakeup.clear()
            if self._closed is not None:
                raise ObservationClosedError(self._closed)
            events = self._store._events_since(self._state, self._position)
            if events is None:
                raise ObservationClosedError(self._store.is_closed)
            if events:
                self._position += len(events)
                matching = self._filter(events)
                if matching:
                    return matching
                continue
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                return None
            try:
                async with asyncio.timeout(remaining):
                    await self._wakeup.wait()
            except TimeoutError:
                return None

    def _filter(self, events: list[StoredEvent]) -> list[StoredEvent]:
        if self._waiting_for is not None:
            wanted = self._waiting_for
            node = normalize_subject(wanted.subject)
            for offset, event in enumerate(events):
                if event.node == node and event.type == wanted.type:
                    self._waiting_for = None
                    events = events[offset:]
                    break
            else:
                return []
        recursive = self._selection.recursive
        return [event for event in events if matches(event, self._node, recursive)]
