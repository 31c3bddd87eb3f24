"""Setting telemetry up: the global providers, no SDK at all, no OpenTelemetry at all, bad settings.

The global providers can be set once per process, so these run in subprocesses of their own.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from eventsourcingdb import InvalidArgumentError
from eventsourcingdb.emulator import Emulator
from eventsourcingdb.sync import Client as SyncClient
from eventsourcingdb.telemetry import Telemetry

_WRITE = """
from eventsourcingdb.emulator import Emulator
from eventsourcingdb.sync import Client

EVENT = {"source": "https://x.io", "subject": "/a", "type": "io.x.y", "data": {}}
emulator = Emulator(in_process=True).start()
client = Client(emulator.get_base_url(), "secret", transport=emulator.sync_transport())
"""


def run(script: str) -> str:
    finished = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return finished.stdout.strip()


def test_spans_go_to_the_global_provider_once_one_is_set() -> None:
    output = run(
        _WRITE
        + """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

(before,) = client.write_events([EVENT])  # no SDK yet: no span, no trace context
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
(after,) = client.write_events([EVENT])
print(before.trace_parent, [span.name for span in exporter.get_finished_spans()],
      after.trace_parent is not None)
"""
    )
    assert output == "None ['write_events emulator.invalid:80'] True"


def test_a_provider_named_by_the_environment_is_used() -> None:
    output = run(
        """
import os
os.environ["OTEL_PYTHON_TRACER_PROVIDER"] = "sdk_tracer_provider"
"""
        + _WRITE
        + """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

(written,) = client.write_events([EVENT])
print(type(trace.get_tracer_provider()) is TracerProvider, written.trace_parent is not None)
"""
    )
    assert output == "True True"


def test_without_an_sdk_a_trace_context_from_elsewhere_still_travels() -> None:
    output = run(
        _WRITE
        + """
from opentelemetry import context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
token = context.attach(TraceContextTextMapPropagator().extract({"traceparent": incoming}))
(written,) = client.write_events([EVENT])
context.detach(token)
print(written.trace_parent == incoming)
"""
    )
    assert output == "True"


def test_without_opentelemetry_there_is_no_telemetry_and_nothing_fails() -> None:
    output = run(
        """
import sys
sys.modules["opentelemetry"] = None  # as if the otel extra were not installed
"""
        + _WRITE
        + """
from eventsourcingdb import MissingExtraError
from eventsourcingdb.telemetry import Telemetry, consuming

(written,) = client.write_events([EVENT])
with consuming(written) as span:
    pass
try:
    Telemetry(tracer_provider=object())
except MissingExtraError as error:
    print(written.trace_parent, span, error.extra, "pip install" in str(error))
"""
    )
    assert output == "None None otel True"


@pytest.mark.parametrize("settings", [{"enabled": "yes"}, {"propagate": 1}])
def test_bad_settings_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(InvalidArgumentError, match="must be True or False"):
        Telemetry(**settings)  # type: ignore[arg-type]


def test_a_client_refuses_anything_but_telemetry_settings() -> None:
    with (
        Emulator(in_process=True) as emulator,
        pytest.raises(InvalidArgumentError, match="telemetry must be a Telemetry"),
    ):
        SyncClient(emulator.get_base_url(), "secret", telemetry=True)  # type: ignore[arg-type]
