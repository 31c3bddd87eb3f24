"""OpenTelemetry of the client, for both twins: a span per call following the database client
conventions, the trace context written into the events, and the duration metric.

Spans and metrics are read back through the SDK's in-memory exporter and reader, with providers
given to the client (`Telemetry(tracer_provider=..., meter_provider=...)`), so no global state
is touched; tests/telemetry/test_global_providers.py checks the global ones in a subprocess.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from eventsourcingdb import (
    Client,
    ConcurrencyError,
    EventCandidate,
    IsSubjectPristine,
    ObserveEventsOptions,
    ReadEventsOptions,
)
from eventsourcingdb.emulator import Emulator
from eventsourcingdb.telemetry import Telemetry, consuming
from tests.twins import Twin, server_client

SOURCE = "https://library.eventsourcingdb.io"
ACQUIRED = "io.eventsourcingdb.library.book-acquired"
SECRET_TITLE = "The Secret Title"


def book(subject: str = "/books/42", **extra: Any) -> dict[str, Any]:
    return {
        "source": SOURCE,
        "subject": subject,
        "type": ACQUIRED,
        "data": {"title": SECRET_TITLE},
        **extra,
    }


class Recorder:
    """The SDK's in-memory span exporter and metric reader, and the `Telemetry` that uses them."""

    def __init__(self, **settings: Any) -> None:
        self.exporter = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        meter_provider = MeterProvider(metric_readers=[self.reader])
        self.telemetry = Telemetry(
            tracer_provider=tracer_provider, meter_provider=meter_provider, **settings
        )

    def spans(self, name_prefix: str = "") -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.name.startswith(name_prefix)]

    def one(self, operation: str) -> ReadableSpan:
        (span,) = [
            s
            for s in self.spans()
            if s.attributes and s.attributes.get("db.operation.name") == operation
        ]
        return span

    def tree(self, root: ReadableSpan, depth: int = 0) -> list[str]:
        """`root` and its descendants in the order they started, as `name KIND` lines indented
        by depth; a client call's span shows as its operation (`read_events`), without the
        server's address."""
        assert root.context is not None
        operation = (root.attributes or {}).get("db.operation.name")
        name = root.name if operation is None else operation
        lines = ["  " * depth + f"{name} {root.kind.name}"]
        for child in sorted(self.spans(), key=lambda span: span.start_time or 0):
            if child.parent is not None and child.parent.span_id == root.context.span_id:
                lines.extend(self.tree(child, depth + 1))
        return lines

    def durations(self) -> list[dict[str, Any]]:
        """The data points of `db.client.operation.duration`: their attributes and count."""
        data = self.reader.get_metrics_data()
        points: list[dict[str, Any]] = []
        if data is None:
            return points
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name != "db.client.operation.duration":
                        continue
                    for point in metric.data.data_points:
                        assert isinstance(point, HistogramDataPoint)
                        points.append({**dict(point.attributes or {}), "count": point.count})
        return points


@pytest.fixture(params=[True, False], ids=["in-process", "socket"])
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    with Emulator(in_process=request.param).with_signing_key() as server:
        yield server


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def client(emulator: Emulator, twin: Twin, recorder: Recorder) -> AsyncIterator[Client]:
    async with server_client(twin, emulator, telemetry=recorder.telemetry) as esdb:
        yield esdb


def all_values(span: ReadableSpan) -> str:
    """Everything a span carries, as text, to look for what must never be in it."""
    parts = [span.name, json.dumps(dict(span.attributes or {}), default=str)]
    parts += [json.dumps(dict(event.attributes or {}), default=str) for event in span.events]
    parts.append(str(span.status.description))
    return "\n".join(parts)


async def test_every_call_is_a_span_of_the_database_conventions(
    client: Client, recorder: Recorder, emulator: Emulator
) -> None:
    await client.ping()
    await client.verify_api_token()
    await client.write_events([book(), book("/books/7")])
    assert (
        len([e async for e in client.read_events("/books", ReadEventsOptions(recursive=True))]) == 2
    )
    async for _ in client.observe_events("/books/42"):
        break
    assert [row async for row in client.run_eventql_query("FROM e IN events PROJECT INTO e.id")]
    lost = {"type": "object", "properties": {"title": {"type": "string"}}}
    await client.register_event_schema("io.eventsourcingdb.library.book-lost", lost)
    assert [s async for s in client.read_subjects("/")]
    assert [t async for t in client.read_event_types()]
    await client.read_event_type(ACQUIRED)
    operations = {
        "ping": SpanKind.CLIENT,
        "verify_api_token": SpanKind.CLIENT,
        "write_events": SpanKind.PRODUCER,
        "read_events": SpanKind.CLIENT,
        "observe_events": SpanKind.CONSUMER,
        "run_eventql_query": SpanKind.CLIENT,
        "register_event_schema": SpanKind.CLIENT,
        "read_subjects": SpanKind.CLIENT,
        "read_event_types": SpanKind.CLIENT,
        "read_event_type": SpanKind.CLIENT,
    }
    host, port = emulator.get_host(), emulator.get_mapped_port()
    for operation, kind in operations.items():
        span = recorder.one(operation)
        assert span.kind is kind, operation
        assert span.name == f"{operation} {host}:{port}"
        attributes = dict(span.attributes or {})
        assert attributes["db.system.name"] == "eventsourcingdb"
        assert attributes["server.address"] == host
        assert attributes["server.port"] == port
        assert span.status.status_code is StatusCode.UNSET, operation
    written = dict(recorder.one("write_events").attributes or {})
    assert written["db.operation.batch.size"] == 2
    assert "eventsourcingdb.subject" not in written  # two subjects
    read = dict(recorder.one("read_events").attributes or {})
    assert read["eventsourcingdb.subject"] == "/books"
    assert read["db.response.returned_rows"] == 2
    assert (
        dict(recorder.one("read_event_type").attributes or {})["eventsourcingdb.event_type"]
        == ACQUIRED
    )
    assert {point["db.operation.name"] for point in recorder.durations()} >= set(operations)


