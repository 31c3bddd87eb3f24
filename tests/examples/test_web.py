"""The Flask example through a real WSGI server on loopback, in-process emulator and socket alike:
commands and reads over HTTP, a lost race between request threads, and one trace from the HTTP
request to the projection that handled its event."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.trace import SpanKind, format_span_id, format_trace_id
from werkzeug.serving import BaseWSGIServer, make_server

from eventsourcingdb.emulator import Emulator
from examples.web.app import close_app, create_app
from tests.telemetry.test_client_telemetry import Recorder

PREFIX = "io.eventsourcingdb.examples.library"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    """The app on loopback: an HTTP client for it, and what telemetry recorded."""

    http: httpx.Client
    recorder: Recorder


@pytest.fixture(params=["in-process", "socket"])
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    with Emulator(in_process=request.param == "in-process") as server:
        yield server


@pytest.fixture
def served(emulator: Emulator, tmp_path: Path) -> Iterator[Served]:
    recorder = Recorder()
    provider = recorder.telemetry.tracer_provider
    with emulator.get_sync_client(telemetry=recorder.telemetry) as client:
        app = create_app(client, database=tmp_path / "read.db", tracer_provider=provider)
        server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        serving = threading.Thread(target=server.serve_forever, name="wsgi")
        serving.start()
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{server.server_port}") as http:
                yield Served(http, recorder)
        finally:
            server.shutdown()
            serving.join(10)
            server.server_close()
            close_app(app)


def created(response: httpx.Response) -> Any:
    assert response.status_code == 201, response.text
    return response.json()


def test_a_library_over_http(served: Served) -> None:
    http = served.http
    created(http.put("/books/dune", json={"title": "Dune", "author": "Frank Herbert"}))
    created(http.put("/books/emma", json={"title": "Emma", "author": "Jane Austen"}))
    created(http.put("/members/ada", json={"name": "Ada", "limit": 1}))

    lent = created(http.post("/books/dune/loan", json={"member": "ada"}))
    assert lent["subject"] == "/library/books/dune"
    over_limit = http.post("/books/emma/loan", json={"member": "ada"})
    assert over_limit.status_code == 409
    assert "may borrow 1 at once" in over_limit.json()["error"]

    book = http.get("/books/dune").json()
    assert book["borrowed_by"] == "/library/members/ada"
    assert book["version"] == lent["version"]
    loans = http.get("/loans", params={"after": lent["version"]}).json()["loans"]
    assert loans == {"/library/books/dune": "/library/members/ada"}

    returned = http.request("DELETE", "/books/dune/loan", json={"member": "ada"})
    assert returned.status_code == 200, returned.text
    loans = http.get("/loans", params={"after": returned.json()["version"]}).json()["loans"]
    assert loans == {}


def test_bad_requests_get_clear_answers(served: Served) -> None:
    http = served.http
    assert http.get("/books/nowhere").status_code == 404
    missing = http.put("/books/dune", json={"title": "Dune"})
    assert missing.status_code == 400
    assert missing.json() == {"error": "'author' must be a str"}
    assert http.put("/books/dune", content=b"not json").json() == {"error": "send a JSON object"}
    invalid = http.put("/books/nowhere%20else", json={"title": "Dune", "author": "Frank Herbert"})
    assert invalid.status_code == 400, "a subject with a space is refused before any request"
    assert "subject" in invalid.json()["error"]
    unknown = http.post("/books/dune/loan", json={"member": "nobody"})
    assert unknown.status_code == 409
    assert "no member is registered" in unknown.json()["error"]


def test_request_threads_share_the_client_and_one_lend_wins(served: Served) -> None:
    http = served.http
    created(http.put("/books/dune", json={"title": "Dune", "author": "Frank Herbert"}))
    members = [f"m{number}" for number in range(6)]
    for member in members:
        created(http.put(f"/members/{member}", json={"name": member, "limit": 3}))

    with ThreadPoolExecutor(len(members)) as pool:
        answers = list(
            pool.map(lambda m: http.post("/books/dune/loan", json={"member": m}), members)
        )
    assert sorted(answer.status_code for answer in answers) == [201] + [409] * (len(members) - 1)
    (winner,) = [m for m, answer in zip(members, answers, strict=True) if answer.status_code == 201]
    assert http.get("/books/dune").json()["borrowed_by"] == f"/library/members/{winner}"


def test_one_trace_from_the_http_request_to_the_projection(served: Served) -> None:
    tracer = served.recorder.telemetry.tracer_provider.get_tracer("browser")  # type: ignore[union-attr]
    with tracer.start_as_current_span("click", kind=SpanKind.CLIENT) as click:
        clicked = click.get_span_context()
        traceparent = f"00-{format_trace_id(clicked.trace_id)}-{format_span_id(clicked.span_id)}-01"
        acquired = created(
            served.http.put(
                "/books/dune",
                json={"title": "Dune", "author": "Frank Herbert"},
                headers={"traceparent": traceparent},
            )
        )
    served.http.get("/loans", params={"after": acquired["version"]})
    spans = served.recorder.spans()
    (request,) = [span for span in spans if span.name == "PUT /books/<book_id>"]
    assert request.kind is SpanKind.SERVER
    assert request.parent is not None
    assert request.parent.span_id == clicked.span_id
    attributes = dict(request.attributes or {})
    assert attributes["http.route"] == "/books/<book_id>"
    assert attributes["http.response.status_code"] == 201

    assert served.recorder.tree(request) == [
        "PUT /books/<book_id> SERVER",
        "  update Book INTERNAL",
        "    load Book INTERNAL",
        "      read_events CLIENT",
        "    save INTERNAL",
        "      write_events PRODUCER",
        f"        process {PREFIX}.book-acquired CONSUMER",
    ]

    (handled,) = [span for span in spans if span.name == f"process {PREFIX}.book-acquired"]
    assert handled.context is not None
    assert handled.context.trace_id == clicked.trace_id
    assert dict(handled.attributes or {})["eventsourcingdb.projection"] == "books-on-loan"


def test_python_m_examples_web_serves_until_interrupted() -> None:
    environment = {k: v for k, v in os.environ.items() if k not in ("ESDB_URL", "ESDB_API_TOKEN")}
    with subprocess.Popen(
        [sys.executable, "-m", "examples.web", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    ) as process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            url = first.split()[first.split().index("on") + 1]
            with httpx.Client(base_url=url, timeout=10) as http:
                created(http.put("/books/dune", json={"title": "Dune", "author": "Frank Herbert"}))
                assert http.get("/books/dune").json()["title"] == "Dune"
        finally:
            process.send_signal(signal.SIGINT)
            _, errors = process.communicate(timeout=30)
        assert process.returncode == 0, errors
