"""Fixtures of the client tests: a scripted fake server over httpx's mock transport, and the
emulator in both API modes (v2 + v1, and v1 only) for integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from eventsourcingdb import Client
from tests.client.client_fakes import BASE_URL, TOKEN, FakeServer


@pytest.fixture(params=[2, 1], ids=["v2", "v1"])
def api(request: pytest.FixtureRequest) -> int:
    """The API version the fake server speaks (v2 servers also speak v1)."""
    version: int = request.param
    return version


@pytest.fixture
def fake(api: int) -> FakeServer:
    """A fake server speaking `api` (v2 means both APIs)."""
    return FakeServer((1, 2) if api == 2 else (1,))


@pytest.fixture
async def http_client(fake: FakeServer) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client whose requests go to `fake`."""
    async with httpx.AsyncClient(transport=fake.transport()) as http:
        yield http


@pytest.fixture
async def mock_client(http_client: httpx.AsyncClient) -> AsyncIterator[Client]:
    """A Client talking to the fake server, with short timeouts."""
    async with Client(
        BASE_URL, TOKEN, http_client=http_client, timeout=2.0, stall_timeout=0.5
    ) as client:
        yield client


# --- the emulator ----------------------------------------------------------------------------


@pytest.fixture(params=["v2", "v1-only"])
def emulator(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The in-process emulator, speaking both APIs or only v1, with a signing key."""
    emulator_module = pytest.importorskip("eventsourcingdb.emulator")
    instance = emulator_module.Emulator(in_process=True).with_signing_key()
    if request.param == "v1-only":
        instance = instance.with_api_versions(1)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
async def client(emulator: Any) -> AsyncIterator[Client]:
    """A Client talking to `emulator` in process."""
    async with (
        httpx.AsyncClient(transport=emulator.async_transport()) as http,
        Client(
            emulator.get_base_url(),
            emulator.get_api_token(),
            http_client=http,
            stall_timeout=10.0,
        ) as esdb,
    ):
        yield esdb
