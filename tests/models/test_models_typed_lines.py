"""Typed reads in one pass: whatever pydantic decodes by itself equals what the usual way gives.

The oracle is the usual way itself: the same lines through `StreamDecoder` without the line
decoder (orjson, `Event._from_wire`), then `decode_event`. Both must give equal models, equal
envelopes and untyped data, bytes that verify, and the same error at the same place.
"""

from __future__ import annotations

import copy
import enum
import json
import pickle
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from unittest import mock
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, field_validator

from eventsourcingdb._protocol import calls
from eventsourcingdb._protocol.requests import ApiVersion
from eventsourcingdb.aggregates import Aggregate, handles
from eventsourcingdb.client import Client
from eventsourcingdb.errors import EventSourcingDBError
from eventsourcingdb.event import Event
from eventsourcingdb.models import EventRegistry, RecordedEvent
from eventsourcingdb.models import _typed_lines as typed_lines
from eventsourcingdb.models import store as store_module
from eventsourcingdb.models._typed_lines import MISSES_BEFORE_GIVING_UP, line_decoders
from eventsourcingdb.models.codec import decode_event
from eventsourcingdb.sync import store as sync_store_module
from tests.twins import new_repository, new_store

pytestmark = pytest.mark.esdb_fresh_store

SOURCE = "https://shop.eventsourcingdb.io"
REGISTRY = EventRegistry()


class Size(enum.Enum):
    SMALL = "s"
    LARGE = "l"


