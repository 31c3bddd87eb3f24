# Generated from eventsourcingdb/models/store.py by scripts/unasync.py:
# edit that file and run the script.
"""`EventStore`: typed writes and reads over a `Client`, with schemas kept in step with models.

The store turns declared models into event candidates (one source for all of them), writes them
atomically with preconditions, and yields `RecordedEvent[T]` from reads, observations and EventQL
queries, upcasting retired types and optionally verifying hashes or signatures on the way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from contextlib import closing
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from pydantic import BaseModel, TypeAdapter, ValidationError

from eventsourcingdb import _twins
from eventsourcingdb._validation import check_source
from eventsourcingdb.errors import (
    InvalidArgumentError,
    ProtocolError,
    SchemaAlreadyRegisteredError,
    SchemaError,
)
from eventsourcingdb.event import Event
from eventsourcingdb.models._typed_lines import line_decoders
from eventsourcingdb.models.codec import OnUnknown, Verification, decode_event, encode_event
from eventsourcingdb.models.errors import RowDecodingError, SchemaDrift, SchemaDriftError
from eventsourcingdb.models.recorded import RecordedEvent
from eventsourcingdb.models.registry import EventDeclaration, EventRegistry, default_registry
from eventsourcingdb.models.schema import (
    SchemaEvolution,
    SchemaReport,
    additive_changes,
    schema_diff,
    schemas_equal,
)
from eventsourcingdb.options import ObserveEventsOptions, ReadEventsOptions
from eventsourcingdb.sync._streams import SKIP, Skip, Stream, converted
from eventsourcingdb.sync.client import Client

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from pydantic import JsonValue

    from eventsourcingdb.event_type import EventType
    from eventsourcingdb.preconditions import Precondition

__all__ = ["EventStore", "SchemaReport"]

_logger = logging.getLogger("eventsourcingdb.models")

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")


def _compare(declaration: EventDeclaration, registered: JsonValue) -> SchemaDrift | tuple[str, ...]:
    """How a registered schema stands to the declaration's: the members the model added (an
    empty tuple: the same schema), or the drift."""
    generated = declaration.schema
    if schemas_equal(registered, generated):
        return ()
    problems: tuple[str, ...] = ()
    if declaration.evolution is SchemaEvolution.ADDITIVE:
        added, problems = additive_changes(registered, generated)
        if not problems:
            return added
    return SchemaDrift(
        event_type=declaration.name,
        model=declaration.model_name,
        registered=registered,
        generated=generated,
        diff=schema_diff(registered, generated, model=declaration.model_name),
        problems=problems,
    )


def _checked_verification(verification: object, key: Ed25519PublicKey | None) -> Verification:
    if not isinstance(verification, Verification):
        allowed = ", ".join(f"Verification.{member.name}" for member in Verification)
        raise InvalidArgumentError(f"verification must be one of {allowed}, got {verification!r}")
    if verification is Verification.SIGNATURE and key is None:
        raise InvalidArgumentError(
            "Verification.SIGNATURE needs the server's public key: pass verification_key= "
            "when creating the EventStore"
        )
    return verification


def _recorded(registry: EventRegistry, item: RecordedEvent[BaseModel] | Event) -> Any:
    """A value of a typed read in its common case: decoded in one pass already, or an `Event`
    to decode now."""
    return decode_event(registry, item) if type(item) is Event else item


def _one_at_a_time(events: Generator[Any, None, None]) -> Generator[list[Any], None, None]:
    """The values of `events` as batches of one; closing it closes `events`."""
    with closing(events) as values:
        for value in values:
            yield [value]


def _decodes_in_one_pass(decode: Callable[[Event], Any]) -> bool:
    """Whether `decode` is that of a typed read's common case (see `EventStore._decoder`)."""
    return isinstance(decode, partial) and decode.func is _recorded


