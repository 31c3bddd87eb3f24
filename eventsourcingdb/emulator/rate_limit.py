"""Rate limiting as the real server does it: a budget of request units per client address.

A read costs one unit, a write (write-events, register-event-schema) several. Each client
address has a bucket that holds at most `burst` units and refills at `units_per_second`; a
request finds enough units in it or is refused with 429 and `Retry-After` (whole seconds). Every
other answer carries `RateLimit-Policy` and `RateLimit` (IETF draft "RateLimit header fields for
HTTP", structured fields) so that a cooperative client can slow down before it is refused.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ["RateDecision", "RateLimit", "RateLimiter"]

POLICY: Final = "default"
"""The name of the one policy, as the headers quote it."""
_MAX_CLIENTS: Final = 10_000
"""Buckets kept at most; full ones (clients that have not been seen for a while) go first."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """`units_per_second` refill the bucket of each client address, which holds `burst` units
    at most (`units_per_second` when None); a write costs `write_cost` units, a read one."""

    units_per_second: float
    burst: float | None = None
    write_cost: int = 5

    def __post_init__(self) -> None:
        rate = self.units_per_second
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
            raise ValueError(f"units_per_second must be a positive number, got {rate!r}")
        burst = self.burst
        if burst is not None and (
            isinstance(burst, bool) or not isinstance(burst, int | float) or not burst >= 1
        ):
            raise ValueError(f"burst must be a number of at least 1, got {burst!r}")
        cost = self.write_cost
        if isinstance(cost, bool) or not isinstance(cost, int) or cost < 1:
            raise ValueError(f"write_cost must be a positive integer, got {cost!r}")

    @property
    def capacity(self) -> float:
        """The most units a bucket holds."""
        return float(self.burst if self.burst is not None else self.units_per_second)


@dataclass(frozen=True, slots=True)
class RateDecision:
    """Whether a request may pass, the units left, and the whole seconds until it may (refused)
    or until the bucket is full again (passed)."""

    allowed: bool
    remaining: int
    seconds: int


@dataclass(slots=True)
class _Bucket:
    units: float
    updated: float


class RateLimiter:
    """The buckets of one server; safe from any thread."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    @property
    def limit(self) -> RateLimit:
        """The configured limit."""
        return self._limit

    def take(self, client: str, cost: float) -> RateDecision:
        """Take `cost` units from the bucket of `client`, if it holds them."""
        limit = self._limit
        capacity = limit.capacity
        rate = limit.units_per_second
        cost = min(cost, capacity)  # a write can always pass with a full bucket
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                if len(self._buckets) >= _MAX_CLIENTS:
                    self._forget_full(now)
                bucket = self._buckets[client] = _Bucket(capacity, now)
            bucket.units = min(capacity, bucket.units + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.units >= cost:
                bucket.units -= cost
                refill = (capacity - bucket.units) / rate
                return RateDecision(True, int(bucket.units), math.ceil(refill))
            wait = (cost - bucket.units) / rate
            return RateDecision(False, int(bucket.units), max(1, math.ceil(wait)))

    def _forget_full(self, now: float) -> None:
        capacity, rate = self._limit.capacity, self._limit.units_per_second
        full = [
            client
            for client, bucket in self._buckets.items()
            if bucket.units + (now - bucket.updated) * rate >= capacity
        ]
        for client in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[client]

    def headers(self, decision: RateDecision) -> tuple[tuple[str, str], ...]:
        """`RateLimit-Policy` and `RateLimit` for an answer that passed."""
        limit = self._limit
        window = max(1, math.ceil(limit.capacity / limit.units_per_second))
        return (
            ("ratelimit-policy", f'"{POLICY}";q={int(limit.capacity)};w={window}'),
            ("ratelimit", f'"{POLICY}";r={decision.remaining};t={decision.seconds}'),
        )
