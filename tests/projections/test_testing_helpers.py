"""Projection specifications without a server: given events, then the read model; idempotency."""

from __future__ import annotations

from typing import Any

import pytest

from eventsourcingdb.errors import InvalidArgumentError
from eventsourcingdb.models import RecordedEvent
from eventsourcingdb.projections import Projection, SqlCheckpointStore, handles
from eventsourcingdb.projections.testing import ScenarioFailure, at, given
from tests.projections.domain import (
    REGISTRY,
    BookAcquired,
    BookBorrowed,
    BookLent,
    BookReturned,
    OnLoan,
    SqlOnLoan,
    table_rows,
)


class Counting(Projection):
    """Counts loans, without a care for redelivery: not idempotent."""

    subject = "/books"

    def __init__(self) -> None:
        self.loans = 0

    @handles(BookBorrowed)
    def _borrowed(self, event: RecordedEvent[BookBorrowed]) -> None:
        self.loans += 1


async def test_given_events_then_the_read_model() -> None:
    on_loan = await given(
        OnLoan(),
        at("/books/1", BookBorrowed(member="/members/ada")),
        at("/books/2", BookBorrowed(member="/members/grace")),
        at("/books/1", BookReturned(member="/members/ada")),
        at("/members/ada", BookBorrowed(member="not under /books")),
        registry=REGISTRY,
    ).then(lambda projection: projection.loans == {"/books/2": "/members/grace"})
    assert on_loan.seen == ["0", "1", "2"], "event ids count from 0; /members/ada not delivered"


async def test_bare_events_go_to_the_projections_subject_or_the_one_given() -> None:
    async def check(projection: OnLoan) -> None:
        assert projection.loans == {"/books/7": "/members/ada"}

    await given(
        OnLoan, BookBorrowed(member="/members/ada"), subject="/books/7", registry=REGISTRY
    ).then(check)
    await given(OnLoan, BookBorrowed(member="/members/ada"), registry=REGISTRY).then(
        lambda projection: projection.loans == {"/books": "/members/ada"}
    )


async def test_retired_event_types_are_upcast_as_on_a_read() -> None:
    await given(OnLoan, at("/books/1", BookLent(borrower="/members/old")), registry=REGISTRY).then(
        lambda projection: projection.loans == {"/books/1": "/members/old"}
    )


async def test_a_failed_check_tells_the_story() -> None:
    scenario = given(OnLoan, at("/books/1", BookBorrowed(member="/members/ada")), registry=REGISTRY)
    with pytest.raises(ScenarioFailure) as failure:
        await scenario.then(lambda projection: projection.loans == {})
    message = str(failure.value)
    assert message.startswith("OnLoan: the check returned False")
    assert '/books/1 BookBorrowed {"member": "/members/ada"}' in message

    def asserting(projection: OnLoan) -> None:
        assert projection.loans == {}, "no loans expected"

    with pytest.raises(ScenarioFailure, match="the check failed: no loans expected"):
        await scenario.then(asserting)


async def test_replaying_twice_finds_handlers_that_are_not_idempotent() -> None:
    events = [at("/books/1", BookBorrowed(member="/members/ada"))]
    state = await given(OnLoan, *events, registry=REGISTRY).then_idempotent(
        lambda projection: dict(projection.loans)
    )
    assert state == {"/books/1": "/members/ada"}
    with pytest.raises(ScenarioFailure) as failure:
        await given(Counting, *events, registry=REGISTRY).then_idempotent(
            lambda projection: projection.loans
        )
    assert "delivered twice leave another state" in str(failure.value)
    assert "once:  1\n  twice: 2" in str(failure.value)


async def test_a_sql_read_model_is_specified_with_a_sql_store(
    sqlite_checkpoints: SqlCheckpointStore,
) -> None:
    engine = sqlite_checkpoints.engine

    async def rows(projection: SqlOnLoan) -> list[tuple[Any, ...]]:
        return await table_rows(engine, projection.table)

    scenario = given(
        SqlOnLoan,
        at("/books/1", BookBorrowed(member="/members/ada")),
        at("/books/1", BookReturned(member="/members/ada")),
        at("/books/1", BookBorrowed(member="/members/grace")),
        registry=REGISTRY,
        checkpoints=sqlite_checkpoints,
    )
    model = await scenario.then(lambda projection: projection.table.name == "on_loan")
    assert await rows(model) == [("/books/1", "/members/grace", 2)]
    assert await sqlite_checkpoints.load("sql-on-loan") is not None
    with pytest.raises(ScenarioFailure, match="twice"):  # it counts loans: not idempotent
        await scenario.then_idempotent(rows)


async def test_a_handler_that_refuses_an_event_is_specified_too() -> None:
    class Strict(Projection):
        subject = "/books"

        @handles(BookAcquired)
        def _acquired(self, event: RecordedEvent[BookAcquired]) -> None:
            if not event.data.title:
                raise ValueError("a book needs a title")

    error = await given(
        Strict, at("/books/1", BookAcquired(title="")), registry=REGISTRY
    ).then_raises(ValueError, match="needs a title")
    assert isinstance(error, ValueError)
    with pytest.raises(ScenarioFailure, match="nothing was raised"):
        await given(
            Strict, at("/books/1", BookAcquired(title="Dune")), registry=REGISTRY
        ).then_raises(ValueError)
    with pytest.raises(ScenarioFailure, match="a handler raised ValueError"):
        await given(Strict, at("/books/1", BookAcquired(title="")), registry=REGISTRY).then(
            lambda projection: True
        )


def test_scenarios_check_their_input() -> None:
    with pytest.raises(InvalidArgumentError, match="not declared"):
        given(OnLoan, at("/books/1", BookBorrowed(member="x")))  # the default registry
    with pytest.raises(InvalidArgumentError, match="malformed"):
        at("books", BookBorrowed(member="x"))
    with pytest.raises(InvalidArgumentError, match="event model"):
        at("/books/1", {"member": "x"})  # type: ignore[arg-type]
