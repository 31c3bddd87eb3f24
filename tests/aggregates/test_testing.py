"""Given/when/then scenarios on the library example, and how a failing one reports itself."""

from __future__ import annotations

import pytest

from eventsourcingdb.aggregates import MissingHandlerError
from eventsourcingdb.aggregates.testing import ScenarioFailure, given
from eventsourcingdb.errors import InvalidArgumentError
from examples.library.domain import (
    Book,
    BookAlreadyBorrowed,
    BookNotBorrowedByMember,
    BookNotInCatalogue,
    BorrowingLimitReached,
    ChangeLimit,
    MemberAlreadyRegistered,
    MemberState,
    MemberUnknown,
    RegisterMember,
    member_decider,
)
from examples.library.events import (
    BookAcquired,
    BookBorrowed,
    BookReturned,
    MemberLimitChanged,
    MemberRegistered,
)
from tests.aggregates.domain import Counter, Noted

SOLARIS = BookAcquired(title="Solaris", author="Stanisław Lem")
ADA, GRACE = "/members/ada", "/members/grace"

# --- the library's rules, as specifications --------------------------------------------------


def test_a_book_on_the_shelf_can_be_borrowed() -> None:
    book = (
        given(Book, SOLARIS, subject="/books/solaris")
        .when(lambda book: book.borrow(ADA, open_loans=0, limit=2))
        .then(BookBorrowed(member=ADA))
    )
    assert book.borrowed_by == ADA
    assert book.times_borrowed == 1


def test_a_borrowed_book_cannot_be_borrowed_again() -> None:
    given(Book, SOLARIS, BookBorrowed(member=ADA)).when(
        lambda book: book.borrow(GRACE, open_loans=0, limit=2)
    ).then_raises(BookAlreadyBorrowed, match="Solaris")


def test_a_returned_book_can_be_borrowed_again() -> None:
    given(Book, SOLARIS, BookBorrowed(member=ADA), BookReturned(member=ADA)).when(
        lambda book: book.borrow(GRACE, open_loans=0, limit=1)
    ).then(BookBorrowed(member=GRACE))


def test_a_member_at_the_limit_cannot_borrow() -> None:
    given(Book, SOLARIS).when(lambda book: book.borrow(ADA, open_loans=2, limit=2)).then_raises(
        BorrowingLimitReached
    )


def test_a_book_that_was_never_acquired_cannot_be_borrowed() -> None:
    given(Book).when(lambda book: book.borrow(ADA, open_loans=0, limit=2)).then_raises(
        BookNotInCatalogue
    )


def test_only_the_borrower_returns_a_book() -> None:
    given(Book, SOLARIS, BookBorrowed(member=ADA)).when(
        lambda book: book.give_back(GRACE)
    ).then_raises(BookNotBorrowedByMember)
    given(Book, SOLARIS, BookBorrowed(member=ADA)).when(lambda book: book.give_back(ADA)).then(
        BookReturned(member=ADA)
    )


def test_a_member_registers_once() -> None:
    state = (
        given(member_decider)
        .when(RegisterMember(name="Ada", limit=2))
        .then(MemberRegistered(name="Ada", limit=2))
    )
    assert state == MemberState(registered=True, name="Ada", limit=2)
    given(member_decider, MemberRegistered(name="Ada", limit=2)).when(
        RegisterMember(name="Ada", limit=3)
    ).then_raises(MemberAlreadyRegistered)


def test_a_limit_changes_only_when_it_differs() -> None:
    registered = MemberRegistered(name="Ada", limit=2)
    given(member_decider, registered).when(ChangeLimit(limit=3)).then(MemberLimitChanged(limit=3))
    given(member_decider, registered).when(ChangeLimit(limit=2)).then()
    given(member_decider).when(ChangeLimit(limit=2)).then_raises(MemberUnknown)


def test_the_state_after_the_given_events_is_there_to_inspect() -> None:
    assert given(member_decider, MemberRegistered(name="Ada", limit=2)).state.limit == 2
    book = given(Book, SOLARIS, BookBorrowed(member=ADA)).aggregate
    assert (book.borrowed_by, book.version) == (ADA, "1")


# --- how failing scenarios report ------------------------------------------------------------


