"""Our client reads every form of time the server writes: Go's RFC3339Nano trims the fraction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from eventsourcingdb import Client, ReadEventsOptions
from eventsourcingdb.emulator import ServerOptions, TimeFormat
from eventsourcingdb.emulator.handler import Handler
from eventsourcingdb.emulator.store import Store
from eventsourcingdb.emulator.transport import AsyncEmulatorTransport

_SECOND = 1_791_379_970_000_000_000  # 2026-10-07T13:32:50Z


async def test_times_with_any_number_of_fraction_digits_are_read_and_verified() -> None:
    ticks: Iterator[int] = iter(
        [_SECOND, _SECOND + 400_000_000, _SECOND + 439_400_000, _SECOND + 439_461_594]
    )
    store = Store(time_format=TimeFormat.RFC3339_NANO, clock=lambda: next(ticks))
    transport = AsyncEmulatorTransport(Handler(store, ServerOptions()))
    async with Client("http://emulator.invalid", "secret", transport=transport) as client:
        for number in range(4):
            await client.write_events(
                [
                    {
                        "source": "https://x.io",
                        "subject": "/t",
                        "type": "io.x.y",
                        "data": {"n": number},
                    }
                ]
            )
        events = [
            event async for event in client.read_events("/t", ReadEventsOptions(recursive=False))
        ]
    assert [event.time_text for event in events] == [
        "2026-10-07T13:32:50Z",
        "2026-10-07T13:32:50.4Z",
        "2026-10-07T13:32:50.4394Z",
        "2026-10-07T13:32:50.439461594Z",
    ]
    assert [event.time for event in events] == [
        datetime(2026, 10, 7, 13, 32, 50, microsecond, tzinfo=UTC)
        for microsecond in (0, 400_000, 439_400, 439_461)
    ]
    for event in events:
        event.verify_hash()
