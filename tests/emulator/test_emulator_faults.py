"""Fault injection: refusals, dropped and stalled streams, lost write answers and restarts.

Each fault is checked over both front ends with plain httpx, so what a client sees is what any
HTTP client would see from a flaky server.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from eventsourcingdb.emulator import Emulator
from eventsourcingdb.errors import InvalidArgumentError
from tests.emulator.emulator_helpers import AUTH, candidate

TIMEOUT = 10.0
OBSERVE = ("QUERY", "/api/v2/data/observe-events")
WRITE = ("POST", "/api/v2/data/write-events")


@pytest.fixture(params=[True, False], ids=["in-process", "socket"])
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """A running emulator with short heartbeats, in process and on a socket."""
    with Emulator(in_process=request.param).with_heartbeat_interval(0.1) as running:
        yield running


@pytest.fixture
async def http(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """Plain httpx, through the emulator's front end under test."""
    transport = emulator.async_transport() if emulator.get_host() == "emulator.invalid" else None
    async with httpx.AsyncClient(
        transport=transport, base_url=emulator.get_base_url(), headers=AUTH, timeout=TIMEOUT
    ) as client:
        yield client


async def _write(http: httpx.AsyncClient, subject: str = "/books/42") -> httpx.Response:
    return await http.request(*WRITE, json={"events": [candidate(subject)]})


async def _ids(http: httpx.AsyncClient) -> list[str]:
    response = await http.request(
        "QUERY", "/api/v2/data/read-events", json={"subject": "/", "options": {"recursive": True}}
    )
    return [line["data"]["id"] for line in _json_lines(response.text) if line["type"] == "event"]


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# --- refusals ----------------------------------------------------------------------------------


