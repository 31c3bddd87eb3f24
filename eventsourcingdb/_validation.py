"""Checks of user input that run before any request, each raising `InvalidArgumentError`.

Every message says what is wrong and how to fix it. A value the server itself would refuse
raises `RefusedArgumentError` (also a `ClientError`) with the code the server answers with.
"""

from __future__ import annotations

from typing import Any, Final

from eventsourcingdb import _wire
from eventsourcingdb.errors import ErrorCode, InvalidArgumentError, RefusedArgumentError

_ACCEPTED_LIMIT: Final = 4096
"""How many accepted subjects, sources and event types each check remembers (then it forgets
them all and starts again): the same few come back on every write, and a regex costs more than
a set lookup."""
_ACCEPTED_SUBJECTS: set[str] = set()
_ACCEPTED_SOURCES: set[str] = set()
_ACCEPTED_EVENT_TYPES: set[str] = set()


def _accept(accepted: set[str], value: str) -> str:
    """Remember `value` (a str that passed its check) as accepted; return it."""
    if type(value) is str:
        if len(accepted) >= _ACCEPTED_LIMIT:
            accepted.clear()
        accepted.add(value)
    return value


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _invalid(message: str, code: ErrorCode | None) -> InvalidArgumentError:
    if code is None:
        return InvalidArgumentError(message)
    return RefusedArgumentError(message, code=code)


def rephrase(error: InvalidArgumentError, message: str) -> InvalidArgumentError:
    """`error` with another message (more context), keeping its class and code."""
    if isinstance(error, RefusedArgumentError) and isinstance(error.code, ErrorCode):
        return RefusedArgumentError(message, code=error.code)
    return InvalidArgumentError(message)


def check_str(value: object, what: str, code: ErrorCode | None = None) -> str:
    """`value` as a string, or an error naming `what` it should have been (with the server's
    `code` for it, when it would refuse it)."""
    if not isinstance(value, str):
        raise _invalid(f"{what} must be a string, got {type(value).__name__}", code)
    return value


def check_bool(value: object, what: str) -> bool:
    """`value` as a bool (no truthiness: 0, '' and None are refused)."""
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{what} must be True or False, got {_describe(value)}")
    return value


def check_subject(value: object, what: str = "subject") -> str:
    """A subject: `/` or slash-separated segments of letters, digits, `_` and `-`."""
    if type(value) is str and value in _ACCEPTED_SUBJECTS:
        return value
    subject = check_str(value, what, ErrorCode.SUBJECT_MALFORMED)
    if not _wire.SUBJECT_PATTERN.fullmatch(subject):
        raise RefusedArgumentError(
            f"{what} {_describe(subject)} is malformed: a subject starts with '/' and consists of "
            "segments of letters, digits, '_' and '-' separated by '/', for example '/books/42'",
            code=ErrorCode.SUBJECT_MALFORMED,
        )
    return _accept(_ACCEPTED_SUBJECTS, subject)


def check_written_subject(value: object, what: str = "subject") -> str:
    """A subject events are written to (or an aggregate lives at): as `check_subject`, without a
    trailing slash.

    The server reads `/books/42/` and `/books/42` as one subject, but stores an event's subject
    as written; a second spelling would follow its events everywhere (EventQL comparisons,
    `e.subject`, projections keyed by subject). Reads and preconditions accept the slash.
    """
    subject = check_subject(value, what)
    if len(subject) > 1 and subject.endswith("/"):
        raise InvalidArgumentError(
            f"{what} {_describe(subject)} ends with '/': write {subject.rstrip('/')!r}. The "
            "server reads both as one subject but stores an event's subject as written, so its "
            "events would carry a second spelling of it"
        )
    return subject


def check_event_type(value: object, what: str = "event type") -> str:
    """An event type in reverse-domain form, e.g. `io.eventsourcingdb.library.book-acquired`."""
    if type(value) is str and value in _ACCEPTED_EVENT_TYPES:
        return value
    event_type = check_str(value, what, ErrorCode.EVENT_TYPE_MALFORMED)
    if not _wire.EVENT_TYPE_PATTERN.fullmatch(event_type):
        raise RefusedArgumentError(
            f"{what} {_describe(event_type)} is malformed: use reverse-domain notation with at "
            "least three dot-separated parts of letters, digits, '_' and '-', the first at least "
            "two characters long, for example 'io.eventsourcingdb.library.book-acquired'",
            code=ErrorCode.EVENT_TYPE_MALFORMED,
        )
    return _accept(_ACCEPTED_EVENT_TYPES, event_type)


def check_event_id(value: object, what: str = "event id") -> str:
    """An event id: a decimal integer from 0 to 2**64 - 1 given as a string, e.g. `'42'`."""
    if isinstance(value, int) and not isinstance(value, bool):
        suggestion = f"pass '{value}'" if 0 <= value <= _wire.MAX_EVENT_ID else _EVENT_ID_RANGE
        raise RefusedArgumentError(
            f"{what} must be a string (event ids are strings in CloudEvents): {suggestion}",
            code=ErrorCode.EVENT_ID_MALFORMED,
        )
    event_id = check_str(value, what, ErrorCode.EVENT_ID_MALFORMED)
    if not _wire.EVENT_ID_PATTERN.fullmatch(event_id):
        raise RefusedArgumentError(
            f"{what} {_describe(event_id)} is malformed: an event id is a non-negative decimal "
            "integer as a string, for example '0' or '42'",
            code=ErrorCode.EVENT_ID_MALFORMED,
        )
    if len(event_id) >= _EVENT_ID_DIGITS and _beyond_max_event_id(event_id):
        raise RefusedArgumentError(
            f"{what} {_describe(event_id)} is out of range: {_EVENT_ID_RANGE}",
            code=ErrorCode.EVENT_ID_MALFORMED,
        )
    return event_id


