"""Input checks: what is accepted, what is refused, and that every refusal says how to fix it."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest

from eventsourcingdb import _validation as v
from eventsourcingdb.errors import ErrorCode, InvalidArgumentError, RefusedArgumentError


@pytest.mark.parametrize("subject", ["/", "/books", "/books/42", "/a-b/c_d/E9", "/books/"])
def test_accepts_well_formed_subjects(subject: str) -> None:
    assert v.check_subject(subject) == subject


@pytest.mark.parametrize("subject", ["", "books", "/in valid", "//", "/a//b", "/ä", "/a.b", " /a"])
def test_refuses_malformed_subjects_with_an_example(subject: str) -> None:
    with pytest.raises(InvalidArgumentError, match="for example '/books/42'"):
        v.check_subject(subject)


@pytest.mark.parametrize("subject", ["/", "/books", "/books/42"])
def test_accepts_subjects_to_write_to(subject: str) -> None:
    assert v.check_written_subject(subject) == subject


def test_refuses_to_write_to_a_subject_with_a_trailing_slash_saying_which_to_use() -> None:
    with pytest.raises(InvalidArgumentError, match="ends with '/': write '/books/42'"):
        v.check_written_subject("/books/42/")
    with pytest.raises(InvalidArgumentError, match="for example '/books/42'"):
        v.check_written_subject("/books//")


def test_refuses_a_subject_that_is_not_a_string() -> None:
    with pytest.raises(InvalidArgumentError, match="subject must be a string, got int"):
        v.check_subject(42)


@pytest.mark.parametrize(
    "event_type",
    [
        "io.eventsourcingdb.library.book-acquired",
        "com.foo.bar",
        "io.thenativeweb.user.janeDoe.loggedIn",
        "com.opencqrs.books-added.v1",
    ],
)
def test_accepts_reverse_domain_event_types(event_type: str) -> None:
    assert v.check_event_type(event_type) == event_type


@pytest.mark.parametrize(
    "event_type", ["", "a.b.c", "com.foo", "malformed.event.type.", "com..foo.bar", "com.foo bar.x"]
)
def test_refuses_malformed_event_types(event_type: str) -> None:
    with pytest.raises(InvalidArgumentError, match="reverse-domain"):
        v.check_event_type(event_type)


@pytest.mark.parametrize(
    "event_id", ["0", "7", "1234567890123", "18446744073709551615", "0018446744073709551615"]
)
def test_accepts_decimal_event_ids(event_id: str) -> None:
    assert v.check_event_id(event_id) == event_id


@pytest.mark.parametrize(
    "event_id", ["", "-1", "+1", "hello", "1a", "1.5", " 1", "1\n", "1_000", "0x1", "\u0661"]
)
def test_refuses_malformed_event_ids(event_id: str) -> None:
    with pytest.raises(RefusedArgumentError, match="non-negative decimal integer") as caught:
        v.check_event_id(event_id)
    assert caught.value.code == ErrorCode.EVENT_ID_MALFORMED


@pytest.mark.parametrize(
    "event_id",
    ["18446744073709551616", "99999999999999999999", "9" * 5000, "0" * 5000 + "1" * 21],
    ids=["2**64", "20 nines", "5000 digits", "zeros then 21 digits"],
)
def test_refuses_event_ids_beyond_the_servers_uint64(event_id: str) -> None:
    with pytest.raises(RefusedArgumentError, match="out of range: event ids go from") as caught:
        v.check_event_id(event_id)
    assert caught.value.code == ErrorCode.EVENT_ID_MALFORMED
    assert len(str(caught.value)) < 300, "the id is quoted only in part"


def test_an_integer_event_id_is_refused_with_the_string_to_use() -> None:
    with pytest.raises(InvalidArgumentError, match="pass '42'"):
        v.check_event_id(42)
    for out_of_range in (-1, 2**64, 10**5000):
        with pytest.raises(RefusedArgumentError, match=r"must be a string.*go from '0'"):
            v.check_event_id(out_of_range)


@pytest.mark.parametrize(
    "source",
    [
        "https://library.eventsourcingdb.io",
        "tag:thenativeweb.io,2023:eventsourcingdb:test",
        "tag://test-execution",
        "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
    ],
)
def test_accepts_absolute_uri_sources(source: str) -> None:
    assert v.check_source(source) == source


@pytest.mark.parametrize("source", ["", "my-app", "https://exa mple.com", "1http://x"])
def test_refuses_sources_that_are_not_absolute_uris(source: str) -> None:
    with pytest.raises(InvalidArgumentError, match="absolute URI"):
        v.check_source(source)


def test_accepts_a_w3c_traceparent() -> None:
    value = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert v.check_trace_parent(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
    ],
)
def test_refuses_malformed_traceparents(value: str) -> None:
    with pytest.raises(InvalidArgumentError, match="W3C trace-context"):
        v.check_trace_parent(value)


@pytest.mark.parametrize(
    "value", ["rojo=00f067aa0ba902b7", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "t@vendor=x"]
)
def test_accepts_w3c_tracestates(value: str) -> None:
    assert v.check_trace_state(value) == value


@pytest.mark.parametrize("value", ["", "ROJO=1", "rojo", "rojo=a,b", ",".join(["k=v"] * 33)])
def test_refuses_malformed_tracestates(value: str) -> None:
    with pytest.raises(InvalidArgumentError, match="key=value"):
        v.check_trace_state(value)


def test_event_data_must_be_a_json_object() -> None:
    assert v.check_json_object({"a": 1}) == {"a": 1}
    with pytest.raises(InvalidArgumentError, match="JSON object"):
        v.check_json_object([1, 2])
    with pytest.raises(InvalidArgumentError, match="string keys only"):
        v.check_json_object({1: "a"})


class _Items(list[Any]):
    """A list subclass: looked into like a list."""


@pytest.mark.parametrize(
    ("data", "where", "key"),
    [
        ({"a": {1: "x"}}, "data['a']", "1 (int)"),
        ({"a": [{"b": 1}, {None: 2}]}, "data['a'][1]", "None (NoneType)"),
        ({"a": ({"x": {True: 1}},)}, "data['a'][0]['x']", "True (bool)"),
        ({"a": {"b": {"c": {1.5: 0}}}}, "data['a']['b']['c']", "1.5 (float)"),
        ({"a": OrderedDict({2: "x"})}, "data['a']", "2 (int)"),
        ({"s": "x", "a": _Items([{3: "x"}])}, "data['a'][0]", "3 (int)"),
    ],
)
def test_nested_keys_must_be_strings_too(data: dict[str, Any], where: str, key: str) -> None:
    with pytest.raises(InvalidArgumentError, match="string keys only") as caught:
        v.check_json_object(data)
    assert f"but {where} has the key {key}" in str(caught.value)


def test_nested_data_with_string_keys_passes_and_cycles_end() -> None:
    shared = {"x": [1, {"y": None}]}
    data = {"a": shared, "b": [shared, [[{"c": "d"}]]], "e": ()}
    assert v.check_json_object(data) is data
    cyclic: dict[str, Any] = {"a": [1]}
    cyclic["a"].append(cyclic)
    assert v.check_json_object(cyclic) is cyclic  # the JSON encoder refuses the cycle later


def test_bools_are_not_guessed_from_truthiness() -> None:
    assert v.check_bool(True, "recursive") is True
    with pytest.raises(InvalidArgumentError, match="recursive must be True or False"):
        v.check_bool(1, "recursive")
