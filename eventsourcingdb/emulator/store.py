"""The engine of the emulator: one global, gap-free event list, schemas and observers, in memory.

Every event is encoded once, when it is written: its `data` bytes, its hash (and signature) and
the JSON object that every read, observe and query sends verbatim ever after. Writers and readers
may live on any thread and any event loop: one lock guards the state, observers are woken with
`call_soon_threadsafe` and follow the list by position, so they see every event once, in order.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, overload

from eventsourcingdb import _wire
from eventsourcingdb.emulator.durable import (
    DirectoryIdentity,
    History,
    Journal,
    JournalEntry,
    Verification,
    open_journal,
)
from eventsourcingdb.emulator.encoding import TimeFormat, format_time
from eventsourcingdb.emulator.eventql import Cancellation, EventQLError, evaluate_precondition
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
    StoreUnavailableError,
    SubjectPrecondition,
    encode_event,
    is_within,
    matches,
    normalize_subject,
)
from eventsourcingdb.emulator.schemas import CompiledSchema

__all__ = ["Observation", "Store", "StoreSnapshot", "latest_within", "subjects_within"]

_BATCH_LIMIT: Final = 10_000
"""At most this many events are handed to an observer at once, so replays stream early."""
_OPTIMISTIC_ATTEMPTS: Final = 2
"""How often a write evaluates its EventQL and recursive preconditions beside other writers
before it holds them back to evaluate once more (see `Store`)."""


# --- snapshots for EventQL ---------------------------------------------------------------------


class _Prefix(Sequence[StoredEvent]):
    """The first `length` events of an append-only list: a snapshot that copies nothing."""

    __slots__ = ("_events", "_length")

    def __init__(self, events: list[StoredEvent], length: int) -> None:
        self._events = events
        self._length = length

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> StoredEvent: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[StoredEvent]: ...
    def __getitem__(self, index: int | slice) -> StoredEvent | Sequence[StoredEvent]:
        if isinstance(index, slice):
            return self._events[: self._length][index]
        if not -self._length <= index < self._length:
            raise IndexError("event index out of range")
        return self._events[index % self._length]

    def __iter__(self) -> Iterator[StoredEvent]:
        return itertools.islice(self._events, self._length)


@dataclass(frozen=True, slots=True)
class StoreSnapshot:
    """What an EventQL query sees: the store at one moment (the `QuerySource` of the engine).

    Taking one costs no copy of the events: the event list only grows, so the snapshot keeps it
    with its length at that moment. Subjects are derived when a query asks for them.
    """

    _events: list[StoredEvent]
    _length: int
    _nodes: list[str]
    _node_count: int
    _event_types: Sequence[EventTypeInfo]

    def events(self) -> Sequence[StoredEvent]:
        """All events in write order."""
        return _Prefix(self._events, self._length)

    def subjects(self) -> Sequence[str]:
        """Every known subject (those with events and their ancestors), ascending."""
        return subjects_within(itertools.islice(self._nodes, self._node_count), "/")

    def event_types(self) -> Sequence[EventTypeInfo]:
        """Every known event type, ascending."""
        return self._event_types


def subjects_within(nodes: Iterable[str], base: str) -> list[str]:
    """`base` and every known subject below it, ascending by bytes; nothing if none is known.

    Known are the subjects with events (`nodes`) and all their ancestors. The ancestors are
    derived here rather than kept, so that a deep subject costs memory in proportion to its
    length, not to the square of its depth; this costs what the answer itself costs.
    """
    found: set[str] = set()
    for node in nodes:
        if not is_within(node, base):
            continue
        while node not in found:
            found.add(node)
            if node == base:
                break
            node = node.rsplit("/", 1)[0] or "/"
    return sorted(found)


def latest_within(
    nodes: Iterable[str], by_node: Mapping[str, list[int]], bases: Iterable[str]
) -> dict[str, int]:
    """For each of `bases`, the position of the latest event at it or below it, among the
    events of `nodes` (bases with none are left out).

    One walk over the nodes along a tree of the bases' segments, so that the work is that of
    reading each node's name once, however many bases a write asks about.
    """
    root = _Branch()
    for base in set(bases):
        branch = root
        for segment in _segments(base):
            branch = branch.below.setdefault(segment, _Branch())
        branch.base = base
    latest: dict[str, int] = {}
    for node in nodes:
        position = by_node[node][-1]
        segments = _segments(node)
        reached: _Branch | None = root
        depth = 0
        while reached is not None:
            if reached.base is not None and latest.get(reached.base, -1) < position:
                latest[reached.base] = position
            if depth == len(segments):
                break
            reached = reached.below.get(segments[depth])
            depth += 1
    return latest


@dataclass(slots=True, eq=False)
class _Branch:
    """A node of the tree `latest_within` walks: the base that ends here, and what lies below."""

    base: str | None = None
    below: dict[str, _Branch] = field(default_factory=dict)


def _segments(node: str) -> list[str]:
    return [] if node == "/" else node[1:].split("/")


def _expensive(precondition: Precondition) -> bool:
    """Whether evaluating `precondition` may take long: an EventQL query, or a recursive one
    (it looks at every subject of the store). Those are evaluated outside the lock."""
    return isinstance(precondition, QueryPrecondition) or precondition.recursive


def _holds(precondition: SubjectPrecondition, latest: int | None) -> bool:
    """Whether `precondition` holds when `latest` is the position of the latest event of its
    subject (and, if it is recursive, of the subjects below it)."""
    if precondition.kind is PreconditionKind.IS_SUBJECT_PRISTINE:
        return latest is None
    if precondition.kind is PreconditionKind.IS_SUBJECT_POPULATED:
        return latest is not None
    return latest is not None and latest == precondition.event_id


# --- the store ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _State:
    """Everything that `reset()` empties.

    Writers see every appended event; readers see the events up to `visible` (with a durable
    store, those committed to disk) and the counts and schemas that go with them. `schemas` and
    `visible_schemas` are replaced, never changed, so a reference to one is a snapshot of it.
    """

    events: list[StoredEvent] = field(default_factory=list)
    by_node: dict[str, list[int]] = field(default_factory=dict)
    nodes: list[str] = field(default_factory=list)
    """The subjects with events, in the order of their first event."""
    type_counts: dict[str, int] = field(default_factory=dict)
    schemas: Mapping[str, CompiledSchema] = field(default_factory=dict)
    last_time_ns: int = 0
    visible: int = 0
    visible_nodes: int = 0
    visible_type_counts: dict[str, int] = field(default_factory=dict)
    visible_schemas: Mapping[str, CompiledSchema] = field(default_factory=dict)

    def version(self) -> tuple[int, int]:
        """What an `isEventQlQueryTrue` answer depends on: the events and the schemas."""
        return len(self.events), len(self.schemas)


@dataclass(frozen=True, slots=True)
class _QueryAnswers:
    """The expensive preconditions of a write (`_expensive`), evaluated outside the lock."""

    state: _State
    version: tuple[int, int]
    outcomes: Mapping[int, bool | EventQLError]


class Store:
    """The emulator's database: thread-safe, in memory, every event encoded once.

    Lock discipline: `_lock` guards the state and is held only for work bounded by the size of
    the request or of the store, never across work a request can make arbitrarily long.
    `isEventQlQueryTrue` preconditions, recursive preconditions (which look at every subject)
    and schema checks run outside it: a write evaluates those preconditions against a snapshot,
    then appends only if nothing was written meanwhile, and evaluates again otherwise. After
    `_OPTIMISTIC_ATTEMPTS` such attempts it takes `_gate`, which holds back other writers (and
    only them) while it evaluates, so it cannot starve.
    """

    def __init__(
        self,
        *,
        hash_version: HashVersion = HashVersion.V1,
        signer: Signer | None = None,
        time_format: TimeFormat = TimeFormat.RFC3339_NANO,
        clock: Callable[[], int] = time.time_ns,
        journal: Journal | None = None,
        history: History | None = None,
    ) -> None:
        self._hash_version = hash_version
        self._signer = signer
        self._time_format = time_format
        self._clock = clock
        self._lock = threading.Lock()
        self._gate = threading.Lock()
        self._state = _State()
        self._observations: set[Observation] = set()
        self._closed = False
        self._journal = journal
        if history is not None:
            self._restore(history)
        if journal is not None:
            journal.start(self._on_durable)

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        hash_version: HashVersion = HashVersion.V1,
        signer: Signer | None = None,
        time_format: TimeFormat = TimeFormat.RFC3339_NANO,
        verification: Verification = Verification.TAIL,
    ) -> Store:
        """A store on a data directory, with what it holds; `DataDirectoryError` if unusable."""
        key = signer.public_key.public_bytes_raw() if signer is not None else None
        journal, history = open_journal(
            directory, DirectoryIdentity(hash_version, key), verification
        )
        return cls(
            hash_version=hash_version,
            signer=signer,
            time_format=time_format,
            journal=journal,
            history=history,
        )

    def _restore(self, history: History) -> None:
        state = self._state
        for event in history.events:
            _index(state, event)
        state.schemas = dict(history.schemas)
        state.last_time_ns = history.last_time_ns
        self._publish(state, len(state.events), len(state.nodes), state.schemas)

    @property
    def journal(self) -> Journal | None:
        """The data directory's journal, or None for a store that lives in memory only."""
        return self._journal

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
        """Check the preconditions, then the schemas, then append all candidates or none.

        Returns once the events are durable (at once in memory). Blocks the calling thread,
        also while `isEventQlQueryTrue` preconditions are evaluated.
        """
        staged = self._write(candidates, preconditions, wait=True)
        assert staged is not None
        if staged.durable is not None:
            staged.durable.result()
        return staged.events

    async def write_async(
        self, candidates: Sequence[Candidate], preconditions: Sequence[Precondition] = ()
    ) -> list[StoredEvent]:
        """`write` for an event loop: what may take long runs in a worker thread, and waiting
        for the disk does not block the loop. Cancelling it (the writer has gone) stops its
        EventQL preconditions before their next row; nothing is written then."""
        staged = None
        if not any(_expensive(check) for check in preconditions):
            staged = self._write(candidates, preconditions, wait=False)
        if staged is None:
            cancellation = Cancellation()
            try:
                staged = await asyncio.to_thread(
                    self._write, candidates, preconditions, wait=True, cancellation=cancellation
                )
            except asyncio.CancelledError:
                cancellation.cancel()
                raise
            assert staged is not None
        if staged.durable is not None:
            await asyncio.wrap_future(staged.durable)
        return staged.events

    def _write(
        self,
        candidates: Sequence[Candidate],
        preconditions: Sequence[Precondition],
        *,
        wait: bool,
        cancellation: Cancellation | None = None,
    ) -> _Staged | None:
        """The write, up to handing it to the journal; None when `wait` is false and another
        writer holds the gate."""
        queries = any(_expensive(check) for check in preconditions)
        for attempt in itertools.count():
            exclusive = queries and attempt >= _OPTIMISTIC_ATTEMPTS
            if exclusive:
                self._gate.acquire()
            try:
                answers = self._answer_queries(preconditions, cancellation) if queries else None
                seen, violation = self._check_schemas(candidates)
                if exclusive:
                    staged = self._append_all(candidates, preconditions, answers, seen, violation)
                elif self._gate.acquire(blocking=wait):
                    try:
                        staged = self._append_all(
                            candidates, preconditions, answers, seen, violation
                        )
                    finally:
                        self._gate.release()
                else:
                    return None
            finally:
                if exclusive:
                    self._gate.release()
            if staged is not None:
                return staged
        raise AssertionError("unreachable")  # pragma: no cover

    def _answer_queries(
        self, preconditions: Sequence[Precondition], cancellation: Cancellation | None = None
    ) -> _QueryAnswers:
        """Evaluate the expensive preconditions against the state a writer sees."""
        with self._lock:
            state = self._state
            version = state.version()
            node_count = len(state.nodes)
            snapshot = self._snapshot(
                state, len(state.events), node_count, state.type_counts, state.schemas
            )
        outcomes: dict[int, bool | EventQLError] = {}
        recursive = {
            index: precondition
            for index, precondition in enumerate(preconditions)
            if isinstance(precondition, SubjectPrecondition) and precondition.recursive
        }
        if recursive:
            latest = latest_within(
                itertools.islice(state.nodes, node_count),
                state.by_node,
                (normalize_subject(precondition.subject) for precondition in recursive.values()),
            )
            for index, on_tree in recursive.items():
                outcomes[index] = _holds(on_tree, latest.get(normalize_subject(on_tree.subject)))
        for index, precondition in enumerate(preconditions):
            if isinstance(precondition, QueryPrecondition):
                try:
                    outcomes[index] = evaluate_precondition(
                        precondition.query, snapshot, cancellation
                    )
                except EventQLError as error:
                    outcomes[index] = error
        return _QueryAnswers(state, version, outcomes)

    def _check_schemas(
        self, candidates: Sequence[Candidate]
    ) -> tuple[Mapping[str, CompiledSchema], SchemaMismatchError | None]:
        """The first candidate that violates its type's schema, outside the lock.

        Schemas are only ever added, and `schemas` is replaced when one is: the mapping read
        here says which schemas the check used.
        """
        schemas = self._state.schemas
        return schemas, _first_violation(candidates, schemas)

    def _append_all(
        self,
        candidates: Sequence[Candidate],
        preconditions: Sequence[Precondition],
        answers: _QueryAnswers | None,
        seen: Mapping[str, CompiledSchema],
        violation: SchemaMismatchError | None,
    ) -> _Staged | None:
        """Under the lock: check, append, and publish or journal; None when the query answers
        are stale."""
        with self._lock:
            self._check_writable()
            state = self._state
            if answers is not None and (
                answers.state is not state or answers.version != state.version()
            ):
                return None
            for index, precondition in enumerate(preconditions):
                if _expensive(precondition):
                    assert answers is not None
                    outcome = answers.outcomes[index]
                    if isinstance(outcome, EventQLError):
                        raise PreconditionQueryError(index, outcome)
                    if not outcome:
                        raise PreconditionFailedError(index)
                else:
                    assert isinstance(precondition, SubjectPrecondition)
                    positions = state.by_node.get(normalize_subject(precondition.subject))
                    if not _holds(precondition, positions[-1] if positions else None):
                        raise PreconditionFailedError(index)
            if state.schemas is not seen:  # a schema was registered meanwhile (rare)
                violation = _first_violation(candidates, state.schemas)
            if violation is not None:
                raise violation
            written = [self._append(state, candidate) for candidate in candidates]
            events, nodes = len(state.events), len(state.nodes)
            if self._journal is not None:
                entry = JournalEntry(
                    events=written, on_durable=lambda: self._publish_events(state, events, nodes)
                )
                return _Staged(written, self._journal.submit(entry))
            self._publish_events(state, events, nodes)
            observations = list(self._observations)
        for observation in observations:
            observation.wake()
        return _Staged(written, None)

    def _check_writable(self) -> None:
        """Refuse to write once closed, or once the data directory failed (locked)."""
        if self._closed:
            raise StoreUnavailableError("the server is shutting down", closed=True)
        if self._journal is not None and self._journal.failure is not None:
            raise self._journal.failure

    def _on_durable(self, entries: Sequence[JournalEntry]) -> None:
        """The journal committed `entries` (on its thread): readers and observers see them."""
        with self._lock:
            for entry in entries:
                entry.on_durable()
            observations = list(self._observations)
        for observation in observations:
            observation.wake()

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
        event = StoredEvent(
            index=index,
            id=event_id,
            time=event_time,
            source=candidate.source,
            subject=candidate.subject,
            node=normalize_subject(candidate.subject),
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
        _index(state, event)
        return event

    @staticmethod
    def _publish_events(state: _State, events: int, nodes: int) -> None:
        """Let readers see the first `events` events and `nodes` nodes (under the lock)."""
        counts = state.visible_type_counts
        appended = state.events
        for position in range(state.visible, events):
            event_type = appended[position].type
            counts[event_type] = counts.get(event_type, 0) + 1
        state.visible = max(state.visible, events)
        state.visible_nodes = max(state.visible_nodes, nodes)

    def _publish(
        self, state: _State, events: int, nodes: int, schemas: Mapping[str, CompiledSchema]
    ) -> None:
        """Let readers see the first `events` events, `nodes` nodes and `schemas` (locked)."""
        self._publish_events(state, events, nodes)
        state.visible_schemas = schemas

    # --- schemas ----------------------------------------------------------------------------

    def register_schema(self, event_type: str, schema: CompiledSchema) -> None:
        """Register the schema of a type: refused if one exists or a stored event violates it.

        The stored events are checked outside the lock, holding back writers only. Returns once
        the schema is durable.
        """
        with self._gate:
            with self._lock:
                self._check_writable()
                state = self._state
                if event_type in state.schemas:
                    raise SchemaAlreadyRegisteredError(event_type)
                stored = _Prefix(state.events, len(state.events))
                has_events = bool(state.type_counts.get(event_type))
            if has_events:
                for event in stored:
                    if event.type == event_type:
                        detail = schema.violation(event.data)
                        if detail is not None:
                            raise StoredEventMismatchError(event.id, detail)
            with self._lock:
                self._check_writable()
                if self._state is not state:  # reset meanwhile: the check was about nothing
                    state = self._state
                    if event_type in state.schemas:
                        raise SchemaAlreadyRegisteredError(event_type)
                schemas = {**state.schemas, event_type: schema}
                state.schemas = schemas

                def publish() -> None:
                    state.visible_schemas = schemas

                if self._journal is None:
                    publish()
                    return
                durable = self._journal.submit(
                    JournalEntry(schema=(event_type, schema), on_durable=publish)
                )
        durable.result()

    def event_type(self, event_type: str) -> EventTypeInfo | None:
        """What the store knows about one type, or None when it has neither events nor schema."""
        with self._lock:
            state = self._state
            return _type_info(state.visible_type_counts, state.visible_schemas, event_type)

    def event_types(self) -> list[EventTypeInfo]:
        """Every type with events or a schema, ascending by name."""
        with self._lock:
            state = self._state
            return _event_types(state.visible_type_counts, state.visible_schemas)

    # --- reading ----------------------------------------------------------------------------

    def subjects(self, base: str, *, recursive: bool = True) -> list[str]:
        """Known subjects at and (when `recursive`) below `base`, ascending by bytes."""
        node = normalize_subject(base)
        with self._lock:
            state = self._state
            nodes = itertools.islice(state.nodes, state.visible_nodes)
            if not recursive:
                return [node] if any(is_within(known, node) for known in nodes) else []
            return subjects_within(nodes, node)

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
        start, stop = 0, state.visible
        if selection.lower is not None:
            start = selection.lower.id + (0 if selection.lower.inclusive else 1)
        if selection.upper is not None:
            stop = min(stop, selection.upper.id + (1 if selection.upper.inclusive else 0))
        return start, stop

    @staticmethod
    def _latest(state: _State, from_latest: FromLatestEvent) -> int | None:
        positions = state.by_node.get(normalize_subject(from_latest.subject), [])
        for position in reversed(positions):
            if position < state.visible and state.events[position].type == from_latest.type:
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
        """The store as an EventQL source, frozen at this moment (costs no copy of the events)."""
        with self._lock:
            state = self._state
            return self._snapshot(
                state,
                state.visible,
                state.visible_nodes,
                state.visible_type_counts,
                state.visible_schemas,
            )

    @staticmethod
    def _snapshot(
        state: _State,
        events: int,
        nodes: int,
        type_counts: Mapping[str, int],
        schemas: Mapping[str, CompiledSchema],
    ) -> StoreSnapshot:
        return StoreSnapshot(
            state.events, events, state.nodes, nodes, _event_types(type_counts, schemas)
        )

    def __len__(self) -> int:
        with self._lock:
            return self._state.visible

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
                    start = state.visible
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
            return state.events[position : min(position + _BATCH_LIMIT, state.visible)]

    def _forget(self, observation: Observation) -> None:
        with self._lock:
            self._observations.discard(observation)

    # --- life cycle -------------------------------------------------------------------------

    def reset(self) -> None:
        """Empty the store (events and schemas, the data directory's too); open observations
        end. Returns once the data directory is empty."""
        with self._lock:
            self._check_writable()
            self._state = _State()
            observations = list(self._observations)
            self._observations.clear()
            durable = None
            if self._journal is not None:
                durable = self._journal.submit(JournalEntry(clear=True))
        for observation in observations:
            observation.close(shutdown=False)
        if durable is not None:
            durable.result()

    def close(self) -> None:
        """Shut down: open observations end, new ones and writes are refused; what was written
        is made durable and the data directory is closed."""
        with self._lock:
            self._closed = True
            observations = list(self._observations)
            self._observations.clear()
        for observation in observations:
            observation.close(shutdown=True)
        if self._journal is not None:
            self._journal.close()


@dataclass(frozen=True, slots=True)
class _Staged:
    """A write that was appended: its events, and the commit to wait for (None in memory)."""

    events: list[StoredEvent]
    durable: concurrent.futures.Future[None] | None


def _index(state: _State, event: StoredEvent) -> None:
    """Add an appended event to the indexes a writer sees."""
    state.events.append(event)
    positions = state.by_node.get(event.node)
    if positions is None:
        state.by_node[event.node] = [event.index]
        state.nodes.append(event.node)
    else:
        positions.append(event.index)
    state.type_counts[event.type] = state.type_counts.get(event.type, 0) + 1


def _first_violation(
    candidates: Sequence[Candidate], schemas: Mapping[str, CompiledSchema]
) -> SchemaMismatchError | None:
    if not schemas:
        return None
    for index, candidate in enumerate(candidates):
        schema = schemas.get(candidate.type)
        if schema is not None:
            detail = schema.violation(candidate.data)
            if detail is not None:
                return SchemaMismatchError(index, detail)
    return None


def _type_info(
    counts: Mapping[str, int], schemas: Mapping[str, CompiledSchema], event_type: str
) -> EventTypeInfo | None:
    has_events = bool(counts.get(event_type))
    schema = schemas.get(event_type)
    if not has_events and schema is None:
        return None
    return EventTypeInfo(type=event_type, has_events=has_events, schema=schema)


def _event_types(
    counts: Mapping[str, int], schemas: Mapping[str, CompiledSchema]
) -> list[EventTypeInfo]:
    names = sorted(set(counts) | set(schemas))
    return [info for name in names if (info := _type_info(counts, schemas, name)) is not None]


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
