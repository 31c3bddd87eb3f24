"""Preconditions validate their arguments when created."""

from __future__ import annotations

import pytest

from eventsourcingdb.errors import InvalidArgumentError
from eventsourcingdb.preconditions import (
    IsEventQlQueryTrue,
    IsSubjectOnEventId,
    IsSubjectPopulated,
    IsSubjectPristine,
)


def test_subject_preconditions_take_the_subject_positionally_as_in_the_seed() -> None:
    assert IsSubjectPristine("/books/42").subject == "/books/42"
    assert IsSubjectPopulated("/books/42").recursive is False
    on_id = IsSubjectOnEventId("/books/42", "0")
    assert (on_id.subject, on_id.event_id, on_id.recursive) == ("/books/42", "0", False)


def test_recursive_is_keyword_only() -> None:
    assert IsSubjectPristine("/books", recursive=True).recursive is True
    with pytest.raises(InvalidArgumentError, match="options must be PreconditionOptions"):
        IsSubjectPristine("/books", True)  # type: ignore[arg-type]


@pytest.mark.parametrize("make", [IsSubjectPristine, IsSubjectPopulated])
def test_a_malformed_subject_is_refused(make: type[IsSubjectPristine]) -> None:
    with pytest.raises(InvalidArgumentError, match="subject"):
        make("books/42")


def test_the_event_id_must_be_a_decimal_string() -> None:
    with pytest.raises(InvalidArgumentError, match="event id must be a string"):
        IsSubjectOnEventId("/books/42", 0)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="event id"):
        IsSubjectOnEventId("/books/42", "abc")


def test_an_eventql_precondition_needs_a_query() -> None:
    query = "FROM e IN events PROJECT INTO COUNT() < 10"
    assert IsEventQlQueryTrue(query).query == query
    with pytest.raises(InvalidArgumentError, match="query must not be empty"):
        IsEventQlQueryTrue("  ")


def test_preconditions_are_hashable_values() -> None:
    assert {IsSubjectPristine("/a"), IsSubjectPristine("/a")} == {IsSubjectPristine("/a")}


def test_precondition_options_say_recursive_as_2_2_4_does() -> None:
    from eventsourcingdb import Precondition, PreconditionOptions

    recursive = PreconditionOptions(recursive=True)
    pristine = IsSubjectPristine("/books", recursive)
    assert pristine.recursive is True
    assert pristine.options == recursive
    assert pristine == IsSubjectPristine("/books", recursive=True)
    on_id = IsSubjectOnEventId(subject="/books", event_id="3", options=recursive)
    assert (on_id.recursive, on_id.options) == (True, recursive)
    plain = IsSubjectPopulated("/books", PreconditionOptions(recursive=False))
    assert (plain.recursive, plain.options) == (False, None)
    assert isinstance(plain, Precondition)
    assert isinstance(IsEventQlQueryTrue("FROM e IN events PROJECT INTO TRUE"), Precondition)


def test_contradicting_recursive_options_are_refused() -> None:
    from eventsourcingdb import PreconditionOptions

    with pytest.raises(InvalidArgumentError, match="contradicts"):
        IsSubjectPristine("/books", PreconditionOptions(recursive=False), recursive=True)
    with pytest.raises(InvalidArgumentError, match="recursive must be True or False"):
        PreconditionOptions(recursive="yes")  # type: ignore[arg-type]


def test_preconditions_give_their_v2_form() -> None:
    assert IsSubjectPristine("/a").to_json() == {
        "type": "isSubjectPristine",
        "payload": {"subject": "/a"},
    }
    assert IsSubjectPopulated("/a", recursive=True).to_json() == {
        "type": "isSubjectPopulated",
        "payload": {"subject": "/a", "options": {"recursive": True}},
    }
    assert IsSubjectOnEventId("/a", "7").to_json() == {
        "type": "isSubjectOnEventId",
        "payload": {"subject": "/a", "eventId": "7"},
    }
    assert IsEventQlQueryTrue("q").to_json() == {
        "type": "isEventQlQueryTrue",
        "payload": {"query": "q"},
    }


def test_dataclasses_replace_works_on_preconditions() -> None:
    import dataclasses

    from eventsourcingdb import PreconditionOptions

    pristine = IsSubjectPristine("/books", recursive=True)
    assert dataclasses.replace(pristine) == pristine
    assert dataclasses.replace(pristine, recursive=False).recursive is False
    assert dataclasses.replace(pristine, subject="/shelves").subject == "/shelves"
    plain = IsSubjectPristine("/books")
    # `options` is a parameter, not a field: mypy's dataclass plugin does not know it
    recursive = PreconditionOptions(recursive=True)
    assert dataclasses.replace(plain, options=recursive).recursive  # type: ignore[call-arg]


def test_malformed_values_carry_the_servers_code() -> None:
    from eventsourcingdb import DbApiError, ErrorCode

    with pytest.raises(DbApiError) as caught:
        IsSubjectPristine("books")
    assert caught.value.code == ErrorCode.SUBJECT_MALFORMED
    with pytest.raises(DbApiError) as caught:
        IsSubjectOnEventId("/books", "x")
    assert caught.value.code == ErrorCode.EVENT_ID_MALFORMED
    with pytest.raises(DbApiError) as caught:
        IsEventQlQueryTrue(" ")
    assert caught.value.code == ErrorCode.QUERY_MISSING
