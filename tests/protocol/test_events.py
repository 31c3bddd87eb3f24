"""Event values: times, raw `data` spans, immutability, equality, conversions, candidates."""

from __future__ import annotations

import copy
import json
import pickle
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventsourcingdb import (
    Event,
    EventCandidate,
    EventType,
    InvalidArgumentError,
    ProtocolError,
)
from eventsourcingdb._protocol.events import (
    fast_parse_time,
    find_raw_data,
    find_raw_member,
    format_time,
    parse_raw_member,
    parse_time,
    parser_keys,
    payload_problem,
    split_json_array,
)

PAYLOAD: dict[str, Any] = {
    "source": "https://library.eventsourcingdb.io",
    "subject": "/books/42",
    "type": "io.eventsourcingdb.library.book-acquired",
    "specversion": "1.0",
    "id": "7",
    "time": "2026-10-07T13:32:50.439461594Z",
    "datacontenttype": "application/json",
    "predecessorhash": "0" * 64,
    "data": {"title": "2001"},
    "hash": "f" * 64,
    "signature": None,
}


# --- times -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-07T13:32:50Z", datetime(2026, 10, 7, 13, 32, 50, tzinfo=UTC)),
        ("2026-10-07T13:32:50.4Z", datetime(2026, 10, 7, 13, 32, 50, 400000, tzinfo=UTC)),
        ("2026-10-07T13:32:50.4394Z", datetime(2026, 10, 7, 13, 32, 50, 439400, tzinfo=UTC)),
        ("2026-10-07T13:32:50.439461Z", datetime(2026, 10, 7, 13, 32, 50, 439461, tzinfo=UTC)),
        (
            "2026-10-07T13:32:50.439461594Z",
            datetime(2026, 10, 7, 13, 32, 50, 439461, tzinfo=UTC),
        ),
        ("2026-10-07T13:32:50.999999999Z", datetime(2026, 10, 7, 13, 32, 50, 999999, tzinfo=UTC)),
        ("2026-12-31T23:59:59.9999999Z", datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("2026-10-07t13:32:50.5z", datetime(2026, 10, 7, 13, 32, 50, 500000, tzinfo=UTC)),
        ("2026-10-07T15:32:50.5+02:00", datetime(2026, 10, 7, 13, 32, 50, 500000, tzinfo=UTC)),
        ("2026-10-07T00:02:50-01:30", datetime(2026, 10, 7, 1, 32, 50, tzinfo=UTC)),
    ],
)
def test_any_rfc3339_time_becomes_utc_truncated_to_microseconds(
    text: str, expected: datetime
) -> None:
    for parse in (parse_time, fast_parse_time):
        parsed = parse(text)
        assert parsed == expected
        assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "2026-10-07T13:32:50",
        "2026-10-07",
        "2026-13-07T13:32:50Z",
        "2026-10-07T25:32:50Z",
        "yesterday",
        "",
    ],
)
def test_malformed_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="time"):
        fast_parse_time(text)
    with pytest.raises(ValueError, match="time"):
        parse_time(text)


def test_the_strict_parser_refuses_an_empty_fraction() -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_time("2026-10-07T13:32:50.Z")


def test_format_time_is_the_servers_form() -> None:
    moment = datetime(2026, 10, 7, 13, 32, 50, 439400, tzinfo=UTC)
    assert format_time(moment) == "2026-10-07T13:32:50.4394Z"
    assert format_time(moment.replace(microsecond=0)) == "2026-10-07T13:32:50Z"
    east = moment.astimezone(timezone(timedelta(hours=5)))
    assert format_time(east) == "2026-10-07T13:32:50.4394Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(datetime(2026, 1, 1))


@given(st.datetimes(timezones=st.just(UTC)))
def test_format_and_parse_round_trip(moment: datetime) -> None:
    assert parse_time(format_time(moment)) == moment


