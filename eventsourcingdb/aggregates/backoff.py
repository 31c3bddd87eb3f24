"""`Backoff`: how long to wait before deciding again after a conflict, shared by every retry loop
(the aggregates' and the projections', async and blocking)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from eventsourcingdb.aggregates.errors import AggregateDefinitionError
from eventsourcingdb.errors import InvalidArgumentError

__all__ = ["Backoff", "checked_retries"]


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
