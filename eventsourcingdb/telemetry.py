"""OpenTelemetry for EventSourcingDB: a span for every client call, the trace context written into
each event and continued where the event is handled, and metrics.

Everything goes through the OpenTelemetry API, the `otel` extra (`pip install
'eventsourcingdb-toolkit[otel]'`); the application configures an SDK (exporters, sampling). With
the extra installed, telemetry is on and costs next to nothing until an SDK is configured. Without
it there is no telemetry and nothing to configure; only asking for it explicitly (a
`tracer_provider` or `meter_provider`) raises `MissingExtraError`, which names the extra.

Spans follow the semantic conventions for database clients: `db.system.name` is
`eventsourcingdb`, `db.operation.name` the method (`write_events`, `read_events`, ...), the name
`"{operation} {server.address}:{server.port}"`, and the attributes say which subject, event type
and how many events; never data, never the token. `write_events` is a PRODUCER span,
`observe_events` a CONSUMER span, every other call a CLIENT span. A span covers the whole call, its
one retry included; a stream's span lasts until the stream ends or is closed. Errors set the
status and `error.type` (the exception's qualified name) and, for refusals, the server's error
code (`precondition-violated`, ...) or HTTP status as `db.response.status_code`; the message is
not recorded, since a server's text may quote data.

Trace context travels in the events: a write puts the context of its PRODUCER span into the
`traceparent`/`tracestate` of every event that has none (`Telemetry(propagate=False)` turns that
off). Where an event is handled, `consuming(event)` opens a CONSUMER span that continues the
event's trace: its parent is the context the event carries, and it links to it as well, as the
messaging conventions ask of consumers (a batch, which has many parents, only links).
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import urlsplit

from eventsourcingdb._extras import import_extra
from eventsourcingdb._protocol.calls import About, DocumentCall, StreamCall
from eventsourcingdb._protocol.requests import Operation, TraceContext
from eventsourcingdb.errors import ConcurrencyError, InvalidArgumentError

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import Histogram, MeterProvider
    from opentelemetry.trace import Span, Tracer, TracerProvider

    from eventsourcingdb.event import Event

__all__ = ["Telemetry", "consuming", "event_context"]

T = TypeVar("T")

SYSTEM: Final = "eventsourcingdb"
"""The value of `db.system.name`."""
_SCOPE: Final = "eventsourcingdb"
_DURATION_BUCKETS: Final = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
"""The buckets the conventions advise for `db.client.operation.duration`, in seconds."""


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("eventsourcingdb-toolkit")
    except metadata.PackageNotFoundError:  # pragma: no cover - only from a source tree
        return "0"


@dataclass(frozen=True, slots=True)
class _Api:
    trace: ModuleType
    metrics: ModuleType
    context: ModuleType
    propagator: Any
    metrics_state: ModuleType
    """The module that holds the global meter provider (`opentelemetry.metrics._internal`)."""
    providers_from_environment: bool
    """Whether the environment names a tracer or meter provider for the API to load."""


_API: _Api | None = None
_LOADED = False


def _api() -> _Api | None:
    """The OpenTelemetry API, imported once; None when the `otel` extra is not installed."""
    global _API, _LOADED
    if not _LOADED:
        _LOADED = True
        try:
            from opentelemetry import context, metrics, trace
            from opentelemetry.environment_variables import (
                OTEL_PYTHON_METER_PROVIDER,
                OTEL_PYTHON_TRACER_PROVIDER,
            )
            from opentelemetry.metrics import _internal as metrics_state
            from opentelemetry.trace.propagation.tracecontext import (
                TraceContextTextMapPropagator,
            )
        except ImportError:
            _API = None
        else:
            named = any(
                name in os.environ
                for name in (OTEL_PYTHON_TRACER_PROVIDER, OTEL_PYTHON_METER_PROVIDER)
            )
            _API = _Api(
                trace, metrics, context, TraceContextTextMapPropagator(), metrics_state, named
            )
    return _API


@dataclass(frozen=True, slots=True)
class Telemetry:
    """How a client (and what is built on it) reports to OpenTelemetry: pass it as
    `Client(..., telemetry=Telemetry(...))`.

    `enabled=False` turns telemetry off. `propagate=False` leaves the trace context out of the
    events a write sends. `tracer_provider` and `meter_provider` replace the global ones (which
    `opentelemetry.trace.set_tracer_provider` and `opentelemetry.metrics.set_meter_provider`
    set); giving one needs the `otel` extra.
    """

    enabled: bool = True
    propagate: bool = True
    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None

    def __post_init__(self) -> None:
        for name in ("enabled", "propagate"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidArgumentError(
                    f"Telemetry({name}=...) must be True or False, got {getattr(self, name)!r}"
                )
        if self.tracer_provider is not None or self.meter_provider is not None:
            import_extra("opentelemetry.trace", extra="otel", feature="Telemetry with a provider")


class Instrumentation:
    """What one client reports, for both shells: spans, trace context, the duration metric.

    Built from the client's `Telemetry` and base URL. Inactive (OpenTelemetry not installed, or
    `enabled=False`), every method gives back what it was given and costs one attribute lookup.
    """

    __slots__ = (
        "_api",
        "_base",
        "_counters",
        "_duration",
        "_meter",
        "_name_suffix",
        "_own_meter",
        "_own_tracer",
        "_settings",
        "_tracer",
        "active",
    )

    def __init__(self, settings: Telemetry | None, base_url: str) -> None:
        chosen = Telemetry() if settings is None else settings
        if not isinstance(chosen, Telemetry):
            raise InvalidArgumentError(
                f"telemetry must be a Telemetry from eventsourcingdb.telemetry, got "
                f"{type(chosen).__name__}"
            )
        self._settings = chosen
        api = _api() if chosen.enabled else None
        self._api = api
        self.active = api is not None
        parts = urlsplit(base_url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self._base: dict[str, Any] = {
            "db.system.name": SYSTEM,
            "server.address": host,
            "server.port": port,
        }
        self._name_suffix = f" {host}:{port}"
        self._tracer: Tracer | None = None
        self._own_tracer = chosen.tracer_provider is not None
        self._own_meter = chosen.meter_provider is not None
        self._meter: Any = None
        self._duration: Histogram | None = None
        self._counters: dict[str, Any] = {}
        if api is not None:
            version = _version()
            provider = chosen.tracer_provider
            self._tracer = (
                provider.get_tracer(_SCOPE, version)
                if provider is not None
                else api.trace.get_tracer(_SCOPE, version)
            )
            meters = chosen.meter_provider
            self._meter = (
                meters.get_meter(_SCOPE, version)
                if meters is not None
                else api.metrics.get_meter(_SCOPE, version)
            )
            self._duration = self._meter.create_histogram(
                "db.client.operation.duration",
                unit="s",
                description="Duration of database client operations.",
                explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
            )

    @property
    def settings(self) -> Telemetry:
        """The settings this instrumentation follows."""
        return self._settings

    @property
    def meter(self) -> Any:
        """The OpenTelemetry meter (None when inactive), for the framework's instruments."""
        return self._meter

    def tracer(self) -> Tracer | None:
        """The tracer to start spans with now; None while nothing would record them (no SDK
        configured), so that an unconfigured application pays for no span at all."""
        api = self._api
        if api is None:
            return None
        if self._own_tracer or _tracing_configured(api):
            return self._tracer
        return None

    def _recording(self) -> bool:
        """Whether a span or a measurement of a call would be recorded now."""
        api = self._api
        if api is None:
            return False
        return (
            self._own_tracer
            or self._own_meter
            or _tracing_configured(api)
            or _metering_configured(api)
        )

    # --- client calls ------------------------------------------------------------------------

    def call(self, call: DocumentCall[Any]) -> contextlib.AbstractContextManager[Any]:
        """The span of a one-shot call (CLIENT), current while the call runs."""
        if not self._recording():
            return _NOTHING
        return _CallSpan(self, call.operation, call.about, _CLIENT)

    def writing(self) -> _WriteSpan | _NoWrite:
        """The PRODUCER span of `write_events`, current while the write runs; its
        `trace_context` goes into the events that carry none (without a span, a current context
        handed in from elsewhere still does)."""
        if self._api is None:
            return _NO_WRITE
        if not self._recording():
            context = self._context_of(None)
            return _NO_WRITE if context is None else _NoWrite(context)
        return _WriteSpan(self)

    def stream_span(self, call: StreamCall[Any]) -> StreamSpan | None:
        """The span of a stream, from its first step until it ends or is closed; the client's
        stream loop counts what it hands out into `returned`. None when inactive."""
        if not self._recording():
            return None
        return StreamSpan(self, call)

    # --- the framework -----------------------------------------------------------------------

    def operation(
        self,
        name: str,
        target: str | None = None,
        *,
        retrying: bool = False,
        attributes: Mapping[str, str | int] | None = None,
        linked: Sequence[Event] = (),
    ) -> Operated | _NoOperation:
        """The INTERNAL span of a framework operation (`load Book`, `update Book`, `save`,
        `execute`, a projection's batch), current while it runs, with its conflicts and writes
        counted; `retrying` operations also report their attempts, and the span links to the
        trace context of each `linked` event (a batch's)."""
        if not self._recording():
            return _NO_OPERATION
        name = name if target is None else f"{name} {target}"
        return Operated(self, name, attributes or {}, retrying=retrying, linked=linked)

    def consuming(
        self,
        event: Event,
        operation: str = "process",
        attributes: Mapping[str, str | int | float | bool] | None = None,
    ) -> contextlib.AbstractContextManager[Span | None]:
        """The CONSUMER span around the handling of `event` (see `consuming`)."""
        if not self._recording():
            return contextlib.nullcontext()
        return _consuming(self, event, operation, attributes)

    def _count(self, name: str, amount: int, attributes: Mapping[str, str | int]) -> None:
        counter = self._counters.get(name)
        if counter is None:
            description, unit = _COUNTERS[name]
            counter = self._counters[name] = self._meter.create_counter(
                name, unit=unit, description=description
            )
        counter.add(amount, attributes)

    # --- building blocks ---------------------------------------------------------------------

    def _start(self, operation: Operation, about: About, kind: str) -> tuple[Span | None, float]:
        tracer = self.tracer()
        started = time.perf_counter()
        if tracer is None:
            return None, started
        api = self._api
        assert api is not None
        attributes = dict(self._base)
        attributes["db.operation.name"] = operation.value
        _describe(attributes, about)
        span = tracer.start_span(
            operation.value + self._name_suffix,
            kind=getattr(api.trace.SpanKind, kind),
            attributes=attributes,
        )
        return span, started

    def _finish(
        self,
        operation: Operation,
        span: Span | None,
        started: float,
        error: BaseException | None,
        returned: int | None = None,
    ) -> None:
        error_type = _error_type(error)
        if span is not None:
            if returned is not None:
                span.set_attribute("db.response.returned_rows", returned)
            if error_type is not None:
                _record_error(self._api, span, error, error_type)
            span.end()
        duration = self._duration
        if duration is not None:
            attributes = dict(self._base)
            attributes["db.operation.name"] = operation.value
            if error_type is not None:
                attributes["error.type"] = error_type
            duration.record(time.perf_counter() - started, attributes)

    def _context_of(self, span: Span | None) -> TraceContext | None:
        """The trace context to write into events: the span's, else the current one (a context
        handed in from elsewhere while no SDK runs); None when there is none or it is off."""
        api = self._api
        if api is None or not self._settings.propagate:
            return None
        target = span if span is not None else api.trace.get_current_span()
        if not target.get_span_context().is_valid:
            return None
        carrier: dict[str, str] = {}
        api.propagator.inject(carrier, context=api.trace.set_span_in_context(target))
        parent = carrier.get("traceparent")
        if parent is None:
            return None
        return parent, carrier.get("tracestate") or None


