"""The store under hostile input: linear memory for deep subjects, and no lock held across work a
request can make arbitrarily long (EventQL and recursive preconditions, schema checks)."""

from __future__ import annotations

import asyncio
import random
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from eventsourcingdb.emulator import Emulator
from eventsourcingdb.emulator.encoding import encode_json
from eventsourcingdb.emulator.eventql import evaluate_precondition, parse
from eventsourcingdb.emulator.records import (
    Candidate,
    PreconditionFailedError,
    PreconditionKind,
    QueryPrecondition,
    Selection,
    SubjectPrecondition,
    is_within,
    normalize_subject,
)
from eventsourcingdb.emulator.schemas import compile_schema
from eventsourcingdb.emulator.store import Store, latest_within
from tests.emulator.emulator_helpers import AUTH, candidate

TYPE = "io.eventsourcingdb.test.happened"
TIMEOUT = 10.0
WRITE = "/api/v2/data/write-events"
EVALUATION = "eventsourcingdb.emulator.store.evaluate_precondition"
"""Where the store evaluates `isEventQlQueryTrue` preconditions (the seam these tests hold)."""
SUBTREES = "eventsourcingdb.emulator.store.latest_within"
"""Where the store finds the latest event below each subject of its recursive preconditions."""


def _candidate(subject: str = "/a", **data: object) -> Candidate:
    return Candidate("https://x", subject, TYPE, data, encode_json(data))


# --- memory ------------------------------------------------------------------------------------


def test_a_deep_subject_costs_memory_in_proportion_to_its_length() -> None:
    store = Store()
    deep = "/a" * 10_000  # all its 10,000 ancestors as strings would take 100 MB
    tracemalloc.start()
    try:
        store.write([_candidate(deep)])
        store.write([_candidate(deep + "/b")])
        store.snapshot()
        assert store.subjects(deep, recursive=False) == [deep]
        assert store.subjects(deep + "/b") == [deep + "/b"]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, f"{peak:,} bytes for subjects of 20 KB"


def test_subjects_of_deep_trees_are_still_the_ancestor_closure() -> None:
    store = Store()
    store.write([_candidate("/a/b/c"), _candidate("/a/b/d"), _candidate("/a-b"), _candidate("/")])
    assert store.subjects("/") == ["/", "/a", "/a-b", "/a/b", "/a/b/c", "/a/b/d"]
    assert store.subjects("/a/b") == ["/a/b", "/a/b/c", "/a/b/d"]
    assert store.subjects("/a", recursive=False) == ["/a"]
    assert store.subjects("/a/b/c/d", recursive=False) == []
    assert list(store.snapshot().subjects()) == store.subjects("/")


# --- the lock ----------------------------------------------------------------------------------


