"""The official Python client from PyPI, in a virtual environment of its own.

The official package is also called `eventsourcingdb`, so it cannot live next to ours. The bench
shares the cache of the test suite: `<repo>/.venv-official/<version>/`, complete when its marker
file names the version and that version imports; creation is serialised with the same lock file,
so a test run and a bench run never build the same environment at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from bench.harness import ROOT, clean_environment, log

OFFICIAL_VERSION: Final = "2.2.4"
VENV_ROOT: Final = ROOT / ".venv-official"
COMPLETE_MARKER: Final = ".official-client-complete"


class OfficialClientUnavailable(RuntimeError):
    """The official client could not be installed (the message says why)."""


def _installed_version(python: Path) -> str | None:
    if not python.exists():
        return None
    try:
        completed = subprocess.run(
            [
                str(python),
                "-I",
                "-c",
                "import importlib.metadata as m; print(m.version('eventsourcingdb'))",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_environment(),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def _is_complete(venv: Path, version: str) -> bool:
    marker = venv / COMPLETE_MARKER
    if not marker.is_file() or marker.read_text().strip() != version:
        return False
    return _installed_version(venv / "bin" / "python") == version


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if needed): one builder of a cache at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_checked(
    command: list[str],
    timeout: float,
    error: type[Exception] = OfficialClientUnavailable,
) -> None:
    """Run `command`; raise `error` saying what failed (with the output's tail) if it does."""
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=clean_environment(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise error(f"{' '.join(command)} took over {timeout:g} s") from None
    if completed.returncode != 0:
        output = "\n".join((completed.stdout + completed.stderr).splitlines()[-30:])
        raise error(f"{' '.join(command)} failed:\n{output}")


def _create(venv: Path, version: str) -> None:
    log(f"installing the official client {version} into {venv.relative_to(ROOT)}")
    shutil.rmtree(venv, ignore_errors=True)
    try:
        run_checked([sys.executable, "-m", "venv", str(venv)], timeout=300)
        python = venv / "bin" / "python"
        run_checked(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--quiet",
                f"eventsourcingdb=={version}",
            ],
            timeout=900,
        )
        if _installed_version(python) != version:
            raise OfficialClientUnavailable(f"{venv} does not import eventsourcingdb {version}")
    except OfficialClientUnavailable:
        shutil.rmtree(venv, ignore_errors=True)
        raise
    (venv / COMPLETE_MARKER).write_text(version + "\n")


def ensure_official_python(version: str = OFFICIAL_VERSION) -> Path:
    """The Python of the virtual environment holding the official client `version`."""
    venv = VENV_ROOT / version
    with file_lock(VENV_ROOT / f".{version}.lock"):
        if not _is_complete(venv, version):
            _create(venv, version)
    return venv / "bin" / "python"
