"""The public API of `eventsourcingdb.projections`, and what importing it costs."""

from __future__ import annotations

import subprocess
import sys
import types

import eventsourcingdb.projections as projections
from eventsourcingdb.errors import EventSourcingDBError, InvalidArgumentError


def test_all_is_sorted_and_equals_the_public_names() -> None:
    public = {
        name
        for name in dir(projections)
        if not name.startswith("_") and not isinstance(getattr(projections, name), types.ModuleType)
    }
    assert projections.__all__ == sorted(projections.__all__)
    assert set(projections.__all__) == public


def test_public_classes_say_eventsourcingdb_projections() -> None:
    for name in projections.__all__:
        member = getattr(projections, name)
        if isinstance(member, type):
            assert member.__module__ == "eventsourcingdb.projections", name
    assert repr(projections.Runner) == "<class 'eventsourcingdb.projections.Runner'>"
    assert projections.handles is __import__("eventsourcingdb.aggregates").aggregates.handles


def test_importing_projections_imports_no_sqlalchemy() -> None:
    probe = (
        "import sys, eventsourcingdb.projections; "
        "print(','.join(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'aiosqlite', "
        "'asyncpg') or m == 'eventsourcingdb.projections.sql'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_the_sql_store_names_its_extra_when_sqlalchemy_is_missing() -> None:
    probe = (
        "import sys; sys.modules['sqlalchemy'] = None; "
        "from eventsourcingdb.errors import MissingExtraError\n"
        "try:\n"
        "    from eventsourcingdb.projections import SqlCheckpointStore\n"
        "except MissingExtraError as error:\n"
        "    print(error.extra, '|', error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    extra, message = result.stdout.split(" | ", 1)
    assert extra == "sql"
    assert "pip install 'eventsourcingdb-toolkit[sql]'" in message
    assert "SqlCheckpointStore" in message


def test_the_errors_fit_the_sdks_tree() -> None:
    assert issubclass(projections.ProjectionDefinitionError, InvalidArgumentError)
    assert issubclass(projections.DuplicateProjectionError, projections.ProjectionDefinitionError)
    assert issubclass(projections.UndeclaredEventTypeError, projections.ProjectionDefinitionError)
    assert issubclass(projections.StoreMismatchError, projections.ProjectionFailedError)
    assert issubclass(projections.CheckpointStoreUnavailableError, projections.CheckpointStoreError)
    assert issubclass(projections.LeaseLostError, projections.CheckpointStoreError)
    assert issubclass(projections.ProjectionTimeoutError, TimeoutError)
    assert issubclass(projections.ProjectionNotFoundError, LookupError)
    assert issubclass(projections.ParkedEventNotFoundError, LookupError)
    for name in projections.__all__:
        member = getattr(projections, name)
        if isinstance(member, type) and issubclass(member, Exception):
            assert issubclass(member, EventSourcingDBError), name
