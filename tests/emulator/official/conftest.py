"""Session fixtures for running the official Python clients from PyPI against the emulator.

The official package is also called ``eventsourcingdb``, so each version lives in a virtual
environment of its own under ``<repo>/.venv-official/<version>/`` (git-ignored), created once and
reused as long as it is complete. The emulator runs as a subprocess through its command line,
exactly as a user's script would start the real server binary.

* ``official_venv_python(version)`` -> the Python of the venv that holds that official version.
* ``signing_key_files`` -> a fresh Ed25519 key pair as PEM files (PKCS#8 private key for
  ``--signing-key-file``, SubjectPublicKeyInfo public key for the drivers).
* ``emulator_cli(label, *extra_arguments)`` -> an emulator started once per label on a free
  port with the real server's flags (plus any extra ``--emulator-...`` arguments), stopped at the
  end of the session; its output (stdout and stderr) is captured line by line with timestamps.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.harness import clean_environment
from bench.official import OfficialClientUnavailable, ensure_official_python

REPO_ROOT = Path(__file__).resolve().parents[3]
API_TOKEN = "secret"
PYPI_PROBE_URL = "https://pypi.org/simple/eventsourcingdb/"
EMULATOR_READY_SECONDS = 30.0
EMULATOR_START_ATTEMPTS = 3


# --------------------------------------------------------------------------------------------
# Virtual environments with the official client
# --------------------------------------------------------------------------------------------


def pypi_reachable() -> tuple[bool, str]:
    urls = [PYPI_PROBE_URL]
    index = os.environ.get("PIP_INDEX_URL")
    if index:
        urls.insert(0, index.rstrip("/") + "/eventsourcingdb/")
    problems = []
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=15) as response:
                status: int = response.status
            if status == 200:
                return True, url
        except urllib.error.HTTPError:
            return True, url  # it answered, so it is reachable
        except (urllib.error.URLError, OSError) as error:
            problems.append(f"{url}: {error}")
    return False, "; ".join(problems)


def ensure_official_venv(version: str) -> Path:
    """The Python of ``.venv-official/<version>``, created first if it is missing or broken.

    The cache and its creation are shared with the benchmarks (``bench/official.py``); here a
    failure becomes a skip when PyPI cannot be reached, and a test failure otherwise.
    """
    try:
        return ensure_official_python(version)
    except OfficialClientUnavailable as error:
        reachable, detail = pypi_reachable()
        if not reachable:
            pytest.skip(
                f"PyPI is unreachable ({detail}) and there is no cached virtual environment "
                f"for the official client eventsourcingdb=={version}"
            )
        pytest.fail(
            f"the official client eventsourcingdb=={version} could not be installed: {error}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def official_venv_python() -> Callable[[str], Path]:
    """Factory: official client version -> Python of a venv that has exactly that version."""
    pythons: dict[str, Path] = {}
    outcomes: dict[str, BaseException] = {}

    def get(version: str) -> Path:
        if version in outcomes:
            raise_again(outcomes[version])
        if version not in pythons:
            try:
                pythons[version] = ensure_official_venv(version)
            except (pytest.skip.Exception, pytest.fail.Exception) as outcome:
                outcomes[version] = outcome
                raise
        return pythons[version]

    return get


def raise_again(outcome: BaseException) -> NoReturn:
    """Repeat a skip or failure of an earlier test instead of retrying the slow setup."""
    message = f"(as in an earlier test) {outcome}"
    if isinstance(outcome, pytest.skip.Exception):
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


# --------------------------------------------------------------------------------------------
# Signing key
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKeyFiles:
    signing_key: Path  # Ed25519 private key, PKCS#8 PEM, for --signing-key-file
    verification_key: Path  # the matching public key, SubjectPublicKeyInfo PEM


@pytest.fixture(scope="session")
def signing_key_files(tmp_path_factory: pytest.TempPathFactory) -> SigningKeyFiles:
    directory = tmp_path_factory.mktemp("official-client-keys")
    private_key = Ed25519PrivateKey.generate()
    signing_key = directory / "signing-key.pem"
    signing_key.write_bytes(
        private_key.private_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PrivateFormat.PKCS8,
            encryption_algorithm=serialization.NoEncryption(),
        )
    )
    signing_key.chmod(0o600)
    verification_key = directory / "verification-key.pem"
    verification_key.write_bytes(
        private_key.public_key().public_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )
    return SigningKeyFiles(signing_key=signing_key, verification_key=verification_key)


# --------------------------------------------------------------------------------------------
# Emulator subprocess
# --------------------------------------------------------------------------------------------


class CapturedOutput:
    """Reads a process's output on a thread, remembering when each line arrived."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, name="emulator-output", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            with self._lock:
                self._lines.append((time.time(), line.rstrip("\n")))

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def lines(self) -> list[tuple[float, str]]:
        with self._lock:
            return list(self._lines)


