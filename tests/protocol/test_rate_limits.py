"""The waits of a call refused for its rate: reads wait as asked within their deadline."""

from __future__ import annotations

from eventsourcingdb._protocol.rate_limits import DEFAULT_WAIT, MIN_WAIT, RateLimitWaits
from eventsourcingdb._protocol.requests import ApiVersion, build_ping, build_write_events

PING = build_ping(ApiVersion.V2)
WRITE = build_write_events(ApiVersion.V2, b"[]", ())


def test_a_read_waits_as_long_as_the_server_asks_within_its_deadline() -> None:
    waits = RateLimitWaits(budget=5.0)
    assert waits.after(PING, 429, "2") == 2.0
    assert waits.after(PING, 429, "2") == 2.0
    assert waits.after(PING, 429, "2") is None  # 6 seconds in all: past the deadline
    assert waits.waited == 4.0


def test_without_a_usable_retry_after_a_read_waits_a_second() -> None:
    waits = RateLimitWaits(budget=None)
    assert waits.after(PING, 429, None) == DEFAULT_WAIT
    assert waits.after(PING, 429, "soon") == DEFAULT_WAIT
    assert waits.after(PING, 429, "nan") == DEFAULT_WAIT
    assert waits.after(PING, 429, "0") == MIN_WAIT


def test_writes_and_other_statuses_are_reported_at_once() -> None:
    waits = RateLimitWaits(budget=None)
    assert waits.after(WRITE, 429, "1") is None
    assert waits.after(PING, 503, "1") is None
    assert waits.after(PING, 200, None) is None
