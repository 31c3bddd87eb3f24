"""A subject with a trailing slash: refused where events are written (the server would store a
second spelling of the subject), accepted where it only names the subject's node."""

from __future__ import annotations

import pytest

from eventsourcingdb import (
    Client,
    EventCandidate,
    InvalidArgumentError,
    IsSubjectOnEventId,
    ReadEventsOptions,
)

SOURCE = "https://library.eventsourcingdb.io"
ACQUIRED = "io.eventsourcingdb.library.book-acquired"


def book(subject: str) -> dict[str, object]:
    return {"source": SOURCE, "subject": subject, "type": ACQUIRED, "data": {}}


async def test_writing_to_a_subject_with_a_trailing_slash_is_refused_before_sending(
    client: Client,
) -> None:
    with pytest.raises(InvalidArgumentError, match=r"events\[0\].*write '/books/42'"):
        await client.write_events(events=[book("/books/42/")])
    with pytest.raises(InvalidArgumentError, match="write '/books/42'"):
        EventCandidate(source=SOURCE, subject="/books/42/", type=ACQUIRED, data={})
    assert client.api_version is None  # nothing was sent, not even the probe


async def test_reads_and_preconditions_take_the_slash_as_the_same_subject(client: Client) -> None:
    written = await client.write_events(events=[book("/books/42"), book("/books/42/pages/1")])
    assert [e.subject async for e in client.read_events("/books/42/")] == ["/books/42"]
    nested = client.read_events("/books/", ReadEventsOptions(recursive=True))
    assert [e.subject async for e in nested] == ["/books/42", "/books/42/pages/1"]
    assert [s async for s in client.read_subjects("/books/")] == [
        "/books",
        "/books/42",
        "/books/42/pages",
        "/books/42/pages/1",
    ]
    await client.write_events(
        events=[book("/books/42")],
        preconditions=[IsSubjectOnEventId("/books/42/", written[0].event_id)],
    )
