"""Fixtures of the client tests: a scripted fake server and the emulator in both API modes (v2 +
v1, and v1 only), each reached through both backends of the client's transport:

* `httpx`: the client is given an httpx client (the fake's mock transport, the emulator's
  in-process transport);
* `aiohttp`: the client's own connection pool, on a loopback socket.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Literal

import httpx
import pytest

from eventsourcingdb import Client
from tests.client.client_fakes import BASE_URL, TOKEN, FakeServer

Backend = Literal["httpx", "aiohttp"]
Connect = Callable[..., contextlib.AbstractAsyncContextManager[Client]]


@pytest.fixture(params=["httpx", "aiohttp"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """The backend the client sends through (see the module's docstring)."""
    chosen: Backend = request.param
    return chosen


def refused_url() -> str:
    """The URL of a loopback port where nothing listens (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def connect(backend: Backend) -> Connect:
    """`async with connect(fake, **options) as client`: a Client of `fake` through `backend`;
    `connect(None)` gives a client of a server that refuses every connection."""

    @contextlib.asynccontextmanager
    async def open_client(
        fake: FakeServer | None, token: str = TOKEN, **options: Any
    ) -> AsyncIterator[Client]:
        if backend == "httpx":
            mock = httpx.MockTransport(_refuse) if fake is None else fake.transport()
            async with (
                httpx.AsyncClient(transport=mock) as http,
                Client(BASE_URL, token, http_client=http, **options) as client,
            ):
                yield client
            return
        if fake is None:
            async with Client(refused_url(), token, **options) as client:
                yield client
            return
        async with fake.serve() as url, Client(url, token, **options) as client:
            yield client

    return open_client


def _refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused")


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
async def mock_client(fake: FakeServer, connect: Connect) -> AsyncIterator[Client]:
    """A Client talking to the fake server through each backend, with short timeouts."""
    async with connect(fake, timeout=2.0, stall_timeout=0.5) as client:
        yield client


# --- the emulator ----------------------------------------------------------------------------


@pytest.fixture(params=["v2", "v1-only"])
def emulator(request: pytest.FixtureRequest, backend: Backend) -> Iterator[Any]:
    """The emulator, speaking both APIs or only v1, with a signing key: in process for the
    httpx backend, on a loopback socket for the aiohttp one."""
    emulator_module = pytest.importorskip("eventsourcingdb.emulator")
    instance = emulator_module.Emulator(in_process=backend == "httpx").with_signing_key()
    if request.param == "v1-only":
        instance = instance.with_api_versions(1)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
async def client(emulator: Any) -> AsyncIterator[Client]:
    """A Client talking to `emulator` (in process over httpx, or on its socket)."""
    async with emulator.get_client(stall_timeout=10.0) as esdb:
        yield esdb