_CLIENT: Final = "CLIENT"
_KINDS: Final = {Operation.WRITE_EVENTS: "PRODUCER", Operation.OBSERVE_EVENTS: "CONSUMER"}


def _tracing_configured(api: _Api) -> bool:
    """Whether a real tracer provider is set globally (it can be set once: yes stays yes).

    While none is set, the API's own getter looks the environment up on every call (about
    3 µs); reading the global it sets, which stays None until then, costs a tenth of that."""
    global _TRACING
    if _TRACING:
        return True
    if (
        getattr(api.trace, "_TRACER_PROVIDER", _UNKNOWN) is None
        and not api.providers_from_environment
    ):
        return False
    provider = api.trace.get_tracer_provider()
    if isinstance(provider, api.trace.ProxyTracerProvider | api.trace.NoOpTracerProvider):
        return False
    _TRACING = True
    return True


def _metering_configured(api: _Api) -> bool:
    """Whether a real meter provider is set globally (it can be set once: yes stays yes).

    The API's stand-in until one is set has no public class; it is recognised by its name, and
    a renamed one only costs measurements that go nowhere."""
    global _METERING
    if _METERING:
        return True
    if (
        getattr(api.metrics_state, "_METER_PROVIDER", _UNKNOWN) is None
        and not api.providers_from_environment
    ):
        return False
    provider = api.metrics.get_meter_provider()
    if isinstance(provider, api.metrics.NoOpMeterProvider):
        return False
    if type(provider).__name__ == "_ProxyMeterProvider":
        return False
    _METERING = True
    return True


