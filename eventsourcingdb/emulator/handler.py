"""The one request handler of the emulator, free of I/O: a `Request` in, a `Response` out.

Both front ends (the ASGI app under uvicorn and the in-process httpx transports) run this
handler, so they behave the same. It routes v1 and v2, checks the token, reads and validates
bodies, answers with the real server's statuses and texts, and streams NDJSON: bodies of streams
are async iterators of byte chunks, with heartbeats on observe-events and EventQL queries.
"""

from __future__ import annotations

import asyncio
import enum
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from eventsourcingdb import _wire
from eventsourcingdb.emulator import _messages as m
from eventsourcingdb.emulator._lines import (
    V1_LINES,
    V2_LINES,
    Lines,
    chunks,
    event_chunks,
)
from eventsourcingdb.emulator._messages import Refusal
from eventsourcingdb.emulator._requests import (
    BodyReader,
    Purpose,
    query_error_code,
    query_error_details,
)
from eventsourcingdb.emulator._streams import observe_stream, prepared_stream, query_stream
from eventsourcingdb.emulator.encoding import encode_json, encode_string, format_time
from eventsourcingdb.emulator.eventql import EventQLSyntaxError, Query, parse
from eventsourcingdb.emulator.faults import ConnectionDropped, Faults
from eventsourcingdb.emulator.options import ApiVersion, ServerOptions
from eventsourcingdb.emulator.rate_limit import RateLimiter
from eventsourcingdb.emulator.records import (
    Candidate,
    Precondition,
    PreconditionFailedError,
    PreconditionQueryError,
    RangeUnsatisfiableError,
    SchemaAlreadyRegisteredError,
    SchemaMismatchError,
    StoredEventMismatchError,
    StoreUnavailableError,
)
from eventsourcingdb.emulator.schemas import (
    CompiledSchema,
    InvalidSchemaError,
    SchemaProblem,
    compile_schema,
)
from eventsourcingdb.emulator.store import Store
from eventsourcingdb.errors import ErrorCode

__all__ = ["Handler", "Request", "Response"]

_logger = logging.getLogger("eventsourcingdb.emulator")

_OPENMETRICS_CONTENT_TYPE: Final = "application/openmetrics-text; version=1.0.0; charset=utf-8"

INLINE_QUERY_LENGTH: Final = 2048
"""EventQL texts up to this length are parsed on the event loop (a few milliseconds at most);
longer ones in a worker thread, so that no request holds up the others."""
INLINE_WRITE_BYTES: Final = 65536
"""Write bodies up to this size are read and checked on the event loop (about 2 ms for 64 KiB
of events); larger ones (big batches, long precondition queries) in a worker thread. The hand-off
costs about a tenth of the write throughput, so only bodies worth it take it."""


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request: the path without query string, header names in lower case."""

    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    client: str = ""
    """The client's address (for rate limiting); empty in process, where there is none."""

    def header(self, name: str) -> str | None:
        """The value of a header (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


@dataclass(frozen=True, slots=True, eq=False)
class Response:
    """One HTTP response; `body` is bytes, or an async iterator of chunks for a stream."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes | AsyncIterator[bytes]


class _Shape(enum.Enum):
    """How a v2 route answers: one JSON document, or an NDJSON stream."""

    DOCUMENT = "document"
    STREAM = "stream"


