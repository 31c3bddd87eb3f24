"""Guards the public API: `__all__` sorted and complete, classes named `eventsourcingdb.X`."""

from __future__ import annotations

import subprocess
import sys
import types

import eventsourcingdb
from eventsourcingdb import errors, options, preconditions


def _public_names() -> set[str]:
    return {
        name
        for name in dir(eventsourcingdb)
        if not name.startswith("_")
        and not isinstance(getattr(eventsourcingdb, name), types.ModuleType)
    }


def test_all_is_sorted() -> None:
    assert eventsourcingdb.__all__ == sorted(eventsourcingdb.__all__)


def test_all_equals_the_public_names() -> None:
    assert set(eventsourcingdb.__all__) == _public_names()
    assert len(eventsourcingdb.__all__) == len(set(eventsourcingdb.__all__))


def test_every_public_name_of_the_value_modules_is_exported() -> None:
    for module in (errors, options, preconditions):
        missing = set(module.__all__) - set(eventsourcingdb.__all__)
        assert not missing, f"{module.__name__} exports {missing} that the package does not"
    for name in ("Client", "Event", "EventCandidate", "EventType", "Container"):
        assert name in eventsourcingdb.__all__


def test_public_classes_say_eventsourcingdb() -> None:
    for name in eventsourcingdb.__all__:
        member = getattr(eventsourcingdb, name)
        if isinstance(member, type):
            assert member.__module__ == "eventsourcingdb", name


def test_reprs_name_the_package() -> None:
    assert repr(eventsourcingdb.Client) == "<class 'eventsourcingdb.Client'>"
    error = eventsourcingdb.ConcurrencyError("x", status=409)
    assert type(error).__module__ == "eventsourcingdb"


def test_the_seeds_names_stay_importable() -> None:
    assert issubclass(eventsourcingdb.InvalidArgumentError, eventsourcingdb.ValidationError)
    assert eventsourcingdb.CustomError is eventsourcingdb.EventSourcingDBError
    assert eventsourcingdb.InternalError is eventsourcingdb.ProtocolError
    assert issubclass(eventsourcingdb.ServerError, eventsourcingdb.EventSourcingDBError)
    assert issubclass(eventsourcingdb.ClientError, eventsourcingdb.ServerError)


def test_importing_the_package_imports_no_container_or_emulator() -> None:
    """The core and its layers import no optional dependency, though all are installed here."""
    probe = (
        "import sys, eventsourcingdb, eventsourcingdb.models, eventsourcingdb.aggregates, "
        "eventsourcingdb.pandas, eventsourcingdb.polars, eventsourcingdb.pytest_plugin; "
        "optional = ('docker', 'testcontainers', 'uvicorn', 'lark', 'jsonschema', 're2', "
        "'sqlalchemy', 'aiosqlite', 'asyncpg', 'opentelemetry', 'pandas', 'polars'); "
        "heavy = [m for m in sys.modules if m.split('.')[0] in optional "
        "or m in ('eventsourcingdb.container', 'eventsourcingdb.emulator')]; "
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_container_is_imported_on_first_use() -> None:
    assert eventsourcingdb.Container.__name__ == "Container"
    assert eventsourcingdb.Container.__module__ == "eventsourcingdb"
