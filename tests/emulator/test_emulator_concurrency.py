"""Many writers and observers at once: every observer sees every event once, in order."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Callable
from typing import Any

import httpx

from eventsourcingdb.emulator import Emulator, EmulatorServer
from eventsourcingdb.emulator.encoding import encode_json
from eventsourcingdb.emulator.records import Candidate
from tests.emulator.emulator_helpers import AUTH, BASE_URL, candidate

WRITERS = 8
EVENTS_PER_WRITER = 200
OBSERVERS = 4
TOTAL = WRITERS * EVENTS_PER_WRITER
TIMEOUT = 50.0


async def _observe(
    http: httpx.AsyncClient, ready: asyncio.Event, path: str = "/api/v1/observe-events"
) -> list[dict[str, Any]]:
    """Every event an observer of everything receives, until TOTAL events arrived."""
    events: list[dict[str, Any]] = []
    body = {"subject": "/", "options": {"recursive": True}}
    method = "POST" if "/v1/" in path else "QUERY"
    async with http.stream(method, path, json=body) as response:
        assert response.status_code == 200
        ready.set()
        async for line in response.aiter_lines():
            item = json.loads(line)
            assert item["type"] in ("event", "heartbeat"), item
            if item["type"] == "event":
                events.append(item["payload" if "/v1/" in path else "data"])
                if len(events) == TOTAL:
                    return events
    raise AssertionError("the observe stream ended")


def _check(observed: list[dict[str, Any]]) -> None:
    assert [event["id"] for event in observed] == [str(index) for index in range(TOTAL)]
    for previous, event in itertools.pairwise(observed):
        assert event["predecessorhash"] == previous["hash"]
    per_writer: dict[str, list[int]] = {}
    for event in observed:
        per_writer.setdefault(event["subject"], []).append(event["data"]["n"])
    assert len(per_writer) == WRITERS
    for numbers in per_writer.values():
        assert numbers == list(range(EVENTS_PER_WRITER))


async def test_async_writers_and_observers_in_process(server: EmulatorServer) -> None:
    async with httpx.AsyncClient(
        transport=server.async_transport(), base_url=BASE_URL, headers=AUTH
    ) as http:

        async def write(writer: int) -> None:
            for number in range(EVENTS_PER_WRITER):
                body = {"events": [candidate(f"/writers/{writer}", data={"n": number})]}
                path = "/api/v1/write-events" if writer % 2 else "/api/v2/data/write-events"
                response = await http.post(path, json=body)
                assert response.status_code == 200

        async with asyncio.timeout(TIMEOUT):
            readies = [asyncio.Event() for _ in range(OBSERVERS)]
            paths = ["/api/v1/observe-events", "/api/v2/data/observe-events"]
            observers = [
                asyncio.ensure_future(_observe(http, ready, paths[index % 2]))
                for index, ready in enumerate(readies)
            ]
            await asyncio.gather(*(ready.wait() for ready in readies))
            await asyncio.gather(*(write(writer) for writer in range(WRITERS)))
            results = await asyncio.gather(*observers)
    for observed in results:
        _check(observed)
    assert server.store.observation_count() == 0


async def test_writer_threads_and_observers_on_the_store(server: EmulatorServer) -> None:
    def write(writer: int) -> Callable[[], None]:
        def run() -> None:
            for number in range(EVENTS_PER_WRITER):
                data = {"n": number}
                server.store.write(
                    [
                        Candidate(
                            source="https://x",
                            subject=f"/writers/{writer}",
                            type="io.x.written",
                            data=data,
                            data_bytes=encode_json(data),
                        )
                    ]
                )

        return run

    async with httpx.AsyncClient(
        transport=server.async_transport(), base_url=BASE_URL, headers=AUTH
    ) as http:
        async with asyncio.timeout(TIMEOUT):
            readies = [asyncio.Event() for _ in range(OBSERVERS)]
            observers = [asyncio.ensure_future(_observe(http, ready)) for ready in readies]
            await asyncio.gather(*(ready.wait() for ready in readies))
            threads = [threading.Thread(target=write(writer)) for writer in range(WRITERS)]
            for thread in threads:
                thread.start()
            results = await asyncio.gather(*observers)
            for thread in threads:
                await asyncio.to_thread(thread.join)
    for observed in results:
        _check(observed)


async def test_writer_threads_and_observers_over_the_socket() -> None:
    with Emulator().start() as emulator:
        base_url = emulator.get_base_url()

        def write(writer: int) -> None:
            with httpx.Client(base_url=base_url, headers=AUTH) as http:
                for number in range(EVENTS_PER_WRITER):
                    body = {"events": [candidate(f"/writers/{writer}", data={"n": number})]}
                    assert http.post("/api/v1/write-events", json=body).status_code == 200

        async with httpx.AsyncClient(base_url=base_url, headers=AUTH, timeout=TIMEOUT) as http:
            async with asyncio.timeout(TIMEOUT):
                readies = [asyncio.Event() for _ in range(OBSERVERS)]
                paths = ["/api/v1/observe-events", "/api/v2/data/observe-events"]
                observers = [
                    asyncio.ensure_future(_observe(http, ready, paths[index % 2]))
                    for index, ready in enumerate(readies)
                ]
                await asyncio.gather(*(ready.wait() for ready in readies))
                await asyncio.gather(
                    *(asyncio.to_thread(write, writer) for writer in range(WRITERS))
                )
                results = await asyncio.gather(*observers)
        for observed in results:
            _check(observed)
