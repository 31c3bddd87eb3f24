"""A virtual environment holding the core install alone: `pip install <repo>` without extras.

Cached as `<repo>/.venv-core/<hash of pyproject.toml>/` (git-ignored), so it is built once per
change of the dependencies; the package is installed editable, so the environment always runs
the current code. Besides the package it holds pytest and pytest-asyncio (at the versions of the
running environment), to show that the pytest plugin starts without the extras. Locking and
running share the helpers of the official client's cache (`bench/official.py`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
import sys
from pathlib import Path
from typing import Final

from bench.harness import ROOT
from bench.official import file_lock, run_checked

VENV_ROOT: Final = ROOT / ".venv-core"
COMPLETE_MARKER: Final = ".core-complete"
TEST_TOOLS: Final = ("pytest", "pytest-asyncio")


class CoreEnvironmentUnavailable(RuntimeError):
    """The core environment could not be built (the message says why)."""


def _key() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]


def _build(venv: Path, key: str) -> None:
    shutil.rmtree(venv, ignore_errors=True)
    python = venv / "bin" / "python"
    tools = [f"{name}=={importlib.metadata.version(name)}" for name in TEST_TOOLS]
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    try:
        run_checked([sys.executable, "-m", "venv", str(venv)], 300, CoreEnvironmentUnavailable)
        run_checked(
            [*pip, "--quiet", "--editable", str(ROOT), *tools], 900, CoreEnvironmentUnavailable
        )
    except CoreEnvironmentUnavailable:
        shutil.rmtree(venv, ignore_errors=True)
        raise
    (venv / COMPLETE_MARKER).write_text(key + "\n")


def ensure_core_python() -> Path:
    """The Python of the core environment for the current pyproject.toml, built if missing;
    environments of earlier versions of pyproject.toml are removed."""
    key = _key()
    venv = VENV_ROOT / key
    with file_lock(VENV_ROOT / f".{key}.lock"):
        marker = venv / COMPLETE_MARKER
        if not marker.is_file() or marker.read_text().strip() != key:
            _build(venv, key)
        for stale in VENV_ROOT.iterdir():
            if stale.is_dir() and stale.name != key:
                shutil.rmtree(stale, ignore_errors=True)
    return venv / "bin" / "python"
