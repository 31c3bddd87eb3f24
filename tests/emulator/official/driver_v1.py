"""Drive the official Python client 1.9.3 (which speaks the v1 API) against a running server.

This is a standalone script. It runs with the Python of a virtual environment into which the
official package ``eventsourcingdb==1.9.3`` from PyPI is installed, never with the project's own
environment (both packages are called ``eventsourcingdb``). It needs nothing but that package.

    python driver_v1.py --base-url http://127.0.0.1:3000 --api-token secret \\
        --verification-key verification-key.pem [--scenario NAME ...] [--list]

Every option can also come from the environment: ``ESDB_BASE_URL``, ``ESDB_API_TOKEN`` and
``ESDB_VERIFICATION_KEY_FILE`` (an Ed25519 public key, PEM). For every scenario the script prints
one JSON line ``{"name", "ok", "error", "traceback", "started", "finished"}``, and exits with 1
when any scenario failed.

Each scenario works below a subject and with event types of its own (both contain a random tag
of the run and the scenario's name), so the scenarios share one server without interfering.

1.9.3 reports every server error as a ``ServerError``. For writes and reads its message contains
``Response(status=<code> <phrase>, ...)``, for schemas and event types the server's text; the
scenarios check those where the spec is sure of them. Its ``verify_hash`` hashes ``json.dumps``
of the parsed data instead of the bytes received (http-api.md §13, a known defect of that
version), so the data written here is ASCII without ``<``, ``>`` and ``&``, for which both agree.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib
import importlib.metadata
import itertools
import json
import os
import re
import sys
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

# The official package has the same name as the project's own package. Imported by name at run
# time, it is the official one (this script runs in the official virtual environment); type
# checkers, which see the project's package under that name, treat it as Any.
esdb: Any = importlib.import_module("eventsourcingdb")

EXPECTED_VERSION = "1.9.3"
DESCRIPTION = "Drive the official Python client 1.9.3 against a running server."
SCENARIO_TIMEOUT_SECONDS = 30.0
NEXT_EVENT_SECONDS = 10.0
SOURCE = "https://www.eventsourcingdb.io"
TRACE_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACE_STATE = "rojo=00f067aa0ba902b7"
V1_HASH_PATTERN = re.compile(r"^[0-9a-f]{64}$")
ANY_HASH_PATTERN = re.compile(r"^(esdb:hash:v2:)?[0-9a-f]{64}$")
SIGNATURE_PATTERN = re.compile(r"^esdb:signature:v1:[0-9a-f]{128}$")
GENESIS_HASH = "0" * 64


# --------------------------------------------------------------------------------------------
# Scenario registry and context
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Context:
    """What a scenario knows about the server it runs against."""

    name: str
    base_url: str
    api_token: str
    verification_key: Ed25519PublicKey
    run_tag: str

    def subject(self, *segments: str) -> str:
        """A subject below this scenario's own root subject."""
        root = ["", f"o{self.run_tag}", self.name.replace("_", "-")]
        return "/".join([*root, *segments])

    def event_type(self, suffix: str) -> str:
        """An event type that belongs to this scenario alone."""
        return f"io.official{self.run_tag}.{self.name.replace('_', '-')}.{suffix}"

    def client(self, *, api_token: str | None = None) -> Any:
        token = self.api_token if api_token is None else api_token
        return esdb.Client(base_url=self.base_url, api_token=token)


Scenario = Callable[[Context], Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str) -> Callable[[Scenario], Scenario]:
    """Register a scenario under a name (the test suite finds the names in this file)."""

    def register(function: Scenario) -> Scenario:
        if name in SCENARIOS:
            raise RuntimeError(f"scenario {name!r} is registered twice")
        SCENARIOS[name] = function
        return function

    return register


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def expect_equal(actual: Any, expected: Any, what: str) -> None:
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def candidate(
    subject: str,
    event_type: str,
    data: dict[str, Any],
    *,
    trace_parent: str | None = None,
    trace_state: str | None = None,
) -> Any:
    return esdb.EventCandidate(
        source=SOURCE,
        subject=subject,
        type=event_type,
        data=data,
        trace_parent=trace_parent,
        trace_state=trace_state,
    )


def ids(events: list[Any]) -> list[str]:
    return [event.event_id for event in events]


async def collect(generator: Any) -> list[Any]:
    async with aclosing(generator) as items:
        return [item async for item in items]


async def read(client: Any, subject: str, **options: Any) -> list[Any]:
    options.setdefault("recursive", False)
    return await collect(client.read_events(subject, esdb.ReadEventsOptions(**options)))


def status_text(status: int) -> str:
    """How 1.9.3 quotes the status of a refused write or read in its error message."""
    return f"status={status} "


async def expect_server_error(awaitable: Awaitable[Any], contains: str | None, what: str) -> Any:
    """Await and expect a ServerError (whose message contains the given text, if one is given)."""
    try:
        result = await awaitable
    except esdb.ServerError as error:
        if contains is not None and contains not in str(error):
            raise AssertionError(
                f"{what}: expected a ServerError containing {contains!r}, got {error}"
            ) from error
        return error
    raise AssertionError(f"{what}: expected a ServerError ({contains!r}), but got {result!r}")


async def expect_nothing_written(client: Any, subject: str, expected_ids: list[str]) -> None:
    events = await read(client, subject)
    expect_equal(ids(events), expected_ids, f"event ids of {subject} after a refused write")


def check_written_event(event: Any, source_candidate: Any) -> None:
    """An event as the server returns it for a candidate (fields per http-api.md §3)."""
    what = f"event {getattr(event, 'event_id', '?')}"
    expect_equal(event.source, source_candidate.source, f"{what} source")
    expect_equal(event.subject, source_candidate.subject, f"{what} subject")
    expect_equal(event.type, source_candidate.type, f"{what} type")
    expect_equal(event.data, source_candidate.data, f"{what} data")
    expect_equal(event.spec_version, "1.0", f"{what} specversion")
    expect_equal(event.data_content_type, "application/json", f"{what} datacontenttype")
    expect(
        isinstance(event.event_id, str) and event.event_id.isdigit(),
        f"{what}: id {event.event_id!r} is not a decimal string",
    )
    expect(bool(ANY_HASH_PATTERN.match(event.hash)), f"{what}: malformed hash {event.hash!r}")
    expect(
        event.predecessor_hash == GENESIS_HASH
        or bool(ANY_HASH_PATTERN.match(event.predecessor_hash)),
        f"{what}: malformed predecessorhash {event.predecessor_hash!r}",
    )
    expect_equal(event.trace_parent, source_candidate.trace_parent, f"{what} traceparent")
    expect_equal(event.trace_state, source_candidate.trace_state, f"{what} tracestate")
    expect(
        isinstance(event.signature, str) and bool(SIGNATURE_PATTERN.match(event.signature)),
        f"{what}: the server signs events, but the signature is {event.signature!r}",
    )


