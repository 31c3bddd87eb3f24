"""Request bodies by orjson: the same JSON documents and the same errors as the `json` way.

`encode_json` and `encode_candidates` give plain values (dicts with str keys, lists, tuples, str,
int, bool, None, finite floats) to orjson, and everything else to the standard library's encoder
(`encode_with_json`). That encoder is the oracle: both must give documents that parse to the same
value, or the same error.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import uuid
from collections import OrderedDict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from eventsourcingdb._protocol.requests import encode_candidates, encode_json, encode_with_json
from eventsourcingdb.errors import InvalidArgumentError
from eventsourcingdb.event import EventCandidate


class Colour(enum.Enum):
    RED = "red"


class Size(enum.IntEnum):
    SMALL = 1


class Name(str):
    pass


@dataclasses.dataclass
class Point:
    x: int


def outcome(encode: Any, value: Any) -> tuple[str, Any]:
    try:
        document = encode(value, "data")
    except InvalidArgumentError as error:
        return "error", str(error)
    return "value", _exact(json.loads(document))


def _exact(value: Any) -> Any:
    """`value` in a form whose equality also compares types and float signs."""
    if isinstance(value, dict):
        return ("dict", [(key, _exact(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [_exact(item) for item in value])
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


def assert_as_json(value: Any) -> tuple[str, Any]:
    result = outcome(encode_json, value)
    assert result == outcome(encode_with_json, value)
    return result


_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63 - 1, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**30]),
    st.floats(),  # nan and infinities included
    st.text(),
    st.text(alphabet=st.characters(codec=None), max_size=4),  # lone surrogates too
    st.sampled_from(
        [
            uuid.UUID(int=7),
            Colour.RED,
            Size.SMALL,
            Name("n"),
            Decimal("1.5"),
            datetime(2026, 1, 2, tzinfo=UTC),
            date(2026, 1, 2),
            Point(1),
            b"bytes",
            OrderedDict(a=1),
        ]
    ),
)
_values = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=4), inner, max_size=4),
        st.dictionaries(st.sampled_from([1, None, Name("k"), "k"]), inner, max_size=2),
    ),
    max_leaves=20,
)


@given(value=_values)
@settings(max_examples=500, deadline=None)
def test_random_values_encode_as_json_encodes_them(value: Any) -> None:
    assert_as_json(value)


@pytest.mark.parametrize(
    "value",
    [
        {"n": math.nan},
        {"n": [math.inf]},
        {"u": uuid.UUID(int=1)},
        {"e": Colour.RED},
        {"d": datetime(2026, 1, 2, tzinfo=UTC)},
        {"p": Point(1)},
        {"s": "\ud800"},
    ],
)
def test_what_json_refuses_is_refused_with_its_error(value: Any) -> None:
    kind, _ = assert_as_json(value)
    assert kind == "error"


@pytest.mark.parametrize(
    "value",
    [
        {"big": 2**64, "small": -(2**63) - 1},
        {"subclassed": Name("x"), "int enum": Size.SMALL},
        {"tuple": (1, 2), "nested": [{"a": [1.5, -0.0, 1e300, 5e-324]}]},
        {"unicode": "é 😀 \u2028 <&>", "control": "\x00\x1f\n"},
        {1: "a key json writes as a string", None: "and this one as null"},
    ],
)
def test_values_json_accepts_are_the_same_documents(value: Any) -> None:
    kind, _ = assert_as_json(value)
    assert kind == "value"


def test_a_cycle_fails_as_with_json() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    assert assert_as_json({"c": cyclic})[0] == "error"


def test_deep_nesting_takes_the_json_way() -> None:
    deep: Any = 1
    for _ in range(300):
        deep = [deep]
    assert assert_as_json({"d": deep})[0] == "value"


@given(data=st.lists(st.dictionaries(st.text(max_size=3), _values, max_size=3), max_size=4))
@settings(max_examples=200, deadline=None)
def test_candidates_encode_as_json_encodes_them(data: list[dict[str, Any]]) -> None:
    try:
        candidates = [
            EventCandidate("https://x.io", f"/s/{index}", "io.x.y", item)
            for index, item in enumerate(data)
        ]
    except InvalidArgumentError:  # non-str keys: refused before any encoding
        assume(False)
    wires = [candidate.to_json() for candidate in candidates]
    try:
        expected: tuple[str, Any] = (
            "value",
            _exact([json.loads(encode_json(w, "w")) for w in wires]),
        )
    except InvalidArgumentError:
        expected = ("error", None)
    try:
        actual: tuple[str, Any] = ("value", _exact(json.loads(encode_candidates(candidates))))
    except InvalidArgumentError:
        actual = ("error", None)
    assert actual == expected
