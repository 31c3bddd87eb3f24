"""Our package offers the public surface of the official SDK 2.2.4, as derived from it.

`official-2.2.4.json` was written by `surface.py` from the installed 2.2.4; the first test compares
our package with it (no network), the second derives it again from 2.2.4 in its own virtual
environment, so that a drift of either is caught. Every difference is listed below with its
reason, and on the compatibility page.
"""

from __future__ import annotations

import importlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.compat.compare import differences, signature_problems

HERE = Path(__file__).parent
SNAPSHOT = HERE / "official-2.2.4.json"
COMPATIBILITY_PAGE = HERE.parents[1] / "docs" / "compatibility.md"

_AIOHTTP_INTERNALS = "2.2.4's HTTP machinery (aiohttp sessions, transports per API version)"
_EXCEPTION_MESSAGE = "the message parameter is called `message`, not `cause`; positional use works"

DELIBERATE: dict[str, str] = {
    "eventsourcingdb.http_client missing": _AIOHTTP_INTERNALS,
    "eventsourcingdb.transport missing": _AIOHTTP_INTERNALS,
    "eventsourcingdb.transport.v1 missing": _AIOHTTP_INTERNALS,
    "eventsourcingdb.transport.v2 missing": _AIOHTTP_INTERNALS,
    "eventsourcingdb.is_valid_server_header missing": _AIOHTTP_INTERNALS,
    "eventsourcingdb.parse_raw_message missing": _AIOHTTP_INTERNALS,
    "Client.http_client missing": "it returns 2.2.4's internal HttpClient; ours has none",
    "Event.__init__ signature": (
        "an Event is built from keywords only: thirteen positional fields are too easy to mix up"
    ),
    "ClientError.__init__ signature": (
        "our ClientError is the server's refusal of a request and needs its status; 2.2.4 never "
        "raises its ClientError"
    ),
    "ConnectionStalledError.__init__ signature": (
        "built from a message and the timeout= keyword; `stall_timeout` is an attribute"
    ),
    "InternalError.__init__ signature": _EXCEPTION_MESSAGE,
    "OutcomeUnknownError.__init__ signature": _EXCEPTION_MESSAGE,
    "ServerError.__init__ signature": _EXCEPTION_MESSAGE,
    "SignatureVerificationFailedError.__init__ signature": _EXCEPTION_MESSAGE,
    "ValidationError.__init__ signature": _EXCEPTION_MESSAGE,
}
"""Every way our surface differs from 2.2.4's, by key, with the reason."""


def test_the_comparison_sees_what_a_program_would_trip_over() -> None:
    """The checker itself: what a call valid for 2.2.4 would not survive is a problem."""
    theirs = [
        {"name": "subject", "kind": "POSITIONAL_OR_KEYWORD"},
        {"name": "options", "kind": "POSITIONAL_OR_KEYWORD", "default": "None"},
    ]
    assert signature_problems(theirs, theirs) == []
    superset = [*theirs, {"name": "recursive", "kind": "KEYWORD_ONLY", "default": "False"}]
    assert signature_problems(theirs, superset) == []
    assert signature_problems(theirs, theirs[:1]) == [
        "positional parameter 1 (options) is missing",
        "options= is not accepted as a keyword",
    ]
    renamed = [theirs[0], {**theirs[1], "name": "opts"}]
    assert "positional parameter 1 is 'opts', not 'options'" in signature_problems(theirs, renamed)
    required = [theirs[0], {"name": "options", "kind": "POSITIONAL_OR_KEYWORD"}]
    assert signature_problems(theirs, required) == ["options has no default (2.2.4: None)"]
    extra = [*theirs, {"name": "limit", "kind": "KEYWORD_ONLY"}]
    assert signature_problems(theirs, extra) == ["limit is required here, unknown to 2.2.4"]