def check_chain(events: list[Any]) -> None:
    """Events written in one request get consecutive ids and chain their hashes."""
    for previous, current in itertools.pairwise(events):
        expect_equal(
            int(current.event_id), int(previous.event_id) + 1, "id after " + previous.event_id
        )
        expect_equal(
            current.predecessor_hash, previous.hash, f"predecessorhash of {current.event_id}"
        )


def check_same_event(actual: Any, expected: Any, what: str) -> None:
    for field in (
        "event_id",
        "source",
        "subject",
        "type",
        "data",
        "spec_version",
        "data_content_type",
        "time",
        "predecessor_hash",
        "hash",
        "trace_parent",
        "trace_state",
        "signature",
    ):
        expect_equal(getattr(actual, field), getattr(expected, field), f"{what} {field}")


async def write_books(ctx: Context, client: Any) -> list[Any]:
    """Four events below <root>/books: 1 acquired, 2 acquired, 1 borrowed, 2 borrowed."""
    acquired = ctx.event_type("book-acquired")
    borrowed = ctx.event_type("book-borrowed")
    first, second = ctx.subject("books", "1"), ctx.subject("books", "2")
    return list(
        await client.write_events(
            [
                candidate(first, acquired, {"title": "first"}),
                candidate(second, acquired, {"title": "second"}),
                candidate(first, borrowed, {"by": "anna"}),
                candidate(second, borrowed, {"by": "bert"}),
            ]
        )
    )


class Observation:
    """Steps through an observe-events generator with timeouts, without cancelling it between
    steps (cancelling a pending step would end the generator)."""

    def __init__(self, generator: Any) -> None:
        self._generator = generator
        self._pending: asyncio.Task[Any] | None = None

    def _step(self) -> asyncio.Task[Any]:
        if self._pending is None:

            async def next_item() -> Any:
                return await self._generator.__anext__()

            self._pending = asyncio.ensure_future(next_item())
        return self._pending

    async def next(self) -> Any:
        step = self._step()
        done, _ = await asyncio.wait({step}, timeout=NEXT_EVENT_SECONDS)
        if not done:
            raise AssertionError(f"no event arrived within {NEXT_EVENT_SECONDS} s")
        self._pending = None
        return step.result()

    async def nothing_within(self, seconds: float) -> None:
        step = self._step()
        done, _ = await asyncio.wait({step}, timeout=seconds)
        if done:
            self._pending = None
            item = step.result()
            raise AssertionError(
                f"expected no event within {seconds} s, got event {item.event_id} "
                f"({item.subject}, {item.type})"
            )

    async def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            # The step was cancelled on purpose; how it ended does not matter.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pending
            self._pending = None
        await self._generator.aclose()


@asynccontextmanager
async def observing(client: Any, subject: str, **options: Any) -> AsyncIterator[Observation]:
    options.setdefault("recursive", False)
    observation = Observation(client.observe_events(subject, esdb.ObserveEventsOptions(**options)))
    try:
        yield observation
    finally:
        await observation.close()


async def expect_observed(observation: Observation, expected: list[Any], what: str) -> None:
    for event in expected:
        observed = await observation.next()
        expect_equal(
            (observed.event_id, observed.subject, observed.type),
            (event.event_id, event.subject, event.type),
            what,
        )


def other_verification_key() -> Ed25519PublicKey:
    return Ed25519PrivateKey.generate().public_key()


# --------------------------------------------------------------------------------------------
# Ping, token
# --------------------------------------------------------------------------------------------


@scenario("ping")
async def ping(ctx: Context) -> None:
    async with ctx.client() as client:
        await client.ping()
    # The ping needs no token (http-api.md §1.2), so a wrong one does not matter.
    async with ctx.client(api_token="not-the-token") as client:
        await client.ping()


@scenario("verify_api_token")
async def verify_api_token(ctx: Context) -> None:
    async with ctx.client() as client:
        await client.verify_api_token()


@scenario("verify_api_token_wrong_token")
async def verify_api_token_wrong_token(ctx: Context) -> None:
    async with ctx.client(api_token="not-the-token") as client:
        await expect_server_error(
            client.verify_api_token(), status_text(401), "verify_api_token with a wrong token"
        )
        # Every route but the ping needs the token (open-questions-resolved.md §4).
        for what, call in (
            (
                "write_events",
                client.write_events([candidate(ctx.subject(), ctx.event_type("a"), {})]),
            ),
            ("read_events", read(client, ctx.subject())),
        ):
            await expect_server_error(call, status_text(401), f"{what} with a wrong token")
        # 1.9.3 quotes no status for read_event_types, only that the response was unexpected.
        await expect_server_error(
            collect(client.read_event_types()), None, "read_event_types with a wrong token"
        )


# --------------------------------------------------------------------------------------------
# Writing events
# --------------------------------------------------------------------------------------------


@scenario("write_events_single")
async def write_events_single(ctx: Context) -> None:
    subject = ctx.subject("books", "42")
    event_type = ctx.event_type("book-acquired")
    data = {"author": "Arthur C. Clarke", "isbn": "978-0756906788", "title": "2001"}
    async with ctx.client() as client:
        source_candidate = candidate(subject, event_type, data)
        written = await client.write_events([source_candidate])
        expect_equal(len(written), 1, "number of written events")
        event = written[0]
        check_written_event(event, source_candidate)
        as_json = event.to_json()
        expect_equal(as_json["id"], event.event_id, "to_json id")
        expect_equal(as_json["data"], data, "to_json data")

        read_back = await read(client, subject)
        expect_equal(len(read_back), 1, "events read back")
        check_same_event(read_back[0], event, "read back")


@scenario("write_events_several")
async def write_events_several(ctx: Context) -> None:
    first, second = ctx.subject("a"), ctx.subject("b")
    event_type = ctx.event_type("happened")
    candidates = [
        candidate(first, event_type, {"n": 1}),
        candidate(second, event_type, {"n": 2}),
        candidate(first, event_type, {"n": 3}),
    ]
    async with ctx.client() as client:
        written = await client.write_events(candidates)
        expect_equal(len(written), 3, "number of written events")
        for event, source_candidate in zip(written, candidates, strict=True):
            check_written_event(event, source_candidate)
        check_chain(written)

        expect_equal(
            ids(await read(client, first)),
            [written[0].event_id, written[2].event_id],
            f"ids read from {first}",
        )
        expect_equal(ids(await read(client, second)), [written[1].event_id], "ids read from b")


@scenario("write_events_empty_refused")
async def write_events_empty_refused(ctx: Context) -> None:
    async with ctx.client() as client:
        # v2 has the code events-missing; v1 refuses such requests with 400 (§2.10, inferred).
        await expect_server_error(client.write_events([]), status_text(400), "write without events")


@scenario("write_events_invalid_subject_refused")
async def write_events_invalid_subject_refused(ctx: Context) -> None:
    async with ctx.client() as client:
        await expect_server_error(
            client.write_events([candidate("in valid subject", ctx.event_type("x"), {})]),
            status_text(400),
            "write with a malformed subject",
        )


