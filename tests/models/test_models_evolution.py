"""Additive schema evolution against the emulator: a type declared with
`SchemaEvolution.ADDITIVE` gains optional members without a new type; anything else still drifts."""

from __future__ import annotations

import logging
from typing import cast

import pytest
from pydantic import BaseModel

from eventsourcingdb.client import Client
from eventsourcingdb.errors import SchemaViolationError
from eventsourcingdb.models import (
    EventRegistry,
    EventStore,
    SchemaDriftError,
    SchemaEvolution,
)
from eventsourcingdb.options import ReadEventsOptions
from tests.models.test_models_store import AlteredClient, altered
from tests.twins import new_store

pytestmark = pytest.mark.esdb_fresh_store  # the type names are the same in every test

SOURCE = "https://library.eventsourcingdb.io"
JOINED = "io.eventsourcingdb.library.member-joined"
ADDITIVE = SchemaEvolution.ADDITIVE
EVERYTHING = ReadEventsOptions(recursive=True)

FIRST = EventRegistry()
LATER = EventRegistry()
BROKEN = EventRegistry()
STRICT = EventRegistry()


@FIRST.event_type(JOINED, evolution=ADDITIVE)
class MemberJoined(BaseModel):
    name: str


@LATER.event_type(JOINED, evolution=ADDITIVE)
class MemberJoinedWithBranch(BaseModel):
    name: str
    branch: str | None = None


@BROKEN.event_type(JOINED, evolution=ADDITIVE)
class MemberJoinedRenamed(BaseModel):
    full_name: str


@STRICT.event_type(JOINED)
class StrictMemberJoined(BaseModel):
    name: str


def _store(client: Client | AlteredClient, registry: EventRegistry) -> EventStore:
    return new_store(cast(Client, client), source=SOURCE, registry=registry)


async def test_a_model_grows_by_optional_members_under_the_same_type(
    esdb_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    first = _store(esdb_client, FIRST)
    assert (await first.register_schemas()).registered == (JOINED,)
    await first.append("/members/1", MemberJoined(name="Ann"))

    later = _store(esdb_client, LATER)
    with caplog.at_level(logging.INFO, logger="eventsourcingdb.models"):
        report = await later.register_schemas()
    assert (report.registered, report.unchanged, report.evolved) == ((), (), (JOINED,))
    assert "adds the optional members branch" in caplog.text
    await later.append("/members/2", MemberJoinedWithBranch(name="Bob", branch="north"))

    # the newer model reads the older events (with the default) ...
    assert [r.data async for r in later.read("/members", EVERYTHING)] == [
        MemberJoinedWithBranch(name="Ann"),
        MemberJoinedWithBranch(name="Bob", branch="north"),
    ]
    # ... and the older model (say, a service not yet redeployed) reads the newer ones
    assert [r.data async for r in first.read("/members", EVERYTHING)] == [
        MemberJoined(name="Ann"),
        MemberJoined(name="Bob"),
    ]
    # what the first model declared is still checked by the server
    with pytest.raises(SchemaViolationError):
        await esdb_client.write_events(
            events=[{"source": SOURCE, "subject": "/m/3", "type": JOINED, "data": {"branch": "x"}}]
        )


async def test_a_change_that_is_not_additive_still_drifts_with_reasons_and_a_diff(
    esdb_client: Client,
) -> None:
    await _store(esdb_client, FIRST).register_schemas()
    with pytest.raises(SchemaDriftError) as caught:
        await _store(esdb_client, BROKEN).register_schemas()
    drift = caught.value.drifts[0]
    assert drift.problems == (
        "member 'name' was removed, but stored events have it (and the registered schema keeps "
        "checking it)",
        "the new member 'full_name' is required, but stored events do not have it: give it a "
        "default",
    )
    message = str(caught.value)
    assert "not an additive change (new optional members only):" in message
    assert '-    "name"' in message
    assert '+    "full_name"' in message


async def test_a_type_registered_strict_cannot_grow(esdb_client: Client) -> None:
    await _store(esdb_client, STRICT).register_schemas()
    with pytest.raises(SchemaDriftError, match="closed in the registered schema"):
        await _store(esdb_client, LATER).register_schemas()


async def test_a_strict_type_still_drifts_on_any_change(esdb_client: Client) -> None:
    await _store(esdb_client, FIRST).register_schemas()
    with pytest.raises(SchemaDriftError) as caught:
        await _store(esdb_client, STRICT).register_schemas()
    assert caught.value.drifts[0].problems == ()


async def test_an_earlier_version_registered_meanwhile_is_accepted(esdb_client: Client) -> None:
    await _store(esdb_client, FIRST).register_schemas()
    racing = altered(esdb_client, hide_event_types=True)  # looks unregistered at first
    report = await _store(racing, LATER).register_schemas()
    assert (report.registered, report.evolved) == ((), (JOINED,))
