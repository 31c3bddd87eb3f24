"""The framework's spans and metrics, for both twins: `load`, `save`, `update` attempts with their
conflicts and retries, decider `execute`, and the repository's counters."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import Sum
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from eventsourcingdb import Client
from eventsourcingdb.aggregates import AggregateConcurrencyError, Backoff, Repository
from eventsourcingdb.emulator import Emulator
from tests.aggregates.domain import REGISTRY, SOURCE, Add, Counter, Incremented, tally
from tests.telemetry.test_client_telemetry import Recorder
from tests.twins import Twin, new_repository, new_store, server_client

FAST = Backoff(initial=0.001, maximum=0.002)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(in_process=True) as server:
        yield server


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def client(emulator: Emulator, twin: Twin, recorder: Recorder) -> AsyncIterator[Client]:
    async with server_client(twin, emulator, telemetry=recorder.telemetry) as esdb:
        yield esdb


@pytest.fixture
async def repo(client: Client) -> Repository:
    store = new_store(client, source=SOURCE, registry=REGISTRY)
    await store.register_schemas()
    return new_repository(store, backoff=FAST)


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def counters(recorder: Recorder) -> dict[str, int]:
    data = recorder.reader.get_metrics_data()
    totals: dict[str, int] = {}
    if data is None:
        return totals
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if isinstance(metric.data, Sum):
                    totals[metric.name] = sum(int(p.value) for p in metric.data.data_points)
    return totals


async def test_an_update_that_lost_a_race_shows_each_attempt(
    repo: Repository, client: Client, recorder: Recorder
) -> None:
    await repo.update(Counter, "/counters/1", lambda counter: counter.increment(), create=True)
    recorder.exporter.clear()
    raced = False

    async def change(counter: Counter) -> None:
        nonlocal raced
        counter.increment(2)
        if not raced:  # someone else writes between this attempt's load and save
            raced = True
            await client.write_events(
                [
                    {
                        "source": SOURCE,
                        "subject": "/counters/1",
                        "type": "io.eventsourcingdb.tests.aggregates.incremented",
                        "data": {"by": 10},
                    }
                ]
            )

    tracer = recorder.telemetry.tracer_provider.get_tracer("test")  # type: ignore[union-attr]
    with tracer.start_as_current_span("request"):
        counter = await repo.update(Counter, "/counters/1", change)
    assert counter.value == 13
    spans = recorder.spans()
    (request,) = [s for s in spans if s.name == "request"]
    (update,) = children(spans, request)
    assert update.name == "update Counter"
    assert update.kind is SpanKind.INTERNAL
    attributes: dict[str, Any] = dict(update.attributes or {})
    assert attributes["eventsourcingdb.subject"] == "/counters/1"
    assert attributes["eventsourcingdb.aggregate.type"] == "Counter"
    assert (attributes["eventsourcingdb.attempts"], attributes["eventsourcingdb.conflicts"]) == (
        2,
        1,
    )
    (conflict,) = update.events
    assert conflict.name == "conflict"
    assert dict(conflict.attributes or {})["eventsourcingdb.retry"] == 1
    steps = [s.name.split(" ")[0] for s in children(spans, update)]
    assert steps == ["load", "write_events", "save", "load", "save"]  # the race: the change's
    loads = [s for s in children(spans, update) if s.name == "load Counter"]
    assert [s.name.split(" ")[0] for s in children(spans, loads[0])] == ["read_events"]
    saves = [s for s in children(spans, update) if s.name == "save"]
    assert saves[0].status.status_code is StatusCode.ERROR
    assert dict(saves[0].attributes or {})["error.type"] == (
        "eventsourcingdb.aggregates.AggregateConcurrencyError"
    )
    (write,) = children(spans, saves[1])
    assert write.kind is SpanKind.PRODUCER
    assert dict(saves[1].attributes or {})["eventsourcingdb.events.written"] == 1
    totals = counters(recorder)
    assert totals["eventsourcingdb.repository.conflicts"] == 1
    assert totals["eventsourcingdb.repository.retries"] == 1
    assert totals["eventsourcingdb.repository.writes"] == 2  # with the first update's
    assert totals["eventsourcingdb.repository.events"] == 2


async def test_an_update_that_runs_out_of_retries_says_so(
    repo: Repository, client: Client, recorder: Recorder
) -> None:
    await repo.update(Counter, "/counters/2", lambda counter: counter.increment(), create=True)

    async def always_raced(counter: Counter) -> None:
        counter.increment()
        await client.write_events(
            [
                {
                    "source": SOURCE,
                    "subject": "/counters/2",
                    "type": "io.eventsourcingdb.tests.aggregates.incremented",
                    "data": {"by": 1},
                }
            ]
        )

    with pytest.raises(AggregateConcurrencyError):
        await repo.update(Counter, "/counters/2", always_raced, retries=2)
    (update,) = [s for s in recorder.spans("update ") if s.status.status_code is StatusCode.ERROR]
    attributes = dict(update.attributes or {})
    assert (attributes["eventsourcingdb.attempts"], attributes["eventsourcingdb.conflicts"]) == (
        3,
        3,
    )
    assert [dict(e.attributes or {}).get("eventsourcingdb.retry") for e in update.events] == [
        1,
        2,
        None,
    ]


async def test_a_decider_execution_is_a_span_with_its_write(
    repo: Repository, recorder: Recorder
) -> None:
    result = await repo.execute(tally, "/tallies/1", Add(amount=3))
    assert [type(recorded.data) for recorded in result.events] == [Incremented]
    (execute,) = recorder.spans("execute")
    attributes = dict(execute.attributes or {})
    assert attributes["eventsourcingdb.subject"] == "/tallies/1"
    assert (
        attributes["eventsourcingdb.attempts"],
        attributes["eventsourcingdb.events.written"],
    ) == (
        1,
        1,
    )
    spans = recorder.spans()
    assert [s.name.split(" ")[0] for s in children(spans, execute)] == [
        "read_events",
        "write_events",
    ]