@scenario("write_events_invalid_event_type_refused")
async def write_events_invalid_event_type_refused(ctx: Context) -> None:
    async with ctx.client() as client:
        await expect_server_error(
            client.write_events([candidate(ctx.subject(), "malformed.event.type.", {})]),
            status_text(400),
            "write with a malformed event type",
        )
        await expect_nothing_written(client, ctx.subject(), [])


# --------------------------------------------------------------------------------------------
# Preconditions
# --------------------------------------------------------------------------------------------

PRECONDITION_FAILED = status_text(409)


@scenario("precondition_is_subject_pristine_holds")
async def precondition_is_subject_pristine_holds(ctx: Context) -> None:
    subject = ctx.subject("books", "1")
    async with ctx.client() as client:
        # A nested subject with events does not make its parent non-pristine.
        await client.write_events(
            [candidate(ctx.subject("books", "1", "x"), ctx.event_type("a"), {})]
        )
        written = await client.write_events(
            [
                candidate(subject, ctx.event_type("a"), {}),
                candidate(subject, ctx.event_type("b"), {}),
            ],
            [esdb.IsSubjectPristine(subject)],
        )
        expect_equal(len(written), 2, "events written on a pristine subject")


@scenario("precondition_is_subject_pristine_fails")
async def precondition_is_subject_pristine_fails(ctx: Context) -> None:
    subject = ctx.subject("books", "1")
    async with ctx.client() as client:
        first = await client.write_events([candidate(subject, ctx.event_type("a"), {})])
        await expect_server_error(
            client.write_events(
                [candidate(subject, ctx.event_type("a"), {})], [esdb.IsSubjectPristine(subject)]
            ),
            PRECONDITION_FAILED,
            "IsSubjectPristine on a subject with an event",
        )
        await expect_nothing_written(client, subject, ids(first))


@scenario("precondition_is_subject_populated_holds")
async def precondition_is_subject_populated_holds(ctx: Context) -> None:
    subject = ctx.subject("books", "1")
    async with ctx.client() as client:
        await client.write_events([candidate(subject, ctx.event_type("a"), {})])
        written = await client.write_events(
            [candidate(subject, ctx.event_type("b"), {})], [esdb.IsSubjectPopulated(subject)]
        )
        expect_equal(len(written), 1, "events written on a populated subject")


@scenario("precondition_is_subject_populated_fails")
async def precondition_is_subject_populated_fails(ctx: Context) -> None:
    subject = ctx.subject("books", "1")
    async with ctx.client() as client:
        # Only a nested subject has events; the subject itself is empty.
        await client.write_events(
            [candidate(ctx.subject("books", "1", "x"), ctx.event_type("a"), {})]
        )
        await expect_server_error(
            client.write_events(
                [candidate(subject, ctx.event_type("b"), {})], [esdb.IsSubjectPopulated(subject)]
            ),
            PRECONDITION_FAILED,
            "IsSubjectPopulated on a subject without events",
        )
        await expect_nothing_written(client, subject, [])


@scenario("precondition_is_subject_on_event_id_holds")
async def precondition_is_subject_on_event_id_holds(ctx: Context) -> None:
    subject = ctx.subject("books", "1")
    async with ctx.client() as client:
        written = await client.write_events(
            [
                candidate(subject, ctx.event_type("a"), {}),
                candidate(subject, ctx.event_type("b"), {}),
            ]
        )
        # Another subject's later event does not change this subject's latest event.
        await client.write_events([candidate(ctx.subject("other"), ctx.event_type("a"), {})])
        more = await client.write_events(
            [candidate(subject, ctx.event_type("c"), {})],
            [esdb.IsSubjectOnEventId(subject, written[1].event_id)],
        )
        expect_equal(len(more), 1, "events written with the right latest event id")


@scenario("precondition_is_subject_on_event_id_fails")
async def precondition_is_subject_on_event_id_fails(ctx: Context) -> None:
    subject = ctx.subject("books", "1")
    empty = ctx.subject("books", "empty")
    async with ctx.client() as client:
        written = await client.write_events(
            [
                candidate(subject, ctx.event_type("a"), {}),
                candidate(subject, ctx.event_type("b"), {}),
            ]
        )
        await expect_server_error(
            client.write_events(
                [candidate(subject, ctx.event_type("c"), {})],
                [esdb.IsSubjectOnEventId(subject, written[0].event_id)],
            ),
            PRECONDITION_FAILED,
            "IsSubjectOnEventId with an id that is not the latest",
        )
        await expect_nothing_written(client, subject, ids(written))
        # A subject without events is on no event id (open-questions-resolved.md §2.8).
        await expect_server_error(
            client.write_events(
                [candidate(empty, ctx.event_type("c"), {})],
                [esdb.IsSubjectOnEventId(empty, written[1].event_id)],
            ),
            PRECONDITION_FAILED,
            "IsSubjectOnEventId on a subject without events",
        )
        await expect_nothing_written(client, empty, [])


def count_query(subject: str, comparison: str) -> str:
    return f'FROM e IN events WHERE e.subject == "{subject}" PROJECT INTO COUNT() {comparison}'


@scenario("precondition_is_eventql_query_true_holds")
async def precondition_is_eventql_query_true_holds(ctx: Context) -> None:
    subject = ctx.subject("books", "1")
    async with ctx.client() as client:
        # Evaluated on the state before the write: 0 events, though the batch writes two.
        written = await client.write_events(
            [
                candidate(subject, ctx.event_type("a"), {}),
                candidate(subject, ctx.event_type("a"), {}),
            ],
            [esdb.IsEventQlQueryTrue(count_query(subject, "== 0"))],
        )
        expect_equal(len(written), 2, "events written while the query is true")
        more = await client.write_events(
            [candidate(subject, ctx.event_type("a"), {})],
            [esdb.IsEventQlQueryTrue(count_query(subject, "== 2"))],
        )
        expect_equal(len(more), 1, "events written while the query is true")


@scenario("precondition_is_eventql_query_true_fails")
async def precondition_is_eventql_query_true_fails(ctx: Context) -> None:
    subject = ctx.subject("books", "1")
    async with ctx.client() as client:
        written = await client.write_events([candidate(subject, ctx.event_type("a"), {})])
        await expect_server_error(
            client.write_events(
                [candidate(subject, ctx.event_type("a"), {})],
                [esdb.IsEventQlQueryTrue(count_query(subject, "== 0"))],
            ),
            PRECONDITION_FAILED,
            "IsEventQlQueryTrue with a false query",
        )
        await expect_nothing_written(client, subject, ids(written))


@scenario("precondition_is_eventql_query_true_not_boolean_refused")
async def precondition_is_eventql_query_true_not_boolean_refused(ctx: Context) -> None:
    subject = ctx.subject("books", "1")
    query_text = f'FROM e IN events WHERE e.subject == "{subject}" PROJECT INTO COUNT()'
    async with ctx.client() as client:
        # Not false but no boolean at all: an error of its own, so not the 409 of a precondition
        # that fails (open-questions-resolved.md §2.7; the v1 status is inferred to be 400).
        await expect_server_error(
            client.write_events(
                [candidate(subject, ctx.event_type("a"), {})], [esdb.IsEventQlQueryTrue(query_text)]
            ),
            status_text(400),
            "IsEventQlQueryTrue with a query that yields a number",
        )
        await expect_nothing_written(client, subject, [])


