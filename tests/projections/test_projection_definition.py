"""Mistakes in a projection are typed errors when the class is made or added, before it runs."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from eventsourcingdb.errors import InvalidArgumentError
from eventsourcingdb.models import EventStore, RecordedEvent
from eventsourcingdb.projections import (
    DuplicateProjectionError,
    OnError,
    OnStoreMismatch,
    Projection,
    ProjectionDefinitionError,
    Reactor,
    UndeclaredEventTypeError,
    handles,
)
from tests.projections.domain import BookBorrowed, BookReturned, OnLoan, _Event

Make = Any


class Undeclared(BaseModel):
    """A model no registry knows."""

    text: str


def test_the_name_defaults_to_the_class_name_in_kebab_case() -> None:
    class BooksOnLoan(Projection):
        subject = "/books"

    class HTTPFeed(Projection):
        subject = "/books"

    class Named(Projection):
        subject = "/books"
        name = "books.v2"

    assert BooksOnLoan().name == "books-on-loan"
    assert HTTPFeed().name == "http-feed"
    assert Named().name == "books.v2"
    assert repr(Named()) == "<Named 'books.v2' subject='/books'>"


def test_a_malformed_subject_is_refused_when_the_class_is_made() -> None:
    with pytest.raises(ProjectionDefinitionError, match="malformed"):

        class Broken(Projection):
            subject = "books"


def test_options_are_checked_when_the_class_is_made() -> None:
    with pytest.raises(ProjectionDefinitionError, match="batch_size"):

        class Zero(Projection):
            subject = "/books"
            batch_size = 0

    with pytest.raises(ProjectionDefinitionError, match=r"OnError\.STOP"):

        class Stringly(Projection):
            subject = "/books"
            on_error = "stop"  # type: ignore[assignment]

    with pytest.raises(ProjectionDefinitionError, match="batch_seconds"):

        class Negative(Projection):
            subject = "/books"
            batch_seconds = -1

    with pytest.raises(ProjectionDefinitionError, match="recursive"):

        class Vague(Projection):
            subject = "/books"
            recursive = 1  # type: ignore[assignment]

    with pytest.raises(ProjectionDefinitionError, match="retry_backoff"):

        class Impatient(Projection):
            subject = "/books"
            retry_backoff = 0.1  # type: ignore[assignment]

    with pytest.raises(ProjectionDefinitionError, match="name"):

        class Spaced(Projection):
            subject = "/books"
            name = "has spaces"


def test_a_handler_takes_the_event_and_perhaps_the_transaction() -> None:
    with pytest.raises(ProjectionDefinitionError, match=r"\(self, event\) or \(self, event, tx\)"):

        class TooMany(Projection):
            subject = "/books"

            @handles(BookBorrowed)
            async def _borrowed(self, event: Any, tx: Any, extra: Any) -> None:
                pass

    with pytest.raises(ProjectionDefinitionError, match="staticmethod"):

        class Static(Projection):
            subject = "/books"

            @staticmethod
            @handles(BookBorrowed)
            def _borrowed(event: Any) -> None:
                pass

    with pytest.raises(ProjectionDefinitionError, match="twice"):

        class Twice(Projection):
            subject = "/books"

            @handles(BookBorrowed)
            def _one(self, event: Any) -> None:
                pass

            @handles(BookBorrowed)
            def _two(self, event: Any) -> None:
                pass


def test_machinery_names_cannot_be_replaced() -> None:
    with pytest.raises(ProjectionDefinitionError, match="'wait_for'"):

        class Clash(Projection):
            subject = "/books"

            async def wait_for(self, event_id: str, *, timeout: float | None = 1) -> None:  # noqa: ASYNC109
                pass


def test_a_subclass_overrides_or_drops_a_handler_of_its_base() -> None:
    class Base(Projection):
        subject = "/books"

        @handles(BookBorrowed)
        def _borrowed(self, event: Any) -> None:
            pass

        @handles(BookReturned)
        def _returned(self, event: Any) -> None:
            pass

    class Child(Base):
        @handles(BookBorrowed)
        async def _lent(self, event: Any, tx: Any) -> None:
            pass

        _returned = None  # type: ignore[assignment]

    handlers = Child._spec.handlers
    assert handlers[BookBorrowed].name == "_lent"
    assert handlers[BookBorrowed].is_async
    assert handlers[BookBorrowed].takes_tx
    assert BookReturned not in handlers


def test_a_reactor_commits_after_every_event() -> None:
    class Notices(Reactor):
        subject = "/books"

    assert Notices().batch_size == 1
    assert Notices().name == "notices"


async def test_adding_finds_every_mistake_before_anything_runs(
    store: EventStore, make_runner: Make
) -> None:
    runner = make_runner()
    with pytest.raises(ProjectionDefinitionError, match="Projection"):
        runner.add(object())

    class NoSubject(Projection):
        pass

    with pytest.raises(ProjectionDefinitionError, match="declares no subject"):
        runner.add(NoSubject())

    class Stray(Projection):
        subject = "/notes"

        @handles(Undeclared)
        def _noted(self, event: RecordedEvent[Undeclared]) -> None:
            pass

    with pytest.raises(UndeclaredEventTypeError, match="does not declare") as undeclared:
        runner.add(Stray())
    assert undeclared.value.model is Undeclared
    assert undeclared.value.projection == "stray"

    class Unresettable(Projection):
        subject = "/books"
        on_store_mismatch = OnStoreMismatch.REBUILD

    with pytest.raises(ProjectionDefinitionError, match="no reset"):
        runner.add(Unresettable())

    one = OnLoan()
    runner.add(one)
    with pytest.raises(DuplicateProjectionError, match="'on-loan' already") as duplicate:
        runner.add(OnLoan())
    assert duplicate.value.name == "on-loan"
    with pytest.raises(ProjectionDefinitionError, match="in a runner already"):
        make_runner().add(one)
    assert isinstance(duplicate.value, InvalidArgumentError)
    assert runner.projections == (one,)
    assert not runner.running


async def test_a_handler_of_a_base_model_takes_every_declared_subclass(
    store: EventStore, make_runner: Make
) -> None:
    class Everything(Projection):
        subject = "/"
        on_error = OnError.PARK

        @handles(_Event)
        def _any(self, event: Any) -> None:
            pass

    make_runner().add(Everything())


async def test_an_instance_may_set_its_own_options(store: EventStore, make_runner: Make) -> None:
    second = OnLoan()
    second.name = "on-loan-v2"
    second.subject = "/library/books"
    runner = make_runner()
    runner.add(OnLoan())
    runner.add(second)
    assert runner.projection("on-loan-v2") is second
    second_bad = OnLoan()
    second_bad.name = "third"
    second_bad.subject = "no-slash"
    with pytest.raises(ProjectionDefinitionError, match="malformed"):
        runner.add(second_bad)
