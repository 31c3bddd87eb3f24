"""Splitting NDJSON byte streams into lines, whatever the chunking."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from eventsourcingdb._protocol.ndjson import LineSplitter


def split_all(chunks: list[bytes]) -> tuple[list[bytes], bytes]:
    splitter = LineSplitter()
    lines: list[bytes] = []
    for chunk in chunks:
        lines.extend(splitter.feed(chunk))
    return lines, splitter.finish()


def test_lines_within_one_chunk() -> None:
    assert split_all([b'{"a":1}\n{"b":2}\n']) == ([b'{"a":1}', b'{"b":2}'], b"")


def test_a_line_across_many_chunks() -> None:
    assert split_all([b'{"a"', b":", b"1", b"}\n", b"{"]) == ([b'{"a":1}'], b"{")


def test_blank_lines_are_passed_on() -> None:
    assert split_all([b"a\n\n\r\nb\n"]) == ([b"a", b"", b"\r", b"b"], b"")


def test_a_very_long_line_has_no_limit() -> None:
    big = b'{"data":"' + b"x" * (8 * 1024 * 1024) + b'"}'
    chunks = [big[i : i + 65536] for i in range(0, len(big), 65536)] + [b"\n"]
    lines, rest = split_all(chunks)
    assert lines == [big]
    assert rest == b""


def test_pending_shows_the_unterminated_tail() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"abc") == []
    assert splitter.pending == b"abc"
    assert splitter.feed(b"def\ngh") == [b"abcdef"]
    assert splitter.finish() == b"gh"
    assert splitter.finish() == b""


def test_empty_chunks_change_nothing() -> None:
    assert split_all([b"", b"a", b"", b"\n", b""]) == ([b"a"], b"")


@given(
    st.lists(st.binary().map(lambda b: b.replace(b"\n", b"")), max_size=20),
    st.lists(st.integers(min_value=0, max_value=400), max_size=30),
)
def test_any_chunking_gives_the_same_lines(lines: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(line + b"\n" for line in lines)
    points = sorted({min(cut, len(stream)) for cut in cuts} | {0, len(stream)})
    chunks = [stream[start:end] for start, end in itertools.pairwise(points)]
    assert split_all(chunks) == (lines, b"")
