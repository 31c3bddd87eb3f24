"""pytest fixtures that hand every test an EventSourcingDB server and a connected client.

Installed with the package (entry point `pytest11`), so the fixtures are there in any test suite:
`esdb_server`, `esdb_client`, `esdb_namespace`, `esdb_verification_key`, `esdb_store`,
`esdb_repository`, `esdb_runner` and `esdb_faults`, and for blocking code `esdb_sync_client`,
`esdb_sync_store` and `esdb_sync_repository` (no pytest-asyncio needed).
The target is chosen with `--esdb-target` (or the `ESDB_TARGET` variable):

- `in-process` (default): the embedded emulator, in this process, with no socket;
- `socket`: the embedded emulator on a loopback port;
- `container`: the real server image through testcontainers (needs Docker; `ESDB_IMAGE_TAG`);
- `url`: a running server named by `ESDB_URL` and `ESDB_API_TOKEN`.

On the emulator every test starts with an empty store. On a container or a shared server, every
test gets its own `esdb_namespace` (a subject prefix and an event-type prefix) instead, and tests
marked `esdb_fresh_store` are skipped. Importing this module is cheap: the emulator, the client and
testcontainers are imported when a fixture first needs them.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from eventsourcingdb.errors import MissingExtraError
from eventsourcingdb.testing import Namespace, RemoteServer, ServerHandle, Target

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from eventsourcingdb import sync
    from eventsourcingdb.aggregates import Repository
    from eventsourcingdb.client import Client
    from eventsourcingdb.emulator.faults import Faults
    from eventsourcingdb.models import EventStore
    from eventsourcingdb.projections import Runner

_TARGET_OPTION = "--esdb-target"
_TARGET_VARIABLE = "ESDB_TARGET"
_URL_VARIABLE = "ESDB_URL"
_TOKEN_VARIABLE = "ESDB_API_TOKEN"
_KEY_VARIABLE = "ESDB_VERIFICATION_KEY"
_IMAGE_TAG_VARIABLE = "ESDB_IMAGE_TAG"
_FRESH_STORE_MARKER = "esdb_fresh_store"
STORE_SOURCE = "https://tests.eventsourcingdb.io"
"""The source `esdb_store` writes its events with."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add `--esdb-target`."""
    group = parser.getgroup("eventsourcingdb")
    group.addoption(
        _TARGET_OPTION,
        choices=[target.value for target in Target],
        default=None,
        help=(
            "where esdb_server runs: in-process (default), socket, container, or url "
            f"(with {_URL_VARIABLE} and {_TOKEN_VARIABLE}); also set by {_TARGET_VARIABLE}"
        ),
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker for tests that need an empty store."""
    config.addinivalue_line(
        "markers",
        f"{_FRESH_STORE_MARKER}: the test needs an empty store, so it runs on the emulator only",
    )


def _target(config: pytest.Config) -> Target:
    chosen = config.getoption(_TARGET_OPTION) or os.environ.get(_TARGET_VARIABLE) or "in-process"
    try:
        return Target(chosen)
    except ValueError:
        allowed = ", ".join(target.value for target in Target)
        raise pytest.UsageError(f"{_TARGET_VARIABLE}={chosen!r} is not one of {allowed}") from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests that need an empty store when the target is shared."""
    target = _target(config)
    if target.is_emulator:
        return
    skip = pytest.mark.skip(
        reason=f"needs an empty store, which only the emulator gives (target: {target.value})"
    )
    for item in items:
        if item.get_closest_marker(_FRESH_STORE_MARKER) is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def esdb_target(request: pytest.FixtureRequest) -> Target:
    """The target chosen for this run."""
    return _target(request.config)


@pytest.fixture(scope="session")
def _esdb_session_server(esdb_target: Target) -> Iterator[ServerHandle]:
    if esdb_target is Target.URL:
        url, token = os.environ.get(_URL_VARIABLE), os.environ.get(_TOKEN_VARIABLE)
        if not url or not token:
            raise pytest.UsageError(
                f"--esdb-target=url needs {_URL_VARIABLE} and {_TOKEN_VARIABLE} in the environment"
            )
        yield RemoteServer(url, token)
        return
    if esdb_target is Target.CONTAINER:
        from eventsourcingdb.container import Container

        container = Container().with_signing_key()
        tag = os.environ.get(_IMAGE_TAG_VARIABLE)
        if tag:
            container = container.with_image_tag(tag)
        with container:
            yield container
        return
    try:
        from eventsourcingdb.emulator import Emulator
    except MissingExtraError as error:
        raise MissingExtraError(
            f"the esdb_* fixtures run the embedded emulator (--esdb-target={esdb_target.value}), "
            "which is not installed: install it with: pip install "
            "'eventsourcingdb-toolkit[testing]', or test against a running server with "
            "--esdb-target=url (and ESDB_URL, ESDB_API_TOKEN)",
            extra="testing",
            module=error.module,
        ) from error

    with Emulator(in_process=esdb_target is Target.IN_PROCESS).with_signing_key() as emulator:
        yield emulator


@pytest.fixture
def esdb_server(_esdb_session_server: ServerHandle, esdb_target: Target) -> ServerHandle:
    """The server of this test; on the emulator, its store is empty and no fault is armed when
    the test starts."""
    if esdb_target.is_emulator:
        getattr(_esdb_session_server, "faults").clear()  # noqa: B009 - only emulators have faults
        getattr(_esdb_session_server, "reset")()  # noqa: B009 - only emulators have reset()
    return _esdb_session_server


@pytest.fixture
def esdb_faults(esdb_server: ServerHandle, esdb_target: Target) -> Iterator[Faults]:
    """The emulator's fault injection (`drop_streams`, `stall_streams`, `refuse_next`,
    `lose_next_write_answer`); the test is skipped on a container or a server of yours."""
    if not esdb_target.is_emulator:
        pytest.skip(f"fault injection needs the emulator; the target is {esdb_target.value}")
    faults: Faults = getattr(esdb_server, "faults")  # noqa: B009 - only emulators have faults
    try:
        yield faults
    finally:
        faults.clear()


@pytest.fixture
def esdb_namespace(request: pytest.FixtureRequest, esdb_target: Target) -> Namespace:
    """This test's subject and event-type prefixes: empty on the emulator, unique elsewhere."""
    if esdb_target.is_emulator:
        return Namespace()
    return Namespace.unique(request.node.name)


@pytest.fixture
def esdb_verification_key(_esdb_session_server: ServerHandle) -> Ed25519PublicKey | None:
    """The public key of the server's signatures; for `url`, read from ESDB_VERIFICATION_KEY."""
    if isinstance(_esdb_session_server, RemoteServer):
        path = os.environ.get(_KEY_VARIABLE)
        if not path:
            return None
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        with open(path, "rb") as pem:
            key = serialization.load_pem_public_key(pem.read())
        if not isinstance(key, Ed25519PublicKey):
            raise pytest.UsageError(f"{_KEY_VARIABLE} must name an Ed25519 public key (PEM)")
        return key
    get_key = getattr(_esdb_session_server, "get_verification_key")  # noqa: B009 - not on every handle
    verification_key: Ed25519PublicKey = get_key()
    return verification_key


def _needs_pytest_asyncio(name: str) -> Any:
    """A fixture `name` that says pytest-asyncio is missing (async fixtures need it)."""

    @pytest.fixture(name=name)
    def fixture() -> None:
        """Needs pytest-asyncio, which is not installed."""
        raise pytest.UsageError(f"the {name} fixture needs pytest-asyncio: pip install it")

    return fixture


def _client_fixture() -> Any:
    """`esdb_client` as an async fixture; without pytest-asyncio, one that says what is missing."""
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - exercised only without pytest-asyncio
        return _needs_pytest_asyncio("esdb_client")

    @pytest_asyncio.fixture
    async def esdb_client(esdb_server: ServerHandle) -> AsyncIterator[Client]:
        """An async client connected to `esdb_server`, closed after the test."""
        async with esdb_server.get_client() as client:
            yield client

    return esdb_client


esdb_client = _client_fixture()


def _runner_fixture() -> Any:
    """`esdb_runner` as an async fixture; without pytest-asyncio, one that says what is missing."""
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - exercised only without pytest-asyncio
        return _needs_pytest_asyncio("esdb_runner")

    @pytest_asyncio.fixture
    async def esdb_runner(esdb_store: EventStore) -> AsyncIterator[Runner]:
        """A started projections `Runner` over `esdb_store` (checkpoints in memory): add
        projections and they start; stopped after the test."""
        from eventsourcingdb.aggregates import Backoff
        from eventsourcingdb.projections import Runner

        reconnect = Backoff(initial=0.05, maximum=1.0)
        async with Runner(esdb_store, reconnect=reconnect, stop_timeout=10.0) as runner:
            yield runner

    return esdb_runner


esdb_runner = _runner_fixture()


@pytest.fixture
def esdb_sync_client(esdb_server: ServerHandle) -> Iterator[sync.Client]:
    """A blocking client (`eventsourcingdb.sync.Client`) connected to `esdb_server`, closed
    after the test."""
    with esdb_server.get_sync_client() as client:
        yield client


@pytest.fixture
def esdb_store(esdb_client: Client) -> EventStore:
    """A typed `EventStore` over `esdb_client`: `default_registry` (every model declared with
    `@event_type`) and the source `STORE_SOURCE`; no schemas registered.

    Override it in a conftest.py for another registry or source; `esdb_repository` and
    `esdb_runner` follow. Event types are not namespaced on a shared server (see docs/testing.md).
    """
    from eventsourcingdb.models import EventStore

    return EventStore(esdb_client, source=STORE_SOURCE)


@pytest.fixture
def esdb_repository(esdb_store: EventStore) -> Repository:
    """A `Repository` of aggregates over `esdb_store`."""
    from eventsourcingdb.aggregates import Repository

    return Repository(esdb_store)


@pytest.fixture
def esdb_sync_store(esdb_sync_client: sync.Client) -> sync.EventStore:
    """`esdb_store` for blocking code: a `sync.EventStore` over `esdb_sync_client`, with the
    same registry and source."""
    from eventsourcingdb.sync import EventStore as SyncEventStore

    return SyncEventStore(esdb_sync_client, source=STORE_SOURCE)


@pytest.fixture
def esdb_sync_repository(esdb_sync_store: sync.EventStore) -> sync.Repository:
    """`esdb_repository` for blocking code: a `sync.Repository` over `esdb_sync_store`."""
    from eventsourcingdb.sync import Repository as SyncRepository

    return SyncRepository(esdb_sync_store)
