"""The command line: the real server's flags start the emulator; SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eventsourcingdb import _wire
from eventsourcingdb.emulator.__main__ import main
from tests.emulator.emulator_helpers import candidate

PLAIN = ("--http-enabled", "--https-enabled=false")
"""What turns the real server (and the emulator) from its default, HTTPS, to plain HTTP."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _start(*arguments: str, cwd: Path | None = None, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "eventsourcingdb.emulator", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONWARNINGS": "error", **env},
    )


def _wait_for_ping(port: int, process: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/ping", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("the emulator did not answer its ping")


@pytest.fixture
def key_file(tmp_path: Path) -> tuple[Path, Ed25519PrivateKey]:
    """A fresh signing key and the PKCS#8 PEM file that holds it."""
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "signing-key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path, key


def test_the_real_servers_command_line_starts_and_stops_it(
    key_file: tuple[Path, Ed25519PrivateKey],
) -> None:
    path, key = key_file
    port = _free_port()
    process = _start(
        "run",
        "--api-token",
        "secret",
        "--data-directory-temporary",
        "--http-enabled",
        "--https-enabled=false",
        "--http-port",
        str(port),
        "--signing-key-file",
        str(path),
    )
    try:
        _wait_for_ping(port, process)
        base = f"http://127.0.0.1:{port}"
        headers = {"authorization": "Bearer secret"}
        written = httpx.post(
            f"{base}/api/v1/write-events", json={"events": [candidate()]}, headers=headers
        )
        (event,) = written.json()
        signature = bytes.fromhex(event["signature"].removeprefix(_wire.SIGNATURE_V1_PREFIX))
        key.public_key().verify(signature, event["hash"].encode())
        assert httpx.get(f"{base}/api/v2/system/ping").status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert f"listening on http://127.0.0.1:{port}" in stderr


def test_a_temporary_data_directory_stays_in_memory(tmp_path: Path) -> None:
    # nothing on disk, neither where it runs nor among temporary files, and a new start is empty
    here, temporary = tmp_path / "cwd", tmp_path / "tmp"
    here.mkdir()
    temporary.mkdir()
    headers = {"authorization": "Bearer secret"}
    for start in range(2):
        port = _free_port()
        process = _start(
            "run", "--api-token=secret", "--data-directory-temporary", *PLAIN,
            f"--http-port={port}", cwd=here, TMPDIR=str(temporary),
        )  # fmt: skip
        try:
            _wait_for_ping(port, process)
            base = f"http://127.0.0.1:{port}/api/v1"
            read = httpx.post(f"{base}/read-events", json={"subject": "/books/42"}, headers=headers)
            assert read.text == "", f"start {start} found events of an earlier run"
            written = httpx.post(
                f"{base}/write-events", json={"events": [candidate()] * 50}, headers=headers
            )
            assert written.status_code == 200
            assert list(here.iterdir()) == list(temporary.iterdir()) == [], "files while running"
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0, stderr
        assert list(here.iterdir()) == list(temporary.iterdir()) == []


def test_equals_spellings_and_emulator_flags() -> None:
    port = _free_port()
    process = _start(
        "run",
        "--api-token=secret",
        "--data-directory-temporary",
        "--http-enabled=true",
        "--https-enabled=false",
        f"--http-port={port}",
        "--with-ui",
        "--emulator-api-versions=1",
        "--emulator-hash-version=2",
    )
    try:
        _wait_for_ping(port, process)
        assert httpx.get(f"http://127.0.0.1:{port}/api/v2/system/ping").status_code == 404
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "--with-ui is ignored" in stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["run"], "--api-token"),
        (
            ["run", "--api-token", "t"],
            "needs --https-certificate-file and --https-private-key-file",
        ),
        (
            ["run", "--api-token", "t", "--https-enabled=true"],
            "add --https-enabled=false --http-enabled",
        ),
        (["run", "--api-token", "t", "--http-enabled"], "serve HTTPS on --https-port and HTTP on"),
        (
            ["run", "--api-token", "t", "--https-enabled=false"],
            "nothing to serve: add --http-enabled",
        ),
        (
            ["run", "--api-token", "t", "--data-directory", "/tmp/x", "--data-directory-temporary"],
            "choose one",
        ),
        (["run", "--api-token", "t", "--emulator-verify-data-directory"], "needs --data-directory"),
        (["run", "--api-token", "t", *PLAIN, "--http-port", "0"], "--http-port: 0 is not a port"),
        (["run", "--api-token", "t", "--https-enabled=maybe"], "invalid boolean"),
        (["run", "--api-token", "t", *PLAIN, "--signing-key-file", "/nonexistent"], "cannot load"),
        (["run", "--api-token", "t", "--emulator-api-versions", "3"], "invalid API versions"),
        (
            [
                "run",
                "--api-token",
                "t",
                "--https-certificate-file",
                "/nonexistent",
                "--https-private-key-file",
                "/nonexistent",
            ],
            "cannot use /nonexistent and /nonexistent as the certificate",
        ),
        ([], "command"),
    ],
)
def test_bad_command_lines_are_usage_errors(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(arguments)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_taken_port_exits_with_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["run", "--api-token", "t", *PLAIN, "--http-port", str(port)]) == 1
    assert "could not listen" in capsys.readouterr().err


def test_unknown_flags_are_ignored_with_a_warning() -> None:
    port = _free_port()
    process = _start(
        "run", "--api-token", "t", *PLAIN, "--http-port", str(port), "--log-level=debug"
    )
    try:
        _wait_for_ping(port, process)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    assert "ignoring unknown argument '--log-level=debug'" in stderr


@pytest.mark.parametrize(
    "arguments",
    [
        ["run", "--api-token", "t", "--https-enabled=true"],
        ["run", "--api-token", "t", "--https-enabled=false"],
        ["run", "--api-token", "t", "--data-directory", "/x", "--data-directory-temporary"],
        ["run", "--api-token", "t", *PLAIN, "--http-port", "0"],
        ["run", "--api-token", "t", *PLAIN, "--emulator-heartbeat-interval", "0"],
        ["run", "--api-token", "t", *PLAIN, "--signing-key-file", "/nonexistent"],
        ["run", "--api-token", "t", "--https-enabled=maybe"],
    ],
)
def test_errors_in_run_flags_show_the_usage_of_run(
    arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(arguments)
    error = capsys.readouterr().err
    assert error.startswith("usage: eventsourcingdb-emulator run ")
    assert "eventsourcingdb-emulator run: error: " in error


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")
def test_an_ipv6_address_is_printed_in_brackets() -> None:
    port = _free_port()
    process = _start(
        "run", "--api-token", "t", *PLAIN, "--http-port", str(port), "--emulator-host", "::1"
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            try:
                if httpx.get(f"http://[::1]:{port}/api/v1/ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    assert f"listening on http://[::1]:{port} " in stderr


def test_the_console_script_runs_main() -> None:
    (entry,) = entry_points(group="console_scripts", name="eventsourcingdb-emulator")
    assert entry.load() is main
    script = Path(sys.executable).parent / "eventsourcingdb-emulator"
    if not script.exists():
        pytest.skip("the console script is not installed next to this interpreter")
    done = subprocess.run(
        [str(script), "run", "--help"], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0
    assert done.stdout.startswith("usage: eventsourcingdb-emulator run ")
    assert "--emulator-heartbeat-interval" in done.stdout