@scenario("preconditions_several_all_must_hold")
async def preconditions_several_all_must_hold(ctx: Context) -> None:
    pristine, populated = ctx.subject("pristine"), ctx.subject("populated")
    async with ctx.client() as client:
        await client.write_events([candidate(populated, ctx.event_type("a"), {})])
        written = await client.write_events(
            [candidate(pristine, ctx.event_type("a"), {})],
            [esdb.IsSubjectPristine(pristine), esdb.IsSubjectPopulated(populated)],
        )
        expect_equal(len(written), 1, "events written when both preconditions hold")
        await expect_server_error(
            client.write_events(
                [candidate(populated, ctx.event_type("b"), {})],
                [esdb.IsSubjectPopulated(populated), esdb.IsSubjectPristine(pristine)],
            ),
            PRECONDITION_FAILED,
            "write where the second of two preconditions fails",
        )


# --------------------------------------------------------------------------------------------
# Reading events
# --------------------------------------------------------------------------------------------


@scenario("read_events_recursive_off")
async def read_events_recursive_off(ctx: Context) -> None:
    async with ctx.client() as client:
        books = await write_books(ctx, client)
        expect_equal(
            ids(await read(client, ctx.subject("books", "1"), recursive=False)),
            [books[0].event_id, books[2].event_id],
            "non-recursive read of books/1",
        )
        expect_equal(
            ids(await read(client, ctx.subject("books"), recursive=False)),
            [],
            "non-recursive read of books (only nested subjects have events)",
        )
        expect_equal(
            ids(await read(client, ctx.subject("nothing-here"))), [], "read of an unknown subject"
        )


@scenario("read_events_recursive_on")
async def read_events_recursive_on(ctx: Context) -> None:
    async with ctx.client() as client:
        books = await write_books(ctx, client)
        # A subject whose name merely starts with "books" is not nested below it.
        await client.write_events([candidate(ctx.subject("bookshelf"), ctx.event_type("a"), {})])
        read_events = await read(client, ctx.subject("books"), recursive=True)
        expect_equal(ids(read_events), ids(books), "recursive read of books")
        for event, written in zip(read_events, books, strict=True):
            check_same_event(event, written, "recursively read event")
        all_ids = ids(await read(client, "/", recursive=True))
        expect(set(ids(books)) <= set(all_ids), "a recursive read of / contains every event")
        expect_equal(
            [int(event_id) for event_id in all_ids],
            sorted(int(event_id) for event_id in all_ids),
            "ids of a recursive read of / in chronological order",
        )


@scenario("read_events_order_chronological")
async def read_events_order_chronological(ctx: Context) -> None:
    async with ctx.client() as client:
        books = await write_books(ctx, client)
        expect_equal(
            ids(
                await read(
                    client, ctx.subject("books"), recursive=True, order=esdb.Order.CHRONOLOGICAL
                )
            ),
            ids(books),
            "chronological read",
        )


@scenario("read_events_order_antichronological")
async def read_events_order_antichronological(ctx: Context) -> None:
    async with ctx.client() as client:
        books = await write_books(ctx, client)
        expect_equal(
            ids(
                await read(
                    client, ctx.subject("books"), recursive=True, order=esdb.Order.ANTICHRONOLOGICAL
                )
            ),
            list(reversed(ids(books))),
            "antichronological read",
        )
        expect_equal(
            ids(await read(client, ctx.subject("books", "2"), order=esdb.Order.ANTICHRONOLOGICAL)),
            [books[3].event_id, books[1].event_id],
            "antichronological non-recursive read of books/2",
        )


def bound(event: Any, inclusive: bool) -> Any:
    kind = esdb.BoundType.INCLUSIVE if inclusive else esdb.BoundType.EXCLUSIVE
    return esdb.Bound(id=event.event_id, type=kind)


async def read_books_with(ctx: Context, client: Any, **options: Any) -> list[str]:
    return ids(await read(client, ctx.subject("books"), recursive=True, **options))


@scenario("read_events_lower_bound_inclusive")
async def read_events_lower_bound_inclusive(ctx: Context) -> None:
    async with ctx.client() as client:
        books = await write_books(ctx, client)
        expect_equal(
            await read_books_with(ctx, client, lower_bound=bound(books[1], True)),
            ids(books[1:]),
            "read with an inclusive lower bound",
        )


@scenario("read_events_lower_bound_exclusive")
async def read_events_lower_bound_exclusive(ctx: Context) -> None:
    async with ctx.client() as client:
        books = await write_books(ctx, client)
        expect_equal(
            await read_books_with(ctx, client, lower_bound=bound(books[1], False)),
            ids(books[2:]),
            "read with an exclusive lower bound",
        )


@scenario("read_events_upper_bound_inclusive")
async def read_events_upper_bound_inclusive(ctx: Context) -> None:
    async with ctx.client() as client:
        books = await write_books(ctx, client)
        expect_equal(
            await read_books_with(ctx, client, upper_bound=bound(books[2], True)),
            ids(books[:3]),
            "read with an inclusive upper bound",
        )


@scenario("read_events_upper_bound_exclusive")
async def read_events_upper_bound_exclusive(ctx: Context) -> None:
    async with ctx.client() as client:
        books = await write_books(ctx, client)
        expect_equal(
            await read_books_with(ctx, client, upper_bound=bound(books[2], False)),
            ids(books[:2]),
            "read with an exclusive upper bound",
        )


@scenario("read_events_both_bounds")
async def read_events_both_bounds(ctx: Context) -> None:
    async with ctx.client() as client:
        books = await write_books(ctx, client)
        expect_equal(
            await read_books_with(
                ctx, client, lower_bound=bound(books[1], True), upper_bound=bound(books[2], True)
            ),
            ids(books[1:3]),
            "read between two inclusive bounds",
        )
        expect_equal(
            await read_books_with(
                ctx,
                client,
                order=esdb.Order.ANTICHRONOLOGICAL,
                lower_bound=bound(books[0], False),
                upper_bound=bound(books[3], False),
            ),
            [books[2].event_id, books[1].event_id],
            "antichronological read between two exclusive bounds",
        )


def read_from_latest(subject: str, event_type: str, if_missing: str) -> Any:
    return esdb.ReadFromLatestEvent(
        subject=subject,
        type=event_type,
        if_event_is_missing=getattr(esdb.IfEventIsMissingDuringRead, if_missing),
    )


@scenario("read_events_from_latest_event")
async def read_events_from_latest_event(ctx: Context) -> None:
    async with ctx.client() as client:
        books = await write_books(ctx, client)
        for if_missing in ("READ_NOTHING", "READ_EVERYTHING"):
            latest = read_from_latest(
                ctx.subject("books", "1"), ctx.event_type("book-borrowed"), if_missing
            )
            expect_equal(
                await read_books_with(ctx, client, from_latest_event=latest),
                ids(books[2:]),
                f"read from the latest event (present, {if_missing})",
            )


