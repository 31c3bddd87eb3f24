"""Telling the twins apart: the errors for an object of one twin used where the other belongs.

The async classes (`eventsourcingdb.Client`, `eventsourcingdb.models.EventStore`,
`eventsourcingdb.aggregates.Repository`) and their blocking twins in `eventsourcingdb.sync`
share their names; each checks what it is given with these helpers, which both twins call.
"""

from __future__ import annotations

import inspect

from eventsourcingdb.errors import AsyncMismatchError

_BLOCKING = "eventsourcingdb.sync"


def _is_blocking(kind: type) -> bool:
    return kind.__module__ == _BLOCKING or kind.__module__.startswith(_BLOCKING + ".")


def _home(kind: type) -> str:
    """Where users import `kind` from: `eventsourcingdb.sync.X`, or its async module."""
    module = kind.__module__
    if _is_blocking(kind):
        return f"{_BLOCKING}.{kind.__name__}"
    return f"{module}.{kind.__name__}"


def refuse_other_twin(value: object, expected: type, what: str) -> None:
    """Raise `AsyncMismatchError` if `value` is the other twin of `expected` (a class of the same
    name from the other side); anything else is left to duck typing and the caller's checks."""
    kind = type(value)
    if kind is expected or kind.__name__ != expected.__name__:
        return
    if not kind.__module__.startswith("eventsourcingdb"):
        return
    if _is_blocking(kind) == _is_blocking(expected):
        return
    given = "blocking" if _is_blocking(kind) else "async"
    needed = "blocking" if _is_blocking(expected) else "async"
    raise AsyncMismatchError(
        f"{what} needs the {needed} {_home(expected)}, got the {given} {_home(kind)}: use "
        f"{_home(expected)} here, or the {given} twin of {what} with it"
    )


def awaitable_in_blocking_code(awaitable: object, what: str) -> AsyncMismatchError:
    """The error for `what` returning an awaitable to blocking code (an `async def` function given
    to a blocking twin); a coroutine is closed, so that it does not warn it was never awaited."""
    if inspect.iscoroutine(awaitable):
        awaitable.close()
    return AsyncMismatchError(
        f"{what} returned {type(awaitable).__name__}, an awaitable, to blocking code, which "
        "cannot await it: make it a plain function, or use the async twin (eventsourcingdb."
        "aggregates.Repository) from async code"
    )


__all__ = ["awaitable_in_blocking_code", "refuse_other_twin"]
