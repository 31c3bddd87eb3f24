"""What the worker's operations share: their registry and the clients a worker keeps.

Operations are defined next to their measurement (`bench.read`, `bench.write`, ...) with
`@operation(name)` and run by `bench.worker`. Clients are created once per server and reused, as
an application would, so connection set-up and the API version probe are not part of any
measurement.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar

import httpx

from bench import plain, raw
from bench.harness import API_TOKEN

if TYPE_CHECKING:
    import aiohttp

    from eventsourcingdb import Client
    from eventsourcingdb.emulator import Emulator

Params = dict[str, Any]
Result = dict[str, Any]
Operation = Callable[[Params, "Session"], Awaitable[Result]]
F = TypeVar("F", bound=Operation)

OPERATIONS: dict[str, Operation] = {}
IN_PROCESS: Final = "in-process"
"""The base URL that names the worker's own in-process emulator."""


def operation(name: str) -> Callable[[F], F]:
    """Register a worker operation under `name`."""

    def register(function: F) -> F:
        if name in OPERATIONS:
            raise RuntimeError(f"operation {name!r} is registered twice")
        OPERATIONS[name] = function
        return function

    return register


class Session:
    """What a worker keeps between operations: one client of each kind per server."""

    def __init__(self) -> None:
        self._ours: dict[str, Client] = {}
        self._raw: dict[str, httpx.AsyncClient] = {}
        self._plain: aiohttp.ClientSession | None = None
        self.emulator: Emulator | None = None

    def start_in_process(self) -> str:
        """Start this worker's in-process emulator (once); its base URL is `IN_PROCESS`."""
        if self.emulator is None:
            from eventsourcingdb.emulator import Emulator

            self.emulator = Emulator(in_process=True).start()
        return IN_PROCESS

    def url(self, base_url: str) -> str:
        """The URL requests go to (the in-process emulator has one of its own)."""
        if base_url == IN_PROCESS:
            assert self.emulator is not None, "start_in_process() first"
            return self.emulator.get_base_url()
        return base_url

    def ours(self, base_url: str) -> Client:
        """Our client for the server at `base_url`, created on first use."""
        client = self._ours.get(base_url)
        if client is None:
            from eventsourcingdb import Client

            if base_url == IN_PROCESS:
                assert self.emulator is not None, "start_in_process() first"
                client = self.emulator.get_client(timeout=300.0)
            else:
                client = Client(base_url, API_TOKEN, timeout=300.0)
            self._ours[base_url] = client
        return client

    def raw(self, base_url: str) -> httpx.AsyncClient:
        """An httpx client for the raw limit, created on first use."""
        http = self._raw.get(base_url)
        if http is None:
            transport = None
            if base_url == IN_PROCESS:
                assert self.emulator is not None, "start_in_process() first"
                transport = self.emulator.async_transport()
            http = raw.new_client(transport)
            self._raw[base_url] = http
        return http

    def plain(self) -> aiohttp.ClientSession:
        """The aiohttp session of the plain loops (`bench.plain`), created on first use."""
        if self._plain is None:
            self._plain = plain.new_session()
        return self._plain

    async def aclose(self) -> None:
        if self._plain is not None:
            await self._plain.close()
        for client in self._ours.values():
            await client.aclose()
        for http in self._raw.values():
            await http.aclose()
        if self.emulator is not None:
            self.emulator.stop()
