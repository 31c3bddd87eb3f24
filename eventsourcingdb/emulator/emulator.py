"""`Emulator`: the embedded server behind the interface of `Container`, so tests can swap them.

`Emulator()` listens on a free loopback port (or `with_port(p)`); `Emulator(in_process=True)`
opens no socket at all and `get_client()` wires the in-process transport into the client.
`Emulator(data_directory=path)` keeps its events on disk across restarts. `start()`, `stop()`,
`with ...` and the getters behave as the Container's do.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from eventsourcingdb.emulator.durable import DataDirectoryError
from eventsourcingdb.emulator.encoding import TimeFormat
from eventsourcingdb.emulator.faults import Faults
from eventsourcingdb.emulator.hashing import HashVersion
from eventsourcingdb.emulator.options import (
    ApiVersion,
    ConnectionLimits,
    ServerOptions,
    TlsFiles,
)
from eventsourcingdb.emulator.rate_limit import RateLimit
from eventsourcingdb.emulator.server import EmulatorServer, SocketServer
from eventsourcingdb.errors import ContainerError, InvalidArgumentError

if TYPE_CHECKING:
    from eventsourcingdb import sync
    from eventsourcingdb.client import Client

__all__ = ["IN_PROCESS_BASE_URL", "IN_PROCESS_HOST", "Emulator"]

IN_PROCESS_HOST: Final = "emulator.invalid"
"""The host name of an in-process emulator: a reserved name that no DNS resolves."""
IN_PROCESS_BASE_URL: Final = f"http://{IN_PROCESS_HOST}"
LOOPBACK: Final = "127.0.0.1"
_WILDCARDS: Final = {"0.0.0.0": LOOPBACK, "": LOOPBACK, "::": "::1"}
"""Addresses that listen everywhere, and the loopback address a client reaches them on."""


def _authority(host: str, port: int) -> str:
    """`host:port` for a URL; an IPv6 literal goes in brackets (RFC 3986): `[::1]:3000`."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Emulator:
    """An embedded EventSourcingDB with the interface of `Container`.

    `Emulator().with_signing_key().start()`, then `get_client()`; `stop()` ends it (so do
    leaving a `with` block and interpreter exit). `reset()` empties the store between tests.
    The events live in memory, or with `data_directory` in a durable data directory (checked
    on start: the hash chain and the last events, or every event with `verify_data_directory`).
    """

    def __init__(
        self,
        *,
        in_process: bool = False,
        data_directory: str | os.PathLike[str] | None = None,
        verify_data_directory: bool = False,
    ) -> None:
        if data_directory is not None and not isinstance(data_directory, str | os.PathLike):
            raise InvalidArgumentError(
                f"data_directory must be a path (str or os.PathLike), got {data_directory!r}"
            )
        self._in_process = in_process
        self._data_directory = Path(data_directory) if data_directory is not None else None
        self._verify_data_directory = bool(verify_data_directory)
        self._host = LOOPBACK
        self._port = 0
        self._api_token = "secret"
        self._signing_key: Ed25519PrivateKey | None = None
        self._hash_version = HashVersion.V1
        self._api_versions = frozenset(ApiVersion)
        self._heartbeat_interval = 1.0
        self._time_format = TimeFormat.RFC3339_NANO
        self._limits = ConnectionLimits()
        self._read_only = False
        self._tls: TlsFiles | None = None
        self._rate_limit: RateLimit | None = None
        self._server: EmulatorServer | None = None
        self._socket: SocketServer | None = None
        self._lock = threading.RLock()

    # --- configuration ----------------------------------------------------------------------

    def with_port(self, port: int) -> Self:
        """Listen on this loopback port (default: a free one)."""
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise InvalidArgumentError(f"port must be an integer from 1 to 65535, got {port!r}")
        self._port = port
        return self

    def with_host(self, host: str) -> Self:
        """Listen on this address instead of 127.0.0.1 (e.g. `0.0.0.0` or `::1`)."""
        if not isinstance(host, str) or not host:
            raise InvalidArgumentError("host must be a non-empty string such as '127.0.0.1'")
        self._host = host
        return self

    def with_image_tag(self, tag: str) -> Self:
        """Accepted and validated as `Container` does, so that code written for it runs unchanged.

        It changes nothing: the emulator has no image and always behaves as a current server
        (`with_api_versions(1)` makes it one that predates the v2 API).
        """
        if not isinstance(tag, str) or not tag:
            raise InvalidArgumentError("image tag must be a non-empty string, e.g. '1.0.0'")
        return self

    def with_startup_timeout(self, timeout: float) -> Self:
        """Accepted and validated as `Container` does, so that code written for it runs unchanged.

        It changes nothing: `start()` returns once the emulator answers (or has failed to
        listen), so there is nothing to wait for.
        """
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise InvalidArgumentError(f"startup timeout must be positive, got {timeout!r}")
        return self

    def with_api_token(self, token: str) -> Self:
        """Accept this API token (default `secret`)."""
        if not isinstance(token, str) or not token:
            raise InvalidArgumentError("api token must be a non-empty string")
        self._api_token = token
        return self

    def with_signing_key(self, key: Ed25519PrivateKey | None = None) -> Self:
        """Sign every event with this Ed25519 key (a new one when None)."""
        if key is not None and not isinstance(key, Ed25519PrivateKey):
            raise InvalidArgumentError("the signing key must be an Ed25519PrivateKey")
        self._signing_key = key if key is not None else Ed25519PrivateKey.generate()
        return self

    def with_hash_version(self, version: int) -> Self:
        """Hash events with recipe 1 (default, unprefixed hex) or 2 (`esdb:hash:v2:...`)."""
        try:
            self._hash_version = HashVersion(version)
        except ValueError:
            raise InvalidArgumentError(f"hash version must be 1 or 2, got {version!r}") from None
        return self

    def with_api_versions(self, *versions: int) -> Self:
        """Offer only these API versions, e.g. `with_api_versions(1)` for a server before 1.3."""
        try:
            chosen = frozenset(ApiVersion(version) for version in versions)
        except ValueError:
            raise InvalidArgumentError(
                f"API versions must be 1 and/or 2, got {versions!r}"
            ) from None
        if not chosen:
            raise InvalidArgumentError("offer at least one API version")
        self._api_versions = chosen
        return self

    def with_heartbeat_interval(self, seconds: float) -> Self:
        """Send heartbeats after this many idle seconds on observe and query streams (1.0)."""
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0:
            raise InvalidArgumentError(f"heartbeat interval must be positive, got {seconds!r}")
        self._heartbeat_interval = float(seconds)
        return self

    def with_time_format(self, time_format: TimeFormat) -> Self:
        """Write times as Go's RFC3339Nano, as the real server does (default: trailing zeros of
        the fraction trimmed), or with nine fractional digits always (`TimeFormat.NINE_DIGITS`,
        for clients that cannot parse short fractions, such as the official Python client 2.2.4)."""
        if not isinstance(time_format, TimeFormat):
            raise InvalidArgumentError(f"time format must be a TimeFormat, got {time_format!r}")
        self._time_format = time_format
        return self

    def with_limits(
        self,
        *,
        max_connections: int | None = None,
        header_timeout: float | None = None,
        body_timeout: float | None = None,
        idle_timeout: float | None = None,
        max_request_bytes: int | None = None,
    ) -> Self:
        """Change the socket front end's limits (see `ConnectionLimits`); None keeps a limit."""
        given: dict[str, Any] = {
            "max_connections": max_connections,
            "header_timeout": header_timeout,
            "body_timeout": body_timeout,
            "idle_timeout": idle_timeout,
            "max_request_bytes": max_request_bytes,
        }
        try:
            self._limits = dataclasses.replace(
                self._limits, **{name: value for name, value in given.items() if value is not None}
            )
        except ValueError as error:
            raise InvalidArgumentError(str(error)) from None
        return self

    def with_https(self, certificate_file: str | Path, private_key_file: str | Path) -> Self:
        """Speak HTTPS with this certificate and private key (PEM files), as the real server does
        with `--https-certificate-file` and `--https-private-key-file`.

        The certificate must name the address clients use (`127.0.0.1` by default, or that of
        `with_host`). `get_client()` trusts it, so a self-signed certificate works in tests.
        """
        if self._in_process:
            raise InvalidArgumentError(
                "an emulator in process has no socket to speak HTTPS on; use Emulator() instead"
            )
        tls = TlsFiles(Path(certificate_file), Path(private_key_file))
        try:
            tls.server_context()
        except ValueError as error:
            raise InvalidArgumentError(str(error)) from None
        self._tls = tls
        return self

    def with_rate_limit(
        self, units_per_second: float | None, *, burst: float | None = None, write_cost: int = 5
    ) -> Self:
        """Limit the requests of each client address as the real server does (off by default;
        None turns it off again): a read costs one unit, a write `write_cost`; each address may
        spend `units_per_second` (at most `burst` at once, `units_per_second` by default). Beyond
        it, requests are answered 429 with `Retry-After`; answers carry `RateLimit-Policy` and
        `RateLimit` headers."""
        if units_per_second is None:
            self._rate_limit = None
            return self
        try:
            self._rate_limit = RateLimit(units_per_second, burst, write_cost)
        except ValueError as error:
            raise InvalidArgumentError(str(error)) from None
        return self

    def with_read_only(self, read_only: bool = True) -> Self:
        """Start in read-only mode, as `run --read-only` starts the real server: reads,
        observations and queries work; writes and schema registrations are refused with 503
        (`StoreReadOnlyError` in our client). A running server enters the mode through
        `POST /api/v1/put-into-read-only-mode`."""
        if not isinstance(read_only, bool):
            raise InvalidArgumentError(f"read_only must be True or False, got {read_only!r}")
        self._read_only = read_only
        return self

    def options(self) -> ServerOptions:
        """The settings a server started now would run with."""
        return ServerOptions(
            api_token=self._api_token,
            api_versions=self._api_versions,
            hash_version=self._hash_version,
            signing_key=self._signing_key,
            heartbeat_interval=self._heartbeat_interval,
            time_format=self._time_format,
            data_directory=self._data_directory,
            verify_data_directory=self._verify_data_directory,
            limits=self._limits,
            read_only=self._read_only,
            rate_limit=self._rate_limit,
        )

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the server (and, unless in process, listen); a running emulator stays as is."""
        with self._lock:
            if self._server is not None:
                return self
            try:
                server = EmulatorServer(self.options())
            except DataDirectoryError as error:
                raise ContainerError(f"the emulator could not start: {error}") from None
            if not self._in_process:
                try:
                    listener = SocketServer(
                        server.asgi_app(), host=self._host, port=self._port, tls=self._tls
                    )
                    listener.start()
                except (OSError, RuntimeError) as error:
                    server.close()
                    raise ContainerError(
                        f"the emulator could not listen on {_authority(self._host, self._port)}: "
                        f"{error}"
                    ) from error
                self._socket = listener
            self._server = server
            atexit.register(self.stop)
        return self

    def stop(self) -> None:
        """End open streams, stop listening and drop the store; harmless when not running."""
        with self._lock:
            server, self._server = self._server, None
            listener, self._socket = self._socket, None
            atexit.unregister(self.stop)
        if server is not None:
            server.close()
        if listener is not None:
            listener.stop()

    def restart(self) -> Self:
        """Restart the running server as a crash and a quick restart would, on the same port.

        Every connection is cut (open streams and requests in flight break off; in process,
        streams raise `httpx.RemoteProtocolError`), the socket stops listening and listens again.
        The events are kept: a data directory is closed, read back from disk and checked; a
        store in memory lives on (as if it had been durable; call `reset()` as well to lose
        them, as a server with a temporary directory would). Armed faults stay armed.
        """
        with self._lock:
            server = self._running()
            server.faults.drop_streams()
            listener = self._socket
            if listener is not None:
                listener.cut_connections()
                listener.stop()
                self._socket = None
            try:
                server.restart_store()
            except DataDirectoryError as error:
                self.stop()
                raise ContainerError(f"the emulator could not start again: {error}") from None
            if listener is None:
                return self
            try:
                restarted = SocketServer(
                    server.asgi_app(), host=self._host, port=listener.port, tls=self._tls
                )
                restarted.start()
            except (OSError, RuntimeError) as error:
                self.stop()
                raise ContainerError(
                    f"the emulator could not listen again on "
                    f"{_authority(self._host, listener.port)}: {error}"
                ) from error
            self._socket = restarted
        return self

    def is_running(self) -> bool:
        """Whether the emulator has been started and not stopped."""
        return self._server is not None

    def reset(self) -> None:
        """Empty the store: events and schemas (for a clean slate in every test)."""
        self._running().reset()

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

    def _running(self) -> EmulatorServer:
        server = self._server
        if server is None:
            raise ContainerError("the emulator is not running: call start() first")
        return server

    @property
    def faults(self) -> Faults:
        """The faults to inject: `drop_streams()`, `stall_streams(seconds)`, `refuse_next(...)`,
        `lose_next_write_answer()`, `clear()` (see the testing guide)."""
        return self._running().faults

    @property
    def server(self) -> EmulatorServer:
        """The running server (store, handler, transports)."""
        return self._running()

    def get_host(self) -> str:
        """The host the emulator answers on (`emulator.invalid` in process).

        A wildcard address is answered on loopback: `0.0.0.0` as 127.0.0.1, `::` as `::1`.
        """
        self._running()
        if self._in_process:
            return IN_PROCESS_HOST
        return _WILDCARDS.get(self._host, self._host)

    def get_mapped_port(self) -> int:
        """The port the emulator listens on (80, the URL's default, in process)."""
        self._running()
        return self._socket.port if self._socket is not None else 80

    def get_base_url(self) -> str:
        """`http://127.0.0.1:<port>` or `http://[::1]:<port>`; `http://emulator.invalid` in process.

        An IPv6 address is bracketed, as URLs require; with `with_https` the scheme is `https`.
        """
        if self._in_process:
            self._running()
            return IN_PROCESS_BASE_URL
        scheme = "http" if self._tls is None else "https"
        return f"{scheme}://{_authority(self.get_host(), self.get_mapped_port())}"

    def get_api_token(self) -> str:
        """The API token the emulator accepts."""
        return self._api_token

    def get_signing_key(self) -> Ed25519PrivateKey:
        """The private key the emulator signs with (after `with_signing_key()`)."""
        if self._signing_key is None:
            raise ContainerError("no signing key configured: call with_signing_key() first")
        return self._signing_key

    def get_verification_key(self) -> Ed25519PublicKey:
        """The public key that verifies the emulator's signatures."""
        return self.get_signing_key().public_key()

    def async_transport(self) -> httpx.AsyncBaseTransport:
        """An httpx async transport that reaches this emulator without a socket."""
        return self._running().async_transport()

    def sync_transport(self) -> httpx.BaseTransport:
        """An httpx sync transport that reaches this emulator without a socket."""
        return self._running().sync_transport()

    def get_client(self, **kwargs: Any) -> Client:
        """A new `Client` for this emulator (in process: over the in-process transport).

        Keyword arguments go to `Client`, and may override the API token.
        """
        from eventsourcingdb.client import Client

        own = "http_client" not in kwargs and "transport" not in kwargs
        if self._in_process and own:
            kwargs["transport"] = self.async_transport()
        elif self._tls is not None and own:
            kwargs["transport"] = httpx.AsyncHTTPTransport(verify=self._tls.client_context())
        kwargs.setdefault("api_token", self._api_token)
        return Client(base_url=self.get_base_url(), **kwargs)

    def get_sync_client(self, **kwargs: Any) -> sync.Client:
        """A new blocking `sync.Client` for this emulator (in process: over the sync in-process
        transport). Keyword arguments go to `sync.Client`, and may override the API token."""
        from eventsourcingdb.sync import Client as SyncClient

        own = "http_client" not in kwargs and "transport" not in kwargs
        if self._in_process and own:
            kwargs["transport"] = self.sync_transport()
        elif self._tls is not None and own:
            kwargs["transport"] = httpx.HTTPTransport(verify=self._tls.client_context())
        kwargs.setdefault("api_token", self._api_token)
        return SyncClient(base_url=self.get_base_url(), **kwargs)
