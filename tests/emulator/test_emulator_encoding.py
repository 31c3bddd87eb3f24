"""Go-compatible JSON and RFC 3339 times: the bytes the real server produces."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
