"""What the async `Client` and the blocking `eventsourcingdb.sync.Client` share.

Both are thin shells that move bytes: everything they decide without I/O lives here (checking
their settings, the decision after a transport failure, the error of a closed client) or in
`_protocol`, so the two can differ only in how they wait.
"""

from __future__ import annotations

import logging
import math
from typing import Final, TypeVar
from urllib.parse import urlsplit

from eventsourcingdb._protocol import calls
from eventsourcingdb._protocol.errors import TransportFailure, failure_error
from eventsourcingdb._protocol.requests import ApiVersion, Request
from eventsourcingdb.errors import ClientClosedError, InvalidArgumentError
from eventsourcingdb.options import ReadSubjectsOptions

T = TypeVar("T")

_log = logging.getLogger("eventsourcingdb.client")

END_GRACE: Final = 1.0
"""How long to wait for the body to end after a v2 `end` item (lets the connection be reused)."""


def closed_error(how: str) -> ClientClosedError:
    """The error of a call on a closed client; `how` says how it was closed."""
    return ClientClosedError(
        f"the client is closed ({how}); create a new Client to talk to the server again"
    )


def check_base_url(base_url: object) -> str:
    """`base_url` if it is an http(s) URL with a host and without query or fragment."""
    if not isinstance(base_url, str):
        raise InvalidArgumentError(
            f"base_url must be a string such as 'http://localhost:3000', got "
            f"{type(base_url).__name__}"
        )
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as error:
        raise InvalidArgumentError(f"base_url {base_url!r} is malformed: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgumentError(
            f"base_url {base_url!r} is malformed: use an http or https URL with a host, for "
            "example 'http://localhost:3000'"
        )
    if parts.query or parts.fragment:
        raise InvalidArgumentError(
            f"base_url {base_url!r} must not have a query or fragment: pass only scheme, host, "
            "port and (behind a proxy) a path prefix"
        )
    return base_url


def check_api_token(api_token: object) -> str:
    """`api_token` if it can travel in an HTTP header."""
    if not isinstance(api_token, str):
        raise InvalidArgumentError(f"api_token must be a string, got {type(api_token).__name__}")
    if not api_token.strip():
        raise InvalidArgumentError(
            "api_token must not be empty: pass the token the server was started with"
        )
    if not all(" " <= character <= "~" for character in api_token):
        raise InvalidArgumentError(
            "api_token may only contain printable ASCII characters (it is sent in an HTTP "
            "header); check for a stray newline or a copied non-ASCII character"
        )
    return api_token


def check_seconds(value: object, what: str) -> float | None:
    """A positive, finite number of seconds, or None for no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentError(
            f"{what} must be a number of seconds or None, got {type(value).__name__}"
        )
    if not math.isfinite(value) or value <= 0:
        raise InvalidArgumentError(
            f"{what} must be a positive number of seconds (or None for no limit), got {value!r}"
        )
    return float(value)


def check_api_version(value: object) -> ApiVersion | None:
    """The forced API version (1 or 2), or None to probe the server."""
    if value is None:
        return None
    if isinstance(value, bool) or value not in (1, 2):
        raise InvalidArgumentError(
            f"api_version must be 1, 2 or None (probe the server), got {value!r}"
        )
    return ApiVersion(value)


def one_of(value: T | None, alias: T | None, name: str = "event_candidates") -> T:
    """The argument given under its name or under its alias (the official SDK 1.x's name)."""
    if value is not None and alias is not None:
        raise InvalidArgumentError(
            f"pass {name} or its older name, not both (they are the same argument)"
        )
    if value is None and alias is None:
        raise InvalidArgumentError(f"{name} is missing")
    result = value if value is not None else alias
    assert result is not None
    return result


def read_subjects_call(
    subject: str | None, options: ReadSubjectsOptions | None, base_subject: str | None
) -> calls.StreamCall[str]:
    """`read_subjects(subject, options, base_subject=...)` of either client, prepared."""
    if subject is None and base_subject is not None:
        return calls.read_subjects(base_subject, options, what="base_subject")
    return calls.read_subjects(one_of(subject, base_subject, "subject"), options)


def settle_failure(
    request: Request,
    failure: TransportFailure,
    attempt: int,
    *,
    closed: str | None,
    base_url: str,
) -> None:
    """Return if `request` may be sent once more after `failure`; raise its error otherwise.

    `closed` says how the client was closed meanwhile (None while it is open): a failure caused
    by closing the client is reported as the closed client it is.
    """
    if closed is not None:
        raise closed_error(closed) from None
    if calls.may_retry(request, failure, attempt):
        _log.info("retrying %s once: %s", request.target, failure.kind.value)
        return
    raise failure_error(request, failure, base_url) from failure.cause


__all__ = [
    "END_GRACE",
    "check_api_token",
    "check_api_version",
    "check_base_url",
    "check_seconds",
    "closed_error",
    "one_of",
    "read_subjects_call",
    "settle_failure",
]
