"""Fixtures of the emulator tests: a fresh in-process server and raw httpx clients for it.

The tests speak HTTP with plain httpx (never through the SDK client), so they check the emulator
against the spec and nothing else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from eventsourcingdb.emulator import EmulatorServer, ServerOptions
from tests.emulator.emulator_helpers import AUTH, BASE_URL, HEARTBEAT, Api, Calls


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    """A fresh emulated server with short heartbeats."""
    emulated = EmulatorServer(ServerOptions(heartbeat_interval=HEARTBEAT))
    try:
        yield emulated
    finally:
        emulated.close()


@pytest.fixture
async def http(server: EmulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client that reaches `server` in process and sends the right token."""
    async with httpx.AsyncClient(
        transport=server.async_transport(), base_url=BASE_URL, headers=AUTH
    ) as client:
        yield client


@pytest.fixture(params=[1, 2], ids=["v1", "v2"])
def api(request: pytest.FixtureRequest) -> Api:
    """Each API version in turn."""
    return Api(request.param)


@pytest.fixture
def calls(http: httpx.AsyncClient, api: Api) -> Calls:
    """Route shortcuts for the API version under test."""
    return Calls(http, api)