_TRACING = False
_METERING = False
_UNKNOWN: Final = object()
"""What a global the API no longer has reads as: the getter decides then."""


def _describe(attributes: dict[str, Any], about: About) -> None:
    if about.subject is not None:
        attributes["eventsourcingdb.subject"] = about.subject
    if about.event_type is not None:
        attributes["eventsourcingdb.event_type"] = about.event_type
    if about.count is not None and about.count > 1:
        attributes["db.operation.batch.size"] = about.count
    if about.query is not None:
        attributes["db.query.text"] = about.query


def _error_type(error: BaseException | None) -> str | None:
    """`error.type` of a failure; None for none, and for a close or cancellation (not failures)."""
    if error is None or not isinstance(error, Exception):
        return None
    kind = type(error)
    return f"{kind.__module__}.{kind.__qualname__}"


def _record_error(api: _Api | None, span: Span, error: BaseException | None, kind: str) -> None:
    assert api is not None
    span.set_attribute("error.type", kind)
    code = _response_code(error)
    if code is not None:
        span.set_attribute("db.response.status_code", code)
    span.set_status(api.trace.Status(api.trace.StatusCode.ERROR, kind))


def _response_code(error: BaseException | None) -> str | None:
    """What the server answered a refused request with: its error code (the last part of the
    code's URL, such as `precondition-violated`), else its HTTP status; None if it answered
    nothing (a transport failure, a refusal before sending)."""
    code = getattr(error, "code", None)
    if isinstance(code, str) and code:
        return code.rstrip("/").rsplit("/", 1)[-1]
    status = getattr(error, "status", None)
    if isinstance(status, int) and not isinstance(status, bool) and status != 200:
        return str(status)
    return None


