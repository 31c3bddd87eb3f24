"""Every text the emulator answers with, in one place, and the refusal that carries one.

Texts the real server is known to send come from `eventsourcingdb._wire`; the rest (marked in
the report as our choice) follow its `<category>: <detail>` shape, quoting values with `'...'`
as `invalid event type: '<type>'` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from eventsourcingdb import _wire
from eventsourcingdb.errors import ErrorCode

__all__ = ["Refusal"]

TEXT_METHOD_NOT_ALLOWED: Final = "Method Not Allowed"
TEXT_INTERNAL_ERROR: Final = "internal server error"
TEXT_BODY_TOO_LARGE: Final = "http: request body too large"
"""Go's text for a body beyond `http.MaxBytesReader`'s limit."""
TEXT_BODY_TIMEOUT: Final = "request timeout: the request body did not arrive in time"
TEXT_SHUTTING_DOWN: Final = "the server is shutting down"
TEXT_STORE_RESET: Final = "the emulator's store was reset"

TEXT_EVENTS_MISSING: Final = "invalid events: at least one event is required"
TEXT_DATA_MISSING: Final = "invalid data: data is missing"
TEXT_DATA_MALFORMED: Final = "invalid data: data must be a JSON object"
TEXT_TRACESTATE_WITHOUT_TRACEPARENT: Final = "invalid tracestate: tracestate requires traceparent"
TEXT_PRECONDITION_TYPE_MISSING: Final = "invalid precondition: type is missing"
TEXT_PAYLOAD_MISSING: Final = "invalid precondition: payload is missing"
TEXT_FROM_LATEST_EVENT_INCOMPLETE: Final = (
    "invalid fromLatestEvent: subject, type and ifEventIsMissing are required"
)
TEXT_SELECTION_CONFLICTING: Final = (
    "invalid options: lowerBound and fromLatestEvent must not be used together"
)
TEXT_QUERY_MISSING: Final = "invalid query: query is missing"
TEXT_SCHEMA_MISSING: Final = "invalid schema: schema is missing"

GREETING: Final = "My God, it's full of stars."
"""The `message` of the ping answer's data (vendor plugin, open-questions-resolved §5)."""


ECHO_LIMIT: Final = 100
"""At most this many characters of a refused value are quoted back; a long one is cut short."""


def quoted(value: str) -> str:
    """`'<value>'`, or its start and its length when it is longer than `ECHO_LIMIT`."""
    if len(value) <= ECHO_LIMIT:
        return f"'{value}'"
    return f"'{value[:ECHO_LIMIT]}'... ({len(value)} characters)"


def invalid(what: str, value: str) -> str:
    """`invalid <what>: '<value>'`, the shape of the real server's `invalid event type` text."""
    return f"invalid {what}: {quoted(value)}"


def too_long(what: str, value: str, limit: int) -> str:
    """A value beyond the emulator's length limit, quoted only in part."""
    return f"invalid {what}: {quoted(value)} is longer than the {limit} characters allowed"


def text_rate_limited(seconds: int) -> str:
    """429: the client's rate limit is reached."""
    return f"too many requests: the rate limit is reached; retry after {seconds} seconds"


def event_too_large(size: int) -> str:
    """An event whose data is larger than the server takes (64 KiB as JSON)."""
    return (
        f"event too large: the data of the event takes {size} bytes, more than the "
        f"{_wire.MAX_EVENT_DATA_BYTES} allowed"
    )


def invalid_body(detail: str) -> str:
    """A request body that cannot be read (not JSON, wrong JSON types; in v2 nulls, unknowns)."""
    return f"invalid request body: {detail}"


def invalid_schema(detail: str) -> str:
    """A schema the server will not accept."""
    return f"invalid schema: {detail}"


def candidate_violates_schema(detail: str) -> str:
    """A write whose data does not match the schema of its type (409)."""
    return f"{_wire.TEXT_CANDIDATE_VIOLATES_SCHEMA}: {detail}"


def stored_event_violates_schema(event_id: str, detail: str) -> str:
    """A schema that an already stored event does not match (409)."""
    return f"{_wire.TEXT_STORED_EVENT_VIOLATES_SCHEMA} '{event_id}' does not match schema: {detail}"


class Refusal(Exception):
    """A request the server refuses, and how each API version says so.

    v1 answers `status` with `text` as plain text. v2 answers coded errors with 200 and an error
    envelope (`code`, `text` as description, `details`); without a code (the body cannot be read
    at all) v2 answers like v1.
    """

    def __init__(
        self,
        status: int,
        text: str,
        code: ErrorCode | None = None,
        details: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.code = code
        self.details: Mapping[str, object] = dict(details or {})

    def with_details(self, **details: object) -> Refusal:
        """The same refusal, locating the problem further (e.g. `index=2`)."""
        return Refusal(self.status, self.text, self.code, {**details, **self.details})
