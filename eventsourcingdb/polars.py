"""Events as polars DataFrames; needs the extra `polars` (`pip install
'eventsourcingdb-toolkit[polars]'`). polars is imported when a frame is built, not before.

The twin of `eventsourcingdb.pandas`: the same columns, `time` as a UTC datetime, `data` as an
object column holding the event's dict (or a typed event's model instance), and a typed
event's model fields as columns `data.<field>`, typed by polars where their values agree, else
object columns holding the values as they are (the same field with another type in two models).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import TYPE_CHECKING, Any

from eventsourcingdb import _frames
from eventsourcingdb._extras import import_extra
from eventsourcingdb.event import Event

if TYPE_CHECKING:
    import polars

    from eventsourcingdb.models import RecordedEvent


def _schema(polars_module: Any) -> dict[str, Any]:
    return {
        name: (
            polars_module.Datetime("us", "UTC")
            if name == "time"
            else polars_module.Object
            if name == "data"
            else polars_module.String
        )
        for name in _frames.EVENT_COLUMNS
    }


async def events_to_dataframe(
    events: AsyncIterable[Event | RecordedEvent[Any]] | Iterable[Event | RecordedEvent[Any]],
) -> polars.DataFrame:
    """A `polars.DataFrame` with one row per event (an async stream of events, or a list).

    Without events it has the columns of the event's fields, typed, and no rows. Raises
    `MissingExtraError` when polars is not installed.
    """
    pl = import_extra("polars", extra="polars", feature="eventsourcingdb.polars")
    rows, columns = await _frames.collect(events)
    schema = _schema(pl)
    frame: polars.DataFrame = pl.DataFrame(
        {name: [values[name] for values in rows] for name in _frames.EVENT_COLUMNS},
        schema=schema,
    )
    extra = [name for name in columns if name not in schema]
    if extra:
        frame = frame.with_columns(
            _column(pl, name, [values.get(name) for values in rows]) for name in extra
        )
    return frame


def _column(pl: Any, name: str, values: list[Any]) -> polars.Series:
    """A flattened model field: typed where polars takes the values as they are, else an object
    column (never a cast: 1 and "1" of two models stay apart)."""
    try:
        series: polars.Series = pl.Series(name, values, strict=True)
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
        series = pl.Series(name, values, dtype=pl.Object)
    return series


__all__ = ["events_to_dataframe"]
