"""What mypy --strict sees of the projections layer, locked down with `assert_type`.

mypy checks this file; pytest runs it too, against the in-process emulator, so every assertion is
also true at run time. Lines marked `type: ignore[...]` must stay errors: with
`warn_unused_ignores` mypy fails if one of them is accepted.
"""

from __future__ import annotations

from typing import assert_type

import pytest
from pydantic import BaseModel

from eventsourcingdb.client import Client
from eventsourcingdb.models import EventRegistry, EventStore, RecordedEvent
from eventsourcingdb.projections import (
    Checkpoint,
    ParkedEvent,
    Phase,
    Projection,
    ProjectionDefinitionError,
    ProjectionStatus,
    Runner,
    RunnerStatus,
    handles,
)
from eventsourcingdb.projections.testing import ProjectionScenario, at, given

REGISTRY = EventRegistry()
SOURCE = "https://typing.eventsourcingdb.io"


@REGISTRY.event_type("io.eventsourcingdb.typing.projections.book-borrowed")
class BookBorrowed(BaseModel):
    member: str


class OnLoan(Projection):
    subject = "/books"

    def __init__(self) -> None:
        self.loans: dict[str, str] = {}

    @handles(BookBorrowed)
    def _borrowed(self, event: RecordedEvent[BookBorrowed]) -> None:
        self.loans[event.subject] = event.data.member


async def test_the_runner_hands_back_what_it_was_given(esdb_client: Client) -> None:
    store = EventStore(esdb_client, source=SOURCE, registry=REGISTRY)
    runner = Runner(store)
    on_loan = runner.add(OnLoan())
    assert_type(on_loan, OnLoan)
    assert_type(runner.projection("on-loan"), Projection)
    async with runner:
        written = await store.append("/books/1", BookBorrowed(member="/members/ada"))
        await on_loan.wait_for(written[0].event_id)
        assert_type(on_loan.status, ProjectionStatus)
        assert_type(runner.status(), RunnerStatus)
        assert_type(on_loan.status.phase, Phase)
        assert_type(await runner.parked("on-loan"), list[ParkedEvent])
    assert on_loan.loans == {"/books/1": "/members/ada"}
    with pytest.raises(ProjectionDefinitionError):
        runner.add("not a projection")  # type: ignore[type-var]


async def test_scenarios_keep_the_projections_type() -> None:
    scenario = given(OnLoan, at("/books/1", BookBorrowed(member="ada")), registry=REGISTRY)
    assert_type(scenario, ProjectionScenario[OnLoan])
    checked = await scenario.then(lambda projection: "/books/1" in projection.loans)
    assert_type(checked, OnLoan)
    state = await scenario.then_idempotent(lambda projection: dict(projection.loans))
    assert_type(state, dict[str, str])

    async def count(projection: OnLoan) -> int:
        return len(projection.loans)

    assert_type(await scenario.then_idempotent(count), int)
    assert_type(Checkpoint("1", "h").position, int)
