"""The library as a Flask app for blocking code, over `eventsourcingdb.sync`.

One blocking client serves the whole process: httpx's pool is thread-safe, so every request
thread shares it, and nothing needs an event loop. Commands go through a blocking `Repository`
(`update` for books, a decider's `execute` for members, a `Boundary` across subjects for
lending); the `BooksOnLoan` read model of the library example is kept by a blocking projections
`Runner` in a SQLite file, which the views read with a blocking SQLAlchemy engine.

Every request is a SERVER span continuing the caller's trace (`traceparent`), so a command is one
trace: the request, `update Book`, its write (PRODUCER), and the projection handling the event
(CONSUMER). In production, `opentelemetry-instrumentation-flask` makes that span; the app makes
its own so that it needs nothing but the OpenTelemetry API.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, g, jsonify, request
from opentelemetry import context, propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider
from werkzeug.exceptions import BadRequest, HTTPException

from eventsourcingdb import InvalidArgumentError
from eventsourcingdb.aggregates import AggregateNotFoundError
from eventsourcingdb.preconditions import IsSubjectOnEventId
from eventsourcingdb.projections import SqlCheckpointStore
from eventsourcingdb.sync import Client, EventStore, Repository, Runner
from examples.library.domain import Book, LibraryError, MemberUnknown, RegisterMember
from examples.library.domain import member_decider as members
from examples.library.events import LIBRARY, SOURCE
from examples.library.library import loans_of, open_loans
from examples.library.read_models import CATALOGUE, BooksOnLoan

__all__ = ["Library", "close_app", "create_app"]

_EXTENSION = "eventsourcingdb-library"


class Library:
    """What the views use: the repository, the read side, and where the library lives."""

    def __init__(self, client: Client, database: Path, root: str) -> None:
        self.root = root.rstrip("/")
        self.store = EventStore(client, source=SOURCE, registry=LIBRARY)
        self.repository = Repository(self.store)
        self.runner = Runner(
            self.store, checkpoints=SqlCheckpointStore.from_url(f"sqlite+aiosqlite:///{database}")
        )
        self.runner.add(BooksOnLoan(self.root))
        self.read_models = sa.create_engine(f"sqlite:///{database}")

    def book(self, book_id: str) -> str:
        return f"{self.root}/books/{book_id}"

    def member(self, member_id: str) -> str:
        return f"{self.root}/members/{member_id}"

    def lend(self, book_id: str, member_id: str) -> Book:
        """Lend a book if it is free and the member is below their limit: decided on the
        member's loans of every book (a boundary), retried on fresh facts after a lost race."""
        member = self.member(member_id)

        def attempt() -> Book:
            state, version = self.repository.load_state(members, member)
            if version is None or not state.registered:
                raise MemberUnknown(f"no member is registered at {member}")
            loans = self.repository.read_boundary(loans_of(self.root, member))
            book = self.repository.load(Book, self.book(book_id))
            book.borrow(member, open_loans=open_loans(loans), limit=state.limit)
            self.repository.save(
                book, preconditions=[loans.precondition, IsSubjectOnEventId(member, version)]
            )
            return book

        return self.repository.retrying(attempt)

    def close(self) -> None:
        self.runner.close()
        self.read_models.dispose()


