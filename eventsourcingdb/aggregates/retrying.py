"""Retrying a decision that lost a race: reload, decide again, with jittered exponential backoff.

Only `ConcurrencyError` is retried: a violated precondition wrote nothing, so deciding again on
fresh state is safe. `OutcomeUnknownError` never is: the write may have happened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from eventsourcingdb.aggregates.backoff import Backoff, checked_retries
from eventsourcingdb.errors import ConcurrencyError

__all__ = ["Backoff", "retry_on_conflict"]

_logger = logging.getLogger("eventsourcingdb.aggregates")

R = TypeVar("R")


async def retry_on_conflict(
    operation: Callable[[], Awaitable[R]],
    *,
    retries: int,
    backoff: Backoff | None = None,
    on_conflict: Callable[[ConcurrencyError, int | None, float | None], None] | None = None,
) -> R:
    """Run `operation`; after a `ConcurrencyError`, wait and run it again, `retries` times at most.

    `operation` must read what it decides on afresh on every run. When every attempt conflicts,
    the last `ConcurrencyError` is raised (with a note saying how many attempts were made).
    `on_conflict(error, retry, delay)` hears of each conflict: the number of the retry that
    follows and the seconds before it, or `None, None` when the retries have run out.
    """
    retries = checked_retries(retries)
    chosen = Backoff() if backoff is None else backoff
    attempt = 0
    while True:
        try:
            return await operation()
        except ConcurrencyError as error:
            if attempt >= retries:
                if on_conflict is not None:
                    on_conflict(error, None, None)
                if retries:
                    error.add_note(f"gave up after {attempt + 1} attempts")
                raise
            wait = chosen.delay(attempt)
            attempt += 1
            if on_conflict is not None:
                on_conflict(error, attempt, wait)
            _logger.info(
                "conflict (%s); retry %d of %d in %.3f s", error.description, attempt, retries, wait
            )
            await asyncio.sleep(wait)
