"""A throw-away PostgreSQL server for the test session, from the machine's own binaries.

`initdb` and `pg_ctl` (on PATH) create and start a cluster in a temporary directory on a free
loopback port, as the `postgres` user when the tests run as root (PostgreSQL refuses to run as
root), as the current user otherwise. Tests share the server and each gets a schema of its own.
A watchdog process stops the server should the test session die before it could.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

_READY_SECONDS: Final = 60.0
_SERVICE_USER: Final = "postgres"


class PostgresUnavailable(Exception):
    """The machine cannot run a PostgreSQL server for the tests; the message says why."""


@dataclass(frozen=True)
class PostgresServer:
    """A running server: `url()` names a database on it for SQLAlchemy with asyncpg."""

    host: str
    port: int
    user: str
    data: Path
    log: Path
    pg_ctl: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://{self.user}@{self.host}:{self.port}/{database}"

    def restart(self) -> None:
        """Stop the server as a crash would (open connections break) and start it again."""
        command = [self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-m", "immediate"]
        _run([*command, "-w", "restart"], "restart")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _as_user(command: list[str]) -> list[str]:
    """`command` run as the service user when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser is not None:
        return [runuser, "-u", _SERVICE_USER, "--", *command]
    return ["su", _SERVICE_USER, "-s", "/bin/sh", "-c", " ".join(command)]


def _check_machine() -> tuple[str, str]:
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise PostgresUnavailable(
            "no PostgreSQL server binaries (initdb, pg_ctl) on PATH: install PostgreSQL "
            "(Debian: apt-get install postgresql) to run the PostgreSQL tests"
        )
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam(_SERVICE_USER)
        except KeyError:
            raise PostgresUnavailable(
                f"running as root, but there is no {_SERVICE_USER!r} user to run PostgreSQL as"
            ) from None
    return initdb, pg_ctl


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(
        _as_user(command), capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise PostgresUnavailable(f"{what} failed: {result.stdout}{result.stderr}".strip())


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a fresh cluster, yield it, then stop it and remove its directory."""
    initdb, pg_ctl = _check_machine()
    root = Path(tempfile.mkdtemp(prefix="esdb-postgres-"))
    data, sockets, log = root / "data", root / "sockets", root / "server.log"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, user=_SERVICE_USER)
        shutil.chown(sockets, user=_SERVICE_USER)
    started = False
    stop = _as_user([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"])
    watchdog: subprocess.Popen[bytes] | None = None
    try:
        _run(
            [initdb, "-D", str(data), "-U", _SERVICE_USER, "--auth=trust", "-E", "UTF8"],
            "initdb",
        )
        port = _free_port()
        options = f"-p {port} -k {sockets} -h 127.0.0.1 -c fsync=off -c full_page_writes=off"
        _run([pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "start"], "pg_ctl")
        started = True
        watchdog = _watchdog(stop, root)
        deadline = time.monotonic() + _READY_SECONDS
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.05)
        else:
            raise PostgresUnavailable(f"PostgreSQL did not listen on port {port}")
        yield PostgresServer(
            host="127.0.0.1", port=port, user=_SERVICE_USER, data=data, log=log, pg_ctl=pg_ctl
        )
    finally:
        if started:
            subprocess.run(stop, capture_output=True, timeout=60, check=False)
        shutil.rmtree(root, ignore_errors=True)
        if watchdog is not None:
            watchdog.kill()
            watchdog.wait(timeout=10)


def _watchdog(stop: list[str], root: Path) -> subprocess.Popen[bytes]:
    """A process of its own that stops the server and removes its directory if this test
    session dies without doing so (killed by a timeout, say): the server must not outlive it."""
    script = (
        f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
        f"{shlex.join(stop)} >/dev/null 2>&1; rm -rf {shlex.quote(str(root))}"
    )
    return subprocess.Popen(
        ["sh", "-c", script],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