_COUNTERS: Final = {
    "eventsourcingdb.repository.writes": (
        "Writes of the repository that stored events (a save, an executed decision).",
        "{write}",
    ),
    "eventsourcingdb.repository.events": ("Events the repository wrote.", "{event}"),
    "eventsourcingdb.repository.conflicts": (
        "Writes refused because a precondition no longer held (optimistic concurrency).",
        "{conflict}",
    ),
    "eventsourcingdb.repository.retries": (
        "Decisions run again after a conflict (update, execute, retrying).",
        "{retry}",
    ),
}
"""The framework's counters: name, description and unit."""


class Operated:
    """The span of a framework operation, with what it counts: attempts, conflicts, writes."""

    __slots__ = (
        "_attributes",
        "_instrumentation",
        "_linked",
        "_name",
        "_retrying",
        "_span",
        "_token",
        "conflicts",
    )

    def __init__(
        self,
        instrumentation: Instrumentation,
        name: str,
        attributes: Mapping[str, str | int],
        *,
        retrying: bool,
        linked: Sequence[Event] = (),
    ) -> None:
        self._instrumentation = instrumentation
        self._name = name
        self._attributes = {"db.system.name": SYSTEM, **attributes}
        self._retrying = retrying
        self._linked = linked
        self._span: Span | None = None
        self._token: object = None
        self.conflicts = 0
        """Conflicts the operation's attempts met."""

    def __enter__(self) -> Operated:
        instrumentation = self._instrumentation
        tracer = instrumentation.tracer()
        if tracer is not None:
            api = instrumentation._api
            assert api is not None
            links = []
            for event in self._linked:
                context = event_context(event)
                if context is not None:
                    span_context = api.trace.get_current_span(context).get_span_context()
                    links.append(api.trace.Link(span_context))
            self._span = tracer.start_span(
                self._name,
                kind=api.trace.SpanKind.INTERNAL,
                attributes=self._attributes,
                links=links,
            )
            self._token = api.context.attach(api.trace.set_span_in_context(self._span))
        return self

    def set(self, attributes: Mapping[str, str | int]) -> None:
        """Add attributes to the span (what became known while it ran)."""
        if self._span is not None:
            self._span.set_attributes(attributes)

    def wrote(self, events: int) -> None:
        """The operation wrote `events` events in one write."""
        instrumentation = self._instrumentation
        instrumentation._count("eventsourcingdb.repository.writes", 1, self._metric_attributes())
        instrumentation._count(
            "eventsourcingdb.repository.events", events, self._metric_attributes()
        )
        self.set({"eventsourcingdb.events.written": events})

    def refused(self) -> None:
        """The operation's write was refused: a precondition no longer held (a conflict)."""
        self._instrumentation._count(
            "eventsourcingdb.repository.conflicts", 1, self._metric_attributes()
        )

    def retry(self, error: BaseException, retry: int | None, delay: float | None) -> None:
        """An attempt of the decision ended in a conflict; `retry` is the number of the retry
        that follows after `delay` seconds, None when the retries ran out."""
        self.conflicts += 1
        event: dict[str, Any] = {"error.type": _error_type(error) or type(error).__name__}
        if retry is not None:
            self._instrumentation._count(
                "eventsourcingdb.repository.retries", 1, self._metric_attributes()
            )
            event["eventsourcingdb.retry"] = retry
            if delay is not None:
                event["eventsourcingdb.retry.delay"] = delay
        if self._span is not None:
            self._span.add_event("conflict", event)

    def _metric_attributes(self) -> dict[str, str | int]:
        operation = self._name.split(" ", 1)[0]
        return {"db.system.name": SYSTEM, "eventsourcingdb.operation": operation}

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        span = self._span
        if span is None:
            return
        api = self._instrumentation._api
        span.set_attribute("eventsourcingdb.conflicts", self.conflicts)
        if self._retrying:  # the last attempt conflicted too when the retries ran out
            last = 0 if isinstance(exc_value, ConcurrencyError) else 1
            span.set_attribute("eventsourcingdb.attempts", self.conflicts + last)
        kind = _error_type(exc_value)
        if kind is not None:
            _record_error(api, span, exc_value, kind)
        span.end()
        assert api is not None
        api.context.detach(self._token)