_Action = Callable[["Handler", Request, "_Call"], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    version: ApiVersion
    shape: _Shape
    action: _Action
    authenticated: bool = True
    changes_data: bool = False
    """Refused in read-only mode."""


@dataclass(frozen=True, slots=True)
class _Call:
    """What an action needs to know about the route it serves."""

    version: ApiVersion
    reader: BodyReader
    lines: Lines


def _encode(text: str) -> bytes:
    return encode_string(text).encode("utf-8")


class Handler:
    """Answers requests from one store, as an EventSourcingDB server would."""

    def __init__(
        self, store: Store, options: ServerOptions | None = None, faults: Faults | None = None
    ) -> None:
        self._store = store
        self._options = options or ServerOptions()
        self._faults = faults or Faults()
        self._read_only = self._options.read_only
        limit = self._options.rate_limit
        self._limiter = RateLimiter(limit) if limit is not None else None
        self._routes = {
            path: route
            for path, route in _ROUTES.items()
            if route.version in self._options.api_versions
        }

    @property
    def options(self) -> ServerOptions:
        """The options this handler was made with."""
        return self._options

    def use_store(self, store: Store) -> None:
        """Answer from `store` from now on (that of a restarted server)."""
        self._store = store

    def restarted(self) -> None:
        """The server restarted: read-only mode ends, unless the server was started in it."""
        self._read_only = self._options.read_only

    @property
    def read_only(self) -> bool:
        """Whether the server is in read-only mode (refusing writes and schema registrations)."""
        return self._read_only

    @property
    def faults(self) -> Faults:
        """The faults armed on this server (see `eventsourcingdb.emulator.faults`)."""
        return self._faults

    @property
    def is_closed(self) -> bool:
        """Whether the server was shut down (its store closed): nothing answers any more."""
        return self._store.is_closed

    async def handle(self, request: Request) -> Response:
        """Answer one request (a bug becomes a 500 answer, or an error line).

        A HEAD request gets the headers of the GET answer, `Content-Length` included, and no
        body, whichever front end carries it. Only injected faults raise: `ConnectionDropped`
        (from here or from a stream body) tells the front end to cut the connection.
        """
        refusal = self._faults.take_refusal()
        if refusal is not None:
            response = self._text(refusal.status, refusal.text)
            if refusal.retry_after is not None:
                retry = ("retry-after", str(refusal.retry_after))
                response = Response(response.status, (*response.headers, retry), response.body)
        else:
            response = await self._answer(request)
        if request.method != "HEAD":
            return response
        if isinstance(response.body, bytes):
            length = ("content-length", str(len(response.body)))
            return Response(response.status, (*response.headers, length), b"")
        return Response(response.status, response.headers, b"")

    def plain(self, status: int, text: str) -> Response:
        """A plain-text answer with this server's headers (for refusals of a front end)."""
        return self._text(status, text)

    def request_too_large(self) -> Response:
        """413: the request is larger than the server's maximum request size."""
        return self._text(413, m.TEXT_BODY_TOO_LARGE)

    async def _answer(self, request: Request) -> Response:
        if len(request.body) > self._options.limits.max_request_bytes:
            return self.request_too_large()
        route = self._routes.get(request.path)
        if route is None:
            return self._text(404, _wire.TEXT_NOT_FOUND)
        if request.method != route.method and (request.method, route.method) != ("HEAD", "GET"):
            response = self._text(405, m.TEXT_METHOD_NOT_ALLOWED)
            allow = "GET, HEAD" if route.method == "GET" else route.method
            return Response(response.status, (*response.headers, ("allow", allow)), response.body)
        limited: tuple[tuple[str, str], ...] = ()
        if self._limiter is not None:
            cost = self._limiter.limit.write_cost if route.changes_data else 1
            decision = self._limiter.take(request.client, cost)
            if not decision.allowed:
                return self._rate_limited(decision.seconds)
            limited = self._limiter.headers(decision)
        response = await self._route(request, route)
        if limited:
            return Response(response.status, (*response.headers, *limited), response.body)
        return response

    def _rate_limited(self, seconds: int) -> Response:
        """429: the client's budget is spent; `Retry-After` says in how many whole seconds it
        may come back."""
        response = self._text(429, m.text_rate_limited(seconds))
        return Response(
            response.status, (*response.headers, ("retry-after", str(seconds))), response.body
        )

    async def _route(self, request: Request, route: _Route) -> Response:
        """Answer a request whose route, method and budget are settled."""
        if route.authenticated and not self._is_authorized(request):
            return self._text(401, _wire.TEXT_UNAUTHORIZED)
        if route.changes_data and self._read_only:
            return self._refuse(
                Refusal(503, _wire.TEXT_READ_ONLY, ErrorCode.STORE_READ_ONLY), route
            )
        lines = V1_LINES if route.version is ApiVersion.V1 else V2_LINES
        call = _Call(route.version, BodyReader(strict=route.version is ApiVersion.V2), lines)
        try:
            response = await route.action(self, request, call)
        except Refusal as refusal:
            return self._refuse(refusal, route)
        except StoreUnavailableError as unavailable:
            return self._refuse(_unavailable(unavailable), route)
        except ConnectionDropped:
            raise
        except Exception:
            _logger.exception("the emulator failed to answer %s %s", request.method, request.path)
            return self._text(500, m.TEXT_INTERNAL_ERROR)
        if isinstance(response.body, bytes):
            return response
        guarded = _guarded(response.body, lines, f"{request.method} {request.path}")
        return Response(response.status, response.headers, self._faults.watch(guarded))

    def _is_authorized(self, request: Request) -> bool:
        given = request.header(_wire.AUTHORIZATION_HEADER) or ""
        scheme, _, token = given.partition(" ")
        expected = self._options.api_token.encode("utf-8")
        return scheme == "Bearer" and hmac.compare_digest(token.encode("utf-8"), expected)

    # --- answers ----------------------------------------------------------------------------

    def _headers(self, content_type: str) -> tuple[tuple[str, str], ...]:
        return (("server", self._options.server_header), ("content-type", content_type))

    def _text(self, status: int, text: str) -> Response:
        headers = (*self._headers(_wire.TEXT_CONTENT_TYPE), ("x-content-type-options", "nosniff"))
        return Response(status, headers, (text + "\n").encode("utf-8"))

    def _json(self, body: bytes) -> Response:
        return Response(200, self._headers(_wire.JSON_CONTENT_TYPE), body)

    def _ndjson(self, body: bytes | AsyncIterator[bytes]) -> Response:
        return Response(200, self._headers(_wire.NDJSON_CONTENT_TYPE), body)

    def _refuse(self, refusal: Refusal, route: _Route) -> Response:
        if route.version is ApiVersion.V1 or refusal.code is None:
            return self._text(refusal.status, refusal.text)
        line = V2_LINES.error(refusal.text, refusal.code, refusal.details)
        if route.shape is _Shape.DOCUMENT:
            return self._json(line.rstrip(b"\n"))
        return self._ndjson(line)

    def _management_event(self, path: str, event_type: str, data: bytes) -> bytes:
        """A management event (ping, token verified, schema registered): id 0, no hash."""
        now = format_time(time.time_ns(), self._options.time_format)
        return (
            b'{"specversion":"1.0","id":"0","time":'
            + _encode(now)
            + b',"source":'
            + _encode(_wire.MANAGEMENT_SOURCE)
            + b',"subject":'
            + _encode(path)
            + b',"type":'
            + _encode(event_type)
            + b',"datacontenttype":"application/json","data":'
            + data
            + b"}"
        )

    def _event_document(self, call: _Call, event: bytes) -> Response:
        """v1 answers a management event as is, v2 wraps it in an `event` envelope."""
        if call.version is ApiVersion.V1:
            return self._json(event)
        return self._json(b'{"type":"event","data":' + event + b"}")

    def _body(self, request: Request, call: _Call) -> object:
        return call.reader.decode(request.body)

    # --- system -----------------------------------------------------------------------------

    async def _ping(self, request: Request, call: _Call) -> Response:
        data = encode_json({"message": m.GREETING})
        return self._event_document(
            call, self._management_event(request.path, _wire.PING_RECEIVED, data)
        )

    async def _verify_token(self, request: Request, call: _Call) -> Response:
        kind = (
            _wire.API_TOKEN_VERIFIED_V1
            if call.version is ApiVersion.V1
            else _wire.TOKEN_VERIFIED_V2
        )
        return self._event_document(call, self._management_event(request.path, kind, b"{}"))

    async def _put_into_read_only_mode(self, request: Request, call: _Call) -> Response:
        """Refuse writes from now on, until a restart without `--read-only`; only once."""
        if self._read_only:
            raise Refusal(503, _wire.TEXT_READ_ONLY, ErrorCode.READ_ONLY_MODE_ALREADY_ENABLED)
        self._read_only = True
        event = self._management_event(request.path, _wire.READ_ONLY_MODE_ENABLED, b"{}")
        return self._event_document(call, event)

    async def _health(self, request: Request, call: _Call) -> Response:
        if "format=openmetrics" in request.query.split("&"):
            text = (
                "# TYPE eventsourcingdb_events gauge\n"
                "# HELP eventsourcingdb_events Number of stored events.\n"
                f"eventsourcingdb_events {len(self._store)}\n"
                "# EOF\n"
            )
            return Response(200, self._headers(_OPENMETRICS_CONTENT_TYPE), text.encode("utf-8"))
        checks = {"store": [{"status": "pass", "observedValue": len(self._store)}]}
        return self._json(b'{"status":"pass","checks":' + encode_json(checks) + b"}")

    # --- writing ----------------------------------------------------------------------------

    async def _write_events(self, request: Request, call: _Call) -> Response:
        def read() -> tuple[list[Candidate], list[Precondition]]:
            return call.reader.write_request(self._body(request, call))

        if len(request.body) <= INLINE_WRITE_BYTES:
            candidates, preconditions = read()
        else:
            candidates, preconditions = await asyncio.to_thread(read)
        try:
            written = await self._store.write_async(candidates, preconditions)
        except PreconditionFailedError as failed:
            raise Refusal(
                409,
                _wire.TEXT_PRECONDITION_FAILED,
                ErrorCode.PRECONDITION_VIOLATED,
                {"index": failed.index},
            ) from None
        except PreconditionQueryError as failed:
            raise Refusal(
                400,
                failed.error.message,
                query_error_code(failed.error),
                {"index": failed.index},
            ) from None
        except SchemaMismatchError as mismatch:
            raise Refusal(
                409,
                m.candidate_violates_schema(mismatch.detail),
                ErrorCode.EVENT_SCHEMA_VIOLATED,
                {"index": mismatch.index},
            ) from None
        if self._faults.take_lost_answer():
            raise ConnectionDropped
        if call.version is ApiVersion.V1:
            return self._json(b"[" + b",".join(event.encoded for event in written) + b"]")
        return self._ndjson(b"".join(map(call.lines.event, written)) + call.lines.end())

    async def _register_event_schema(self, request: Request, call: _Call) -> Response:
        name = "eventType" if call.version is ApiVersion.V1 else "type"
        where = "the request body"
        fields = call.reader.fields(self._body(request, call), (name, "schema"), where)
        event_type = call.reader.event_type(call.reader.string(fields, name, where))
        if "schema" not in fields:
            raise Refusal(400, m.TEXT_SCHEMA_MISSING, ErrorCode.EVENT_SCHEMA_MISSING)
        schema = fields["schema"]

        def register() -> CompiledSchema:
            compiled = compile_schema(schema)
            self._store.register_schema(event_type, compiled)
            return compiled

        try:
            compiled = await asyncio.to_thread(register)
        except InvalidSchemaError as invalid:
            code = (
                ErrorCode.EVENT_SCHEMA_NOT_OBJECT
                if invalid.problem is SchemaProblem.NOT_OBJECT
                else ErrorCode.EVENT_SCHEMA_MALFORMED
            )
            raise Refusal(400, m.invalid_schema(invalid.detail), code) from None
        except SchemaAlreadyRegisteredError:
            raise Refusal(
                409, _wire.TEXT_SCHEMA_ALREADY_EXISTS, ErrorCode.EVENT_SCHEMA_ALREADY_REGISTERED
            ) from None
        except StoredEventMismatchError as mismatch:
            raise Refusal(
                409,
                m.stored_event_violates_schema(mismatch.event_id, mismatch.detail),
                ErrorCode.EVENT_SCHEMA_VIOLATED,
                {"eventId": mismatch.event_id},
            ) from None
        data = b'{"eventType":' + _encode(event_type) + b',"schema":' + compiled.encoded + b"}"
        event = self._management_event(request.path, _wire.EVENT_SCHEMA_REGISTERED, data)
        if call.version is ApiVersion.V1:
            return self._json(event)
        return self._ndjson(b'{"type":"event","data":' + event + b"}\n" + call.lines.end())

    # --- reading ----------------------------------------------------------------------------

    async def _read_events(self, request: Request, call: _Call) -> Response:
        selection = call.reader.selection(self._body(request, call), Purpose.READ)
        try:
            events = self._store.read(selection)
        except RangeUnsatisfiableError:
            raise Refusal(
                409, _wire.TEXT_RANGE_UNSATISFIABLE, ErrorCode.RANGE_UNSATISFIABLE
            ) from None
        return self._ndjson(prepared_stream(event_chunks(events, call.lines), call.lines.end()))

    async def _observe_events(self, request: Request, call: _Call) -> Response:
        selection = call.reader.selection(self._body(request, call), Purpose.OBSERVE)
        if self._store.is_closed:
            raise Refusal(503, m.TEXT_SHUTTING_DOWN, ErrorCode.SERVER_SHUTTING_DOWN)
        return self._ndjson(
            observe_stream(self._store, selection, call.lines, self._options.heartbeat_interval)
        )

    async def _run_eventql_query(self, request: Request, call: _Call) -> Response:
        where = "the request body"
        fields = call.reader.fields(self._body(request, call), ("query",), where)
        text = call.reader.string(fields, "query", where)
        if text is None or not text.strip():
            raise Refusal(400, m.TEXT_QUERY_MISSING, ErrorCode.QUERY_MISSING)
        try:
            query = parse(text) if len(text) <= INLINE_QUERY_LENGTH else await _parse_off_loop(text)
        except EventQLSyntaxError as error:
            details = query_error_details(error)
            return self._ndjson(call.lines.error(error.message, ErrorCode.QUERY_MALFORMED, details))
        snapshot = self._store.snapshot()
        return self._ndjson(
            query_stream(query, snapshot, call.lines, self._options.heartbeat_interval)
        )

    async def _read_subjects(self, request: Request, call: _Call) -> Response:
        where = "the request body"
        body = self._body(request, call)
        if call.version is ApiVersion.V1:
            fields = call.reader.fields(body, ("baseSubject",), where)
            base = call.reader.subject(call.reader.string(fields, "baseSubject", where))
            recursive = True
        else:
            fields = call.reader.fields(body, ("subject", "options"), where)
            base = call.reader.subject(call.reader.string(fields, "subject", where))
            options = call.reader.fields(fields.get("options", {}), ("recursive",), "options")
            recursive = call.reader.boolean(options, "recursive", "options")
        subjects = self._store.subjects(base, recursive=recursive)
        return self._ndjson(
            prepared_stream(chunks(map(call.lines.subject, subjects)), call.lines.end())
        )

    async def _read_event_types(self, request: Request, call: _Call) -> Response:
        # no body at all is the usual request; v1 also takes `null` and ignores unknown members
        if request.body.strip():
            call.reader.fields(self._body(request, call), (), "the request body")
        types = self._store.event_types()
        return self._ndjson(
            prepared_stream(chunks(map(call.lines.event_type, types)), call.lines.end())
        )

    async def _read_event_type(self, request: Request, call: _Call) -> Response:
        name = "eventType" if call.version is ApiVersion.V1 else "type"
        where = "the request body"
        fields = call.reader.fields(self._body(request, call), (name,), where)
        event_type = call.reader.event_type(call.reader.string(fields, name, where))
        info = self._store.event_type(event_type)
        if info is None:
            raise Refusal(
                404, _wire.text_event_type_not_found(event_type), ErrorCode.EVENT_TYPE_UNKNOWN
            )
        if call.version is ApiVersion.V1:
            return self._json(call.lines.event_type_object(info))
        return self._json(call.lines.event_type(info).rstrip(b"\n"))


async def _parse_off_loop(text: str) -> Query:
    return await asyncio.to_thread(parse, text)


def _unavailable(error: StoreUnavailableError) -> Refusal:
    """A store that shuts down refuses (503, nothing was written); one whose data directory
    failed is a failure of the server (500: a write's outcome is unknown)."""
    if error.closed:
        return Refusal(503, m.TEXT_SHUTTING_DOWN, ErrorCode.SERVER_SHUTTING_DOWN)
    _logger.error("the emulator's store is unavailable: %s", error)
    return Refusal(500, m.TEXT_INTERNAL_ERROR)


async def _guarded(chunks: AsyncIterator[bytes], lines: Lines, what: str) -> AsyncIterator[bytes]:
    """The chunks of a stream; a failure after the status went out becomes one error line.

    The status is 200 by then, so the client learns of the failure from an `error` line (v1
    `internal server error`, v2 code `store-failed`) after which the answer ends cleanly, as
    the real server ends a stream (spec §5.4). The exception goes to the emulator's logger.
    """
    try:
        async for chunk in chunks:
            yield chunk
    except Exception:
        _logger.exception("the emulator failed while streaming the answer to %s", what)
        yield lines.error(m.TEXT_INTERNAL_ERROR, ErrorCode.STORE_FAILED)
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()


_ROUTES: Final[dict[str, _Route]] = {
    _wire.V1_PING: _Route("GET", ApiVersion.V1, _Shape.DOCUMENT, Handler._ping, False),
    _wire.V1_VERIFY_API_TOKEN: _Route(
        "POST", ApiVersion.V1, _Shape.DOCUMENT, Handler._verify_token
    ),
    _wire.V1_WRITE_EVENTS: _Route(
        "POST", ApiVersion.V1, _Shape.DOCUMENT, Handler._write_events, changes_data=True
    ),
    _wire.V1_READ_EVENTS: _Route("POST", ApiVersion.V1, _Shape.STREAM, Handler._read_events),
    _wire.V1_OBSERVE_EVENTS: _Route("POST", ApiVersion.V1, _Shape.STREAM, Handler._observe_events),
    _wire.V1_RUN_EVENTQL_QUERY: _Route(
        "POST", ApiVersion.V1, _Shape.STREAM, Handler._run_eventql_query
    ),
    _wire.V1_REGISTER_EVENT_SCHEMA: _Route(
        "POST", ApiVersion.V1, _Shape.DOCUMENT, Handler._register_event_schema, changes_data=True
    ),
    _wire.V1_READ_SUBJECTS: _Route("POST", ApiVersion.V1, _Shape.STREAM, Handler._read_subjects),
    _wire.V1_READ_EVENT_TYPES: _Route(
        "POST", ApiVersion.V1, _Shape.STREAM, Handler._read_event_types
    ),
    _wire.V1_READ_EVENT_TYPE: _Route(
        "POST", ApiVersion.V1, _Shape.DOCUMENT, Handler._read_event_type
    ),
    _wire.V1_HEALTH: _Route("GET", ApiVersion.V1, _Shape.DOCUMENT, Handler._health),
    _wire.V1_PUT_INTO_READ_ONLY_MODE: _Route(
        "POST", ApiVersion.V1, _Shape.DOCUMENT, Handler._put_into_read_only_mode
    ),
    _wire.V2_PING: _Route("GET", ApiVersion.V2, _Shape.DOCUMENT, Handler._ping, False),
    _wire.V2_VERIFY_TOKEN: _Route("POST", ApiVersion.V2, _Shape.DOCUMENT, Handler._verify_token),
    _wire.V2_WRITE_EVENTS: _Route(
        "POST", ApiVersion.V2, _Shape.STREAM, Handler._write_events, changes_data=True
    ),
    _wire.V2_REGISTER_EVENT_SCHEMA: _Route(
        "POST", ApiVersion.V2, _Shape.STREAM, Handler._register_event_schema, changes_data=True
    ),
    _wire.V2_READ_EVENT_TYPE: _Route(
        _wire.QUERY_METHOD, ApiVersion.V2, _Shape.DOCUMENT, Handler._read_event_type
    ),
    _wire.V2_READ_EVENT_TYPES: _Route(
        _wire.QUERY_METHOD, ApiVersion.V2, _Shape.STREAM, Handler._read_event_types
    ),
    _wire.V2_READ_EVENTS: _Route(
        _wire.QUERY_METHOD, ApiVersion.V2, _Shape.STREAM, Handler._read_events
    ),
    _wire.V2_OBSERVE_EVENTS: _Route(
        _wire.QUERY_METHOD, ApiVersion.V2, _Shape.STREAM, Handler._observe_events
    ),
    _wire.V2_RUN_EVENTQL_QUERY: _Route(
        _wire.QUERY_METHOD, ApiVersion.V2, _Shape.STREAM, Handler._run_eventql_query
    ),
    _wire.V2_READ_SUBJECTS: _Route(
        _wire.QUERY_METHOD, ApiVersion.V2, _Shape.STREAM, Handler._read_subjects
    ),
}
