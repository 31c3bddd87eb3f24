"""Preconditions of `write_events`: the write happens only if every one of them holds.

They are checked by the server against the state before the write, in the same transaction; a
precondition that does not hold makes the write fail with `ConcurrencyError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from eventsourcingdb._eventql import bind_parameters
from eventsourcingdb._validation import check_bool, check_event_id, check_str, check_subject
from eventsourcingdb.errors import InvalidArgumentError


@dataclass(frozen=True, slots=True)
class IsSubjectPristine:
    """Holds if `subject` has no events yet (with `recursive=True`: nor any nested subject)."""

    subject: str
    recursive: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        check_subject(self.subject)
        check_bool(self.recursive, "recursive")


@dataclass(frozen=True, slots=True)
class IsSubjectPopulated:
    """Holds if `subject` has an event (with `recursive=True`: or any nested subject has)."""

    subject: str
    recursive: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        check_subject(self.subject)
        check_bool(self.recursive, "recursive")


@dataclass(frozen=True, slots=True)
class IsSubjectOnEventId:
    """Holds if the latest event of `subject` has the id `event_id`: optimistic concurrency.

    With `recursive=True` the latest event among the subject and all nested subjects counts.
    """

    subject: str
    event_id: str
    recursive: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        check_subject(self.subject)
        check_event_id(self.event_id)
        check_bool(self.recursive, "recursive")


@dataclass(frozen=True, slots=True)
class IsEventQlQueryTrue:
    """Holds if the EventQL `query` returns a single row holding `True`."""

    query: str

    def __post_init__(self) -> None:
        if not check_str(self.query, "query").strip():
            raise InvalidArgumentError(
                "query must not be empty: pass an EventQL query that returns one boolean, "
                "for example 'FROM e IN events PROJECT INTO COUNT() == 0'"
            )

    @classmethod
    def with_parameters(cls, query: str, parameters: Mapping[str, object]) -> IsEventQlQueryTrue:
        """The precondition of `query` with `parameters` bound to its `$name` placeholders.

        The values are written into the query as EventQL literals, as `run_eventql_query` does.
        """
        return cls(bind_parameters(check_str(query, "query"), parameters))


Precondition = IsSubjectPristine | IsSubjectPopulated | IsSubjectOnEventId | IsEventQlQueryTrue
"""Any precondition `write_events` accepts."""

SubjectPrecondition = IsSubjectPristine | IsSubjectPopulated | IsSubjectOnEventId
"""The preconditions about one subject (the ones that take `recursive`)."""

__all__ = [
    "IsEventQlQueryTrue",
    "IsSubjectOnEventId",
    "IsSubjectPopulated",
    "IsSubjectPristine",
    "Precondition",
    "SubjectPrecondition",
]