class _NoOperation:
    """`operation()` when nothing records."""

    __slots__ = ()
    conflicts = 0

    def __enter__(self) -> _NoOperation:
        return self

    def set(self, attributes: Mapping[str, str | int]) -> None:
        return None

    def wrote(self, events: int) -> None:
        return None

    def refused(self) -> None:
        return None

    def retry(self, error: BaseException, retry: int | None, delay: float | None) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        return None


_NO_OPERATION: Final = _NoOperation()


class ProjectionMeter:
    """The projections runner's metrics through OpenTelemetry (a `ProjectionMetrics`):
    events processed, lag, commit durations (the throughput) and retries, per projection."""

    __slots__ = ("_duration", "_events", "_lag", "_retries")

    def __init__(self, meter: Any) -> None:
        self._events = meter.create_counter(
            "eventsourcingdb.projection.events",
            unit="{event}",
            description="Events a projection committed (handled or passed over).",
        )
        self._lag = meter.create_gauge(
            "eventsourcingdb.projection.lag",
            unit="{event}",
            description="How many event ids a projection is behind the newest it knows of.",
        )
        self._duration = meter.create_histogram(
            "eventsourcingdb.projection.commit.duration",
            unit="s",
            description="Time a projection took to apply and commit events in one transaction.",
        )
        self._retries = meter.create_counter(
            "eventsourcingdb.projection.retries",
            unit="{retry}",
            description="Times a projection waited to try again (server, store or handler).",
        )

    def processed(self, name: str, events: int, seconds: float) -> None:
        attributes = {"eventsourcingdb.projection": name}
        self._events.add(events, attributes)
        self._duration.record(seconds, attributes)

    def lag(self, name: str, events: int) -> None:
        self._lag.set(events, {"eventsourcingdb.projection": name})

    def retry(self, name: str, reason: object, error: BaseException, delay: float) -> None:
        attributes = {
            "eventsourcingdb.projection": name,
            "eventsourcingdb.retry.reason": str(reason),
        }
        self._retries.add(1, attributes)


