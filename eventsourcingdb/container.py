"""`Container`: the real EventSourcingDB image, run through testcontainers for integration tests.

Needs a Docker engine. Without one, `start()` fails fast with `ContainerError` and points to the
embedded emulator (`eventsourcingdb.emulator.Emulator`), which has the same interface.
testcontainers and docker are imported only when a container is started.
"""

from __future__ import annotations

import atexit
import enum
import http.client
import logging
import os
import socket
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from eventsourcingdb import _wire
from eventsourcingdb._extras import import_extra
from eventsourcingdb.errors import ContainerError, InvalidArgumentError

if TYPE_CHECKING:
    from eventsourcingdb import sync
    from eventsourcingdb.client import Client

_logger = logging.getLogger("eventsourcingdb.container")

IMAGE_NAME = "thenativeweb/eventsourcingdb"
DEFAULT_IMAGE_TAG = "latest"
DEFAULT_PORT = 3000
DEFAULT_API_TOKEN = "secret"
DEFAULT_STARTUP_TIMEOUT = 20.0
SIGNING_KEY_PATH = "/etc/esdb/signing-key.pem"

_NO_ENGINE_HINT = (
    "Use the embedded emulator instead, which needs no Docker: "
    "`from eventsourcingdb.emulator import Emulator` (the same interface as Container)."
)


def command_line(*, api_token: str, port: int, signing_key_path: str | None) -> list[str]:
    """The server's command line: the one the official SDKs' containers use."""
    command = [
        "run",
        "--api-token",
        api_token,
        "--data-directory-temporary",
        "--http-enabled",
        "--https-enabled=false",
    ]
    if port != DEFAULT_PORT:
        command += ["--http-port", str(port)]
    if signing_key_path is not None:
        command += ["--signing-key-file", signing_key_path]
    return command


def signing_key_pem(key: Ed25519PrivateKey) -> bytes:
    """The key as the server reads it: PKCS#8, PEM, unencrypted."""
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


class ProbeResult(enum.Enum):
    """What one readiness probe saw."""

    READY = "ready"
    NOT_YET = "not-yet"
    NO_V2 = "no-v2"


Answer = tuple[int | None, str | None]
"""A ping's status and `Server` header; `(None, None)` when nothing answered."""


def classify_probe(status: int | None, server_header: str | None) -> ProbeResult:
    """Read one ping answer: ready, not yet (no answer, not EventSourcingDB yet), or no v2 API."""
    if status is None or not (server_header or "").startswith(_wire.SERVER_HEADER_PREFIX):
        return ProbeResult.NOT_YET
    if status == 200:
        return ProbeResult.READY
    if status in (404, 405):
        return ProbeResult.NO_V2
    return ProbeResult.NOT_YET


def _get(host: str, port: int, path: str, timeout: float) -> Answer:
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("Server")
    except OSError:
        return None, None
    finally:
        connection.close()


