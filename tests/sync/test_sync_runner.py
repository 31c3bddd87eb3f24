"""What only the blocking projections runner has: a blocking application end to end, signals and
stopping from other threads, its thread's life, and mixing up the twins.

Everything it shares with the async runner (catch-up, live, checkpoints, parking, leases,
rebuilds, read-your-writes) runs against both in `tests/projections`.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from eventsourcingdb import AsyncMismatchError, InvalidArgumentError
from eventsourcingdb.emulator import Emulator
from eventsourcingdb.models import EventStore as AsyncEventStore
from eventsourcingdb.models import RecordedEvent
from eventsourcingdb.projections import Phase, Projection, SqlCheckpointStore, handles
from eventsourcingdb.projections import Runner as AsyncRunner
from eventsourcingdb.sync import EventStore, Runner
from tests.projections.domain import REGISTRY, SOURCE, BookBorrowed, OnLoan, SyncSqlOnLoan

Thread = threading.Thread


@pytest.fixture(params=["in-process", "socket"])
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    with Emulator(in_process=request.param == "in-process") as server:
        yield server


@pytest.fixture
def store(emulator: Emulator) -> Iterator[EventStore]:
    with emulator.get_sync_client() as client:
        yield EventStore(client, source=SOURCE, registry=REGISTRY)


def lend(store: EventStore, books: range, member: str = "/members/ada") -> str:
    last = ""
    for number in books:
        (written,) = store.append(f"/books/{number}", BookBorrowed(member=member))
        last = written.event_id
    return last


def test_a_blocking_application_reads_its_own_writes(store: EventStore, tmp_path: Path) -> None:
    database = tmp_path / "read-models.db"
    checkpoints = SqlCheckpointStore.from_url(f"sqlite+aiosqlite:///{database}")
    projection = SyncSqlOnLoan()
    runner = Runner(store, checkpoints=checkpoints)
    runner.add(projection)
    with runner:
        last = lend(store, range(3))
        runner.wait_for(last)
        assert runner.status()[projection.name].phase is Phase.LIVE
        reader = sa.create_engine(f"sqlite:///{database}")  # the application's blocking engine
        with reader.connect() as connection:
            rows = connection.execute(sa.text(f"SELECT book, member FROM {projection.table.name}"))
            assert sorted(rows) == [(f"/books/{n}", "/members/ada") for n in range(3)]
        reader.dispose()
        more = lend(store, range(3, 5), "/members/grace")
        runner.wait_for(more)
    assert not runner.running
    runner.close()
    runner.close()  # twice is fine
    with pytest.raises(InvalidArgumentError, match="closed"):
        runner.start()


def test_request_stop_from_another_thread_ends_run(store: EventStore) -> None:
    last = lend(store, range(2))
    runner = Runner(store)
    on_loan = runner.add(OnLoan())

    def stop_when_caught_up() -> None:
        runner.wait_for(last)
        runner.request_stop()

    stopper = Thread(target=stop_when_caught_up)
    stopper.start()
    runner.run(handle_signals=False)
    stopper.join(10)
    assert not runner.running
    assert on_loan.loans == {"/books/0": "/members/ada", "/books/1": "/members/ada"}
    runner.close()


def test_run_stops_cleanly_on_sigterm_in_the_main_thread(store: EventStore) -> None:
    assert threading.current_thread() is threading.main_thread()
    last = lend(store, range(2))
    runner = Runner(store)
    on_loan = runner.add(OnLoan())
    previous = signal.getsignal(signal.SIGTERM)

    def terminate() -> None:
        runner.wait_for(last)
        os.kill(os.getpid(), signal.SIGTERM)

    Thread(target=terminate).start()
    started = time.monotonic()
    runner.run()
    assert time.monotonic() - started < 20
    assert on_loan.status.phase is Phase.STOPPED
    assert signal.getsignal(signal.SIGTERM) is previous, "the handler is put back"
    runner.close()


def test_the_runner_thread_ends_with_close(store: EventStore) -> None:
    before = set(threading.enumerate())
    runner = Runner(store)
    runner.add(OnLoan())
    runner.start()
    assert len(set(threading.enumerate()) - before) >= 1, "the runner's loop has a thread"
    runner.close()
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert set(threading.enumerate()) - before == set()


def test_the_blocking_runner_refuses_what_it_cannot_use(emulator: Emulator) -> None:
    with pytest.raises(AsyncMismatchError, match=r"eventsourcingdb\.sync\.EventStore"):
        Runner(AsyncEventStore(emulator.get_client(), source=SOURCE))  # type: ignore[arg-type]
    with (
        httpx.Client() as http,
        emulator.get_sync_client(http_client=http) as client,
        pytest.raises(InvalidArgumentError, match="without http_client or transport"),
    ):
        Runner(EventStore(client, source=SOURCE))


class Impatient(Projection):
    """Calls its own runner from a handler, as a mistake would."""

    subject = "/books"

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.refused: list[BaseException] = []
        self.phases: list[Phase] = []

    @handles(BookBorrowed)
    def _borrowed(self, event: RecordedEvent[BookBorrowed]) -> None:
        self.phases.append(self.runner.status()[self.name].phase)  # reading the status works
        calls: list[Callable[[], None]] = [
            lambda: self.runner.wait_for(event.event_id),
            self.runner.close,
        ]
        for call in calls:
            try:
                call()
            except AsyncMismatchError as error:
                self.refused.append(error)


def test_a_handler_calling_its_own_runner_is_refused_instead_of_hanging(
    store: EventStore,
) -> None:
    last = lend(store, range(1))
    runner = Runner(store)
    impatient = runner.add(Impatient(runner))
    with runner:
        runner.wait_for(last)
    runner.close()
    assert impatient.phases, "the handler ran"
    assert len(impatient.refused) == 2
    for error in impatient.refused:
        assert "called from a handler of that runner" in str(error)
        assert "another thread" in str(error)


def test_the_async_runner_refuses_a_blocking_store(store: EventStore) -> None:
    with pytest.raises(AsyncMismatchError, match=r"needs the async eventsourcingdb\.models"):
        AsyncRunner(store)  # type: ignore[arg-type]
