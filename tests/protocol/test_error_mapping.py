"""Statuses, v1 texts, v2 codes and transport failures mapped to the SDK's exceptions."""

from __future__ import annotations

import pytest

from eventsourcingdb import (
    AuthenticationError,
    ClientError,
    ConcurrencyError,
    DbApiError,
    ErrorCode,
    EventSourcingDBError,
    EventTypeNotFoundError,
    InvalidSchemaError,
    OutcomeUnknownError,
    ProtocolError,
    QueryError,
    RateLimitedError,
    SchemaAlreadyRegisteredError,
    SchemaError,
    SchemaViolationError,
    ServerError,
    StoreReadOnlyError,
    StreamStalledError,
    TransportError,
)
from eventsourcingdb._protocol.errors import (
    FailureKind,
    TransportFailure,
    failure_error,
    is_refusal,
    server_header_error,
    status_error,
    v1_error_line,
    v2_error_envelope,
)
from eventsourcingdb._protocol.negotiation import Negotiation
from eventsourcingdb._protocol.requests import (
    ApiVersion,
    Operation,
    Request,
    build_read_event_type,
    build_read_events,
    build_register_event_schema,
    build_run_eventql_query,
    build_write_events,
)
from eventsourcingdb.options import ReadEventsOptions


def write(version: ApiVersion = ApiVersion.V1) -> Request:
    return build_write_events(version, b"[]", ())


def read(version: ApiVersion = ApiVersion.V1) -> Request:
    return build_read_events(version, "/", ReadEventsOptions())


@pytest.mark.parametrize(
    ("request_", "status", "text", "error_class", "code"),
    [
        (read(), 401, "unauthorized", AuthenticationError, None),
        (write(), 409, "state conflict: precondition failed", ConcurrencyError,
         ErrorCode.PRECONDITION_VIOLATED),
        (write(), 409, "state conflict: exceeded max store capacity", DbApiError,
         ErrorCode.CAPACITY_EXCEEDED),
        (write(), 409, "schema conflict: event candidate does not match schema: x",
         SchemaViolationError, ErrorCode.EVENT_SCHEMA_VIOLATED),
        (build_register_event_schema(ApiVersion.V1, "a.b.c", b"{}"), 409,
         "schema conflict: schema already exists", SchemaAlreadyRegisteredError,
         ErrorCode.EVENT_SCHEMA_ALREADY_REGISTERED),
        (build_register_event_schema(ApiVersion.V1, "a.b.c", b"{}"), 409,
         "schema conflict: event with ID '1' does not match", SchemaViolationError,
         ErrorCode.EVENT_SCHEMA_VIOLATED),
        (build_register_event_schema(ApiVersion.V1, "a.b.c", b"{}"), 400,
         "missing properties", InvalidSchemaError, None),
        (read(), 409,
         "state conflict: fromLatestEvent results in an event ID greater than upperBound ID",
         ClientError, ErrorCode.RANGE_UNSATISFIABLE),
        (build_read_event_type(ApiVersion.V1, "a.b.c"), 404, "event type 'a.b.c' not found",
         EventTypeNotFoundError, ErrorCode.EVENT_TYPE_UNKNOWN),
        (build_read_event_type(ApiVersion.V1, "a.b.c"), 404, "404 page not found", ClientError,
         None),
        (build_run_eventql_query(ApiVersion.V1, "x"), 400, "syntax error", QueryError,
         ErrorCode.QUERY_MALFORMED),
        (build_run_eventql_query(ApiVersion.V1, "x"), 400, "bad request", QueryError, None),
        (write(), 400, "syntax error at line 1, column 10: unexpected end of the query",
         QueryError, ErrorCode.QUERY_MALFORMED),
        (write(), 400, "query must return a single boolean value: the query returned a value "
         "of type number, not a boolean", QueryError, ErrorCode.QUERY_NOT_BOOLEAN),
        (write(), 400, "evaluation error at line 1, column 30: cannot add a string and a "
         "number", QueryError, ErrorCode.QUERY_UNEVALUABLE),
        (write(), 400, "invalid subject: 'x'", ClientError, None),
        (build_run_eventql_query(ApiVersion.V2, "x"), 400, "body is not JSON", ClientError, None),
        (read(), 503, "the current operation mode conflicts with the given request",
         StoreReadOnlyError, ErrorCode.STORE_READ_ONLY),
        (read(), 503, "service unavailable", DbApiError, None),
        (read(), 500, "boom", DbApiError, None),
        (read(), 400, "invalid subject", ClientError, None),
        (write(), 507, "license invalid", DbApiError, ErrorCode.LICENSE_INVALID),
    ],
)  # fmt: skip
def test_statuses_and_texts(
    request_: Request,
    status: int,
    text: str,
    error_class: type[ServerError],
    code: ErrorCode | None,
) -> None:
    error = status_error(request_, status, (text + "\n").encode())
    assert type(error) is error_class
    assert isinstance(error, ServerError)
    assert error.status == status
    assert error.code is code
    assert error.description == text
    assert error.path == request_.path
    assert request_.path in str(error)


