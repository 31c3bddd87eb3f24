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
    assert e.ValidationError is e.InvalidArgumentError
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
    assert code.url == "https://docs.eventsourcingdb.io/errors/precondition-violated"
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