class _HeldEvaluation:
    """Wraps the store's EventQL precondition evaluation so that a test can hold it midway."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls = 0
        real = evaluate_precondition

        def evaluate(query: Any, source: Any, cancellation: Any = None) -> bool:
            self.calls += 1
            if self.calls == 1:
                self.started.set()
                assert self.release.wait(TIMEOUT), "the test never released the evaluation"
            return real(query, source, cancellation)

        monkeypatch.setattr(EVALUATION, evaluate)


def _in_thread(work: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def _finishes(work: Callable[[], object]) -> bool:
    """Whether `work` finishes within a few seconds (it would wait forever for a held lock)."""
    thread = _in_thread(work)
    thread.join(5.0)
    return not thread.is_alive()


def test_an_eventql_precondition_is_evaluated_outside_the_lock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = Store()
    store.write([_candidate()])
    held = _HeldEvaluation(monkeypatch)
    empty = QueryPrecondition(
        parse("FROM e IN events WHERE e.subject == '/b' PROJECT INTO COUNT() == 0")
    )
    outcome: list[object] = []

    def conditional_write() -> None:
        try:
            outcome.append(store.write([_candidate("/c")], [empty]))
        except PreconditionFailedError as failed:
            outcome.append(failed)

    writer = _in_thread(conditional_write)
    assert held.started.wait(TIMEOUT)
    try:
        assert _finishes(lambda: store.read(Selection("/", recursive=True)))
        assert _finishes(lambda: len(store))
        assert _finishes(store.snapshot)
        assert _finishes(store.event_types)
        assert _finishes(lambda: store.subjects("/"))
        assert _finishes(lambda: store.write([_candidate("/b")]))
    finally:
        held.release.set()
    writer.join(TIMEOUT)
    (result,) = outcome
    # the write of /b came first, so the precondition was evaluated again, and fails now
    assert isinstance(result, PreconditionFailedError)
    assert held.calls == 2
    assert [event.subject for event in store.read(Selection("/", recursive=True))] == ["/a", "/b"]


def test_an_eventql_precondition_cannot_be_starved_by_other_writers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = Store()
    real = evaluate_precondition
    racing: list[threading.Thread] = []

    def evaluate_while_another_writes(query: Any, source: Any, cancellation: Any = None) -> bool:
        racing.append(_in_thread(lambda: store.write([_candidate("/other")])))
        racing[-1].join(0.5)  # done at once, unless the gate holds it back
        return real(query, source, cancellation)

    monkeypatch.setattr(EVALUATION, evaluate_while_another_writes)
    always = QueryPrecondition(parse("FROM e IN events PROJECT INTO COUNT() >= 0"))
    (written,) = store.write([_candidate("/mine")], [always])
    assert len(racing) == 3, "two optimistic attempts, then one that holds other writers back"
    for thread in racing:
        thread.join(TIMEOUT)
    subjects = [event.subject for event in store.read(Selection("/", recursive=True))]
    assert subjects == ["/other", "/other", "/mine", "/other"]
    assert written.id == "2"


def test_stored_events_are_checked_against_a_new_schema_outside_the_lock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = Store()
    store.write([_candidate(title="x")])
    schema = compile_schema({"type": "object", "properties": {"title": {"type": "string"}}})
    started, release = threading.Event(), threading.Event()
    real = type(schema).violation

    def slow_violation(self: Any, data: object) -> str | None:
        started.set()
        assert release.wait(TIMEOUT)
        return real(self, data)

    monkeypatch.setattr(type(schema), "violation", slow_violation)
    registering = _in_thread(lambda: store.register_schema(TYPE, schema))
    assert started.wait(TIMEOUT)
    try:
        assert _finishes(lambda: store.read(Selection("/", recursive=True)))
        assert _finishes(store.event_types)
    finally:
        release.set()
    registering.join(TIMEOUT)
    assert store.event_type(TYPE) is not None


class _HeldSubtrees:
    """Wraps the store's walk for recursive preconditions so that a test can hold it midway."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls = 0
        real = latest_within

        def walk(*arguments: Any) -> dict[str, int]:
            self.calls += 1
            if self.calls == 1:
                self.started.set()
                assert self.release.wait(TIMEOUT), "the test never released the walk"
            return real(*arguments)

        monkeypatch.setattr(SUBTREES, walk)


