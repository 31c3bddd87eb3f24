"""Wire facts of the EventSourcingDB HTTP API, shared by the client's protocol layer and emulator.

Only constants live here: routes, header names, the exact error texts of the real server, the
formats of subjects, event types, ids, sources and trace context. Both sides implement their own
behaviour on top, so the emulator stays an independent check of the client.
"""

from __future__ import annotations

import re
from typing import Final

# --- headers ---------------------------------------------------------------------------------

SERVER_HEADER: Final = "server"
SERVER_HEADER_PREFIX: Final = "EventSourcingDB/"
AUTHORIZATION_HEADER: Final = "authorization"
RETRY_AFTER_HEADER: Final = "retry-after"
JSON_CONTENT_TYPE: Final = "application/json"
NDJSON_CONTENT_TYPE: Final = "application/x-ndjson"
TEXT_CONTENT_TYPE: Final = "text/plain; charset=utf-8"

# --- routes ----------------------------------------------------------------------------------

QUERY_METHOD: Final = "QUERY"
"""The safe, idempotent HTTP method with a body (RFC 10008) that v2 reads use."""

V1_PING: Final = "/api/v1/ping"
V1_VERIFY_API_TOKEN: Final = "/api/v1/verify-api-token"
V1_WRITE_EVENTS: Final = "/api/v1/write-events"
V1_READ_EVENTS: Final = "/api/v1/read-events"
V1_OBSERVE_EVENTS: Final = "/api/v1/observe-events"
V1_RUN_EVENTQL_QUERY: Final = "/api/v1/run-eventql-query"
V1_REGISTER_EVENT_SCHEMA: Final = "/api/v1/register-event-schema"
V1_READ_SUBJECTS: Final = "/api/v1/read-subjects"
V1_READ_EVENT_TYPES: Final = "/api/v1/read-event-types"
V1_READ_EVENT_TYPE: Final = "/api/v1/read-event-type"
V1_HEALTH: Final = "/api/v1/health"
V1_PUT_INTO_READ_ONLY_MODE: Final = "/api/v1/put-into-read-only-mode"

V2_PING: Final = "/api/v2/system/ping"
V2_VERIFY_TOKEN: Final = "/api/v2/system/verify-token"
V2_WRITE_EVENTS: Final = "/api/v2/data/write-events"
V2_REGISTER_EVENT_SCHEMA: Final = "/api/v2/data/register-event-schema"
V2_READ_EVENT_TYPE: Final = "/api/v2/data/read-event-type"
V2_READ_EVENT_TYPES: Final = "/api/v2/data/read-event-types"
V2_READ_EVENTS: Final = "/api/v2/data/read-events"
V2_OBSERVE_EVENTS: Final = "/api/v2/data/observe-events"
V2_RUN_EVENTQL_QUERY: Final = "/api/v2/data/run-eventql-query"
V2_READ_SUBJECTS: Final = "/api/v2/data/read-subjects"

# --- management events -----------------------------------------------------------------------

MANAGEMENT_SOURCE: Final = "https://www.eventsourcingdb.io"
PING_RECEIVED: Final = "io.eventsourcingdb.api.ping-received"
API_TOKEN_VERIFIED_V1: Final = "io.eventsourcingdb.api.api-token-verified"
TOKEN_VERIFIED_V2: Final = "io.eventsourcingdb.api.token-verified"
EVENT_SCHEMA_REGISTERED: Final = "io.eventsourcingdb.api.event-schema-registered"
READ_ONLY_MODE_ENABLED: Final = "io.eventsourcingdb.api.read-only-mode-enabled"

# --- stream items ----------------------------------------------------------------------------

ITEM_EVENT: Final = "event"
ITEM_ROW: Final = "row"
ITEM_SUBJECT: Final = "subject"
ITEM_EVENT_TYPE: Final = "eventType"
ITEM_HEARTBEAT: Final = "heartbeat"
ITEM_ERROR: Final = "error"
ITEM_END: Final = "end"

