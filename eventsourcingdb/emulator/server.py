"""`EmulatorServer`: the engine and its handler, and the ways in: in-process transports, a socket.

One `EmulatorServer` is one emulated database. It hands out httpx transports (async and sync)
and an ASGI app over the same handler, and can listen on a loopback port with uvicorn running in
a daemon thread (`SocketServer`).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import threading
import time
from typing import Any, Final

import uvicorn

from eventsourcingdb.emulator._connections import ConnectionGuard, tracked_protocol
from eventsourcingdb.emulator.asgi import AsgiApp
from eventsourcingdb.emulator.durable import Verification
from eventsourcingdb.emulator.faults import Faults
from eventsourcingdb.emulator.handler import Handler
from eventsourcingdb.emulator.hashing import Signer
from eventsourcingdb.emulator.options import ServerOptions, TlsFiles
from eventsourcingdb.emulator.store import Store
from eventsourcingdb.emulator.transport import AsyncEmulatorTransport, EmulatorTransport, LoopThread

__all__ = ["EmulatorServer", "SocketServer"]

_logger = logging.getLogger("eventsourcingdb.emulator")

MAX_HEADER_BYTES: Final = 64 * 1024
"""The largest request head (request line and headers) the socket front end reads; beyond it
the request is answered 400."""
ACCEPT_BATCH: Final = 128
"""The listen backlog, which is also how many connections asyncio accepts in one go: at most
this many beyond the connection limit are open before the longest-waiting ones are closed."""
_OUT_OF_FILES: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class EmulatorServer:
    """An emulated EventSourcingDB: store, handler, and transports that reach it in process."""

    def __init__(self, options: ServerOptions | None = None) -> None:
        self._options = options or ServerOptions()
        self._store = self._open_store()
        self._faults = Faults()
        self._handler = Handler(self._store, self._options, self._faults)
        self._loop_thread: LoopThread | None = None
        self._lock = threading.Lock()

    def _open_store(self) -> Store:
        """The store the options describe: on the data directory (read back and checked; raises
        `DataDirectoryError`), or in memory."""
        options = self._options
        signer = Signer(options.signing_key) if options.signing_key else None
        if options.data_directory is None:
            return Store(
                hash_version=options.hash_version, signer=signer, time_format=options.time_format
            )
        verification = Verification.FULL if options.verify_data_directory else Verification.TAIL
        return Store.open(
            options.data_directory,
            hash_version=options.hash_version,
            signer=signer,
            time_format=options.time_format,
            verification=verification,
        )

    def restart_store(self) -> None:
        """Close the store and open it again, as a restarted server would: a data directory is
        read back from disk and checked again; a store in memory is kept as it is. Read-only
        mode ends unless the server was started in it."""
        self._handler.restarted()
        if self._options.data_directory is None:
            return
        self._store.close()
        self._store = self._open_store()
        self._handler.use_store(self._store)

    @property
    def options(self) -> ServerOptions:
        """The settings this server runs with."""
        return self._options

    @property
    def store(self) -> Store:
        """The engine (for tests that look behind the HTTP API)."""
        return self._store

    @property
    def faults(self) -> Faults:
        """The faults to inject into this server's answers (both front ends)."""
        return self._faults

    @property
    def handler(self) -> Handler:
        """The request handler both front ends share."""
        return self._handler

    def asgi_app(self) -> AsgiApp:
        """An ASGI application over the handler."""
        return AsgiApp(self._handler)

    def async_transport(self) -> AsyncEmulatorTransport:
        """An httpx async transport that answers from this server, in process."""
        return AsyncEmulatorTransport(self._handler)

    def sync_transport(self) -> EmulatorTransport:
        """An httpx sync transport that answers from this server, in process."""
        with self._lock:
            if self._loop_thread is None:
                self._loop_thread = LoopThread("eventsourcingdb-emulator-loop")
                if self._store.is_closed:  # a transport of a closed server answers nothing
                    self._loop_thread.close()
            return EmulatorTransport(self._handler, self._loop_thread)

    def reset(self) -> None:
        """Empty the store (events and schemas); open observe streams end."""
        self._store.reset()

    def close(self) -> None:
        """End every open stream and stop the sync transports' loop thread.

        Transports handed out before (and after) raise `httpx.ConnectError` from now on; the
        stopped loop thread is kept, so that no new one is started for a closed server.
        """
        self._store.close()
        with self._lock:
            loop_thread = self._loop_thread
        if loop_thread is not None:
            loop_thread.close()


class SocketServer:
    """uvicorn serving an ASGI app on a loopback port, in a daemon thread."""

    def __init__(
        self,
        app: AsgiApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: TlsFiles | None = None,
    ) -> None:
        self._host = host
        self._tls = tls
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and
        # without it every answer sent in two writes waits for a delayed ACK (about 40 ms)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind((host, port))
        except OSError:
            self._socket.close()
            raise
        self._port: int = self._socket.getsockname()[1]
        self._app = app
        options = app.handler.options
        limits = options.limits
        self._guard = ConnectionGuard(limits)
        # uvicorn sends the Server header on every answer, its own (400, 503) included
        app.sends_server_header = False
        config = uvicorn.Config(
            app,
            lifespan="off",
            http=tracked_protocol(app.connections, self._guard),
            ws="none",
            loop="asyncio",
            log_config=None,
            access_log=False,
            server_header=False,
            headers=[("server", options.server_header)],
            timeout_graceful_shutdown=2,
            timeout_keep_alive=max(1, round(limits.idle_timeout)),
            limit_concurrency=limits.max_connections + 1,  # the guard admits one beyond: 503
            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
            backlog=ACCEPT_BATCH,
            ssl_certfile=None if tls is None else str(tls.certificate_file),
            ssl_keyfile=None if tls is None else str(tls.private_key_file),
        )
        self._server = uvicorn.Server(config)
        self._files_exhausted_at = -60.0
        self._thread = threading.Thread(
            target=asyncio.run,
            args=(self._serve(),),
            name=f"eventsourcingdb-emulator-{self.port}",
            daemon=True,
        )

    async def _serve(self) -> None:
        """uvicorn's server, on a loop that reports running out of files once, not per attempt."""
        asyncio.get_running_loop().set_exception_handler(self._loop_error)
        await self._server.serve(sockets=[self._socket])

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if isinstance(error, OSError) and error.errno in _OUT_OF_FILES:
            now = time.monotonic()
            if now - self._files_exhausted_at >= 60.0:
                _logger.warning(
                    "the emulator cannot accept connections: %s; the process has run out of "
                    "file descriptors (raise `ulimit -n`, or lower --emulator-max-connections); "
                    "logged at most once a minute",
                    error.strerror,
                )
            self._files_exhausted_at = now
            return
        loop.default_exception_handler(context)

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self._port

    @property
    def scheme(self) -> str:
        """`https` when the server speaks TLS, else `http`."""
        return "http" if self._tls is None else "https"

    @property
    def connection_count(self) -> int:
        """How many connections are open now."""
        return len(self._guard)

    def cut_connections(self) -> int:
        """Close every open connection at once, unanswered; returns how many."""
        return self._app.connections.cut_all()

    def start(self, timeout: float = 10.0) -> None:
        """Start serving and wait until the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the emulator could not listen on {self._host}:{self.port}")
            time.sleep(0.005)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (open streams should have been ended first) and join the thread."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                _logger.warning("the emulator's server thread did not stop within %s s", timeout)
        self._socket.close()