def _snapshot() -> dict[str, Any]:
    snapshot: dict[str, Any] = json.loads(SNAPSHOT.read_text())
    return snapshot


def test_every_name_signature_and_member_of_2_2_4_exists_here() -> None:
    found = differences(_snapshot())
    unexpected = [f"{d.place} {d.aspect}: {d.detail}" for d in found if d.key not in DELIBERATE]
    assert not unexpected, "differences from 2.2.4 that are not deliberate:\n" + "\n".join(
        unexpected
    )
    stale = sorted(set(DELIBERATE) - {d.key for d in found})
    assert not stale, f"listed as deliberate, but no longer a difference: {stale}"


def test_the_snapshot_covers_what_2_2_4_teaches() -> None:
    modules = _snapshot()["modules"]
    assert _snapshot()["distribution_version"] == "2.2.4"
    assert "events_to_dataframe" in modules["eventsourcingdb.pandas"]["names"]
    root = modules["eventsourcingdb"]["names"]
    for name in ("DbApiError", "PreconditionOptions", "ReadSubjectsOptions", "is_outcome_unknown"):
        assert name in root
    assert len(root["ErrorCode"]["members"]) == 64


def test_the_compatibility_page_lists_every_difference_and_every_name() -> None:
    page = COMPATIBILITY_PAGE.read_text()
    for key in DELIBERATE:
        place = key.rpartition(" ")[0]
        assert f"`{place}`" in page, f"docs/compatibility.md does not mention {place}"
    for module, described in _snapshot()["modules"].items():
        assert f"`{module}`" in page, f"docs/compatibility.md does not mention {module}"
        for name in described.get("names", {}):
            assert f"`{name}`" in page, f"docs/compatibility.md does not mention {name}"


def _importable(path: str) -> bool:
    try:
        importlib.import_module(path)
    except ImportError:
        return False
    return True


def test_every_module_path_of_2_2_4_is_here_or_its_names_are_in_its_package() -> None:
    """2.2.4 defines each class in a module of its own (`eventsourcingdb.event.event`) that its
    package re-exports; those modules are not offered, but every name they define for the
    package is in the package here. A missing module that is neither such a module nor one of
    the internals listed above must be named on the compatibility page."""
    snapshot = _snapshot()
    modules = snapshot["modules"]
    page = COMPATIBILITY_PAGE.read_text()
    one_class_modules = []
    for path, defined in snapshot["module_paths"].items():
        parts = path.split(".")
        ancestors = {".".join(parts[:end]) for end in range(2, len(parts) + 1)}
        if _importable(path) or any(f"{module} missing" in DELIBERATE for module in ancestors):
            continue
        package = path.rpartition(".")[0]
        assert package in modules, f"2.2.4's module {path} is missing here"
        exported = [name for name in defined if name in modules[package]["names"]]
        if not exported:
            assert f"`{path}`" in page, f"docs/compatibility.md does not mention {path}"
            continue
        lacking = [name for name in exported if not hasattr(importlib.import_module(package), name)]
        assert not lacking, f"{package} lacks {lacking}, which 2.2.4 defines in {path}"
        one_class_modules.append(path)
    assert "eventsourcingdb.errors.db_api_error" in one_class_modules
    assert "eventsourcingdb.read_events.read_events_options" in one_class_modules
    assert "`eventsourcingdb.event.event`" in page


@pytest.mark.official_client
def test_the_snapshot_is_what_2_2_4_says_about_itself() -> None:
    from tests.emulator.official.conftest import ensure_official_venv

    python = ensure_official_venv("2.2.4")
    completed = subprocess.run(
        [str(python), "-I", str(HERE / "surface.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=HERE,
    )
    assert json.loads(completed.stdout) == _snapshot(), (
        "2.2.4's surface differs from the committed snapshot: regenerate it with "
        f"`{python} -I tests/compat/surface.py > tests/compat/official-2.2.4.json`, review the "
        "diff, and make our package match"
    )
