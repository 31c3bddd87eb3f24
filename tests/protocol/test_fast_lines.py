"""Lines parsed by orjson: the same values and errors as the `json.loads` path, bytes raw lines.

`StreamDecoder.feed` gives each line to orjson unless it might nest deeper than `json.loads` can;
whatever orjson refuses takes the `json.loads` path, and so does a line orjson may have misread
(an integer beyond 64 bits, read as a float): one with a run of 19 digits, or for events, one
whose data hold a float that large (`Event._from_wire` checks). The oracle here is that path
itself, forced by making orjson refuse every line: both decoders must yield the same values (same
types, float signs, key order) and the same failure.
"""

from __future__ import annotations

import copy
import json
import math
import pickle
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventsourcingdb import Event, HashMismatchError, ProtocolError
from eventsourcingdb._protocol import envelopes
from eventsourcingdb._protocol import events as protocol_events
from eventsourcingdb._protocol.envelopes import (
    StreamDecoder,
    convert_event,
    convert_row_v1,
)
from eventsourcingdb._protocol.hashing import hash_v1
from eventsourcingdb._protocol.requests import ApiVersion, build_read_events
from eventsourcingdb.options import ReadEventsOptions
from tests.protocol.test_hashing import (
    RAW_DATA_HEX,
    REAL_LINE,
    V4_SIGNATURE,
    _key,
    with_changes,
)
from tests.spec_vectors import V1_HASH

READ = build_read_events(ApiVersion.V1, "/", ReadEventsOptions())


def _refuse(line: bytes) -> Any:
    raise orjson.JSONDecodeError("refused by the test", "", 0)


@contextmanager
def old_path() -> Iterator[None]:
    """Every line takes the `json.loads` path, as before orjson."""
    with mock.patch.object(envelopes, "_fast_loads", _refuse):
        yield


def outcome(body: bytes, *, kind: str = "row") -> tuple[list[Any], str | None, bool]:
    """The values of `body`, the failure (type and message) and whether the stream is done."""
    convert = convert_row_v1 if kind == "row" else convert_event
    decoder: StreamDecoder[Any] = StreamDecoder(READ, kind, convert)
    values = decoder.feed(body)
    if not decoder.done:
        values.extend(decoder.close())
    failure = decoder.failure
    described = None if failure is None else f"{type(failure).__name__}: {failure}"
    return values, described, decoder.done


def exact(value: Any) -> Any:
    """`value` in a form whose equality also compares types, float signs and key order."""
    if isinstance(value, dict):
        return ("dict", [(key, exact(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [exact(item) for item in value])
    if isinstance(value, float):
        return ("float", repr(value))  # tells -0.0 from 0.0 and keeps nan equal to nan
    return (type(value).__name__, value)


def assert_same_as_old_path(body: bytes) -> tuple[list[Any], str | None]:
    values, failure, done = outcome(body)
    with old_path():
        old_values, old_failure, old_done = outcome(body)
    assert exact(values) == exact(old_values)
    assert failure == old_failure
    assert done == old_done
    return values, failure


def row_line(payload_text: str, *, prefix: str = "", suffix: str = "") -> bytes:
    return f'{prefix}{{"type":"row","payload":{payload_text}}}{suffix}\n'.encode(
        "utf-8", "surrogatepass"
    )


def fast_path_taken(line: bytes, *, kind: str = "row") -> bool:
    """Whether the decoder keeps what orjson read of `line` (never parsing it with `json.loads`)."""
    exact: list[bytes] = []
    real_parse_text = envelopes._parse_text

    def spy(data: bytes) -> Any:
        exact.append(data)
        return real_parse_text(data)

    with (
        mock.patch.object(envelopes, "_parse_text", spy),
        mock.patch("eventsourcingdb.event.exact_member", _exact_spy(exact)),
    ):
        outcome(line, kind=kind)
    return not exact and _orjson_reads(line)


def _exact_spy(calls: list[bytes]) -> Any:
    real_exact_member = protocol_events.exact_member

    def spy(line: bytes, container: str | None) -> Any:
        calls.append(line)
        return real_exact_member(line, container)

    return spy


def _orjson_reads(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except ValueError:
        return False
    return True


# --- random lines: the same items as the old path ---------------------------------------------


class RawNumber(str):
    """A number token written into the line as it is."""


_number_text = st.from_regex(
    r"\A-?(0|[1-9][0-9]{0,45})(\.[0-9]{1,45})?([eE][+-]?[0-9]{1,4})?\Z", fullmatch=True
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # unbounded: huge integers included
    st.integers(min_value=-(2**64), max_value=2**65),
    st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 0]),
    st.floats(),  # nan and infinities included (written as NaN, Infinity)
    st.sampled_from([-0.0, 5e-324, 1.7976931348623157e308, 2.2250738585072014e-308]),
    _number_text.map(RawNumber),
    st.text(),
    st.text(alphabet=st.characters(codec=None)),  # lone surrogates too
    st.text(alphabet=st.characters(max_codepoint=0x3F)),  # control characters, quotes, slashes
)
_keys = st.one_of(st.sampled_from(["a", "b", "type", "payload", "é", "😀"]), st.text(max_size=5))
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(st.tuples(_keys, inner), max_size=5),  # an object; duplicate keys likely
    ),
    max_leaves=25,
)
_spaces = st.text(alphabet=" \t\r", max_size=2)