class EventStore:
    """Typed access to EventSourcingDB through `client`, for the models of `registry`.

    `source` (a URI) is set on every event this store writes. `verification` is what reads check
    by default (`Verification.SIGNATURE` needs `verification_key`); each read can override it.
    """

    def __init__(
        self,
        client: Client,
        *,
        source: str,
        registry: EventRegistry | None = None,
        verification: Verification = Verification.NONE,
        verification_key: Ed25519PublicKey | None = None,
    ) -> None:
        _twins.refuse_other_twin(client, Client, "EventStore")
        self._client = client
        self._source = check_source(source)
        if registry is not None and not isinstance(registry, EventRegistry):
            raise InvalidArgumentError(
                f"registry must be an EventRegistry, got {type(registry).__name__}"
            )
        self._registry = default_registry if registry is None else registry
        self._verification = _checked_verification(verification, verification_key)
        self._verification_key = verification_key

    @property
    def client(self) -> Client:
        """The client this store talks through."""
        return self._client

    @property
    def source(self) -> str:
        """The source set on every event this store writes."""
        return self._source

    @property
    def registry(self) -> EventRegistry:
        """The registry whose models this store writes and reads."""
        return self._registry

    def __repr__(self) -> str:
        return f"{type(self).__name__}(source={self._source!r}, registry={self._registry!r})"

    # --- schemas -----------------------------------------------------------------------------

    def register_schemas(self) -> SchemaReport:
        """Register the schema of every declared type that has none on the server yet.

        Idempotent: identical schemas are left alone. If any registered schema differs from its
        model's, nothing is registered and `SchemaDriftError` shows every difference. Types with
        stored events but no schema and no model are reported (and logged as a warning).
        """
        known: dict[str, EventType] = {}
        with closing(self._client.read_event_types()) as event_types:
            for event_type in event_types:
                known[event_type.type] = event_type
        drifts: list[SchemaDrift] = []
        missing: list[EventDeclaration] = []
        unchanged: list[str] = []
        evolved: list[str] = []
        for declaration in self._registry.declarations:
            server_side = known.get(declaration.name)
            if server_side is None or server_side.schema is None:
                missing.append(declaration)
                continue
            compared = _compare(declaration, server_side.schema)
            if isinstance(compared, SchemaDrift):
                drifts.append(compared)
            else:
                self._note(declaration, compared, unchanged, evolved)
        if drifts:
            raise SchemaDriftError(drifts)
        registered: list[str] = []
        for declaration in missing:
            added = self._register(declaration)
            if added is None:
                _logger.debug("registered the schema of %s", declaration.name)
                registered.append(declaration.name)
            else:
                self._note(declaration, added, unchanged, evolved)
        without_schema = tuple(
            sorted(
                name
                for name, event_type in known.items()
                if event_type.has_events
                and event_type.schema is None
                and name not in self._registry
            )
        )
        if without_schema:
            _logger.warning(
                "event types with stored events but no schema and no declared model: %s",
                ", ".join(without_schema),
            )
        return SchemaReport(
            registered=tuple(registered),
            unchanged=tuple(sorted(unchanged)),
            without_schema=without_schema,
            evolved=tuple(sorted(evolved)),
        )

    @staticmethod
    def _note(
        declaration: EventDeclaration,
        added: tuple[str, ...],
        unchanged: list[str],
        evolved: list[str],
    ) -> None:
        if not added:
            unchanged.append(declaration.name)
            return
        _logger.info(
            "the schema registered for %s is an earlier version of %s's, which adds the optional "
            "members %s (not checked by the server)",
            declaration.name,
            declaration.model_name,
            ", ".join(added),
        )
        evolved.append(declaration.name)

    def _register(self, declaration: EventDeclaration) -> tuple[str, ...] | None:
        """Register one schema; if one was registered meanwhile, the members the model adds to
        it (none: the same schema). A drift raises."""
        try:
            self._client.register_event_schema(
                event_type=declaration.name, json_schema=declaration.schema
            )
        except SchemaAlreadyRegisteredError:
            current = self._client.read_event_type(declaration.name)
            compared = _compare(declaration, current.schema)
            if isinstance(compared, SchemaDrift):
                raise SchemaDriftError([compared]) from None
            return compared
        except SchemaError as error:
            error.add_note(
                f"while registering the schema of {declaration.name!r} generated from "
                f"{declaration.model_name}"
            )
            raise
        return None

    # --- writing -----------------------------------------------------------------------------

    def append(
        self,
        subject: str,
        *events: M,
        preconditions: Sequence[Precondition] = (),
        trace_parent: str | None = None,
        trace_state: str | None = None,
    ) -> list[RecordedEvent[M]]:
        """Write `events` to `subject` in one atomic call; return them as recorded.

        Nothing is written unless every precondition holds (else `ConcurrencyError`). The trace
        context, if given, is set on every event. The returned data are the instances passed in.
        """
        if not events:
            raise InvalidArgumentError("append needs at least one event to write")
        return self.append_many(
            [(subject, event) for event in events],
            preconditions=preconditions,
            trace_parent=trace_parent,
            trace_state=trace_state,
        )

    def append_many(
        self,
        events: Iterable[tuple[str, M]],
        *,
        preconditions: Sequence[Precondition] = (),
        trace_parent: str | None = None,
        trace_state: str | None = None,
    ) -> list[RecordedEvent[M]]:
        """Write `(subject, event)` pairs, possibly to several subjects, in one atomic call."""
        pairs = list(events)
        if not pairs:
            raise InvalidArgumentError("append_many needs at least one (subject, event) pair")
        candidates = [
            encode_event(
                self._registry,
                subject,
                event,
                source=self._source,
                trace_parent=trace_parent,
                trace_state=trace_state,
            )
            for subject, event in pairs
        ]
        written = self._client.write_events(events=candidates, preconditions=list(preconditions))
        if len(written) != len(pairs):
            raise ProtocolError(
                f"the server answered a write of {len(pairs)} events with {len(written)}"
            )
        return [
            RecordedEvent(data=event, event=stored)
            for (_, event), stored in zip(pairs, written, strict=True)
        ]

    # --- reading -----------------------------------------------------------------------------

    def _verify(self, event: Event, verification: Verification | None) -> None:
        chosen = self._verification if verification is None else verification
        if chosen is Verification.NONE:
            return
        if chosen is Verification.HASH:
            event.verify_hash()
            return
        _checked_verification(chosen, self._verification_key)
        if self._verification_key is not None:
            event.verify_signature(self._verification_key)

    def decode(
        self, event: Event, *, verification: Verification | None = None
    ) -> RecordedEvent[BaseModel]:
        """One stored event as a `RecordedEvent`, verified and upcast as configured.

        Raises `UnknownEventTypeError` for an undeclared type, `EventDecodingError` for data
        the model refuses, and the integrity errors of a failed verification.
        """
        self._verify(event, verification)
        return decode_event(self._registry, event)

    def _decoder(
        self, on_unknown: OnUnknown, verification: Verification | None
    ) -> Callable[[Event], RecordedEvent[BaseModel] | Event | Skip]:
        """What each event of a typed stream becomes: a `RecordedEvent`, the raw `Event` (an
        undeclared type with `OnUnknown.YIELD_RAW`), or `SKIP` (one with `OnUnknown.SKIP`)."""
        on_unknown = _checked_on_unknown(on_unknown)
        if verification is not None:
            _checked_verification(verification, self._verification_key)
        checks = self._verification if verification is None else verification
        registry = self._registry
        if on_unknown is OnUnknown.RAISE and checks is Verification.NONE:
            return partial(_recorded, registry)  # the common case, one call per event

        def decode(event: Event) -> RecordedEvent[BaseModel] | Event | Skip:
            if on_unknown is not OnUnknown.RAISE and not registry.knows(event.type):
                if on_unknown is OnUnknown.SKIP:
                    return SKIP
                self._verify(event, verification)
                return event
            return self.decode(event, verification=verification)

        return decode

    @overload
    def read(
        self,
        subject: str,
        options: ReadEventsOptions | None = None,
        *,
        on_unknown: Literal[OnUnknown.RAISE, OnUnknown.SKIP] = ...,
        verification: Verification | None = None,
    ) -> Generator[RecordedEvent[BaseModel], None, None]: ...

    @overload
    def read(
        self,
        subject: str,
        options: ReadEventsOptions | None = None,
        *,
        on_unknown: OnUnknown,
        verification: Verification | None = None,
    ) -> Generator[RecordedEvent[BaseModel] | Event, None, None]: ...

    def read(
        self,
        subject: str,
        options: ReadEventsOptions | None = None,
        *,
        on_unknown: OnUnknown = OnUnknown.RAISE,
        verification: Verification | None = None,
    ) -> Generator[RecordedEvent[BaseModel] | Event, None, None]:
        """The events of `subject` (with `options`: nested subjects, order, bounds, a start).

        Yields `RecordedEvent`s; an event of an undeclared type raises `UnknownEventTypeError`,
        or with `on_unknown` is yielded as the raw `Event` or skipped. Ends like the client's
        streams: `close()`, also from another thread while a loop waits in it, ends that loop
        cleanly and releases the connection.
        """
        decode = self._decoder(on_unknown, verification)
        chosen = ReadEventsOptions() if options is None else options
        events: Generator[Any, None, None]
        if _decodes_in_one_pass(decode):
            events = Stream(self._event_batches(subject, chosen, replay=False))
        else:
            events = self._client.read_events(subject=subject, options=chosen)
        return converted(events, decode, skips=on_unknown is OnUnknown.SKIP)

    def _event_batches(
        self, subject: str, options: ReadEventsOptions, *, replay: bool
    ) -> Generator[list[Any], None, None]:
        """What the client streams for a typed read in its common case (unknown types raise,
        nothing verified), a chunk at a time: with our own client's `read_events`, lines of
        current declared types decoded in one pass (`_typed_lines`: `RecordedEvent`s, or with
        `replay` `(data, event_id)` pairs) and the other lines as `Event`s; else the events of
        the client's `read_events`, one at a time."""
        client = self._client
        if getattr(client.read_events, "__func__", None) is not Client.read_events:
            return _one_at_a_time(client.read_events(subject=subject, options=options))
        decoders = line_decoders(self._registry, replay=replay)
        return client._read_event_batches(subject, options, decoders)

    def _replay_batches(
        self, subject: str, options: ReadEventsOptions
    ) -> Generator[list[tuple[BaseModel, str]], None, None]:
        """The `(data, event_id)` of every event of `read` in its common case, a chunk at a
        time: what `Repository` replays, without a step per event. As with `read`, the events
        before one that fails to decode come first, then the failure."""
        registry = self._registry
        with closing(self._event_batches(subject, options, replay=True)) as batches:
            for batch in batches:
                if Event not in set(map(type, batch)):  # every line decoded in one pass
                    yield batch
                    continue
                pairs: list[tuple[BaseModel, str]] = []
                try:
                    for item in batch:
                        if type(item) is Event:
                            recorded = decode_event(registry, item)
                            item = (recorded.data, recorded.event_id)
                        pairs.append(item)
                except Exception:
                    if pairs:
                        yield pairs
                    raise
                yield pairs

    @overload
    def observe(
        self,
        subject: str,
        options: ObserveEventsOptions | None = None,
        *,
        on_unknown: Literal[OnUnknown.RAISE, OnUnknown.SKIP] = ...,
        verification: Verification | None = None,
    ) -> Generator[RecordedEvent[BaseModel], None, None]: ...

    @overload
    def observe(
        self,
        subject: str,
        options: ObserveEventsOptions | None = None,
        *,
        on_unknown: OnUnknown,
        verification: Verification | None = None,
    ) -> Generator[RecordedEvent[BaseModel] | Event, None, None]: ...

    def observe(
        self,
        subject: str,
        options: ObserveEventsOptions | None = None,
        *,
        on_unknown: OnUnknown = OnUnknown.RAISE,
        verification: Verification | None = None,
    ) -> Generator[RecordedEvent[BaseModel] | Event, None, None]:
        """The stored events of `subject`, then each new one as it is written; never ends.

        Typed like `read`; close it (`close()`, also from another thread, or `break` out of the
        loop) to stop observing.
        """
        decode = self._decoder(on_unknown, verification)
        chosen = ObserveEventsOptions() if options is None else options
        events = self._client.observe_events(subject=subject, options=chosen)
        return converted(events, decode, skips=on_unknown is OnUnknown.SKIP)

    # --- querying ----------------------------------------------------------------------------

    @overload
    def query(
        self,
        eventql: str,
        *,
        row_type: type[RecordedEvent[Any]],
        parameters: Mapping[str, object] | None = None,
        on_unknown: Literal[OnUnknown.RAISE, OnUnknown.SKIP] = ...,
        verification: Verification | None = None,
    ) -> Generator[RecordedEvent[BaseModel], None, None]: ...

    @overload
    def query(
        self,
        eventql: str,
        *,
        row_type: type[RecordedEvent[Any]],
        parameters: Mapping[str, object] | None = None,
        on_unknown: OnUnknown,
        verification: Verification | None = None,
    ) -> Generator[RecordedEvent[BaseModel] | Event, None, None]: ...

    @overload
    def query(
        self,
        eventql: str,
        *,
        row_type: type[R] | TypeAdapter[R],
        parameters: Mapping[str, object] | None = None,
    ) -> Generator[R, None, None]: ...

    def query(
        self,
        eventql: str,
        *,
        row_type: type[Any] | TypeAdapter[Any],
        parameters: Mapping[str, object] | None = None,
        on_unknown: OnUnknown = OnUnknown.RAISE,
        verification: Verification | None = None,
    ) -> Generator[Any, None, None]:
        """The rows of an EventQL query, each validated as `row_type`.

        `row_type` is a model, any type pydantic validates (`int`, `str`, a TypedDict), a
        `TypeAdapter` for unions and other forms, or `RecordedEvent` for queries that project
        whole events (`PROJECT INTO e`): those are decoded like `read` decodes. `parameters`
        binds values to the query's `$name` placeholders, as `Client.run_eventql_query` does.
        """
        if row_type is RecordedEvent:
            decode = self._decoder(on_unknown, verification)
            rows = self._client.run_eventql_query(query=eventql, parameters=parameters)
            return converted(
                rows, lambda row: decode(_row_event(row)), skips=on_unknown is OnUnknown.SKIP
            )
        _checked_on_unknown(on_unknown)
        adapter: TypeAdapter[Any] = (
            row_type if isinstance(row_type, TypeAdapter) else TypeAdapter(row_type)
        )
        described = _describe_row_type(row_type)
        rows = self._client.run_eventql_query(query=eventql, parameters=parameters)
        return converted(rows, partial(_validate_row, adapter, query=eventql, row_type=described))


