"""Optional dependencies fail with an error that names the extra to install."""

from __future__ import annotations

import pytest

from eventsourcingdb import EventSourcingDBError, MissingExtraError
from eventsourcingdb._extras import import_extra


def test_an_installed_module_is_returned() -> None:
    module = import_extra("json", extra="core", feature="JSON")
    assert module.dumps([1]) == "[1]"


def test_a_missing_module_names_the_extra_and_the_install_command() -> None:
    with pytest.raises(MissingExtraError) as caught:
        import_extra("no_such_module_for_esdb", extra="sql", feature="SqlCheckpointStore")
    error = caught.value
    assert error.extra == "sql"
    assert error.module == "no_such_module_for_esdb"
    assert "SqlCheckpointStore" in str(error)
    assert "pip install 'eventsourcingdb-toolkit[sql]'" in str(error)
    assert isinstance(error, ImportError)
    assert isinstance(error, EventSourcingDBError)
