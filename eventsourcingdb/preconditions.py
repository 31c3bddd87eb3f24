"""Preconditions of `write_events`: the write happens only if every one of them holds.

They are checked by the server against the state before the write, in the same transaction; a
precondition that does not hold makes the write fail with `ConcurrencyError`. The three
preconditions about a subject check it alone, or with `recursive=True` (equally:
`options=PreconditionOptions(recursive=True)`, the official SDK's spelling) together with all its
nested subjects.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from eventsourcingdb._eventql import bind_parameters
from eventsourcingdb._validation import check_bool, check_event_id, check_str, check_subject
from eventsourcingdb.errors import ErrorCode, InvalidArgumentError, RefusedArgumentError


class Precondition(abc.ABC):
    """A condition `write_events` checks before it writes; one of the four classes below.

    A subclass of your own is sent as what its `to_json()` returns, for a precondition the
    server knows but this SDK does not yet.
    """

    __slots__ = ()

    @abc.abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The precondition as the server's v2 API receives it (`type` and `payload`)."""


@dataclass(frozen=True, slots=True)
class PreconditionOptions:
    """Options of a precondition about a subject: `recursive` also checks nested subjects."""

    recursive: bool

    def __post_init__(self) -> None:
        check_bool(self.recursive, "recursive")

    def to_json(self) -> dict[str, Any]:
        """The options as the server's v2 API receives them."""
        return {"recursive": self.recursive}


class _OnSubject(Precondition):
    """What the three preconditions about a subject share: `recursive`, in either spelling
    (contradicting spellings are refused), and their v2 form."""

    __slots__ = ()

    _WIRE_TYPE: ClassVar[str]
    subject: str
    recursive: bool

    def __init__(
        self,
        subject: str,
        options: PreconditionOptions | None = None,
        *,
        recursive: bool = False,
    ) -> None:
        check_subject(subject)
        check_bool(recursive, "recursive")
        if options is not None:
            if not isinstance(options, PreconditionOptions):
                raise InvalidArgumentError(
                    f"options must be PreconditionOptions, got {type(options).__name__}; for "
                    "example PreconditionOptions(recursive=True)"
                )
            if recursive and not options.recursive:
                raise InvalidArgumentError(
                    "recursive=True contradicts options=PreconditionOptions(recursive=False); "
                    "pass only one of them"
                )
            recursive = options.recursive
        object.__setattr__(self, "subject", subject)
        object.__setattr__(self, "recursive", recursive)

    @property
    def options(self) -> PreconditionOptions | None:
        """`PreconditionOptions(recursive=True)` for a recursive precondition, else None."""
        return PreconditionOptions(recursive=True) if self.recursive else None

    def _payload(self) -> dict[str, Any]:
        return {"subject": self.subject}

    def to_json(self) -> dict[str, Any]:
        payload = self._payload()
        if self.recursive:
            payload["options"] = {"recursive": True}
        return {"type": self._WIRE_TYPE, "payload": payload}


@dataclass(frozen=True, slots=True, init=False)
class IsSubjectPristine(_OnSubject):
    """Holds if `subject` has no events yet (with `recursive=True`: nor any nested subject)."""

    _WIRE_TYPE: ClassVar[str] = "isSubjectPristine"
    subject: str
    recursive: bool = field(default=False, kw_only=True)


@dataclass(frozen=True, slots=True, init=False)
class IsSubjectPopulated(_OnSubject):
    """Holds if `subject` has an event (with `recursive=True`: or any nested subject has)."""

    _WIRE_TYPE: ClassVar[str] = "isSubjectPopulated"
    subject: str
    recursive: bool = field(default=False, kw_only=True)


@dataclass(frozen=True, slots=True, init=False)
class IsSubjectOnEventId(_OnSubject):
    """Holds if the latest event of `subject` has the id `event_id`: optimistic concurrency.

    With `recursive=True` the latest event among the subject and all nested subjects counts.
    """

    _WIRE_TYPE: ClassVar[str] = "isSubjectOnEventId"
    subject: str
    event_id: str
    recursive: bool = field(default=False, kw_only=True)

    def __init__(
        self,
        subject: str,
        event_id: str,
        options: PreconditionOptions | None = None,
        *,
        recursive: bool = False,
    ) -> None:
        _OnSubject.__init__(self, subject, options, recursive=recursive)
        object.__setattr__(self, "event_id", check_event_id(event_id))

    def _payload(self) -> dict[str, Any]:
        return {"subject": self.subject, "eventId": self.event_id}


@dataclass(frozen=True, slots=True)
class IsEventQlQueryTrue(Precondition):
    """Holds if the EventQL `query` returns a single row holding `True`."""

    query: str

    def __post_init__(self) -> None:
        if not check_str(self.query, "query", ErrorCode.QUERY_MISSING).strip():
            raise RefusedArgumentError(
                "query must not be empty: pass an EventQL query that returns one boolean, "
                "for example 'FROM e IN events PROJECT INTO COUNT() == 0'",
                code=ErrorCode.QUERY_MISSING,
            )

    @classmethod
    def with_parameters(cls, query: str, parameters: Mapping[str, object]) -> IsEventQlQueryTrue:
        """The precondition of `query` with `parameters` bound to its `$name` placeholders.

        The values are written into the query as EventQL literals, as `run_eventql_query` does.
        """
        return cls(bind_parameters(check_str(query, "query"), parameters))

    def to_json(self) -> dict[str, Any]:
        return {"type": "isEventQlQueryTrue", "payload": {"query": self.query}}


SubjectPrecondition = IsSubjectPristine | IsSubjectPopulated | IsSubjectOnEventId
"""The preconditions about one subject (the ones that take `recursive`)."""

__all__ = [
    "IsEventQlQueryTrue",
    "IsSubjectOnEventId",
    "IsSubjectPopulated",
    "IsSubjectPristine",
    "Precondition",
    "PreconditionOptions",
    "SubjectPrecondition",
]
