"""The socket front end protects itself: connection cap, header, body and idle timeouts, size."""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from eventsourcingdb.emulator import Emulator, EmulatorServer, ServerOptions
from eventsourcingdb.emulator.options import ConnectionLimits
from eventsourcingdb.errors import InvalidArgumentError
from tests.emulator.emulator_helpers import AUTH, BASE_URL

SERVER = b"server: eventsourcingdb/1.3.0-emulator"  # compared with lower-cased answers


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """An emulator on a socket with short timeouts and a small connection cap."""
    with Emulator().with_limits(
        max_connections=20,
        header_timeout=0.5,
        body_timeout=0.5,
        idle_timeout=0.5,
        max_request_bytes=1000,
    ) as started:
        yield started


def _connect(emulator: Emulator) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", emulator.get_mapped_port()), timeout=5)
    connection.settimeout(5)
    return connection


def _answer(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def _ping(emulator: Emulator) -> int:
    return httpx.get(emulator.get_base_url() + "/api/v1/ping", timeout=5).status_code


def test_idle_connections_beyond_the_cap_leave_the_server_reachable(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), contextlib.ExitStack() as stack:
        idle = [stack.enter_context(_connect(emulator)) for _ in range(60)]
        assert _ping(emulator) == 200
        assert _ping(emulator) == 200
        assert len(idle) == 60
        assert emulator.server is not None
    overload = [record for record in caplog.records if "its maximum" in record.getMessage()]
    assert len(overload) == 1
    assert overload[0].levelno == logging.WARNING
    assert not [record for record in caplog.records if record.exc_info]


@pytest.mark.timeout(60)
def test_idle_sockets_beyond_a_low_file_limit_flood_nothing(tmp_path: object) -> None:
    # as measured: a server process allowed 256 files, 400 idle sockets (the 1,100 of the
    # report against 1,024 files), then a ping
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def low_file_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "eventsourcingdb.emulator",
            "run",
            "--api-token=secret",
            "--http-enabled",
            "--https-enabled=false",
            f"--http-port={port}",
        ],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=low_file_limit,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(base + "/api/v1/ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.05)
        with contextlib.ExitStack() as stack:
            for _ in range(400):
                stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
            assert httpx.get(base + "/api/v1/ping", timeout=5).status_code == 200
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    lines = stderr.splitlines()
    assert len(lines) <= 4, lines[:20]
    assert "Traceback" not in stderr


def test_every_connection_busy_means_503_with_the_server_header(emulator: Emulator) -> None:
    busy = []
    with contextlib.ExitStack() as stack:
        for _ in range(20):
            connection = stack.enter_context(_connect(emulator))
            connection.sendall(
                b"POST /api/v1/observe-events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret"
                b'\r\nContent-Length: 15\r\n\r\n{"subject":"/"}'
            )
            assert connection.recv(65536).startswith(b"HTTP/1.1 200 ")
            busy.append(connection)
        refused = httpx.get(emulator.get_base_url() + "/api/v1/ping", timeout=5)
    assert refused.status_code == 503
    assert refused.headers["server"] == "EventSourcingDB/1.3.0-emulator"
    assert _ping(emulator) == 200  # the streams have ended


@pytest.mark.timeout(20)
def test_a_head_sent_a_line_at_a_time_times_out(emulator: Emulator) -> None:
    with _connect(emulator) as connection:
        connection.sendall(b"GET /api/v1/ping HTTP/1.1\r\nHost: x\r\n")
        deadline = time.monotonic() + 10
        while not select.select([connection], [], [], 0.05)[0]:
            assert time.monotonic() < deadline, "the server waits for the head forever"
            connection.sendall(b"X-Slow: yes\r\n")
        with contextlib.suppress(ConnectionResetError):
            assert connection.recv(65536) == b""  # closed, unanswered


@pytest.mark.timeout(20)
def test_a_connection_that_never_asks_is_closed(emulator: Emulator) -> None:
    with _connect(emulator) as connection:
        assert _answer(connection) == b""  # closed after the idle timeout, nothing sent


@pytest.mark.timeout(20)
def test_a_connection_idle_after_an_answer_is_closed(emulator: Emulator) -> None:
    with _connect(emulator) as connection:
        connection.sendall(b"GET /api/v1/ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _answer(connection).startswith(b"HTTP/1.1 200 ")


@pytest.mark.timeout(20)
def test_a_body_at_one_byte_a_tick_is_answered_408(emulator: Emulator) -> None:
    with _connect(emulator) as connection:
        connection.sendall(
            b"POST /api/v1/write-events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret\r\n"
            b"Content-Length: 500\r\n\r\n"
        )
        with contextlib.suppress(OSError):
            for _ in range(100):
                connection.sendall(b" ")
                time.sleep(0.05)
        answer = _answer(connection)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert SERVER in answer.lower()
    assert b"connection: close" in answer.lower()
    assert answer.endswith(b"request timeout: the request body did not arrive in time\n")


def test_a_declared_body_beyond_the_maximum_is_413_before_it_is_sent(emulator: Emulator) -> None:
    with _connect(emulator) as connection:
        connection.sendall(
            b"POST /api/v1/write-events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret\r\n"
            b"Content-Length: 5000\r\n\r\n"
        )
        answer = _answer(connection)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert SERVER in answer.lower()
    assert answer.endswith(b"http: request body too large\n")


def test_a_chunked_body_beyond_the_maximum_is_413(emulator: Emulator) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * 200

    answer = httpx.post(
        emulator.get_base_url() + "/api/v1/write-events", content=chunks(), headers=AUTH
    )
    assert answer.status_code == 413
    assert answer.text == "http: request body too large\n"
    assert _ping(emulator) == 200


async def test_the_in_process_front_end_has_the_same_maximum() -> None:
    limits = ConnectionLimits(max_request_bytes=1000)
    server = EmulatorServer(ServerOptions(limits=limits))
    try:
        async with httpx.AsyncClient(
            transport=server.async_transport(), base_url=BASE_URL, headers=AUTH
        ) as http:
            answer = await http.post("/api/v1/write-events", content=b"x" * 1001)
            assert (answer.status_code, answer.text) == (413, "http: request body too large\n")
            assert (await http.post("/api/v1/write-events", content=b"x" * 1000)).status_code == 400
    finally:
        server.close()


def test_answers_uvicorn_gives_itself_carry_the_server_header(emulator: Emulator) -> None:
    with _connect(emulator) as connection:
        connection.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        answer = _answer(connection)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert SERVER in answer.lower()
    with _connect(emulator) as connection:  # and the handler's answers carry it only once
        connection.sendall(b"GET /api/v1/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert _answer(connection).lower().count(b"\r\nserver: ") == 1


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_connections": 0}, "max_connections must be a positive integer, got 0"),
        ({"header_timeout": -1}, "header_timeout must be a positive number of seconds"),
        ({"body_timeout": 0}, "body_timeout must be a positive number of seconds"),
        ({"idle_timeout": True}, "idle_timeout must be a positive number of seconds"),
        ({"max_request_bytes": 1.5}, "max_request_bytes must be a positive integer"),
    ],
)
def test_bad_limits_are_invalid_arguments(limits: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        Emulator().with_limits(**limits)  # type: ignore[arg-type]
