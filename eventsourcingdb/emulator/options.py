"""The settings of an emulated server: token, API versions, hashing, signing, heartbeats, times,
and where its data lives."""

from __future__ import annotations

import enum
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eventsourcingdb.emulator.encoding import TimeFormat
from eventsourcingdb.emulator.hashing import HashVersion
from eventsourcingdb.emulator.rate_limit import RateLimit

__all__ = [
    "DEFAULT_SERVER_HEADER",
    "V1_ONLY_SERVER_HEADER",
    "ApiVersion",
    "ConnectionLimits",
    "ServerOptions",
    "TlsFiles",
]

DEFAULT_SERVER_HEADER: Final = "EventSourcingDB/1.3.0-emulator"
"""The `Server` header: 1.3 is the first server version that offers the v2 API."""
V1_ONLY_SERVER_HEADER: Final = "EventSourcingDB/1.2.0-emulator"
"""The `Server` header of a server that offers only v1, as servers before 1.3 did."""


class ApiVersion(enum.IntEnum):
    """The HTTP APIs a server offers: v1 (`/api/v1/...`) and v2 (`/api/v2/...`, since 1.3)."""

    V1 = 1
    V2 = 2


def _default_max_connections() -> int:
    """1,000, or fewer where the process may open too few files to hold as many sockets."""
    try:
        import resource  # not on Windows
    except ImportError:
        return 1000
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1000
    # leave files for the connections accepted in one go beyond the limit, and the process
    return max(16, min(1000, soft - 300))


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """How the socket front end keeps clients from exhausting it.

    At most `max_connections` connections at once: at the limit a new connection closes the
    one that has waited longest for a request, and while every connection is busy, new requests
    are answered 503. A request head must arrive within `header_timeout` seconds of its first
    byte, its body within `body_timeout` seconds of the head (else 408), and a connection with
    no request for `idle_timeout` seconds is closed. Bodies beyond `max_request_bytes` are 413.
    """

    max_connections: int = field(default_factory=_default_max_connections)
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    idle_timeout: float = 60.0
    max_request_bytes: int = 32 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "idle_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        for name in ("max_connections", "max_request_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The certificate (PEM, chain allowed) and private key (PEM) of a server that speaks HTTPS,
    as `run --https-certificate-file ... --https-private-key-file ...` takes them."""

    certificate_file: Path
    private_key_file: Path

    def server_context(self) -> ssl.SSLContext:
        """The server's TLS context; raises `ValueError` saying what is wrong with the files."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.certificate_file, self.private_key_file)
        except (OSError, ssl.SSLError) as error:
            raise ValueError(
                f"cannot use {self.certificate_file} and {self.private_key_file} as the "
                f"certificate and private key of the server: {error}"
            ) from None
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client's TLS context that trusts the system's authorities and this certificate
        (so a self-signed certificate of a test is trusted as well)."""
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=self.certificate_file)
        return context


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """How an emulated server behaves; the defaults are those of a current real server."""

    api_token: str = "secret"
    api_versions: frozenset[ApiVersion] = field(default_factory=lambda: frozenset(ApiVersion))
    hash_version: HashVersion = HashVersion.V1
    signing_key: Ed25519PrivateKey | None = None
    heartbeat_interval: float = 1.0
    time_format: TimeFormat = TimeFormat.RFC3339_NANO
    data_directory: Path | None = None
    """Where the events are kept durably (SQLite); None keeps them in memory only."""
    verify_data_directory: bool = False
    """Check every event of the data directory on start, not only the hash chain and the tail."""
    server_header: str = ""
    """The `Server` header; empty means the version that fits `api_versions` (1.3.0, or 1.2.0
    without v2)."""
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    rate_limit: RateLimit | None = None
    """Limit the requests of each client address as the real server does (off by default)."""
    read_only: bool = False
    """Start in read-only mode (`run --read-only`): writes and schema registrations are refused
    with 503 until the server is started again without it."""

    def __post_init__(self) -> None:
        if not self.server_header:
            offers_v2 = ApiVersion.V2 in self.api_versions
            header = DEFAULT_SERVER_HEADER if offers_v2 else V1_ONLY_SERVER_HEADER
            object.__setattr__(self, "server_header", header)
