"""Checks of user input that run before any request, each raising `InvalidArgumentError`.

Every message says what is wrong and how to fix it.
"""

from __future__ import annotations

from typing import Any

from eventsourcingdb import _wire
from eventsourcingdb.errors import InvalidArgumentError


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_str(value: object, what: str) -> str:
    """`value` as a string, or an error naming `what` it should have been."""
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{what} must be a string, got {type(value).__name__}")
    return value


def check_bool(value: object, what: str) -> bool:
    """`value` as a bool (no truthiness: 0, '' and None are refused)."""
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{what} must be True or False, got {_describe(value)}")
    return value


def check_subject(value: object, what: str = "subject") -> str:
    """A subject: `/` or slash-separated segments of letters, digits, `_` and `-`."""
    subject = check_str(value, what)
    if not _wire.SUBJECT_PATTERN.fullmatch(subject):
        raise InvalidArgumentError(
            f"{what} {_describe(subject)} is malformed: a subject starts with '/' and consists of "
            "segments of letters, digits, '_' and '-' separated by '/', for example '/books/42'"
        )
    return subject


def check_event_type(value: object, what: str = "event type") -> str:
    """An event type in reverse-domain form, e.g. `io.eventsourcingdb.library.book-acquired`."""
    event_type = check_str(value, what)
    if not _wire.EVENT_TYPE_PATTERN.fullmatch(event_type):
        raise InvalidArgumentError(
            f"{what} {_describe(event_type)} is malformed: use reverse-domain notation with at "
            "least three dot-separated parts of letters, digits, '_' and '-', the first at least "
            "two characters long, for example 'io.eventsourcingdb.library.book-acquired'"
        )
    return event_type


def check_event_id(value: object, what: str = "event id") -> str:
    """An event id: a non-negative decimal integer given as a string, e.g. `'42'`."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise InvalidArgumentError(
            f"{what} must be a string (event ids are strings in CloudEvents): pass '{value}'"
        )
    event_id = check_str(value, what)
    if not _wire.EVENT_ID_PATTERN.fullmatch(event_id):
        raise InvalidArgumentError(
            f"{what} {_describe(event_id)} is malformed: an event id is a non-negative decimal "
            "integer as a string, for example '0' or '42'"
        )
    return event_id


def check_source(value: object, what: str = "source") -> str:
    """A source: an absolute URI, e.g. `https://example.com/app` or `tag:example.com,2026:app`."""
    source = check_str(value, what)
    if not _wire.SOURCE_PATTERN.fullmatch(source):
        raise InvalidArgumentError(
            f"{what} {_describe(source)} is malformed: a source is an absolute URI with a scheme "
            "and no whitespace, for example 'https://library.eventsourcingdb.io'"
        )
    return source


def check_trace_parent(value: object, what: str = "trace_parent") -> str:
    """A W3C trace-context `traceparent` header value."""
    trace_parent = check_str(value, what)
    if not _wire.TRACE_PARENT_PATTERN.fullmatch(trace_parent):
        raise InvalidArgumentError(
            f"{what} {_describe(trace_parent)} is malformed: use the W3C trace-context form "
            "'<2 hex version>-<32 hex trace id>-<16 hex parent id>-<2 hex flags>' in lower case, "
            "for example '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'"
        )
    return trace_parent


def check_trace_state(value: object, what: str = "trace_state") -> str:
    """A W3C trace-context `tracestate` header value: up to 32 comma-separated `key=value` pairs."""
    trace_state = check_str(value, what)
    members = [member for member in trace_state.split(",") if member.strip(" \t")]
    if (
        not members
        or len(members) > _wire.TRACE_STATE_MAX_MEMBERS
        or not all(_wire.TRACE_STATE_MEMBER_PATTERN.fullmatch(member) for member in members)
    ):
        raise InvalidArgumentError(
            f"{what} {_describe(trace_state)} is malformed: use the W3C trace-context form "
            "'key=value[,key=value...]' with lower-case keys, for example 'rojo=00f067aa0ba902b7'"
        )
    return trace_state


def check_json_object(value: object, what: str = "data") -> dict[str, Any]:
    """Event data: a JSON object (a dict with string keys)."""
    if not isinstance(value, dict):
        raise InvalidArgumentError(
            f"{what} must be a JSON object (a dict with string keys), got {type(value).__name__}; "
            "wrap other values, for example {'value': ...}"
        )
    for key in value:
        if not isinstance(key, str):
            raise InvalidArgumentError(
                f"{what} must have string keys only, got the key {_describe(key)}"
            )
    return value
