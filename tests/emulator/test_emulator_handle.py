"""`Emulator`: the Container-shaped handle, over a real loopback socket and in process."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eventsourcingdb import _wire
from eventsourcingdb.emulator import Emulator, TimeFormat
from eventsourcingdb.errors import ContainerError, InvalidArgumentError
from tests.emulator.emulator_helpers import AUTH, candidate


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A started emulator on a free loopback port with short heartbeats."""
    with Emulator().with_heartbeat_interval(0.1).start() as running:
        yield running


def test_defaults_and_address() -> None:
    with Emulator() as emulator:
        assert emulator.is_running()
        assert emulator.get_host() == "127.0.0.1"
        port = emulator.get_mapped_port()
        assert emulator.get_base_url() == f"http://127.0.0.1:{port}"
        assert emulator.get_api_token() == "secret"
        response = httpx.get(f"{emulator.get_base_url()}/api/v2/system/ping")
        assert response.status_code == 200
        assert response.headers["server"] == "EventSourcingDB/1.3.0-emulator"
        assert "date" in response.headers
    assert not emulator.is_running()


def test_a_chosen_port_and_token() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Emulator().with_port(port).with_api_token("token") as emulator:
        assert emulator.get_mapped_port() == port
        base = emulator.get_base_url()
        assert httpx.post(f"{base}/api/v1/verify-api-token").status_code == 401
        verified = httpx.post(
            f"{base}/api/v1/verify-api-token", headers={"authorization": "Bearer token"}
        )
        assert verified.status_code == 200
    with Emulator().with_port(port) as again:  # the port is free again at once
        assert again.get_mapped_port() == port


def test_a_taken_port_is_a_clear_error() -> None:
    with Emulator() as first, pytest.raises(ContainerError, match="could not listen"):
        Emulator().with_port(first.get_mapped_port()).start()


def test_getters_need_a_running_emulator() -> None:
    emulator = Emulator()
    for getter in (
        emulator.get_host,
        emulator.get_mapped_port,
        emulator.get_base_url,
        emulator.reset,
        emulator.async_transport,
        emulator.sync_transport,
    ):
        with pytest.raises(ContainerError, match="call start"):
            getter()
    emulator.stop()
    emulator.stop()


def test_signing_keys() -> None:
    with pytest.raises(ContainerError, match="with_signing_key"):
        Emulator().get_signing_key()
    key = Ed25519PrivateKey.generate()
    emulator = Emulator(in_process=True).with_signing_key(key)
    assert emulator.get_signing_key() is key
    with emulator:
        client = httpx.Client(
            transport=emulator.sync_transport(), base_url="http://x", headers=AUTH
        )
        (event,) = client.post("/api/v1/write-events", json={"events": [candidate()]}).json()
        client.close()
    signature = bytes.fromhex(event["signature"].removeprefix(_wire.SIGNATURE_V1_PREFIX))
    emulator.get_verification_key().verify(signature, event["hash"].encode())
    generated = Emulator().with_signing_key()
    assert isinstance(generated.get_signing_key(), Ed25519PrivateKey)


@pytest.mark.parametrize(
    ("builder", "argument"),
    [
        ("with_port", 0),
        ("with_port", 70000),
        ("with_api_token", ""),
        ("with_hash_version", 3),
        ("with_api_versions", 3),
        ("with_heartbeat_interval", 0),
        ("with_host", ""),
        ("with_signing_key", "key"),
        ("with_time_format", "nine"),
    ],
)
def test_builders_check_their_arguments(builder: str, argument: object) -> None:
    with pytest.raises(InvalidArgumentError):
        getattr(Emulator(), builder)(argument)
    with pytest.raises(InvalidArgumentError):
        Emulator().with_api_versions()


def test_in_process_emulators_open_no_socket() -> None:
    before = threading.active_count()
    with Emulator(in_process=True) as emulator:
        assert emulator.get_base_url() == "http://emulator.invalid"
        assert emulator.get_host() == "emulator.invalid"
        assert emulator.get_mapped_port() == 80
        assert threading.active_count() == before


def test_options_for_old_servers_hash_v2_and_trimmed_times() -> None:
    emulator = (
        Emulator(in_process=True)
        .with_api_versions(1)
        .with_hash_version(2)
        .with_time_format(TimeFormat.RFC3339_NANO)
    )
    with (
        emulator,
        httpx.Client(
            transport=emulator.sync_transport(), base_url="http://x", headers=AUTH
        ) as client,
    ):
        assert client.get("/api/v2/system/ping").text == "404 page not found\n"
        (event,) = client.post("/api/v1/write-events", json={"events": [candidate()]}).json()
        assert event["hash"].startswith("esdb:hash:v2:")
        assert not event["time"].removesuffix("Z").endswith("0")


