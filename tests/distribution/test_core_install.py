"""The core install alone (`pip install eventsourcingdb-toolkit`, no extra) talks to a server,
pulls no optional dependency, and names the extra for each feature that needs one.

The environment is built once per change of pyproject.toml (`core_env.py`); the emulator the
client talks to runs from this (the development) environment on a loopback socket, as a real
server would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from bench.harness import ROOT, clean_environment, free_port
from tests.distribution.core_env import CoreEnvironmentUnavailable, ensure_core_python


def _name(requirement: str) -> str:
    """The distribution a requirement names: `sqlalchemy[asyncio]>=2` is `sqlalchemy`."""
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


_PROJECT: Final = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CORE_DISTRIBUTIONS: Final = frozenset(_name(r) for r in _PROJECT["dependencies"])
OPTIONAL_DISTRIBUTIONS: Final = (
    frozenset(
        _name(requirement)
        for extra, requirements in _PROJECT["optional-dependencies"].items()
        if extra not in ("dev", "all", "testing")
        for requirement in requirements
        if not requirement.startswith("eventsourcingdb-toolkit")
    )
    | {"docker", "numpy"}  # what testcontainers and the data-frame libraries pull in
) - CORE_DISTRIBUTIONS
API_TOKEN: Final = "secret"


@pytest.fixture(scope="module")
def core_python() -> Path:
    try:
        return ensure_core_python()
    except CoreEnvironmentUnavailable as error:
        if os.environ.get("CI"):
            pytest.fail(f"the core environment could not be built: {error}", pytrace=False)
        pytest.skip(f"the core environment could not be built (no package index?): {error}")


def run(python: Path, code: str, *arguments: str, cwd: Path | None = None) -> str:
    completed = subprocess.run(
        [str(python), "-c", textwrap.dedent(code), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_environment(),
        cwd=cwd,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """The emulator's command line from the development environment, on a free port."""
    port = free_port()
    process = subprocess.Popen(
        [
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
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/system/ping", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the emulator did not start: {process.stderr}") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


def test_the_core_install_pulls_no_optional_dependency(core_python: Path) -> None:
    installed = set(
        json.loads(
            run(
                core_python,
                """
                import importlib.metadata, json
                names = [d.metadata["Name"] for d in importlib.metadata.distributions()]
                print(json.dumps([name.lower().replace("_", "-") for name in names]))
                """,
            )
        )
    )
    assert {"uvicorn", "lark", "jsonschema", "testcontainers", "pandas"} <= OPTIONAL_DISTRIBUTIONS
    assert not installed & OPTIONAL_DISTRIBUTIONS, installed & OPTIONAL_DISTRIBUTIONS
    assert installed >= CORE_DISTRIBUTIONS
    assert "eventsourcingdb-toolkit" in installed


def test_the_core_imports_work_and_import_nothing_optional(core_python: Path) -> None:
    loaded = run(
        core_python,
        """
        import sys
        import eventsourcingdb, eventsourcingdb.models, eventsourcingdb.aggregates
        import eventsourcingdb.pandas, eventsourcingdb.polars, eventsourcingdb.container
        import eventsourcingdb.pytest_plugin
        heavy = {"uvicorn", "lark", "jsonschema", "re2", "testcontainers", "docker", "sqlalchemy",
                 "opentelemetry", "pandas", "polars", "eventsourcingdb.emulator"}
        print(sorted(name for name in sys.modules if name.split(".")[0] in heavy
                     or name.startswith("eventsourcingdb.emulator")))
        """,
    )
    assert loaded.strip() == "[]"


def test_each_feature_of_an_extra_names_it(core_python: Path) -> None:
    outcome = json.loads(
        run(
            core_python,
            """
            import asyncio, json
            from eventsourcingdb import Container, MissingExtraError

            extras = {}
            def attempt(name, call):
                try:
                    call()
                except MissingExtraError as error:
                    extras[name] = [error.extra, str(error)]

            def emulator():
                import eventsourcingdb.emulator
            attempt("emulator", emulator)
            attempt("container", lambda: Container().start())
            from eventsourcingdb import pandas, polars
            attempt("pandas", lambda: asyncio.run(pandas.events_to_dataframe([])))
            attempt("polars", lambda: asyncio.run(polars.events_to_dataframe([])))
            print(json.dumps(extras))
            """,
        )
    )
    assert {name: extra for name, (extra, _) in outcome.items()} == {
        "emulator": "emulator",
        "container": "container",
        "pandas": "pandas",
        "polars": "polars",
    }
    assert "pip install 'eventsourcingdb-toolkit[emulator]'" in outcome["emulator"][1]


def test_a_core_client_talks_to_a_server(core_python: Path, server_url: str) -> None:
    output = run(
        core_python,
        """
        import asyncio, sys
        from eventsourcingdb import Client, EventCandidate, IsSubjectPristine, ReadEventsOptions

        async def main(url):
            async with Client(url, "secret") as client:
                await client.ping()
                await client.verify_api_token()
                (written,) = await client.write_events(
                    [EventCandidate("https://core.test", "/core/1", "io.core.test.done", {"n": 1})],
                    [IsSubjectPristine("/core/1")],
                )
                read = [e async for e in client.read_events("/core", ReadEventsOptions(True))]
                read[0].verify_hash()
                print(written.event_id == read[0].event_id, read[0].data)

        asyncio.run(main(sys.argv[1]))
        """,
        server_url,
    )
    assert output.strip() == "True {'n': 1}"


PLUGIN_TESTS: Final = """
from eventsourcingdb import Client

def test_without_a_server():
    assert True

async def test_with_a_server(esdb_client: Client, esdb_namespace) -> None:
    subject = esdb_namespace.subject("/core")
    await esdb_client.write_events(
        [{"source": "https://core.test", "subject": subject, "type": "io.core.test.done",
          "data": {}}]
    )
    assert [event.subject async for event in esdb_client.read_events(subject)] == [subject]
"""


def test_pytest_starts_without_the_extras(core_python: Path, tmp_path: Path) -> None:
    """The plugin is registered for every install; only a fixture that needs the emulator fails,
    saying which extra to install or how to use a server instead."""
    (tmp_path / "test_core_plugin.py").write_text(PLUGIN_TESTS)
    completed = subprocess.run(
        [str(core_python), "-m", "pytest", "-p", "no:cacheprovider", "-o", "asyncio_mode=auto"],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_environment(),
        cwd=tmp_path,
        check=False,
    )
    output = completed.stdout
    assert "1 passed, 1 error" in output, output
    assert "MissingExtraError" in output
    assert "pip install 'eventsourcingdb-toolkit[testing]'" in output
    assert "--esdb-target=url" in output


def test_pytest_runs_against_a_server_without_the_extras(
    core_python: Path, tmp_path: Path, server_url: str
) -> None:
    (tmp_path / "test_core_plugin.py").write_text(PLUGIN_TESTS)
    completed = subprocess.run(
        [
            str(core_python),
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            "--esdb-target=url",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean_environment(), "ESDB_URL": server_url, "ESDB_API_TOKEN": API_TOKEN},
        cwd=tmp_path,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "2 passed" in completed.stdout
