"""Errors of the aggregates layer, each a leaf of the SDK's one exception tree.

```
EventSourcingDBError
├── InvalidArgumentError
│   └── AggregateDefinitionError     an aggregate class or decider cannot work as declared
├── ServerError > DbApiError > ClientError
│   └── ConcurrencyError
│       └── AggregateConcurrencyError  saving lost a race: .subject, .expected_version
├── AggregateNotFoundError           load() found no events for the subject
└── MissingHandlerError              an aggregate has no handler for a recorded or loaded event
```
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eventsourcingdb.errors import ConcurrencyError, EventSourcingDBError, InvalidArgumentError
from eventsourcingdb.preconditions import Precondition

__all__ = [
    "AggregateConcurrencyError",
    "AggregateConflict",
    "AggregateDefinitionError",
    "AggregateNotFoundError",
    "MissingHandlerError",
]


@dataclass(frozen=True, slots=True)
class AggregateConflict:
    """An aggregate of a save that is no longer at the version it was loaded at."""

    aggregate_type: type[object]
    subject: str
    expected_version: str | None
    """The id of the last event the aggregate had applied (None: it was new)."""
    actual_version: str | None
    """The id of the subject's latest event when the repository looked (None: it has none)."""

    def __str__(self) -> str:
        name = f"{self.aggregate_type.__qualname__} at {self.subject}"
        if self.expected_version is None:
            return f"{name} was new, but has events now (up to {self.actual_version!r})"
        return (
            f"{name} changed since version {self.expected_version!r} (it is at "
            f"{self.actual_version!r} now)"
        )


class AggregateDefinitionError(InvalidArgumentError):
    """An aggregate class (or a decider) is declared in a way that cannot work; raised at once."""


class AggregateNotFoundError(EventSourcingDBError, LookupError):
    """`load` found no events for the subject; `load_or_new` starts a new aggregate instead."""

    def __init__(self, message: str, *, aggregate_type: type[object], subject: str) -> None:
        super().__init__(message)
        self.aggregate_type = aggregate_type
        self.subject = subject


class MissingHandlerError(EventSourcingDBError):
    """An aggregate has no handler for an event it recorded or loaded.

    Raised rather than skipping the event silently, since a skipped event is lost state. An
    aggregate declared with `on_missing_handler=MissingHandler.IGNORE` skips such events instead.
    `event_id` is None for an event that was being recorded.
    """

    def __init__(
        self,
        message: str,
        *,
        aggregate_type: type[object],
        event_type: type[object],
        subject: str,
        event_id: str | None,
    ) -> None:
        super().__init__(message)
        self.aggregate_type = aggregate_type
        self.event_type = event_type
        self.subject = subject
        self.event_id = event_id


class AggregateConcurrencyError(ConcurrencyError):
    """Saving an aggregate found a precondition violated: someone else wrote first.

    A `ConcurrencyError`, chained from the client's, adding what the repository expected:
    `subject`, `expected_version` (the id of the last event it had seen, None for a new
    aggregate), every precondition it sent (the version guards first), and `failed_precondition`
    when the server says which one failed. `aggregate_type` is None for a decider.

    A save of several aggregates also names them all in `together`, and in `conflicts` those
    that another writer had changed when the repository looked after the failure; `subject`
    and the others then describe the first conflict (the first aggregate if none changed, when
    one of the additional preconditions failed instead).
    """

    def __init__(
        self,
        *,
        aggregate_type: type[object] | None,
        subject: str,
        expected_version: str | None,
        preconditions: Sequence[Precondition],
        cause: ConcurrencyError,
        together: Sequence[tuple[type[object], str]] = (),
        conflicts: Sequence[AggregateConflict] = (),
        unattributed: str | None = None,
    ) -> None:
        self.aggregate_type = aggregate_type
        self.subject = subject
        self.expected_version = expected_version
        self.preconditions = tuple(preconditions)
        self.failed_precondition = _failed(self.preconditions, cause.details)
        self.together = tuple(together)
        self.conflicts = tuple(conflicts)
        described = (
            self._describe_together(cause, unattributed) if self.together else self._describe(cause)
        )
        super().__init__(
            described,
            status=cause.status,
            code=cause.code,
            description=cause.description,
            path=cause.path,
            details=cause.details,
        )

    def _describe(self, cause: ConcurrencyError) -> str:
        what = (
            f"the decision on {self.subject}"
            if self.aggregate_type is None
            else f"{self.aggregate_type.__qualname__} at {self.subject}"
        )
        guard = self.preconditions[0] if self.preconditions else None
        failed = self.failed_precondition
        if failed is None and len(self.preconditions) == 1:
            failed = guard
        if failed is not None and failed is not guard:
            return (
                f"{what} was not saved: its precondition {failed!r} does not hold, so an event "
                f"it depends on was written meanwhile ({cause.description or cause.message}); "
                "load again and decide again"
            )
        if failed is None:
            return (
                f"{what} was not saved: one of its {len(self.preconditions)} preconditions does "
                f"not hold (expected version {self.expected_version!r}); someone wrote first: "
                "load again and decide again"
            )
        if self.expected_version is None:
            return (
                f"{what} was not saved: it was new, but the subject has events now (someone "
                "created it first); load it and decide again"
            )
        return (
            f"{what} was not saved: it changed since version {self.expected_version!r} (someone "
            "wrote first); load it again and decide again"
        )

    def _describe_together(self, cause: ConcurrencyError, unattributed: str | None) -> str:
        names = ", ".join(f"{kind.__qualname__} at {subject}" for kind, subject in self.together)
        what = f"the {len(self.together)} aggregates saved together ({names}) were not saved"
        if self.conflicts:
            changed = "; ".join(str(conflict) for conflict in self.conflicts)
            return f"{what}: {changed}; someone wrote first: load again and decide again"
        if unattributed is not None:
            return (
                f"{what}: one of their {len(self.preconditions)} preconditions does not hold "
                f"({cause.description or cause.message}), and which one could not be found out "
                f"({unattributed}); load again and decide again"
            )
        extra = len(self.preconditions) - len(self.together)
        failed = self.failed_precondition
        if failed is None and not extra:
            return (
                f"{what}: one of their version guards does not hold, yet none of them shows a "
                "change; load again and decide again"
            )
        which = (
            f"the precondition {failed!r}"
            if failed is not None
            else f"one of the {extra} additional preconditions"
        )
        return (
            f"{what}: none of them changed, so {which} does not hold; an event it depends on was "
            "written meanwhile: load again and decide again"
        )


def _failed(
    preconditions: Sequence[Precondition], details: dict[str, object]
) -> Precondition | None:
    """The precondition the server named by index (v2 error details), None if it named none."""
    index = details.get("index")
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(preconditions):
        return preconditions[index]
    return None
