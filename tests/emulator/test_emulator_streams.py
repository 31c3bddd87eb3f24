"""Streams that stay open: observe, heartbeats, closing, and the sync transport."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from eventsourcingdb.emulator import Emulator, EmulatorServer, handler
from tests.emulator.emulator_helpers import AUTH, BASE_URL, Api, Calls, candidate

TIMEOUT = 10.0


async def _lines(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    async for line in response.aiter_lines():
        if line.strip():
            yield json.loads(line)


async def test_observe_replays_then_follows_live_writes(calls: Calls) -> None:
    await calls.write(candidate("/books/1"), candidate("/other"), candidate("/books/2"))
    method, path = calls.api.route("observe-events")
    body = {"subject": "/books", "options": {"recursive": True}}
    seen: list[str] = []
    async with asyncio.timeout(TIMEOUT):
        async with calls.http.stream(method, path, json=body) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/x-ndjson"
            async for line in _lines(response):
                assert line["type"] in ("event", "heartbeat"), line
                if line["type"] == "event":
                    seen.append(calls.api.item(line)["id"])
                if seen == ["0", "2"]:
                    await calls.write(candidate("/other"), candidate("/books/3"))
                if len(seen) == 3:
                    break
    assert seen == ["0", "2", "4"]


async def test_heartbeats_flow_while_idle(calls: Calls) -> None:
    method, path = calls.api.route("observe-events")
    key = "payload" if calls.api.version == 1 else "data"
    expected = f'{{"type":"heartbeat","{key}":{{}}}}'
    started = time.monotonic()
    async with asyncio.timeout(TIMEOUT):
        async with calls.http.stream(method, path, json={"subject": "/"}) as response:
            beats = 0
            async for line in response.aiter_lines():
                assert line == expected
                beats += 1
                if beats == 3:
                    break
    assert time.monotonic() - started >= 0.25


async def test_heartbeats_do_not_interrupt_a_steady_flow(
    server: EmulatorServer, http: httpx.AsyncClient
) -> None:
    calls = Calls(http, Api(1))
    kinds: list[str] = []

    async def writer() -> None:
        for _ in range(10):
            await calls.write(candidate())
            await asyncio.sleep(0.02)

    async with asyncio.timeout(TIMEOUT):
        async with http.stream(
            "POST", "/api/v1/observe-events", json={"subject": "/books/42"}
        ) as r:
            task = asyncio.ensure_future(writer())
            async for line in _lines(r):
                kinds.append(line["type"])
                if kinds.count("event") == 10:
                    break
            await task
    assert "heartbeat" not in kinds


async def test_observe_waits_for_the_latest_event(calls: Calls) -> None:
    await calls.write(candidate("/books/1"))
    method, path = calls.api.route("observe-events")
    body = {
        "subject": "/",
        "options": {
            "recursive": True,
            "fromLatestEvent": {
                "subject": "/books/2",
                "type": "io.eventsourcingdb.library.book-acquired",
                "ifEventIsMissing": "wait-for-event",
            },
        },
    }
    seen: list[str] = []
    written = False
    async with asyncio.timeout(TIMEOUT):
        async with calls.http.stream(method, path, json=body) as response:
            async for line in _lines(response):
                if line["type"] == "heartbeat" and not written:
                    written = True
                    await calls.write(candidate("/books/3"), candidate("/books/2"))
                    await calls.write(candidate("/books/4"))
                if line["type"] == "event":
                    seen.append(calls.api.item(line)["id"])
                if len(seen) == 2:
                    break
    assert seen == ["2", "3"]


async def test_observe_from_a_lower_bound(calls: Calls) -> None:
    await calls.write(candidate(), candidate(), candidate())
    method, path = calls.api.route("observe-events")
    body = {"subject": "/books/42", "options": {"lowerBound": {"id": "1", "type": "exclusive"}}}
    async with asyncio.timeout(TIMEOUT):
        async with calls.http.stream(method, path, json=body) as response:
            async for line in _lines(response):
                assert calls.api.item(line)["id"] == "2"
                break


async def test_closing_an_observe_stream_releases_it(server: EmulatorServer, calls: Calls) -> None:
    method, path = calls.api.route("observe-events")
    async with asyncio.timeout(TIMEOUT):
        async with calls.http.stream(method, path, json={"subject": "/"}) as response:
            async for _ in response.aiter_lines():
                assert server.store.observation_count() == 1
                break
    assert server.store.observation_count() == 0


async def test_an_observe_response_closed_unread_leaves_nothing_behind(
    server: EmulatorServer, http: httpx.AsyncClient
) -> None:
    request = http.build_request("POST", "/api/v1/observe-events", json={"subject": "/"})
    response = await http.send(request, stream=True)
    assert response.status_code == 200
    await response.aclose()
    assert server.store.observation_count() == 0


async def test_cancelling_the_reader_releases_the_stream(
    server: EmulatorServer, http: httpx.AsyncClient
) -> None:
    async def observe() -> None:
        async with http.stream("POST", "/api/v1/observe-events", json={"subject": "/"}) as r:
            async for _ in r.aiter_lines():
                pass

    task = asyncio.ensure_future(observe())
    await asyncio.sleep(0.15)
    assert server.store.observation_count() == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert server.store.observation_count() == 0


async def test_reset_and_shutdown_end_observe_streams_with_an_error(
    server: EmulatorServer, calls: Calls
) -> None:
    method, path = calls.api.route("observe-events")
    for stop, text in (
        (server.reset, "the emulator's store was reset"),
        (server.close, "the server is shutting down"),
    ):
        async with asyncio.timeout(TIMEOUT):
            async with calls.http.stream(method, path, json={"subject": "/"}) as response:
                received = []
                async for line in _lines(response):
                    received.append(line)
                    if len(received) == 1:
                        stop()
        assert received[-1]["type"] == "error"
        if calls.api.version == 1:
            assert received[-1]["payload"] == {"error": text}
        else:
            assert received[-1]["data"]["description"] == text
            assert received[-1]["data"]["code"].endswith("/server-shutting-down")
    with pytest.raises(httpx.ConnectError):  # a stopped server is gone, like a closed socket
        await calls.call("observe-events", {"subject": "/"})
    # what a request still in flight while the socket front end shuts down is told
    answer = await server.handler.handle(
        handler.Request(method, path, headers=tuple(AUTH.items()), body=b'{"subject":"/"}')
    )
    assert isinstance(answer.body, bytes)
    if calls.api.version == 1:
        assert (answer.status, answer.body) == (503, b"the server is shutting down\n")
    else:
        assert answer.status == 200
        assert b"/server-shutting-down" in answer.body


async def test_reads_send_no_heartbeats(calls: Calls) -> None:
    await calls.write(candidate())
    response = await calls.call("read-events", {"subject": "/books/42"})
    assert b"heartbeat" not in response.content


class _SlowQuery:
    """A query whose single row takes a while, to see heartbeats while a query runs."""

    projects_whole_event = False

    def run(self, source: object, cancellation: object = None) -> Iterator[object]:
        time.sleep(0.35)
        yield {"done": True}


async def test_queries_send_heartbeats_while_they_run(
    calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handler, "parse", lambda text: _SlowQuery())
    response = await calls.call("run-eventql-query", {"query": "anything"})
    kinds = [json.loads(line)["type"] for line in response.text.splitlines()]
    assert kinds[0] == "heartbeat"
    assert "row" in kinds
    assert kinds[-1] == ("row" if calls.api.version == 1 else "end")


async def test_large_reads_stream_in_chunks(
    server: EmulatorServer, http: httpx.AsyncClient
) -> None:
    await http.post(
        "/api/v1/write-events", json={"events": [candidate(data={"n": i}) for i in range(2000)]}
    )
    async with http.stream(
        "POST", "/api/v1/read-events", json={"subject": "/books/42"}
    ) as response:
        sizes = [len(chunk) async for chunk in response.aiter_raw()]
    assert len(sizes) > 3
    assert all(size >= 64 * 1024 for size in sizes[:-1])


def test_the_sync_transport_streams(server: EmulatorServer) -> None:
    with httpx.Client(transport=server.sync_transport(), base_url=BASE_URL, headers=AUTH) as http:
        assert http.get("/api/v1/ping").status_code == 200
        written = http.post("/api/v1/write-events", json={"events": [candidate()]})
        assert written.status_code == 200
        seen: list[str] = []
        with http.stream("POST", "/api/v1/observe-events", json={"subject": "/books/42"}) as r:
            for line in r.iter_lines():
                item = json.loads(line)
                if item["type"] == "event":
                    seen.append(item["payload"]["id"])
                    if len(seen) == 1:
                        writer = threading.Thread(
                            target=lambda: http.post(
                                "/api/v1/write-events", json={"events": [candidate()]}
                            )
                        )
                        writer.start()
                        writer.join()
                if len(seen) == 2:
                    break
        assert seen == ["0", "1"]
    deadline = time.monotonic() + 2
    while server.store.observation_count() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.store.observation_count() == 0


def test_closing_the_server_stops_the_sync_loop_thread() -> None:
    before = threading.active_count()
    server = EmulatorServer()
    with httpx.Client(transport=server.sync_transport(), base_url=BASE_URL) as http:
        assert http.get("/api/v1/ping").status_code == 200
        assert threading.active_count() == before + 1
    server.close()
    assert threading.active_count() == before


# --- over the socket ----------------------------------------------------------------------------


def test_broken_off_socket_streams_write_nothing_to_the_dead_connection(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    body = b'{"subject":"/","options":{"recursive":true}}'
    request = (
        b"POST /api/v1/observe-events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )
    caplog.set_level(logging.WARNING)
    with Emulator().with_heartbeat_interval(0.05) as emulator:
        with httpx.Client(base_url=emulator.get_base_url(), headers=AUTH) as client:
            for _ in range(20):  # a replay of megabytes, still being sent when the client goes
                events = [candidate(data={"pad": "x" * 100}) for _ in range(1000)]
                assert client.post("/api/v1/write-events", json={"events": events}).is_success
        for _ in range(20):
            with socket.create_connection(("127.0.0.1", emulator.get_mapped_port())) as raw:
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                raw.sendall(request)
                assert raw.recv(100).startswith(b"HTTP/1.1 200")
            # closed with a reset, in the middle of the replay
        deadline = time.monotonic() + TIMEOUT
        while emulator.server.store.observation_count() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert emulator.server.store.observation_count() == 0
    noise = "socket.send() raised exception"
    assert noise not in caplog.text
    assert noise not in capfd.readouterr().err


def test_a_failure_inside_a_socket_stream_ends_it_cleanly_with_an_error_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(events: Any, lines: Any) -> Iterator[bytes]:
        yield b"".join(map(lines.event, list(events)[:1]))
        raise RuntimeError("boom")

    with (
        Emulator() as emulator,
        httpx.Client(base_url=emulator.get_base_url(), headers=AUTH) as client,
    ):
        client.post("/api/v1/write-events", json={"events": [candidate(), candidate()]})
        monkeypatch.setattr(handler, "event_chunks", broken)
        v1 = client.post("/api/v1/read-events", json={"subject": "/books/42"})
        v2 = client.request("QUERY", "/api/v2/data/read-events", json={"subject": "/books/42"})
    assert [json.loads(line)["type"] for line in v1.text.splitlines()] == ["event", "error"]
    assert json.loads(v1.text.splitlines()[-1])["payload"] == {"error": "internal server error"}
    last = json.loads(v2.text.splitlines()[-1])
    assert last["type"] == "error"
    assert last["data"]["code"] == "https://docs.eventsourcingdb.io/errors/store-failed"


def test_transports_of_a_closed_server_cannot_connect_and_start_no_thread() -> None:
    server = EmulatorServer()
    server.close()
    before = threading.active_count()
    with (
        httpx.Client(transport=server.sync_transport(), base_url=BASE_URL) as sync,
        pytest.raises(httpx.ConnectError),
    ):
        sync.get("/api/v1/ping")
    assert threading.active_count() == before


_ENDLESS_QUERY = (
    "FROM a IN events FROM b IN events FROM c IN events WHERE a.data.n == -1 PROJECT INTO a"
)
"""A billion combinations of 1,000 events, none of them a row: minutes of work, no output."""
_WORKERS = min(32, (os.cpu_count() or 1) + 4)
"""The threads of asyncio's default executor, which runs queries."""


