"""Decisions across subjects: the events a rule depends on, and the precondition that guards them.

A rule such as "a member borrows at most 3 books" depends on events of many subjects (every
book's loans). A `Boundary` names those events (types, subjects, data fields); reading it gives
the facts to decide on and the id of the last one; writing with `unchanged_since(that id)` as a
precondition (an `IsEventQlQueryTrue`) fails with `ConcurrencyError` if any such event was written
meanwhile. So the rule holds under concurrency without one aggregate owning all the facts (the
idea known as dynamic consistency boundaries).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from pydantic import BaseModel

from eventsourcingdb._eventql import literal
from eventsourcingdb._validation import check_event_id, check_event_type, check_subject
from eventsourcingdb.errors import InvalidArgumentError
from eventsourcingdb.models import EventRegistry, RecordedEvent, default_registry
from eventsourcingdb.preconditions import (
    IsEventQlQueryTrue,
    IsSubjectOnEventId,
    IsSubjectPristine,
    SubjectPrecondition,
)

if TYPE_CHECKING:
    from eventsourcingdb.aggregates.aggregate import Aggregate

__all__ = ["Boundary", "BoundaryRead", "JsonScalar", "unchanged"]

JsonScalar = str | int | float | bool | None
"""A value a boundary compares a data field with."""

_FIELD_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _literal(value: JsonScalar, where: str) -> str:
    """`value` as an EventQL literal (see `eventsourcingdb._eventql`); scalars only."""
    if value is not None and not isinstance(value, str | int | float):
        raise InvalidArgumentError(
            f"{where} must be a string, number, boolean or None, got {type(value).__name__}"
        )
    return literal(value, where)


def _either(conditions: Sequence[str]) -> str:
    return conditions[0] if len(conditions) == 1 else "(" + " OR ".join(conditions) + ")"


@dataclass(frozen=True)
class Boundary:
    """The events a decision depends on: of `types`, on `subjects`, with `data` field values.

    `types` are event models (all stored types that read as them count, upcast ones included) or
    type names. `subjects` empty means every subject; with `recursive=True` their nested subjects
    count too. `data` maps field paths (`"member"`, `"address.city"`) to the values they must
    equal.
    """

    types: Sequence[type[BaseModel] | str]
    subjects: Sequence[str] = ()
    recursive: bool = False
    data: Mapping[str, JsonScalar] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if isinstance(self.types, str | type) or not self.types:
            raise InvalidArgumentError(
                "Boundary(types=...) must be a non-empty sequence of event models or type names"
            )
        for item in self.types:
            if isinstance(item, str):
                check_event_type(item, "boundary event type")
            elif not (isinstance(item, type) and issubclass(item, BaseModel)):
                raise InvalidArgumentError(
                    f"Boundary(types=...) takes event models or type names, got {item!r}"
                )
        if isinstance(self.subjects, str):
            raise InvalidArgumentError(
                "Boundary(subjects=...) must be a sequence of subjects, not one string: "
                f"write subjects=[{self.subjects!r}]"
            )
        for subject in self.subjects:
            check_subject(subject, "boundary subject")
        if not isinstance(self.recursive, bool):
            raise InvalidArgumentError(f"recursive must be True or False, got {self.recursive!r}")
        for path, value in self.data.items():
            if not all(_FIELD_SEGMENT.fullmatch(part) for part in path.split(".")):
                raise InvalidArgumentError(
                    f"Boundary(data=...) key {path!r} is not a field path such as 'member' or "
                    "'address.city'"
                )
            _literal(value, f"the value of data field {path!r}")
        object.__setattr__(self, "types", tuple(self.types))
        object.__setattr__(self, "subjects", tuple(self.subjects))
        object.__setattr__(self, "data", MappingProxyType(dict(self.data)))

    def type_names(self, registry: EventRegistry | None = None) -> tuple[str, ...]:
        """The stored type names that count, sorted: each model's and those upcast to it."""
        chosen = default_registry if registry is None else registry
        names: set[str] = set()
        for item in self.types:
            if isinstance(item, str):
                names.add(item)
                continue
            declaration = chosen.declaration_of(item)
            if declaration is None:
                raise InvalidArgumentError(
                    f"{item.__qualname__} is not a declared event type in the registry "
                    f"{chosen!r}: decorate it with @event_type, or pass the type name"
                )
            names.add(declaration.name)
            names.update(
                upcaster.from_type
                for upcaster in chosen.upcasters
                if chosen.current_type(upcaster.from_type) == declaration.name
            )
        return tuple(sorted(names))

    def condition(self, registry: EventRegistry | None = None) -> str:
        """The EventQL condition on `e` that selects the boundary's events."""
        names = self.type_names(registry)
        parts = [_either([f"e.type == {_literal(name, 'type')}" for name in names])]
        subjects: list[str] = []
        for subject in self.subjects:
            node = subject.rstrip("/") or "/"
            if self.recursive and node == "/":
                subjects = []
                break
            subjects.append(f"e.subject == {_literal(node, 'subject')}")
            if self.recursive:
                subjects.append(f"STARTSWITH(e.subject, {_literal(node + '/', 'subject')})")
        if subjects:
            parts.append(_either(subjects))
        for path, value in self.data.items():
            parts.append(f"e.data.{path} == {_literal(value, f'data field {path!r}')}")
        return " AND ".join(parts)

    def query(self, registry: EventRegistry | None = None) -> str:
        """The EventQL query that returns the boundary's events, in the order they were written."""
        return f"FROM e IN events WHERE {self.condition(registry)} PROJECT INTO e"

    def unchanged_since(
        self, event_id: str | None, registry: EventRegistry | None = None
    ) -> IsEventQlQueryTrue:
        """The precondition "no event of this boundary after `event_id`" (None: none at all).

        Pass the id of the last boundary event the decision read; a write guarded by it fails
        with `ConcurrencyError` if such an event was written since.
        """
        condition = self.condition(registry)
        if event_id is not None:
            check_event_id(event_id)
            condition += f" AND e.id AS INT > {int(event_id)}"
        return IsEventQlQueryTrue(f"FROM e IN events WHERE {condition} PROJECT INTO COUNT() == 0")


@dataclass(frozen=True, slots=True)
class BoundaryRead:
    """The events of a boundary as read at one moment, and the precondition that keeps them so."""

    boundary: Boundary
    events: tuple[RecordedEvent[BaseModel], ...]
    precondition: IsEventQlQueryTrue
    """Holds while no event of the boundary was written after the ones read."""

    @property
    def last_event_id(self) -> str | None:
        """The id of the newest event read, None if there was none."""
        if not self.events:
            return None
        return max((recorded.event_id for recorded in self.events), key=int)


def unchanged(aggregate: Aggregate) -> SubjectPrecondition:
    """The precondition "`aggregate` is still at the version it was loaded at".

    Add it to the save of another aggregate when a decision read this one but records nothing
    on it (for example a member's borrowing limit while a book is lent).
    """
    recursive = type(aggregate)._spec.recursive
    if aggregate.version is None:
        return IsSubjectPristine(aggregate.subject, recursive=recursive)
    return IsSubjectOnEventId(aggregate.subject, aggregate.version, recursive=recursive)