def _checked_on_unknown(on_unknown: object) -> OnUnknown:
    if not isinstance(on_unknown, OnUnknown):
        allowed = ", ".join(f"OnUnknown.{member.name}" for member in OnUnknown)
        raise InvalidArgumentError(f"on_unknown must be one of {allowed}, got {on_unknown!r}")
    return on_unknown


def _row_event(row: object) -> Event:
    if isinstance(row, Event):
        return row
    if not isinstance(row, dict):
        raise InvalidArgumentError(
            f"a query row is {type(row).__name__}, not an event: row_type=RecordedEvent needs a "
            "query that projects whole events, such as 'FROM e IN events PROJECT INTO e'"
        )
    try:
        return Event.parse(row)
    except InvalidArgumentError as error:
        raise InvalidArgumentError(
            f"a query row is not an event ({error.message}): row_type=RecordedEvent needs a query "
            "that projects whole events, such as 'FROM e IN events PROJECT INTO e'"
        ) from None


def _validate_row(adapter: TypeAdapter[Any], row: object, *, query: str, row_type: str) -> Any:
    try:
        return adapter.validate_json(json.dumps(row, ensure_ascii=False))
    except ValidationError as error:
        raise RowDecodingError(
            f"a row of the query {query!r} does not validate as {row_type}: {error}",
            query=query,
            row_type=row_type,
        ) from error


def _describe_row_type(row_type: object) -> str:
    if isinstance(row_type, type):
        return f"{row_type.__module__}.{row_type.__qualname__}"
    return repr(row_type)