# --- raw members -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "container", "expected"),
    [
        ('{"type":"event","payload":{"data":{"a":1}}}', "payload", b'{"a":1}'),
        ('{"type":"event","data":{"id":"0","data":{"a":1}}}', "data", b'{"a":1}'),
        ('{"data":{"a":"}\\"{"},"x":1}', None, b'{"a":"}\\"{"}'),
        ('{ "data" : { "a" : [ 1 , 2 ] } , "z" : null }', None, b'{ "a" : [ 1 , 2 ] }'),
        ('{"da\\u0074a":{"b":2}}', None, b'{"b":2}'),
        ('{"data":{"a":1},"data":{"b":2}}', None, b'{"b":2}'),
        ('{"x":{"data":{"no":1}},"data":{"é":"😀"}}', None, '{"é":"😀"}'.encode()),
        ('{"payload":{"subject":"/a","data":{}},"data":{"wrong":1}}', "payload", b"{}"),
    ],
)
def test_find_raw_member(text: str, container: str | None, expected: bytes) -> None:
    assert find_raw_member(text, container, "data") == expected
    assert find_raw_member(text.encode(), container, "data") == expected


@pytest.mark.parametrize(
    ("text", "container"),
    [
        ('{"payload":{"subject":"/a"}}', "payload"),
        ('{"type":"event"}', "payload"),
        ('{"payload":{"data":{"a":1}', "payload"),
        ('["data"]', None),
        ('{"data" {"a":1}}', None),
    ],
)
def test_find_raw_member_refuses_what_it_cannot_find(text: str, container: str | None) -> None:
    with pytest.raises(ValueError, match=r"."):
        find_raw_member(text, container, "data")