def test_reset_empties_the_store() -> None:
    with (
        Emulator(in_process=True) as emulator,
        httpx.Client(
            transport=emulator.sync_transport(), base_url="http://x", headers=AUTH
        ) as client,
    ):
        client.post("/api/v1/write-events", json={"events": [candidate()]})
        emulator.reset()
        assert client.post("/api/v1/read-events", json={"subject": "/books/42"}).text == ""
        (event,) = client.post("/api/v1/write-events", json={"events": [candidate()]}).json()
        assert event["id"] == "0"


def test_starting_twice_and_restarting() -> None:
    emulator = Emulator()
    assert emulator.start() is emulator.start()
    first = emulator.get_base_url()
    emulator.stop()
    emulator.start()
    assert httpx.get(f"{emulator.get_base_url()}/api/v1/ping").status_code == 200
    emulator.stop()
    assert first.startswith("http://127.0.0.1:")


def test_stopping_leaks_no_threads_even_with_open_streams() -> None:
    before = threading.active_count()
    emulator = Emulator().with_heartbeat_interval(0.05).start()
    lines: list[str] = []

    def observe() -> None:
        with httpx.stream(
            "POST",
            f"{emulator.get_base_url()}/api/v1/observe-events",
            json={"subject": "/"},
            headers=AUTH,
        ) as response:
            lines.extend(response.iter_lines())

    reader = threading.Thread(target=observe)
    reader.start()
    time.sleep(0.3)
    started = time.monotonic()
    emulator.stop()
    reader.join(5)
    assert time.monotonic() - started < 3
    assert not reader.is_alive()
    assert json.loads(lines[-1]) == {
        "type": "error",
        "payload": {"error": "the server is shutting down"},
    }
    assert threading.active_count() == before


async def test_v2_reads_use_the_query_method_over_the_socket(emulator: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.get_base_url(), headers=AUTH) as http:
        await http.post("/api/v2/data/write-events", json={"events": [candidate()]})
        response = await http.request(
            "QUERY", "/api/v2/data/read-events", json={"subject": "/books/42"}
        )
        assert [json.loads(line)["type"] for line in response.text.splitlines()] == ["event", "end"]
        missing = await http.get("/api/v1/nothing")
        assert (missing.status_code, missing.text) == (404, "404 page not found\n")
        assert missing.headers["server"].startswith("EventSourcingDB/")
        refused = await http.post("/api/v1/read-event-type", json={"eventType": "io.x.unknown"})
        assert refused.status_code == 404
        assert refused.headers["server"].startswith("EventSourcingDB/")
        assert refused.headers["content-type"] == "text/plain; charset=utf-8"


async def test_observing_over_the_socket(emulator: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.get_base_url(), headers=AUTH) as http:
        await http.post("/api/v1/write-events", json={"events": [candidate()]})
        kinds: list[str] = []
        async with asyncio.timeout(10):
            async with http.stream(
                "QUERY", "/api/v2/data/observe-events", json={"subject": "/books/42"}
            ) as response:
                async for line in response.aiter_lines():
                    kinds.append(json.loads(line)["type"])
                    if kinds == ["event", "heartbeat"]:
                        await http.post("/api/v1/write-events", json={"events": [candidate()]})
                    if kinds.count("event") == 2:
                        break
        assert kinds[:3] == ["event", "heartbeat", "event"]
    await asyncio.to_thread(_wait_until_released, emulator)


def _wait_until_released(emulator: Emulator) -> None:
    """Wait (up to 5 s) until the server noticed that the client went away."""
    deadline = time.monotonic() + 5
    while emulator.server.store.observation_count() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert emulator.server.store.observation_count() == 0


async def test_in_process_transports_also_reach_a_socket_emulator(emulator: Emulator) -> None:
    async with httpx.AsyncClient(
        transport=emulator.async_transport(), base_url="http://x", headers=AUTH
    ) as http:
        await http.post("/api/v1/write-events", json={"events": [candidate()]})
    async with httpx.AsyncClient(base_url=emulator.get_base_url(), headers=AUTH) as http:
        response = await http.post("/api/v1/read-events", json={"subject": "/books/42"})
    assert json.loads(response.text)["payload"]["id"] == "0"


@pytest.mark.parametrize("in_process", [True, False])
async def test_get_client_builds_a_client(in_process: bool) -> None:
    with Emulator(in_process=in_process) as emulator:
        client = emulator.get_client()
        try:
            await client.ping()
        finally:
            await client.aclose()
