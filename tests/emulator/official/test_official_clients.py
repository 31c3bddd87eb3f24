"""Run the official Python clients from PyPI against the emulator CLI, one test per scenario.

Variants (each with an emulator subprocess of its own, started with the real server's flags):

* ``2.2.4``: the current client on the emulator's default (v1 and v2 APIs): it speaks v2.
* ``1.9.3``: the previous line, which only speaks the v1 API.
* ``2.2.4-hash-v2``: the hash-related scenarios of 2.2.4 against an emulator that writes version 2
  hashes (``--emulator-hash-version 2``), which 2.2.4 verifies with its own v2 recipe.
* ``2.2.4-v1-api``: 2.2.4 against an emulator without the v2 API (``--emulator-api-versions 1``):
  it must fall back to v1 and map the emulator's v1 error texts to its error codes.

Each variant's driver runs once, in the official client's own virtual environment; every
scenario's JSON result line becomes one test here. The scenario names are read from the driver
files (their ``@scenario("...")`` decorators), so collecting the tests needs neither the virtual
environments nor the emulator.
"""

from __future__ import annotations

import ast
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pytest

from bench.harness import clean_environment

HERE = Path(__file__).resolve().parent
DRIVERS = {"2.2.4": HERE / "driver_v2.py", "1.9.3": HERE / "driver_v1.py"}
DRIVER_TIMEOUT_SECONDS = 300
# The first test of a client version also builds that version's venv, unless it is cached.
TEST_TIMEOUT_SECONDS = 1800
OUTPUT_SLACK_SECONDS = 0.2


class Emulator(Protocol):
    """What the tests use of an emulator from the ``emulator_cli`` fixture (see conftest.py)."""

    base_url: str
    api_token: str
    verification_key_file: Path
    command: list[str]

    def output_between(self, start: float, end: float) -> str: ...

    def output_tail(self, lines: int = ...) -> str: ...

    def exit_code(self) -> int | None: ...


class EmulatorCli(Protocol):
    """The ``emulator_cli`` fixture: label and extra CLI arguments -> a running emulator."""

    def __call__(self, label: str, *arguments: str) -> Emulator: ...

    def stop(self, label: str) -> None: ...


def scenario_names(driver: Path) -> list[str]:
    """The names of the ``@scenario("name")`` functions of a driver, in file order."""
    names: list[str] = []
    for node in ast.parse(driver.read_text(encoding="utf-8")).body:
        if not isinstance(node, ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            if (
                isinstance(decorator, ast.Call)
                and isinstance(decorator.func, ast.Name)
                and decorator.func.id == "scenario"
                and decorator.args
                and isinstance(decorator.args[0], ast.Constant)
                and isinstance(decorator.args[0].value, str)
            ):
                names.append(decorator.args[0].value)
    return names


SCENARIOS = {version: scenario_names(driver) for version, driver in DRIVERS.items()}

HASH_SCENARIOS = (
    "write_events_single",
    "write_events_several",
    "read_events_recursive_on",
    "observe_events_replay_then_live",
    "eventql_project_into_e",
    "hash_chain_and_version",
    "verify_hash",
    "verify_hash_special_characters",
    "verify_signature",
    "trace_parent_and_trace_state_round_trip",
)


@dataclass(frozen=True)
class Variant:
    name: str
    version: str
    emulator_arguments: tuple[str, ...] = ()
    driver_arguments: tuple[str, ...] = ()
    only: tuple[str, ...] | None = None  # a subset of the driver's scenarios

    @property
    def scenarios(self) -> list[str]:
        declared = SCENARIOS[self.version]
        if self.only is None:
            return declared
        missing = sorted(set(self.only) - set(declared))
        if missing:
            raise ValueError(f"variant {self.name}: unknown scenarios {missing}")
        return [name for name in declared if name in self.only]


VARIANTS = {
    variant.name: variant
    for variant in (
        Variant("2.2.4", "2.2.4", driver_arguments=("--api", "v2")),
        Variant("1.9.3", "1.9.3"),
        Variant(
            "2.2.4-hash-v2",
            "2.2.4",
            emulator_arguments=("--emulator-hash-version", "2"),
            driver_arguments=("--api", "v2", "--hash-version", "2"),
            only=HASH_SCENARIOS,
        ),
        Variant(
            "2.2.4-v1-api",
            "2.2.4",
            emulator_arguments=("--emulator-api-versions", "1"),
            driver_arguments=("--api", "v1"),
        ),
    )
}


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    ok: bool
    error: str | None
    traceback: str | None
    started: float
    finished: float


@dataclass(frozen=True)
class DriverRun:
    variant: Variant
    command: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    results: dict[str, ScenarioResult]
    emulator: Emulator
    emulator_exit_code: int | None  # right after the driver ran; None: it was still running


def as_text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode("utf-8", errors="replace")
    return output or ""


def parse_results(stdout: str) -> dict[str, ScenarioResult]:
    results: dict[str, ScenarioResult] = {}
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        try:
            item: Any = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            results[item["name"]] = ScenarioResult(
                name=item["name"],
                ok=item.get("ok") is True,
                error=item.get("error"),
                traceback=item.get("traceback"),
                started=float(item.get("started", 0.0)),
                finished=float(item.get("finished", 0.0)),
            )
    return results


def run_driver(python: Path, variant: Variant, emulator: Emulator) -> DriverRun:
    """Run the variant's driver against the emulator and collect its scenario results."""
    command = [
        str(python),
        str(DRIVERS[variant.version]),
        "--base-url",
        emulator.base_url,
        "--api-token",
        emulator.api_token,
        "--verification-key",
        str(emulator.verification_key_file),
        *variant.driver_arguments,
    ]
    if variant.only is not None:
        for name in variant.scenarios:
            command += ["--scenario", name]
    with subprocess.Popen(
        command,
        cwd=HERE,
        env=clean_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=DRIVER_TIMEOUT_SECONDS)
            returncode: int | None = process.returncode
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            stderr = as_text(stderr) + f"\n[driver killed after {DRIVER_TIMEOUT_SECONDS} s]"
            returncode = None
    stdout, stderr = as_text(stdout), as_text(stderr)
    return DriverRun(
        variant=variant,
        command=command,
        returncode=returncode,
        stdout=stdout,
        stderr=stderr,
        results=parse_results(stdout),
        emulator=emulator,
        emulator_exit_code=emulator.exit_code(),
    )


class DriverRuns:
    """Runs each variant's driver once, on first demand, against an emulator of its own."""

    def __init__(
        self, official_venv_python: Callable[[str], Path], emulator_cli: EmulatorCli
    ) -> None:
        self._official_venv_python = official_venv_python
        self._emulator_cli = emulator_cli
        self._runs: dict[str, DriverRun] = {}

    def get(self, variant: Variant) -> DriverRun:
        if variant.name not in self._runs:
            python = self._official_venv_python(variant.version)
            label = f"official-{variant.name}"
            emulator = self._emulator_cli(label, *variant.emulator_arguments)
            try:
                self._runs[variant.name] = run_driver(python, variant, emulator)
            finally:
                # Done with it: its output stays readable for the failure reports.
                self._emulator_cli.stop(label)
        return self._runs[variant.name]


@pytest.fixture(scope="module")
def driver_runs(
    official_venv_python: Callable[[str], Path], emulator_cli: EmulatorCli
) -> DriverRuns:
    return DriverRuns(official_venv_python, emulator_cli)


def clock(stamp: float) -> str:
    return datetime.fromtimestamp(stamp).strftime("%H:%M:%S.%f")[:-3]


def indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines()) or "    (nothing)"


