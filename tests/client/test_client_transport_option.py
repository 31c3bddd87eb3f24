"""A client can be given an httpx transport: its own pool uses it, and closing the client closes
that pool. Each twin takes the transports of its own kind."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from eventsourcingdb import AsyncMismatchError, Client, InvalidArgumentError
from eventsourcingdb.emulator import Emulator
from tests.twins import Twin, client_class


def _ping_answer(request: httpx.Request) -> httpx.Response:
    assert request.url.path == "/api/v2/system/ping"
    assert "authorization" not in request.headers
    return httpx.Response(
        200,
        headers={"Server": "EventSourcingDB/1.3.0"},
        json={"type": "event", "data": {"type": "io.eventsourcingdb.api.ping-received"}},
    )


async def test_requests_go_through_the_given_transport(new: Callable[..., Client]) -> None:
    client = new("http://esdb.invalid", "secret", transport=httpx.MockTransport(_ping_answer))
    await client.ping()
    await client.aclose()
    assert client.closed is True


async def test_a_transport_and_an_http_client_exclude_each_other(twin: Twin) -> None:
    http = httpx.AsyncClient() if twin is Twin.ASYNC else httpx.Client()
    with pytest.raises(InvalidArgumentError, match="either http_client or transport"):
        client_class(twin)(
            "http://esdb.invalid",
            "secret",
            http_client=http,
            transport=httpx.MockTransport(_ping_answer),
        )


def test_a_transport_must_be_an_httpx_transport(twin: Twin) -> None:
    with pytest.raises(InvalidArgumentError, match="BaseTransport"):
        client_class(twin)("http://esdb.invalid", "secret", transport=object())


def test_each_twin_refuses_the_other_twins_transport_and_names_the_fix() -> None:
    with Emulator(in_process=True) as emulator:
        with pytest.raises(AsyncMismatchError, match=r"eventsourcingdb\.sync\.Client"):
            Client(emulator.get_base_url(), "secret", transport=emulator.sync_transport())  # type: ignore[arg-type]
        with pytest.raises(AsyncMismatchError, match=r"use the async eventsourcingdb\.Client"):
            client_class(Twin.SYNC)(
                emulator.get_base_url(), "secret", transport=emulator.async_transport()
            )


async def test_each_twin_refuses_the_other_twins_http_client_and_names_the_fix() -> None:
    with (
        httpx.Client() as blocking_http,
        pytest.raises(AsyncMismatchError, match=r"eventsourcingdb\.sync\.Client"),
    ):
        Client("http://esdb.invalid", "secret", http_client=blocking_http)  # type: ignore[arg-type]
    async with httpx.AsyncClient() as async_http:
        with pytest.raises(AsyncMismatchError, match=r"use the async eventsourcingdb\.Client"):
            client_class(Twin.SYNC)("http://esdb.invalid", "secret", http_client=async_http)
