"""Which failures a projection waits out and retries, and which stop it."""

from __future__ import annotations

import pytest

from eventsourcingdb.errors import (
    AuthenticationError,
    ClientClosedError,
    ClientError,
    ErrorCode,
    ProtocolError,
    RateLimitedError,
    ServerError,
    StoreReadOnlyError,
    StreamStalledError,
    TransportError,
)
from eventsourcingdb.projections import (
    CheckpointStoreError,
    CheckpointStoreUnavailableError,
    LeaseLostError,
    RetryReason,
)
from eventsourcingdb.projections._worker import retry_reason


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (TransportError("the connection broke off"), RetryReason.SERVER),
        (StreamStalledError("no byte", timeout=30), RetryReason.SERVER),
        (ServerError("internal error", status=500), RetryReason.SERVER),
        (StoreReadOnlyError("read-only", status=503), RetryReason.SERVER),
        (
            ServerError("shutting down", status=200, code=ErrorCode.SERVER_SHUTTING_DOWN),
            RetryReason.SERVER,
        ),
        (RateLimitedError("slow down", retry_after=2), RetryReason.SERVER),
        (CheckpointStoreUnavailableError("database down"), RetryReason.CHECKPOINT_STORE),
        (AuthenticationError("wrong token", status=401), None),
        (ProtocolError("not EventSourcingDB"), None),
        (ClientError("malformed request", status=400), None),
        (ClientClosedError("closed"), None),
        (CheckpointStoreError("no such table"), None),
        (LeaseLostError("taken over", projection="p", owner="me"), None),
        (KeyError("a bug"), None),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_passing_failures_are_retried_and_others_stop_the_projection(
    error: BaseException, reason: RetryReason | None
) -> None:
    assert retry_reason(error) is reason
