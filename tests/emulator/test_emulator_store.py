"""The engine: ids, hash chain, preconditions, schemas, selections and observations."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eventsourcingdb import _wire
from eventsourcingdb.emulator.encoding import encode_json
from eventsourcingdb.emulator.eventql import parse
from eventsourcingdb.emulator.hashing import EventMetadata, HashVersion, Signer, hash_v1
from eventsourcingdb.emulator.records import (
    Bound,
    Candidate,
    FromLatestEvent,
    IfEventIsMissing,
    ObservationClosedError,
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
    SubjectPrecondition,
)
from eventsourcingdb.emulator.schemas import compile_schema
from eventsourcingdb.emulator.store import Store

TYPE = "io.eventsourcingdb.test.happened"


def _candidate(subject: str = "/a", event_type: str = TYPE, **data: object) -> Candidate:
    return Candidate(
        source="https://x",
        subject=subject,
        type=event_type,
        data=data,
        data_bytes=encode_json(data),
    )


def _ids(events: Sequence[StoredEvent] | None) -> list[str]:
    return [event.id for event in events or ()]


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def users(store: Store) -> Store:
    """The four events of spec §7: 0 and 2 registered, 1 and 3 logged in."""
    for subject in ("/users/registered", "/users/logged-in") * 2:
        store.write([_candidate(subject, f"io.x.{subject.rsplit('/', 1)[1]}")])
    return store


def test_ids_are_global_gap_free_and_the_hashes_chain(store: Store) -> None:
    first = store.write([_candidate("/a"), _candidate("/b")])
    second = store.write([_candidate("/a/c")])
    events = [*first, *second]
    assert _ids(events) == ["0", "1", "2"]
    assert events[0].predecessorhash == _wire.ZERO_HASH
    for previous, event in itertools.pairwise(events):
        assert event.predecessorhash == previous.hash
    for event in events:
        metadata = EventMetadata(
            "1.0",
            event.id,
            event.predecessorhash,
            event.time,
            event.source,
            event.subject,
            event.type,
            "application/json",
        )
        assert event.hash == hash_v1(metadata, event.data_bytes)
        assert event.signature is None
    assert len(store) == 3


def test_times_never_go_backwards_even_when_the_clock_does() -> None:
    ticks = iter([5_000_000_000, 4_000_000_000, 6_000_000_000])
    store = Store(clock=lambda: next(ticks))
    times = [event.time for event in store.write([_candidate()] * 3)]
    assert times == ["1970-01-01T00:00:05Z", "1970-01-01T00:00:05Z", "1970-01-01T00:00:06Z"]


def test_hash_v2_chains_the_prefixed_hashes() -> None:
    store = Store(hash_version=HashVersion.V2)
    first, second = store.write([_candidate(), _candidate()])
    assert first.hash.startswith("esdb:hash:v2:")
    assert second.predecessorhash == first.hash


def test_every_event_is_signed_once_with_the_key() -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    (event,) = Store(signer=signer).write([_candidate()])
    assert event.signature is not None
    assert event.signature in event.encoded.decode()
    raw = bytes.fromhex(event.signature.removeprefix(_wire.SIGNATURE_V1_PREFIX))
    signer.public_key.verify(raw, event.hash.encode())


def test_events_keep_their_encoded_object(store: Store) -> None:
    (event,) = store.write([_candidate(title="<b>")])
    assert event.encoded.startswith(b'{"source":"https://x","subject":"/a","type":')
    assert b'"data":{"title":"\\u003cb\\u003e"},"hash":' in event.encoded
    assert event.encoded.endswith(b',"signature":null}')
    assert store.read(Selection("/a"))[0] is event


@pytest.mark.parametrize(
    ("kind", "subject", "recursive", "event_id", "holds"),
    [
        (PreconditionKind.IS_SUBJECT_PRISTINE, "/a", False, None, False),
        (PreconditionKind.IS_SUBJECT_PRISTINE, "/a/b", False, None, True),
        (PreconditionKind.IS_SUBJECT_PRISTINE, "/", False, None, True),
        (PreconditionKind.IS_SUBJECT_PRISTINE, "/", True, None, False),
        (PreconditionKind.IS_SUBJECT_POPULATED, "/a", False, None, True),
        (PreconditionKind.IS_SUBJECT_POPULATED, "/b", False, None, False),
        (PreconditionKind.IS_SUBJECT_POPULATED, "/c", True, None, True),
        (PreconditionKind.IS_SUBJECT_ON_EVENT_ID, "/a", False, 0, True),
        (PreconditionKind.IS_SUBJECT_ON_EVENT_ID, "/a", False, 1, False),
        (PreconditionKind.IS_SUBJECT_ON_EVENT_ID, "/a", True, 0, True),
        (PreconditionKind.IS_SUBJECT_ON_EVENT_ID, "/c", True, 2, True),
        (PreconditionKind.IS_SUBJECT_ON_EVENT_ID, "/c", False, 2, False),
        (PreconditionKind.IS_SUBJECT_ON_EVENT_ID, "/empty", False, 100, False),
        (PreconditionKind.IS_SUBJECT_ON_EVENT_ID, "/", True, 2, True),
    ],
)
def test_subject_preconditions(
    store: Store,
    kind: PreconditionKind,
    subject: str,
    recursive: bool,
    event_id: int | None,
    holds: bool,
) -> None:
    store.write([_candidate("/a"), _candidate("/c/d/e"), _candidate("/c/d")])
    before = len(store)
    precondition = SubjectPrecondition(kind, subject, recursive=recursive, event_id=event_id)
    if holds:
        store.write([_candidate("/z")], [precondition])
        assert len(store) == before + 1
    else:
        with pytest.raises(PreconditionFailedError):
            store.write([_candidate("/z")], [precondition])
        assert len(store) == before


def test_preconditions_see_the_state_before_the_whole_batch(store: Store) -> None:
    pristine = SubjectPrecondition(PreconditionKind.IS_SUBJECT_PRISTINE, "/test")
    store.write([_candidate("/test"), _candidate("/test")], [pristine])
    on_id = SubjectPrecondition(PreconditionKind.IS_SUBJECT_ON_EVENT_ID, "/test", event_id=1)
    store.write([_candidate("/test")], [on_id])
    with pytest.raises(PreconditionFailedError) as failed:
        store.write([_candidate("/test")], [pristine, on_id])
    assert failed.value.index == 0


def test_the_failing_precondition_is_located(store: Store) -> None:
    populated = SubjectPrecondition(PreconditionKind.IS_SUBJECT_POPULATED, "/nothing")
    pristine = SubjectPrecondition(PreconditionKind.IS_SUBJECT_PRISTINE, "/nothing")
    with pytest.raises(PreconditionFailedError) as failed:
        store.write([_candidate()], [pristine, populated])
    assert failed.value.index == 1


def test_eventql_preconditions_see_the_state_before_the_write(store: Store) -> None:
    empty = QueryPrecondition(parse("FROM e IN events PROJECT INTO COUNT() == 0"))
    store.write([_candidate(), _candidate()], [empty])
    with pytest.raises(PreconditionFailedError):
        store.write([_candidate()], [empty])
    some = QueryPrecondition(parse("FROM e IN events PROJECT INTO COUNT() > 0"))
    store.write([_candidate()], [some])
    assert len(store) == 3


def test_eventql_preconditions_must_yield_one_boolean(store: Store) -> None:
    store.write([_candidate(), _candidate()])
    rows = QueryPrecondition(parse("FROM e IN events PROJECT INTO e.id"))
    with pytest.raises(PreconditionQueryError) as failed:
        store.write([_candidate()], [rows])
    assert failed.value.error.code == "query-not-boolean"
    assert failed.value.index == 0
    assert len(store) == 2


SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}},
    "required": ["title"],
    "additionalProperties": False,
}


def test_writes_that_violate_a_schema_are_refused_whole(store: Store) -> None:
    store.register_schema(TYPE, compile_schema(SCHEMA))
    store.write([_candidate(title="ok")])
    with pytest.raises(SchemaMismatchError) as mismatch:
        store.write([_candidate(title="fine"), _candidate(title="x", extra=1)])
    assert mismatch.value.index == 1
    assert mismatch.value.detail == "additionalProperties 'extra' not allowed"
    assert len(store) == 1
    with pytest.raises(SchemaMismatchError, match="missing properties: 'title'"):
        store.write([_candidate()])
    store.write([_candidate(event_type="io.other.type", anything=True)])


def test_a_schema_is_registered_once(store: Store) -> None:
    store.register_schema(TYPE, compile_schema(SCHEMA))
    with pytest.raises(SchemaAlreadyRegisteredError):
        store.register_schema(TYPE, compile_schema({"type": "object", "properties": {}}))


def test_a_schema_that_stored_events_violate_is_refused(store: Store) -> None:
    store.write([_candidate(title="a"), _candidate(oy="gevalt")])
    with pytest.raises(StoredEventMismatchError) as mismatch:
        store.register_schema(TYPE, compile_schema(SCHEMA))
    assert mismatch.value.event_id == "1"
    info = store.event_type(TYPE)
    assert info is not None
    assert info.schema is None


def test_event_types_know_phantoms_and_schemas(store: Store) -> None:
    store.write([_candidate(event_type="io.x.foo")])
    store.register_schema("io.x.bar", compile_schema(SCHEMA))
    store.register_schema("io.x.foo", compile_schema({"type": "object", "properties": {}}))
    types = store.event_types()
    assert [(info.type, info.has_events) for info in types] == [
        ("io.x.bar", False),
        ("io.x.foo", True),
    ]
    assert types[0].schema is not None
    assert types[0].schema.schema == SCHEMA
    assert store.event_type("io.x.unknown") is None


def test_subjects_are_the_ancestor_closure(store: Store) -> None:
    assert store.subjects("/") == []
    store.write([_candidate("/test/1"), _candidate("/test/2"), _candidate("/test-x/")])
    assert store.subjects("/") == ["/", "/test", "/test-x", "/test/1", "/test/2"]
    assert store.subjects("/test") == ["/test", "/test/1", "/test/2"]
    assert store.subjects("/test/") == ["/test", "/test/1", "/test/2"]
    assert store.subjects("/nothing") == []
    assert store.subjects("/test", recursive=False) == ["/test"]
    assert store.subjects("/test/3", recursive=False) == []


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (Selection("/users", recursive=True), ["0", "1", "2", "3"]),
        (Selection("/users"), []),
        (Selection("/users/registered"), ["0", "2"]),
        (Selection("/users/registered/"), ["0", "2"]),
        (Selection("/", recursive=True), ["0", "1", "2", "3"]),
        (Selection("/users", recursive=True, antichronological=True), ["3", "2", "1", "0"]),
        (Selection("/users", recursive=True, lower=Bound(2, inclusive=True)), ["2", "3"]),
        (Selection("/users", recursive=True, lower=Bound(2, inclusive=False)), ["3"]),
        (Selection("/users", recursive=True, upper=Bound(2, inclusive=False)), ["0", "1"]),
        (Selection("/users", recursive=True, upper=Bound(2, inclusive=True)), ["0", "1", "2"]),
        (
            Selection("/users", True, Bound(1, True), Bound(2, True), antichronological=True),
            ["2", "1"],
        ),
        (Selection("/users", recursive=True, lower=Bound(10**30, inclusive=True)), []),
        (Selection("/users", recursive=True, lower=Bound(3, False), upper=Bound(1, False)), []),
        (
            Selection(
                "/users",
                recursive=True,
                from_latest=FromLatestEvent(
                    "/users/registered", "io.x.registered", IfEventIsMissing.READ_NOTHING
                ),
            ),
            ["2", "3"],
        ),
        (
            Selection(
                "/users",
                recursive=True,
                from_latest=FromLatestEvent(
                    "/users/nobody", "io.x.registered", IfEventIsMissing.READ_NOTHING
                ),
            ),
            [],
        ),
        (
            Selection(
                "/users",
                recursive=True,
                from_latest=FromLatestEvent(
                    "/users/nobody", "io.x.registered", IfEventIsMissing.READ_EVERYTHING
                ),
            ),
            ["0", "1", "2", "3"],
        ),
        (
            Selection(
                "/users",
                recursive=True,
                antichronological=True,
                from_latest=FromLatestEvent(
                    "/users/logged-in", "io.x.logged-in", IfEventIsMissing.READ_NOTHING
                ),
            ),
            ["3"],
        ),
    ],
)
def test_read_selections(users: Store, selection: Selection, expected: list[str]) -> None:
    assert _ids(users.read(selection)) == expected


def test_from_latest_event_beyond_the_upper_bound_is_unsatisfiable(users: Store) -> None:
    from_latest = FromLatestEvent(
        "/users/registered", "io.x.registered", IfEventIsMissing.READ_NOTHING
    )
    with pytest.raises(RangeUnsatisfiableError):
        users.read(Selection("/", True, upper=Bound(1, True), from_latest=from_latest))
    reached = users.read(Selection("/", True, upper=Bound(2, True), from_latest=from_latest))
    assert _ids(reached) == ["2"]


async def test_observations_replay_then_follow(users: Store) -> None:
    observation = users.observe(Selection("/users/registered"))
    assert _ids(await observation.next_batch(1.0)) == ["0", "2"]
    assert await observation.next_batch(0.01) is None
    users.write([_candidate("/users/other"), _candidate("/users/registered")])
    assert _ids(await observation.next_batch(1.0)) == ["5"]
    observation.release()


async def test_observations_wait_for_the_event(users: Store) -> None:
    from_latest = FromLatestEvent("/later", "io.x.later", IfEventIsMissing.WAIT_FOR_EVENT)
    observation = users.observe(Selection("/", recursive=True, from_latest=from_latest))
    assert await observation.next_batch(0.01) is None
    users.write([_candidate("/other")])
    assert await observation.next_batch(0.01) is None
    users.write([_candidate("/first"), _candidate("/later", "io.x.later"), _candidate("/next")])
    assert _ids(await observation.next_batch(1.0)) == ["6", "7"]


async def test_observations_start_at_a_future_lower_bound(users: Store) -> None:
    observation = users.observe(Selection("/", recursive=True, lower=Bound(5, True)))
    users.write([_candidate(), _candidate(), _candidate()])
    assert _ids(await observation.next_batch(1.0)) == ["5", "6"]


async def test_observations_wake_from_other_threads(store: Store) -> None:
    observation = store.observe(Selection("/", recursive=True))
    waiting = asyncio.ensure_future(observation.next_batch(5.0))
    await asyncio.sleep(0.01)
    await asyncio.to_thread(store.write, [_candidate()])
    assert _ids(await waiting) == ["0"]


async def test_reset_empties_the_store_and_ends_observations(users: Store) -> None:
    users.register_schema(TYPE, compile_schema(SCHEMA))
    observation = users.observe(Selection("/", recursive=True))
    await observation.next_batch(0.01)
    users.reset()
    with pytest.raises(ObservationClosedError) as closed:
        await observation.next_batch(1.0)
    assert closed.value.shutdown is False
    assert len(users) == 0
    assert users.event_types() == []
    assert _ids(users.write([_candidate()])) == ["0"]


async def test_closing_ends_observations_and_refuses_new_ones(store: Store) -> None:
    observation = store.observe(Selection("/"))
    store.close()
    with pytest.raises(ObservationClosedError) as closed:
        await observation.next_batch(1.0)
    assert closed.value.shutdown is True
    with pytest.raises(ObservationClosedError):
        store.observe(Selection("/"))


def test_snapshots_are_query_sources(users: Store) -> None:
    snapshot = users.snapshot()
    assert _ids(list(snapshot.events())) == ["0", "1", "2", "3"]
    assert list(snapshot.subjects()) == ["/", "/users", "/users/logged-in", "/users/registered"]
    assert [info.type for info in snapshot.event_types()] == ["io.x.logged-in", "io.x.registered"]
    fields = snapshot.events()[0].eventql_fields()
    assert fields["id"] == "0"
    assert fields["traceparent"] is None
    assert fields["data"] == {}
    rows = list(
        parse("FROM e IN events WHERE e.subject == '/users/registered' PROJECT INTO e").run(
            snapshot
        )
    )
    assert rows == [snapshot.events()[0], snapshot.events()[2]]
