"""Local fixtures for the EventQL tests: ready-made snapshots."""

from __future__ import annotations

import pytest

from tests.emulator.eventql.eventql_fakes import BOOK_TYPES, FakeSource, make_event


@pytest.fixture
def empty() -> FakeSource:
    """A store without events."""
    return FakeSource()


@pytest.fixture
def library() -> FakeSource:
    """Five events over two subjects with numeric, string and missing data fields."""
    datas: list[dict[str, object]] = [
        {"title": "Dune", "price": 23, "tags": ["sf", "classic"]},
        {"title": "Dune", "reader": "ann", "days": 14},
        {"title": "Dune", "reader": "ann", "days": 10.5},
        {"title": "Emma", "reader": "bob", "days": 7, "nested": {"deep": {"value": 1}}},
        {"title": "Emma", "reader": "cid", "days": None},
    ]
    subjects = ["/books/1", "/books/1", "/books/1", "/books/2", "/books/2"]
    events = [
        make_event(i, type_=BOOK_TYPES[i], subject=subjects[i], data=datas[i]) for i in range(5)
    ]
    return FakeSource(
        events,
        ["/", "/books", "/books/1", "/books/2"],
        [
            ("io.library.book-acquired", True, None),
            ("io.library.book-borrowed", True, {"type": "object", "properties": {}}),
            ("io.library.book-lost", False, {"type": "object", "properties": {}}),
        ],
    )


@pytest.fixture
def values() -> FakeSource:
    """Two events with ``data.value`` 23 and 42 (the .NET SDK's aggregate test)."""
    return FakeSource([make_event(0, data={"value": 23}), make_event(1, data={"value": 42})])