@st.composite
def json_texts(draw: st.DrawFn, value: Any | None = None) -> str:
    """The JSON text of a random value, written in one of several styles."""
    ascii_only = draw(st.booleans())
    escape_controls = draw(st.booleans())
    space = draw(_spaces)

    def string(text: str) -> str:
        if escape_controls:
            return json.dumps(text, ensure_ascii=ascii_only)
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def write(item: Any) -> str:
        if isinstance(item, RawNumber):
            return str(item)
        if isinstance(item, str):
            return string(item)
        if isinstance(item, tuple):  # never at the top: see below
            raise AssertionError
        if isinstance(item, list) and item and all(isinstance(pair, tuple) for pair in item):
            members = [f"{string(key)}{space}:{space}{write(member)}" for key, member in item]
            return "{" + f"{space},{space}".join(members) + "}"
        if isinstance(item, list):
            return "[" + f"{space},{space}".join(write(element) for element in item) + "]"
        return json.dumps(item)

    return write(draw(_values) if value is None else value)


@given(
    payload=json_texts(),
    prefix=st.sampled_from(["", " ", "\t\r", "\ufeff", "\x0c", "\u00a0"]),
    suffix=st.sampled_from(["", " ", "\r", "\x0c", "\u2028", "\x00", " x"]),
)
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_lines_decode_as_on_the_old_path(payload: str, prefix: str, suffix: str) -> None:
    assert_same_as_old_path(row_line(payload, prefix=prefix, suffix=suffix))


@given(payload=json_texts())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_lines_in_a_stream_decode_as_on_the_old_path(payload: str) -> None:
    body = row_line("1") + row_line(payload) + b'{"type":"heartbeat"}\n' + row_line('"last"')
    assert_same_as_old_path(body)


@given(number=_number_text)
@settings(max_examples=500, deadline=None)
def test_number_tokens_read_as_json_loads_reads_them(number: str) -> None:
    (value,), failure = assert_same_as_old_path(row_line(number))
    assert failure is None
    assert exact(value) == exact(json.loads(number))


# --- the fallback cases, one by one -----------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        2**64,
        2**64 + 1,
        -(2**63) - 1,
        10**30,
        -(10**40),
        2**200,
    ],
)
def test_integers_beyond_64_bits_stay_integers(number: int) -> None:
    # orjson reads these as floats (or refuses them): the line must not reach it
    try:
        misread = type(orjson.loads(str(number))) is not int
    except orjson.JSONDecodeError:
        misread = True
    assert misread
    line = row_line(f'{{"n":{number},"m":[{number}]}}')
    (value,), failure = assert_same_as_old_path(line)
    assert failure is None
    assert value == {"n": number, "m": [number]}
    assert type(value["n"]) is int
    assert not fast_path_taken(line)