@given(
    st.dictionaries(
        st.text(max_size=5),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(),
            lambda children: (
                st.lists(children, max_size=3)
                | st.dictionaries(st.text(max_size=3), children, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=4,
    ),
    st.booleans(),
)
def test_the_raw_member_parses_to_the_member(data: dict[str, Any], ascii_only: bool) -> None:
    line = json.dumps(
        {"type": "event", "payload": {"id": "0", "data": data, "hash": "x"}},
        ensure_ascii=ascii_only,
        indent=None if ascii_only else 1,
    )
    raw = find_raw_member(line.encode(), "payload", "data")
    assert json.loads(raw) == data


@pytest.mark.parametrize(
    ("text", "container", "expected"),
    [
        ('{"type":"event","payload":{"data":{"a":1}}}', "payload", b'{"a":1}'),
        ('{"type":"event","data":{"id":"0","data":{"a":1}}}', "data", b'{"a":1}'),
        ('{"data":{"a":"}\\"{"},"x":1}', None, b'{"a":"}\\"{"}'),
        ('{"data": \n{"a":[1,2]}}', None, b'{"a":[1,2]}'),
        ('{"data":{"a":1},"data":{"b":2}}', None, b'{"b":2}'),
        ('{"x":{"data":{"no":1}},"data":{"é":"😀"}}', None, '{"é":"😀"}'.encode()),
        ('{"payload":{"subject":"/a","data":{}},"data":{"wrong":1}}', "payload", b"{}"),
    ],
)
def test_find_raw_data_finds_what_the_member_walk_finds(
    text: str, container: str | None, expected: bytes
) -> None:
    parsed = json.loads(text)
    data = (parsed[container] if container else parsed)["data"]
    assert (
        find_raw_data(text, container, data) == expected == find_raw_member(text, container, "data")
    )


@pytest.mark.parametrize(
    ("text", "container"),
    [
        ('{"da\\u0074a":{"b":2}}', None),  # an escaped key: only the member walk sees it
        ('{"data" :{"b":2}}', None),  # a space before the colon
        ('{"type":"event","payload":{"data":{"a":1}}}', "data"),  # no such container
        ('{"data":', None),  # a line that ends early
    ],
)
def test_find_raw_data_leaves_unusual_lines_to_the_member_walk(
    text: str, container: str | None
) -> None:
    assert find_raw_data(text, container, {"b": 2}) is None


def test_raw_data_falls_back_to_the_member_walk() -> None:
    line = json.dumps(PAYLOAD).replace('"data":', '"da\\u0074a":')
    event = Event.from_json(line)
    assert find_raw_data(line, None, event.data) is None
    assert event.raw_data == b'{"title": "2001"}'


@given(
    st.dictionaries(
        st.text(max_size=5),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
            lambda children: (
                st.lists(children, max_size=3)
                | st.dictionaries(st.text(max_size=5), children, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=4,
    ),
    st.sampled_from([None, "data", "payload"]),
    st.booleans(),
)
def test_the_quick_raw_data_is_the_member_the_walk_finds(
    data: dict[str, Any], container: str | None, compact: bool
) -> None:
    event = {**PAYLOAD, "data": data}
    line = json.dumps(
        event if container is None else {"type": "event", container: event},
        ensure_ascii=not compact,
        separators=(",", ":") if compact else None,
    )
    quick = find_raw_data(line, container, data)
    assert quick is not None  # the server's layouts never need the walk
    assert quick == find_raw_member(line, container, "data")


def test_parse_raw_member_reads_exactly_one_value() -> None:
    assert parse_raw_member('{"a":[1,2.5,"é"]}'.encode()) == {"a": [1, 2.5, "é"]}
    for broken in (b"", b'{"a":1} {}', b"{", b'{"a":1} '):
        with pytest.raises(ValueError, match="JSON value"):
            parse_raw_member(broken)


def test_split_json_array_keeps_each_element_text() -> None:
    text = ' [ {"a":1} , {"b":[2,3]} ]\n'
    assert split_json_array(text) == [({"a": 1}, '{"a":1}'), ({"b": [2, 3]}, '{"b":[2,3]}')]
    assert split_json_array("[]") == []
    for bad in ("{}", "[1,", "[1] 2", "[1 2]"):
        with pytest.raises(ValueError, match=r"."):
            split_json_array(bad)


# --- Event -----------------------------------------------------------------------------------


def test_event_attributes_follow_the_official_sdk() -> None:
    event = Event.parse(PAYLOAD)
    assert event.event_id == "7"
    assert event.time == datetime(2026, 10, 7, 13, 32, 50, 439461, tzinfo=UTC)
    assert event.time_text == "2026-10-07T13:32:50.439461594Z"
    assert event.source == "https://library.eventsourcingdb.io"
    assert event.subject == "/books/42"
    assert event.type == "io.eventsourcingdb.library.book-acquired"
    assert event.data == {"title": "2001"}
    assert event.spec_version == "1.0"
    assert event.data_content_type == "application/json"
    assert event.predecessor_hash == "0" * 64
    assert event.hash == "f" * 64
    assert event.trace_parent is None
    assert event.trace_state is None
    assert event.signature is None


def test_event_is_immutable() -> None:
    event = Event.parse(PAYLOAD)
    with pytest.raises(AttributeError, match="immutable"):
        event.subject = "/other"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        del event.hash
    with pytest.raises(AttributeError, match="immutable"):
        event.anything = 1  # type: ignore[attr-defined]


def test_event_equality_hash_and_repr() -> None:
    first = Event.parse(PAYLOAD)
    same = Event.from_json(json.dumps(PAYLOAD))
    other = Event.parse({**PAYLOAD, "data": {"title": "2002"}})
    assert first == same
    assert hash(first) == hash(same)
    assert first != other
    assert first != PAYLOAD
    assert len({first, same}) == 1
    text = repr(first)
    assert text.startswith("Event(event_id='7'")
    assert "2001" not in text, "the repr leaves the data out"


def test_event_survives_pickle_and_copies() -> None:
    event = Event.from_json(json.dumps(PAYLOAD))
    for clone in (pickle.loads(pickle.dumps(event)), copy.copy(event), copy.deepcopy(event)):
        assert clone == event
        assert clone.raw_data == event.raw_data


def test_to_json_round_trips_with_the_exact_time() -> None:
    wire = {
        **PAYLOAD,
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }
    event = Event.parse(wire)
    assert event.to_json() == wire
    assert Event.parse(event.to_json()) == event


def test_the_constructor_builds_a_checked_event() -> None:
    event = Event(
        event_id="7",
        time=datetime(2026, 10, 7, 13, 32, 50, 439400, tzinfo=UTC),
        source="https://library.eventsourcingdb.io",
        subject="/books/42",
        type="io.eventsourcingdb.library.book-acquired",
        data={"title": "2001"},
        predecessor_hash="0" * 64,
        hash="f" * 64,
    )
    assert event.time_text == "2026-10-07T13:32:50.4394Z"
    assert event == Event.parse({**PAYLOAD, "time": "2026-10-07T13:32:50.4394Z"})
    with pytest.raises(InvalidArgumentError, match="timezone-aware"):
        Event(
            event_id="7",
            time=datetime(2026, 10, 7),
            source="s:x",
            subject="/",
            type="a.b.c",
            data={},
            predecessor_hash="",
            hash="",
        )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"id": 7}, "'id' must be a string"),
        ({"data": [1]}, "'data' must be a JSON object"),
        ({"time": "now"}, "'time' is malformed"),
        ({"signature": 5}, "'signature' must be a string or null"),
    ],
)
def test_parse_refuses_malformed_events(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidArgumentError, match=problem):
        Event.parse({**PAYLOAD, **change})
    assert payload_problem({**PAYLOAD, **change}) is not None