def create_app(
    client: Client,
    *,
    database: Path,
    root: str = "/library",
    tracer_provider: TracerProvider | None = None,
) -> Flask:
    """The app over `client`, its read models in the SQLite file `database`; its projections
    runner starts here (call `close_app` at shutdown)."""
    app = Flask(__name__)
    library = Library(client, database, root)
    app.extensions[_EXTENSION] = library
    _trace_requests(app, trace.get_tracer(__name__, tracer_provider=tracer_provider))

    @app.put("/books/<book_id>")
    def acquire(book_id: str) -> tuple[Response, int]:
        body = _json(("title", str), ("author", str))
        book = library.repository.update(
            Book,
            library.book(book_id),
            lambda book: book.acquire(body["title"], body["author"]),
            create=True,
        )
        return jsonify(subject=book.subject, version=book.version), 201

    @app.get("/books/<book_id>")
    def show(book_id: str) -> Response:
        book = library.repository.load(Book, library.book(book_id))
        return jsonify(
            subject=book.subject,
            version=book.version,
            title=book.title,
            author=book.author,
            borrowed_by=book.borrowed_by,
            times_borrowed=book.times_borrowed,
        )

    @app.put("/members/<member_id>")
    def register(member_id: str) -> tuple[Response, int]:
        body = _json(("name", str), ("limit", int))
        command = RegisterMember(name=body["name"], limit=body["limit"])
        result = library.repository.execute(members, library.member(member_id), command)
        return jsonify(subject=library.member(member_id), version=result.version), 201

    @app.post("/books/<book_id>/loan")
    def lend(book_id: str) -> tuple[Response, int]:
        body = _json(("member", str))
        book = library.lend(book_id, body["member"])
        return jsonify(subject=book.subject, version=book.version), 201

    @app.delete("/books/<book_id>/loan")
    def take_back(book_id: str) -> Response:
        member = library.member(_json(("member", str))["member"])
        book = library.repository.update(
            Book, library.book(book_id), lambda book: book.give_back(member)
        )
        return jsonify(subject=book.subject, version=book.version)

    @app.get("/loans")
    def on_loan() -> Response:
        """The books out and who has them; `?after=<event id>` waits until the read model has
        that event (read your own writes: pass the version a command returned)."""
        after = request.args.get("after")
        if after is not None:
            library.runner.wait_for(after, timeout=5.0)
        query = sa.select(CATALOGUE.c.book, CATALOGUE.c.member).where(
            CATALOGUE.c.member.is_not(None)
        )
        with library.read_models.connect() as connection:
            rows = connection.execute(query.order_by(CATALOGUE.c.book)).all()
        return jsonify(loans=dict(rows))

    @app.errorhandler(LibraryError)
    def refused(error: LibraryError) -> tuple[Response, int]:
        return jsonify(error=str(error)), 409

    @app.errorhandler(AggregateNotFoundError)
    def not_found(error: AggregateNotFoundError) -> tuple[Response, int]:
        return jsonify(error=str(error)), 404

    @app.errorhandler(InvalidArgumentError)
    def invalid(error: InvalidArgumentError) -> tuple[Response, int]:
        return jsonify(error=str(error)), 400

    @app.errorhandler(BadRequest)
    def bad_request(error: BadRequest) -> tuple[Response, int]:
        return jsonify(error=error.description), 400

    library.runner.start()
    return app


def close_app(app: Flask) -> None:
    """Stop the app's projections runner and close its read-model engine."""
    library = app.extensions.pop(_EXTENSION, None)
    if isinstance(library, Library):
        library.close()


def _json(*fields: tuple[str, type]) -> Mapping[str, Any]:
    """The request's JSON object, with each of `fields` present and of its type (else 400)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("send a JSON object")
    for name, kind in fields:
        if not isinstance(body.get(name), kind):
            raise BadRequest(f"{name!r} must be a {kind.__name__}")
    return body


def _trace_requests(app: Flask, tracer: trace.Tracer) -> None:
    """Make each request a SERVER span, current while the view runs, whose parent is the trace
    context the caller sent (HTTP semantic conventions)."""

    @app.before_request
    def start() -> None:
        rule = request.url_rule
        route = None if rule is None else rule.rule
        attributes: dict[str, str | int] = {
            "http.request.method": request.method,
            "url.path": request.path,
            "url.scheme": request.scheme,
        }
        if route is not None:
            attributes["http.route"] = route
        span = tracer.start_span(
            request.method if route is None else f"{request.method} {route}",
            context=propagate.extract(request.headers),
            kind=SpanKind.SERVER,
            attributes=attributes,
        )
        g.server_span = span
        g.server_context = context.attach(trace.set_span_in_context(span))

    @app.after_request
    def answered(response: Response) -> Response:
        span = g.get("server_span")
        if span is not None:
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR))
        return response

    @app.teardown_request
    def end(error: BaseException | None) -> None:
        span = g.pop("server_span", None)
        if span is None:
            return
        if error is not None and not isinstance(error, HTTPException):
            span.set_status(Status(StatusCode.ERROR))
            span.set_attribute("error.type", type(error).__qualname__)
        context.detach(g.pop("server_context"))
        span.end()