@pytest.mark.parametrize("number", [2**64 - 1, -(2**63), 2**63, 12345678901234567])
def test_integers_within_64_bits_take_the_fast_path_where_short(number: int) -> None:
    line = row_line(f'{{"n":{number}}}')
    (value,), _ = assert_same_as_old_path(line)
    assert value == {"n": number}
    assert type(value["n"]) is int
    assert fast_path_taken(line) == (len(str(abs(number))) < 19)


def test_a_run_of_19_digits_in_a_string_only_takes_the_old_path() -> None:
    line = row_line('{"s":"1234567890123456789"}')
    (value,), failure = assert_same_as_old_path(line)
    assert value == {"s": "1234567890123456789"}
    assert failure is None
    assert not fast_path_taken(line)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1e400", math.inf),
        ("-1e400", -math.inf),
        ("1.7976931348623159e308", math.inf),
        ("NaN", math.nan),
        ("Infinity", math.inf),
        ("-Infinity", -math.inf),
    ],
)
def test_non_finite_numbers_read_as_json_loads_reads_them(text: str, expected: float) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(text)
    (value,), failure = assert_same_as_old_path(row_line(f'{{"x":{text}}}'))
    assert failure is None
    assert exact(value) == exact({"x": expected})


def test_negative_zero_keeps_its_type_and_sign() -> None:
    line = row_line('{"i":-0,"f":-0.0,"e":-0e0,"z":0.0}')
    (value,), _ = assert_same_as_old_path(line)
    assert exact(value) == exact({"i": 0, "f": -0.0, "e": -0.0, "z": 0.0})
    assert math.copysign(1.0, value["f"]) == -1.0
    assert fast_path_taken(line)


def test_big_and_precise_floats_are_equal() -> None:
    numbers = [
        "1.7976931348623157e308",
        "2.2250738585072011e-308",
        "4.9e-324",
        "1e-400",
        "0.1000000000000000055511151231257827",
        "123456789012345678.5",
        "9007199254740993.0",
        "1.00000000000000011102230246251565404236316680908203125",
    ]
    line = row_line("[" + ",".join(numbers) + "]")
    (value,), failure = assert_same_as_old_path(line)
    assert failure is None
    assert exact(value) == exact([float(number) for number in numbers])


def test_lone_surrogate_escapes_read_as_json_loads_reads_them() -> None:
    line = row_line('{"s":"\\ud800","p":"\\ud83d\\ude00","t":"\\udc00x"}')
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(line)
    (value,), failure = assert_same_as_old_path(line)
    assert failure is None
    assert value == {"s": "\ud800", "p": "😀", "t": "\udc00x"}


def test_duplicate_keys_keep_the_first_place_and_the_last_value() -> None:
    line = row_line('{"a":1,"b":2,"a":3,"c":{"x":1,"x":[2]}}')
    (value,), _ = assert_same_as_old_path(line)
    assert list(value.items()) == [("a", 3), ("b", 2), ("c", {"x": [2]})]
    assert fast_path_taken(line)


def test_a_duplicate_type_member_decides_the_item_as_on_the_old_path() -> None:
    line = b'{"type":"heartbeat","payload":1,"type":"row"}\n'
    values, failure = assert_same_as_old_path(line)
    assert values == [1]
    assert failure is None


def test_nesting_json_loads_reads_takes_the_fast_path() -> None:
    depth = 200
    line = row_line("[" * depth + "]" * depth)
    (value,), failure = assert_same_as_old_path(line)
    assert failure is None
    assert fast_path_taken(line)
    for _ in range(depth - 1):
        (value,) = value
    assert value == []


def test_nesting_too_deep_for_json_loads_still_raises_recursion_error() -> None:
    """orjson reads up to 1024 levels; `json.loads` gives up earlier, and so does the decoder."""
    depth = sys.getrecursionlimit() - 5
    assert depth <= 1024
    line = row_line("[" * depth + "]" * depth)
    orjson.loads(line)  # orjson would read it
    with pytest.raises(RecursionError):
        outcome(line)
    with old_path(), pytest.raises(RecursionError):
        outcome(line)


def test_nesting_beyond_orjson_takes_the_old_path() -> None:
    depth = 1100
    line = row_line("[" * depth + "]" * depth)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(line)
    with pytest.raises(RecursionError):
        outcome(line)


