"""Events as pandas DataFrames; needs the extra `pandas` (`pip install
'eventsourcingdb-toolkit[pandas]'`). pandas is imported when a frame is built, not before.

```python
from eventsourcingdb.pandas import events_to_dataframe

frame = await events_to_dataframe(client.read_events("/books", ReadEventsOptions(recursive=True)))
```

Every field of an event is a column (`event_id`, `time`, `source`, `subject`, `type`, `data`,
`spec_version`, `data_content_type`, `predecessor_hash`, `hash`, `trace_parent`, `trace_state`,
`signature`), `data` holds the event's dict, as in the official SDK 2.2.4. Typed events
(`RecordedEvent[T]` from `EventStore.read`) also get their model's fields as columns
`data.<field>`; `data` then holds the model instance.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import TYPE_CHECKING, Any

from eventsourcingdb import _frames
from eventsourcingdb._extras import import_extra
from eventsourcingdb.event import Event

if TYPE_CHECKING:
    from eventsourcingdb.models import RecordedEvent


async def events_to_dataframe(
    events: AsyncIterable[Event | RecordedEvent[Any]] | Iterable[Event | RecordedEvent[Any]],
) -> Any:
    """A `pandas.DataFrame` with one row per event (an async stream of events, or a list).

    Without events it has the columns of the event's fields and no rows. Raises
    `MissingExtraError` when pandas is not installed.
    """
    pandas = import_extra("pandas", extra="pandas", feature="eventsourcingdb.pandas")
    rows, columns = await _frames.collect(events)
    if not rows:
        return pandas.DataFrame(columns=columns)
    return pandas.DataFrame(rows, columns=columns)


__all__ = ["events_to_dataframe"]
