"""A client can be given an httpx transport: its own pool uses it, and aclose() closes that pool."""

from __future__ import annotations

import httpx
import pytest

from eventsourcingdb import Client, InvalidArgumentError


def _ping_answer(request: httpx.Request) -> httpx.Response:
    assert request.url.path == "/api/v2/system/ping"
    assert "authorization" not in request.headers
    return httpx.Response(
        200,
        headers={"Server": "EventSourcingDB/1.3.0"},
        json={"type": "event", "data": {"type": "io.eventsourcingdb.api.ping-received"}},
    )


async def test_requests_go_through_the_given_transport() -> None:
    client = Client("http://esdb.invalid", "secret", transport=httpx.MockTransport(_ping_answer))
    await client.ping()
    await client.aclose()
    assert client.closed is True


async def test_a_transport_and_an_http_client_exclude_each_other() -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(InvalidArgumentError, match="either http_client or transport"):
            Client(
                "http://esdb.invalid",
                "secret",
                http_client=http,
                transport=httpx.MockTransport(_ping_answer),
            )


def test_a_transport_must_be_an_async_httpx_transport() -> None:
    with pytest.raises(InvalidArgumentError, match="AsyncBaseTransport"):
        Client("http://esdb.invalid", "secret", transport=object())  # type: ignore[arg-type]
