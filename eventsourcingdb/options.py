"""Options of `read_events`, `observe_events` and `read_subjects`: order, bounds, where to start.

All values check themselves when they are created, so a bad option fails at once, before any
request is sent.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, TypeVar

from eventsourcingdb._validation import check_bool, check_event_id, check_event_type, check_subject
from eventsourcingdb.errors import ErrorCode, InvalidArgumentError, RefusedArgumentError


class Order(enum.StrEnum):
    """The order in which `read_events` returns events."""

    CHRONOLOGICAL = "chronological"
    ANTICHRONOLOGICAL = "antichronological"


class BoundType(enum.StrEnum):
    """Whether a bound includes the event with its id."""

    INCLUSIVE = "inclusive"
    EXCLUSIVE = "exclusive"


class IfEventIsMissingDuringRead(enum.StrEnum):
    """What `read_events` does when `from_latest_event` finds no such event."""

    READ_NOTHING = "read-nothing"
    READ_EVERYTHING = "read-everything"


class IfEventIsMissingDuringObserve(enum.StrEnum):
    """What `observe_events` does when `from_latest_event` finds no such event."""

    READ_EVERYTHING = "read-everything"
    WAIT_FOR_EVENT = "wait-for-event"


_E = TypeVar("_E", bound=enum.StrEnum)


def _check_enum(value: object, enum_type: type[_E], what: str, code: ErrorCode) -> _E:
    if isinstance(value, enum_type):
        return value
    allowed = ", ".join(f"{enum_type.__name__}.{member.name}" for member in enum_type)
    raise RefusedArgumentError(f"{what} must be one of {allowed}, got {value!r}", code=code)


def _selection_conflict(what: str) -> RefusedArgumentError:
    return RefusedArgumentError(
        f"from_latest_event and lower_bound cannot be combined: both say where {what} starts; "
        "pass only one of them",
        code=ErrorCode.SELECTION_CONFLICTING,
    )


@dataclass(frozen=True, slots=True)
class Bound:
    """A lower or upper bound on event ids, e.g. `Bound(id='100', type=BoundType.INCLUSIVE)`."""

    id: str
    type: BoundType = BoundType.INCLUSIVE

    def __post_init__(self) -> None:
        check_event_id(self.id, "bound id")
        _check_enum(self.type, BoundType, "bound type", ErrorCode.BOUND_TYPE_UNKNOWN)

    def to_json(self) -> dict[str, str]:
        """The bound as the server receives it."""
        return {"id": self.id, "type": self.type.value}


def _check_from_latest_event(
    option: ReadFromLatestEvent | ObserveFromLatestEvent,
    if_event_is_missing: type[IfEventIsMissingDuringRead | IfEventIsMissingDuringObserve],
) -> None:
    check_subject(option.subject, "from_latest_event subject")
    check_event_type(option.type, "from_latest_event type")
    _check_enum(
        option.if_event_is_missing,
        if_event_is_missing,
        "from_latest_event if_event_is_missing",
        ErrorCode.IF_EVENT_IS_MISSING_UNKNOWN,
    )


def _from_latest_event_json(option: ReadFromLatestEvent | ObserveFromLatestEvent) -> dict[str, str]:
    return {
        "subject": option.subject,
        "type": option.type,
        "ifEventIsMissing": option.if_event_is_missing.value,
    }


@dataclass(frozen=True, slots=True)
class ReadFromLatestEvent:
    """Start reading at the latest event of `type` on exactly `subject` (inclusive)."""

    subject: str
    type: str
    if_event_is_missing: IfEventIsMissingDuringRead

    def __post_init__(self) -> None:
        _check_from_latest_event(self, IfEventIsMissingDuringRead)

    def to_json(self) -> dict[str, str]:
        """The option as the server receives it."""
        return _from_latest_event_json(self)


@dataclass(frozen=True, slots=True)
class ObserveFromLatestEvent:
    """Start observing at the latest event of `type` on exactly `subject` (inclusive)."""

    subject: str
    type: str
    if_event_is_missing: IfEventIsMissingDuringObserve

    def __post_init__(self) -> None:
        _check_from_latest_event(self, IfEventIsMissingDuringObserve)

    def to_json(self) -> dict[str, str]:
        """The option as the server receives it."""
        return _from_latest_event_json(self)


def _check_bound(bound: object, what: str) -> None:
    if bound is not None and not isinstance(bound, Bound):
        raise InvalidArgumentError(f"{what} must be a Bound, got {type(bound).__name__}")


@dataclass(frozen=True, slots=True)
class ReadEventsOptions:
    """How `read_events` selects and orders events.

    `recursive` includes nested subjects; `from_latest_event` and `lower_bound` exclude each other.
    """

    recursive: bool = False
    order: Order | None = None
    lower_bound: Bound | None = None
    upper_bound: Bound | None = None
    from_latest_event: ReadFromLatestEvent | None = None

    def __post_init__(self) -> None:
        check_bool(self.recursive, "recursive")
        if self.order is not None:
            _check_enum(self.order, Order, "order", ErrorCode.ORDER_UNKNOWN)
        _check_bound(self.lower_bound, "lower_bound")
        _check_bound(self.upper_bound, "upper_bound")
        if self.from_latest_event is not None and not isinstance(
            self.from_latest_event, ReadFromLatestEvent
        ):
            raise InvalidArgumentError(
                "from_latest_event of ReadEventsOptions must be a ReadFromLatestEvent, got "
                f"{type(self.from_latest_event).__name__}"
            )
        if self.from_latest_event is not None and self.lower_bound is not None:
            raise _selection_conflict("reading")

    def to_json(self) -> dict[str, Any]:
        """The options as the server receives them; options not set are left out."""
        wire: dict[str, Any] = {"recursive": self.recursive}
        if self.order is not None:
            wire["order"] = self.order.value
        if self.lower_bound is not None:
            wire["lowerBound"] = self.lower_bound.to_json()
        if self.upper_bound is not None:
            wire["upperBound"] = self.upper_bound.to_json()
        if self.from_latest_event is not None:
            wire["fromLatestEvent"] = self.from_latest_event.to_json()
        return wire


@dataclass(frozen=True, slots=True)
class ObserveEventsOptions:
    """How `observe_events` selects events.

    `recursive` includes nested subjects; `from_latest_event` and `lower_bound` exclude each other.
    """

    recursive: bool = False
    lower_bound: Bound | None = None
    from_latest_event: ObserveFromLatestEvent | None = None

    def __post_init__(self) -> None:
        check_bool(self.recursive, "recursive")
        _check_bound(self.lower_bound, "lower_bound")
        if self.from_latest_event is not None and not isinstance(
            self.from_latest_event, ObserveFromLatestEvent
        ):
            raise InvalidArgumentError(
                "from_latest_event of ObserveEventsOptions must be an ObserveFromLatestEvent, got "
                f"{type(self.from_latest_event).__name__}"
            )
        if self.from_latest_event is not None and self.lower_bound is not None:
            raise _selection_conflict("observing")

    def validate(self) -> None:
        """Nothing to do: the options were checked when they were created (the official SDK
        checks them here)."""

    def to_json(self) -> dict[str, Any]:
        """The options as the server receives them; options not set are left out."""
        wire: dict[str, Any] = {"recursive": self.recursive}
        if self.lower_bound is not None:
            wire["lowerBound"] = self.lower_bound.to_json()
        if self.from_latest_event is not None:
            wire["fromLatestEvent"] = self.from_latest_event.to_json()
        return wire


@dataclass(frozen=True, slots=True)
class ReadSubjectsOptions:
    """How `read_subjects` lists: `recursive=True` lists the subject and every subject below it,
    `recursive=False` only the subject itself (if it has events)."""

    recursive: bool

    def __post_init__(self) -> None:
        check_bool(self.recursive, "recursive")

    def to_json(self) -> dict[str, Any]:
        """The options as the server's v2 API receives them."""
        return {"recursive": self.recursive}


__all__ = [
    "Bound",
    "BoundType",
    "IfEventIsMissingDuringObserve",
    "IfEventIsMissingDuringRead",
    "ObserveEventsOptions",
    "ObserveFromLatestEvent",
    "Order",
    "ReadEventsOptions",
    "ReadFromLatestEvent",
    "ReadSubjectsOptions",
]