async def _write_a_thousand(http: httpx.AsyncClient) -> None:
    written = await http.post(
        "/api/v1/write-events", json={"events": [candidate(data={"n": n}) for n in range(1000)]}
    )
    assert written.status_code == 200


async def _abandon_endless_queries(http: httpx.AsyncClient, count: int) -> None:
    """Start `count` endless queries and leave each after its first heartbeat."""
    await _write_a_thousand(http)
    for _ in range(count):
        async with http.stream(
            "POST", "/api/v1/run-eventql-query", json={"query": _ENDLESS_QUERY}
        ) as response:
            async for line in _lines(response):
                assert line["type"] == "heartbeat"
                break


@pytest.mark.timeout(40)
async def test_a_query_whose_client_leaves_stops_in_process(http: httpx.AsyncClient) -> None:
    # more abandoned queries than worker threads: a query that kept running would hold its
    # thread for minutes, and the last query would wait for one
    await _abandon_endless_queries(http, _WORKERS + 2)
    answer = await http.post(
        "/api/v1/run-eventql-query", json={"query": "FROM e IN events PROJECT INTO COUNT()"}
    )
    assert [line for line in answer.text.splitlines() if '"row"' in line] == [
        '{"type":"row","payload":1000}'
    ]


@pytest.mark.timeout(40)
async def test_a_query_whose_client_leaves_stops_on_a_socket() -> None:
    with Emulator().with_heartbeat_interval(0.05) as emulator:
        async with httpx.AsyncClient(base_url=emulator.get_base_url(), headers=AUTH) as http:
            await _abandon_endless_queries(http, _WORKERS + 2)
            answer = await http.post(
                "/api/v1/run-eventql-query",
                json={"query": "FROM e IN events PROJECT INTO COUNT()"},
            )
    assert '{"type":"row","payload":1000}' in answer.text.splitlines()