V1_PAYLOAD_KEY: Final = "payload"
V2_DATA_KEY: Final = "data"

# --- error texts of the real server (v1 bodies, plain text ending in a newline) -------------

TEXT_UNAUTHORIZED: Final = "unauthorized"
TEXT_PRECONDITION_FAILED: Final = "state conflict: precondition failed"
TEXT_CAPACITY_EXCEEDED: Final = "state conflict: exceeded max store capacity"
TEXT_RANGE_UNSATISFIABLE: Final = (
    "state conflict: fromLatestEvent results in an event ID greater than upperBound ID"
)
TEXT_CANDIDATE_VIOLATES_SCHEMA: Final = "schema conflict: event candidate does not match schema"
TEXT_SCHEMA_ALREADY_EXISTS: Final = "schema conflict: schema already exists"
TEXT_STORED_EVENT_VIOLATES_SCHEMA: Final = "schema conflict: event with ID"
TEXT_READ_ONLY: Final = "the current operation mode conflicts with the given request"
TEXT_NOT_FOUND: Final = "404 page not found"


def text_event_type_not_found(event_type: str) -> str:
    """The real server's 404 text of read-event-type for an unknown type."""
    return f"event type '{event_type}' not found"


def text_invalid_event_type(event_type: str) -> str:
    """The real server's 400 text of read-event-type for a malformed type."""
    return f"invalid event type: '{event_type}'"


ERROR_CODE_URL_PREFIX: Final = "https://docs.eventsourcingdb.io/errors/"

# --- formats ---------------------------------------------------------------------------------

SUBJECT_PATTERN: Final = re.compile(r"/(?:[0-9A-Za-z_-]+/)*(?:[0-9A-Za-z_-]+/?)?")
"""A subject: `/` or slash-separated segments of letters, digits, `_` and `-`."""

EVENT_TYPE_PATTERN: Final = re.compile(r"[0-9A-Za-z_-]{2,}\.(?:[0-9A-Za-z_-]+\.)+[0-9A-Za-z_-]+")
"""An event type: reverse-domain, three or more parts, the first at least two characters."""

EVENT_ID_PATTERN: Final = re.compile(r"[0-9]+")
"""An event id: a non-negative decimal integer, as a string."""

MAX_EVENT_ID: Final = 2**64 - 1
"""The largest event id: the server parses ids as Go's uint64 and refuses larger ones."""

SOURCE_PATTERN: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f]*")
"""A source: an absolute URI (a scheme, a colon, no whitespace or control characters)."""

TRACE_PARENT_PATTERN: Final = re.compile(
    r"(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}"
)
"""W3C `traceparent`: version, trace id, parent id, flags; all-zero ids are invalid."""

_TRACE_STATE_KEY = (
    r"(?:[a-z0-9][a-z0-9_*/-]{0,240}@[a-z][a-z0-9_*/-]{0,13}|[a-z][a-z0-9_*/-]{0,255})"
)
_TRACE_STATE_VALUE = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
TRACE_STATE_MEMBER_PATTERN: Final = re.compile(
    rf"[ \t]*{_TRACE_STATE_KEY}={_TRACE_STATE_VALUE}[ \t]*"
)
"""One list member of a W3C `tracestate` (members are separated by commas, at most 32)."""
TRACE_STATE_MAX_MEMBERS: Final = 32

MAX_EVENT_DATA_BYTES: Final = 64 * 1024
"""The most an event may hold: "a single event may not exceed 64 KiB" (docs.eventsourcingdb.io,
2026); measured as the `data` of the event encoded as the server encodes JSON."""

ZERO_HASH: Final = "0" * 64
"""The predecessor hash of the very first event."""
HASH_V2_PREFIX: Final = "esdb:hash:v2:"
HASH_PREFIX: Final = "esdb:hash:"
SIGNATURE_V1_PREFIX: Final = "esdb:signature:v1:"