def test_parse_refuses_missing_members() -> None:
    incomplete = {key: value for key, value in PAYLOAD.items() if key != "subject"}
    with pytest.raises(InvalidArgumentError, match="no 'subject' member"):
        Event.parse(incomplete)
    with pytest.raises(InvalidArgumentError, match="mapping"):
        Event.parse([1, 2])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="not JSON"):
        Event.from_json("{")


def test_events_from_the_wire_fail_as_protocol_errors() -> None:
    with pytest.raises(ProtocolError, match="'hash'"):
        Event._from_wire({k: v for k, v in PAYLOAD.items() if k != "hash"}, None, None)
    with pytest.raises(ProtocolError, match="JSON object"):
        Event._from_wire("not an event", None, None)
    with pytest.raises(ProtocolError, match="'type' must be a string"):
        Event._from_wire({**PAYLOAD, "type": None}, None, None)


def test_a_wire_time_with_an_offset_is_converted() -> None:
    event = Event._from_wire({**PAYLOAD, "time": "2026-10-07T15:32:50+02:00"}, None, None)
    assert event.time == datetime(2026, 10, 7, 13, 32, 50, tzinfo=UTC)
    assert event.time_text == "2026-10-07T15:32:50+02:00"


@pytest.mark.parametrize(
    "text", ["2026-10-07t13:32:50.5z", "2026-10-07T13:32:50.5z", "2026-10-07t13:32:50Z"]
)
def test_a_wire_time_in_lower_case_is_read(text: str) -> None:
    event = Event._from_wire({**PAYLOAD, "time": text}, None, None)
    assert event.time == datetime(2026, 10, 7, 13, 32, 50, 500000 if ".5" in text else 0, UTC)
    assert event.time_text == text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("now", "'now' is not an RFC 3339 time"),
        ("2026-10-07T13:32:50", "is not an RFC 3339 time"),
        ("2026-13-07T13:32:50Z", "is not a valid time: month must be in 1..12"),
        ("2026-10-07T13:32:50+24:00", "offset of 24 hours or more"),
        ("0001-01-01T00:00:00+01:00", "out of range"),
        ("9999-12-31T23:59:59-01:00", "out of range"),
    ],
)
def test_a_malformed_wire_time_is_refused_saying_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ProtocolError, match="'time' is malformed") as caught:
        Event._from_wire({**PAYLOAD, "time": text}, None, None)
    assert problem in str(caught.value)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59.5-00:30"])