_ENDLESS_PRECONDITION = {
    "type": "isEventQlQueryTrue",
    "payload": {
        "query": "FROM a IN events FROM b IN events FROM c IN events "
        "WHERE a.data.n == -1 PROJECT INTO COUNT() == 0"
    },
}


async def _abandon_endless_preconditions(http: httpx.AsyncClient, count: int) -> None:
    """Start `count` writes whose precondition takes minutes, and leave each after a moment."""
    for _ in range(count):
        with contextlib.suppress(TimeoutError, httpx.TimeoutException):
            await asyncio.wait_for(
                http.post(
                    "/api/v1/write-events",
                    json={"events": [candidate()], "preconditions": [_ENDLESS_PRECONDITION]},
                    timeout=0.2,
                ),
                0.3,
            )


@pytest.mark.timeout(40)
async def test_a_precondition_whose_writer_leaves_stops_in_process(
    http: httpx.AsyncClient,
) -> None:
    await _write_a_thousand(http)
    await _abandon_endless_preconditions(http, _WORKERS + 2)
    answer = await http.post(
        "/api/v1/run-eventql-query", json={"query": "FROM e IN events PROJECT INTO COUNT()"}
    )
    assert '{"type":"row","payload":1000}' in answer.text.splitlines(), "no abandoned write"


@pytest.mark.timeout(40)
async def test_a_precondition_whose_writer_leaves_stops_on_a_socket() -> None:
    with Emulator() as emulator:
        async with httpx.AsyncClient(base_url=emulator.get_base_url(), headers=AUTH) as http:
            await _write_a_thousand(http)
            await _abandon_endless_preconditions(http, _WORKERS + 2)
            answer = await http.post(
                "/api/v1/run-eventql-query",
                json={"query": "FROM e IN events PROJECT INTO COUNT()"},
            )
    assert '{"type":"row","payload":1000}' in answer.text.splitlines(), "no abandoned write"
