"""Fixtures of the aggregate tests: stores and repositories over the plugin's `esdb_client`.

Every test gets a `root` subject of its own, so the tests also run against a shared server.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any

import pytest

from eventsourcingdb.aggregates import Backoff, Repository
from eventsourcingdb.client import Client
from eventsourcingdb.event import Event
from eventsourcingdb.models import EventStore
from eventsourcingdb.options import ReadEventsOptions
from examples.library.events import LIBRARY
from examples.library.events import SOURCE as LIBRARY_SOURCE
from tests.aggregates.domain import REGISTRY, SOURCE
from tests.twins import Twin, new_repository, new_store, twin_client

FAST = Backoff(initial=0.001, maximum=0.01)
"""A backoff that keeps retrying tests quick."""


@pytest.fixture
def esdb_client(esdb_client: Client, twin: Twin, request: pytest.FixtureRequest) -> Client:
    """The plugin's client of the twin under test: every test that uses it runs against the
    async client and the blocking one (behind an async face, see `tests/twins.py`)."""
    return twin_client(twin, esdb_client, request)


@pytest.fixture
def root() -> str:
    """A subject no other test uses."""
    return f"/t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def store(esdb_client: Client) -> EventStore:
    """A store for the test domain, with its schemas registered."""
    chosen = new_store(esdb_client, source=SOURCE, registry=REGISTRY)
    await chosen.register_schemas()
    return chosen


@pytest.fixture
def repo(store: EventStore) -> Repository:
    """A repository over `store` that retries quickly."""
    return new_repository(store, backoff=FAST)


@pytest.fixture
async def library_store(esdb_client: Client) -> EventStore:
    """A store for the library example's events, with their schemas registered."""
    chosen = new_store(esdb_client, source=LIBRARY_SOURCE, registry=LIBRARY)
    await chosen.register_schemas()
    return chosen


class ReadCounter:
    """Counts the events the client receives from `read_events`, to see what a load costs."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def wrap(
        self, original: Callable[..., AsyncGenerator[Event, None]]
    ) -> Callable[..., AsyncGenerator[Event, None]]:
        def counting(*args: Any, **kwargs: Any) -> AsyncGenerator[Event, None]:
            async def relay() -> AsyncGenerator[Event, None]:
                async with aclosing(original(*args, **kwargs)) as events:
                    async for event in events:
                        self.events.append(event)
                        yield event

            return relay()

        return counting


@pytest.fixture
def read_counter(esdb_client: Client, monkeypatch: pytest.MonkeyPatch) -> ReadCounter:
    """Counts every event `esdb_client.read_events` yields from now on."""
    counter = ReadCounter()
    monkeypatch.setattr(esdb_client, "read_events", counter.wrap(esdb_client.read_events))
    return counter


async def read_all(store: EventStore, subject: str, *, recursive: bool = False) -> list[Event]:
    """Every stored event of `subject`, untyped."""
    options = ReadEventsOptions(recursive=recursive)
    return [event async for event in store.client.read_events(subject, options)]
