"""The pytest plugin: targets, a fresh store per test on the emulator, namespaces elsewhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from eventsourcingdb.emulator import Emulator
from eventsourcingdb.testing import Namespace, Target

_TESTS = Path(__file__).parent
_INTEGRATION_SUITE = _TESTS / "integration" / "test_against_a_server.py"

_TWO_TESTS_THAT_EACH_NEED_AN_EMPTY_STORE = """
import pytest

EVENT = {
    "source": "https://tests.example.com",
    "subject": "/a",
    "type": "io.example.thing-happened",
    "data": {},
}

@pytest.mark.parametrize("attempt", [1, 2])
async def test_the_first_event_is_event_zero(esdb_client, attempt):
    written = await esdb_client.write_events(events=[EVENT])
    assert written[0].event_id == "0"
"""


def test_importing_the_plugin_loads_no_server_code() -> None:
    probe = (
        "import sys, eventsourcingdb.pytest_plugin; "
        "heavy = [m for m in ('eventsourcingdb.emulator', 'testcontainers', 'docker', 'uvicorn', "
        "'lark') if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)"
    )
    finished = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert finished.returncode == 0, finished.stdout + finished.stderr


def test_every_test_gets_an_empty_store_on_the_emulator(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(_TWO_TESTS_THAT_EACH_NEED_AN_EMPTY_STORE)
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    for target in ("in-process", "socket"):
        result = pytester.runpytest_subprocess(f"--esdb-target={target}")
        result.assert_outcomes(passed=2)


_FAULTS = """
import pytest

async def test_a_refusal_is_answered(esdb_client, esdb_faults):
    esdb_faults.refuse_next(1, status=503)
    with pytest.raises(Exception, match="503"):
        await esdb_client.verify_api_token()

async def test_faults_armed_before_are_disarmed(esdb_client, esdb_server):
    esdb_server.faults.refuse_next(5)

async def test_no_fault_is_left_over(esdb_client):
    await esdb_client.verify_api_token()
"""


def test_faults_are_a_fixture_on_the_emulator_and_never_leak_into_the_next_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(_FAULTS)
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    for target in ("in-process", "socket"):
        result = pytester.runpytest_subprocess(f"--esdb-target={target}", "-p", "no:randomly")
        result.assert_outcomes(passed=3)


def test_faults_skip_where_the_server_is_not_the_emulator(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile("def test_faults(esdb_faults):\n    raise AssertionError\n")
    with Emulator() as shared:
        monkeypatch.setenv("ESDB_URL", shared.get_base_url())
        monkeypatch.setenv("ESDB_API_TOKEN", "secret")
        result = pytester.runpytest_subprocess("--esdb-target=url", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*fault injection needs the emulator; the target is url*"])


def test_blocking_tests_get_a_blocking_client_on_every_emulator_target(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
from eventsourcingdb.sync import Client

EVENT = {"source": "https://t.example.com", "subject": "/a", "type": "io.x.y", "data": {}}

def test_a_plain_test(esdb_sync_client):
    assert isinstance(esdb_sync_client, Client)
    assert esdb_sync_client.write_events([EVENT])[0].event_id == "0"
    assert [e.subject for e in esdb_sync_client.read_events("/a")] == ["/a"]
"""
    )
    for target in ("in-process", "socket"):
        result = pytester.runpytest_subprocess(f"--esdb-target={target}", "-p", "no:asyncio")
        result.assert_outcomes(passed=1)


def test_the_target_can_come_from_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile("def test_target(esdb_target):\n    assert esdb_target.value == 'socket'\n")
    monkeypatch.setenv("ESDB_TARGET", "socket")
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_an_unknown_target_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile("def test_target(esdb_target):\n    pass\n")
    monkeypatch.setenv("ESDB_TARGET", "mainframe")
    result = pytester.runpytest_subprocess()
    result.stderr.fnmatch_lines(["*ESDB_TARGET='mainframe' is not one of*"])


