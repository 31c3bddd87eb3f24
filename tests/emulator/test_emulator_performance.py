"""Serving events is never the bottleneck: 100,000 events stream from pre-encoded bytes."""

from __future__ import annotations

import time

import httpx
import pytest

from eventsourcingdb.emulator import EmulatorServer, encoding, records
from eventsourcingdb.emulator.encoding import encode_json
from eventsourcingdb.emulator.records import Candidate
from tests.emulator.emulator_helpers import AUTH, BASE_URL

EVENTS = 100_000


def _fill(server: EmulatorServer) -> None:
    batch: list[Candidate] = []
    for number in range(EVENTS):
        data = {"title": "2001 – A Space Odyssey", "number": number}
        batch.append(
            Candidate(
                source="https://library.eventsourcingdb.io",
                subject=f"/books/{number % 100}",
                type="io.eventsourcingdb.library.book-acquired",
                data=data,
                data_bytes=encode_json(data),
            )
        )
        if len(batch) == 1000:
            server.store.write(batch)
            batch = []


async def test_a_read_of_100k_events_streams_stored_bytes(
    server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(server)

    def no_json_work(*args: object) -> str:
        raise AssertionError("a read must not encode events again")

    for module in (encoding, records):
        monkeypatch.setattr(module, "encode_string", no_json_work)
    monkeypatch.setattr(encoding, "encode_json", no_json_work)
    async with httpx.AsyncClient(
        transport=server.async_transport(), base_url=BASE_URL, headers=AUTH
    ) as http:
        started = time.perf_counter()
        lines = 0
        async with http.stream(
            "POST", "/api/v1/read-events", json={"subject": "/", "options": {"recursive": True}}
        ) as response:
            async for chunk in response.aiter_raw():
                lines += chunk.count(b"\n")
        elapsed = time.perf_counter() - started
    assert lines == EVENTS
    assert elapsed < 3.0, f"reading {EVENTS} events took {elapsed:.2f} s"