def test_times_out_of_range_in_utc_are_malformed_times_everywhere(text: str) -> None:
    for parse in (parse_time, fast_parse_time):
        with pytest.raises(ValueError, match="out of range"):
            parse(text)
    with pytest.raises(InvalidArgumentError, match=r"'time' is malformed.*out of range"):
        Event.parse({**PAYLOAD, "time": text})
    with pytest.raises(InvalidArgumentError, match=r"'time' is malformed.*out of range"):
        Event.from_json(json.dumps({**PAYLOAD, "time": text}))
    early = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    with pytest.raises(ValueError, match="out of range"):
        format_time(early)
    with pytest.raises(InvalidArgumentError, match="out of range"):
        Event(
            event_id="7",
            time=early,
            source="s:x",
            subject="/",
            type="a.b.c",
            data={},
            predecessor_hash="",
            hash="",
        )


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("traceparent", 5),
        ("tracestate", ["rojo=1"]),
        ("signature", {"v": 1}),
        ("signature", True),
    ],
)
def test_trace_fields_and_signature_from_the_wire_must_be_strings(member: str, value: Any) -> None:
    with pytest.raises(ProtocolError, match=f"'{member}' must be a string or null"):
        Event._from_wire({**PAYLOAD, member: value}, None, None)


def test_trace_fields_may_be_null_or_absent() -> None:
    event = Event._from_wire({**PAYLOAD, "traceparent": None, "tracestate": None}, None, None)
    assert event.trace_parent is None
    assert "traceparent" not in event.to_json()


# --- EventCandidate and EventType ------------------------------------------------------------


def test_candidates_check_themselves() -> None:
    candidate = EventCandidate(
        source="https://library.eventsourcingdb.io",
        subject="/books/42",
        type="io.eventsourcingdb.library.book-acquired",
        data={"title": "2001"},
    )
    assert candidate.to_json() == {
        "source": "https://library.eventsourcingdb.io",
        "subject": "/books/42",
        "type": "io.eventsourcingdb.library.book-acquired",
        "data": {"title": "2001"},
    }
    with pytest.raises(InvalidArgumentError, match="subject"):
        EventCandidate(source="s:x", subject="x", type="a.b.c", data={})
    with pytest.raises(InvalidArgumentError, match="string keys"):
        EventCandidate(source="s:x", subject="/x", type="ab.b.c", data={1: "x"})  # type: ignore[dict-item]
    with pytest.raises(InvalidArgumentError, match=r"tracestate|trace_state"):
        EventCandidate(source="s:x", subject="/x", type="ab.b.c", data={}, trace_state="a=b")


def test_candidate_from_dict_names_the_problem() -> None:
    base = {"source": "s:x", "subject": "/x", "type": "ab.b.c", "data": {}}
    assert EventCandidate.from_dict(base) == EventCandidate("s:x", "/x", "ab.b.c", {})
    with pytest.raises(InvalidArgumentError, match="unknown key 'id'"):
        EventCandidate.from_dict({**base, "id": "1"})
    with pytest.raises(InvalidArgumentError, match="trace_parent twice"):
        EventCandidate.from_dict(
            {
                **base,
                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "trace_parent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            }
        )


def test_event_type_compatibility_properties() -> None:
    phantom = EventType(type="io.x.y", has_events=False, schema={"type": "object"})
    assert phantom.event_type == "io.x.y"
    assert phantom.is_phantom
    assert not EventType(type="io.x.y", has_events=True).is_phantom
    with pytest.raises(AttributeError):
        phantom.type = "other"  # type: ignore[misc]


def test_event_types_parse_the_servers_form_and_hash_with_a_schema() -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string"}}}
    parsed = EventType.parse({"type": "io.x.y", "hasEvents": False, "schema": schema})
    assert parsed == EventType("io.x.y", False, schema)
    assert len({parsed, EventType("io.x.y", False, dict(schema))}) == 1
    with pytest.raises(InvalidArgumentError, match="hasEvents"):
        EventType.parse({"type": "io.x.y"})


def test_parser_keys_are_the_names_in_order_and_find_the_members_of_any_parsed_object() -> None:
    keys = parser_keys("time", "id", "data", "type")
    assert keys == ("time", "id", "data", "type")
    assert all(type(key) is str for key in keys)
    line = json.dumps({"type": "event", "data": PAYLOAD}).encode()
    for item in (orjson.loads(line), json.loads(line)):
        payload = item[keys[2]]
        assert item[keys[3]] == "event"
        assert (payload[keys[0]], payload[keys[1]]) == (PAYLOAD["time"], PAYLOAD["id"])
