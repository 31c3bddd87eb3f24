"""Decoding streamed answers: v1 lines and v2 envelopes, heartbeats, errors, `end`, breaks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eventsourcingdb import (
    ConcurrencyError,
    ErrorCode,
    Event,
    OutcomeUnknownError,
    ProtocolError,
    QueryError,
    ServerError,
    TransportError,
)
from eventsourcingdb._protocol import calls
from eventsourcingdb._protocol.envelopes import (
    BATCH_LINES,
    StreamDecoder,
    convert_event,
    convert_row_v1,
    convert_row_v2,
    convert_subject,
    decode_stream_body,
)
from eventsourcingdb._protocol.requests import (
    ApiVersion,
    Request,
    build_observe_events,
    build_read_events,
    build_read_subjects,
    build_run_eventql_query,
    build_write_events,
)
from eventsourcingdb.options import ObserveEventsOptions, ReadEventsOptions

EVENT: dict[str, Any] = {
    "source": "https://x",
    "subject": "/a",
    "type": "io.x.y",
    "specversion": "1.0",
    "id": "0",
    "time": "2026-10-07T13:32:50.439461594Z",
    "datacontenttype": "application/json",
    "predecessorhash": "0" * 64,
    "data": {"a": 1},
    "hash": "0" * 64,
    "signature": None,
}


def lines(*items: object) -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


def read_request(version: ApiVersion) -> Request:
    return build_read_events(version, "/a", ReadEventsOptions())


def event_decoder(version: ApiVersion) -> StreamDecoder[Event]:
    return StreamDecoder(read_request(version), "event", convert_event)


def test_v1_events_and_heartbeats() -> None:
    decoder = event_decoder(ApiVersion.V1)
    body = lines(
        {"type": "event", "payload": EVENT},
        {"type": "heartbeat", "payload": {}},
        {"type": "heartbeat"},
        {"type": "event", "payload": {**EVENT, "id": "1"}},
    )
    events = decoder.feed(body)
    assert [event.event_id for event in events] == ["0", "1"]
    assert decoder.close() == []
    assert decoder.failure is None


def test_v2_envelopes_end_with_end() -> None:
    decoder = event_decoder(ApiVersion.V2)
    body = lines(
        {"type": "event", "data": EVENT},
        {"type": "heartbeat", "data": {}},
        {"type": "end", "data": {}},
    )
    assert [event.event_id for event in decoder.feed(body)] == ["0"]
    assert decoder.done
    assert decoder.failure is None
    assert decoder.feed(lines({"type": "event", "data": EVENT})) == []


def test_events_keep_their_line_for_the_raw_data() -> None:
    decoder = event_decoder(ApiVersion.V2)
    line = b'{"type":"event","data":' + json.dumps(EVENT).encode() + b"}\n"
    (event,) = decoder.feed(line)
    assert event.raw_data == b'{"a": 1}'


def test_v2_without_end_is_broken_and_v1_is_not() -> None:
    v2 = event_decoder(ApiVersion.V2)
    v2.feed(lines({"type": "event", "data": EVENT}))
    v2.close()
    assert isinstance(v2.failure, TransportError)
    assert "'end'" in str(v2.failure)
    v1 = event_decoder(ApiVersion.V1)
    v1.feed(lines({"type": "event", "payload": EVENT}))
    v1.close()
    assert v1.failure is None


def test_an_error_item_stops_the_stream_after_the_values_before_it() -> None:
    decoder = event_decoder(ApiVersion.V1)
    body = lines(
        {"type": "event", "payload": EVENT},
        {"type": "error", "payload": {"error": "something broke"}},
        {"type": "event", "payload": {**EVENT, "id": "1"}},
    )
    assert [event.event_id for event in decoder.feed(body)] == ["0"]
    assert decoder.done
    assert isinstance(decoder.failure, ServerError)
    assert decoder.failure.description == "something broke"
    assert decoder.failure.status == 200


def test_a_v2_error_envelope_maps_its_code() -> None:
    decoder = event_decoder(ApiVersion.V2)
    error = {
        "type": "error",
        "data": {
            "code": "https://docs.eventsourcingdb.io/errors/precondition-violated",
            "description": "nope",
            "details": {"index": 1},
        },
    }
    decoder.feed(lines(error))
    assert isinstance(decoder.failure, ConcurrencyError)
    assert decoder.failure.code is ErrorCode.PRECONDITION_VIOLATED
    assert decoder.failure.details == {"index": 1}


def test_v1_query_error_lines_keep_their_tokens() -> None:
    request = build_run_eventql_query(ApiVersion.V1, "FORM e")
    decoder = StreamDecoder(request, "row", convert_row_v1)
    token = {"line": 1, "column": 1, "text": "FORM", "type": "identifier"}
    decoder.feed(lines({"type": "error", "payload": {"error": "bad", "startToken": token}}))
    assert isinstance(decoder.failure, QueryError)
    assert decoder.failure.details == {"startToken": token}


def test_a_truncated_last_line_is_a_broken_stream() -> None:
    decoder = event_decoder(ApiVersion.V1)
    decoder.feed(lines({"type": "event", "payload": EVENT})[:-20])
    assert decoder.close() == []
    assert isinstance(decoder.failure, TransportError)
    assert "middle of a line" in str(decoder.failure)


def test_a_complete_last_line_without_newline_is_delivered() -> None:
    decoder = event_decoder(ApiVersion.V1)
    assert decoder.feed(lines({"type": "event", "payload": EVENT}).rstrip(b"\n")) == []
    assert [event.event_id for event in decoder.close()] == ["0"]
    assert decoder.failure is None


def test_observe_streams_never_end() -> None:
    for version in ApiVersion:
        request = build_observe_events(version, "/a", ObserveEventsOptions())
        decoder = StreamDecoder(request, "event", convert_event)
        decoder.close()
        assert isinstance(decoder.failure, TransportError)
    v2 = StreamDecoder(
        build_observe_events(ApiVersion.V2, "/a", ObserveEventsOptions()), "event", convert_event
    )
    v2.feed(lines({"type": "end", "data": {}}))
    assert isinstance(v2.failure, ProtocolError)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"not json", "not JSON"),
        (b"[1,2]", "'type' member"),
        (b'{"payload":{}}', "'type' member"),
        (b'{"type":"row","payload":1}', "'row'"),
        (b'{"type":"event"}', "no 'payload' member"),
        (b'{"type":"event","payload":{"id":"0"}}', "not a valid event"),
        (b'{"type":"end","payload":{}}', "'end'"),
    ],
)
def test_malformed_lines_are_protocol_errors(line: bytes, message: str) -> None:
    decoder = event_decoder(ApiVersion.V1)
    decoder.feed(line + b"\n")
    assert isinstance(decoder.failure, ProtocolError)
    assert message in str(decoder.failure)


def test_a_large_chunk_comes_in_batches_of_the_values_of_at_most_batch_lines_lines() -> None:
    count = 2 * BATCH_LINES + 5
    items = [{"type": "event", "data": {**EVENT, "id": str(index)}} for index in range(count)]
    body = lines(*items[:BATCH_LINES], {"type": "heartbeat", "data": {}}, *items[BATCH_LINES:])
    decoder = event_decoder(ApiVersion.V2)
    batches = list(decoder.batches(body[:-7]))  # the last line arrives with the next chunk
    batches += list(decoder.batches(body[-7:] + lines({"type": "end", "data": {}})))
    assert [len(batch) for batch in batches] == [BATCH_LINES, BATCH_LINES - 1, 5, 1]
    ids = [event.event_id for batch in batches for event in batch]
    assert ids == [str(index) for index in range(count)]
    assert decoder.done
    assert decoder.failure is None
    whole = event_decoder(ApiVersion.V2).feed(body)
    assert whole == [event for batch in batches for event in batch]


def test_batches_stop_at_the_item_that_ends_the_stream_and_leave_out_empty_ones() -> None:
    items = [{"type": "event", "payload": {**EVENT, "id": str(index)}} for index in range(3)]
    heartbeats = [{"type": "heartbeat", "payload": {}}] * BATCH_LINES
    error = {"type": "error", "payload": {"error": "something broke"}}
    decoder = event_decoder(ApiVersion.V1)
    body = lines(*heartbeats, *items, error, *items, *heartbeats, *items)
    batches = list(decoder.batches(body))
    assert [[event.event_id for event in batch] for batch in batches] == [["0", "1", "2"]]
    assert isinstance(decoder.failure, ServerError)
    assert list(decoder.batches(lines(*items))) == []


def test_blank_lines_are_skipped() -> None:
    decoder = event_decoder(ApiVersion.V1)
    events = decoder.feed(b"\n  \r\n" + lines({"type": "event", "payload": EVENT}) + b"\n")
    assert len(events) == 1
    assert decoder.failure is None


def test_rows_and_subjects() -> None:
    v2 = StreamDecoder(build_run_eventql_query(ApiVersion.V2, "q"), "row", convert_row_v2)
    body = lines({"type": "row", "data": {"value": None}}, {"type": "end", "data": {}})
    assert v2.feed(body) == [None]
    broken = StreamDecoder(build_run_eventql_query(ApiVersion.V2, "q"), "row", convert_row_v2)
    broken.feed(lines({"type": "row", "data": 5}))
    assert isinstance(broken.failure, ProtocolError)
    subjects = StreamDecoder(build_read_subjects(ApiVersion.V1, "/"), "subject", convert_subject)
    assert subjects.feed(lines({"type": "subject", "payload": {"subject": "/a"}})) == ["/a"]
    subjects.feed(lines({"type": "subject", "payload": {}}))
    assert isinstance(subjects.failure, ProtocolError)


def test_write_answers_that_break_have_an_unknown_outcome() -> None:
    request = build_write_events(ApiVersion.V2, b"[]", ())
    decoder = StreamDecoder(request, "event", convert_event)
    with pytest.raises(OutcomeUnknownError, match="'end'"):
        decode_stream_body(decoder, lines({"type": "event", "data": EVENT}))
    decoder = StreamDecoder(request, "event", convert_event)
    with pytest.raises(OutcomeUnknownError, match="not JSON"):
        decode_stream_body(decoder, b"garbage\n")
    refused = StreamDecoder(request, "event", convert_event)
    error = {
        "type": "error",
        "data": {"code": "https://docs.eventsourcingdb.io/errors/precondition-violated"},
    }
    with pytest.raises(ConcurrencyError):
        decode_stream_body(refused, lines(error))


def test_v1_write_answer_array() -> None:
    call = calls.write_events(
        [{"source": "s:x", "subject": "/a", "type": "io.x.y", "data": {"a": 1}}], None
    )
    request = call.build(ApiVersion.V1)
    body = '[ {"data":{"a" : 1},' + json.dumps(EVENT)[1:].replace('"data": {"a": 1}, ', "") + "]"
    (event,) = call.read(request, body.encode())
    assert event.raw_data == b'{"a" : 1}'
    with pytest.raises(OutcomeUnknownError, match="JSON array"):
        call.read(request, b'{"not": "an array"}')
    with pytest.raises(OutcomeUnknownError, match="not a valid event"):
        call.read(request, b'[{"id": "0"}]')
