"""Drive the official Python client 2.2.4 (which speaks the v2 API) against a running server.

This is a standalone script. It runs with the Python of a virtual environment into which the
official package ``eventsourcingdb==2.2.4`` from PyPI is installed, never with the project's own
environment (both packages are called ``eventsourcingdb``). It needs nothing but that package.

    python driver_v2.py --base-url http://127.0.0.1:3000 --api-token secret \\
        --verification-key verification-key.pem [--api v2|v1] [--hash-version 1|2] \\
        [--scenario NAME ...] [--list]

Every option can also come from the environment: ``ESDB_BASE_URL``, ``ESDB_API_TOKEN`` and
``ESDB_VERIFICATION_KEY_FILE`` (an Ed25519 public key, PEM). ``--api`` names the API the client
must choose (v2, the default, for a server that offers it; v1 for a server without it, against
which errors without a v1 text of their own have no code and recursive preconditions are refused
by the client), ``--hash-version`` the hash version the server writes. For every scenario it prints
one JSON line ``{"name", "ok", "error", "traceback", "started", "finished"}``, and it exits
with 1 when any scenario failed.

Each scenario works below a subject and with event types of its own (both contain a random tag
of the run and the scenario's name), so the scenarios share one server without interfering.
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

EXPECTED_VERSION = "2.2.4"
DESCRIPTION = "Drive the official Python client 2.2.4 against a running server."
SCENARIO_TIMEOUT_SECONDS = 30.0
NEXT_EVENT_SECONDS = 10.0
SOURCE = "https://www.eventsourcingdb.io"
TRACE_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACE_STATE = "rojo=00f067aa0ba902b7"
HASH_PATTERN = re.compile(r"^(esdb:hash:v2:)?[0-9a-f]{64}$")
SIGNATURE_PATTERN = re.compile(r"^esdb:signature:v1:[0-9a-f]{128}$")
GENESIS_HASH = "0" * 64
# The errors that 2.2.4 gives a code over the v1 API, by their text (its code_of_error table).
CODES_OF_V1_TEXTS = {
    esdb.ErrorCode.PRECONDITION_VIOLATED,
    esdb.ErrorCode.CAPACITY_EXCEEDED,
    esdb.ErrorCode.EVENT_SCHEMA_VIOLATED,
    esdb.ErrorCode.EVENT_SCHEMA_ALREADY_REGISTERED,
    esdb.ErrorCode.RANGE_UNSATISFIABLE,
    esdb.ErrorCode.EVENT_TYPE_UNKNOWN,
    esdb.ErrorCode.STORE_READ_ONLY,
    esdb.ErrorCode.LICENSE_INVALID,
}


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
    # The API the client must choose: "v2" (the emulator offers v2) or "v1" (a v1-only server).
    api: str = "v2"
    # The hash version the server was started with (1 or 2), or None when not known.
    hash_version: int | None = None

    def subject(self, *segments: str) -> str:
        """A subject below this scenario's own root subject."""
        root = ["", f"o{self.run_tag}", self.name.replace("_", "-")]
        return "/".join([*root, *segments])

    def event_type(self, suffix: str) -> str:
        """An event type that belongs to this scenario alone."""
        return f"io.official{self.run_tag}.{self.name.replace('_', '-')}.{suffix}"

    def client(self, *, api_token: str | None = None, **options: Any) -> Any:
        token = self.api_token if api_token is None else api_token
        return esdb.Client(base_url=self.base_url, api_token=token, **options)

    async def refused(
        self, awaitable: Awaitable[Any], code: str | None, what: str, v1_status: int | None = 400
    ) -> Any:
        """Await and expect the server to report an error with that code (if one is given).

        Over the v1 API, 2.2.4 knows only the codes whose v1 texts it recognises
        (http-api-v2.md §6); every other error has no code and the status the v1 API refuses
        with (v1_status, unless None).
        """
        try:
            result = await awaitable
        except esdb.DbApiError as error:
            expected = code
            if self.api == "v1" and code is not None and code not in CODES_OF_V1_TEXTS:
                expected = None
                if v1_status is not None and error.status != v1_status:
                    raise AssertionError(
                        f"{what}: expected status {v1_status} (v1 API), got status={error.status} "
                        f"code={error.code!r} description={error.description!r}"
                    ) from error
            if (code is not None or self.api == "v1") and error.code != expected:
                raise AssertionError(
                    f"{what}: expected error code {expected}, got code={error.code!r} "
                    f"status={error.status} description={error.description!r}"
                ) from error
            return error
        raise AssertionError(f"{what}: expected a DbApiError ({code}), but got {result!r}")


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
    expect(bool(HASH_PATTERN.match(event.hash)), f"{what}: malformed hash {event.hash!r}")
    expect(
        event.predecessor_hash == GENESIS_HASH or bool(HASH_PATTERN.match(event.predecessor_hash)),
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
    # The ping needs no token, so a wrong one does not matter (README "Getting Started").
    async with ctx.client(api_token="not-the-token") as client:
        await client.ping()


@scenario("client_chooses_api")
async def client_chooses_api(ctx: Context) -> None:
    # 2.2.4 probes GET /api/v2/system/ping: a server with v2 answers 200, one without 404/405.
    async with ctx.client() as client:
        await client.ping()
        expect_equal(await client._get_api_version(), ctx.api, "API version chosen by the client")


@scenario("verify_api_token")
async def verify_api_token(ctx: Context) -> None:
    async with ctx.client() as client:
        await client.verify_api_token()


@scenario("verify_api_token_wrong_token")
async def verify_api_token_wrong_token(ctx: Context) -> None:
    async with ctx.client(api_token="not-the-token") as client:
        error = await ctx.refused(
            client.verify_api_token(), None, "verify_api_token with a wrong token"
        )
        expect_equal(error.status, 401, "status for a wrong token")
        # Every route but the ping needs the token (open-questions-resolved.md §4).
        for what, call in (
            (
                "write_events",
                client.write_events([candidate(ctx.subject(), ctx.event_type("a"), {})]),
            ),
            ("read_events", read(client, ctx.subject())),
            ("read_event_types", collect(client.read_event_types())),
        ):
            error = await ctx.refused(call, None, f"{what} with a wrong token")
            expect_equal(error.status, 401, f"status of {what} with a wrong token")


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
        await ctx.refused(
            client.write_events([]), esdb.ErrorCode.EVENTS_MISSING, "write without events"
        )


@scenario("write_events_invalid_subject_refused")
async def write_events_invalid_subject_refused(ctx: Context) -> None:
    async with ctx.client() as client:
        await ctx.refused(
            client.write_events([candidate("in valid subject", ctx.event_type("x"), {})]),
            esdb.ErrorCode.SUBJECT_MALFORMED,
            "write with a malformed subject",
        )


@scenario("write_events_invalid_event_type_refused")
async def write_events_invalid_event_type_refused(ctx: Context) -> None:
    async with ctx.client() as client:
        await ctx.refused(
            client.write_events([candidate(ctx.subject(), "malformed.event.type.", {})]),
            esdb.ErrorCode.EVENT_TYPE_MALFORMED,
            "write with a malformed event type",
        )
        await expect_nothing_written(client, ctx.subject(), [])


@scenario("write_events_tracestate_without_traceparent_refused")
async def write_events_tracestate_without_traceparent_refused(ctx: Context) -> None:
    async with ctx.client() as client:
        await ctx.refused(
            client.write_events(
                [candidate(ctx.subject(), ctx.event_type("x"), {}, trace_state=TRACE_STATE)]
            ),
            esdb.ErrorCode.TRACESTATE_WITHOUT_TRACEPARENT,
            "write with tracestate but no traceparent",
        )
        await expect_nothing_written(client, ctx.subject(), [])


# --------------------------------------------------------------------------------------------
# Preconditions
# --------------------------------------------------------------------------------------------


@scenario("precondition_is_subject_pristine_holds")
async def precondition_is_subject_pristine_holds(ctx: Context) -> None:
    subject = ctx.subject("books", "1")
    async with ctx.client() as client:
        # A nested subject with events does not make its parent non-pristine (not recursive).
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
        await ctx.refused(
            client.write_events(
                [candidate(subject, ctx.event_type("a"), {})], [esdb.IsSubjectPristine(subject)]
            ),
            esdb.ErrorCode.PRECONDITION_VIOLATED,
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
        # Only a nested subject has events; without recursion the subject itself is empty.
        await client.write_events(
            [candidate(ctx.subject("books", "1", "x"), ctx.event_type("a"), {})]
        )
        await ctx.refused(
            client.write_events(
                [candidate(subject, ctx.event_type("b"), {})], [esdb.IsSubjectPopulated(subject)]
            ),
            esdb.ErrorCode.PRECONDITION_VIOLATED,
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
        await ctx.refused(
            client.write_events(
                [candidate(subject, ctx.event_type("c"), {})],
                [esdb.IsSubjectOnEventId(subject, written[0].event_id)],
            ),
            esdb.ErrorCode.PRECONDITION_VIOLATED,
            "IsSubjectOnEventId with an id that is not the latest",
        )
        await expect_nothing_written(client, subject, ids(written))
        # A subject without events is on no event id (open-questions-resolved.md §2.8).
        await ctx.refused(
            client.write_events(
                [candidate(empty, ctx.event_type("c"), {})],
                [esdb.IsSubjectOnEventId(empty, written[1].event_id)],
            ),
            esdb.ErrorCode.PRECONDITION_VIOLATED,
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
        await ctx.refused(
            client.write_events(
                [candidate(subject, ctx.event_type("a"), {})],
                [esdb.IsEventQlQueryTrue(count_query(subject, "== 0"))],
            ),
            esdb.ErrorCode.PRECONDITION_VIOLATED,
            "IsEventQlQueryTrue with a false query",
        )
        await expect_nothing_written(client, subject, ids(written))


@scenario("precondition_is_eventql_query_true_not_boolean_refused")
async def precondition_is_eventql_query_true_not_boolean_refused(ctx: Context) -> None:
    subject = ctx.subject("books", "1")
    async with ctx.client() as client:
        # Not false but no boolean at all: its own error (open-questions-resolved.md §2.7).
        await ctx.refused(
            client.write_events(
                [candidate(subject, ctx.event_type("a"), {})],
                [
                    esdb.IsEventQlQueryTrue(
                        f'FROM e IN events WHERE e.subject == "{subject}" PROJECT INTO COUNT()'
                    )
                ],
            ),
            esdb.ErrorCode.QUERY_NOT_BOOLEAN,
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
        await ctx.refused(
            client.write_events(
                [candidate(populated, ctx.event_type("b"), {})],
                [esdb.IsSubjectPopulated(populated), esdb.IsSubjectPristine(pristine)],
            ),
            esdb.ErrorCode.PRECONDITION_VIOLATED,
            "write where the second of two preconditions fails",
        )


def recursive(value: bool) -> Any:
    return esdb.PreconditionOptions(recursive=value)


async def expect_incompatible(ctx: Context, client: Any, precondition: Any) -> None:
    """Without the v2 API, 2.2.4 asks the server again (GET /api/v2/system/ping, which must
    answer 404 or 405) and refuses a recursive precondition before sending the write."""
    subject = ctx.subject("incompatible")
    try:
        result = await client.write_events(
            [candidate(subject, ctx.event_type("a"), {})], [precondition]
        )
    except esdb.IncompatibleServerError:
        await expect_nothing_written(client, subject, [])
        return
    raise AssertionError(
        f"recursive precondition on a server without the v2 API: expected "
        f"IncompatibleServerError, got {result!r}"
    )


@scenario("precondition_recursive_is_subject_pristine")
async def precondition_recursive_is_subject_pristine(ctx: Context) -> None:
    parent, child = ctx.subject("library"), ctx.subject("library", "books", "1")
    async with ctx.client() as client:
        await client.write_events([candidate(child, ctx.event_type("a"), {})])
        # Not recursive (explicitly False): the parent itself has no events, so it holds.
        written = await client.write_events(
            [candidate(ctx.subject("log"), ctx.event_type("a"), {})],
            [esdb.IsSubjectPristine(parent, options=recursive(False))],
        )
        expect_equal(len(written), 1, "events written with a non-recursive pristine check")
        if ctx.api == "v1":
            await expect_incompatible(
                ctx, client, esdb.IsSubjectPristine(parent, options=recursive(True))
            )
            return
        # Recursive: a nested subject has an event, so it fails.
        await ctx.refused(
            client.write_events(
                [candidate(parent, ctx.event_type("a"), {})],
                [esdb.IsSubjectPristine(parent, options=recursive(True))],
            ),
            esdb.ErrorCode.PRECONDITION_VIOLATED,
            "recursive IsSubjectPristine with an event in a nested subject",
        )
        await expect_nothing_written(client, parent, [])
        # Recursive on a subtree without any event: holds.
        written = await client.write_events(
            [candidate(ctx.subject("fresh"), ctx.event_type("a"), {})],
            [esdb.IsSubjectPristine(ctx.subject("fresh"), options=recursive(True))],
        )
        expect_equal(len(written), 1, "events written with a recursive pristine check")


@scenario("precondition_recursive_is_subject_populated")
async def precondition_recursive_is_subject_populated(ctx: Context) -> None:
    parent, child = ctx.subject("library"), ctx.subject("library", "books", "1")
    async with ctx.client() as client:
        await client.write_events([candidate(child, ctx.event_type("a"), {})])
        # Not recursive (explicitly False): only nested subjects have events, so it fails.
        await ctx.refused(
            client.write_events(
                [candidate(ctx.subject("x"), ctx.event_type("a"), {})],
                [
                    esdb.IsSubjectPopulated(
                        ctx.subject("library", "books"), options=recursive(False)
                    )
                ],
            ),
            esdb.ErrorCode.PRECONDITION_VIOLATED,
            "non-recursive IsSubjectPopulated on a subject whose children alone have events",
        )
        if ctx.api == "v1":
            await expect_incompatible(
                ctx, client, esdb.IsSubjectPopulated(parent, options=recursive(True))
            )
            return
        written = await client.write_events(
            [candidate(parent, ctx.event_type("a"), {})],
            [esdb.IsSubjectPopulated(parent, options=recursive(True))],
        )
        expect_equal(len(written), 1, "events written with a recursive populated check")
        empty = ctx.subject("empty")
        await client.write_events([candidate(ctx.subject("emptyish"), ctx.event_type("a"), {})])
        await ctx.refused(
            client.write_events(
                [candidate(empty, ctx.event_type("a"), {})],
                [esdb.IsSubjectPopulated(empty, options=recursive(True))],
            ),
            esdb.ErrorCode.PRECONDITION_VIOLATED,
            "recursive IsSubjectPopulated on a subtree without events (a sibling with a longer "
            "name has events)",
        )


@scenario("precondition_recursive_is_subject_on_event_id")
async def precondition_recursive_is_subject_on_event_id(ctx: Context) -> None:
    parent = ctx.subject("library")
    async with ctx.client() as client:
        own = await client.write_events([candidate(parent, ctx.event_type("a"), {})])
        nested = await client.write_events(
            [candidate(ctx.subject("library", "books", "1"), ctx.event_type("a"), {})]
        )
        # Not recursive: the subject's own latest event counts.
        written = await client.write_events(
            [candidate(ctx.subject("log"), ctx.event_type("a"), {})],
            [esdb.IsSubjectOnEventId(parent, own[0].event_id, options=recursive(False))],
        )
        expect_equal(len(written), 1, "events written with a non-recursive on-event-id check")
        if ctx.api == "v1":
            await expect_incompatible(
                ctx,
                client,
                esdb.IsSubjectOnEventId(parent, nested[0].event_id, options=recursive(True)),
            )
            return
        # Recursive: the latest event among the subject and its nested subjects counts.
        written = await client.write_events(
            [candidate(ctx.subject("log"), ctx.event_type("a"), {})],
            [esdb.IsSubjectOnEventId(parent, nested[0].event_id, options=recursive(True))],
        )
        expect_equal(len(written), 1, "events written with a recursive on-event-id check")
        await ctx.refused(
            client.write_events(
                [candidate(parent, ctx.event_type("a"), {})],
                [esdb.IsSubjectOnEventId(parent, own[0].event_id, options=recursive(True))],
            ),
            esdb.ErrorCode.PRECONDITION_VIOLATED,
            "recursive IsSubjectOnEventId with the subject's own (not the latest nested) id",
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
        all_events = await read(client, "/", recursive=True)
        all_ids = ids(all_events)
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


@scenario("read_events_lower_bound_inclusive")
async def read_events_lower_bound_inclusive(ctx: Context) -> None:
    async with ctx.client() as client:
        books = await write_books(ctx, client)
        expect_equal(
            ids(
                await read(
                    client, ctx.subject("books"), recursive=True, lower_bound=bound(books[1], True)
                )
            ),
            ids(books[1:]),
            "read with an inclusive lower bound",
        )


@scenario("read_events_lower_bound_exclusive")
async def read_events_lower_bound_exclusive(ctx: Context) -> None:
    async with ctx.client() as client:
        books = await write_books(ctx, client)
        expect_equal(
            ids(
                await read(
                    client, ctx.subject("books"), recursive=True, lower_bound=bound(books[1], False)
                )
            ),
            ids(books[2:]),
            "read with an exclusive lower bound",
        )


@scenario("read_events_upper_bound_inclusive")
async def read_events_upper_bound_inclusive(ctx: Context) -> None:
    async with ctx.client() as client:
        books = await write_books(ctx, client)
        expect_equal(
            ids(
                await read(
                    client, ctx.subject("books"), recursive=True, upper_bound=bound(books[2], True)
                )
            ),
            ids(books[:3]),
            "read with an inclusive upper bound",
        )


@scenario("read_events_upper_bound_exclusive")
async def read_events_upper_bound_exclusive(ctx: Context) -> None:
    async with ctx.client() as client:
        books = await write_books(ctx, client)
        expect_equal(
            ids(
                await read(
                    client, ctx.subject("books"), recursive=True, upper_bound=bound(books[2], False)
                )
            ),
            ids(books[:2]),
            "read with an exclusive upper bound",
        )


@scenario("read_events_both_bounds")
async def read_events_both_bounds(ctx: Context) -> None:
    async with ctx.client() as client:
        books = await write_books(ctx, client)
        subject = ctx.subject("books")
        expect_equal(
            ids(
                await read(
                    client,
                    subject,
                    recursive=True,
                    lower_bound=bound(books[1], True),
                    upper_bound=bound(books[2], True),
                )
            ),
            ids(books[1:3]),
            "read between two inclusive bounds",
        )
        expect_equal(
            ids(
                await read(
                    client,
                    subject,
                    recursive=True,
                    order=esdb.Order.ANTICHRONOLOGICAL,
                    lower_bound=bound(books[0], False),
                    upper_bound=bound(books[3], False),
                )
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
            expect_equal(
                ids(
                    await read(
                        client,
                        ctx.subject("books"),
                        recursive=True,
                        from_latest_event=read_from_latest(
                            ctx.subject("books", "1"), ctx.event_type("book-borrowed"), if_missing
                        ),
                    )
                ),
                ids(books[2:]),
                f"read from the latest event (present, {if_missing})",
            )


@scenario("read_events_from_latest_event_missing_read_nothing")
async def read_events_from_latest_event_missing_read_nothing(ctx: Context) -> None:
    async with ctx.client() as client:
        await write_books(ctx, client)
        expect_equal(
            ids(
                await read(
                    client,
                    ctx.subject("books"),
                    recursive=True,
                    from_latest_event=read_from_latest(
                        ctx.subject("books", "1"), ctx.event_type("book-returned"), "READ_NOTHING"
                    ),
                )
            ),
            [],
            "read from a missing latest event with read-nothing",
        )


@scenario("read_events_from_latest_event_missing_read_everything")
async def read_events_from_latest_event_missing_read_everything(ctx: Context) -> None:
    async with ctx.client() as client:
        books = await write_books(ctx, client)
        expect_equal(
            ids(
                await read(
                    client,
                    ctx.subject("books"),
                    recursive=True,
                    from_latest_event=read_from_latest(
                        ctx.subject("books", "1"),
                        ctx.event_type("book-returned"),
                        "READ_EVERYTHING",
                    ),
                )
            ),
            ids(books),
            "read from a missing latest event with read-everything",
        )


@scenario("read_events_from_latest_event_beyond_upper_bound_refused")
async def read_events_from_latest_event_beyond_upper_bound_refused(ctx: Context) -> None:
    async with ctx.client() as client:
        books = await write_books(ctx, client)
        await ctx.refused(
            read(
                client,
                ctx.subject("books"),
                recursive=True,
                upper_bound=bound(books[1], True),
                from_latest_event=read_from_latest(
                    ctx.subject("books", "1"), ctx.event_type("book-borrowed"), "READ_NOTHING"
                ),
            ),
            esdb.ErrorCode.RANGE_UNSATISFIABLE,
            "fromLatestEvent above the upper bound",
        )


@scenario("read_events_lower_bound_with_from_latest_event_refused")
async def read_events_lower_bound_with_from_latest_event_refused(ctx: Context) -> None:
    async with ctx.client() as client:
        books = await write_books(ctx, client)
        await ctx.refused(
            read(
                client,
                ctx.subject("books"),
                recursive=True,
                lower_bound=bound(books[0], True),
                from_latest_event=read_from_latest(
                    ctx.subject("books", "1"), ctx.event_type("book-borrowed"), "READ_NOTHING"
                ),
            ),
            None,
            "lowerBound together with fromLatestEvent",
        )


@scenario("read_events_malformed_bound_refused")
async def read_events_malformed_bound_refused(ctx: Context) -> None:
    malformed = esdb.ErrorCode.EVENT_ID_MALFORMED
    # A server decoding into a string cannot tell "" from a missing id, so both codes fit "".
    cases = (
        ("hello", {malformed}),
        ("-1", {malformed}),
        ("", {malformed, esdb.ErrorCode.EVENT_ID_MISSING}),
    )
    async with ctx.client() as client:
        await write_books(ctx, client)
        for bound_id, codes in cases:
            error = await ctx.refused(
                read(
                    client,
                    ctx.subject("books"),
                    recursive=True,
                    lower_bound=esdb.Bound(id=bound_id, type=esdb.BoundType.INCLUSIVE),
                ),
                None,
                f"lower bound id {bound_id!r}",
            )
            if ctx.api == "v2":
                expect(
                    error.code in codes,
                    f"lower bound id {bound_id!r}: code {error.code!r} is not one of {codes}",
                )
            else:
                expect_equal(error.status, 400, f"v1 status for lower bound id {bound_id!r}")


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


@scenario("observe_events_heartbeats_within_stall_timeout")
async def observe_events_heartbeats_within_stall_timeout(ctx: Context) -> None:
    subject = ctx.subject("quiet")
    # With a stall timeout of 2.5 s, the stream survives a quiet 4 s only if heartbeats arrive.
    async with ctx.client(stall_timeout=2.5) as client, observing(client, subject) as observation:
        await observation.nothing_within(4.0)
        live = await client.write_events([candidate(subject, ctx.event_type("a"), {})])
        await expect_observed(observation, live, "event after a quiet period")


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
        await ctx.refused(
            query(client, "FROM e IN events PROJECT"),
            esdb.ErrorCode.QUERY_MALFORMED,
            "malformed EventQL query",
            # Over v1 a 400 and an error line (status 200) are both allowed (§2.6).
            v1_status=None,
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
            (registered.type, registered.has_events, registered.schema),
            (event_type, False, BOOK_SCHEMA),
            "event type right after registering its schema",
        )
        written = await client.write_events(
            [candidate(ctx.subject("books", "1"), event_type, {"title": "ok", "pages": 3})]
        )
        expect_equal(len(written), 1, "events that match the schema")
        used = await client.read_event_type(event_type)
        expect_equal(
            (used.type, used.has_events, used.schema),
            (event_type, True, BOOK_SCHEMA),
            "event type after an event of it was written",
        )


@scenario("register_event_schema_duplicate_refused")
async def register_event_schema_duplicate_refused(ctx: Context) -> None:
    event_type = ctx.event_type("book-acquired")
    async with ctx.client() as client:
        await client.register_event_schema(event_type, BOOK_SCHEMA)
        await ctx.refused(
            client.register_event_schema(event_type, {"type": "object", "properties": {}}),
            esdb.ErrorCode.EVENT_SCHEMA_ALREADY_REGISTERED,
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
            await ctx.refused(
                client.write_events([candidate(subject, event_type, data)]),
                esdb.ErrorCode.EVENT_SCHEMA_VIOLATED,
                f"write of {data!r}, which violates the schema",
            )
        # All or nothing: a valid candidate next to an invalid one is not written either.
        await ctx.refused(
            client.write_events(
                [
                    candidate(subject, event_type, {"title": "fine"}),
                    candidate(subject, event_type, {"title": "x", "extra": True}),
                ]
            ),
            esdb.ErrorCode.EVENT_SCHEMA_VIOLATED,
            "write of a valid and an invalid candidate",
        )
        await expect_nothing_written(client, subject, [])


@scenario("register_event_schema_invalid_refused")
async def register_event_schema_invalid_refused(ctx: Context) -> None:
    event_type = ctx.event_type("book-acquired")
    async with ctx.client() as client:
        error = await ctx.refused(
            client.register_event_schema(event_type, {"type": "gurkenwasser", "properties": {}}),
            None,
            "registering an invalid schema",
        )
        if ctx.api == "v2":
            expect(
                error.code
                in (esdb.ErrorCode.EVENT_SCHEMA_MALFORMED, esdb.ErrorCode.EVENT_SCHEMA_NOT_OBJECT),
                f"code of an invalid schema: {error.code!r} (status {error.status})",
            )
        else:
            # Not one of the 409 texts, so most likely 400 (open-questions-resolved.md §2.5).
            expect_equal(error.status, 400, "v1 status of an invalid schema")
        await ctx.refused(
            client.read_event_type(event_type),
            esdb.ErrorCode.EVENT_TYPE_UNKNOWN,
            "event type whose only schema was refused",
        )


@scenario("register_event_schema_existing_events_violate_refused")
async def register_event_schema_existing_events_violate_refused(ctx: Context) -> None:
    event_type = ctx.event_type("greeted")
    async with ctx.client() as client:
        await client.write_events([candidate(ctx.subject("a"), event_type, {"oy": "gevalt"})])
        await ctx.refused(
            client.register_event_schema(
                event_type,
                {
                    "type": "object",
                    "properties": {"hello": {"type": "string"}},
                    "additionalProperties": False,
                },
            ),
            esdb.ErrorCode.EVENT_SCHEMA_VIOLATED,
            "registering a schema that a stored event violates",
        )
        expect_equal(
            (await client.read_event_type(event_type)).schema,
            None,
            "schema after the refused registration",
        )


@scenario("read_subjects_recursive")
async def read_subjects_recursive(ctx: Context) -> None:
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
        subjects = await collect(
            client.read_subjects(root, esdb.ReadSubjectsOptions(recursive=True))
        )
        expect_equal(
            subjects,
            [root, ctx.subject("a"), ctx.subject("a", "b"), ctx.subject("c")],
            f"subjects below {root}",
        )
        everything = await collect(
            client.read_subjects("/", esdb.ReadSubjectsOptions(recursive=True))
        )
        expect(everything[:1] == ["/"], f"subjects below / start with / ({everything[:3]!r})")
        expect(
            [subject for subject in everything if subject == root or subject.startswith(root + "/")]
            == subjects,
            f"subjects below / contain the scenario's subjects in order ({everything!r})",
        )
        expect_equal(
            await collect(
                client.read_subjects(ctx.subject("zzz"), esdb.ReadSubjectsOptions(recursive=True))
            ),
            [],
            "subjects below an unknown subject",
        )


@scenario("read_subjects_non_recursive")
async def read_subjects_non_recursive(ctx: Context) -> None:
    event_type = ctx.event_type("happened")
    async with ctx.client() as client:
        await client.write_events(
            [
                candidate(ctx.subject("a"), event_type, {}),
                candidate(ctx.subject("a", "b"), event_type, {}),
            ]
        )
        expect_equal(
            await collect(
                client.read_subjects(ctx.subject("a"), esdb.ReadSubjectsOptions(recursive=False))
            ),
            [ctx.subject("a")],
            "non-recursive read of an existing subject",
        )
        expect_equal(
            await collect(
                client.read_subjects(ctx.subject("zzz"), esdb.ReadSubjectsOptions(recursive=False))
            ),
            [],
            "non-recursive read of an unknown subject",
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
        mine = {item.type: item for item in listed if item.type.startswith(ctx.event_type(""))}
        expect_equal(sorted(mine), sorted([plain, other, phantom]), "the scenario's event types")
        expect_equal((mine[plain].has_events, mine[plain].schema), (True, None), plain)
        expect_equal((mine[other].has_events, mine[other].schema), (True, BOOK_SCHEMA), other)
        expect_equal(
            (mine[phantom].has_events, mine[phantom].schema), (False, BOOK_SCHEMA), phantom
        )
        names = [item.type for item in listed]
        expect_equal(len(names), len(set(names)), "every event type is listed once")


@scenario("read_event_type_known")
async def read_event_type_known(ctx: Context) -> None:
    event_type = ctx.event_type("plain")
    async with ctx.client() as client:
        await client.write_events([candidate(ctx.subject("a"), event_type, {})])
        known = await client.read_event_type(event_type)
        expect(isinstance(known, esdb.EventType), f"{known!r} is not an EventType")
        expect_equal(
            (known.type, known.has_events, known.schema), (event_type, True, None), "event type"
        )


@scenario("read_event_type_unknown")
async def read_event_type_unknown(ctx: Context) -> None:
    async with ctx.client() as client:
        await ctx.refused(
            client.read_event_type(ctx.event_type("never-written")),
            esdb.ErrorCode.EVENT_TYPE_UNKNOWN,
            "reading an unknown event type",
        )


@scenario("read_event_type_malformed")
async def read_event_type_malformed(ctx: Context) -> None:
    async with ctx.client() as client:
        await ctx.refused(
            client.read_event_type("malformed.event.type."),
            esdb.ErrorCode.EVENT_TYPE_MALFORMED,
            "reading a malformed event type",
        )


# --------------------------------------------------------------------------------------------
# Integrity: hashes and signatures
# --------------------------------------------------------------------------------------------


def expect_verification_error(check: Callable[[], Any], error_type: Any, what: str) -> None:
    try:
        check()
    except error_type:
        return
    raise AssertionError(f"{what}: expected {error_type.__name__}, but verification passed")


@scenario("verify_hash")
async def verify_hash(ctx: Context) -> None:
    subject, event_type = ctx.subject("books", "1"), ctx.event_type("happened")
    async with ctx.client() as client:
        written = await client.write_events(
            [candidate(subject, event_type, {"n": n, "title": f"t{n}"}) for n in range(3)]
        )
        for event in written:
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
        tampered._time_from_server = read_back[0]._time_from_server  # not copied by replace
        expect_verification_error(
            tampered.verify_hash, esdb.HashVerificationFailedError, "hash of changed data"
        )


@scenario("verify_hash_special_characters")
async def verify_hash_special_characters(ctx: Context) -> None:
    # The server escapes <, > and & and keeps other non-ASCII raw (http-api.md §3.4); the
    # client hashes the data exactly as received, so the emulator must hash what it sends.
    subject, event_type = ctx.subject("texts", "1"), ctx.event_type("written")
    data = {
        "z": "<&> é 😀 \u2028",
        "a": {"y": [1, 2.5, "x", None, True], "b": "tab\there"},
        "m": 'quote " backslash \\',
    }
    async with ctx.client() as client:
        written = await client.write_events([candidate(subject, event_type, data)])
        written[0].verify_hash()
        read_back = await read(client, subject)
        expect_equal(read_back[0].data, data, "data read back")
        read_back[0].verify_hash()
        read_back[0].verify_signature(ctx.verification_key)


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
            esdb.SignatureVerificationFailedError,
            "signature checked with another key",
        )


def hash_version_of(event_hash: str) -> int:
    expect(bool(HASH_PATTERN.match(event_hash)), f"malformed hash {event_hash!r}")
    return 2 if event_hash.startswith("esdb:hash:v2:") else 1


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
        versions = {hash_version_of(event.hash) for event in chain}
        expect_equal(len(versions), 1, "hash versions in one chain")
        if ctx.hash_version is not None:
            expect_equal(versions, {ctx.hash_version}, "hash version the server was started with")
        for event in chain:
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
                # The v2 hash covers the trace fields (http-api-v2.md §5).
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
    parser.add_argument(
        "--api",
        choices=("v1", "v2"),
        default=os.environ.get("ESDB_EXPECTED_API", "v2"),
        help="the API the client must choose: v2, or v1 for a server without the v2 API",
    )
    parser.add_argument(
        "--hash-version",
        type=int,
        choices=(1, 2),
        default=None,
        help="the hash version the server writes, when known",
    )
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
        api=arguments.api,
        hash_version=arguments.hash_version,
    )
    names = arguments.scenario or list(SCENARIOS)
    return 0 if asyncio.run(run(names, base)) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
