"""`Emulator`: the Container-shaped handle, over a real loopback socket and in process."""

from __future__ import annotations

import asyncio
import inspect
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eventsourcingdb import _wire
from eventsourcingdb.container import Container
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
        # a second heartbeat may come before the new event on a busy machine; nothing else may
        assert kinds[:2] == ["event", "heartbeat"]
        assert [kind for kind in kinds[2:] if kind != "heartbeat"] == ["event"]
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


# --- the Container interface --------------------------------------------------------------------


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(cls).items()
        if callable(member) and (not name.startswith("_") or name in ("__enter__", "__exit__"))
    }


def test_every_method_of_container_exists_with_the_same_parameters() -> None:
    ours = _public(Emulator)
    for name, signature in _public(Container).items():
        assert name in ours, f"Emulator lacks Container.{name}"
        assert list(ours[name].parameters) == list(signature.parameters), name


@pytest.mark.parametrize(
    ("builder", "argument"),
    [
        ("with_image_tag", ""),
        ("with_image_tag", 1),
        ("with_startup_timeout", 0),
        ("with_startup_timeout", -1.5),
        ("with_startup_timeout", "20"),
        ("with_port", 0),
        ("with_port", "3000"),
        ("with_api_token", ""),
    ],
)
def test_misuse_raises_what_container_raises(builder: str, argument: object) -> None:
    with pytest.raises(InvalidArgumentError) as theirs:
        getattr(Container(), builder)(argument)
    with pytest.raises(InvalidArgumentError) as ours:
        getattr(Emulator(), builder)(argument)
    assert str(ours.value) == str(theirs.value)


def test_getters_of_a_stopped_handle_raise_what_container_raises() -> None:
    for handle in (Container(), Emulator()):
        for getter in ("get_host", "get_mapped_port", "get_base_url", "get_signing_key"):
            with pytest.raises(ContainerError):
                getattr(handle, getter)()
        assert handle.get_api_token() == "secret"
        assert not handle.is_running()
        handle.stop()


def test_image_tag_and_startup_timeout_are_accepted_and_change_nothing() -> None:
    emulator = Emulator().with_image_tag("1.0.0").with_startup_timeout(0.001)
    with emulator:
        assert httpx.get(f"{emulator.get_base_url()}/api/v1/ping").status_code == 200


# --- after stop() -------------------------------------------------------------------------------


def test_a_sync_transport_taken_before_stop_cannot_connect_after_it() -> None:
    emulator = Emulator(in_process=True).start()
    transport = emulator.sync_transport()
    with httpx.Client(transport=transport, base_url="http://x", headers=AUTH) as client:
        assert client.get("/api/v1/ping").status_code == 200
        emulator.stop()
        with pytest.raises(httpx.ConnectError):
            client.get("/api/v1/ping")
        with pytest.raises(httpx.ConnectError):
            client.post("/api/v1/write-events", json={"events": [candidate()]})


async def test_an_async_transport_taken_before_stop_cannot_connect_after_it() -> None:
    emulator = Emulator(in_process=True).start()
    transport = emulator.async_transport()
    async with httpx.AsyncClient(transport=transport, base_url="http://x", headers=AUTH) as client:
        assert (await client.get("/api/v1/ping")).status_code == 200
        emulator.stop()
        with pytest.raises(httpx.ConnectError):
            await client.post("/api/v1/write-events", json={"events": [candidate()]})
        with pytest.raises(httpx.ConnectError):
            await client.get("/api/v1/ping")


def test_a_sync_stream_cut_by_stop_raises_a_read_error() -> None:
    emulator = Emulator(in_process=True).with_heartbeat_interval(0.05).start()
    client = httpx.Client(transport=emulator.sync_transport(), base_url="http://x", headers=AUTH)
    with client.stream("POST", "/api/v1/observe-events", json={"subject": "/"}) as response:
        lines = response.iter_lines()
        assert json.loads(next(lines))["type"] == "heartbeat"
        emulator.stop()  # the loop thread that produced the stream is gone, like a socket
        with pytest.raises(httpx.ReadError):
            next(lines)
    with pytest.raises(httpx.ConnectError):
        client.get("/api/v1/ping")
    client.close()


# --- IPv6 ---------------------------------------------------------------------------------------


def _has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")
@pytest.mark.parametrize("host", ["::1", "::"])
def test_ipv6_addresses_are_bracketed_in_the_base_url(host: str) -> None:
    with Emulator().with_host(host) as emulator:
        port = emulator.get_mapped_port()
        assert emulator.get_host() == "::1"
        assert emulator.get_base_url() == f"http://[::1]:{port}"
        assert httpx.get(f"{emulator.get_base_url()}/api/v1/ping").status_code == 200


@pytest.mark.parametrize("interval", [0.05, 0.2])
def test_the_heartbeat_interval_is_configurable(interval: float) -> None:
    emulator = Emulator(in_process=True).with_heartbeat_interval(interval)
    with (
        emulator,
        httpx.Client(
            transport=emulator.sync_transport(), base_url="http://x", headers=AUTH
        ) as client,
        client.stream("POST", "/api/v1/observe-events", json={"subject": "/"}) as response,
    ):
        started = time.monotonic()
        for beats, line in enumerate(response.iter_lines(), start=1):
            assert line == '{"type":"heartbeat","payload":{}}'
            if beats == 3:
                break
        elapsed = time.monotonic() - started
    assert 3 * interval * 0.8 <= elapsed < 3 * interval + 0.5


@pytest.mark.parametrize("path", ["/api/v1/ping", "/api/v1/nothing", "/api/v1/write-events"])
def test_head_answers_are_the_same_on_both_front_ends(path: str) -> None:
    answers = []
    for in_process in (True, False):
        # times of nine digits: the ping's time (and so its length) is the same in every answer
        emulator = Emulator(in_process=in_process).with_time_format(TimeFormat.NINE_DIGITS)
        with (
            emulator,
            httpx.Client(
                transport=emulator.sync_transport() if in_process else httpx.HTTPTransport(),
                base_url=emulator.get_base_url(),
                headers=AUTH,
            ) as client,
        ):
            got, head = client.get(path), client.head(path)
        assert head.content == b""
        assert head.headers["content-length"] == str(len(got.content))
        answers.append((head.status_code, head.headers["content-length"], head.headers["server"]))
    assert answers[0] == answers[1]


def test_a_v1_only_emulator_says_it_is_older_than_1_3_over_the_socket() -> None:
    with Emulator().with_api_versions(1) as emulator:
        probe = httpx.get(f"{emulator.get_base_url()}/api/v2/system/ping")
    assert probe.status_code == 404
    assert probe.headers["server"] == "EventSourcingDB/1.2.0-emulator"
