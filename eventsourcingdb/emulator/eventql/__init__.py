"""EventQL for the emulator: parse a query once, run it many times against store snapshots.

::

    query = parse("FROM e IN events WHERE e.type == 'io.x.done' PROJECT INTO e.data")
    for row in query.run(snapshot):   # snapshot implements QuerySource
        ...

:func:`parse` raises :class:`EventQLSyntaxError` (``query-malformed``); iterating ``run`` raises
:class:`EventQLEvaluationError` (``query-unevaluable``), or :class:`QueryCancelledError` once the
:class:`Cancellation` given to ``run`` is set (from any thread). Rows are JSON-like Python values;
when a query projects the bare alias of an events source (``projects_whole_event``) the rows are the
very :class:`EventRow` objects of the snapshot. Computed numbers are ``float``; rows may share
objects with event data and must not be mutated.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field

from .analysis import analyze, projects_whole_event
from .errors import (
    EventQLError,
    EventQLEvaluationError,
    EventQLNotBooleanError,
    EventQLSyntaxError,
    QueryCancelledError,
    Token,
)
from .evaluator import Cancellation, Plan, compile_query
from .functions import EventRow, EventTypeEntry, EventTypeInfoLike, QuerySource, type_name
from .parser import parse_query

__all__ = [
    "Cancellation",
    "EventQLError",
    "EventQLEvaluationError",
    "EventQLNotBooleanError",
    "EventQLSyntaxError",
    "EventRow",
    "EventTypeEntry",
    "EventTypeInfoLike",
    "Query",
    "QueryCancelledError",
    "QuerySource",
    "Token",
    "evaluate_precondition",
    "parse",
]


@dataclass(frozen=True, slots=True, eq=False)
class Query:
    """A parsed, analysed and compiled query; immutable and safe to share between runs."""

    text: str
    projects_whole_event: bool
    """True iff the query projects the bare alias of an events source (rows are EventRows)."""
    _plan: Plan = field(repr=False)

    def run(
        self, source: QuerySource, cancellation: Cancellation | None = None
    ) -> Iterator[object]:
        """Yield the result rows lazily; raises :class:`EventQLEvaluationError` while iterating,
        :class:`QueryCancelledError` before the next row once ``cancellation`` is set."""
        return self._plan.execute(source, cancellation=cancellation)


@functools.lru_cache(maxsize=256)
def _compile(text: str) -> Query:
    """Parse, analyse and compile; cached because the same query text is run again and again."""
    node = parse_query(text)
    try:
        analyze(node)
        plan = compile_query(node)
        whole_event = projects_whole_event(node)
    except RecursionError:
        raise EventQLSyntaxError("the query is nested too deeply") from None
    return Query(text, whole_event, plan)


def parse(text: str) -> Query:
    """Parse ``text`` into a runnable :class:`Query`; raise :class:`EventQLSyntaxError`."""
    if not isinstance(text, str):
        raise TypeError(f"an EventQL query must be a str, not {type(text).__name__}")
    return _compile(text)


def evaluate_precondition(
    query: Query, source: QuerySource, cancellation: Cancellation | None = None
) -> bool:
    """``isEventQlQueryTrue``: the value of the query's single boolean row.

    Zero rows, more than one row or a non-boolean row raise :class:`EventQLNotBooleanError`
    (code ``query-not-boolean``); evaluation failures raise :class:`EventQLEvaluationError`;
    a ``cancellation`` that is set (the writer has gone) raises :class:`QueryCancelledError`.
    """
    rows = query.run(source, cancellation)
    first = next(rows, _NO_ROW)
    if first is _NO_ROW:
        raise EventQLNotBooleanError("the query returned no rows")
    if next(rows, _NO_ROW) is not _NO_ROW:
        raise EventQLNotBooleanError("the query returned more than one row")
    if not isinstance(first, bool):
        kind = "event" if query.projects_whole_event else type_name(first)
        raise EventQLNotBooleanError(f"the query returned a value of type {kind}, not a boolean")
    return first


_NO_ROW = object()