def test_a_recursive_precondition_is_evaluated_outside_the_lock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It looks at every subject of the store: as many as a write can name, each costing a walk
    over them all, had frozen every reader under the lock for as long as the writer liked."""
    store = Store()
    store.write([_candidate("/a")])
    held = _HeldSubtrees(monkeypatch)
    pristine = SubjectPrecondition(PreconditionKind.IS_SUBJECT_PRISTINE, "/b", recursive=True)
    outcome: list[object] = []

    def conditional_write() -> None:
        try:
            outcome.append(store.write([_candidate("/c")], [pristine]))
        except PreconditionFailedError as failed:
            outcome.append(failed)

    writer = _in_thread(conditional_write)
    assert held.started.wait(TIMEOUT)
    try:
        assert _finishes(lambda: store.read(Selection("/", recursive=True)))
        assert _finishes(lambda: store.subjects("/"))
        assert _finishes(lambda: store.write([_candidate("/b/1")]))
    finally:
        held.release.set()
    writer.join(TIMEOUT)
    (result,) = outcome
    # /b/1 was written first, so the precondition was evaluated again, and fails now
    assert isinstance(result, PreconditionFailedError)
    assert held.calls == 2


def test_recursive_preconditions_see_exactly_their_subtree() -> None:
    """Compared with a plain scan of the events, for bases nested in each other, the root,
    subjects without events, trailing slashes and names that share a prefix (`/a-b`, `/a`);
    each among many other recursive preconditions, which one walk answers together."""
    subjects = ["/a", "/a/b", "/a/b/c", "/a-b", "/a-b/c", "/x/y/z", "/", "/a/bc", "/q"]
    written = [random.Random(7).choice(subjects) for _ in range(40)]
    bases = [*subjects, "/a/", "/x", "/x/y", "/nothing", "/a/b/c/d", "/x/y/z/"]
    others = [
        SubjectPrecondition(PreconditionKind.IS_SUBJECT_POPULATED, "/", recursive=True),
        *(
            SubjectPrecondition(PreconditionKind.IS_SUBJECT_PRISTINE, f"/n/{i}", recursive=True)
            for i in range(50)
        ),
    ]
    for base in bases:
        below = [
            i for i, subject in enumerate(written) if is_within(subject, normalize_subject(base))
        ]
        latest = below[-1] if below else None
        for kind, event_id, holds in [
            (PreconditionKind.IS_SUBJECT_PRISTINE, None, latest is None),
            (PreconditionKind.IS_SUBJECT_POPULATED, None, latest is not None),
            (PreconditionKind.IS_SUBJECT_ON_EVENT_ID, latest, latest is not None),
            (PreconditionKind.IS_SUBJECT_ON_EVENT_ID, 0 if latest else 1, False),
        ]:
            store = Store()
            store.write([_candidate(subject) for subject in written])
            precondition = SubjectPrecondition(kind, base, recursive=True, event_id=event_id)
            if holds:
                store.write([_candidate("/new")], [*others, precondition])
            else:
                with pytest.raises(PreconditionFailedError) as failed:
                    store.write([_candidate("/new")], [*others, precondition])
                assert failed.value.index == len(others), (base, kind, event_id)


# --- over HTTP ---------------------------------------------------------------------------------


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


async def test_an_expensive_precondition_does_not_hold_up_other_requests(
    emulator: Emulator,
) -> None:
    """The issue's measured case: a three-way product froze the server for seconds."""
    async with httpx.AsyncClient(
        base_url=emulator.get_base_url(), headers=AUTH, timeout=60
    ) as http:
        events = [candidate("/n", data={"n": 1})] * 100
        assert (await http.post("/api/v2/data/write-events", json={"events": events})).is_success
        product = (
            "FROM a IN events FROM b IN events FROM c IN events "
            "WHERE a.data.n + b.data.n + c.data.n == 4 PROJECT INTO COUNT() == 0"
        )
        body = {
            "events": [candidate("/guarded")],
            "preconditions": [{"type": "isEventQlQueryTrue", "payload": {"query": product}}],
        }
        guarded = asyncio.ensure_future(http.post("/api/v2/data/write-events", json=body))
        await asyncio.sleep(0.2)  # the product of a million rows is being evaluated
        async with httpx.AsyncClient(
            base_url=emulator.get_base_url(), headers=AUTH, timeout=TIMEOUT
        ) as other:
            started = time.monotonic()
            assert (await other.get("/api/v2/system/ping")).is_success
            assert (await other.get("/api/v1/health")).is_success
            read = await other.request("QUERY", "/api/v2/data/read-events", json={"subject": "/n"})
            assert read.text.count('"type":"event"') == 100
            assert not guarded.done(), (
                f"the precondition finished first, after {time.monotonic() - started:.2f} s: "
                "the other requests waited for it"
            )
        answer = await guarded
    assert answer.is_success
    assert '"subject":"/guarded"' in answer.text


async def test_recursive_preconditions_do_not_hold_up_other_requests(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a socket: the walk runs in a worker thread, not on the event loop, and not under the
    lock, so pings, reads and other writes are answered while it runs."""
    held = _HeldSubtrees(monkeypatch)
    async with httpx.AsyncClient(
        base_url=emulator.get_base_url(), headers=AUTH, timeout=TIMEOUT
    ) as http:
        assert (await http.post(WRITE, json={"events": [candidate("/n")]})).is_success
        populated = {"subject": "/", "options": {"recursive": True}}
        body = {
            "events": [candidate("/guarded")],
            "preconditions": [{"type": "isSubjectPopulated", "payload": populated}],
        }
        guarded = asyncio.ensure_future(http.post(WRITE, json=body))
        try:
            assert await asyncio.to_thread(held.started.wait, TIMEOUT)
            assert (await http.get("/api/v2/system/ping")).is_success
            read = await http.request("QUERY", "/api/v2/data/read-events", json={"subject": "/n"})
            assert read.text.count('"type":"event"') == 1
            assert not guarded.done()
        finally:
            held.release.set()
        answer = await guarded
    assert answer.is_success, answer.text
    assert '"subject":"/guarded"' in answer.text
