"""Events as table rows, for the data-frame modules (`eventsourcingdb.pandas`, `.polars`).

One row per event with every field of the event as a column, `data` as the event's dict (a
`RecordedEvent`'s model instance); a `RecordedEvent`'s model fields are also flattened into
columns named `data.<field>` (`data.<field>.<nested>` for nested models and dicts).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from eventsourcingdb.errors import InvalidArgumentError
from eventsourcingdb.event import Event

if TYPE_CHECKING:
    from eventsourcingdb.models import RecordedEvent

EVENT_COLUMNS: Final = (
    "event_id",
    "time",
    "source",
    "subject",
    "type",
    "data",
    "spec_version",
    "data_content_type",
    "predecessor_hash",
    "hash",
    "trace_parent",
    "trace_state",
    "signature",
)
"""The columns of every frame, in the official SDK 2.2.4's order."""

DATA_PREFIX: Final = "data."


def _envelope(event: Event | RecordedEvent[Any]) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "time": event.time,
        "source": event.source,
        "subject": event.subject,
        "type": event.type,
        "data": event.data,
        "spec_version": event.spec_version,
        "data_content_type": event.data_content_type,
        "predecessor_hash": event.predecessor_hash,
        "hash": event.hash,
        "trace_parent": event.trace_parent,
        "trace_state": event.trace_state,
        "signature": event.signature,
    }


def _flatten(value: Mapping[str, Any], prefix: str, into: dict[str, Any]) -> None:
    for key, item in value.items():
        if isinstance(item, Mapping) and item:
            _flatten(item, f"{prefix}{key}.", into)
        else:
            into[f"{prefix}{key}"] = item


def row(item: object, index: int) -> dict[str, Any]:
    """The row of one event: an `Event`, or a `RecordedEvent` (its model fields flattened)."""
    if isinstance(item, Event):
        return _envelope(item)
    from eventsourcingdb.models import RecordedEvent

    if isinstance(item, RecordedEvent):
        values = _envelope(item)
        _flatten(item.data.model_dump(mode="python"), DATA_PREFIX, values)
        return values
    raise InvalidArgumentError(
        f"events[{index}] must be an Event or a RecordedEvent, got {type(item).__name__}"
    )


async def collect(
    events: AsyncIterable[Event | RecordedEvent[Any]] | Iterable[Event | RecordedEvent[Any]],
) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows of `events` (an async stream, such as `read_events`, or a list) and the columns:
    the event's, then the flattened model fields in the order they first appear."""
    rows: list[dict[str, Any]] = []
    if isinstance(events, AsyncIterable):
        index = 0
        async for item in events:
            rows.append(row(item, index))
            index += 1
    elif isinstance(events, Iterable) and not isinstance(events, str | bytes | Mapping):
        rows = [row(item, index) for index, item in enumerate(events)]
    else:
        hint = " (did you forget to call it?)" if inspect.ismethod(events) else ""
        raise InvalidArgumentError(
            "events must be an async stream of events (such as client.read_events(...)) or a "
            f"list of them, got {type(events).__name__}{hint}"
        )
    columns = list(EVENT_COLUMNS)
    seen = set(columns)
    for values in rows:
        for name in values:
            if name not in seen:
                seen.add(name)
                columns.append(name)
    return rows, columns


__all__ = ["DATA_PREFIX", "EVENT_COLUMNS", "collect", "row"]
