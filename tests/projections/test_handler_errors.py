"""Failing handlers: retried with backoff, then the projection stops, or the event is parked.

The position of a failed event is never lost: the checkpoint stays before it, or the event is
parked (with its error) in the same transaction that moves the checkpoint past it.
"""

from __future__ import annotations

from typing import Any

import pytest

from eventsourcingdb.models import EventDecodingError, EventStore, RecordedEvent
from eventsourcingdb.projections import (
    CheckpointStore,
    OnError,
    ParkedEventNotFoundError,
    Phase,
    ProjectionFailedError,
    RetryReason,
    SqlCheckpointStore,
    handles,
)
from tests.projections.conftest import FAST
from tests.projections.domain import SOURCE, BookBorrowed, OnLoan, SqlOnLoan, lend, table_rows
from tests.projections.test_runner import Recorder

Make = Any


class Faulty(SqlOnLoan):
    """Fails on the books in `broken`, `failures` times each (forever with None)."""

    retry_backoff = FAST

    def __init__(self, broken: set[str], failures: int | None = None) -> None:
        super().__init__()
        self.broken = broken
        self.failures = failures
        self.calls: dict[str, int] = {}

    @handles(BookBorrowed)
    async def _borrowed(self, event: RecordedEvent[BookBorrowed], tx: Any) -> None:
        self.calls[event.subject] = self.calls.get(event.subject, 0) + 1
        await super()._borrowed(event, tx)  # written, then rolled back if we fail
        if event.subject in self.broken and (
            self.failures is None or self.calls[event.subject] <= self.failures
        ):
            raise KeyError(f"no shelf for {event.subject}")


async def _lend(store: EventStore, count: int) -> list[str]:
    """The ids of `count` loans, of /books/0 and on."""
    await lend(store, range(count))
    return [str(n) for n in range(count)]


async def test_a_handler_that_keeps_failing_stops_the_projection_before_its_event(
    store: EventStore, make_runner: Make, sql_checkpoints: SqlCheckpointStore
) -> None:
    ids = await _lend(store, 5)
    metrics = Recorder()
    runner = make_runner(checkpoints=sql_checkpoints, metrics=metrics)
    model = runner.add(Faulty({"/books/2"}))
    async with runner:
        with pytest.raises(ProjectionFailedError) as failed:
            await model.wait_for(ids[-1])
        status = model.status
    error = failed.value
    assert error.event_id == ids[2]
    assert isinstance(error.cause, KeyError)
    assert isinstance(error.__cause__, KeyError)
    assert "Its checkpoint stays before the event" in str(error)
    assert "4 attempts" in str(error)
    assert status.phase is Phase.FAILED
    assert status.error is error
    assert not runner.status().healthy
    assert status.position == ids[1], "the events before the failing one committed"
    saved = await sql_checkpoints.load("faulty")
    assert saved is not None
    assert saved.event_id == ids[1], "the checkpoint stays right before the failed event"
    rows = await table_rows(sql_checkpoints.engine, model.table)
    assert [row[0] for row in rows] == ["/books/0", "/books/1"], "nothing of the failed event"
    assert model.calls["/books/2"] == 1 + 1 + 3, "once in the batch, then alone with 3 retries"
    assert metrics.retries.count(("faulty", RetryReason.HANDLER)) == 3

    fixed = make_runner(checkpoints=sql_checkpoints)
    repaired = fixed.add(Faulty(set()))
    async with fixed:
        await repaired.wait_for(ids[-1])
    assert repaired.calls == {f"/books/{n}": 1 for n in range(2, 5)}, "resumed at the failed event"
    rows = await table_rows(sql_checkpoints.engine, model.table)
    assert [(book, times) for book, _, times in rows] == [(f"/books/{n}", 1) for n in range(5)]


async def test_a_handler_that_recovers_applies_its_event_exactly_once(
    store: EventStore, make_runner: Make, sql_checkpoints: SqlCheckpointStore
) -> None:
    ids = await _lend(store, 4)
    runner = make_runner(checkpoints=sql_checkpoints)
    model = runner.add(Faulty({"/books/1"}, failures=2))
    async with runner:
        await model.wait_for(ids[-1])
        assert model.status.retries == 1, "failed in the batch, then once alone, then worked"
    rows = await table_rows(sql_checkpoints.engine, model.table)
    assert [(book, times) for book, _, times in rows] == [
        ("/books/0", 1),
        ("/books/1", 1),
        ("/books/2", 1),
        ("/books/3", 1),
    ]


async def test_parked_events_are_set_aside_and_can_be_retried(
    store: EventStore, make_runner: Make, sql_checkpoints: SqlCheckpointStore
) -> None:
    ids = await _lend(store, 4)
    runner = make_runner(checkpoints=sql_checkpoints)
    faulty = Faulty({"/books/1", "/books/2"})
    faulty.on_error = OnError.PARK
    faulty.retries = 1
    model = runner.add(faulty)
    async with runner:
        await model.wait_for(ids[-1])
        assert model.status.phase is Phase.LIVE
        parked = await runner.parked("faulty")
        assert [(p.event_id, p.subject, p.attempts) for p in parked] == [
            (ids[1], "/books/1", 2),
            (ids[2], "/books/2", 2),
        ]
        assert parked[0].error_type == "builtins.KeyError"
        assert "no shelf for /books/1" in parked[0].error
        assert parked[0].event_type == "io.eventsourcingdb.tests.projections.book-borrowed"
        rows = await table_rows(sql_checkpoints.engine, model.table)
        assert [row[0] for row in rows] == ["/books/0", "/books/3"]

        with pytest.raises(ParkedEventNotFoundError):
            await runner.retry_parked("faulty", "999")
        model.broken.discard("/books/2")
        still = await runner.retry_parked("faulty")
        assert [(p.event_id, p.attempts) for p in still] == [(ids[1], 3)]
        model.broken.clear()
        assert await runner.retry_parked("faulty", ids[1]) == []
    rows = await table_rows(sql_checkpoints.engine, model.table)
    assert [row[0] for row in rows] == [f"/books/{n}" for n in range(4)]


async def test_data_its_model_refuses_is_a_handler_failure(
    store: EventStore, make_runner: Make, checkpoints: CheckpointStore
) -> None:
    await _lend(store, 1)
    written = await store.client.write_events(
        [
            {
                "source": SOURCE,
                "subject": "/books/9",
                "type": "io.eventsourcingdb.tests.projections.book-borrowed",
                "data": {"borrower": "not the field the model has"},
            }
        ]
    )
    runner = make_runner(checkpoints=checkpoints)
    on_loan = OnLoan()
    on_loan.retries = 0
    runner.add(on_loan)
    async with runner:
        with pytest.raises(ProjectionFailedError) as failed:
            await on_loan.wait_for(written[0].event_id)
    assert isinstance(failed.value.cause, EventDecodingError)
    assert failed.value.event_id == written[0].event_id
    assert on_loan.status.position == "0"
    assert on_loan.loans == {"/books/0": "/members/ada"}
