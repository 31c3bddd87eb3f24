"""The exception tree: one root, leaves to catch by meaning, the seed's names kept."""

from __future__ import annotations

import pytest

from eventsourcingdb import errors as e


@pytest.mark.parametrize(
    "leaf",
    [
        e.InvalidArgumentError,
        e.ClientClosedError,
        e.StreamStalledError,
        e.ProtocolError,
        e.AuthenticationError,
        e.ConcurrencyError,
        e.EventTypeNotFoundError,
        e.QueryError,
        e.RateLimitedError,
        e.SchemaViolationError,
        e.SchemaAlreadyRegisteredError,
        e.InvalidSchemaError,
        e.StoreReadOnlyError,
        e.OutcomeUnknownError,
        e.HashMismatchError,
        e.UnsupportedHashVersionError,
        e.SignatureMismatchError,
        e.MissingSignatureError,
    ],
)
def test_every_error_has_the_one_root(leaf: type[Exception]) -> None:
    assert issubclass(leaf, e.EventSourcingDBError)


def test_the_seeds_names_stay_importable() -> None:
    assert e.CustomError is e.EventSourcingDBError
    assert issubclass(e.InvalidArgumentError, e.ValidationError)
    assert issubclass(e.ClientError, e.ServerError)
    assert e.InternalError is e.ProtocolError
    assert e.HeartbeatTimeoutError is e.StreamStalledError


def test_invalid_arguments_are_also_value_errors() -> None:
    assert issubclass(e.InvalidArgumentError, ValueError)


def test_server_errors_carry_what_the_server_said() -> None:
    error = e.ConcurrencyError(
        "precondition failed",
        status=409,
        code=e.ErrorCode.PRECONDITION_VIOLATED,
        description="state conflict: precondition failed",
        path="/api/v1/write-events",
        details={"index": 0},
    )
    assert (error.status, error.code, error.path) == (
        409,
        e.ErrorCode.PRECONDITION_VIOLATED,
        "/api/v1/write-events",
    )
    assert error.details == {"index": 0}
    assert str(error) == "precondition failed"


def test_rate_limited_errors_say_when_to_retry() -> None:
    error = e.RateLimitedError("slow down", retry_after=2.0)
    assert (error.status, error.retry_after) == (429, 2.0)


def test_error_codes_link_to_their_documentation() -> None:
    code = e.ErrorCode.PRECONDITION_VIOLATED
    assert code.url == "https://docs.eventsourcingdb.io/errors/precondition-violated" == code
    assert e.ErrorCode.from_url(code.url) is code
    assert e.ErrorCode.from_url("event-type-unknown") is e.ErrorCode.EVENT_TYPE_UNKNOWN
    assert e.ErrorCode.from_url("https://docs.eventsourcingdb.io/errors/no-such-code") is None


def test_outcome_unknown_errors_carry_the_gateways_answer() -> None:
    error = e.OutcomeUnknownError(
        "lost", path="/api/v2/data/write-events", status=502, description="bad gateway"
    )
    assert (error.path, error.status, error.description) == (
        "/api/v2/data/write-events",
        502,
        "bad gateway",
    )
    bare = e.OutcomeUnknownError("lost")
    assert (bare.path, bare.status, bare.description) == (None, None, "")


def test_the_official_2_2_4_tree_holds() -> None:
    assert issubclass(e.DbApiError, e.ServerError)
    assert issubclass(e.ConcurrencyError, e.DbApiError)
    assert issubclass(e.StoreReadOnlyError, e.DbApiError)
    assert issubclass(e.ConnectionStalledError, e.ServerError)
    assert issubclass(e.StreamStalledError, e.TransportError)
    assert issubclass(e.IncompleteStreamError, e.ServerError)
    assert issubclass(e.IncompleteStreamError, e.TransportError)
    assert issubclass(e.ProtocolError, e.ServerError)
    for integrity in (e.HashMismatchError, e.UnsupportedHashVersionError, e.SignatureMismatchError):
        assert issubclass(integrity, e.ValidationError)
    assert e.HashVerificationFailedError is e.HashMismatchError
    assert e.SignatureVerificationFailedError is e.SignatureMismatchError
    assert not issubclass(e.OutcomeUnknownError, e.ServerError)
    assert not issubclass(e.IncompatibleServerError, e.ServerError)


