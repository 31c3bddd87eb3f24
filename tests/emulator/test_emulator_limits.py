"""Length limits of subjects and event types, and refusals that never echo a huge input."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from eventsourcingdb.emulator._requests import MAX_EVENT_TYPE_LENGTH, MAX_SUBJECT_LENGTH
from tests.emulator.emulator_helpers import Calls, candidate

LONGEST_SUBJECT = "/" + "s" * (MAX_SUBJECT_LENGTH - 1)
LONGEST_TYPE = "io.x." + "t" * (MAX_EVENT_TYPE_LENGTH - 5)


def _refusal(calls: Calls, response: Any) -> tuple[str, str | None]:
    """The refusal's text and (v2) code, after checking the status each version answers with."""
    if calls.api.version == 1:
        assert response.status_code == 400, response.text[:300]
        return response.text.removesuffix("\n"), None
    assert response.status_code == 200, response.text[:300]
    error = response.json()
    assert error["type"] == "error", response.text[:300]
    return error["data"]["description"], error["data"]["code"].rsplit("/", 1)[1]


async def test_a_subject_of_50000_segments_is_refused_cheaply_and_not_echoed(
    calls: Calls,
) -> None:
    deep = "/a" * 50_000  # the case: 100 KB that once made the index take 2.4 GB
    tracemalloc.start()
    try:
        response = await calls.call("write-events", {"events": [candidate(deep)]})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    text, code = _refusal(calls, response)
    assert text.startswith("invalid subject: '/a/a/a")
    assert f"longer than the {MAX_SUBJECT_LENGTH} characters allowed" in text
    assert len(text) < 300
    assert code in (None, "subject-malformed")
    assert peak < 20_000_000, f"{peak:,} bytes to refuse a request of 100 KB"
    assert await calls.write(candidate("/fine"))  # the server is well


async def test_subjects_up_to_the_limit_are_taken_everywhere(calls: Calls) -> None:
    (written,) = await calls.write(candidate(LONGEST_SUBJECT))
    assert written["subject"] == LONGEST_SUBJECT
    read = await calls.call("read-events", {"subject": LONGEST_SUBJECT})
    assert LONGEST_SUBJECT in read.text


@pytest.mark.parametrize(
    "place",
    ["write", "read", "observe", "subjects", "precondition", "from-latest-event"],
)
async def test_a_subject_beyond_the_limit_is_refused_everywhere(calls: Calls, place: str) -> None:
    subject = LONGEST_SUBJECT + "s"
    base = "baseSubject" if calls.api.version == 1 else "subject"
    from_latest = {"subject": subject, "type": "io.x.y", "ifEventIsMissing": "read-everything"}
    requests: dict[str, tuple[str, dict[str, Any]]] = {
        "write": ("write-events", {"events": [candidate(subject)]}),
        "read": ("read-events", {"subject": subject}),
        "observe": ("observe-events", {"subject": subject}),
        "subjects": ("read-subjects", {base: subject}),
        "precondition": (
            "write-events",
            {
                "events": [candidate()],
                "preconditions": [{"type": "isSubjectPristine", "payload": {"subject": subject}}],
            },
        ),
        "from-latest-event": (
            "read-events",
            {"subject": "/", "options": {"fromLatestEvent": from_latest}},
        ),
    }
    route, body = requests[place]
    text, code = _refusal(calls, await calls.call(route, body))
    assert text.startswith("invalid subject: '/sss")
    assert len(text) < 300
    assert code in (None, "subject-malformed")


async def test_event_types_up_to_the_limit_are_taken_and_longer_ones_refused(
    calls: Calls,
) -> None:
    (written,) = await calls.write(candidate(type_=LONGEST_TYPE))
    assert written["type"] == LONGEST_TYPE
    name = "eventType" if calls.api.version == 1 else "type"
    assert (await calls.call("read-event-type", {name: LONGEST_TYPE})).status_code == 200
    too_long = LONGEST_TYPE + "t"
    schema = {"type": "object", "properties": {}}
    for route, body in (
        ("write-events", {"events": [candidate(type_=too_long)]}),
        ("read-event-type", {name: too_long}),
        ("register-event-schema", {name: too_long, "schema": schema}),
    ):
        text, code = _refusal(calls, await calls.call(route, body))
        assert text.startswith("invalid event type: 'io.x.ttt"), route
        assert f"longer than the {MAX_EVENT_TYPE_LENGTH} characters allowed" in text
        assert len(text) < 300
        assert code in (None, "event-type-malformed")


async def test_a_huge_malformed_value_is_quoted_only_in_part(calls: Calls) -> None:
    source = "not a uri " * 100_000
    text, code = _refusal(
        calls, await calls.call("write-events", {"events": [candidate(source=source)]})
    )
    assert text.startswith("invalid source: 'not a uri not a uri")
    assert text.endswith(f"... ({len(source)} characters)")
    assert len(text) < 300
    assert code in (None, "source-malformed")