@REGISTRY.event_type("io.eventsourcingdb.shop.item-added")
class ItemAdded(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    quantity: int
    price: Decimal
    size: Size = Size.SMALL
    delivery: date | None = None
    tags: tuple[str, ...] = ()


@REGISTRY.event_type("io.eventsourcingdb.shop.order-placed")
class OrderPlaced(BaseModel):
    model_config = ConfigDict(strict=True)

    order: UUID
    at: datetime
    total: float = Field(alias="totalAmount")

    @field_validator("total")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value < 0:
            raise ValueError("a total is never negative")
        return value


@REGISTRY.event_type("io.eventsourcingdb.shop.custom")
class Custom(BaseModel):
    """A model with its own JSON validation: always the usual way."""

    text: str

    @classmethod
    def model_validate_json(cls, json_data: Any, **kwargs: Any) -> Custom:
        return super().model_validate_json(json_data, **kwargs)


ADDED = "io.eventsourcingdb.shop.item-added"
PLACED = "io.eventsourcingdb.shop.order-placed"

ENVELOPE: dict[str, Any] = {
    "specversion": "1.0",
    "id": "7",
    "time": "2026-10-07T13:32:50.439461594Z",
    "source": SOURCE,
    "subject": "/carts/1",
    "type": ADDED,
    "datacontenttype": "application/json",
    "predecessorhash": "0" * 64,
    "hash": "ab" * 32,
    "signature": None,
}
DATA = {"sku": "A-1", "quantity": 2, "price": "9.90", "size": "l", "tags": ["x", "y"]}


def line(version: ApiVersion = ApiVersion.V2, **changes: Any) -> bytes:
    """An event line of `version` with members of the envelope (and `data`) changed; a value
    `...` removes the member."""
    payload = {**ENVELOPE, "data": DATA}
    for name, value in changes.items():
        if value is ...:
            payload.pop(name, None)
        else:
            payload[name] = value
    container = "data" if version is ApiVersion.V2 else "payload"
    item = {"type": "event", container: payload}
    return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()


def outcome(
    body: bytes, *, one_pass: bool, version: ApiVersion = ApiVersion.V2
) -> tuple[list[RecordedEvent[BaseModel]], str | None]:
    """What a typed read of `body` yields before it fails, and the failure."""
    request = calls.read_events("/", None).build(version)
    hook = line_decoders(REGISTRY) if one_pass else None
    decoder = calls.read_events("/", None, hook).decoder(request)
    recorded: list[RecordedEvent[BaseModel]] = []
    try:
        values = decoder.feed(body)
        values.extend(decoder.close())
        for value in values:
            recorded.append(
                value if type(value) is RecordedEvent else decode_event(REGISTRY, value)
            )
        if decoder.failure is not None:
            raise decoder.failure
    except EventSourcingDBError as error:
        return recorded, f"{type(error).__name__}: {error}"
    return recorded, None


def described(value: RecordedEvent[BaseModel]) -> tuple[Any, ...]:
    event = value.event
    return (
        type(value.data),
        value.data.model_dump(mode="python"),
        event.to_json(),
        event.time,
        event.raw_data,
        json.dumps(event.data),
    )


def assert_as_usual(
    body: bytes, version: ApiVersion = ApiVersion.V2
) -> tuple[list[Any], list[bool]]:
    """The values of `body` read in one pass, and which of them the line decoder made; they
    (and the failure) equal those of the usual way."""
    values, failure = outcome(body, one_pass=True, version=version)
    taken = [one_pass_taken(value) for value in values]
    usual, usual_failure = outcome(body, one_pass=False, version=version)
    assert not any(one_pass_taken(value) for value in usual)
    assert [described(value) for value in values] == [described(value) for value in usual]
    assert failure == usual_failure
    return values, taken


def one_pass_taken(value: RecordedEvent[BaseModel]) -> bool:
    """Whether the event came from the line decoder (its untyped data not parsed yet)."""
    return "data" not in value.event._payload


# --- the same values --------------------------------------------------------------------------


@pytest.mark.parametrize("version", [ApiVersion.V1, ApiVersion.V2])
def test_an_event_line_decodes_in_one_pass_to_what_the_usual_way_gives(
    version: ApiVersion,
) -> None:
    body = line(version) + b"\n" + line(version, id="8", signature="esdb:signature:v1:00") + b"\n"
    if version is ApiVersion.V2:
        body += b'{"type":"end","data":{}}\n'
    (first, second), taken = assert_as_usual(body, version)
    assert taken == [True, True]
    assert first.data == ItemAdded(
        sku="A-1", quantity=2, price=Decimal("9.90"), size=Size.LARGE, tags=("x", "y")
    )
    assert second.event.signature == "esdb:signature:v1:00"


def test_json_only_values_of_a_strict_model_decode_in_one_pass() -> None:
    data = {"order": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "at": "2026-01-02T03:04:05Z"}
    (value,), taken = assert_as_usual(line(type=PLACED, data={**data, "totalAmount": 12}) + b"\n")
    assert taken == [True]
    assert isinstance(value.data, OrderPlaced)
    assert value.data.order == UUID(data["order"])


def test_the_untyped_data_are_parsed_exactly_when_asked_for() -> None:
    big = 2**70
    body = line(data={**DATA, "quantity": 3, "extra": [big, 1e19]}) + b"\n"
    ((value,), _), taken = outcome(body, one_pass=True), one_pass_taken
    assert taken(value)
    event = value.event
    assert event.data["extra"] == [big, 1e19]
    assert type(event.data["extra"][0]) is int
    assert not one_pass_taken(value)  # kept once parsed


def test_an_event_decoded_in_one_pass_compares_pickles_and_copies_as_any_other() -> None:
    ((value,), _) = outcome(line() + b"\n", one_pass=True)
    ((usual,), _) = outcome(line() + b"\n", one_pass=False)
    assert one_pass_taken(value)
    assert value.event == usual.event
    assert hash(value.event) == hash(usual.event)
    clone = pickle.loads(pickle.dumps(value.event))
    assert clone == usual.event
    assert copy.deepcopy(value.event) == usual.event
    assert value.event.to_json() == usual.event.to_json()


# --- the same errors, at the same place ------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": 5},
        {"hash": None},
        {"id": ...},
        {"signature": 1},
        {"traceparent": ["x"]},
        {"time": "yesterday"},
        {"time": "2026-10-07T13:32:50+02:00"},
        {"data": {**DATA, "quantity": "many"}},
        {"data": {**DATA, "price": "cheap"}},
        {"data": [1]},
        {"data": ...},
        {"type": "io.eventsourcingdb.shop.unknown"},
        {"type": "io.eventsourcingdb.shop.custom", "data": {"text": "hi"}},
        {"type": PLACED, "data": {"order": "x", "at": "2026-01-02T03:04:05Z", "totalAmount": 1}},
        {"type": PLACED, "data": {"order": str(UUID(int=1)), "at": "now", "totalAmount": -1}},
    ],
)
def test_lines_the_one_pass_refuses_fail_or_decode_as_usual(changes: dict[str, Any]) -> None:
    body = line(id="1") + b"\n" + line(**changes) + b"\n" + line(id="3") + b"\n"
    _, taken = assert_as_usual(body)
    assert taken[0]


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"event","data":{"subject":"\\ud800"}}',
        '{"type":"event","type":"heartbeat"}',
        '{"type":"heartbeat","type":"event"}',
        '{"type":"event","data":1}',
        '{"type":"event","data":{}}',
        '{"type":"event",',
        "[1]",
    ],
)
def test_odd_lines_decode_as_usual(text: str) -> None:
    assert_as_usual(line(id="1") + b"\n" + text.encode() + b"\n" + line(id="3") + b"\n")


def test_overlong_integers_and_deep_nesting_are_left_to_the_usual_way() -> None:
    overlong = b"9" * 5000
    with pytest.raises(ValueError, match="Exceeds the limit"):
        json.loads(overlong)
    text = line(id="1").replace(b'"quantity":2', b'"quantity":' + overlong)
    assert overlong in text
    values, _ = assert_as_usual(text + b"\n")
    assert values == []
    deep = line(data={**DATA, "nested": "X"}).replace(b'"X"', b"[" * 600 + b"]" * 600)
    assert b"[" * 600 in deep
    assert_as_usual(deep + b"\n")  # pydantic gives up on such nesting either way
    limit = sys.getrecursionlimit()
    too_deep = deep.replace(b"[" * 600 + b"]" * 600, b"[" * (limit - 5) + b"]" * (limit - 5))
    for one_pass in (True, False):
        with pytest.raises(RecursionError):
            outcome(too_deep + b"\n", one_pass=one_pass)


