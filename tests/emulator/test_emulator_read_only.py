"""Read-only mode: `run --read-only` or a management call; writes refused as the real server
refuses them, reads, observations and queries go on; a restart without the flag leaves it."""

from __future__ import annotations

import json

import httpx
import pytest

from eventsourcingdb import StoreReadOnlyError
from eventsourcingdb.emulator import Emulator, EmulatorServer, ServerOptions
from eventsourcingdb.emulator.__main__ import _configure, _parsers
from tests.emulator.emulator_helpers import AUTH, BASE_URL, Calls, candidate

READ_ONLY_TEXT = "the current operation mode conflicts with the given request"
SCHEMA = {"type": "object", "properties": {}}


async def _put_into_read_only_mode(http: httpx.AsyncClient) -> httpx.Response:
    return await http.post("/api/v1/put-into-read-only-mode")


async def test_the_management_call_puts_a_running_server_into_read_only_mode(
    calls: Calls, http: httpx.AsyncClient
) -> None:
    written = await calls.write(candidate())
    entered = await _put_into_read_only_mode(http)
    assert entered.status_code == 200
    event = entered.json()
    assert (event["type"], event["source"], event["id"]) == (
        "io.eventsourcingdb.api.read-only-mode-enabled",
        "https://www.eventsourcingdb.io",
        "0",
    )
    code = None if calls.api.version == 1 else "store-read-only"
    status = 503 if calls.api.version == 1 else 200
    assert await calls.refusal("write-events", {"events": [candidate()]}) == (
        status,
        READ_ONLY_TEXT,
        code,
    )
    register = {"eventType" if calls.api.version == 1 else "type": "io.x.y", "schema": SCHEMA}
    assert await calls.refusal("register-event-schema", register) == (status, READ_ONLY_TEXT, code)
    assert await calls.read() == written, "reads go on"
    method, path = calls.api.route("run-eventql-query")
    query = await calls.http.request(
        method, path, json={"query": "FROM e IN events PROJECT INTO COUNT()"}
    )
    assert '"row"' in query.text
    assert (await calls.http.get(calls.api.route("ping")[1])).status_code == 200


async def test_entering_read_only_mode_twice_is_refused(http: httpx.AsyncClient) -> None:
    assert (await _put_into_read_only_mode(http)).status_code == 200
    again = await _put_into_read_only_mode(http)
    assert (again.status_code, again.text) == (503, READ_ONLY_TEXT + "\n")
    unauthorized = await http.post(
        "/api/v1/put-into-read-only-mode", headers={"authorization": "Bearer wrong"}
    )
    assert unauthorized.status_code == 401


async def test_a_server_started_read_only_refuses_writes_from_the_start() -> None:
    server = EmulatorServer(ServerOptions(read_only=True))
    try:
        async with httpx.AsyncClient(
            transport=server.async_transport(), base_url=BASE_URL, headers=AUTH
        ) as http:
            answer = await http.post("/api/v2/data/write-events", json={"events": [candidate()]})
            (line,) = [json.loads(text) for text in answer.text.splitlines()]
            assert line["data"]["code"] == "https://docs.eventsourcingdb.io/errors/store-read-only"
            again = await _put_into_read_only_mode(http)
            assert again.status_code == 503
    finally:
        server.close()


@pytest.mark.parametrize("api_version", [1, 2])
async def test_our_client_raises_store_read_only_error(api_version: int) -> None:
    with Emulator(in_process=True).with_read_only() as emulator:
        async with emulator.get_client(api_version=api_version) as client:
            with pytest.raises(StoreReadOnlyError) as refused:
                await client.write_events([candidate()])
            assert refused.value.description == READ_ONLY_TEXT
            assert [event async for event in client.read_events("/")] == []


async def test_a_restart_without_the_flag_leaves_read_only_mode() -> None:
    with Emulator(in_process=True) as emulator:
        async with httpx.AsyncClient(
            transport=emulator.async_transport(), base_url=BASE_URL, headers=AUTH
        ) as http:
            assert (await _put_into_read_only_mode(http)).status_code == 200
        emulator.restart()
        async with emulator.get_client() as client:
            assert len(await client.write_events([candidate()])) == 1


def test_the_command_line_flag_starts_in_read_only_mode() -> None:
    parser, run = _parsers()
    for flag, expected in (("--read-only", True), ("--read-only=false", False)):
        arguments = parser.parse_args(
            ["run", "--api-token", "t", "--http-enabled", "--https-enabled=false", flag]
        )
        assert _configure(arguments, run).options().read_only is expected