class RunningEmulator:
    """An emulator CLI subprocess on 127.0.0.1 that answers ``GET /api/v1/ping``."""

    def __init__(
        self,
        process: subprocess.Popen[str],
        output: CapturedOutput,
        port: int,
        verification_key_file: Path,
        command: list[str],
    ) -> None:
        self.process = process
        self.output = output
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.api_token = API_TOKEN
        self.verification_key_file = verification_key_file
        self.command = command

    def output_between(self, start: float, end: float) -> str:
        return "\n".join(line for stamp, line in self.output.lines() if start <= stamp <= end)

    def output_tail(self, lines: int = 60) -> str:
        return "\n".join(line for _, line in self.output.lines()[-lines:])

    def exit_code(self) -> int | None:
        return self.process.poll()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.output.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def answers_ping(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/api/v1/ping", timeout=2) as response:
            status: int = response.status
    except (urllib.error.URLError, OSError):
        return False
    return status == 200


def start_emulator(keys: SigningKeyFiles, arguments: tuple[str, ...]) -> RunningEmulator:
    failures: list[str] = []
    for _ in range(EMULATOR_START_ATTEMPTS):
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "eventsourcingdb.emulator",
            "run",
            "--api-token",
            API_TOKEN,
            "--data-directory-temporary",
            "--http-enabled",
            "--https-enabled=false",
            "--http-port",
            str(port),
            "--signing-key-file",
            str(keys.signing_key),
            # the official Python client 2.2.4 cannot parse fractions of fewer than six digits,
            # which the real server's (and the emulator's default) RFC3339Nano times sometimes have
            "--emulator-time-format=nine-digits",
            *arguments,
        ]
        environment = clean_environment()
        environment["PYTHONUNBUFFERED"] = "1"
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        assert process.stdout is not None
        emulator = RunningEmulator(
            process, CapturedOutput(process.stdout), port, keys.verification_key, command
        )
        deadline = time.monotonic() + EMULATOR_READY_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            if answers_ping(emulator.base_url):
                return emulator
            time.sleep(0.1)
        emulator.stop()
        output = emulator.output_tail(40)
        failures.append(
            f"$ {' '.join(command)}\nexit code {process.returncode} "
            f"(no 200 from GET /api/v1/ping within {EMULATOR_READY_SECONDS} s)\n{output}"
        )
        if "address already in use" not in output.lower():
            break
    pytest.fail("the emulator CLI did not start:\n\n" + "\n\n".join(failures), pytrace=False)


class EmulatorCli:
    """Starts emulator CLI subprocesses, one per label, and stops them all at the end."""

    def __init__(self, keys: SigningKeyFiles) -> None:
        self._keys = keys
        self._running: dict[str, RunningEmulator] = {}
        self._outcomes: dict[str, BaseException] = {}

    def __call__(self, label: str, *arguments: str) -> RunningEmulator:
        """The emulator of that label, started on first use with the real server's flags plus
        the given extra arguments (such as ``--emulator-hash-version 2``)."""
        if label in self._outcomes:
            raise_again(self._outcomes[label])
        if label not in self._running:
            try:
                self._running[label] = start_emulator(self._keys, arguments)
            except pytest.fail.Exception as outcome:
                self._outcomes[label] = outcome
                raise
        return self._running[label]

    def stop(self, label: str) -> None:
        """Stop that emulator now (its captured output stays readable); a later call with the
        same label starts a new one."""
        emulator = self._running.pop(label, None)
        if emulator is not None:
            emulator.stop()

    def stop_all(self) -> None:
        for emulator in self._running.values():
            emulator.stop()
        self._running.clear()


@pytest.fixture(scope="session")
def emulator_cli(signing_key_files: SigningKeyFiles) -> Iterator[EmulatorCli]:
    """Factory: label (and extra CLI arguments) -> an emulator subprocess of its own."""
    cli = EmulatorCli(signing_key_files)
    yield cli
    cli.stop_all()
