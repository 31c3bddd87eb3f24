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
    with pytest.raises(TypeError):
        IsSubjectPristine("/books", True)  # type: ignore[call-arg]


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