@pytest.mark.parametrize(
    ("prefix", "suffix", "parsed"),
    [
        (" \t", " \r", True),
        ("", "\r", True),
        ("\x0c", "", False),
        ("", "\x0c", False),
        ("\u00a0", "", False),
        ("", "\u2028", False),
        ("\ufeff", "", False),  # a byte order mark
        (" \ufeff", "", False),
    ],
)
def test_whitespace_around_a_line(prefix: str, suffix: str, parsed: bool) -> None:
    values, failure = assert_same_as_old_path(row_line("[1]", prefix=prefix, suffix=suffix))
    if parsed:
        assert values == [[1]]
        assert failure is None
    else:
        assert values == []
        assert failure is not None
        assert failure.startswith("ProtocolError")


def test_a_byte_order_mark_fails_as_on_the_old_path() -> None:
    _, failure = assert_same_as_old_path(b"\xef\xbb\xbf" + row_line("1"))
    assert failure is not None
    assert "BOM" in failure


@pytest.mark.parametrize(
    "blank", [b" ", b"\t\r", b"\r", b"\x0c", b"\x0b", b"\xc2\x85", b"\xc2\xa0"]
)
def test_blank_lines_are_skipped_as_on_the_old_path(blank: bytes) -> None:
    values, failure = assert_same_as_old_path(row_line("1") + blank + b"\n" + row_line("2"))
    assert values == [1, 2]
    assert failure is None


@pytest.mark.parametrize("control", ["\x00", "\x01", "\t", "\x1f", "\r"])
def test_control_characters_in_strings_fail_as_on_the_old_path(control: str) -> None:
    _, failure = assert_same_as_old_path(row_line(f'{{"s":"a{control}b"}}'))
    assert failure is not None
    assert "not JSON" in failure


def test_delete_and_escaped_controls_in_strings_are_read() -> None:
    line = row_line('{"s":"a\x7fb\\u0000\\u001f\\t\\/"}')
    (value,), failure = assert_same_as_old_path(line)
    assert failure is None
    assert value == {"s": "a\x7fb\x00\x1f\t/"}
    assert fast_path_taken(line)


@pytest.mark.parametrize(
    "bad",
    [
        b'{"type":"row","payload":"\xff"}',
        b'{"type":"row","payload":"\xed\xa0\x80"}',  # an encoded surrogate
        b'{"type":"row","payload":"\xc3"}',
        b'{"type":"row","payload":1,}',
        b'{"type":"row","payload":01}',
        b'{"type":"row","payload":.5}',
        b'{"type":"row","payload":1.}',
        b"[1,2]",
        b'"row"',
        b"12",
        b'{"payload":1}',
        b'{"type":"row"',
        b'{"type":"row","payload":1}{"type":"row","payload":2}',
    ],
)
def test_malformed_lines_fail_with_the_old_message(bad: bytes) -> None:
    values, failure = assert_same_as_old_path(row_line("0") + bad + b"\n" + row_line("2"))
    assert values == [0]
    assert failure is not None


def test_a_truncated_last_line_is_reported_as_before() -> None:
    _, failure = assert_same_as_old_path(row_line("1") + b'{"type":"row","payload":[1')
    assert failure is not None
    assert "middle of a line" in failure


# --- events keep the bytes of their line ------------------------------------------------------


def _fast_line() -> tuple[bytes, str]:
    """The §8.2 V1 line with another predecessor hash (its 64 zeros are a run of digits, which
    takes the old path) and the hash that goes with it, and that hash."""
    line = with_changes(REAL_LINE, predecessorhash="ab" * 32)
    payload = orjson.loads(line)["payload"]
    new_hash = hash_v1(payload, bytes.fromhex(RAW_DATA_HEX))
    return with_changes(line, hash=new_hash), new_hash


def read_one(line: bytes) -> Event:
    decoder: StreamDecoder[Event] = StreamDecoder(READ, "event", convert_event)
    (event,) = decoder.feed(line + b"\n")
    assert decoder.failure is None
    return event


