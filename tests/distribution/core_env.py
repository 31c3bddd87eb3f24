"""A virtual environment holding the core install alone: `pip install <repo>` without extras.

Cached as `<repo>/.venv-core/<hash of pyproject.toml>/` (git-ignored), so it is built once per
change of the dependencies; the package is installed editable, so the environment always runs
the current code. Besides the package it holds pytest and pytest-asyncio (at the versions of the
running environment), to show that the pytest plugin starts without the extras.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
VENV_ROOT: Final = ROOT / ".venv-core"
COMPLETE_MARKER: Final = ".core-complete"
TEST_TOOLS: Final = ("pytest", "pytest-asyncio")


class CoreEnvironmentUnavailable(RuntimeError):
    """The core environment could not be built (the message says why)."""


def environment() -> dict[str, str]:
    """The environment for its processes: ours without virtual-environment variables."""
    variables = dict(os.environ)
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PIP_REQUIRE_VIRTUALENV"):
        variables.pop(name, None)
    return variables


def _key() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(command: list[str], timeout: float) -> None:
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=environment(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CoreEnvironmentUnavailable(f"{' '.join(command)} took over {timeout:g} s") from None
    if completed.returncode != 0:
        output = "\n".join((completed.stdout + completed.stderr).splitlines()[-30:])
        raise CoreEnvironmentUnavailable(f"{' '.join(command)} failed:\n{output}")


def _build(venv: Path) -> None:
    shutil.rmtree(venv, ignore_errors=True)
    try:
        _run([sys.executable, "-m", "venv", str(venv)], timeout=300)
        tools = [f"{name}=={importlib.metadata.version(name)}" for name in TEST_TOOLS]
        _run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--quiet",
                "--editable",
                str(ROOT),
                *tools,
            ],
            timeout=900,
        )
    except CoreEnvironmentUnavailable:
        shutil.rmtree(venv, ignore_errors=True)
        raise
    (venv / COMPLETE_MARKER).write_text(_key() + "\n")


def ensure_core_python() -> Path:
    """The Python of the core environment for the current pyproject.toml, built if missing."""
    key = _key()
    venv = VENV_ROOT / key
    with _locked(VENV_ROOT / f".{key}.lock"):
        marker = venv / COMPLETE_MARKER
        if not marker.is_file() or marker.read_text().strip() != key:
            _build(venv)
        for stale in VENV_ROOT.iterdir():
            if stale.is_dir() and stale.name != key:
                shutil.rmtree(stale, ignore_errors=True)
    return venv / "bin" / "python"