def test_a_db_api_error_is_built_as_in_2_2_4() -> None:
    error = e.DbApiError(
        status=409,
        description="state conflict",
        code="https://docs.eventsourcingdb.io/errors/precondition-violated",
        details={"index": 1},
        retry_after=None,
    )
    assert error.code is e.ErrorCode.PRECONDITION_VIOLATED
    assert (error.status, error.description, error.details) == (409, "state conflict", {"index": 1})
    assert str(error) == "state conflict"
    assert str(e.DbApiError(status=500, description="")) == "the server answered with status 500"
    unknown = e.DbApiError(status=200, description="x", code="https://example.com/new")
    assert unknown.code == "https://example.com/new"


def test_a_refused_argument_is_an_invalid_argument_and_a_coded_client_error() -> None:
    error = e.RefusedArgumentError("subject 'x' is malformed", code=e.ErrorCode.SUBJECT_MALFORMED)
    assert isinstance(error, e.InvalidArgumentError)
    assert isinstance(error, ValueError)
    assert isinstance(error, e.DbApiError)
    assert (error.status, error.code, error.message) == (
        400,
        e.ErrorCode.SUBJECT_MALFORMED,
        "subject 'x' is malformed",
    )


def test_errors_without_an_answer_still_have_the_answers_attributes() -> None:
    stalled = e.StreamStalledError("stalled", path="/p", timeout=2.5)
    assert (stalled.status, stalled.code, stalled.description, stalled.details) == (
        None,
        None,
        "",
        {},
    )
    assert (stalled.path, stalled.timeout, stalled.stall_timeout) == ("/p", 2.5, 2.5)
    assert e.ProtocolError("odd", path="/q").path == "/q"


def test_error_codes_are_the_servers_urls() -> None:
    code = e.ErrorCode.PRECONDITION_VIOLATED
    assert code == "https://docs.eventsourcingdb.io/errors/precondition-violated"
    assert code.slug == "precondition-violated"
    assert e.ErrorCode("precondition-violated") is code
    assert e.ErrorCode(code.value) is code
    with pytest.raises(ValueError, match="no-such-code"):
        e.ErrorCode("no-such-code")


def test_the_outcome_unknown_error_wraps_its_cause_as_in_2_2_4() -> None:
    cause = ConnectionResetError("reset by peer")
    error = e.OutcomeUnknownError(cause)
    assert error.cause is cause
    assert error.__cause__ is cause
    assert "ConnectionResetError: reset by peer" in str(error)
    assert e.OutcomeUnknownError("lost").cause is None


def test_is_outcome_unknown_follows_causes_only() -> None:
    unknown = e.OutcomeUnknownError("lost")
    assert e.is_outcome_unknown(unknown)
    wrapped = RuntimeError("later")
    wrapped.__cause__ = unknown
    assert e.is_outcome_unknown(wrapped)
    merely_during = RuntimeError("while handling")
    merely_during.__context__ = unknown
    assert not e.is_outcome_unknown(merely_during)
    assert not e.is_outcome_unknown(e.ConcurrencyError("refused", status=409))
    looping = RuntimeError("a")
    looping.__cause__ = looping
    assert not e.is_outcome_unknown(looping)


def test_hash_errors_take_2_2_4s_arguments() -> None:
    assert str(e.HashVerificationFailedError()) == "the event's hash does not match its content"
    unsupported = e.UnsupportedHashVersionError("v3")
    assert unsupported.version == "v3"
    assert "'v3'" in str(unsupported)
    assert str(e.IncompatibleServerError()).startswith("the server does not offer the v2 API")


def test_container_errors_are_runtime_errors_as_in_2_2_4() -> None:
    assert issubclass(e.ContainerError, RuntimeError)
