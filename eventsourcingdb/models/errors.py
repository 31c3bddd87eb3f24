"""Errors of the typed layer, each a leaf of the SDK's one exception tree.

```
EventSourcingDBError
├── InvalidArgumentError
│   ├── DeclarationError            an event type or upcaster cannot be declared (import time)
│   ├── UndeclaredModelError        a model that is not a declared event type was to be written
│   ├── SupersededEventTypeError    an event type with an upcaster was about to be written
│   └── EventEncodingError          a model instance cannot be written faithfully
├── UnknownEventTypeError           a stored event has a type no model or upcaster is declared for
├── EventDecodingError              stored data do not validate into the declared model
├── RowDecodingError                an EventQL row does not validate as the requested row type
├── UpcastingError                  an upcaster failed or returned something unusable
└── SchemaDriftError                a registered schema differs from the one a model generates
```
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import JsonValue

from eventsourcingdb.errors import EventSourcingDBError, InvalidArgumentError

__all__ = [
    "DeclarationError",
    "EventDecodingError",
    "EventEncodingError",
    "RowDecodingError",
    "SchemaDrift",
    "SchemaDriftError",
    "SupersededEventTypeError",
    "UndeclaredModelError",
    "UnknownEventTypeError",
    "UpcastingError",
]


class DeclarationError(InvalidArgumentError):
    """An event type or upcaster declaration is not acceptable; raised when it is made."""


class UndeclaredModelError(InvalidArgumentError):
    """An instance of a model that is not declared in the store's registry was to be written."""

    def __init__(self, message: str, *, model: str) -> None:
        super().__init__(message)
        self.model = model


class SupersededEventTypeError(InvalidArgumentError):
    """An event of a type that has an upcaster was about to be written; write the newer type."""

    def __init__(self, message: str, *, event_type: str, current_type: str) -> None:
        super().__init__(message)
        self.event_type = event_type
        self.current_type = current_type


class EventEncodingError(InvalidArgumentError):
    """A model instance cannot be turned into event data that the server keeps unchanged."""

    def __init__(self, message: str, *, event_type: str) -> None:
        super().__init__(message)
        self.event_type = event_type


class UnknownEventTypeError(EventSourcingDBError):
    """A stored event has a type for which neither a model nor an upcaster is declared."""

    def __init__(self, message: str, *, event_type: str, event_id: str, subject: str) -> None:
        super().__init__(message)
        self.event_type = event_type
        self.event_id = event_id
        self.subject = subject


class EventDecodingError(EventSourcingDBError):
    """The data of a stored event do not validate into its declared model.

    The pydantic `ValidationError` is the `__cause__`.
    """

    def __init__(self, message: str, *, event_type: str, event_id: str, model: str) -> None:
        super().__init__(message)
        self.event_type = event_type
        self.event_id = event_id
        self.model = model


class RowDecodingError(EventSourcingDBError):
    """A row of an EventQL query does not validate as the requested row type.

    The pydantic `ValidationError` is the `__cause__`.
    """

    def __init__(self, message: str, *, query: str, row_type: str) -> None:
        super().__init__(message)
        self.query = query
        self.row_type = row_type


class UpcastingError(EventSourcingDBError):
    """An upcaster raised, or returned neither a JSON object nor an instance of its target."""

    def __init__(self, message: str, *, from_type: str, to_type: str, event_id: str) -> None:
        super().__init__(message)
        self.from_type = from_type
        self.to_type = to_type
        self.event_id = event_id


@dataclass(frozen=True, slots=True)
class SchemaDrift:
    """One event type whose schema on the server differs from the schema its model generates."""

    event_type: str
    model: str
    registered: JsonValue
    generated: JsonValue
    diff: str
    """A unified diff from the registered schema to the generated one."""
    problems: tuple[str, ...] = ()
    """For a type declared with `SchemaEvolution.ADDITIVE`: why the change is not additive."""


class SchemaDriftError(EventSourcingDBError):
    """Registered schemas differ from the ones the models generate; nothing was registered.

    Schemas are immutable on the server, so the fix is a new, versioned event type for the
    changed model plus an upcaster from the old type to it. (A type declared with
    `SchemaEvolution.ADDITIVE` drifts only by changes other than new optional members.)
    """

    def __init__(self, drifts: Sequence[SchemaDrift]) -> None:
        self.drifts = tuple(drifts)
        super().__init__(_describe_drifts(self.drifts))

    @property
    def event_types(self) -> tuple[str, ...]:
        """The names of the drifted event types."""
        return tuple(drift.event_type for drift in self.drifts)


def _describe_drifts(drifts: Sequence[SchemaDrift]) -> str:
    names = ", ".join(repr(drift.event_type) for drift in drifts)
    parts = [
        f"the schema registered for {names} differs from the schema generated from its model; "
        "schemas are immutable in EventSourcingDB, so do not change the model of a stored type: "
        "declare the changed model under a new, versioned type (for example "
        f"'{drifts[0].event_type}.v2'), keep or drop the old model, and add an upcaster "
        f"from '{drifts[0].event_type}' to the new model"
    ]
    for drift in drifts:
        parts.append(f"--- {drift.event_type!r} (model {drift.model}):")
        if drift.problems:
            parts.append("not an additive change (new optional members only):")
            parts.extend(f"  - {problem}" for problem in drift.problems)
        parts.append(drift.diff.rstrip("\n"))
    return "\n".join(parts)
