"""The public surface of `eventsourcingdb.models`: sorted, complete, and named where imported."""

from __future__ import annotations

import inspect

import eventsourcingdb.models as models


def test_all_is_sorted_and_lists_exactly_the_public_names() -> None:
    assert models.__all__ == sorted(models.__all__)
    public = {
        name
        for name, value in vars(models).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert set(models.__all__) == public


def test_public_classes_and_functions_are_presented_as_members_of_the_package() -> None:
    for name in models.__all__:
        value = getattr(models, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__module__ == "eventsourcingdb.models", name


def test_every_error_of_the_layer_is_an_sdk_error() -> None:
    from eventsourcingdb.errors import EventSourcingDBError

    errors = [getattr(models, name) for name in models.__all__ if name.endswith("Error")]
    assert len(errors) == 9
    assert all(issubclass(error, EventSourcingDBError) for error in errors)
