"""Fixtures of the client tests: a scripted fake server and the emulator in both API modes (v2 +
v1, and v1 only), each reached by both twins of the client, the async one through both backends
of its transport:

* `httpx`: the async client is given an httpx client (the fake's mock transport, the emulator's
  in-process transport);
* `aiohttp`: the async client's own connection pool, on a loopback socket;
* `sync`: the blocking `eventsourcingdb.sync.Client` with its own pool (urllib3), on a loopback
  socket, behind an async face (`tests/twins.py`);
* `sync-httpx`: the blocking client over httpx: given an httpx transport to the fake on its
  loopback socket, or the emulator's in-process transport.

`backend` is parametrised here (and `twin` follows from it): all four, or only the async ones
for a test marked `@pytest.mark.twins("async", reason=...)`.
"""

from __future__ import annotations

import contextlib
import functools
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Literal

import httpx
import pytest

from eventsourcingdb import Client
from eventsourcingdb.sync import Client as SyncClient
from tests.client.client_fakes import BASE_URL, TOKEN, FakeServer
from tests.twins import SyncBridge, Twin, as_async, in_thread, new_client

Backend = Literal["httpx", "aiohttp", "sync", "sync-httpx"]
Connect = Callable[..., contextlib.AbstractAsyncContextManager[Client]]
_BACKENDS: dict[Twin, list[Backend]] = {
    Twin.ASYNC: ["httpx", "aiohttp"],
    Twin.SYNC: ["sync", "sync-httpx"],
}


def in_process(backend: Backend) -> bool:
    """Whether `backend` reaches the emulator in process (through httpx), not on a socket."""
    return backend in ("httpx", "sync-httpx")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise `backend` (see the module's docstring)."""
    if "backend" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("twins")
    twins = [Twin(name) for name in marker.args] if marker is not None else list(Twin)
    chosen = [backend for twin in twins for backend in _BACKENDS[twin]]
    metafunc.parametrize("backend", chosen)


@pytest.fixture
def twin(backend: Backend) -> Twin:
    """The twin of the client under test."""
    return Twin.SYNC if backend.startswith("sync") else Twin.ASYNC


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
        if backend.startswith("sync"):
            async with contextlib.AsyncExitStack() as stack:
                url = (
                    refused_url() if fake is None else await stack.enter_async_context(fake.serve())
                )
                if backend == "sync-httpx":
                    options["transport"] = httpx.HTTPTransport()
                blocking = SyncClient(url, token, **options)
                stack.push_async_callback(in_thread, blocking.close)
                yield as_async(blocking)
            return
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
async def http_client(
    fake: FakeServer, twin: Twin
) -> AsyncIterator[httpx.AsyncClient | httpx.Client]:
    """An httpx client of `twin`'s kind whose requests go to `fake` (the blocking one through
    a bridge to the fake's async transport)."""
    if twin is Twin.ASYNC:
        async with httpx.AsyncClient(transport=fake.transport()) as http:
            yield http
        return
    with httpx.Client(transport=SyncBridge(fake.transport())) as blocking_http:
        yield blocking_http


@pytest.fixture
def new(twin: Twin) -> Callable[..., Client]:
    """Creates a client of `twin` (not yet used): `new(base_url, api_token, **settings)`."""
    return functools.partial(new_client, twin)


@pytest.fixture
async def mock_client(fake: FakeServer, connect: Connect) -> AsyncIterator[Client]:
    """A Client talking to the fake server through each backend, with short timeouts."""
    async with connect(fake, timeout=2.0, stall_timeout=0.5) as client:
        yield client


# --- the emulator ----------------------------------------------------------------------------


@pytest.fixture(params=["v2", "v1-only"])
def emulator(request: pytest.FixtureRequest, backend: Backend) -> Iterator[Any]:
    """The emulator, speaking both APIs or only v1, with a signing key: in process for the
    httpx backends, on a loopback socket for the others."""
    emulator_module = pytest.importorskip("eventsourcingdb.emulator")
    instance = emulator_module.Emulator(in_process=in_process(backend)).with_signing_key()
    if request.param == "v1-only":
        instance = instance.with_api_versions(1)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
async def client(emulator: Any, twin: Twin) -> AsyncIterator[Client]:
    """A client of `twin` talking to `emulator` (in process over httpx, or on its socket)."""
    if twin is Twin.SYNC:
        async with as_async(emulator.get_sync_client(stall_timeout=10.0)) as blocking:
            yield blocking
        return
    async with emulator.get_client(stall_timeout=10.0) as esdb:
        yield esdb
