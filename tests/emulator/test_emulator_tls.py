"""HTTPS as the real server speaks it: a certificate and key in PEM files, TLS through uvicorn."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from eventsourcingdb.emulator import Emulator
from eventsourcingdb.errors import InvalidArgumentError
from tests.certificates import self_signed_certificate
from tests.emulator.emulator_helpers import AUTH, candidate


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its private key (PEM files)."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


async def test_the_emulator_speaks_https_and_its_client_trusts_the_certificate(
    certificate: tuple[Path, Path],
) -> None:
    with Emulator().with_https(*certificate) as emulator:
        assert emulator.get_base_url().startswith("https://127.0.0.1:")
        async with emulator.get_client() as client:
            await client.verify_api_token()
            (written,) = await client.write_events([candidate()])
            read = [event async for event in client.read_events("/books/42")]
            assert [event.event_id for event in read] == [written.event_id]
        with emulator.get_sync_client() as sync_client:
            sync_client.ping()
        async with httpx.AsyncClient(timeout=5) as untrusting:
            plain = f"http://127.0.0.1:{emulator.get_mapped_port()}/api/v1/ping"
            with pytest.raises(httpx.HTTPError):  # no plain HTTP on the HTTPS port
                await untrusting.get(plain)
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await untrusting.get(emulator.get_base_url() + "/api/v1/ping")


def test_unusable_certificates_are_invalid_arguments(
    certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    certificate_file, key_file = certificate
    with pytest.raises(InvalidArgumentError, match=r"cannot use .* as the certificate"):
        Emulator().with_https(key_file, certificate_file)
    with pytest.raises(InvalidArgumentError, match="cannot use"):
        Emulator().with_https(tmp_path / "missing.pem", key_file)
    with pytest.raises(InvalidArgumentError, match="no socket to speak HTTPS on"):
        Emulator(in_process=True).with_https(certificate_file, key_file)


def test_the_command_line_serves_https_by_default_with_the_real_flags(
    certificate: tuple[Path, Path],
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    certificate_file, key_file = certificate
    process = subprocess.Popen(
        [sys.executable, "-m", "eventsourcingdb.emulator", "run", "--api-token", "secret",
         "--data-directory-temporary", f"--https-port={port}",
         f"--https-certificate-file={certificate_file}", f"--https-private-key-file={key_file}"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )  # fmt: skip
    context = ssl.create_default_context(cafile=str(certificate_file))
    base = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, process.communicate()
            try:
                if httpx.get(base + "/api/v1/ping", verify=context, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the emulator did not answer over HTTPS"
                time.sleep(0.05)
        written = httpx.post(
            base + "/api/v1/write-events",
            json={"events": [candidate()]},
            headers=AUTH,
            verify=context,
        )
        assert written.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert f"listening on {base}" in stderr
