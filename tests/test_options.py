"""Read and observe options check themselves when created, before any request is sent."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from eventsourcingdb import options as o
from eventsourcingdb.errors import InvalidArgumentError

_READ_LATEST = o.ReadFromLatestEvent(
    subject="/books/42",
    type="io.eventsourcingdb.library.book-borrowed",
    if_event_is_missing=o.IfEventIsMissingDuringRead.READ_EVERYTHING,
)
_OBSERVE_LATEST = o.ObserveFromLatestEvent(
    subject="/books/42",
    type="io.eventsourcingdb.library.book-borrowed",
    if_event_is_missing=o.IfEventIsMissingDuringObserve.WAIT_FOR_EVENT,
)


def test_enums_carry_the_wire_values() -> None:
    assert o.Order.ANTICHRONOLOGICAL.value == "antichronological"
    assert o.BoundType.EXCLUSIVE.value == "exclusive"
    assert o.IfEventIsMissingDuringRead.READ_NOTHING.value == "read-nothing"
    assert o.IfEventIsMissingDuringObserve.WAIT_FOR_EVENT.value == "wait-for-event"


def test_read_options_default_to_a_plain_chronological_read_of_one_subject() -> None:
    options = o.ReadEventsOptions()
    assert options == o.ReadEventsOptions(recursive=False, order=None)
    assert options.lower_bound is None
    assert options.from_latest_event is None


def test_options_are_immutable() -> None:
    options = o.ReadEventsOptions(recursive=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.recursive = False  # type: ignore[misc]


def test_bounds_take_decimal_string_ids() -> None:
    assert o.Bound(id="100", type=o.BoundType.INCLUSIVE).id == "100"
    with pytest.raises(InvalidArgumentError, match="bound id"):
        o.Bound(id="-1", type=o.BoundType.INCLUSIVE)


def test_a_bound_type_must_be_the_enum() -> None:
    with pytest.raises(InvalidArgumentError, match=r"BoundType\.INCLUSIVE, BoundType\.EXCLUSIVE"):
        o.Bound(id="1", type="sideways")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "make",
    [
        lambda: o.ReadEventsOptions(lower_bound=o.Bound("1"), from_latest_event=_READ_LATEST),
        lambda: o.ObserveEventsOptions(lower_bound=o.Bound("1"), from_latest_event=_OBSERVE_LATEST),
    ],
)
def test_from_latest_event_and_lower_bound_exclude_each_other(make: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="cannot be combined"):
        make()


def test_from_latest_event_with_upper_bound_is_allowed() -> None:
    options = o.ReadEventsOptions(upper_bound=o.Bound("5"), from_latest_event=_READ_LATEST)
    assert options.upper_bound == o.Bound("5")


def test_the_read_and_observe_variants_of_from_latest_event_are_not_interchangeable() -> None:
    with pytest.raises(InvalidArgumentError, match="must be a ReadFromLatestEvent"):
        o.ReadEventsOptions(from_latest_event=_OBSERVE_LATEST)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="must be an ObserveFromLatestEvent"):
        o.ObserveEventsOptions(from_latest_event=_READ_LATEST)  # type: ignore[arg-type]


def test_from_latest_event_checks_subject_type_and_mode() -> None:
    with pytest.raises(InvalidArgumentError, match="from_latest_event subject"):
        o.ReadFromLatestEvent("books", "io.x.y", o.IfEventIsMissingDuringRead.READ_NOTHING)
    with pytest.raises(InvalidArgumentError, match="from_latest_event type"):
        o.ReadFromLatestEvent("/books", "nope", o.IfEventIsMissingDuringRead.READ_NOTHING)
    with pytest.raises(InvalidArgumentError, match="if_event_is_missing"):
        o.ReadFromLatestEvent(
            "/books",
            "io.x.y",
            o.IfEventIsMissingDuringObserve.WAIT_FOR_EVENT,  # type: ignore[arg-type]
        )


def test_recursive_and_order_are_checked() -> None:
    with pytest.raises(InvalidArgumentError, match="recursive"):
        o.ReadEventsOptions(recursive="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="order must be one of"):
        o.ReadEventsOptions(order="newest-first")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="lower_bound must be a Bound"):
        o.ObserveEventsOptions(lower_bound="3")  # type: ignore[arg-type]


def test_options_give_their_wire_form() -> None:
    options = o.ReadEventsOptions(
        recursive=True,
        order=o.Order.ANTICHRONOLOGICAL,
        upper_bound=o.Bound("9", o.BoundType.EXCLUSIVE),
        from_latest_event=_READ_LATEST,
    )
    assert options.to_json() == {
        "recursive": True,
        "order": "antichronological",
        "upperBound": {"id": "9", "type": "exclusive"},
        "fromLatestEvent": {
            "subject": "/books/42",
            "type": "io.eventsourcingdb.library.book-borrowed",
            "ifEventIsMissing": "read-everything",
        },
    }
    observe = o.ObserveEventsOptions(recursive=False, lower_bound=o.Bound("3"))
    observe.validate()
    assert observe.to_json() == {"recursive": False, "lowerBound": {"id": "3", "type": "inclusive"}}
    assert o.ReadSubjectsOptions(recursive=False).to_json() == {"recursive": False}


def test_read_subjects_options_need_a_bool() -> None:
    with pytest.raises(InvalidArgumentError, match="recursive"):
        o.ReadSubjectsOptions(recursive=None)  # type: ignore[arg-type]


def test_conflicting_options_carry_the_servers_code() -> None:
    from eventsourcingdb import ErrorCode, RefusedArgumentError

    with pytest.raises(RefusedArgumentError) as caught:
        o.ObserveEventsOptions(lower_bound=o.Bound("1"), from_latest_event=_OBSERVE_LATEST)
    assert caught.value.code == ErrorCode.SELECTION_CONFLICTING
    with pytest.raises(RefusedArgumentError) as caught:
        o.ReadEventsOptions(order="chronological")  # type: ignore[arg-type]
    assert caught.value.code == ErrorCode.ORDER_UNKNOWN
