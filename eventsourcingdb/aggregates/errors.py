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

from eventsourcingdb.errors import ConcurrencyError, EventSourcingDBError, InvalidArgumentError
from eventsourcingdb.preconditions import Precondition

__all__ = [
    "AggregateConcurrencyError",
    "AggregateDefinitionError",
    "AggregateNotFoundError",
    "MissingHandlerError",
]


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
    aggregate), every precondition it sent (the version guard first), and `failed_precondition`
    when the server says which one failed. `aggregate_type` is None for a decider.
    """

    def __init__(
        self,
        *,
        aggregate_type: type[object] | None,
        subject: str,
        expected_version: str | None,
        preconditions: Sequence[Precondition],
        cause: ConcurrencyError,
    ) -> None:
        self.aggregate_type = aggregate_type
        self.subject = subject
        self.expected_version = expected_version
        self.preconditions = tuple(preconditions)
        self.failed_precondition = _failed(self.preconditions, cause.details)
        super().__init__(
            self._describe(cause),
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


def _failed(
    preconditions: Sequence[Precondition], details: dict[str, object]
) -> Precondition | None:
    """The precondition the server named by index (v2 error details), None if it named none."""
    index = details.get("index")
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(preconditions):
        return preconditions[index]
    return None
