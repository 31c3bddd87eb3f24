"""Go-compatible JSON and RFC 3339 times: the bytes the real server produces."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventsourcingdb.emulator import encoding
from eventsourcingdb.emulator.encoding import (
    TimeFormat,
    decode_json,
    encode_json,
    encode_string,
    format_float,
    format_time,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (100.0, "100"),
        (1.5, "1.5"),
        (2.50, "2.5"),
        (1e3, "1000"),
        (-123.456, "-123.456"),
        (0.1, "0.1"),
        (0.000001, "0.000001"),
        (9.9e-7, "9.9e-7"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (123456789e30, "1.23456789e+38"),
        (12345678901234567890.0, "12345678901234567000"),
        (2.0**53 + 2, "9007199254740994"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (1e100, "1e+100"),
        (1e-100, "1e-100"),
    ],
)
def test_floats_are_written_as_go_writes_them(value: float, expected: str) -> None:
    assert format_float(value) == expected


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_float_round_trips(value: float) -> None:
    text = format_float(value)
    assert float(text) == value
    assert math.copysign(1.0, float(text)) == math.copysign(1.0, value)


def test_non_finite_floats_cannot_be_encoded() -> None:
    with pytest.raises(ValueError, match="cannot be encoded"):
        format_float(math.inf)


def test_numbers_are_decoded_as_float64() -> None:
    decoded = decode_json(b'{"a":1,"b":1.0,"c":1e3,"d":12345678901234567890}')
    assert encode_json(decoded) == b'{"a":1,"b":1,"c":1000,"d":12345678901234567000}'


@pytest.mark.parametrize("body", [b'{"a":1e400}', b'{"a":-1e400}', b'{"a":NaN}', b"[Infinity]"])
def test_numbers_beyond_float64_and_special_values_are_refused(body: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is json's or ours
        decode_json(body)


def test_data_is_encoded_as_the_captured_real_server_line() -> None:
    data = {"z": "<&> é 😀", "n": 1.5, "k": {"b": 1, "a": 2}, "b": 100}
    expected = '{"b":100,"k":{"a":2,"b":1},"n":1.5,"z":"\\u003c\\u0026\\u003e é 😀"}'
    assert encode_json(data) == expected.encode("utf-8")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\nb\rc\td", '"a\\nb\\rc\\td"'),
        ("\b\f", '"\\b\\f"'),
        ("\x00\x1f", '"\\u0000\\u001f"'),
        ("\x7f", '"\x7f"'),
        ('"\\', '"\\"\\\\"'),
        ("\u2028\u2029", '"\\u2028\\u2029"'),
        ("<>&", '"\\u003c\\u003e\\u0026"'),
        ("ü€😀", '"ü€😀"'),
        ("\ud800", '"\ufffd"'),
        ("/", '"/"'),
    ],
)
def test_strings_are_escaped_as_go_escapes_them(text: str, expected: str) -> None:
    assert encode_string(text) == expected


def test_keys_are_sorted_by_bytes_before_escaping() -> None:
    assert encode_json({"a=": 1, "a<": 2, "B": 3, "é": 4, "z": 5}) == (
        '{"B":3,"a\\u003c":2,"a=":1,"z":5,"é":4}'.encode()
    )


def test_invalid_utf8_and_lone_surrogates_become_replacement_characters() -> None:
    decoded = decode_json(b'{"a":"x\xe2\x82y","b":"\\ud800","\\udfff":1}')
    assert decoded == {"a": "x\ufffd\ufffdy", "b": "\ufffd", "\ufffd": 1.0}


def test_arrays_nested_values_and_literals() -> None:
    value = {"list": [1, "two", None, True, False, {"x": []}], "empty": {}}
    assert encode_json(value) == b'{"empty":{},"list":[1,"two",null,true,false,{"x":[]}]}'


def test_values_that_are_not_json_are_refused() -> None:
    with pytest.raises(TypeError, match="set"):
        encode_json({"a": {1, 2}})


@given(
    st.recursive(
        st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
        lambda children: st.lists(children) | st.dictionaries(st.text(), children),
        max_leaves=20,
    )
)
def test_encoded_json_decodes_to_the_same_value(value: object) -> None:
    encoded = encode_json(value)
    assert json.loads(encoded) == json.loads(encode_json(decode_json(encoded)))
    assert encode_json(decode_json(encoded)) == encoded


@pytest.mark.parametrize(
    ("nanoseconds", "time_format", "expected"),
    [
        (1_791_379_970_439_461_594, TimeFormat.RFC3339_NANO, "2026-10-07T13:32:50.439461594Z"),
        (1_791_379_970_439_400_000, TimeFormat.RFC3339_NANO, "2026-10-07T13:32:50.4394Z"),
        (1_791_379_970_000_000_000, TimeFormat.RFC3339_NANO, "2026-10-07T13:32:50Z"),
        (1_791_379_970_439_400_000, TimeFormat.NINE_DIGITS, "2026-10-07T13:32:50.439400000Z"),
        (1_791_379_970_000_000_000, TimeFormat.NINE_DIGITS, "2026-10-07T13:32:50.000000000Z"),
        (0, TimeFormat.NINE_DIGITS, "1970-01-01T00:00:00.000000000Z"),
    ],
)
def test_times_are_rfc3339_in_utc(nanoseconds: int, time_format: TimeFormat, expected: str) -> None:
    assert format_time(nanoseconds, time_format) == expected


class _Number(int):
    """An int subclass: the general encoder writes it as a number, the fast path does not try."""


def _reference(value: object) -> str:
    """The encoder by the definition: every number through `format_float`, strings one by one."""
    if isinstance(value, str):
        return encode_string(value)
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        return format_float(float(value))
    if isinstance(value, Mapping):
        members = (f"{encode_string(str(key))}:{_reference(value[key])}" for key in sorted(value))
        return "{" + ",".join(members) + "}"
    assert isinstance(value, list | tuple)
    return "[" + ",".join(_reference(item) for item in value) + "]"


_NUMBERS = (
    st.floats(allow_nan=False, allow_infinity=False)
    | st.integers()
    | st.integers(-(2**53) - 2, -(2**53) + 2)
    | st.integers(2**53 - 2, 2**53 + 2)
    | st.sampled_from([0.0, -0.0, 1e-4, 9.99e-5, 1e-7, 1e16, 1e21, 2.0**53, 2.0**53 + 2, 2.0**60])
)
_TEXT = st.text() | st.sampled_from(["<", ">", "&", "\u2028", "\u2029", "\ud800", "é<", "a&b"])
_VALUES = st.recursive(
    st.none() | st.booleans() | _NUMBERS | _TEXT,
    lambda children: (
        st.lists(children) | st.tuples(children, children) | st.dictionaries(_TEXT, children)
    ),
    max_leaves=25,
)


@given(_VALUES)
def test_the_fast_and_the_general_encoder_write_the_same_bytes(value: object) -> None:
    expected = _reference(value)
    assert encoding._encode_general(value) == expected
    fast = encoding._encode_fast(value)
    assert fast is None or fast == expected
    assert encode_json(value) == expected.encode("utf-8")


@given(_VALUES)
def test_decoded_data_round_trips_through_the_fast_encoder(value: object) -> None:
    decoded = decode_json(_reference(value))
    assert encode_json(decoded) == encoding._encode_general(decoded).encode("utf-8")


@pytest.mark.parametrize(
    "value",
    [
        {"sequence": 12.0, "amount": 99.5, "note": "a<b & c\u2028é", "list": [1, None, True]},
        {"small": 0.0001, "big": 9007199254740992.0, "negative": -3.0, "zero": 0.0},
        ["x", ("y", 2)],
    ],
)
def test_decoded_data_takes_the_fast_path(value: object) -> None:
    fast = encoding._encode_fast(value)
    assert fast is not None
    assert fast == _reference(value)


@pytest.mark.parametrize(
    "value",
    [
        {"a": -0.0},
        {"a": 1e-7},
        {"a": 2.0**60},
        {"a": 2**60},
        {"a": 1e21},
        {1: "non-string key"},
        MappingProxyType({"a": 1}),
        {"a": _Number(1)},
    ],
)
def test_values_the_c_encoder_would_write_differently_take_the_general_path(
    value: object,
) -> None:
    assert encoding._encode_fast(value) is None
    assert encode_json(value) == _reference(value).encode("utf-8")


@given(_TEXT)
def test_strings_get_every_escape_go_adds(text: str) -> None:
    by_definition = json.dumps(text, ensure_ascii=False).translate(encoding._ESCAPES)
    assert encode_string(text) == by_definition