async def test_refused_requests_get_the_status_and_retry_after(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    emulator.faults.refuse_next(2, status=429, retry_after=7)
    emulator.faults.refuse_next(1, status=500)
    first = await http.get("/api/v2/system/ping")
    second = await _write(http)
    third = await http.get("/api/v1/ping")
    fourth = await http.get("/api/v2/system/ping")
    assert [first.status_code, second.status_code, third.status_code] == [429, 429, 500]
    assert first.headers["retry-after"] == "7"
    assert "retry-after" not in third.headers
    assert first.headers["server"].startswith("EventSourcingDB/")
    assert first.text == "too many requests (injected by the emulator's faults.refuse_next)\n"
    assert fourth.status_code == 200
    assert await _ids(http) == [], "a refused write is not executed"


async def test_refusals_can_be_cleared(emulator: Emulator, http: httpx.AsyncClient) -> None:
    emulator.faults.refuse_next(5)
    assert (await http.get("/api/v2/system/ping")).status_code == 503
    emulator.faults.clear()
    assert (await http.get("/api/v2/system/ping")).status_code == 200


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"count": 0}, "count must be a positive integer"),
        ({"count": True}, "count must be a positive integer"),
        ({"status": 200}, "status must be an HTTP error status"),
        ({"status": 499}, "status 499 is not a known HTTP status"),
        ({"retry_after": -1}, "retry_after must be a whole number of seconds"),
        ({"retry_after": 1.5}, "retry_after must be a whole number of seconds"),
    ],
)
def test_bad_fault_arguments_are_refused(
    emulator: Emulator, arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        emulator.faults.refuse_next(**arguments)  # type: ignore[arg-type]


def test_bad_stall_and_lost_answer_arguments_are_refused(emulator: Emulator) -> None:
    with pytest.raises(InvalidArgumentError, match="seconds must be a number >= 0"):
        emulator.faults.stall_streams(-1)
    with pytest.raises(InvalidArgumentError, match="count must be a positive integer"):
        emulator.faults.lose_next_write_answer(0)


# --- lost answers ------------------------------------------------------------------------------


async def test_a_lost_write_answer_leaves_the_write_stored(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    emulator.faults.lose_next_write_answer()
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        await _write(http)
    assert await _ids(http) == ["0"]
    answered = await _write(http)
    assert answered.status_code == 200
    assert await _ids(http) == ["0", "1"]


async def test_a_refused_write_does_not_use_up_a_lost_answer(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    emulator.faults.lose_next_write_answer()
    refused = await http.request(*WRITE, json={"events": []})
    assert refused.status_code == 200
    assert "events-missing" in refused.text
    with pytest.raises(httpx.RemoteProtocolError):
        await _write(http)
    assert await _ids(http) == ["0"]


# --- streams -----------------------------------------------------------------------------------


async def _next_line(lines: AsyncIterator[str]) -> str:
    async for line in lines:
        if line.strip():
            return line
    raise AssertionError("the stream ended")


async def _drain(lines: AsyncIterator[str]) -> None:
    async for _ in lines:
        pass


async def test_dropped_streams_break_off_and_release_their_observations(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    await _write(http)
    async with asyncio.timeout(TIMEOUT):
        async with http.stream(*OBSERVE, json={"subject": "/books/42"}) as response:
            lines = response.aiter_lines()
            assert '"type":"event"' in await _next_line(lines)
            assert emulator.faults.drop_streams() == 1
            with pytest.raises(httpx.RemoteProtocolError):
                await _drain(lines)
        while emulator.server.store.observation_count():  # noqa: ASYNC110 - released on the server's loop
            await asyncio.sleep(0.01)
    assert (await http.get("/api/v2/system/ping")).status_code == 200
    assert emulator.faults.drop_streams() == 0


async def test_dropped_streams_log_nothing(
    emulator: Emulator, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with asyncio.timeout(TIMEOUT):
        async with http.stream(*OBSERVE, json={"subject": "/"}) as response:
            lines = response.aiter_lines()
            await _next_line(lines)
            emulator.faults.drop_streams()
            with pytest.raises(httpx.RemoteProtocolError):
                await _drain(lines)
        emulator.faults.lose_next_write_answer()
        with pytest.raises(httpx.RemoteProtocolError):
            await _write(http)
        await http.get("/api/v2/system/ping")
    noisy = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert noisy == []


async def test_stalled_streams_send_nothing_not_even_heartbeats(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    async with asyncio.timeout(TIMEOUT):
        async with http.stream(*OBSERVE, json={"subject": "/"}) as response:
            lines = response.aiter_lines()
            assert "heartbeat" in await _next_line(lines)
            emulator.faults.stall_streams(60)
            await _write(http)  # writes go on; only streams stall
            pending = asyncio.ensure_future(_next_line(lines))
            done, _ = await asyncio.wait((pending,), timeout=1.0)  # ten heartbeat intervals
            assert not done, "a stalled stream sent something"
            emulator.faults.stall_streams(0)
            following = await pending
            assert "heartbeat" in following or '"type":"event"' in following


async def test_a_stall_holds_new_streams_too_and_a_drop_ends_it(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    emulator.faults.stall_streams(60)
    async with asyncio.timeout(TIMEOUT):
        async with http.stream(*OBSERVE, json={"subject": "/"}) as response:
            pending = asyncio.ensure_future(_next_line(response.aiter_lines()))
            done, _ = await asyncio.wait((pending,), timeout=0.5)
            assert not done
            emulator.faults.drop_streams()
            with pytest.raises(httpx.RemoteProtocolError):
                await pending
    emulator.faults.clear()


# --- restart -----------------------------------------------------------------------------------


async def test_a_restart_cuts_streams_and_keeps_the_events_on_the_same_address(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    await _write(http)
    url = emulator.get_base_url()
    async with asyncio.timeout(TIMEOUT):
        async with http.stream(*OBSERVE, json={"subject": "/"}) as response:
            lines = response.aiter_lines()
            await _next_line(lines)
            await asyncio.to_thread(emulator.restart)
            with pytest.raises(httpx.RemoteProtocolError):
                await _drain(lines)
    assert emulator.get_base_url() == url
    assert await _ids(http) == ["0"]
    await _write(http)
    assert await _ids(http) == ["0", "1"]


async def test_a_restart_with_open_streams_logs_nothing(
    emulator: Emulator, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The restart cuts the connections while the streams on them are being dropped: a stream
    that finds its connection gone already must not end in uvicorn's "Exception in ASGI
    application" traceback."""
    caplog.set_level(logging.DEBUG)
    async with asyncio.timeout(TIMEOUT):
        for _ in range(3):
            async with http.stream(*OBSERVE, json={"subject": "/"}) as response:
                lines = response.aiter_lines()
                await _next_line(lines)
                await asyncio.to_thread(emulator.restart)
                with pytest.raises(httpx.RemoteProtocolError):
                    await _drain(lines)
        await http.get("/api/v2/system/ping")
    noisy = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert noisy == []