def test_a_url_target_needs_url_and_token(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ESDB_URL", raising=False)
    monkeypatch.delenv("ESDB_API_TOKEN", raising=False)
    pytester.makepyfile("def test_server(esdb_server):\n    pass\n")
    result = pytester.runpytest_subprocess("--esdb-target=url")
    result.stdout.fnmatch_lines(["*needs ESDB_URL and ESDB_API_TOKEN*"])
    assert result.ret != 0


def test_the_integration_suite_runs_against_a_shared_server_given_by_url(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a user does to run our suite against a real server, here with a busy emulator."""
    pytester.makepyfile(
        test_fresh="""
import pytest

@pytest.mark.esdb_fresh_store
def test_needs_an_empty_store():
    raise AssertionError("must be skipped on a shared server")

def test_namespaces_are_unique(esdb_namespace, request):
    assert esdb_namespace.subject_prefix.startswith("/test-namespaces-are-unique-")
"""
    )
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    (pytester.path / "test_against_a_server.py").write_text(
        _INTEGRATION_SUITE.read_text(encoding="utf-8"), encoding="utf-8"
    )
    helpers = pytester.mkpydir("tests")  # the suite runs both twins with our test helpers
    for name in ("twins.py", "conftest.py"):
        (helpers / name).write_text((_TESTS / name).read_text(encoding="utf-8"), encoding="utf-8")
    (pytester.path / "conftest.py").write_text("from tests.conftest import *  # noqa: F403\n")
    with Emulator().with_api_token("shared-secret") as shared:
        _write_someone_elses_events(shared.get_base_url(), "shared-secret")
        monkeypatch.setenv("ESDB_URL", shared.get_base_url())
        monkeypatch.setenv("ESDB_API_TOKEN", "shared-secret")
        result = pytester.runpytest_subprocess("--esdb-target=url", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, result.stdout.str()
    assert outcomes["skipped"] == 1
    assert outcomes["passed"] == 1 + 2 * 11  # the namespace test, then 11 tests for each twin


def _write_someone_elses_events(base_url: str, api_token: str) -> None:
    event = {
        "source": "https://someone-else.example.com",
        "subject": "/library/books/42",
        "type": "io.eventsourcingdb.library.book-acquired",
        "data": {"title": "Not yours"},
    }
    answer = httpx.post(
        f"{base_url}/api/v1/write-events",
        json={"events": [event, event]},
        headers={"Authorization": f"Bearer {api_token}"},
    )
    assert answer.status_code == 200


def test_namespaces_prefix_subjects_and_types() -> None:
    namespace = Namespace(subject_prefix="/run-1", type_prefix="t1.")
    assert namespace.subject("/books/42") == "/run-1/books/42"
    assert namespace.subject("/") == "/run-1"
    assert namespace.local_subject("/run-1/books") == "/books"
    assert namespace.local_subject("/run-1") == "/"
    assert namespace.event_type("io.example.thing-happened") == "t1.io.example.thing-happened"
    assert Namespace().subject("/books") == "/books"


def test_unique_namespaces_differ_and_are_valid() -> None:
    first, second = Namespace.unique("Test Things[1]"), Namespace.unique("Test Things[1]")
    assert first != second
    assert first.subject_prefix.startswith("/test-things-1-")
    first.subject("/x")
    first.event_type("io.example.thing-happened")


def test_only_the_emulator_targets_can_be_emptied() -> None:
    assert [target.value for target in Target if target.is_emulator] == ["in-process", "socket"]


def test_esdb_store_has_the_default_registry_and_can_be_overridden(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    pytester.makepyfile(
        test_default="""
from eventsourcingdb.models import default_registry
from eventsourcingdb.pytest_plugin import STORE_SOURCE

def test_default(esdb_store, esdb_repository):
    assert esdb_store.registry is default_registry
    assert esdb_store.source == STORE_SOURCE == "https://tests.eventsourcingdb.io"
    assert esdb_repository.store is esdb_store
""",
    )
    pytester.mkdir("own")
    pytester.path.joinpath("own", "conftest.py").write_text(
        """
import pytest
from eventsourcingdb.models import EventRegistry, EventStore

OWN = EventRegistry()

@pytest.fixture
def esdb_store(esdb_client):
    return EventStore(esdb_client, source="https://own.example", registry=OWN)
"""
    )
    pytester.path.joinpath("own", "test_own.py").write_text(
        """
from own.conftest import OWN

def test_own(esdb_repository):
    assert esdb_repository.store.registry is OWN
    assert esdb_repository.store.source == "https://own.example"
"""
    )
    pytester.path.joinpath("own", "__init__.py").write_text("")
    pytester.runpytest_subprocess().assert_outcomes(passed=2)
