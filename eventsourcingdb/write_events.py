"""The preconditions of `write_events` under the official SDK 2.2.4's module path; see
`eventsourcingdb.preconditions`."""

from eventsourcingdb.preconditions import (
    IsEventQlQueryTrue,
    IsSubjectOnEventId,
    IsSubjectPopulated,
    IsSubjectPristine,
    Precondition,
    PreconditionOptions,
)

__all__ = [
    "IsEventQlQueryTrue",
    "IsSubjectOnEventId",
    "IsSubjectPopulated",
    "IsSubjectPristine",
    "Precondition",
    "PreconditionOptions",
]
