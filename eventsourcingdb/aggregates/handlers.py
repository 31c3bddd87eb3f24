"""`@handles(EventModel)`: marks the aggregate method that applies events of that model to state.

Handlers are the only place where an aggregate's state changes, both when a command records an
event and when the repository replays stored ones. `MissingHandler` says what happens to an event
that no handler takes.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Final, TypeVar

from pydantic import BaseModel

from eventsourcingdb.aggregates.errors import AggregateDefinitionError
from eventsourcingdb.errors import InvalidArgumentError

__all__ = ["MissingHandler", "collect_handlers", "handles"]

HANDLED_TYPES: Final = "__eventsourcingdb_handles__"
"""The attribute `@handles` sets on a method: the tuple of event models it applies."""

F = TypeVar("F", bound=Callable[..., Any])


class MissingHandler(enum.StrEnum):
    """What an aggregate does with an event of a model that none of its handlers takes."""

    RAISE = "raise"
    """Raise `MissingHandlerError` (the default): an event that changes nothing is likely a bug."""
    IGNORE = "ignore"
    """Skip the event; stored events of undeclared types are skipped as well."""


def handles(*event_types: type[BaseModel]) -> Callable[[F], F]:
    """Mark the decorated method as the handler of events of `event_types` (pydantic models).

    ```python
    @handles(BookAcquired)
    def _acquired(self, event: BookAcquired) -> None:
        self.title = event.title
    ```

    The method takes the event's data (an instance of one of the models) and changes `self`; it
    must not fail for a stored event, since history cannot be refused.
    """
    if not event_types:
        raise AggregateDefinitionError(
            "@handles needs at least one event model, for example @handles(BookAcquired)"
        )
    for event_type in event_types:
        if not (isinstance(event_type, type) and issubclass(event_type, BaseModel)):
            raise AggregateDefinitionError(
                f"@handles takes pydantic event models (declared with @event_type), got "
                f"{event_type!r}"
            )

    def mark(method: F) -> F:
        if not callable(method):
            raise AggregateDefinitionError(f"@handles decorates methods, not {method!r}")
        earlier: tuple[type[BaseModel], ...] = getattr(method, HANDLED_TYPES, ())
        setattr(method, HANDLED_TYPES, (*earlier, *event_types))
        return method

    return mark


def collect_handlers(
    cls: type[object], base: type[object], error: type[InvalidArgumentError]
) -> dict[type[BaseModel], tuple[str, Callable[..., Any]]]:
    """The handler of each event model in `cls` (a subclass of `base`): its name and function.

    Walks the class tree from `base` down, so a subclass overrides a base's handler by handling
    the same model, or by redefining the method's name (without `@handles`, the name then
    handles nothing). Raises `error` for a static or class method marked `@handles`, and for
    two methods of one class handling the same model. Aggregates and projections share it.
    """
    found: dict[type[BaseModel], tuple[str, Callable[..., Any]]] = {}
    for klass in reversed(cls.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, base)):
            continue
        own: dict[type[BaseModel], str] = {}
        where = f"{klass.__module__}.{klass.__qualname__}"
        for name, value in vars(klass).items():
            for model, (owner_name, _) in list(found.items()):
                if owner_name == name:
                    del found[model]
            function = value.__func__ if isinstance(value, staticmethod | classmethod) else value
            models: tuple[type[BaseModel], ...] = getattr(function, HANDLED_TYPES, ())
            if models and isinstance(value, staticmethod | classmethod):
                raise error(
                    f"{where}.{name} is a {type(value).__name__}; a handler is a plain method "
                    "of the instance"
                )
            for model in models:
                if model in own and own[model] != name:
                    raise error(
                        f"{where} handles {model.__qualname__} twice, in {own[model]} and "
                        f"{name}: one event model has one handler"
                    )
                own[model] = name
                found[model] = (name, function)
    return found