_EVENT_ID_DIGITS: Final = len(str(_wire.MAX_EVENT_ID))
_EVENT_ID_RANGE: Final = (
    f"event ids go from '0' to '{_wire.MAX_EVENT_ID}' (the server's unsigned 64-bit integers)"
)


def _beyond_max_event_id(digits: str) -> bool:
    """Whether a decimal string (of any length) is larger than the largest event id."""
    significant = digits.lstrip("0")
    return len(significant) > _EVENT_ID_DIGITS or (
        len(significant) == _EVENT_ID_DIGITS and int(significant) > _wire.MAX_EVENT_ID
    )


def check_source(value: object, what: str = "source") -> str:
    """A source: an absolute URI, e.g. `https://example.com/app` or `tag:example.com,2026:app`."""
    if type(value) is str and value in _ACCEPTED_SOURCES:
        return value
    source = check_str(value, what, ErrorCode.SOURCE_MALFORMED)
    if not _wire.SOURCE_PATTERN.fullmatch(source):
        raise RefusedArgumentError(
            f"{what} {_describe(source)} is malformed: a source is an absolute URI with a scheme "
            "and no whitespace, for example 'https://library.eventsourcingdb.io'",
            code=ErrorCode.SOURCE_MALFORMED,
        )
    return _accept(_ACCEPTED_SOURCES, source)


def check_trace_parent(value: object, what: str = "trace_parent") -> str:
    """A W3C trace-context `traceparent` header value."""
    trace_parent = check_str(value, what, ErrorCode.TRACEPARENT_MALFORMED)
    if not _wire.TRACE_PARENT_PATTERN.fullmatch(trace_parent):
        raise RefusedArgumentError(
            f"{what} {_describe(trace_parent)} is malformed: use the W3C trace-context form "
            "'<2 hex version>-<32 hex trace id>-<16 hex parent id>-<2 hex flags>' in lower case, "
            "for example '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'",
            code=ErrorCode.TRACEPARENT_MALFORMED,
        )
    return trace_parent


def check_trace_state(value: object, what: str = "trace_state") -> str:
    """A W3C trace-context `tracestate` header value: up to 32 comma-separated `key=value` pairs."""
    trace_state = check_str(value, what, ErrorCode.TRACESTATE_MALFORMED)
    members = [member for member in trace_state.split(",") if member.strip(" \t")]
    if (
        not members
        or len(members) > _wire.TRACE_STATE_MAX_MEMBERS
        or not all(_wire.TRACE_STATE_MEMBER_PATTERN.fullmatch(member) for member in members)
    ):
        raise RefusedArgumentError(
            f"{what} {_describe(trace_state)} is malformed: use the W3C trace-context form "
            "'key=value[,key=value...]' with lower-case keys, for example 'rojo=00f067aa0ba902b7'",
            code=ErrorCode.TRACESTATE_MALFORMED,
        )
    return trace_state


def check_json_object(
    value: object, what: str = "data", code: ErrorCode = ErrorCode.DATA_MALFORMED
) -> dict[str, Any]:
    """Event data (or a schema, with its `code`): a JSON object (a dict with string keys, also
    in every nested object)."""
    if not isinstance(value, dict):
        raise RefusedArgumentError(
            f"{what} must be a JSON object (a dict with string keys), got {type(value).__name__}; "
            "wrap other values, for example {'value': ...}",
            code=code,
        )
    if not _keys_are_strings(value):
        where, key = _first_bad_key(value, what)
        raise RefusedArgumentError(
            f"{what} must have string keys only (in nested objects too), but {where} has the key "
            f"{_describe(key)} ({type(key).__name__}), which JSON would silently turn into a "
            "string or drop; use string keys",
            code=code,
        )
    return value


_CONTAINERS = (dict, list, tuple)
_STR_KEYS: Final = frozenset((str,))
_SCALARS: Final = frozenset((str, int, float, bool, type(None)))


def _keys_are_strings(value: dict[Any, Any]) -> bool:
    """Whether every object in `value`, however deeply nested, has string keys only.

    One loop over the members, descending only into dicts, lists and tuples; each container is
    visited once, so shared or circular values end (the JSON encoder refuses cycles later).
    """
    if _STR_KEYS.issuperset(map(type, value)) and _SCALARS.issuperset(map(type, value.values())):
        return True  # the usual data: str keys and scalar values, looked at in C
    pending: list[Any] = [value]
    seen = {id(value)}
    containers = _CONTAINERS
    while pending:
        current = pending.pop()
        if isinstance(current, dict):
            for key in current:
                if not isinstance(key, str):
                    return False
            values = current.values()
        else:
            values = current
        for item in values:
            if isinstance(item, containers) and id(item) not in seen:
                seen.add(id(item))
                pending.append(item)
    return True


def _first_bad_key(value: object, path: str) -> tuple[str, object]:
    """Where the first non-string key is (`data['a'][0]`) and the key; only after a failure."""
    pending: list[tuple[object, str]] = [(value, path)]
    seen = {id(value)}
    while pending:
        current, where = pending.pop(0)
        if isinstance(current, dict):
            members: list[tuple[object, object]] = list(current.items())
        elif isinstance(current, list | tuple):
            members = list(enumerate(current))
        else:
            continue
        for key, item in members:
            if isinstance(current, dict) and not isinstance(key, str):
                return where, key
            if isinstance(item, _CONTAINERS) and id(item) not in seen:
                seen.add(id(item))
                pending.append((item, f"{where}[{key!r}]"))
    raise AssertionError("no non-string key found")  # pragma: no cover - only after a failure
