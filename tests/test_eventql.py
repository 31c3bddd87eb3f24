"""EventQL literals and `$name` placeholders: values are written as literals every parser reads
alike, never spliced as text; whatever cannot be written so is refused before any request."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from eventsourcingdb import InvalidArgumentError, IsEventQlQueryTrue
from eventsourcingdb._eventql import bind_parameters, literal


class Color(enum.StrEnum):
    RED = "red"


class Size(enum.IntEnum):
    LARGE = 3


class Plain(enum.Enum):
    ONE = 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (42, "42"),
        (-7, "(-7)"),
        (2**53, "9007199254740992"),
        (1.5, "1.5"),
        (-0.25, "(-0.25)"),
        (1e20, "1e+20"),
        (1e-7, "1e-07"),
        ("Solaris", "'Solaris'"),
        ("", "''"),
        ("o'brien", '"o\'brien"'),
        ('say "hi"', "'say \"hi\"'"),
        ("two\nlines", "'two\nlines'"),
        ("Zoë 😀 東京", "'Zoë 😀 東京'"),
        (Color.RED, "'red'"),
        (Size.LARGE, "3"),
        ([1, "a", None], "[1, 'a', null]"),
        ((), "[]"),
        ({"title": "Dune", "tags": [True]}, "{title: 'Dune', tags: [true]}"),
        ({}, "{}"),
    ],
)
def test_values_become_literals(value: object, expected: str) -> None:
    assert literal(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("C:\\books", "backslash, or both kinds of quotes"),
        ('it\'s "quoted"', "backslash, or both kinds of quotes"),
        ("\ud800", "lone surrogate"),
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        (2**53 + 1, "64-bit floats"),
        (datetime(2026, 1, 1, tzinfo=UTC), "isoformat"),
        (Decimal("1.5"), "has no EventQL literal"),
        (b"bytes", "has no EventQL literal"),
        ({1, 2}, "has no EventQL literal"),
        (Plain.ONE, "pass its value"),
        ({"not a name": 1}, "keys of an EventQL record"),
        ({1: 1}, "keys of an EventQL record"),
        (["ok", ["C:\\"]], r"value\[1\]\[0\]"),
    ],
)
def test_values_without_a_portable_literal_are_refused(value: object, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        literal(value)


def test_a_value_that_contains_itself_is_refused() -> None:
    looped: list[object] = []
    looped.append(looped)
    with pytest.raises(InvalidArgumentError, match="contains itself"):
        literal(looped)


def test_placeholders_are_replaced_by_literals() -> None:
    query = "FROM e IN events WHERE e.data.name == $name AND e.data.pages > $pages PROJECT INTO e"
    assert bind_parameters(query, {"name": "o'brien", "pages": 200}) == (
        'FROM e IN events WHERE e.data.name == "o\'brien" AND e.data.pages > 200 PROJECT INTO e'
    )


def test_a_placeholder_may_be_used_twice() -> None:
    assert bind_parameters("$a == $a", {"a": 1}) == "1 == 1"


def test_placeholders_in_strings_and_comments_are_left_alone() -> None:
    query = (
        "FROM e IN events // costs $price\n"
        "/* $price\n $price */ WHERE e.data.note == 'costs $price' "
        'AND e.data.other == "$price" AND e.data.price == $price PROJECT INTO e'
    )
    assert bind_parameters(query, {"price": 3}) == query[: query.rindex("$")] + "3 PROJECT INTO e"


def test_a_value_that_looks_like_a_placeholder_is_not_bound_again() -> None:
    bound = bind_parameters("[$a, $b]", {"a": "$b", "b": "$a"})
    assert bound == "['$b', '$a']"


def test_a_placeholder_directly_followed_by_a_name_character_is_one_name() -> None:
    with pytest.raises(InvalidArgumentError, match=r"uses \$ab"):
        bind_parameters("$ab", {"a": 1})


@pytest.mark.parametrize(
    ("query", "parameters", "message"),
    [
        ("$a AND $b", {"a": 1}, r"uses \$b but parameters gives no value"),
        ("$a", {"a": 1, "extra": 2}, "'extra', which the query does not use"),
        ("e.data.x == $", {}, "'\\$' without a name at line 1, column 13"),
        ("$1", {}, "without a name"),
        ("x == 'open\n$a", {"a": 1}, "unterminated string literal at line 1, column 6"),
        ("/* $a", {"a": 1}, "unterminated comment"),
        ("$a", {"1a": 1}, "is not a name"),
        ("$a", {"a b": 1}, "is not a name"),
        ("$a", [("a", 1)], "must be a mapping"),
        ("$a", {"a": object()}, "the parameter 'a' is of type object"),
    ],
)
def test_binding_mistakes_are_refused(query: str, parameters: object, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        bind_parameters(query, parameters)


def test_preconditions_bind_parameters_too() -> None:
    precondition = IsEventQlQueryTrue.with_parameters(
        "FROM e IN events WHERE e.data.member == $member PROJECT INTO COUNT() < $limit",
        {"member": "o'brien", "limit": 3},
    )
    assert precondition == IsEventQlQueryTrue(
        'FROM e IN events WHERE e.data.member == "o\'brien" PROJECT INTO COUNT() < 3'
    )
