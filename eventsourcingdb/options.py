"""Options of `read_events` and `observe_events`: order, bounds, and where to start.

All values check themselves when they are created, so a bad option fails at once, before any
request is sent.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeVar

from eventsourcingdb._validation import check_bool, check_event_id, check_event_type, check_subject
from eventsourcingdb.errors import InvalidArgumentError


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


def _check_enum(value: object, enum_type: type[_E], what: str) -> _E:
    if isinstance(value, enum_type):
        return value
    allowed = ", ".join(f"{enum_type.__name__}.{member.name}" for member in enum_type)
    raise InvalidArgumentError(f"{what} must be one of {allowed}, got {value!r}")


@dataclass(frozen=True, slots=True)
class Bound:
    """A lower or upper bound on event ids, e.g. `Bound(id='100', type=BoundType.INCLUSIVE)`."""

    id: str
    type: BoundType = BoundType.INCLUSIVE

    def __post_init__(self) -> None:
        check_event_id(self.id, "bound id")
        _check_enum(self.type, BoundType, "bound type")


@dataclass(frozen=True, slots=True)
class ReadFromLatestEvent:
    """Start reading at the latest event of `type` on exactly `subject` (inclusive)."""

    subject: str
    type: str
    if_event_is_missing: IfEventIsMissingDuringRead

    def __post_init__(self) -> None:
        check_subject(self.subject, "from_latest_event subject")
        check_event_type(self.type, "from_latest_event type")
        _check_enum(
            self.if_event_is_missing,
            IfEventIsMissingDuringRead,
            "from_latest_event if_event_is_missing",
        )


@dataclass(frozen=True, slots=True)
class ObserveFromLatestEvent:
    """Start observing at the latest event of `type` on exactly `subject` (inclusive)."""

    subject: str
    type: str
    if_event_is_missing: IfEventIsMissingDuringObserve

    def __post_init__(self) -> None:
        check_subject(self.subject, "from_latest_event subject")
        check_event_type(self.type, "from_latest_event type")
        _check_enum(
            self.if_event_is_missing,
            IfEventIsMissingDuringObserve,
            "from_latest_event if_event_is_missing",
        )


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
            _check_enum(self.order, Order, "order")
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
            raise InvalidArgumentError(
                "from_latest_event and lower_bound cannot be combined: both say where reading "
                "starts; pass only one of them"
            )


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
            raise InvalidArgumentError(
                "from_latest_event and lower_bound cannot be combined: both say where observing "
                "starts; pass only one of them"
            )


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
]