def instrumentation_of(client: object) -> Instrumentation:
    """The instrumentation of the client a store or runner talks through (an inactive one for a
    stand-in client that has none)."""
    found = getattr(client, "_telemetry", None)
    return found if isinstance(found, Instrumentation) else _INACTIVE


class _Nothing:
    """The context manager of inactive telemetry."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        return None


_NOTHING: Final = _Nothing()


class _CallSpan:
    """A one-shot call's span, current while it runs, and its duration."""

    __slots__ = ("_about", "_instrumentation", "_kind", "_operation", "_span", "_started", "_token")

    def __init__(
        self, instrumentation: Instrumentation, operation: Operation, about: About, kind: str
    ) -> None:
        self._instrumentation = instrumentation
        self._operation = operation
        self._about = about
        self._kind = kind
        self._span: Span | None = None
        self._token: object = None
        self._started = 0.0

    def __enter__(self) -> Span | None:
        instrumentation = self._instrumentation
        span, self._started = instrumentation._start(self._operation, self._about, self._kind)
        if span is not None:
            api = instrumentation._api
            assert api is not None
            self._token = api.context.attach(api.trace.set_span_in_context(span))
        self._span = span
        return span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        instrumentation = self._instrumentation
        if self._token is not None:
            api = instrumentation._api
            assert api is not None
            api.context.detach(self._token)
        instrumentation._finish(self._operation, self._span, self._started, exc_value)


class _WriteSpan:
    """The PRODUCER span of a write: started on entry; `trace_context` is what the events get."""

    __slots__ = ("_call", "_instrumentation", "trace_context")

    def __init__(self, instrumentation: Instrumentation) -> None:
        self._instrumentation = instrumentation
        self._call: _CallSpan | None = None
        self.trace_context: TraceContext | None = None

    def __enter__(self) -> _WriteSpan:
        instrumentation = self._instrumentation
        self._call = _CallSpan(instrumentation, Operation.WRITE_EVENTS, About(), "PRODUCER")
        span = self._call.__enter__()
        self.trace_context = instrumentation._context_of(span)
        return self

    def describe(self, call: DocumentCall[Any]) -> None:
        """Add what the prepared write concerns (its subject, how many events)."""
        span = self._call._span if self._call is not None else None
        if span is not None:
            attributes: dict[str, Any] = {}
            _describe(attributes, call.about)
            span.set_attributes(attributes)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._call is not None:
            self._call.__exit__(exc_type, exc_value, traceback)


