"""Requests of every call in both API versions, and the version negotiation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventsourcingdb import (
    Bound,
    BoundType,
    EventCandidate,
    IncompatibleServerError,
    InvalidArgumentError,
    IsEventQlQueryTrue,
    IsSubjectOnEventId,
    IsSubjectPopulated,
    IsSubjectPristine,
    ObserveEventsOptions,
    Order,
    ProtocolError,
    ReadEventsOptions,
    ServerError,
)
from eventsourcingdb._protocol import calls, requests
from eventsourcingdb._protocol.errors import FailureKind, TransportFailure
from eventsourcingdb._protocol.negotiation import Negotiation
from eventsourcingdb._protocol.requests import (
    ApiVersion,
    Request,
    build_ping,
    build_read_event_types,
    build_verify_api_token,
    encode_candidates,
    encode_json,
)

V1, V2 = ApiVersion.V1, ApiVersion.V2
BOOK = {"source": "s:x", "subject": "/books/42", "type": "io.x.book", "data": {"a": 1}}


def body(request: Request) -> Any:
    assert request.body is not None
    return json.loads(request.body)


@pytest.mark.parametrize(
    ("call", "v1", "v2"),
    [
        (calls.ping(), ("GET", "/api/v1/ping"), ("GET", "/api/v2/system/ping")),
        (
            calls.verify_api_token(),
            ("POST", "/api/v1/verify-api-token"),
            ("POST", "/api/v2/system/verify-token"),
        ),
        (
            calls.write_events([BOOK], None),
            ("POST", "/api/v1/write-events"),
            ("POST", "/api/v2/data/write-events"),
        ),
        (
            calls.register_event_schema("io.x.book", {"type": "object"}),
            ("POST", "/api/v1/register-event-schema"),
            ("POST", "/api/v2/data/register-event-schema"),
        ),
        (
            calls.read_event_type("io.x.book"),
            ("POST", "/api/v1/read-event-type"),
            ("QUERY", "/api/v2/data/read-event-type"),
        ),
    ],
)
def test_routes_of_document_calls(
    call: calls.DocumentCall[Any], v1: tuple[str, str], v2: tuple[str, str]
) -> None:
    assert (call.build(V1).method, call.build(V1).path) == v1
    assert (call.build(V2).method, call.build(V2).path) == v2


@pytest.mark.parametrize(
    ("call", "v1", "v2"),
    [
        (calls.read_events("/a", None), "/api/v1/read-events", "/api/v2/data/read-events"),
        (
            calls.observe_events("/a", None),
            "/api/v1/observe-events",
            "/api/v2/data/observe-events",
        ),
        (
            calls.run_eventql_query("FROM e IN events PROJECT INTO e"),
            "/api/v1/run-eventql-query",
            "/api/v2/data/run-eventql-query",
        ),
        (calls.read_subjects("/"), "/api/v1/read-subjects", "/api/v2/data/read-subjects"),
        (
            calls.read_event_types(),
            "/api/v1/read-event-types",
            "/api/v2/data/read-event-types",
        ),
    ],
)
def test_routes_of_streams(call: calls.StreamCall[Any], v1: str, v2: str) -> None:
    assert (call.build(V1).method, call.build(V1).path) == ("POST", v1)
    assert (call.build(V2).method, call.build(V2).path) == ("QUERY", v2)


def test_headers() -> None:
    ping = build_ping(V2)
    assert ping.headers("token") == {}
    verify = build_verify_api_token(V1)
    assert verify.body is None
    assert verify.headers("token") == {"authorization": "Bearer token"}
    write = calls.write_events([BOOK], None).build(V1)
    assert write.headers("token") == {
        "authorization": "Bearer token",
        "content-type": "application/json",
    }
    assert build_read_event_types(V2).body is None
    assert "token" not in repr(write)


def test_write_bodies_are_compact_utf8() -> None:
    request = calls.write_events([{**BOOK, "data": {"t": "é <&>"}}], None).build(V1)
    assert (
        request.body
        == (
            '{"events":[{"source":"s:x","subject":"/books/42","type":"io.x.book",'
            '"data":{"t":"é <&>"}}]}'
        ).encode()
    )


def test_preconditions_per_version() -> None:
    preconditions = [
        IsSubjectPristine("/a"),
        IsSubjectPopulated("/a", recursive=True),
        IsSubjectOnEventId("/a", "3", recursive=False),
        IsEventQlQueryTrue("FROM e IN events PROJECT INTO COUNT() == 0"),
    ]
    call = calls.write_events([BOOK], preconditions)
    assert body(call.build(V2))["preconditions"] == [
        {"type": "isSubjectPristine", "payload": {"subject": "/a"}},
        {
            "type": "isSubjectPopulated",
            "payload": {"subject": "/a", "options": {"recursive": True}},
        },
        {"type": "isSubjectOnEventId", "payload": {"subject": "/a", "eventId": "3"}},
        {
            "type": "isEventQlQueryTrue",
            "payload": {"query": "FROM e IN events PROJECT INTO COUNT() == 0"},
        },
    ]
    with pytest.raises(IncompatibleServerError, match=r"preconditions\[1\].*needs the v2 API"):
        call.build(V1)
    plain = calls.write_events([BOOK], [IsSubjectOnEventId("/a", "3", recursive=False)])
    assert "options" not in body(plain.build(V1))["preconditions"][0]["payload"]


def test_read_options_leave_out_what_is_unset() -> None:
    call = calls.read_events(
        "/a",
        ReadEventsOptions(
            recursive=True,
            order=Order.CHRONOLOGICAL,
            lower_bound=Bound(id="100", type=BoundType.INCLUSIVE),
        ),
    )
    for version in ApiVersion:
        assert body(call.build(version)) == {
            "subject": "/a",
            "options": {
                "recursive": True,
                "order": "chronological",
                "lowerBound": {"id": "100", "type": "inclusive"},
            },
        }
    observe = calls.observe_events("/a", ObserveEventsOptions(recursive=True))
    assert body(observe.build(V2)) == {"subject": "/a", "options": {"recursive": True}}


def test_schema_and_type_members_per_version() -> None:
    register = calls.register_event_schema("io.x.book", {"type": "object"})
    assert body(register.build(V1)) == {"eventType": "io.x.book", "schema": {"type": "object"}}
    assert body(register.build(V2)) == {"type": "io.x.book", "schema": {"type": "object"}}
    subjects = calls.read_subjects("/books")
    assert body(subjects.build(V1)) == {"baseSubject": "/books"}
    assert body(subjects.build(V2)) == {"subject": "/books", "options": {"recursive": True}}


def test_arguments_are_checked_when_the_call_is_prepared() -> None:
    with pytest.raises(InvalidArgumentError, match="must not be empty"):
        calls.write_events([], None)
    with pytest.raises(InvalidArgumentError, match=r"events\[0\]\.data cannot be encoded"):
        calls.write_events([{**BOOK, "data": {"x": {1, 2}}}], None)
    with pytest.raises(InvalidArgumentError, match="lone surrogate"):
        calls.write_events([{**BOOK, "data": {"x": "\ud800"}}], None)
    with pytest.raises(InvalidArgumentError, match="json_schema cannot be encoded"):
        calls.register_event_schema("io.x.book", {"x": object()})
    with pytest.raises(InvalidArgumentError, match="must be a list of preconditions"):
        calls.write_events([BOOK], IsSubjectPristine("/a"))


@given(
    st.lists(
        st.dictionaries(
            st.text(max_size=4),
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(alphabet=st.characters(exclude_categories=["Cs"])),
            max_size=3,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_the_candidates_are_encoded_in_one_call_as_one_by_one(datas: list[dict[str, Any]]) -> None:
    """The same document (orjson writes some floats in other spellings: `1e-7` for `1e-07`)."""
    candidates = [EventCandidate.from_dict({**BOOK, "data": data}) for data in datas]
    one_by_one = [encode_json(candidate.to_json(), "data") for candidate in candidates]
    encoded = encode_candidates(candidates)
    expected = b"[" + b",".join(one_by_one) + b"]"
    assert _typed(json.loads(encoded)) == _typed(json.loads(expected))
    if not any(isinstance(value, float) for data in datas for value in data.values()):
        assert encoded == expected


def _typed(value: Any) -> Any:
    """`value` in a form whose equality also compares types and float signs."""
    if isinstance(value, dict):
        return [(key, _typed(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (type(value).__name__, repr(value))


def test_a_candidate_that_cannot_be_encoded_is_named_by_its_index() -> None:
    good = EventCandidate.from_dict(BOOK)
    bad = EventCandidate.from_dict({**BOOK, "data": {"x": float("inf")}})
    with pytest.raises(InvalidArgumentError, match=r"events\[2\]\.data cannot be encoded"):
        encode_candidates([good, good, bad])


def test_when_the_whole_list_fails_to_encode_the_candidates_are_encoded_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class TooDeep:  # the list adds a level of nesting: data at the limit fail only in it
        def encode(self, value: object) -> str:
            raise RecursionError

    candidates = [EventCandidate.from_dict(BOOK), EventCandidate.from_dict(BOOK)]
    expected = encode_candidates(candidates)
    monkeypatch.setattr(requests, "_COMPACT", TooDeep())
    assert encode_candidates(candidates) == expected


def test_only_reads_broken_before_an_answer_are_retried_once() -> None:
    lost = TransportFailure(FailureKind.LOST, "reset", before_response=True)
    late = TransportFailure(FailureKind.LOST, "reset", before_response=False)
    unsent = TransportFailure(FailureKind.NOT_SENT, "refused", before_response=True)
    read = calls.read_events("/a", None).build(V1)
    write = calls.write_events([BOOK], None).build(V1)
    assert calls.may_retry(read, lost, 0)
    assert not calls.may_retry(read, lost, 1)
    assert not calls.may_retry(read, late, 0)
    assert not calls.may_retry(read, unsent, 0)
    assert not calls.may_retry(write, lost, 0)


# --- negotiation -----------------------------------------------------------------------------

SERVER = "EventSourcingDB/1.3.0"


def test_the_probe_settles_the_version() -> None:
    negotiation = Negotiation()
    assert negotiation.version is None
    probe = negotiation.probe_request()
    assert (probe.method, probe.path, probe.authenticated) == ("GET", "/api/v2/system/ping", False)
    assert negotiation.on_probe_answer(probe, 200, SERVER, b"") is V2
    assert negotiation.version is V2
    for status in (404, 405):
        fresh = Negotiation()
        assert fresh.on_probe_answer(probe, status, SERVER, b"") is V1


def test_a_probe_answer_from_elsewhere_is_refused() -> None:
    negotiation = Negotiation()
    probe = negotiation.probe_request()
    with pytest.raises(ProtocolError, match="Server header"):
        negotiation.on_probe_answer(probe, 404, None, b"")
    with pytest.raises(ServerError):
        negotiation.on_probe_answer(probe, 500, SERVER, b"down")
    assert negotiation.version is None


def test_a_vanished_v2_route_forgets_the_version() -> None:
    negotiation = Negotiation()
    probe = negotiation.probe_request()
    negotiation.on_probe_answer(probe, 200, SERVER, b"")
    read = calls.read_events("/a", None).build(V2)
    assert not negotiation.on_answer(read, 200)
    assert not negotiation.on_answer(read, 409)
    assert negotiation.on_answer(read, 404)
    assert negotiation.version is None
    v1_read = calls.read_events("/a", None).build(V1)
    assert not negotiation.on_answer(v1_read, 404)


def test_a_forced_version_never_changes() -> None:
    negotiation = Negotiation(V2)
    assert negotiation.forced
    assert negotiation.version is V2
    assert not negotiation.on_answer(calls.read_events("/a", None).build(V2), 404)
    assert negotiation.version is V2