@scenario("read_events_from_latest_event_missing_read_nothing")
async def read_events_from_latest_event_missing_read_nothing(ctx: Context) -> None:
    async with ctx.client() as client:
        await write_books(ctx, client)
        latest = read_from_latest(
            ctx.subject("books", "1"), ctx.event_type("book-returned"), "READ_NOTHING"
        )
        expect_equal(
            await read_books_with(ctx, client, from_latest_event=latest),
            [],
            "read from a missing latest event with read-nothing",
        )


@scenario("read_events_from_latest_event_missing_read_everything")
async def read_events_from_latest_event_missing_read_everything(ctx: Context) -> None:
    async with ctx.client() as client:
        books = await write_books(ctx, client)
        latest = read_from_latest(
            ctx.subject("books", "1"), ctx.event_type("book-returned"), "READ_EVERYTHING"
        )
        expect_equal(
            await read_books_with(ctx, client, from_latest_event=latest),
            ids(books),
            "read from a missing latest event with read-everything",
        )


@scenario("read_events_from_latest_event_beyond_upper_bound_refused")
async def read_events_from_latest_event_beyond_upper_bound_refused(ctx: Context) -> None:
    async with ctx.client() as client:
        books = await write_books(ctx, client)
        latest = read_from_latest(
            ctx.subject("books", "1"), ctx.event_type("book-borrowed"), "READ_NOTHING"
        )
        await expect_server_error(
            read_books_with(
                ctx, client, upper_bound=bound(books[1], True), from_latest_event=latest
            ),
            status_text(409),
            "fromLatestEvent above the upper bound",
        )


@scenario("read_events_lower_bound_with_from_latest_event_refused")
async def read_events_lower_bound_with_from_latest_event_refused(ctx: Context) -> None:
    async with ctx.client() as client:
        books = await write_books(ctx, client)
        latest = read_from_latest(
            ctx.subject("books", "1"), ctx.event_type("book-borrowed"), "READ_NOTHING"
        )
        await expect_server_error(
            read_books_with(
                ctx, client, lower_bound=bound(books[0], True), from_latest_event=latest
            ),
            status_text(400),
            "lowerBound together with fromLatestEvent",
        )


@scenario("read_events_malformed_bound_refused")
async def read_events_malformed_bound_refused(ctx: Context) -> None:
    async with ctx.client() as client:
        await write_books(ctx, client)
        for malformed in ("hello", "-1", ""):
            await expect_server_error(
                read_books_with(
                    ctx, client, lower_bound=esdb.Bound(id=malformed, type=esdb.BoundType.INCLUSIVE)
                ),
                status_text(400),
                f"lower bound id {malformed!r}",
            )


# --------------------------------------------------------------------------------------------
# Observing events
# --------------------------------------------------------------------------------------------


@scenario("observe_events_replay_then_live")
async def observe_events_replay_then_live(ctx: Context) -> None:
    subject, child = ctx.subject("books", "1"), ctx.subject("books", "1", "pages")
    event_type = ctx.event_type("page-read")
    async with ctx.client() as client:
        stored = await client.write_events(
            [
                candidate(subject, event_type, {"page": 1}),
                candidate(child, event_type, {"page": 2}),
                candidate(subject, event_type, {"page": 3}),
            ]
        )
        async with observing(client, subject) as observation:
            await expect_observed(observation, [stored[0], stored[2]], "replayed event")
            # Not recursive: a nested subject's new event does not arrive, the subject's does.
            await client.write_events([candidate(child, event_type, {"page": 4})])
            live = await client.write_events([candidate(subject, event_type, {"page": 5})])
            observed = await observation.next()
            expect_equal(observed.event_id, live[0].event_id, "id of the live event")
            check_same_event(observed, live[0], "live event")


@scenario("observe_events_recursive")
async def observe_events_recursive(ctx: Context) -> None:
    parent = ctx.subject("library")
    event_type = ctx.event_type("happened")
    async with ctx.client() as client:
        stored = await client.write_events(
            [
                candidate(parent, event_type, {}),
                candidate(ctx.subject("library", "a"), event_type, {}),
                candidate(ctx.subject("library-annex"), event_type, {}),
            ]
        )
        async with observing(client, parent, recursive=True) as observation:
            await expect_observed(observation, stored[:2], "replayed event")
            await client.write_events([candidate(ctx.subject("library-annex"), event_type, {})])
            live = await client.write_events(
                [candidate(ctx.subject("library", "b", "c"), event_type, {})]
            )
            await expect_observed(observation, live, "live event in a nested subject")


@scenario("observe_events_lower_bound_inclusive")
async def observe_events_lower_bound_inclusive(ctx: Context) -> None:
    subject, event_type = ctx.subject("books"), ctx.event_type("happened")
    async with ctx.client() as client:
        stored = await client.write_events(
            [candidate(subject, event_type, {"n": n}) for n in range(3)]
        )
        async with observing(client, subject, lower_bound=bound(stored[1], True)) as observation:
            await expect_observed(observation, stored[1:], "event from an inclusive lower bound")
            live = await client.write_events([candidate(subject, event_type, {"n": 3})])
            await expect_observed(observation, live, "live event after the replay")


@scenario("observe_events_lower_bound_exclusive")
async def observe_events_lower_bound_exclusive(ctx: Context) -> None:
    subject, event_type = ctx.subject("books"), ctx.event_type("happened")
    async with ctx.client() as client:
        stored = await client.write_events(
            [candidate(subject, event_type, {"n": n}) for n in range(3)]
        )
        async with observing(client, subject, lower_bound=bound(stored[1], False)) as observation:
            await expect_observed(observation, stored[2:], "event from an exclusive lower bound")
            live = await client.write_events([candidate(subject, event_type, {"n": 3})])
            await expect_observed(observation, live, "live event after the replay")


def observe_from_latest(subject: str, event_type: str, if_missing: str) -> Any:
    return esdb.ObserveFromLatestEvent(
        subject=subject,
        type=event_type,
        if_event_is_missing=getattr(esdb.IfEventIsMissingDuringObserve, if_missing),
    )


@scenario("observe_events_from_latest_event")
async def observe_events_from_latest_event(ctx: Context) -> None:
    subject = ctx.subject("books", "1")
    seen, borrowed = ctx.event_type("seen"), ctx.event_type("borrowed")
    async with ctx.client() as client:
        stored = await client.write_events(
            [
                candidate(subject, seen, {}),
                candidate(subject, borrowed, {}),
                candidate(subject, seen, {}),
            ]
        )
        async with observing(
            client,
            subject,
            from_latest_event=observe_from_latest(subject, borrowed, "WAIT_FOR_EVENT"),
        ) as observation:
            await expect_observed(observation, stored[1:], "event from the latest 'borrowed'")
            live = await client.write_events([candidate(subject, seen, {})])
            await expect_observed(observation, live, "live event")