class _NoWrite:
    """`writing()` when nothing records: no span, and at most a context handed in from
    elsewhere to pass on."""

    __slots__ = ("trace_context",)

    def __init__(self, trace_context: TraceContext | None = None) -> None:
        self.trace_context = trace_context

    def __enter__(self) -> _NoWrite:
        return self

    def describe(self, call: DocumentCall[Any]) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        return None


_NO_WRITE: Final = _NoWrite()


class StreamSpan:
    """The span of one stream (CLIENT, or CONSUMER for `observe_events`), not made current: it
    lives across the consumer's steps. A close or a cancellation ends it without an error."""

    __slots__ = ("_instrumentation", "_operation", "_span", "_started", "returned")

    def __init__(self, instrumentation: Instrumentation, call: StreamCall[Any]) -> None:
        self._instrumentation = instrumentation
        self._operation = call.operation
        self._span, self._started = instrumentation._start(
            call.operation, call.about, _KINDS.get(call.operation, _CLIENT)
        )
        self.returned = 0
        """How many values the stream has handed out."""

    def finish(self, error: BaseException | None) -> None:
        """End the span: the stream ended, failed with `error`, or was closed."""
        self._instrumentation._finish(
            self._operation, self._span, self._started, error, self.returned
        )


# --- consuming events ------------------------------------------------------------------------


def event_context(event: Event) -> Context | None:
    """The trace context `event` carries (from its `traceparent`/`tracestate`), as an
    OpenTelemetry `Context`; None when it carries none or OpenTelemetry is not installed."""
    api = _api()
    if api is None or event.trace_parent is None:
        return None
    carrier = {"traceparent": event.trace_parent}
    if event.trace_state:
        carrier["tracestate"] = event.trace_state
    extracted: Context = api.propagator.extract(carrier)
    if not api.trace.get_current_span(extracted).get_span_context().is_valid:
        return None
    return extracted


def consuming(
    event: Event,
    operation: str = "process",
    *,
    telemetry: Telemetry | None = None,
    attributes: Mapping[str, str | int | float | bool] | None = None,
) -> contextlib.AbstractContextManager[Span | None]:
    """A CONSUMER span around the handling of `event`, continuing the event's trace.

    Its parent is the context the event carries (so a write and what handles the event are one
    trace) and it links to that context; an event without one is handled in the current
    context. Named `"{operation} {event type}"`; the current span while the block runs. Yields
    the span (None when nothing records, or OpenTelemetry is not installed).
    """
    return _instrumentation(Telemetry() if telemetry is None else telemetry).consuming(
        event, operation, attributes
    )


@functools.lru_cache(maxsize=32)
def _instrumentation(settings: Telemetry) -> Instrumentation:
    return Instrumentation(settings, "http://localhost")


@contextlib.contextmanager
def _consuming(
    instrumentation: Instrumentation,
    event: Event,
    operation: str,
    attributes: Mapping[str, str | int | float | bool] | None,
) -> Iterator[Span | None]:
    api = instrumentation._api
    tracer = instrumentation.tracer()
    if api is None or tracer is None:
        yield None
        return
    parent = event_context(event)
    links: Sequence[Any] = ()
    if parent is not None:
        links = (api.trace.Link(api.trace.get_current_span(parent).get_span_context()),)
    span_attributes: dict[str, Any] = {
        "db.system.name": SYSTEM,
        "messaging.operation.name": operation,
        "eventsourcingdb.subject": event.subject,
        "eventsourcingdb.event_type": event.type,
        "eventsourcingdb.event_id": event.event_id,
    }
    if attributes:
        span_attributes.update(attributes)
    with tracer.start_as_current_span(
        f"{operation} {event.type}",
        context=parent,
        kind=api.trace.SpanKind.CONSUMER,
        attributes=span_attributes,
        links=links,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except Exception as error:
            kind = _error_type(error)
            assert kind is not None
            _record_error(api, span, error, kind)
            raise


_INACTIVE: Final = Instrumentation(Telemetry(enabled=False), "http://localhost")