def test_the_v1_line_verifies_when_kept_as_bytes() -> None:
    payload = orjson.loads(REAL_LINE)["payload"]
    event = Event._from_wire(payload, REAL_LINE, "payload")
    assert event._line() == (REAL_LINE, "payload")
    assert event.raw_data == bytes.fromhex(RAW_DATA_HEX)
    event.verify_hash()
    assert event.hash == V1_HASH
    text_event = Event._from_wire(json.loads(REAL_LINE)["payload"], REAL_LINE.decode(), "payload")
    assert event == text_event
    assert event.to_json() == text_event.to_json()


def test_a_signed_v1_line_verifies_when_kept_as_bytes() -> None:
    line = with_changes(REAL_LINE, signature=V4_SIGNATURE)
    event = Event._from_wire(orjson.loads(line)["payload"], line, "payload")
    event.verify_signature(_key())


def test_events_read_by_orjson_keep_bytes_and_verify() -> None:
    line, new_hash = _fast_line()
    assert fast_path_taken(line)
    event = read_one(line)
    raw_line, container = event._line()
    assert type(raw_line) is bytes
    assert raw_line == line
    assert container == "payload"
    assert event.raw_data == bytes.fromhex(RAW_DATA_HEX)
    assert event.hash == new_hash
    event.verify_hash()
    with old_path():
        text_event = read_one(line)
    assert type(text_event._line()[0]) is str
    assert event == text_event
    assert hash(event) == hash(text_event)
    assert event.to_json() == text_event.to_json()
    assert exact(event.data) == exact(text_event.data)


def test_a_bytes_line_event_pickles_and_copies() -> None:
    line, _ = _fast_line()
    event = read_one(line)
    for clone in (pickle.loads(pickle.dumps(event)), copy.deepcopy(event), copy.copy(event)):
        assert clone == event
        assert clone._line() == (line, "payload")
        assert clone.raw_data == event.raw_data
        clone.verify_hash()


def test_changed_data_of_a_bytes_line_event_fail_the_verification() -> None:
    line, _ = _fast_line()
    event = read_one(line)
    event.data["b"] = 101
    with pytest.raises(HashMismatchError, match="data were changed"):
        event.verify_hash()
    tampered = read_one(line.replace(b'"n":1.5', b'"n":1.50'))
    assert type(tampered._line()[0]) is bytes
    with pytest.raises(HashMismatchError):
        tampered.verify_hash()


def test_raw_data_of_a_bytes_line_with_a_tricky_data_member() -> None:
    """The quick search of the line is checked; the member walk finds the real `data`."""
    line, _ = _fast_line()
    tricky = line.replace(b'"source":"https://x"', b'"source":"https://x","x":{"data":{"b":100}}')
    event = read_one(tricky)
    assert type(event._line()[0]) is bytes
    assert event.raw_data == bytes.fromhex(RAW_DATA_HEX)


def test_raw_data_of_bytes_that_are_not_utf8_is_a_protocol_error_as_before() -> None:
    text = REAL_LINE[len(b'{"type":"event","payload":') : -1].decode()
    event = Event.from_json(text.encode("utf-16"))
    with pytest.raises(ProtocolError, match="cannot be located"):
        _ = event.raw_data


def test_a_malformed_event_read_by_orjson_fails_as_on_the_old_path() -> None:
    line, _ = _fast_line()
    broken = line.replace(b'"subject":"/a"', b'"subject":5')
    values, failure, _ = outcome(broken + b"\n", kind="event")
    with old_path():
        old_values, old_failure, _ = outcome(broken + b"\n", kind="event")
    assert values == old_values == []
    assert failure == old_failure
    assert failure is not None
    assert "subject" in failure


# --- events: the data are checked after the parse, not the line before it ---------------------


_DATA_MEMBER = (
    b'"data":{"b":100,"k":{"a":2,"b":1},"n":1.5,'
    b'"z":"\\u003c\\u0026\\u003e \xc3\xa9 \xf0\x9f\x98\x80"}'
)


def event_line(data_text: str, line: bytes = REAL_LINE) -> bytes:
    """`line` with its data member replaced by `data_text`."""
    assert _DATA_MEMBER in line
    return line.replace(_DATA_MEMBER, b'"data":' + data_text.encode("utf-8", "surrogatepass"))


