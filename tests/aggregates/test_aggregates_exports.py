"""The public API of `eventsourcingdb.aggregates`: `__all__` sorted, complete, named publicly."""

from __future__ import annotations

import types

import eventsourcingdb.aggregates as aggregates
from eventsourcingdb.aggregates import testing


def test_all_is_sorted_and_equals_the_public_names() -> None:
    public = {
        name
        for name in dir(aggregates)
        if not name.startswith("_") and not isinstance(getattr(aggregates, name), types.ModuleType)
    }
    assert aggregates.__all__ == sorted(aggregates.__all__)
    assert set(aggregates.__all__) == public


def test_public_classes_and_functions_say_eventsourcingdb_aggregates() -> None:
    for name in aggregates.__all__:
        member = getattr(aggregates, name)
        if isinstance(member, type | types.FunctionType):
            assert member.__module__ == "eventsourcingdb.aggregates", name
    assert repr(aggregates.Repository) == "<class 'eventsourcingdb.aggregates.Repository'>"


def test_the_testing_module_exports_its_scenarios() -> None:
    assert testing.__all__ == sorted(testing.__all__)
    for name in testing.__all__:
        assert hasattr(testing, name)


def test_the_errors_fit_the_sdks_tree() -> None:
    from eventsourcingdb.errors import ConcurrencyError, EventSourcingDBError, InvalidArgumentError

    assert issubclass(aggregates.AggregateConcurrencyError, ConcurrencyError)
    assert issubclass(aggregates.AggregateDefinitionError, InvalidArgumentError)
    assert issubclass(aggregates.AggregateNotFoundError, EventSourcingDBError)
    assert issubclass(aggregates.MissingHandlerError, EventSourcingDBError)
