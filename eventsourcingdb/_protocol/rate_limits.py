"""What a call does when the server's rate limit refuses it (429 with `Retry-After`).

A call that only reads waits as long as the server asks and is sent again, for as long as the
waits together fit into its deadline; a write is never sent again here: it raises
`RateLimitedError`, which says that nothing was executed and the write may be sent again safely.
Pure bookkeeping: the shells (async and blocking) do the waiting.
"""

from __future__ import annotations

from typing import Final

from eventsourcingdb._protocol.errors import parse_retry_after
from eventsourcingdb._protocol.requests import Request

__all__ = ["DEFAULT_WAIT", "MIN_WAIT", "RateLimitWaits"]

DEFAULT_WAIT: Final = 1.0
"""Seconds to wait when a 429 says nothing about when to come back."""
MIN_WAIT: Final = 0.05
"""The shortest wait (a `Retry-After: 0` must not make a call spin)."""


class RateLimitWaits:
    """The waits of one call after refusals for its rate; `budget` is its deadline in seconds
    (None: no limit), which the waits together may not exceed."""

    __slots__ = ("_budget", "waited")

    def __init__(self, budget: float | None) -> None:
        self._budget = budget
        self.waited = 0.0

    def after(self, request: Request, status: int, retry_after: str | None) -> float | None:
        """Seconds to wait before sending `request` again after an answer of `status`, or None
        when the answer is to be reported (not a 429, a write, or the deadline would pass)."""
        if status != 429 or request.operation.changes_state:
            return None
        asked = parse_retry_after(retry_after)
        delay = max(DEFAULT_WAIT if asked is None else asked, MIN_WAIT)
        if self._budget is not None and self.waited + delay > self._budget:
            return None
        self.waited += delay
        return delay