@scenario("observe_events_from_latest_event_wait_for_event")
async def observe_events_from_latest_event_wait_for_event(ctx: Context) -> None:
    subject = ctx.subject("books", "1")
    seen, borrowed = ctx.event_type("seen"), ctx.event_type("borrowed")
    async with ctx.client() as client:
        await client.write_events([candidate(subject, seen, {})])
        async with observing(
            client,
            subject,
            from_latest_event=observe_from_latest(subject, borrowed, "WAIT_FOR_EVENT"),
        ) as observation:
            # Longer than the heartbeat interval (about 1 s): heartbeats must not surface.
            await observation.nothing_within(1.5)
            await client.write_events([candidate(subject, seen, {})])
            await observation.nothing_within(0.5)
            awaited = await client.write_events([candidate(subject, borrowed, {})])
            await expect_observed(observation, awaited, "the awaited event")
            live = await client.write_events([candidate(subject, seen, {})])
            await expect_observed(observation, live, "event after the awaited one")


@scenario("observe_events_from_latest_event_missing_read_everything")
async def observe_events_from_latest_event_missing_read_everything(ctx: Context) -> None:
    subject = ctx.subject("books", "1")
    seen, borrowed = ctx.event_type("seen"), ctx.event_type("borrowed")
    async with ctx.client() as client:
        stored = await client.write_events(
            [candidate(subject, seen, {}), candidate(subject, seen, {})]
        )
        async with observing(
            client,
            subject,
            from_latest_event=observe_from_latest(subject, borrowed, "READ_EVERYTHING"),
        ) as observation:
            await expect_observed(observation, stored, "every event (no 'borrowed' event yet)")
            live = await client.write_events([candidate(subject, seen, {})])
            await expect_observed(observation, live, "live event")


# --------------------------------------------------------------------------------------------
# EventQL
# --------------------------------------------------------------------------------------------


async def query(client: Any, text: str) -> list[Any]:
    return await collect(client.run_eventql_query(text))


async def write_numbers(ctx: Context, client: Any) -> list[Any]:
    subject = ctx.subject("numbers")
    return list(
        await client.write_events(
            [
                candidate(subject, ctx.event_type("odd"), {"n": 1, "title": "one"}),
                candidate(subject, ctx.event_type("even"), {"n": 2, "title": "two"}),
                candidate(subject, ctx.event_type("odd"), {"n": 3, "title": "three"}),
            ]
        )
    )


@scenario("eventql_project_into_e")
async def eventql_project_into_e(ctx: Context) -> None:
    async with ctx.client() as client:
        written = await write_numbers(ctx, client)
        rows = await query(
            client, f'FROM e IN events WHERE e.subject == "{ctx.subject("numbers")}" PROJECT INTO e'
        )
        expect_equal(len(rows), 3, "number of rows")
        for row, event in zip(rows, written, strict=True):
            expect(isinstance(row, dict), f"row {row!r} is not an object")
            for key, value in (
                ("specversion", "1.0"),
                ("id", event.event_id),
                ("source", event.source),
                ("subject", event.subject),
                ("type", event.type),
                ("datacontenttype", "application/json"),
                ("data", event.data),
                ("predecessorhash", event.predecessor_hash),
                ("hash", event.hash),
            ):
                expect_equal(row.get(key), value, f"row {event.event_id} member {key}")
            check_same_event(esdb.Event.parse(row), event, "row parsed as an event")


@scenario("eventql_project_into_record")
async def eventql_project_into_record(ctx: Context) -> None:
    async with ctx.client() as client:
        written = await write_numbers(ctx, client)
        rows = await query(
            client,
            f'FROM e IN events WHERE e.subject == "{ctx.subject("numbers")}" '
            "PROJECT INTO { id: e.id, title: e.data.title }",
        )
        expect_equal(
            rows,
            [{"id": event.event_id, "title": event.data["title"]} for event in written],
            "record rows",
        )


@scenario("eventql_count")
async def eventql_count(ctx: Context) -> None:
    async with ctx.client() as client:
        await write_numbers(ctx, client)
        rows = await query(
            client,
            f'FROM e IN events WHERE e.subject == "{ctx.subject("numbers")}" PROJECT INTO COUNT()',
        )
        expect_equal(rows, [3], "COUNT() rows")
        rows = await query(
            client,
            f'FROM e IN events WHERE e.subject == "{ctx.subject("nothing")}" PROJECT INTO COUNT()',
        )
        expect_equal(rows, [0], "COUNT() over no events (one row)")


@scenario("eventql_where")
async def eventql_where(ctx: Context) -> None:
    subject = ctx.subject("numbers")
    async with ctx.client() as client:
        written = await write_numbers(ctx, client)
        rows = await query(
            client,
            f'FROM e IN events WHERE e.subject == "{subject}" AND e.data.n >= 2 '
            "PROJECT INTO e.data.n",
        )
        expect_equal(rows, [2, 3], "rows where n >= 2")
        rows = await query(
            client,
            f'FROM e IN events WHERE e.subject == "{subject}" '
            f'AND e.type == "{ctx.event_type("odd")}" PROJECT INTO e.id',
        )
        expect_equal(rows, [written[0].event_id, written[2].event_id], "ids of odd events")
        rows = await query(
            client,
            f'FROM e IN events WHERE e.subject == "{subject}" AND e.data.n > 99 PROJECT INTO e',
        )
        expect_equal(rows, [], "rows of a query that matches nothing")


@scenario("eventql_malformed_refused")
async def eventql_malformed_refused(ctx: Context) -> None:
    async with ctx.client() as client:
        # A 400 and an error line are both allowed (open-questions-resolved.md §2.6).
        await expect_server_error(
            query(client, "FROM e IN events PROJECT"), None, "malformed EventQL query"
        )


# --------------------------------------------------------------------------------------------
# Event schemas, subjects, event types
# --------------------------------------------------------------------------------------------

BOOK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "pages": {"type": "integer"}},
    "required": ["title"],
    "additionalProperties": False,
}


@scenario("register_event_schema_accepted")
async def register_event_schema_accepted(ctx: Context) -> None:
    event_type = ctx.event_type("book-acquired")
    async with ctx.client() as client:
        await client.register_event_schema(event_type, BOOK_SCHEMA)
        registered = await client.read_event_type(event_type)
        expect_equal(
            (registered.event_type, registered.is_phantom, registered.schema),
            (event_type, True, BOOK_SCHEMA),
            "event type right after registering its schema",
        )
        written = await client.write_events(
            [candidate(ctx.subject("books", "1"), event_type, {"title": "ok", "pages": 3})]
        )
        expect_equal(len(written), 1, "events that match the schema")
        used = await client.read_event_type(event_type)
        expect_equal(
            (used.event_type, used.is_phantom, used.schema),
            (event_type, False, BOOK_SCHEMA),
            "event type after an event of it was written",
        )


