"""The client against a flaky server: the emulator's injected faults, over both front ends, for
both twins.

What docs/errors.md promises: a write whose answer is lost raises `OutcomeUnknownError` (and a
resend with a precondition cannot duplicate it), a refusal is a `ServerError` and nothing is
written, a broken stream raises `TransportError`, a silent one `StreamStalledError`, and the
client carries on once the server is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from eventsourcingdb import (
    Bound,
    BoundType,
    Client,
    ConcurrencyError,
    IsSubjectPristine,
    ObserveEventsOptions,
    OutcomeUnknownError,
    ServerError,
    StreamStalledError,
    TransportError,
)
from eventsourcingdb.emulator import Emulator
from tests.twins import Twin, server_client

TIMEOUT = 10.0
SUBJECT = "/books/42"


def _event(title: str) -> dict[str, Any]:
    return {
        "source": "https://library.eventsourcingdb.io",
        "subject": SUBJECT,
        "type": "io.eventsourcingdb.library.book-acquired",
        "data": {"title": title},
    }


@pytest.fixture(params=[True, False], ids=["in-process", "socket"])
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    with Emulator(in_process=request.param).with_heartbeat_interval(0.1) as running:
        yield running


@pytest.fixture
async def client(emulator: Emulator, twin: Twin) -> AsyncIterator[Client]:
    async with server_client(twin, emulator, stall_timeout=5.0) as connected:
        await connected.ping()  # the API version is settled before faults are armed
        yield connected


async def _titles(client: Client) -> list[str]:
    return [event.data["title"] async for event in client.read_events(SUBJECT)]


async def test_a_write_whose_answer_is_lost_raises_outcome_unknown_yet_was_stored(
    emulator: Emulator, client: Client
) -> None:
    emulator.faults.lose_next_write_answer()
    with pytest.raises(OutcomeUnknownError) as raised:
        await client.write_events([_event("Solaris")])
    assert raised.value.status is None
    assert await _titles(client) == ["Solaris"]


async def test_a_resend_with_a_precondition_cannot_duplicate_a_lost_write(
    emulator: Emulator, client: Client
) -> None:
    emulator.faults.lose_next_write_answer()
    with pytest.raises(OutcomeUnknownError):
        await client.write_events([_event("Solaris")], [IsSubjectPristine(SUBJECT)])
    with pytest.raises(ConcurrencyError):
        await client.write_events([_event("Solaris")], [IsSubjectPristine(SUBJECT)])
    assert await _titles(client) == ["Solaris"]


async def test_a_500_leaves_a_write_unknown_and_a_503_refuses_it(
    emulator: Emulator, client: Client
) -> None:
    emulator.faults.refuse_next(1, status=500)
    with pytest.raises(OutcomeUnknownError) as unknown:
        await client.write_events([_event("Solaris")])
    assert unknown.value.status == 500
    emulator.faults.refuse_next(1, status=503)
    with pytest.raises(ServerError) as refused:
        await client.write_events([_event("Solaris")])
    assert refused.value.status == 503
    assert await _titles(client) == [], "refused requests are not executed"
    await client.write_events([_event("Solaris")])
    assert await _titles(client) == ["Solaris"]


@pytest.mark.parametrize("status", [500, 503])
async def test_a_refused_read_raises_and_the_next_one_succeeds(
    emulator: Emulator, client: Client, status: int
) -> None:
    await client.write_events([_event("Solaris")])
    emulator.faults.refuse_next(1, status=status)
    with pytest.raises(ServerError) as refused:
        await _titles(client)
    assert refused.value.status == status
    assert await _titles(client) == ["Solaris"]


async def test_an_observer_sees_the_broken_connection_and_resumes_after_its_last_event(
    emulator: Emulator, client: Client
) -> None:
    await client.write_events([_event("Solaris"), _event("Ubik")])
    seen: list[str] = []

    async def observe() -> None:
        async for event in client.observe_events(SUBJECT):
            seen.append(event.event_id)
            if len(seen) == 2:
                emulator.faults.drop_streams()

    async with asyncio.timeout(TIMEOUT):
        with pytest.raises(TransportError, match="broke off"):
            await observe()
        await client.write_events([_event("Dune")])
        resumed = ObserveEventsOptions(lower_bound=Bound(seen[-1], BoundType.EXCLUSIVE))
        async for event in client.observe_events(SUBJECT, resumed):
            seen.append(event.event_id)
            break
    assert seen == ["0", "1", "2"]


async def test_a_stalled_observation_raises_stream_stalled_error(
    emulator: Emulator, twin: Twin
) -> None:
    async with server_client(twin, emulator, stall_timeout=0.3) as impatient:
        await impatient.ping()
        emulator.faults.stall_streams(60)
        try:
            async with asyncio.timeout(TIMEOUT):
                with pytest.raises(StreamStalledError):
                    await anext(impatient.observe_events(SUBJECT))
        finally:
            emulator.faults.clear()


async def test_the_client_carries_on_across_a_restart(emulator: Emulator, client: Client) -> None:
    await client.write_events([_event("Solaris")])
    assert await _titles(client) == ["Solaris"]  # a kept-alive connection is in the pool now
    await asyncio.to_thread(emulator.restart)
    assert await _titles(client) == ["Solaris"]
    await client.write_events([_event("Ubik")])
    assert await _titles(client) == ["Solaris", "Ubik"]
