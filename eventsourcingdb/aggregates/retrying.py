"""Retrying a decision that lost a race: reload, decide again, with jittered exponential backoff.

Only `ConcurrencyError` is retried: a violated precondition wrote nothing, so deciding again on
fresh state is safe. `OutcomeUnknownError` never is: the write may have happened.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from eventsourcingdb.aggregates.errors import AggregateDefinitionError
from eventsourcingdb.errors import ConcurrencyError, InvalidArgumentError

__all__ = ["Backoff", "retry_on_conflict"]

_logger = logging.getLogger("eventsourcingdb.aggregates")

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits between attempts: a random time up to `initial * multiplier**n`, capped at `maximum`.

    "Full jitter" spreads competing writers apart, so they stop colliding instead of retrying in
    lock step. `rng` makes the waits reproducible in tests.
    """

    initial: float = 0.005
    maximum: float = 0.5
    multiplier: float = 2.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("initial", "maximum", "multiplier"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise AggregateDefinitionError(
                    f"Backoff({name}=...) must be a non-negative number, got {value!r}"
                )
        if self.multiplier < 1:
            raise AggregateDefinitionError(
                f"Backoff(multiplier=...) must be at least 1, got {self.multiplier!r}"
            )

    def delay(self, attempt: int) -> float:
        """The wait before retry number `attempt` (0 for the first retry), in seconds."""
        ceiling = min(self.maximum, self.initial * self.multiplier ** min(attempt, 64))
        return self.rng.uniform(0, ceiling)


def checked_retries(retries: object) -> int:
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InvalidArgumentError(f"retries must be a non-negative integer, got {retries!r}")
    return retries


async def retry_on_conflict(
    operation: Callable[[], Awaitable[R]], *, retries: int, backoff: Backoff | None = None
) -> R:
    """Run `operation`; after a `ConcurrencyError`, wait and run it again, `retries` times at most.

    `operation` must read what it decides on afresh on every run. When every attempt conflicts,
    the last `ConcurrencyError` is raised (with a note saying how many attempts were made).
    """
    retries = checked_retries(retries)
    chosen = Backoff() if backoff is None else backoff
    attempt = 0
    while True:
        try:
            return await operation()
        except ConcurrencyError as error:
            if attempt >= retries:
                if retries:
                    error.add_note(f"gave up after {attempt + 1} attempts")
                raise
            wait = chosen.delay(attempt)
            attempt += 1
            _logger.info(
                "conflict (%s); retry %d of %d in %.3f s", error.description, attempt, retries, wait
            )
            await asyncio.sleep(wait)
