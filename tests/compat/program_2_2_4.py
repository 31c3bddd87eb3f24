"""A program written for the official SDK 2.2.4 only: its README's calls, names and signatures.

Nothing here is specific to this package; `tests/compat/test_program.py` runs it against the
emulator with our package installed under the same import name. Every capability of 2.2.4 is
used: writing with each precondition (recursive ones through `PreconditionOptions`), reading
and observing with every option, listing subjects and event types, schemas, EventQL, hash and
signature verification, the error codes, and the pandas export.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from eventsourcingdb import (
    Bound,
    BoundType,
    Client,
    DbApiError,
    ErrorCode,
    EventCandidate,
    HashVerificationFailedError,
    IfEventIsMissingDuringObserve,
    IfEventIsMissingDuringRead,
    IsEventQlQueryTrue,
    IsSubjectOnEventId,
    IsSubjectPopulated,
    IsSubjectPristine,
    ObserveEventsOptions,
    ObserveFromLatestEvent,
    Order,
    PreconditionOptions,
    ReadEventsOptions,
    ReadFromLatestEvent,
    ReadSubjectsOptions,
    ServerError,
    SignatureVerificationFailedError,
    ValidationError,
    is_outcome_unknown,
)

SOURCE = "https://library.eventsourcingdb.io"
ACQUIRED = "io.eventsourcingdb.library.book-acquired"
BORROWED = "io.eventsourcingdb.library.book-borrowed"


def acquired(subject: str, title: str) -> EventCandidate:
    return EventCandidate(
        source=SOURCE,
        subject=subject,
        type=ACQUIRED,
        data={"title": title, "author": "Arthur C. Clarke", "isbn": "978-0756906788"},
    )


def borrowed(subject: str) -> EventCandidate:
    return EventCandidate(source=SOURCE, subject=subject, type=BORROWED, data={"by": "Ada"})


async def expect_code(code: ErrorCode, call: Any) -> DbApiError:
    """Run `call()` (a coroutine function) and check that it fails with a DbApiError of `code`."""
    caught: DbApiError | None = None
    try:
        await call()
    except DbApiError as error:
        caught = error
    assert caught is not None, f"expected a DbApiError with {code}"
    assert caught.code == code, (caught.code, code)
    assert isinstance(caught, ServerError)
    return caught


async def main(
    base_url: str, api_token: str, verification_key: Ed25519PublicKey, *, with_pandas: bool = True
) -> list[str]:
    """Run every capability once; return what was checked (for the test to see it ran).

    `with_pandas=False` leaves out the pandas export, for an environment without pandas.
    """
    checked: list[str] = []
    client = Client(base_url=base_url, api_token=api_token, stall_timeout=10)
    async with client:
        await client.ping()
        await client.verify_api_token()
        checked.append("ping")

        await client.register_event_schema(
            event_type=ACQUIRED,
            json_schema={
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "author": {"type": "string"},
                    "isbn": {"type": "string"},
                },
                "required": ["title", "author", "isbn"],
                "additionalProperties": False,
            },
        )
        checked.append("schema")

        written = await client.write_events(
            event_candidates=[acquired("/books/42", "2001 – A Space Odyssey")],
            preconditions=[IsSubjectPristine("/books/42")],
        )
        first = written[0]
        assert (first.subject, first.type) == ("/books/42", ACQUIRED)

        error = await expect_code(
            ErrorCode.PRECONDITION_VIOLATED,
            lambda: client.write_events(
                event_candidates=[acquired("/books/42", "again")],
                preconditions=[IsSubjectPristine("/books/42")],
            ),
        )
        assert error.description
        await client.write_events(
            event_candidates=[borrowed("/books/42")],
            preconditions=[
                IsSubjectPopulated("/books/42"),
                IsSubjectOnEventId("/books/42", first.event_id),
                IsEventQlQueryTrue(
                    f'FROM e IN events WHERE e.type == "{BORROWED}" PROJECT INTO COUNT() < 10'
                ),
            ],
        )
        await client.write_events(
            event_candidates=[acquired("/books/43", "Rendezvous with Rama")],
            preconditions=[
                IsSubjectOnEventId(
                    subject="/books",
                    event_id="1",
                    options=PreconditionOptions(recursive=True),
                ),
                IsSubjectPristine("/shelves", PreconditionOptions(recursive=True)),
            ],
        )
        await expect_code(
            ErrorCode.PRECONDITION_VIOLATED,
            lambda: client.write_events(
                event_candidates=[borrowed("/books/43")],
                preconditions=[
                    IsSubjectPristine("/books", options=PreconditionOptions(recursive=True))
                ],
            ),
        )
        checked.append("preconditions")

        await expect_code(
            ErrorCode.EVENT_SCHEMA_VIOLATED,
            lambda: client.write_events(
                event_candidates=[
                    EventCandidate(
                        source=SOURCE, subject="/books/44", type=ACQUIRED, data={"colour": "red"}
                    )
                ]
            ),
        )
        await expect_code(
            ErrorCode.SUBJECT_MALFORMED,
            lambda: client.write_events(event_candidates=[acquired("books-without-slash", "x")]),
        )
        await expect_code(
            ErrorCode.EVENT_TYPE_UNKNOWN,
            lambda: client.read_event_type("io.eventsourcingdb.library.book-lost"),
        )

        async def bad_query() -> None:
            async for _ in client.run_eventql_query("FROM e IN events PROJECT"):
                pass

        await expect_code(ErrorCode.QUERY_MALFORMED, bad_query)
        checked.append("error codes")

        events = [
            event
            async for event in client.read_events(
                subject="/books", options=ReadEventsOptions(recursive=True)
            )
        ]
        assert [event.event_id for event in events] == ["0", "1", "2"]
        newest_first = [
            event.event_id
            async for event in client.read_events(
                "/books",
                ReadEventsOptions(
                    recursive=True,
                    order=Order.ANTICHRONOLOGICAL,
                    lower_bound=Bound(id="1", type=BoundType.INCLUSIVE),
                    upper_bound=Bound(id="2", type=BoundType.EXCLUSIVE),
                ),
            )
        ]
        assert newest_first == ["1"]
        latest = [
            event.event_id
            async for event in client.read_events(
                subject="/books/42",
                options=ReadEventsOptions(
                    recursive=False,
                    from_latest_event=ReadFromLatestEvent(
                        subject="/books/42",
                        type=BORROWED,
                        if_event_is_missing=IfEventIsMissingDuringRead.READ_EVERYTHING,
                    ),
                ),
            )
        ]
        assert latest == ["1"]
        checked.append("read")

        observed: list[str] = []
        stream = client.observe_events(
            subject="/books",
            options=ObserveEventsOptions(
                recursive=True, lower_bound=Bound(id="1", type=BoundType.INCLUSIVE)
            ),
        )
        async for event in stream:
            observed.append(event.event_id)
            if event.event_id == "2":
                break
        await stream.aclose()
        assert observed == ["1", "2"]
        from_latest = client.observe_events(
            "/books/42",
            ObserveEventsOptions(
                recursive=False,
                from_latest_event=ObserveFromLatestEvent(
                    subject="/books/42",
                    type=BORROWED,
                    if_event_is_missing=IfEventIsMissingDuringObserve.READ_EVERYTHING,
                ),
            ),
        )
        first_observed = await asyncio.wait_for(anext(from_latest), timeout=10)
        await from_latest.aclose()
        assert first_observed.event_id == "1"
        checked.append("observe")

        subjects = [
            subject
            async for subject in client.read_subjects(
                subject="/", options=ReadSubjectsOptions(recursive=True)
            )
        ]
        assert subjects == ["/", "/books", "/books/42", "/books/43"]
        alone = [s async for s in client.read_subjects("/books", ReadSubjectsOptions(False))]
        assert alone == ["/books"]
        checked.append("subjects")

        event_types = {
            event_type.type: event_type async for event_type in client.read_event_types()
        }
        assert event_types[ACQUIRED].has_events
        assert event_types[ACQUIRED].schema is not None
        one = await client.read_event_type(ACQUIRED)
        assert (one.type, one.has_events) == (ACQUIRED, True)
        checked.append("event types")

        rows = [
            row
            async for row in client.run_eventql_query(
                f'FROM e IN events WHERE e.type == "{ACQUIRED}" PROJECT INTO e.data.title'
            )
        ]
        assert rows == ["2001 – A Space Odyssey", "Rendezvous with Rama"]
        checked.append("eventql")

        for event in events:
            event.verify_hash()
            event.verify_signature(verification_key)
        tampered = events[0]
        tampered.data["title"] = "Tampered"
        failure: ValidationError | None = None
        try:
            tampered.verify_hash()
        except HashVerificationFailedError as error:
            failure = error
        assert failure is not None, "a tampered event verified"
        try:
            events[1].verify_signature(Ed25519PrivateKey.generate().public_key())
        except SignatureVerificationFailedError:
            pass
        else:
            raise AssertionError("another key verified the signature")
        checked.append("verification")

        if not with_pandas:
            return checked
        from eventsourcingdb.pandas import events_to_dataframe

        frame = await events_to_dataframe(
            client.read_events(subject="/books", options=ReadEventsOptions(recursive=True))
        )
        assert list(frame["event_id"]) == ["0", "1", "2"]
        assert frame["data"][0]["title"] == "2001 – A Space Odyssey"
        assert list(frame.columns) == [
            "event_id",
            "time",
            "source",
            "subject",
            "type",
            "data",
            "spec_version",
            "data_content_type",
            "predecessor_hash",
            "hash",
            "trace_parent",
            "trace_state",
            "signature",
        ]
        empty = await events_to_dataframe(
            client.read_events("/nothing", ReadEventsOptions(recursive=False))
        )
        assert (len(empty), list(empty.columns)) == (0, list(frame.columns))
        checked.append("pandas")

        assert not is_outcome_unknown(ValueError("unrelated"))
    return checked


if __name__ == "__main__":
    url, token, key_file, *rest = sys.argv[1:]
    with open(key_file, "rb") as pem:
        key = load_pem_public_key(pem.read())
    assert isinstance(key, Ed25519PublicKey)
    done = asyncio.run(main(url, token, key, with_pandas="--without-pandas" not in rest))
    print(json.dumps(done))