def test_rate_limits_carry_retry_after() -> None:
    error = status_error(read(), 429, b"slow down", "12")
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 12.0
    assert "retry after 12 seconds" in str(error)
    undated = status_error(read(), 429, b"", "Wed, 21 Oct 2026 07:28:00 GMT")
    assert isinstance(undated, RateLimitedError)
    assert undated.retry_after is None


@pytest.mark.parametrize(
    ("version", "status", "refused"),
    [
        (ApiVersion.V2, 400, True),
        (ApiVersion.V2, 401, True),
        (ApiVersion.V2, 408, True),
        (ApiVersion.V2, 413, True),
        (ApiVersion.V2, 429, True),
        (ApiVersion.V2, 503, True),
        (ApiVersion.V2, 500, False),
        (ApiVersion.V2, 502, False),
        (ApiVersion.V2, 504, False),
        (ApiVersion.V2, 507, False),
        (ApiVersion.V1, 409, True),
        (ApiVersion.V1, 507, True),
        (ApiVersion.V1, 500, False),
        (ApiVersion.V1, 302, False),
    ],
)
def test_refusal_versus_unknown_outcome(version: ApiVersion, status: int, refused: bool) -> None:
    assert is_refusal(version, status) is refused
    error = status_error(write(version), status, b"text")
    assert isinstance(error, OutcomeUnknownError) is not refused


def test_unknown_outcome_keeps_the_servers_error_as_cause() -> None:
    error = status_error(write(), 502, b"bad gateway")
    assert isinstance(error, OutcomeUnknownError)
    assert isinstance(error.__cause__, ServerError)
    assert (error.status, error.description, error.path) == (502, "bad gateway", write().path)
    assert "may or may not have been written" in str(error)
    assert "do not retry blindly" in str(error)


def test_register_schema_outcome_names_the_schema() -> None:
    request = build_register_event_schema(ApiVersion.V1, "a.b.c", b"{}")
    error = status_error(request, 500, b"")
    assert isinstance(error, OutcomeUnknownError)
    assert "schema may or may not have been registered" in str(error)


@pytest.mark.parametrize(
    ("slug", "error_class"),
    [
        ("precondition-violated", ConcurrencyError),
        ("event-type-unknown", EventTypeNotFoundError),
        ("query-malformed", QueryError),
        ("query-unevaluable", QueryError),
        ("query-not-boolean", QueryError),
        ("event-schema-violated", SchemaViolationError),
        ("event-schema-already-registered", SchemaAlreadyRegisteredError),
        ("event-schema-malformed", InvalidSchemaError),
        ("event-schema-not-object", InvalidSchemaError),
        ("event-schema-unregistered", SchemaError),
        ("store-read-only", StoreReadOnlyError),
        ("subject-malformed", ClientError),
        ("event-id-malformed", ClientError),
        ("selection-conflicting", ClientError),
        ("event-too-large", ClientError),
        ("disk-full", DbApiError),
        ("server-shutting-down", DbApiError),
    ],
)
def test_every_v2_code_has_its_class(slug: str, error_class: type[ServerError]) -> None:
    data = {
        "code": f"https://docs.eventsourcingdb.io/errors/{slug}",
        "description": "it happened",
        "details": {"at": 3},
    }
    error = v2_error_envelope(write(ApiVersion.V2), data)
    assert type(error) is error_class
    assert error.code == ErrorCode(slug)
    assert error.status == 200
    assert error.details == {"at": 3}
    assert slug in str(error)


def test_odd_v2_error_envelopes_still_make_errors() -> None:
    assert type(v2_error_envelope(read(ApiVersion.V2), "text")) is DbApiError
    bare = v2_error_envelope(read(ApiVersion.V2), {"code": "weird"})
    assert bare.code == "weird"
    assert "weird" in str(bare)


