"""One trace from a web request to the read model, for both twins, over the in-process emulator
and on a socket: the request's SERVER span, `update` with its load and save, the write (PRODUCER),
and the projection handling the written event (CONSUMER), whose parent is the write."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.trace import SpanKind

from eventsourcingdb.aggregates import Aggregate, Backoff, handles
from eventsourcingdb.emulator import Emulator
from tests.projections.domain import PREFIX, REGISTRY, SOURCE, BookBorrowed, OnLoan
from tests.telemetry.test_client_telemetry import Recorder
from tests.twins import AsyncFace, Twin, new_repository, new_runner, new_store, server_client


class Book(Aggregate):
    """A book that members borrow, written with the projection tests' events."""

    member: str | None = None

    def lend(self, member: str) -> None:
        self.record(BookBorrowed(member=member))

    @handles(BookBorrowed)
    def _borrowed(self, event: BookBorrowed) -> None:
        self.member = event.member


@pytest.fixture(params=["in-process", "socket"])
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    with Emulator(in_process=request.param == "in-process") as server:
        yield server


async def test_a_request_its_update_its_write_and_the_projection_are_one_trace(
    emulator: Emulator, twin: Twin
) -> None:
    recorder = Recorder()
    tracer = recorder.telemetry.tracer_provider.get_tracer("web")  # type: ignore[union-attr]
    async with server_client(twin, emulator, telemetry=recorder.telemetry) as client:
        store = new_store(client, source=SOURCE, registry=REGISTRY)
        repository = new_repository(store)
        runner = new_runner(store, reconnect=Backoff(initial=0.01, maximum=0.05))
        try:
            on_loan = runner.add(OnLoan())
            with tracer.start_as_current_span("POST /books/{id}/loan", kind=SpanKind.SERVER):
                book = await repository.update(
                    Book, "/books/1", lambda book: book.lend("/members/ada"), create=True
                )
            await runner.start()
            assert book.version is not None
            await runner.wait_for(book.version)
            await runner.stop()
        finally:
            if isinstance(runner, AsyncFace):
                runner.blocking.close()
    assert on_loan.loans == {"/books/1": "/members/ada"}

    spans = recorder.spans()
    (request,) = [span for span in spans if span.kind is SpanKind.SERVER]
    assert recorder.tree(request) == [
        "POST /books/{id}/loan SERVER",
        "  update Book INTERNAL",
        "    load Book INTERNAL",
        "      read_events CLIENT",
        "    save INTERNAL",
        "      write_events PRODUCER",
        "        process " + PREFIX + ".book-borrowed CONSUMER",
    ]
    (handled,) = [span for span in spans if span.name.startswith("process ")]
    (write,) = [span for span in spans if span.kind is SpanKind.PRODUCER]
    assert handled.context is not None
    assert request.context is not None
    assert handled.context.trace_id == request.context.trace_id
    assert dict(handled.attributes or {})["eventsourcingdb.projection"] == on_loan.name
    (batch,) = [span for span in spans if span.name == f"batch {on_loan.name}"]
    assert write.context is not None
    assert [link.context.span_id for link in batch.links] == [write.context.span_id]