async def test_spans_carry_neither_data_nor_the_token(
    client: Client, recorder: Recorder, emulator: Emulator
) -> None:
    await client.write_events([book()])
    [e async for e in client.read_events("/books/42")]
    with pytest.raises(ConcurrencyError):
        await client.write_events([book()], [IsSubjectPristine("/books/42")])
    spans = recorder.spans()
    assert spans
    for span in spans:
        text = all_values(span)
        assert SECRET_TITLE not in text
        assert emulator.get_api_token() not in text


async def test_a_failed_call_sets_the_status_and_the_error_type(
    client: Client, recorder: Recorder
) -> None:
    await client.write_events([book()])
    with pytest.raises(ConcurrencyError):
        await client.write_events([book()], [IsSubjectPristine("/books/42")])
    failed = [s for s in recorder.spans("write_events") if s.status.status_code is StatusCode.ERROR]
    (span,) = failed
    attributes = dict(span.attributes or {})
    assert attributes["error.type"] == "eventsourcingdb.ConcurrencyError"
    assert attributes["db.response.status_code"] == "precondition-violated"
    assert span.status.description == "eventsourcingdb.ConcurrencyError"
    errors = [p for p in recorder.durations() if p.get("error.type")]
    assert [point["db.operation.name"] for point in errors] == ["write_events"]


async def test_the_write_puts_its_trace_context_into_each_event(
    client: Client, recorder: Recorder
) -> None:
    own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    written = await client.write_events(
        [book(), EventCandidate(SOURCE, "/books/7", ACQUIRED, {"n": 1}, trace_parent=own)]
    )
    span = recorder.one("write_events")
    context = span.context
    assert context is not None
    flags = f"{int(context.trace_flags):02x}"
    assert written[0].trace_parent == f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags}"
    assert written[1].trace_parent == own, "a trace context the caller set is kept"
    (read,) = [e async for e in client.read_events("/books/42")]
    assert read.trace_parent == written[0].trace_parent


async def test_propagation_can_be_turned_off(emulator: Emulator, twin: Twin) -> None:
    recorder = Recorder(propagate=False)
    async with server_client(twin, emulator, telemetry=recorder.telemetry) as esdb:
        (written,) = await esdb.write_events([book()])
    assert written.trace_parent is None
    assert recorder.one("write_events").kind is SpanKind.PRODUCER


async def test_telemetry_can_be_turned_off(emulator: Emulator, twin: Twin) -> None:
    recorder = Recorder(enabled=False)
    async with server_client(twin, emulator, telemetry=recorder.telemetry) as esdb:
        (written,) = await esdb.write_events([book()])
        [e async for e in esdb.read_events("/books/42")]
    assert recorder.spans() == []
    assert recorder.durations() == []
    assert written.trace_parent is None


async def test_consuming_an_event_continues_its_trace(client: Client, recorder: Recorder) -> None:
    await client.write_events([book()])
    async for event in client.observe_events("/books/42", ObserveEventsOptions()):
        with consuming(event, telemetry=recorder.telemetry) as span:
            assert span is not None
        break
    producer = recorder.one("write_events")
    (consumer,) = recorder.spans("process ")
    assert consumer.kind is SpanKind.CONSUMER
    assert consumer.name == f"process {ACQUIRED}"
    assert consumer.context.trace_id == producer.context.trace_id
    assert consumer.parent is not None
    assert consumer.parent.span_id == producer.context.span_id
    assert [link.context.span_id for link in consumer.links] == [producer.context.span_id]
    attributes = dict(consumer.attributes or {})
    assert attributes["eventsourcingdb.subject"] == "/books/42"
    assert attributes["eventsourcingdb.event_id"] == "0"


async def test_a_stream_span_ends_when_the_stream_is_closed(
    client: Client, recorder: Recorder
) -> None:
    await client.write_events([book(), book()])
    stream = client.observe_events("/books/42")
    await anext(stream)
    assert recorder.spans("observe_events") == [], "the span lasts while the stream is open"
    await stream.aclose()
    (span,) = recorder.spans("observe_events")
    assert span.status.status_code is StatusCode.UNSET, "closing is not a failure"
    received = dict(span.attributes or {})["db.response.returned_rows"]
    assert received in (1, 2), "the events received (the two may come in one chunk)"