@given(
    data=st.dictionaries(
        st.sampled_from(["sku", "quantity", "price", "size", "delivery", "tags", "other"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(allow_nan=False),
            st.text(max_size=8),
            st.sampled_from(["s", "l", "2026-02-30", "2026-03-01", "1.5", "1e3"]),
            st.lists(st.text(max_size=3), max_size=3),
        ),
    )
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_data_decode_or_fail_as_usual(data: dict[str, Any]) -> None:
    assert_as_usual(line(id="1") + b"\n" + line(data=data) + b"\n")


def test_a_stream_of_lines_the_one_pass_refuses_stops_asking_it() -> None:
    unknown = line(type="io.eventsourcingdb.shop.unknown") + b"\n"
    calls_made: list[bytes] = []
    real_build = typed_lines._build

    def counting_build(registry: EventRegistry, container: str) -> Callable[[bytes], Any] | None:
        validate = real_build(registry, container)
        assert validate is not None

        def counted(text: bytes) -> Any:
            calls_made.append(text)
            return validate(text)

        return counted

    typed_lines._validators.clear()
    with mock.patch.object(typed_lines, "_build", counting_build):
        request = calls.read_events("/", None).build(ApiVersion.V2)
        decoder = calls.read_events("/", None, line_decoders(REGISTRY)).decoder(request)
        values = decoder.feed(unknown * (MISSES_BEFORE_GIVING_UP + 10) + line() + b"\n")
    typed_lines._validators.clear()
    assert len(values) == MISSES_BEFORE_GIVING_UP + 11
    assert len(calls_made) == MISSES_BEFORE_GIVING_UP
    assert all(type(value) is Event for value in values)


def test_types_declared_later_are_decoded_in_one_pass_too() -> None:
    registry = EventRegistry()
    name = "io.eventsourcingdb.shop.later"
    body = line(type=name, data={"note": "hi"}) + b"\n"
    request = calls.read_events("/", None).build(ApiVersion.V2)

    def read() -> list[Any]:
        return calls.read_events("/", None, line_decoders(registry)).decoder(request).feed(body)

    assert [type(value) for value in read()] == [Event]

    @registry.event_type(name)
    class Later(BaseModel):
        note: str

    (value,) = read()
    assert type(value) is RecordedEvent
    assert value.data == Later(note="hi")


# --- through the store and the repository ----------------------------------------------------


class Cart(Aggregate):
    items: int = 0

    @handles(ItemAdded)
    def _added(self, event: ItemAdded) -> None:
        self.items += event.quantity


def _no_line_decoder(container: str) -> None:
    return None


@contextmanager
def usual_way() -> Iterator[None]:
    """Typed reads of the store without the one-pass decoder."""
    with (
        mock.patch.object(store_module, "line_decoders", return_value=_no_line_decoder),
        mock.patch.object(sync_store_module, "line_decoders", return_value=_no_line_decoder),
    ):
        yield


async def test_reads_and_loads_equal_those_of_the_usual_way(esdb_client: Client) -> None:
    store = new_store(esdb_client, source=SOURCE, registry=REGISTRY)
    events = [{**DATA, "quantity": quantity} for quantity in range(1, 40)]
    for data in events:
        await esdb_client.write_events(
            [{"source": SOURCE, "subject": "/carts/9", "type": ADDED, "data": data}]
        )
    read = [value async for value in store.read("/carts/9")]
    assert all(one_pass_taken(value) for value in read)
    loaded = await new_repository(store).load(Cart, "/carts/9")
    with usual_way():
        usual = [value async for value in store.read("/carts/9")]
        usual_loaded = await new_repository(store).load(Cart, "/carts/9")
    assert not any(one_pass_taken(value) for value in usual)
    assert [described(value) for value in read] == [described(value) for value in usual]
    assert (loaded.items, loaded.version) == (usual_loaded.items, usual_loaded.version)
    assert loaded.items == sum(range(1, 40))
    for value in read:
        value.verify_hash()


async def test_a_read_fails_where_the_usual_way_fails(esdb_client: Client) -> None:
    store = new_store(esdb_client, source=SOURCE, registry=REGISTRY)
    for data in (DATA, {**DATA, "quantity": "many"}, DATA):
        await esdb_client.write_events(
            [{"source": SOURCE, "subject": "/carts/bad", "type": ADDED, "data": data}]
        )

    async def until_failure() -> tuple[int, str]:
        seen = 0
        try:
            async for _ in store.read("/carts/bad"):
                seen += 1
        except EventSourcingDBError as error:
            return seen, f"{type(error).__name__}: {error}"
        raise AssertionError("the read did not fail")

    seen, failure = await until_failure()
    with usual_way():
        assert await until_failure() == (seen, failure)
    assert seen == 1
    assert failure.startswith("EventDecodingError")