def test_the_server_header() -> None:
    assert server_header_error(read(), "EventSourcingDB/1.2.3") is None
    assert isinstance(server_header_error(read(), None), ProtocolError)
    assert isinstance(server_header_error(read(), "eventsourcingdb/1"), ProtocolError)
    assert isinstance(server_header_error(write(), "nginx"), OutcomeUnknownError)
    gateway = server_header_error(write(), "nginx", 502, b"<h1>502 Bad Gateway</h1>\n")
    assert isinstance(gateway, OutcomeUnknownError)
    assert (gateway.status, gateway.description) == (502, "<h1>502 Bad Gateway</h1>")
    assert "it answered 502" in str(gateway)
    foreign = server_header_error(write(), None, 200, b"[]")
    assert isinstance(foreign, OutcomeUnknownError)
    assert (foreign.status, foreign.description) == (None, "")


@pytest.mark.parametrize(
    ("kind", "before", "for_read", "for_write"),
    [
        (FailureKind.NOT_SENT, True, TransportError, TransportError),
        (FailureKind.LOST, True, TransportError, OutcomeUnknownError),
        (FailureKind.LOST, False, TransportError, OutcomeUnknownError),
        (FailureKind.TIMEOUT, False, TransportError, OutcomeUnknownError),
        (FailureKind.STALLED, False, StreamStalledError, OutcomeUnknownError),
        (FailureKind.MALFORMED, False, ProtocolError, OutcomeUnknownError),
    ],
)
def test_transport_failures(
    kind: FailureKind,
    before: bool,
    for_read: type[EventSourcingDBError],
    for_write: type[EventSourcingDBError],
) -> None:
    failure = TransportFailure(kind, "detail", before_response=before, seconds=3.0)
    read_error = failure_error(read(), failure, "http://db")
    assert type(read_error) is for_read
    write_error = failure_error(write(), failure, "http://db")
    assert type(write_error) is for_write
    if kind is FailureKind.NOT_SENT:
        assert "could not reach the server at http://db" in str(write_error)
    if isinstance(read_error, StreamStalledError):
        assert read_error.timeout == 3.0


def test_a_pool_without_a_free_connection_is_a_request_not_sent() -> None:
    failure = TransportFailure(
        FailureKind.POOL_EXHAUSTED, "PoolTimeout", before_response=True, seconds=2.0, pool_size=100
    )
    for request in (write(), read()):
        error = failure_error(request, failure, "http://db")
        assert type(error) is TransportError
        assert "all 100 connections of the client's pool are held by open streams" in str(error)
        assert "not sent" in str(error)
        assert "aclose()" in str(error)
        assert "httpx.Limits" in str(error)
        assert "could not reach" not in str(error)
    given = TransportFailure(FailureKind.POOL_EXHAUSTED, "PoolTimeout", before_response=True)
    error = failure_error(write(), given, "http://db")
    assert "all connections of the pool of the given http_client" in str(error)


def test_errors_of_the_probe_name_the_call_the_user_made() -> None:
    probe = Negotiation().probe_request(Operation.WRITE_EVENTS)
    assert probe.operation is Operation.PING
    failure = TransportFailure(FailureKind.NOT_SENT, "ConnectError", before_response=True)
    error = failure_error(probe, failure, "http://db")
    assert str(error).startswith("write_events: while choosing the API version: could not reach")
    assert type(error) is TransportError  # nothing was written: the write was not even built
    refused = status_error(probe, 500, b"boom")
    assert str(refused).startswith("write_events: while choosing the API version: ")
    assert "ping" not in str(refused).split("[")[0]
    assert Negotiation().probe_request().label == "ping"


def test_v1_query_error_lines_get_the_query_codes() -> None:
    request = build_run_eventql_query(ApiVersion.V1, "x")
    error = v1_error_line(request, {"error": "syntax error at line 1, column 1: unexpected 'x'"})
    assert type(error) is QueryError
    assert error.code is ErrorCode.QUERY_MALFORMED
    unknown = v1_error_line(request, {"error": "something else"})
    assert type(unknown) is QueryError
    assert unknown.code is None


def test_operations_that_change_state() -> None:
    assert {op for op in Operation if op.changes_state} == {
        Operation.WRITE_EVENTS,
        Operation.REGISTER_EVENT_SCHEMA,
    }