def test_other_events_than_expected_show_a_diff() -> None:
    with pytest.raises(ScenarioFailure) as caught:
        given(Book, SOLARIS, subject="/books/solaris").when(
            lambda book: book.borrow(ADA, open_loans=0, limit=2)
        ).then(BookBorrowed(member=GRACE))
    message = str(caught.value)
    assert message.startswith(
        "Book at /books/solaris: the recorded events differ from the expected ones\n"
    )
    assert '    BookAcquired {"title": "Solaris", "author": "Stanisław Lem"}' in message
    assert "  when: test_other_events_than_expected_show_a_diff.<locals>.<lambda>" in message
    assert '    - BookBorrowed {"member": "/members/grace"}' in message
    assert '    + BookBorrowed {"member": "/members/ada"}' in message
    assert isinstance(caught.value, AssertionError)


def test_missing_and_extra_events_are_reported() -> None:
    with pytest.raises(ScenarioFailure, match=r'\+ BookBorrowed \{"member": "/members/ada"\}'):
        given(Book, SOLARIS).when(lambda book: book.borrow(ADA, open_loans=0, limit=2)).then()
    with pytest.raises(ScenarioFailure, match=r'- BookReturned \{"member": "/members/ada"\}'):
        given(Book, SOLARIS).when(lambda book: None).then(BookReturned(member=ADA))


def test_an_unexpected_error_is_reported_and_chained() -> None:
    with pytest.raises(ScenarioFailure, match="raised BookAlreadyBorrowed") as caught:
        given(Book, SOLARIS, BookBorrowed(member=ADA)).when(
            lambda book: book.borrow(GRACE, open_loans=0, limit=2)
        ).then(BookBorrowed(member=GRACE))
    assert isinstance(caught.value.__cause__, BookAlreadyBorrowed)


def test_an_expected_error_that_does_not_come_is_reported_with_what_was_recorded() -> None:
    with pytest.raises(ScenarioFailure) as caught:
        given(Book, SOLARIS).when(lambda book: book.borrow(ADA, open_loans=0, limit=2)).then_raises(
            BookAlreadyBorrowed
        )
    message = str(caught.value)
    assert "expected BookAlreadyBorrowed, but nothing was raised" in message
    assert '  recorded instead:\n    BookBorrowed {"member": "/members/ada"}' in message


def test_another_error_or_message_than_expected_is_reported() -> None:
    scenario = given(Book, SOLARIS, BookBorrowed(member=ADA)).when(
        lambda book: book.borrow(GRACE, open_loans=0, limit=2)
    )
    with pytest.raises(ScenarioFailure, match="but BookAlreadyBorrowed was raised"):
        scenario.then_raises(BorrowingLimitReached)
    with pytest.raises(ScenarioFailure, match="its message does not match"):
        scenario.then_raises(BookAlreadyBorrowed, match="Kindred")
    error = scenario.then_raises(BookAlreadyBorrowed, match="Solaris")
    assert isinstance(error, BookAlreadyBorrowed)


def test_decider_failures_tell_the_command() -> None:
    with pytest.raises(ScenarioFailure) as caught:
        given(member_decider).when(RegisterMember(name="Ada", limit=2)).then(
            MemberRegistered(name="Ada", limit=3)
        )
    message = str(caught.value)
    assert message.startswith("the decider: the recorded events differ")
    assert "when: RegisterMember(name='Ada', limit=2)" in message
    assert '- MemberRegistered {"name": "Ada", "limit": 3}' in message
    with pytest.raises(ScenarioFailure, match="deciding raised MemberUnknown"):
        given(member_decider).when(ChangeLimit(limit=1)).then(MemberLimitChanged(limit=1))
    with pytest.raises(ScenarioFailure, match="nothing was raised"):
        given(member_decider).when(RegisterMember(name="A", limit=1)).then_raises(MemberUnknown)


def test_events_of_equal_data_but_another_type_differ() -> None:
    with pytest.raises(ScenarioFailure):
        given(Book, SOLARIS, BookBorrowed(member=ADA)).when(lambda book: book.give_back(ADA)).then(
            BookBorrowed(member=ADA)
        )


def test_a_history_the_aggregate_cannot_apply_fails_at_given() -> None:
    with pytest.raises(MissingHandlerError):
        given(Counter, Noted(text="no handler"))


def test_scenarios_check_their_use() -> None:
    with pytest.raises(InvalidArgumentError, match="when"):
        given(Book, SOLARIS).then()
    with pytest.raises(InvalidArgumentError, match="when"):
        given(member_decider).then()
    with pytest.raises(InvalidArgumentError, match="pydantic"):
        given(Book, "not an event")  # type: ignore[call-overload]
    with pytest.raises(InvalidArgumentError, match="Aggregate subclass or a Decider"):
        given(object)  # type: ignore[type-var]
    with pytest.raises(InvalidArgumentError, match="malformed"):
        given(Book, subject="books")