@scenario("register_event_schema_duplicate_refused")
async def register_event_schema_duplicate_refused(ctx: Context) -> None:
    event_type = ctx.event_type("book-acquired")
    async with ctx.client() as client:
        await client.register_event_schema(event_type, BOOK_SCHEMA)
        await expect_server_error(
            client.register_event_schema(event_type, {"type": "object", "properties": {}}),
            "schema conflict: schema already exists",
            "registering a second schema",
        )
        expect_equal(
            (await client.read_event_type(event_type)).schema,
            BOOK_SCHEMA,
            "schema after a refused second registration",
        )


@scenario("register_event_schema_write_violating_refused")
async def register_event_schema_write_violating_refused(ctx: Context) -> None:
    event_type, subject = ctx.event_type("book-acquired"), ctx.subject("books", "1")
    async with ctx.client() as client:
        await client.register_event_schema(event_type, BOOK_SCHEMA)
        for data in ({"title": "x", "extra": True}, {"pages": 1}, {"title": 42}):
            await expect_server_error(
                client.write_events([candidate(subject, event_type, data)]),
                status_text(409),
                f"write of {data!r}, which violates the schema",
            )
        # All or nothing: a valid candidate next to an invalid one is not written either.
        await expect_server_error(
            client.write_events(
                [
                    candidate(subject, event_type, {"title": "fine"}),
                    candidate(subject, event_type, {"title": "x", "extra": True}),
                ]
            ),
            status_text(409),
            "write of a valid and an invalid candidate",
        )
        await expect_nothing_written(client, subject, [])


@scenario("register_event_schema_invalid_refused")
async def register_event_schema_invalid_refused(ctx: Context) -> None:
    event_type = ctx.event_type("book-acquired")
    async with ctx.client() as client:
        # The server's validator text (http-api.md §9, seen in the official tests).
        await expect_server_error(
            client.register_event_schema(event_type, {"type": "gurkenwasser", "properties": {}}),
            'value must be "object"',
            "registering an invalid schema",
        )
        await expect_server_error(
            client.read_event_type(event_type),
            f"event type '{event_type}' not found",
            "event type whose only schema was refused",
        )


@scenario("register_event_schema_existing_events_violate_refused")
async def register_event_schema_existing_events_violate_refused(ctx: Context) -> None:
    event_type = ctx.event_type("greeted")
    async with ctx.client() as client:
        await client.write_events([candidate(ctx.subject("a"), event_type, {"oy": "gevalt"})])
        schema = {
            "type": "object",
            "properties": {"hello": {"type": "string"}},
            "additionalProperties": False,
        }
        await expect_server_error(
            client.register_event_schema(event_type, schema),
            "schema conflict: event with ID",
            "registering a schema that a stored event violates",
        )
        expect_equal(
            (await client.read_event_type(event_type)).schema,
            None,
            "schema after the refused registration",
        )


@scenario("read_subjects")
async def read_subjects(ctx: Context) -> None:
    event_type = ctx.event_type("happened")
    root = ctx.subject()
    async with ctx.client() as client:
        await client.write_events(
            [
                candidate(ctx.subject("a", "b"), event_type, {}),
                candidate(ctx.subject("a"), event_type, {}),
                candidate(ctx.subject("c"), event_type, {}),
            ]
        )
        subjects = await collect(client.read_subjects(base_subject=root))
        expect_equal(
            subjects,
            [root, ctx.subject("a"), ctx.subject("a", "b"), ctx.subject("c")],
            f"subjects below {root}",
        )
        expect_equal(
            await collect(client.read_subjects(base_subject=ctx.subject("a", "b"))),
            [ctx.subject("a", "b")],
            "subjects below a leaf",
        )
        everything = await collect(client.read_subjects(base_subject="/"))
        expect(everything[:1] == ["/"], f"subjects below / start with / ({everything[:3]!r})")
        expect(
            [subject for subject in everything if subject == root or subject.startswith(root + "/")]
            == subjects,
            f"subjects below / contain the scenario's subjects in order ({everything!r})",
        )
        expect_equal(
            await collect(client.read_subjects(base_subject=ctx.subject("zzz"))),
            [],
            "subjects below an unknown subject",
        )


@scenario("read_event_types")
async def read_event_types(ctx: Context) -> None:
    plain, other, phantom = (
        ctx.event_type("plain"),
        ctx.event_type("other"),
        ctx.event_type("phantom"),
    )
    async with ctx.client() as client:
        await client.write_events(
            [
                candidate(ctx.subject("a"), plain, {}),
                candidate(ctx.subject("b"), plain, {}),
                candidate(ctx.subject("a"), other, {"title": "x"}),
            ]
        )
        await client.register_event_schema(other, BOOK_SCHEMA)
        await client.register_event_schema(phantom, BOOK_SCHEMA)
        listed = await collect(client.read_event_types())
        prefix = ctx.event_type("")
        mine = {item.event_type: item for item in listed if item.event_type.startswith(prefix)}
        expect_equal(sorted(mine), sorted([plain, other, phantom]), "the scenario's event types")
        expect_equal((mine[plain].is_phantom, mine[plain].schema), (False, None), plain)
        expect_equal((mine[other].is_phantom, mine[other].schema), (False, BOOK_SCHEMA), other)
        expect_equal((mine[phantom].is_phantom, mine[phantom].schema), (True, BOOK_SCHEMA), phantom)
        names = [item.event_type for item in listed]
        expect_equal(len(names), len(set(names)), "every event type is listed once")


@scenario("read_event_type_known")
async def read_event_type_known(ctx: Context) -> None:
    event_type = ctx.event_type("plain")
    async with ctx.client() as client:
        await client.write_events([candidate(ctx.subject("a"), event_type, {})])
        known = await client.read_event_type(event_type)
        expect(isinstance(known, esdb.EventType), f"{known!r} is not an EventType")
        expect_equal(
            (known.event_type, known.is_phantom, known.schema),
            (event_type, False, None),
            "event type",
        )


@scenario("read_event_type_unknown")
async def read_event_type_unknown(ctx: Context) -> None:
    event_type = ctx.event_type("never-written")
    async with ctx.client() as client:
        await expect_server_error(
            client.read_event_type(event_type),
            f"event type '{event_type}' not found",
            "reading an unknown event type",
        )


@scenario("read_event_type_malformed")
async def read_event_type_malformed(ctx: Context) -> None:
    async with ctx.client() as client:
        await expect_server_error(
            client.read_event_type("malformed.event.type."),
            "invalid event type: 'malformed.event.type.'",
            "reading a malformed event type",
        )


# --------------------------------------------------------------------------------------------
# Integrity: hashes and signatures
# --------------------------------------------------------------------------------------------


def expect_verification_error(check: Callable[[], Any], what: str) -> None:
    try:
        check()
    except esdb.ValidationError:
        return
    raise AssertionError(f"{what}: expected a ValidationError, but verification passed")


