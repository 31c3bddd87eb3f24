"""`Deadlines`: the request timeout of the client's own pool, one timer for all requests.

Each request that starts gets the same number of seconds; one that runs out is cancelled, and
`finish` says that the cancellation was the deadline's, as `asyncio.timeout` would raise
`TimeoutError`. Cancellations from outside stay cancellations.
"""

from __future__ import annotations

import asyncio

import pytest

from eventsourcingdb._transport import Deadlines


async def _request(deadlines: Deadlines, seconds: float) -> str:
    """A request taking `seconds`: "answered", or "timed out" if its deadline cancelled it."""
    limit = deadlines.start()
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        if deadlines.finish(limit):
            return "timed out"
        raise
    deadlines.finish(limit)
    return "answered"


async def test_a_request_within_its_deadline_is_answered() -> None:
    deadlines = Deadlines(asyncio.get_running_loop(), 1.0)
    assert await _request(deadlines, 0.01) == "answered"


async def test_a_request_beyond_its_deadline_is_cancelled_and_reported_as_a_timeout() -> None:
    deadlines = Deadlines(asyncio.get_running_loop(), 0.05)
    assert await _request(deadlines, 5.0) == "timed out"
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0


async def test_concurrent_requests_each_get_their_own_deadline() -> None:
    deadlines = Deadlines(asyncio.get_running_loop(), 0.2)
    slow = asyncio.create_task(_request(deadlines, 5.0))
    await asyncio.sleep(0.1)
    fast = [asyncio.create_task(_request(deadlines, 0.01)) for _ in range(3)]
    late = asyncio.create_task(_request(deadlines, 0.15))  # started 0.1 s in: ends at 0.25 s
    assert await asyncio.gather(*fast) == ["answered"] * 3
    assert await slow == "timed out"
    assert await late == "answered"


async def test_a_cancellation_from_outside_is_not_taken_for_a_timeout() -> None:
    deadlines = Deadlines(asyncio.get_running_loop(), 5.0)
    task = asyncio.create_task(_request(deadlines, 5.0))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_finished_requests_behind_a_slow_one_are_not_kept() -> None:
    deadlines = Deadlines(asyncio.get_running_loop(), 5.0)
    slow = asyncio.create_task(_request(deadlines, 0.3))
    await asyncio.sleep(0)
    for _ in range(1000):
        assert await _request(deadlines, 0) == "answered"
    assert len(deadlines._pending) < 200
    assert await slow == "answered"
    deadlines.close()
