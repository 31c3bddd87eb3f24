"""A rate-limited server (429 with `Retry-After`): reads wait and are sent again within their
deadline; writes raise `RateLimitedError`, which says the write was not executed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from eventsourcingdb import RateLimitedError, ReadEventsOptions
from eventsourcingdb.emulator import Emulator

TYPE = "io.eventsourcingdb.library.book-acquired"
BOOK: dict[str, object] = {
    "source": "https://library.eventsourcingdb.io",
    "subject": "/books/42",
    "type": TYPE,
    "data": {"title": "2001"},
}


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(in_process=True) as started:
        yield started


async def test_reads_wait_as_the_server_asks_and_go_on(emulator: Emulator) -> None:
    async with emulator.get_client() as client:
        await client.write_events([BOOK])
        emulator.faults.refuse_next(2, status=429, retry_after=0)
        events = [event async for event in client.read_events("/books/42")]  # a stream
        assert len(events) == 1
        emulator.faults.refuse_next(2, status=429, retry_after=0)
        assert (await client.read_event_type(TYPE)).type == TYPE  # a document


async def test_the_probe_waits_too(emulator: Emulator) -> None:
    emulator.faults.refuse_next(1, status=429, retry_after=0)
    async with emulator.get_client() as client:
        await client.ping()
        assert client.api_version == 2


async def test_a_read_whose_wait_would_pass_its_deadline_raises(emulator: Emulator) -> None:
    async with emulator.get_client(timeout=0.5, stall_timeout=0.5) as client:
        await client.ping()
        emulator.faults.refuse_next(1, status=429, retry_after=5)
        with pytest.raises(RateLimitedError) as refused:
            await client.read_event_type(TYPE)
        assert refused.value.retry_after == 5
        emulator.faults.refuse_next(1, status=429, retry_after=5)
        stream = client.read_events("/", ReadEventsOptions(recursive=True))
        with pytest.raises(RateLimitedError):
            [event async for event in stream]


async def test_a_refused_write_says_it_was_not_executed(emulator: Emulator) -> None:
    async with emulator.get_client() as client:
        await client.ping()
        emulator.faults.refuse_next(1, status=429, retry_after=3)
        with pytest.raises(RateLimitedError) as refused:
            await client.write_events([BOOK])
        message = str(refused.value)
        assert "the request was not executed and may be sent again safely" in message
        assert "retry after 3 seconds" in message
        assert refused.value.retry_after == 3
        assert [event async for event in client.read_events("/books/42")] == []


async def test_reads_keep_to_a_real_rate_limit() -> None:
    with Emulator(in_process=True).with_rate_limit(20) as emulator:
        async with emulator.get_client() as client:
            for _ in range(30):  # 30 units at 20 a second: some of them wait
                await client.verify_api_token()


def test_the_blocking_client_waits_too(emulator: Emulator) -> None:
    with emulator.get_sync_client() as client:
        client.ping()
        emulator.faults.refuse_next(2, status=429, retry_after=0)
        client.verify_api_token()
        emulator.faults.refuse_next(1, status=429, retry_after=0)
        with pytest.raises(RateLimitedError, match="not executed"):
            client.write_events([BOOK])