@scenario("verify_hash")
async def verify_hash(ctx: Context) -> None:
    subject, event_type = ctx.subject("books", "1"), ctx.event_type("happened")
    async with ctx.client() as client:
        written = await client.write_events(
            [candidate(subject, event_type, {"n": n, "title": f"t{n}"}) for n in range(3)]
        )
        # The v1 API's hash recipe (http-api.md §8.1): 64 lowercase hex characters.
        for event in written:
            expect(bool(V1_HASH_PATTERN.match(event.hash)), f"v1 hash format: {event.hash!r}")
            event.verify_hash()
        read_back = await read(client, subject)
        for event in read_back:
            event.verify_hash()
        async with observing(client, subject) as observation:
            for _ in written:
                (await observation.next()).verify_hash()
        rows = await query(
            client, f'FROM e IN events WHERE e.subject == "{subject}" PROJECT INTO e'
        )
        for row in rows:
            esdb.Event.parse(row).verify_hash()
        # Proof that verify_hash is not vacuous: change the data and it fails.
        tampered = dataclasses.replace(read_back[0], data={"n": 99, "title": "t0"})
        tampered._time_from_server = read_back[0]._time_from_server
        expect_verification_error(tampered.verify_hash, "hash of changed data")


@scenario("verify_signature")
async def verify_signature(ctx: Context) -> None:
    subject, event_type = ctx.subject("books", "1"), ctx.event_type("happened")
    async with ctx.client() as client:
        written = await client.write_events(
            [candidate(subject, event_type, {"n": n}) for n in range(2)]
        )
        for event in written:
            event.verify_signature(ctx.verification_key)
        read_back = await read(client, subject)
        for event in read_back:
            event.verify_signature(ctx.verification_key)
        async with observing(client, subject) as observation:
            for _ in written:
                (await observation.next()).verify_signature(ctx.verification_key)
        rows = await query(
            client, f'FROM e IN events WHERE e.subject == "{subject}" PROJECT INTO e'
        )
        for row in rows:
            esdb.Event.parse(row).verify_signature(ctx.verification_key)
        expect_verification_error(
            lambda: read_back[0].verify_signature(other_verification_key()),
            "signature checked with another key",
        )


@scenario("hash_chain_and_version")
async def hash_chain_and_version(ctx: Context) -> None:
    subject, event_type = ctx.subject("chain"), ctx.event_type("happened")
    async with ctx.client() as client:
        first = await client.write_events([candidate(subject, event_type, {"n": 1})])
        last = await client.write_events(
            [candidate(subject, event_type, {"n": 2}, trace_parent=TRACE_PARENT)]
        )
        # Everything written in between (by anyone) belongs to the one global chain.
        chain = await read(
            client,
            "/",
            recursive=True,
            lower_bound=bound(first[0], True),
            upper_bound=bound(last[0], True),
        )
        expect_equal(chain[0].event_id, first[0].event_id, "first event of the chain")
        expect_equal(chain[-1].event_id, last[0].event_id, "last event of the chain")
        check_chain(chain)
        for event in chain:
            # The v1 API's recipe (http-api.md §8.1), the only one 1.9.3 knows.
            expect(bool(V1_HASH_PATTERN.match(event.hash)), f"v1 hash format: {event.hash!r}")
            event.verify_hash()


# --------------------------------------------------------------------------------------------
# Trace context
# --------------------------------------------------------------------------------------------


@scenario("trace_parent_and_trace_state_round_trip")
async def trace_parent_and_trace_state_round_trip(ctx: Context) -> None:
    subject, event_type = ctx.subject("traced"), ctx.event_type("happened")
    candidates = [
        candidate(
            subject, event_type, {"n": 1}, trace_parent=TRACE_PARENT, trace_state=TRACE_STATE
        ),
        candidate(subject, event_type, {"n": 2}, trace_parent=TRACE_PARENT),
        candidate(subject, event_type, {"n": 3}),
    ]
    expected = [(TRACE_PARENT, TRACE_STATE), (TRACE_PARENT, None), (None, None)]
    async with ctx.client() as client:
        written = await client.write_events(candidates)
        read_back = await read(client, subject)
        async with observing(client, subject) as observation:
            observed = [await observation.next() for _ in candidates]
        for label, events in (("written", written), ("read", read_back), ("observed", observed)):
            expect_equal(
                [(event.trace_parent, event.trace_state) for event in events],
                expected,
                f"trace fields of {label} events",
            )
            for event in events:
                event.verify_signature(ctx.verification_key)
        rows = await query(
            client, f'FROM e IN events WHERE e.subject == "{subject}" PROJECT INTO e'
        )
        expect_equal(
            [(row.get("traceparent"), row.get("tracestate")) for row in rows],
            expected,
            "trace fields of query rows",
        )


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


async def run_scenario(name: str, context: Context) -> dict[str, Any]:
    started = time.time()
    error: str | None = None
    details: str | None = None
    try:
        async with asyncio.timeout(SCENARIO_TIMEOUT_SECONDS):
            await SCENARIOS[name](context)
    except TimeoutError as exception:
        error = f"TimeoutError: the scenario took longer than {SCENARIO_TIMEOUT_SECONDS} s"
        details = "".join(traceback.format_exception(exception))
    except Exception as exception:  # every failure is reported, not raised
        error = f"{type(exception).__name__}: {exception}"
        details = "".join(traceback.format_exception(exception))
    return {
        "name": name,
        "ok": error is None,
        "error": error,
        "traceback": details,
        "started": started,
        "finished": time.time(),
    }


async def run(names: list[str], base: Context) -> bool:
    all_ok = True
    for name in names:
        result = await run_scenario(name, dataclasses.replace(base, name=name))
        all_ok = all_ok and bool(result["ok"])
        print(json.dumps(result), flush=True)
    return all_ok


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--base-url", default=os.environ.get("ESDB_BASE_URL"))
    parser.add_argument("--api-token", default=os.environ.get("ESDB_API_TOKEN"))
    parser.add_argument("--verification-key", default=os.environ.get("ESDB_VERIFICATION_KEY_FILE"))
    parser.add_argument("--scenario", action="append", default=[], help="run only these")
    parser.add_argument("--run-tag", default=uuid.uuid4().hex[:8])
    parser.add_argument("--list", action="store_true", help="print the scenario names and exit")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    if arguments.list:
        print("\n".join(SCENARIOS))
        return 0
    installed = importlib.metadata.version("eventsourcingdb")
    if installed != EXPECTED_VERSION:
        print(f"expected eventsourcingdb {EXPECTED_VERSION}, found {installed}", file=sys.stderr)
        return 2
    missing = [
        option
        for option in ("base_url", "api_token", "verification_key")
        if not getattr(arguments, option)
    ]
    if missing:
        print(f"missing options: {', '.join(missing)}", file=sys.stderr)
        return 2
    unknown = [name for name in arguments.scenario if name not in SCENARIOS]
    if unknown:
        print(f"unknown scenarios: {', '.join(unknown)}", file=sys.stderr)
        return 2
    key = serialization.load_pem_public_key(Path(arguments.verification_key).read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        print("the verification key is not an Ed25519 public key", file=sys.stderr)
        return 2
    base = Context(
        name="",
        base_url=arguments.base_url,
        api_token=arguments.api_token,
        verification_key=key,
        run_tag=arguments.run_tag,
    )
    names = arguments.scenario or list(SCENARIOS)
    return 0 if asyncio.run(run(names, base)) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
