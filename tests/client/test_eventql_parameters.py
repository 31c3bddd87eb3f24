"""Bound parameters against the emulator: hostile values select exactly the event that holds
them, and are never read as EventQL."""

from __future__ import annotations

import pytest

from eventsourcingdb import Client, ConcurrencyError, InvalidArgumentError, IsEventQlQueryTrue

HOSTILE = [
    "o'brien",
    'say "hi"',
    "' OR true OR '",
    '" OR e.data.name != "',
    "two\nlines\r\nand\ttabs",
    "// not a comment",
    "/* nor this */",
    "*/ PROJECT INTO e //",
    "$name",
    "$other and $$",
    "Zoë 😀 東京 \u2028",
    "",
    " ",
]

_BY_NAME = "FROM e IN events WHERE e.data.name == $name PROJECT INTO e.data.name"


async def _write(client: Client, *names: str) -> None:
    await client.write_events(
        events=[
            {
                "source": "https://tests.eventsourcingdb.io",
                "subject": f"/people/{index}",
                "type": "io.eventsourcingdb.test.named",
                "data": {"name": name, "index": index},
            }
            for index, name in enumerate(names)
        ]
    )


async def test_hostile_values_select_exactly_their_event(client: Client) -> None:
    await _write(client, *HOSTILE, "decoy")
    for name in HOSTILE:
        rows = [row async for row in client.run_eventql_query(_BY_NAME, parameters={"name": name})]
        assert rows == [name]


async def test_values_of_every_kind(client: Client) -> None:
    await _write(client, "a", "b", "c")
    query = (
        "FROM e IN events WHERE $names CONTAINS e.data.name AND e.data.index >= $low "
        "AND $flag == true AND $nothing == null "
        "PROJECT INTO { name: e.data.name, fixed: $record }"
    )
    parameters = {
        "names": ["a", "c"],
        "low": -1.5,
        "flag": True,
        "nothing": None,
        "record": {"pages": 204, "tags": ["x"]},
    }
    rows = [row async for row in client.run_eventql_query(query, parameters=parameters)]
    record = {"pages": 204, "tags": ["x"]}
    assert rows == [{"name": "a", "fixed": record}, {"name": "c", "fixed": record}]


async def test_without_parameters_the_query_is_sent_as_written(client: Client) -> None:
    await _write(client, "$name")
    query = "FROM e IN events WHERE e.data.name == '$name' PROJECT INTO e.data.name"
    assert [row async for row in client.run_eventql_query(query)] == ["$name"]


@pytest.mark.parametrize("name", ["C:\\books", 'it\'s "quoted"'])
async def test_what_cannot_be_written_portably_is_refused_before_sending(
    client: Client, name: str
) -> None:
    with pytest.raises(InvalidArgumentError, match="cannot be written as an EventQL string"):
        client.run_eventql_query(_BY_NAME, parameters={"name": name})
    assert client.api_version is None  # nothing was sent, not even the probe


async def test_a_precondition_with_parameters(client: Client) -> None:
    await _write(client, "o'brien")
    taken = IsEventQlQueryTrue.with_parameters(
        "FROM e IN events WHERE e.data.name == $name PROJECT INTO COUNT() == 0",
        {"name": "o'brien"},
    )
    with pytest.raises(ConcurrencyError):
        await client.write_events(
            events=[
                {
                    "source": "https://tests.eventsourcingdb.io",
                    "subject": "/people/again",
                    "type": "io.eventsourcingdb.test.named",
                    "data": {"name": "o'brien"},
                }
            ],
            preconditions=[taken],
        )
