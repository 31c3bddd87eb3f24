"""Container: command line, key handling and readiness without Docker; the real image with it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eventsourcingdb import container as c
from eventsourcingdb.errors import ContainerError, InvalidArgumentError


def test_the_command_line_is_the_real_servers() -> None:
    assert c.command_line(api_token="secret", port=3000, signing_key_path=None) == [
        "run",
        "--api-token",
        "secret",
        "--data-directory-temporary",
        "--http-enabled",
        "--https-enabled=false",
    ]


def test_a_custom_port_and_a_signing_key_extend_the_command_line() -> None:
    command = c.command_line(api_token="t", port=4000, signing_key_path=c.SIGNING_KEY_PATH)
    assert command[-4:] == [
        "--http-port",
        "4000",
        "--signing-key-file",
        "/etc/esdb/signing-key.pem",
    ]


def test_the_signing_key_is_written_as_pkcs8_pem_that_loads_back() -> None:
    key = Ed25519PrivateKey.generate()
    pem = c.signing_key_pem(key)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    loaded = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(loaded, Ed25519PrivateKey)
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    assert loaded.public_key().public_bytes(*raw) == key.public_key().public_bytes(*raw)


def test_with_signing_key_generates_a_key_pair() -> None:
    container = c.Container().with_signing_key()
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    assert container.get_verification_key().public_bytes(*raw) == (
        container.get_signing_key().public_key().public_bytes(*raw)
    )


def test_keys_are_refused_when_none_was_configured() -> None:
    with pytest.raises(ContainerError, match="with_signing_key"):
        c.Container().get_signing_key()


def test_builders_check_their_arguments() -> None:
    with pytest.raises(InvalidArgumentError):
        c.Container().with_port(0)
    with pytest.raises(InvalidArgumentError):
        c.Container().with_api_token("")
    with pytest.raises(InvalidArgumentError):
        c.Container().with_image_tag("")
    with pytest.raises(InvalidArgumentError):
        c.Container().with_startup_timeout(-1)


def test_a_container_that_was_not_started_is_not_running_and_has_no_address() -> None:
    container = c.Container().with_image_tag("1.0.0").with_port(4000).with_api_token("t")
    assert container.is_running() is False
    assert container.get_api_token() == "t"
    with pytest.raises(ContainerError, match="call start"):
        container.get_base_url()
    container.stop()  # stopping what never ran is harmless


@pytest.mark.parametrize(
    ("status", "server", "expected"),
    [
        (None, None, c.ProbeResult.NOT_YET),
        (200, "EventSourcingDB/1.3.0", c.ProbeResult.READY),
        (200, "nginx", c.ProbeResult.NOT_YET),
        (200, None, c.ProbeResult.NOT_YET),
        (404, "EventSourcingDB/1.2.0", c.ProbeResult.NO_V2),
        (405, "EventSourcingDB/1.2.0", c.ProbeResult.NO_V2),
        (503, "EventSourcingDB/1.3.0", c.ProbeResult.NOT_YET),
    ],
)
def test_probe_answers_are_classified(
    status: int | None, server: str | None, expected: c.ProbeResult
) -> None:
    assert c.classify_probe(status, server) is expected


class _FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_readiness_probes_v2_until_the_server_answers() -> None:
    clock = _FakeClock()
    answers: Iterator[c.Answer] = iter([(None, None), (None, None), (200, "EventSourcingDB/1.3")])
    probed: list[str] = []

    def probe(path: str) -> c.Answer:
        probed.append(path)
        return next(answers)

    path = c.wait_until_ready(probe, timeout=5, interval=0.5, clock=clock, sleep=clock.sleep)
    assert path == "/api/v2/system/ping"
    assert probed == ["/api/v2/system/ping"] * 3
    assert clock.now == 1.0


def test_readiness_falls_back_to_the_v1_ping_on_an_older_server() -> None:
    clock = _FakeClock()

    def probe(path: str) -> c.Answer:
        return (404, "EventSourcingDB/1.2.0") if "v2" in path else (200, "EventSourcingDB/1.2.0")

    assert c.wait_until_ready(probe, timeout=5, clock=clock, sleep=clock.sleep) == "/api/v1/ping"


def test_readiness_gives_up_after_the_timeout_with_what_it_saw() -> None:
    clock = _FakeClock()
    with pytest.raises(ContainerError, match=r"within 2 seconds .*status 503"):
        c.wait_until_ready(
            lambda _: (503, "EventSourcingDB/1.3.0"),
            timeout=2,
            interval=0.5,
            clock=clock,
            sleep=clock.sleep,
        )


def test_start_fails_fast_without_a_docker_engine_and_points_to_the_emulator(
    monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    container = c.Container()
    with pytest.raises(ContainerError, match=r"No Docker engine is reachable.*Emulator"):
        container.start()
    assert container.is_running() is False


_NO_ENGINE = c.docker_engine_problem(os.environ.get("DOCKER_HOST"))


@pytest.mark.docker
@pytest.mark.skipif(_NO_ENGINE is not None, reason=f"no Docker engine: {_NO_ENGINE}")
def test_the_integration_suite_passes_against_the_real_image() -> None:
    """The portable client suite, run against `thenativeweb/eventsourcingdb` in a container."""
    suite = Path(__file__).parent / "integration"
    finished = subprocess.run(
        [sys.executable, "-m", "pytest", str(suite), "--esdb-target=container", "-q"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-4000:]
