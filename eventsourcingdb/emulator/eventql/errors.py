"""Errors raised by the EventQL engine, each carrying the position of what went wrong.

::

    EventQLError                    .message .detail .line .column .start_token .end_token .code
    ├── EventQLSyntaxError          "query-malformed": lexing, parsing and analysis failures
    └── EventQLEvaluationError      "query-unevaluable": failures while the query runs
        └── EventQLNotBooleanError  "query-not-boolean": a precondition without one boolean row

Lines and columns are 1-based. The tokens mirror the ``startToken``/``endToken`` members that
the v1 server is believed to send in its error lines (``{"line","column","text","type"}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

__all__ = [
    "EventQLError",
    "EventQLEvaluationError",
    "EventQLNotBooleanError",
    "EventQLSyntaxError",
    "QueryCancelledError",
    "Token",
]


@dataclass(frozen=True, slots=True)
class Token:
    """One token of the query text: where it starts (1-based), its text and its kind."""

    line: int
    column: int
    text: str
    type: str


class EventQLError(Exception):
    """Base of every EventQL failure; ``message`` always names the line and column when known."""

    code: ClassVar[str] = "query-error"
    _prefix: ClassVar[str] = "query error"

    message: str
    detail: str
    line: int | None
    column: int | None
    start_token: Token | None
    end_token: Token | None

    def __init__(
        self,
        detail: str,
        *,
        line: int | None = None,
        column: int | None = None,
        start_token: Token | None = None,
        end_token: Token | None = None,
    ) -> None:
        if start_token is not None and line is None:
            line, column = start_token.line, start_token.column
        self.detail = detail
        self.line = line
        self.column = column
        self.start_token = start_token
        self.end_token = end_token if end_token is not None else start_token
        if line is not None and column is not None:
            self.message = f"{self._prefix} at line {line}, column {column}: {detail}"
        else:
            self.message = f"{self._prefix}: {detail}"
        super().__init__(self.message)

    def __reduce__(self) -> tuple[object, ...]:
        """Keep the keyword-only arguments when pickled (exceptions pickle only ``args``)."""
        return (
            _rebuild,
            (type(self), self.detail, self.line, self.column, self.start_token, self.end_token),
        )


def _rebuild(
    cls: type[EventQLError],
    detail: str,
    line: int | None,
    column: int | None,
    start_token: Token | None,
    end_token: Token | None,
) -> EventQLError:
    """Recreate an error from its parts; the counterpart of ``EventQLError.__reduce__``."""
    return cls(detail, line=line, column=column, start_token=start_token, end_token=end_token)


class EventQLSyntaxError(EventQLError):
    """The text cannot be lexed, parsed or analysed (unknown names, misplaced aggregates, ...)."""

    code: ClassVar[str] = "query-malformed"
    _prefix: ClassVar[str] = "syntax error"


class EventQLEvaluationError(EventQLError):
    """The query is well formed but failed while running (type errors, bad conversions, ...)."""

    code: ClassVar[str] = "query-unevaluable"
    _prefix: ClassVar[str] = "evaluation error"


class EventQLNotBooleanError(EventQLEvaluationError):
    """A precondition query did not produce exactly one row holding a boolean."""

    code: ClassVar[str] = "query-not-boolean"
    _prefix: ClassVar[str] = "query must return a single boolean value"


class QueryCancelledError(Exception):
    """A running query was cancelled because nobody waits for its rows any more (not an error
    of the query: there is nobody left to tell)."""