def wait_until_ready(
    probe: Callable[[str], Answer],
    *,
    timeout: float,
    interval: float = 0.25,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Ping until the server answers: the v2 ping first, the v1 ping when v2 is not offered.

    Returns the path that answered; raises `ContainerError` when `timeout` seconds pass first.
    """
    deadline = clock() + timeout
    path = _wire.V2_PING
    while True:
        status, server = probe(path)
        result = classify_probe(status, server)
        if result is ProbeResult.READY:
            return path
        if result is ProbeResult.NO_V2 and path == _wire.V2_PING:
            path = _wire.V1_PING
            continue
        if clock() >= deadline:
            raise ContainerError(
                f"EventSourcingDB did not become ready within {timeout:g} seconds "
                f"(last probe of {path}: status {status}, Server header {server!r})"
            )
        sleep(interval)


def docker_engine_problem(docker_host: str | None, *, timeout: float = 2.0) -> str | None:
    """Why no Docker engine answers at `docker_host` (DOCKER_HOST), or None if a socket connects.

    A quick check before the docker library, which can spend half a minute on retries.
    """
    target = docker_host or "unix:///var/run/docker.sock"
    scheme, _, rest = target.partition("://")
    try:
        if scheme == "unix":
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix_socket:
                unix_socket.settimeout(timeout)
                unix_socket.connect(rest)
        elif scheme in ("tcp", "http", "https"):
            host, _, port = rest.rstrip("/").rpartition(":")
            with socket.create_connection((host or "localhost", int(port or 2375)), timeout):
                pass
        else:
            return None  # ssh:// and the like: let the docker library decide
    except (OSError, ValueError) as error:
        return f"cannot connect to {target}: {error}"
    return None


class Container:
    """The EventSourcingDB image in a Docker container, for integration tests.

    `Container().with_port(4000).with_api_token('secret').with_signing_key().start()`, then
    `get_client()`; `stop()` removes it (so does leaving a `with` block, and interpreter exit).
    """

    def __init__(self) -> None:
        self._image_tag = DEFAULT_IMAGE_TAG
        self._port = DEFAULT_PORT
        self._api_token = DEFAULT_API_TOKEN
        self._signing_key: Ed25519PrivateKey | None = None
        self._startup_timeout = DEFAULT_STARTUP_TIMEOUT
        self._container: Any = None

    # --- configuration ----------------------------------------------------------------------

    def with_image_tag(self, tag: str) -> Self:
        """Use `thenativeweb/eventsourcingdb:<tag>` (default `latest`)."""
        if not isinstance(tag, str) or not tag:
            raise InvalidArgumentError("image tag must be a non-empty string, e.g. '1.0.0'")
        self._image_tag = tag
        return self

    def with_port(self, port: int) -> Self:
        """Let the server listen on `port` inside the container (mapped to a random host port)."""
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise InvalidArgumentError(f"port must be an integer from 1 to 65535, got {port!r}")
        self._port = port
        return self

    def with_api_token(self, token: str) -> Self:
        """Start the server with this API token (default `secret`)."""
        if not isinstance(token, str) or not token:
            raise InvalidArgumentError("api token must be a non-empty string")
        self._api_token = token
        return self

    def with_signing_key(self, key: Ed25519PrivateKey | None = None) -> Self:
        """Sign events with a new Ed25519 key (or the given one)."""
        self._signing_key = key if key is not None else Ed25519PrivateKey.generate()
        return self

    def with_startup_timeout(self, timeout: float) -> Self:
        """How long `start()` waits for the server to answer its ping, in seconds (default 20)."""
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise InvalidArgumentError(f"startup timeout must be positive, got {timeout!r}")
        self._startup_timeout = float(timeout)
        return self

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Pull (if needed), create and start the container, then wait until it answers."""
        if self._container is not None:
            return self
        docker_container = self._create()
        try:
            docker_container.start()
            self._container = docker_container
            atexit.register(self.stop)
            host, port = self.get_host(), self.get_mapped_port()
            wait_until_ready(
                lambda path: _get(host, port, path, timeout=2.0), timeout=self._startup_timeout
            )
        except BaseException:
            self.stop()
            raise
        _logger.info("EventSourcingDB container ready at %s", self.get_base_url())
        return self

    def _create(self) -> Any:
        feature = "Container (the real server's Docker image)"
        docker = import_extra("docker", extra="container", feature=feature)
        testcontainers = import_extra(
            "testcontainers.core.container", extra="container", feature=feature
        )
        DockerContainer = testcontainers.DockerContainer

        problem = docker_engine_problem(os.environ.get("DOCKER_HOST"))
        if problem is None:
            try:
                engine = docker.from_env(timeout=5)
                try:
                    engine.ping()
                finally:
                    engine.close()
            except Exception as error:
                problem = f"{type(error).__name__}: {error}"
        if problem is not None:
            raise ContainerError(f"No Docker engine is reachable ({problem}). {_NO_ENGINE_HINT}")
        signing_key_path = SIGNING_KEY_PATH if self._signing_key is not None else None
        container = (
            DockerContainer(f"{IMAGE_NAME}:{self._image_tag}")
            .with_exposed_ports(self._port)
            .with_command(
                command_line(
                    api_token=self._api_token, port=self._port, signing_key_path=signing_key_path
                )
            )
        )
        if self._signing_key is not None:
            container = container.with_copy_into_container(
                signing_key_pem(self._signing_key), SIGNING_KEY_PATH, 0o644
            )
        return container

    def stop(self) -> None:
        """Stop and remove the container; does nothing when it is not running."""
        container, self._container = self._container, None
        atexit.unregister(self.stop)
        if container is not None:
            container.stop()

    def is_running(self) -> bool:
        """Whether the container has been started and not stopped."""
        return self._container is not None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- access -----------------------------------------------------------------------------

    def _running(self) -> Any:
        if self._container is None:
            raise ContainerError("the container is not running: call start() first")
        return self._container

    def get_host(self) -> str:
        """The host name under which the container's port is reachable."""
        return str(self._running().get_container_host_ip())

    def get_mapped_port(self) -> int:
        """The host port mapped to the server's port."""
        return int(self._running().get_exposed_port(self._port))

    def get_base_url(self) -> str:
        """`http://<host>:<mapped port>`."""
        return f"http://{self.get_host()}:{self.get_mapped_port()}"

    def get_api_token(self) -> str:
        """The API token the server was started with."""
        return self._api_token

    def get_client(self, **kwargs: Any) -> Client:
        """A new `Client` for this container; keyword arguments go to `Client` (e.g. a token)."""
        from eventsourcingdb.client import Client

        kwargs.setdefault("api_token", self._api_token)
        return Client(base_url=self.get_base_url(), **kwargs)

    def get_sync_client(self, **kwargs: Any) -> sync.Client:
        """A new blocking client for this container; keyword arguments go to `sync.Client`."""
        from eventsourcingdb.sync import Client as SyncClient

        kwargs.setdefault("api_token", self._api_token)
        return SyncClient(base_url=self.get_base_url(), **kwargs)

    def get_signing_key(self) -> Ed25519PrivateKey:
        """The private key the server signs with (after `with_signing_key()`)."""
        if self._signing_key is None:
            raise ContainerError("no signing key configured: call with_signing_key() first")
        return self._signing_key

    def get_verification_key(self) -> Ed25519PublicKey:
        """The public key that verifies the server's signatures."""
        return self.get_signing_key().public_key()


__all__ = ["Container"]