def event_outcome(body: bytes) -> tuple[list[Any], str | None, bool]:
    """`outcome` for events, in a form that tells an int from an equal float in the data."""
    values, failure, done = outcome(body, kind="event")
    described = [(exact(event.data), event.to_json(), event.time) for event in values]
    return described, failure, done


def assert_event_same_as_old_path(body: bytes) -> tuple[list[Any], str | None]:
    values, failure, done = event_outcome(body)
    with old_path():
        old_values, old_failure, old_done = event_outcome(body)
    assert values == old_values
    assert failure == old_failure
    assert done == old_done
    return values, failure


def test_an_event_line_with_runs_of_digits_in_its_hashes_takes_the_fast_path() -> None:
    """The 64 zeros of a first event's predecessor hash no longer send it to `json.loads`."""
    assert b"0" * 19 in REAL_LINE
    assert fast_path_taken(REAL_LINE + b"\n", kind="event")
    (event,) = outcome(REAL_LINE + b"\n", kind="event")[0]
    assert type(event._line()[0]) is bytes
    event.verify_hash()


@pytest.mark.parametrize("number", [2**64, 2**64 + 1, -(2**63) - 1, 10**30, 2**200])
def test_integers_beyond_64_bits_in_event_data_stay_integers(number: int) -> None:
    line = event_line(f'{{"n":{number},"m":[{{"x":{number}}}]}}')
    ((data, _, _),), failure = assert_event_same_as_old_path(line + b"\n")
    assert failure is None
    assert data == exact({"n": number, "m": [{"x": number}]})
    assert not fast_path_taken(line + b"\n", kind="event")
    (event,) = outcome(line + b"\n", kind="event")[0]
    assert type(event.data["n"]) is int
    assert event.raw_data == f'{{"n":{number},"m":[{{"x":{number}}}]}}'.encode()


@pytest.mark.parametrize("number", [2**64 - 1, -(2**63), 1234567890123456789, 12])
def test_integers_within_64_bits_in_event_data_take_the_fast_path(number: int) -> None:
    line = event_line(f'{{"n":{number}}}')
    ((data, _, _),), failure = assert_event_same_as_old_path(line + b"\n")
    assert failure is None
    assert data == exact({"n": number})
    assert fast_path_taken(line + b"\n", kind="event")


def test_a_large_float_in_event_data_is_read_again_and_stays_a_float() -> None:
    line = event_line('{"f":1e19,"g":-2.5e300,"h":18446744073709551616.0}')
    ((data, _, _),), failure = assert_event_same_as_old_path(line + b"\n")
    assert failure is None
    assert data == exact({"f": 1e19, "g": -2.5e300, "h": 18446744073709551616.0})


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("subject", "18446744073709551616"),
        ("id", "-99999999999999999999"),
        ("traceparent", "18446744073709551617"),
        ("time", "123456789012345678901234"),
    ],
)
def test_an_event_refused_for_a_huge_integer_names_the_type_json_loads_reads(
    member: str, value: str
) -> None:
    payload = json.loads(REAL_LINE)["payload"]
    old = f'"{member}":{json.dumps(payload[member])}'.encode()
    line = REAL_LINE.replace(old, f'"{member}":{value}'.encode())
    assert line != REAL_LINE
    values, failure = assert_event_same_as_old_path(line + b"\n")
    assert values == []
    assert failure is not None
    if member != "time":
        assert "got int" in failure


@given(data=json_texts())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_event_data_decode_as_on_the_old_path(data: str) -> None:
    body = REAL_LINE + b"\n" + event_line(data) + b"\n" + REAL_LINE + b"\n"
    assert_event_same_as_old_path(body)


@given(data=json_texts(), member=st.sampled_from(["subject", "hash", "signature", "time"]))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_values_of_event_members_fail_as_on_the_old_path(data: str, member: str) -> None:
    payload = json.loads(REAL_LINE)["payload"]
    old = f'"{member}":{json.dumps(payload[member])}'.encode()
    line = REAL_LINE.replace(old, f'"{member}":'.encode() + data.encode("utf-8", "surrogatepass"))
    assert_event_same_as_old_path(line + b"\n")