def failure_report(run: DriverRun, scenario: str) -> str:
    result = run.results.get(scenario)
    lines = [f"official client {run.variant.version} ({run.variant.name}), scenario {scenario!r}"]
    if result is None:
        lines += [
            "the driver did not report this scenario",
            f"driver: {' '.join(run.command)}",
            f"driver exit code: {run.returncode}",
            "driver stderr (tail):",
            indent("\n".join(run.stderr.splitlines()[-60:])),
            f"emulator exit code after the driver run: {run.emulator_exit_code}",
            "emulator output (tail):",
            indent(run.emulator.output_tail(60)),
        ]
        return "\n".join(lines)
    window_start = result.started
    window_end = result.finished + OUTPUT_SLACK_SECONDS
    lines += [
        f"error: {result.error}",
        "driver traceback:",
        indent(result.traceback or ""),
        f"emulator output from {clock(window_start)} to {clock(window_end)} "
        "(stdout and stderr, while the scenario ran):",
        indent(run.emulator.output_between(window_start, window_end)),
        f"emulator: {' '.join(run.emulator.command)} "
        f"(exit code after the driver run: {run.emulator_exit_code})",
    ]
    return "\n".join(lines)


CASES = [
    pytest.param(variant, name, id=f"{variant.name}-{name}")
    for variant in VARIANTS.values()
    for name in variant.scenarios
]


@pytest.mark.official_client
@pytest.mark.timeout(TEST_TIMEOUT_SECONDS)
@pytest.mark.parametrize(("variant", "scenario"), CASES)
def test_official_client_scenario(variant: Variant, scenario: str, driver_runs: DriverRuns) -> None:
    run = driver_runs.get(variant)
    result = run.results.get(scenario)
    if result is None or not result.ok:
        pytest.fail(failure_report(run, scenario), pytrace=False)


@pytest.mark.official_client
@pytest.mark.timeout(TEST_TIMEOUT_SECONDS)
@pytest.mark.parametrize("version", list(DRIVERS))
def test_driver_lists_the_scenarios_it_declares(
    version: str, official_venv_python: Callable[[str], Path]
) -> None:
    python = official_venv_python(version)
    listed = subprocess.run(
        [str(python), str(DRIVERS[version]), "--list"],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_environment(),
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == SCENARIOS[version]
    assert len(set(SCENARIOS[version])) == len(SCENARIOS[version])


@pytest.mark.official_client
@pytest.mark.timeout(TEST_TIMEOUT_SECONDS)
@pytest.mark.parametrize("variant", list(VARIANTS.values()), ids=list(VARIANTS))
def test_driver_reports_exactly_the_requested_scenarios(
    variant: Variant, driver_runs: DriverRuns
) -> None:
    run = driver_runs.get(variant)
    assert sorted(run.results) == sorted(variant.scenarios), (
        f"driver exit code {run.returncode}; stderr tail:\n"
        + "\n".join(run.stderr.splitlines()[-30:])
    )
