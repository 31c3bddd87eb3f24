"""pytest fixtures that hand every test an EventSourcingDB server and a connected client.

Installed with the package (entry point `pytest11`), so `esdb_server` and `esdb_client` are there in
any test suite. The target is chosen with `--esdb-target` (or the `ESDB_TARGET` variable):

- `in-process` (default): the embedded emulator, in this process, with no socket;
- `socket`: the embedded emulator on a loopback port;
- `url`: a running server named by `ESDB_URL` and `ESDB_API_TOKEN`.

On the emulator every test starts with an empty store. Importing this module is cheap: the
emulator and the client are imported when a fixture is first used.
"""

from __future__ import annotations

import enum
import os
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import pytest

if TYPE_CHECKING:
    from eventsourcingdb.client import Client

_TARGET_OPTION = "--esdb-target"
_TARGET_VARIABLE = "ESDB_TARGET"
_URL_VARIABLE = "ESDB_URL"
_TOKEN_VARIABLE = "ESDB_API_TOKEN"


class Target(enum.StrEnum):
    """Where the fixtures' server lives."""

    IN_PROCESS = "in-process"
    SOCKET = "socket"
    URL = "url"


class ServerHandle(Protocol):
    """What the fixtures hand out: the interface `Emulator` and `Container` share."""

    def get_base_url(self) -> str: ...

    def get_api_token(self) -> str: ...

    def get_client(self, **kwargs: Any) -> Client: ...


class RemoteServer:
    """A server that runs elsewhere, named by its base URL and API token."""

    def __init__(self, base_url: str, api_token: str) -> None:
        self._base_url = base_url
        self._api_token = api_token

    def get_base_url(self) -> str:
        """The server's base URL."""
        return self._base_url

    def get_api_token(self) -> str:
        """The API token the fixtures use."""
        return self._api_token

    def get_client(self, **kwargs: Any) -> Client:
        """A new client for this server."""
        from eventsourcingdb.client import Client

        return Client(base_url=self._base_url, api_token=self._api_token, **kwargs)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add `--esdb-target`."""
    group = parser.getgroup("eventsourcingdb")
    group.addoption(
        _TARGET_OPTION,
        choices=[target.value for target in Target],
        default=None,
        help=(
            "where esdb_server runs: in-process (default), socket, or url "
            f"(with {_URL_VARIABLE} and {_TOKEN_VARIABLE}); also set by {_TARGET_VARIABLE}"
        ),
    )


def _target(config: pytest.Config) -> Target:
    chosen = config.getoption(_TARGET_OPTION) or os.environ.get(_TARGET_VARIABLE) or "in-process"
    try:
        return Target(chosen)
    except ValueError:
        allowed = ", ".join(target.value for target in Target)
        raise pytest.UsageError(f"{_TARGET_VARIABLE}={chosen!r} is not one of {allowed}") from None


@pytest.fixture(scope="session")
def esdb_target(request: pytest.FixtureRequest) -> Target:
    """The target chosen for this run."""
    return _target(request.config)


@pytest.fixture(scope="session")
def _esdb_session_server(esdb_target: Target) -> Iterator[ServerHandle]:
    if esdb_target is Target.URL:
        url = os.environ.get(_URL_VARIABLE)
        token = os.environ.get(_TOKEN_VARIABLE)
        if not url or not token:
            raise pytest.UsageError(
                f"--esdb-target=url needs {_URL_VARIABLE} and {_TOKEN_VARIABLE} in the environment"
            )
        yield RemoteServer(url, token)
        return
    from eventsourcingdb.emulator import Emulator

    emulator = Emulator(in_process=esdb_target is Target.IN_PROCESS).start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def esdb_server(_esdb_session_server: ServerHandle) -> ServerHandle:
    """The server of this test; on the emulator, its store is empty when the test starts."""
    reset = getattr(_esdb_session_server, "reset", None)
    if reset is not None:
        reset()
    return _esdb_session_server


def _client_fixture() -> Any:
    """`esdb_client` as an async fixture; without pytest-asyncio, one that says what is missing."""
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - exercised only without pytest-asyncio

        @pytest.fixture(name="esdb_client")
        def _needs_pytest_asyncio() -> Client:
            """Needs pytest-asyncio, which is not installed."""
            raise pytest.UsageError("the esdb_client fixture needs pytest-asyncio: pip install it")

        return _needs_pytest_asyncio

    @pytest_asyncio.fixture
    async def esdb_client(esdb_server: ServerHandle) -> AsyncIterator[Client]:
        """An async client connected to `esdb_server`, closed after the test."""
        client = esdb_server.get_client()
        try:
            yield client
        finally:
            await client.aclose()

    return esdb_client


esdb_client = _client_fixture()
