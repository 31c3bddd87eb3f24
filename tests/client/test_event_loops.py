"""A Client across event loops: it follows a new loop once its previous one is closed (two
`asyncio.run` calls, as scripts and sync frameworks make), and refuses with
`EventLoopMismatchError` what cannot work, instead of a bare `RuntimeError` from asyncio."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Iterator

import httpx
import pytest

from eventsourcingdb import Client, EventLoopMismatchError, ReadEventsOptions
from eventsourcingdb.emulator import Emulator

_EVENT = {
    "source": "https://library.eventsourcingdb.io",
    "subject": "/books/42",
    "type": "io.eventsourcingdb.library.book-acquired",
    "data": {"title": "Solaris"},
}


@pytest.fixture(scope="module")
def server() -> Iterator[Emulator]:
    """The emulator on a real socket: pooled connections there belong to an event loop."""
    with Emulator() as emulator:
        yield emulator


@pytest.fixture(params=["aiohttp", "httpx"])
def client(server: Emulator, request: pytest.FixtureRequest) -> Iterator[Client]:
    """A client with its own pool, on either backend (httpx: over an httpx socket transport)."""
    server.reset()
    if request.param == "httpx":
        client = server.get_client(transport=httpx.AsyncHTTPTransport())
    else:
        client = server.get_client()
    yield client
    if not client.closed:
        asyncio.run(client.aclose())


async def _subjects(client: Client) -> list[str]:
    everything = client.read_events("/", ReadEventsOptions(recursive=True))
    return [event.subject async for event in everything]


def test_a_client_works_in_one_asyncio_run_after_another(client: Client) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(client.ping())
        asyncio.run(client.write_events(events=[_EVENT]))
        assert asyncio.run(_subjects(client)) == ["/books/42"]
        gc.collect()  # a pool left open in a closed loop would warn here
    assert [str(warning.message) for warning in caught] == []


def test_a_stream_left_open_at_the_end_of_a_loop_does_not_hold_the_client(
    client: Client,
) -> None:
    async def start_reading() -> None:
        await client.write_events(events=[_EVENT, _EVENT])
        stream = client.read_events("/books/42")
        await anext(stream)  # and never closed: the loop's shutdown closes it

    asyncio.run(start_reading())
    assert asyncio.run(_subjects(client)) == ["/books/42", "/books/42"]


def test_a_loop_closed_without_shutting_down_leaves_its_pool_and_the_client_moves_on(
    server: Emulator,
) -> None:
    server.reset()
    client = server.get_client()  # its own pool (a given transport: see the next test)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(client.ping())
    loop.close()  # no shutdown_asyncgens: the pool cannot be closed any more
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # that abandoned pool's sockets
        asyncio.run(client.write_events(events=[_EVENT]))
        assert asyncio.run(_subjects(client)) == ["/books/42"]
        asyncio.run(client.aclose())
        del loop
        gc.collect()


def test_a_given_transport_used_in_a_loop_closed_without_shutting_down_is_refused(
    server: Emulator,
) -> None:
    transport = httpx.AsyncHTTPTransport()
    client = server.get_client(transport=transport)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(client.ping())
    loop.close()
    with pytest.raises(EventLoopMismatchError, match="closed without shutting down"):
        asyncio.run(client.ping())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # the transport's sockets, left behind
        del loop, client, transport
        gc.collect()


def test_using_the_client_in_a_second_open_loop_is_refused_with_what_to_do(
    client: Client,
) -> None:
    first = asyncio.new_event_loop()
    try:
        first.run_until_complete(client.ping())
        with pytest.raises(EventLoopMismatchError, match="one Client per event loop") as caught:
            asyncio.run(client.ping())
        assert isinstance(caught.value, RuntimeError)
        first.run_until_complete(client.ping())  # still works where it belongs
        first.run_until_complete(client.aclose())
    finally:
        first.run_until_complete(first.shutdown_asyncgens())
        first.close()


def test_a_given_http_client_is_not_moved_to_another_loop(server: Emulator) -> None:
    http = httpx.AsyncClient()
    client = Client(server.get_base_url(), server.get_api_token(), http_client=http)
    asyncio.run(client.ping())
    with pytest.raises(EventLoopMismatchError, match="inside the event loop that uses them"):
        asyncio.run(client.ping())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # the caller's pool, in a closed loop
        del http, client
        gc.collect()


def test_closing_the_client_in_a_later_loop_works(client: Client) -> None:
    asyncio.run(client.ping())
    asyncio.run(client.aclose())
    assert client.closed
