"""Running queries: operators, functions, aggregates, grouping, ordering, sources, preconditions."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import pytest

from eventsourcingdb.emulator.eventql import (
    Cancellation,
    EventQLEvaluationError,
    EventQLNotBooleanError,
    QueryCancelledError,
    evaluate_precondition,
    evaluator,
    parse,
)
from eventsourcingdb.emulator.eventql.functions import parse_datetime_ns
from tests.emulator.eventql.eventql_fakes import FakeEvent, FakeSource, make_event, run

DATA: dict[str, object] = {
    "n": 5,
    "s": "Hello",
    "arr": [1, "a", None],
    "rec": {"k": 1},
    "t": True,
    "neg": -2.5,
}


@pytest.fixture
def one() -> FakeSource:
    """A store with a single event whose data holds one value of every JSON kind."""
    return FakeSource([make_event(0, data=DATA)])


def value(expr: str, source: FakeSource) -> object:
    """The single row of ``FROM e IN events PROJECT INTO <expr>`` over a one-event store."""
    rows = run(f"FROM e IN events PROJECT INTO {expr}", source)
    assert len(rows) == 1
    return rows[0]


def evaluation_error(query: str, source: FakeSource) -> EventQLEvaluationError:
    """The evaluation error that running ``query`` raises (parsing must succeed)."""
    compiled = parse(query)
    with pytest.raises(EventQLEvaluationError) as info:
        list(compiled.run(source))
    assert info.value.code in ("query-unevaluable", "query-not-boolean")
    return info.value


def ids(query: str, source: FakeSource) -> list[object]:
    """Rows of a query that projects ``e.id``."""
    return run(query, source)


# -- the documented examples -------------------------------------------------------------------


def test_average_and_count_of_two_values(values: FakeSource) -> None:
    rows = run(
        "FROM e IN events PROJECT INTO { average: AVG(e.data.value), count: COUNT() }", values
    )
    assert rows == [{"average": 32.5, "count": 2}]


def test_project_into_null_yields_one_null_per_event(library: FakeSource) -> None:
    assert run("FROM e IN events PROJECT INTO null", library) == [None] * 5


def test_count_equals_zero_over_no_events(empty: FakeSource) -> None:
    assert run("FROM e IN events PROJECT INTO COUNT() == 0", empty) == [True]


def test_whole_events_are_the_callers_objects_in_write_order(library: FakeSource) -> None:
    rows = run("FROM e IN events PROJECT INTO e", library)
    assert len(rows) == 5
    assert all(row is event for row, event in zip(rows, library.event_list, strict=True))
    assert all(event.calls == 0 for event in library.event_list)  # fields never fetched


def test_id_and_id_as_int(library: FakeSource) -> None:
    assert run("FROM e IN events PROJECT INTO e.id", library) == ["0", "1", "2", "3", "4"]
    numbers = run("FROM e IN events PROJECT INTO e.id AS INT", library)
    assert numbers == [0, 1, 2, 3, 4]
    assert all(type(n) is float for n in numbers)


def test_record_projection_has_exactly_its_keys(library: FakeSource) -> None:
    rows = run("FROM e IN events TOP 2 PROJECT INTO { id: e.id, book: e.data.title }", library)
    assert rows == [{"id": "0", "book": "Dune"}, {"id": "1", "book": "Dune"}]
    assert list(rows[0]) == ["id", "book"]  # type: ignore[call-overload]


def test_newest_events_first(library: FakeSource) -> None:
    rows = run("FROM e IN events ORDER BY e.time DESC TOP 2 PROJECT INTO e", library)
    assert rows == [library.event_list[4], library.event_list[3]]
    assert rows[0] is library.event_list[4]


def test_nested_data_projection(library: FakeSource) -> None:
    rows = run("FROM e IN events PROJECT INTO e.data.nested.deep.value", library)
    assert rows == [None, None, None, 1, None]


def test_data_projection_passes_event_data_through(library: FakeSource) -> None:
    rows = run("FROM e IN events PROJECT INTO e.data", library)
    assert rows[0] is library.event_list[0].fields["data"]


# -- laziness and reuse ------------------------------------------------------------------------


def test_fields_are_fetched_once_per_row(library: FakeSource) -> None:
    run(
        "FROM e IN events WHERE e.type != 'x' AND e.subject != 'y' ORDER BY e.time "
        "PROJECT INTO { a: e.id, b: e.data, c: e.time, d: e.hash }",
        library,
    )
    assert [event.calls for event in library.event_list] == [1] * 5


def test_top_stops_reading_early(library: FakeSource) -> None:
    rows = run("FROM e IN events WHERE e.data.reader == 'ann' TOP 1 PROJECT INTO e.id", library)
    assert rows == ["1"]
    assert [event.calls for event in library.event_list] == [1, 1, 0, 0, 0]


def test_rows_stream_lazily(library: FakeSource) -> None:
    rows = parse("FROM e IN events PROJECT INTO e.id").run(library)
    assert next(iter(rows)) == "0"
    assert [event.calls for event in library.event_list] == [1, 0, 0, 0, 0]


def test_a_query_runs_again_on_other_snapshots(library: FakeSource, empty: FakeSource) -> None:
    query = parse("FROM e IN events PROJECT INTO COUNT()")
    assert list(query.run(library)) == [5]
    assert list(query.run(empty)) == [0]
    assert list(query.run(library)) == [5]


# -- numbers -----------------------------------------------------------------------------------


def test_computed_numbers_are_floats_and_data_numbers_pass_through(library: FakeSource) -> None:
    assert run("FROM e IN events TOP 1 PROJECT INTO e.data.price", library) == [23]
    assert type(run("FROM e IN events TOP 1 PROJECT INTO e.data.price", library)[0]) is int
    computed = run(
        "FROM e IN events TOP 1 PROJECT INTO [e.data.price + 0, 2, e.id AS INT]", library
    )
    assert computed == [[23.0, 2.0, 0.0]]
    assert all(type(x) is float for x in computed[0])  # type: ignore[attr-defined]
    assert type(run("FROM e IN events PROJECT INTO COUNT()", library)[0]) is float


# -- arithmetic --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("1 + 2", 3.0),
        ("e.data.n + 1", 6.0),
        ("7 - 10", -3.0),
        ("2 * 3.5", 7.0),
        ("7 / 2", 3.5),
        ("7 % 3", 1.0),
        ("-7 % 3", -1.0),
        ("7.5 % 2", 1.5),
        ("-e.data.n", -5.0),
        ("+e.data.neg", -2.5),
        ("1 + 2 * 3", 7.0),
        ("(1 + 2) * 3", 9.0),
        ("10 - 2 - 3", 5.0),
        ("0.1 + 0.2", 0.1 + 0.2),
    ],
)
def test_arithmetic(expr: str, expected: float, one: FakeSource) -> None:
    result = value(expr, one)
    assert result == expected
    assert type(result) is float


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("1 / 0", "division by zero"),
        ("e.data.n % 0", "modulo by zero"),
        ("e.data.s + 1", "expects numbers"),
        ("e.data.missing + 1", "got null and number"),
        ("1e308 * 10", "not a finite number"),
        ("-e.data.s", "expects a number"),
        ("+e.data.t", "expects a number"),
        ("e.data.arr * 2", "got array and number"),
    ],
)
def test_arithmetic_errors(expr: str, fragment: str, one: FakeSource) -> None:
    error = evaluation_error(f"FROM e IN events PROJECT INTO {expr}", one)
    assert fragment in error.detail
    assert (error.line, error.column) == (1, 31)


def test_evaluation_error_spans_the_failing_expression(one: FakeSource) -> None:
    error = evaluation_error("FROM e IN events\nPROJECT INTO { x: e.data.s + 1 }", one)
    assert (error.line, error.column) == (2, 19)
    assert error.start_token is not None
    assert error.end_token is not None
    assert (error.start_token.text, error.end_token.text) == ("e", "1")
    assert error.message.startswith("evaluation error at line 2, column 19:")


# -- comparisons -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("1 < 2", True),
        ("2 <= 2", True),
        ("3 > 4", False),
        ("3 >= 4", False),
        ("'a' < 'b'", True),
        ("'B' < 'a'", True),
        ("'abc' >= 'abd'", False),
        ("e.data.n >= 5.0", True),
        ("e.data.n == 5", True),
        ("e.data.n != 5", False),
        ("e.data.t == 1", False),
        ("e.data.t == true", True),
        ("null == null", True),
        ("e.data.missing == null", True),
        ("e.data.n != null", True),
        ("e.data.arr == [1, 'a', null]", True),
        ("e.data.arr == [1, 'a']", False),
        ("e.data.rec == { k: 1 }", True),
        ("{ k: 1 } != { k: 2 }", True),
        ("{ a: 1, b: 2 } == { b: 2, a: 1 }", True),
        ("'1' == 1", False),
        ("[1, 2] == [2, 1]", False),
        ("e.data.s == 'Hello'", True),
        ('e.data.s == "Hello"', True),
        ("e == e", True),
    ],
)
def test_comparisons(expr: str, expected: bool, one: FakeSource) -> None:
    assert value(expr, one) is expected


@pytest.mark.parametrize(
    "expr", ["1 < 'a'", "null < 1", "e.data.missing >= 0", "true < false", "[1] < [2]"]
)
def test_ordering_needs_comparable_values(expr: str, one: FakeSource) -> None:
    error = evaluation_error(f"FROM e IN events PROJECT INTO {expr}", one)
    assert "cannot compare" in error.detail


# -- logic -------------------------------------------------------------------------------------


@pytest.mark.parametrize("a", [True, False])
@pytest.mark.parametrize("b", [True, False])
def test_truth_tables(a: bool, b: bool, one: FakeSource) -> None:
    x, y = str(a).lower(), str(b).upper()
    assert value(f"{x} AND {y}", one) is (a and b)
    assert value(f"{x} OR {y}", one) is (a or b)
    assert value(f"{x} XOR {y}", one) is (a != b)
    assert value(f"NOT {x}", one) is (not a)


@pytest.mark.parametrize(
    "expr", ["e.data.n AND true", "true AND e.data.s", "NOT e.data.s", "true XOR null",
             "e.data.n OR false"]
)  # fmt: skip
def test_logic_needs_booleans(expr: str, one: FakeSource) -> None:
    assert (
        "expects a boolean" in evaluation_error(f"FROM e IN events PROJECT INTO {expr}", one).detail
    )


def test_and_or_short_circuit(one: FakeSource) -> None:
    assert value("false AND 1 / 0 == 1", one) is False
    assert value("true OR e.data.n", one) is True


# -- CONTAINS ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("e.data.arr CONTAINS 'a'", True),
        ("e.data.arr CONTAINS 1", True),
        ("e.data.arr CONTAINS 1.0", True),
        ("e.data.arr CONTAINS null", True),
        ("e.data.arr CONTAINS true", False),
        ("e.data.arr CONTAINS 'b'", False),
        ("[[1]] CONTAINS [1]", True),
        ("[] CONTAINS 1", False),
        ("[{ a: 1 }] CONTAINS e.data.rec", False),
    ],
)
def test_contains(expr: str, expected: bool, one: FakeSource) -> None:
    assert value(expr, one) is expected


@pytest.mark.parametrize("expr", ["e.data.s CONTAINS 'a'", "e.data.missing CONTAINS 1"])
def test_contains_needs_an_array(expr: str, one: FakeSource) -> None:
    assert (
        "expects an array" in evaluation_error(f"FROM e IN events PROJECT INTO {expr}", one).detail
    )


# -- AS ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("5 AS STRING", "5"),
        ("2.5 AS STRING", "2.5"),
        ("0.1 AS STRING", "0.1"),
        ("0.0000001 AS STRING", "1e-7"),
        ("1e21 AS STRING", "1e+21"),
        ("123456789012 AS STRING", "123456789012"),
        ("true AS string", "true"),
        ("'x' AS STRING", "x"),
        ("null AS STRING", None),
        ("e.data.arr AS STRING", '[1,"a",null]'),
        ("e.data.rec AS STRING", '{"k":1}'),
        ("'42' AS INT", 42.0),
        ("'-7' AS Int", -7.0),
        ("2.9 AS INT", 2.0),
        ("-2.9 AS INT", -2.0),
        ("e.id AS INT", 0.0),
        ("null AS INT", None),
        ("'4.25' AS FLOAT64", 4.25),
        ("'1e3' AS float64", 1000.0),
        ("3 AS FLOAT64", 3.0),
        ("'true' AS BOOLEAN", True),
        ("'F' AS BOOLEAN", False),
        ("'1' AS boolean", True),
        ("false AS BOOLEAN", False),
        ("'2025-01-01T01:00:00+01:00' AS DATETIME", "2025-01-01T00:00:00Z"),
        ("'2025-02-03' AS DATETIME", "2025-02-03T00:00:00Z"),
        ("'2025-01-01T00:00:00.500Z' AS DATETIME", "2025-01-01T00:00:00.5Z"),
        ("'2024-02-29' AS DATE", "2024-02-29"),
        ("'2025-01-01T23:30:00-01:00' AS DATE", "2025-01-02"),
        ("'13:45:10.25' AS TIME", "13:45:10.25"),
        ("'2025-01-01T13:45:10Z' AS TIME", "13:45:10"),
        ("e.time AS STRING", "2025-01-01T00:00:00.123456789Z"),
        ("e.time AS DATE", "2025-01-01"),
        ("e.time AS TIME", "00:00:00.123456789"),
        ("e.time AS DATETIME", "2025-01-01T00:00:00.123456789Z"),
        ("e.time AS DATE AS DATETIME", "2025-01-01T00:00:00Z"),
    ],
)
def test_conversions(expr: str, expected: object, one: FakeSource) -> None:
    result = value(expr, one)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    "expr",
    [
        "'4.2' AS INT",
        "'x' AS INT",
        "'' AS INT",
        "true AS INT",
        "'abc' AS FLOAT64",
        "'inf' AS FLOAT64",
        "'nan' AS FLOAT64",
        "'yes' AS BOOLEAN",
        "1 AS BOOLEAN",
        "'2025-02-30T00:00:00Z' AS DATETIME",
        "'x' AS DATETIME",
        "1 AS DATETIME",
        "'2023-02-29' AS DATE",
        "'25:00:00' AS TIME",
        "e.time AS INT",
        "'" + "9" * 5000 + "' AS INT",
    ],
)
def test_failed_conversions(expr: str, one: FakeSource) -> None:
    error = evaluation_error(f"FROM e IN events PROJECT INTO {expr}", one)
    assert "cannot convert" in error.detail
    assert (error.line, error.column) == (1, 31)


# -- time --------------------------------------------------------------------------------------


def test_time_compares_chronologically_not_as_text() -> None:
    stamps = ["2025-01-01T00:00:00.5Z", "2025-01-01T00:00:00Z", "2025-01-01T00:00:00.05Z",
              "2025-01-01T01:00:00+02:00"]  # fmt: skip
    source = FakeSource([make_event(i, time=stamp) for i, stamp in enumerate(stamps)])
    assert run("FROM e IN events ORDER BY e.time PROJECT INTO e.time", source) == [
        "2025-01-01T01:00:00+02:00",
        "2025-01-01T00:00:00Z",
        "2025-01-01T00:00:00.05Z",
        "2025-01-01T00:00:00.5Z",
    ]
    rows = run("FROM e IN events WHERE e.time > '2024-12-31T23:30:00Z' PROJECT INTO e.id", source)
    assert rows == ["0", "1", "2"]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("e.time == '2025-01-01T00:00:00.123456789Z'", True),
        ("e.time == '2025-01-01T01:00:00.123456789+01:00'", True),
        ("e.time > '2025-01-01T00:00:00Z'", True),
        ("e.time AS DATE == '2025-01-01'", True),
        ("e.time AS TIME < '00:00:01'", True),
        ("e.time AS DATE < '2025-01-02' AS DATE", True),
        ("'2025-01-01' AS DATE == e.time", True),
        ("e.time == e.time", True),
        ("e.time == 5", False),
        ("e.time != null", True),
        ("NOW() > e.time", True),
    ],
)
def test_temporal_comparisons(expr: str, expected: bool, one: FakeSource) -> None:
    assert value(expr, one) is expected


@pytest.mark.parametrize("expr", ["e.time < 'not a time'", "e.time == 'x'", "e.time AS TIME < 1"])
def test_temporal_comparison_errors(expr: str, one: FakeSource) -> None:
    assert "cannot compare" in evaluation_error(f"FROM e IN events PROJECT INTO {expr}", one).detail


def test_now_is_the_current_time(one: FakeSource) -> None:
    stamp = value("NOW()", one)
    assert isinstance(stamp, str)
    ns = parse_datetime_ns(stamp)
    assert ns is not None
    assert abs(ns - time.time_ns()) < 60 * 10**9


# -- functions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("ABS(-2.5)", 2.5),
        ("ABS(e.data.n)", 5.0),
        ("CEIL(1.2)", 2.0),
        ("CEIL(-1.2)", -1.0),
        ("FLOOR(1.8)", 1.0),
        ("FLOOR(-1.2)", -2.0),
        ("ROUND(2.5)", 3.0),
        ("ROUND(-2.5)", -3.0),
        ("ROUND(2.4)", 2.0),
        ("ROUND(0.49999999999999994)", 0.0),
        ("COS(0)", 1.0),
        ("EXP(0)", 1.0),
        ("POW(2, 10)", 1024.0),
        ("SQRT(16)", 4.0),
        ("PI()", math.pi),
        ("PI", math.pi),
        ("LOWER('AbC')", "abc"),
        ("UPPER('AbC')", "ABC"),
        ("TRIM('  a b  ')", "a b"),
        ("LTRIM('  a  ')", "a  "),
        ("RTRIM('  a  ')", "  a"),
        ("LEN('héllo')", 5.0),
        ("LEN(e.data.arr)", 3.0),
        ("LEN('')", 0.0),
        ("INSTR('hello', 'l')", 3.0),
        ("INSTR('hello', 'z')", 0.0),
        ("SUBSTRING('hello', 2, 3)", "ell"),
        ("SUBSTRING('hello', 2)", "ello"),
        ("SUBSTRING('hello', 0, 2)", "he"),
        ("SUBSTRING('hello', 10)", ""),
        ("REPLACE('a-b-c', '-', '+')", "a+b+c"),
        ("STARTSWITH('/books/1', '/books')", True),
        ("ENDSWITH('/books/1', '/2')", False),
        ("IF(true, 1, 2)", 1.0),
        ("IF(false, 1, 2)", 2.0),
        ("IF(e.data.n > 3, 'big', 'small')", "big"),
        ("IF(true, 1, 1 / 0)", 1.0),
        ("IF(true, e.time, null)", "2025-01-01T00:00:00.123456789Z"),
        ("YEAR('2024-02-29')", 2024.0),
        ("MONTH('2024-02-29')", 2.0),
        ("DAY('2024-02-29')", 29.0),
        ("WEEKDAY('2024-02-29')", 4.0),
        ("WEEKDAY('2024-03-03')", 0.0),
        ("HOUR('13:45:10')", 13.0),
        ("MINUTE('13:45:10')", 45.0),
        ("SECOND('13:45:10.9')", 10.0),
        ("YEAR(e.time)", 2025.0),
        ("WEEKDAY(e.time)", 3.0),
        ("HOUR('2025-01-01T22:10:00+01:00' AS DATETIME)", 21.0),
        ("DAY('2025-03-04' AS DATE)", 4.0),
        ("MINUTE('07:08:09' AS TIME)", 8.0),
        ("lower(Upper('x'))", "x"),
    ],
)
def test_functions(expr: str, expected: object, one: FakeSource) -> None:
    result = value(expr, one)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("ABS('x')", "ABS expects a number"),
        ("LOWER(1)", "LOWER expects a string"),
        ("UPPER(e.data.missing)", "got null"),
        ("SQRT(-1)", "negative"),
        ("POW(0, -1)", "not a real number"),
        ("EXP(1000)", "not a finite number"),
        ("SUBSTRING('abc', 1.5)", "expects an integer"),
        ("SUBSTRING('abc', 1, -1)", "non-negative length"),
        ("YEAR('nope')", "expects a DATE"),
        ("HOUR(5)", "expects a TIME"),
        ("IF(e.data.n, 2, 3)", "boolean condition"),
        ("LEN(5)", "LEN expects"),
        ("STARTSWITH('a', 1)", "argument 2"),
    ],
)
def test_function_errors(expr: str, fragment: str, one: FakeSource) -> None:
    error = evaluation_error(f"FROM e IN events PROJECT INTO {expr}", one)
    assert fragment in error.detail
    assert error.line == 1


def test_rand_is_evaluated_per_row() -> None:
    source = FakeSource([make_event(i) for i in range(40)])
    rows = run("FROM e IN events PROJECT INTO RAND()", source)
    assert all(isinstance(x, float) and 0.0 <= x < 1.0 for x in rows)
    assert len(set(rows)) > 1


# -- fields and sources ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("e.data.nope", None),
        ("e.data.s.length", None),
        ("e.data.rec.k", 1),
        ("e.data.rec.k.deeper", None),
        ("e.time.year", None),
        ("{ a: 1 }.a", 1.0),
        ("{ a: { b: 'x' } }.a.b", "x"),
        ("e.traceparent", None),
        ("e.tracestate", None),
        ("e.signature", None),
        ("e.specversion", "1.0"),
        ("e.datacontenttype", "application/json"),
        ("e.predecessorhash", "0" * 64),
        ("e.hash", "0" * 64),
        ("e.source", "https://library.eventsourcingdb.io"),
    ],
)
def test_field_access(expr: str, expected: object, one: FakeSource) -> None:
    assert value(expr, one) == expected


def test_event_inside_a_record_is_a_plain_object(one: FakeSource) -> None:
    row = value("{ event: e, time: e.time }", one)
    assert row == {"event": one.event_list[0].fields, "time": "2025-01-01T00:00:00.123456789Z"}
    assert isinstance(row, dict)
    assert row["event"] is not one.event_list[0].fields  # a copy, never the caller's mapping


def test_traceparent_is_visible_when_set() -> None:
    source = FakeSource([make_event(0), make_event(1, traceparent="00-abc-def-01")])
    assert run("FROM e IN events WHERE e.traceparent != null PROJECT INTO e.id", source) == ["1"]


def test_subjects_source(library: FakeSource) -> None:
    assert run("FROM s IN subjects PROJECT INTO s", library) == [
        {"subject": "/"},
        {"subject": "/books"},
        {"subject": "/books/1"},
        {"subject": "/books/2"},
    ]
    rows = run(
        "FROM s IN subjects WHERE STARTSWITH(s.subject, '/books/') PROJECT INTO s.subject", library
    )
    assert rows == ["/books/1", "/books/2"]


def test_eventtypes_source_from_tuples(library: FakeSource) -> None:
    assert run("FROM t IN EventTypes PROJECT INTO t", library) == [
        {"eventType": "io.library.book-acquired", "isPhantom": False},
        {
            "eventType": "io.library.book-borrowed",
            "isPhantom": False,
            "schema": {"type": "object", "properties": {}},
        },
        {
            "eventType": "io.library.book-lost",
            "isPhantom": True,
            "schema": {"type": "object", "properties": {}},
        },
    ]
    rows = run("FROM t IN eventtypes WHERE t.isPhantom PROJECT INTO t.eventType", library)
    assert rows == ["io.library.book-lost"]


@dataclass(frozen=True)
class _Compiled:
    schema: dict[str, object]


@dataclass(frozen=True)
class _TypeInfo:
    type: str
    has_events: bool
    schema: _Compiled | None


def test_eventtypes_source_from_store_objects() -> None:
    source = FakeSource(
        type_list=[_TypeInfo("a", True, None), _TypeInfo("b", False, _Compiled({"x": 1}))]
    )
    assert run("FROM t IN eventtypes PROJECT INTO { n: t.eventType, s: t.schema }", source) == [
        {"n": "a", "s": None},
        {"n": "b", "s": {"x": 1}},
    ]


def test_cartesian_product_runs_outer_first(library: FakeSource) -> None:
    rows = run(
        "FROM a IN subjects FROM b IN subjects WHERE a.subject < b.subject "
        "PROJECT INTO [a.subject, b.subject]",
        library,
    )
    assert rows[:3] == [["/", "/books"], ["/", "/books/1"], ["/", "/books/2"]]
    assert len(rows) == 6


def test_subquery_of_rows(library: FakeSource) -> None:
    rows = run(
        "FROM x IN (FROM e IN events WHERE e.data.reader != null "
        "PROJECT INTO { r: e.data.reader, d: e.data.days }) "
        "WHERE x.d != null PROJECT INTO x.r",
        library,
    )
    assert rows == ["ann", "ann", "bob"]


def test_subquery_of_whole_events(library: FakeSource) -> None:
    query = "FROM x IN (FROM e IN events ORDER BY e.time DESC TOP 2 PROJECT INTO e) PROJECT INTO x"
    assert parse(query).projects_whole_event
    rows = run(query, library)
    assert rows[0] is library.event_list[4]
    assert rows[1] is library.event_list[3]
    rows = run(
        "FROM x IN (FROM e IN events PROJECT INTO e) "
        "WHERE x.time > '2025-01-01T00:00:03Z' PROJECT INTO x.id",
        library,
    )
    assert rows == ["3", "4"]


def test_whole_event_subquery_fetches_fields_once(library: FakeSource) -> None:
    rows = run(
        "FROM x IN (FROM e IN events WHERE e.id != 'z' PROJECT INTO e) "
        "WHERE x.id != '0' PROJECT INTO x.id",
        library,
    )
    assert rows == ["1", "2", "3", "4"]
    assert [event.calls for event in library.event_list] == [1] * 5


def test_self_join(library: FakeSource) -> None:
    rows = run(
        "FROM a IN events FROM b IN events WHERE a.subject == b.subject AND a.id < b.id "
        "PROJECT INTO [a.id, b.id]",
        library,
    )
    assert rows == [["0", "1"], ["0", "2"], ["1", "2"], ["3", "4"]]


def test_aggregated_subquery(library: FakeSource) -> None:
    query = "FROM c IN (FROM e IN events PROJECT INTO { n: COUNT() }) PROJECT INTO c.n * 2"
    assert run(query, library) == [10.0]


def test_subquery_as_inner_source_is_reused(library: FakeSource) -> None:
    rows = run(
        "FROM e IN events FROM t IN (FROM x IN eventtypes PROJECT INTO x.eventType) "
        "WHERE e.type == t PROJECT INTO e.id",
        library,
    )
    assert rows == ["0", "1", "3", "4"]


# -- WHERE -------------------------------------------------------------------------------------


def test_where_needs_a_boolean(library: FakeSource) -> None:
    error = evaluation_error("FROM e IN events WHERE e.data.title PROJECT INTO e", library)
    assert "WHERE needs a boolean, got string" in error.detail
    assert (error.line, error.column) == (1, 24)


def test_where_null_is_not_false(library: FakeSource) -> None:
    assert (
        "got null"
        in evaluation_error("FROM e IN events WHERE e.data.missing PROJECT INTO e", library).detail
    )


def test_where_is_not_evaluated_without_rows(empty: FakeSource) -> None:
    assert run("FROM e IN events WHERE e.data.title PROJECT INTO e", empty) == []


def test_null_guard_before_ordering_comparison(library: FakeSource) -> None:
    evaluation_error("FROM e IN events WHERE e.data.days > 8 PROJECT INTO e.id", library)
    rows = run(
        "FROM e IN events WHERE e.data.days != null AND e.data.days > 8 PROJECT INTO e.id", library
    )
    assert rows == ["1", "2"]


# -- aggregates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("COUNT()", 5.0),
        ("COUNT(e.data.reader == 'ann')", 2.0),
        ("COUNT(e.type == 'nothing')", 0.0),
        ("COUNT(e.data.missing)", 0.0),
        ("COUNT(IF(e.data.days == null, null, e.data.days > 8))", 2.0),
        ("SUM(e.data.days)", 31.5),
        ("AVG(e.data.days)", 10.5),
        ("MIN(e.data.days)", 7.0),
        ("MAX(e.data.days)", 14.0),
        ("MEDIAN(e.data.days)", 10.5),
        ("VARIANCE(e.data.days)", 24.5 / 3),
        ("STDDEV(e.data.days)", math.sqrt(24.5 / 3)),
        ("MIN(e.data.title)", "Dune"),
        ("MAX(e.data.title)", "Emma"),
        ("MIN(e.time)", "2025-01-01T00:00:00.123456789Z"),
        ("MAX(e.time)", "2025-01-01T00:00:04.123456789Z"),
        ("UNIQUE(e.specversion)", "1.0"),
        ("SUM(IF(e.data.days == null, 0, e.data.days) * 2)", 63.0),
        ("COUNT() > 3", True),
        ("COUNT() * 2", 10.0),
        ("MAX(e.id AS INT) - MIN(e.id AS INT)", 4.0),
    ],
)
def test_aggregates(expr: str, expected: object, library: FakeSource) -> None:
    rows = run(f"FROM e IN events PROJECT INTO {expr}", library)
    assert rows == [expected]
    assert type(rows[0]) is type(expected)


def test_median_of_an_even_count(values: FakeSource) -> None:
    assert run("FROM e IN events PROJECT INTO MEDIAN(e.data.value)", values) == [32.5]


def test_aggregates_over_no_rows(empty: FakeSource) -> None:
    rows = run(
        "FROM e IN events PROJECT INTO { n: COUNT(), c: COUNT(e.id == '1'), s: SUM(e.data.x), "
        "a: AVG(e.data.x), lo: MIN(e.data.x), hi: MAX(e.data.x), m: MEDIAN(e.data.x), "
        "v: VARIANCE(e.data.x), d: STDDEV(e.data.x), u: UNIQUE(e.data.x), label: 'none' }",
        empty,
    )
    assert rows == [
        {"n": 0, "c": 0, "s": 0, "a": None, "lo": None, "hi": None, "m": None, "v": None,
         "d": None, "u": None, "label": "none"}
    ]  # fmt: skip


def test_aggregate_with_constants(library: FakeSource) -> None:
    assert run("FROM e IN events PROJECT INTO { n: COUNT(), label: 'x' }", library) == [
        {"n": 5, "label": "x"}
    ]


def test_where_filters_before_aggregating(library: FakeSource) -> None:
    rows = run("FROM e IN events WHERE e.subject == '/books/2' PROJECT INTO COUNT()", library)
    assert rows == [2]


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("SUM(e.data.title)", "SUM expects numbers"),
        ("AVG(e.data.title)", "AVG expects numbers"),
        ("UNIQUE(e.data.title)", "UNIQUE found different values"),
        ("COUNT(e.data.days)", "COUNT expects a boolean"),
        ("MIN(e.data.tags)", "MIN expects"),
        ("MAX(IF(e.id == '0', 1, 'a'))", "cannot compare"),
    ],
)
def test_aggregate_errors(expr: str, fragment: str, library: FakeSource) -> None:
    error = evaluation_error(f"FROM e IN events PROJECT INTO {expr}", library)
    assert fragment in error.detail
    assert (error.line, error.column) == (1, 31)


def test_count_skips_null_conditions_like_every_aggregate(library: FakeSource) -> None:
    # data.reader is missing (null) on the first event; SUM and AVG skip nulls, so does COUNT
    counted = run(
        "FROM e IN events PROJECT INTO { n: COUNT(), known: COUNT(IF(e.data.reader == null, "
        "null, true)), none: COUNT(e.data.nothing) }",
        library,
    )
    assert counted == [{"n": 5, "known": 4, "none": 0}]
    error = evaluation_error("FROM e IN events PROJECT INTO COUNT(e.data.title)", library)
    assert "COUNT expects a boolean condition, got string" in error.detail


# -- GROUP BY / HAVING -------------------------------------------------------------------------


def test_group_by_in_order_of_first_appearance(library: FakeSource) -> None:
    rows = run(
        "FROM e IN events GROUP BY e.type PROJECT INTO { type: UNIQUE(e.type), count: COUNT() }",
        library,
    )
    assert rows == [
        {"type": "io.library.book-acquired", "count": 1},
        {"type": "io.library.book-borrowed", "count": 3},
        {"type": "io.library.book-returned", "count": 1},
    ]


def test_having_filters_groups(library: FakeSource) -> None:
    rows = run(
        "FROM e IN events GROUP BY e.type HAVING COUNT() > 1 AND MAX(e.data.days) < 100 "
        "PROJECT INTO UNIQUE(e.type)",
        library,
    )
    assert rows == ["io.library.book-borrowed"]


def test_having_needs_a_boolean(library: FakeSource) -> None:
    error = evaluation_error(
        "FROM e IN events GROUP BY e.type HAVING MAX(e.data.days) PROJECT INTO COUNT()", library
    )
    assert "HAVING needs a boolean" in error.detail
    assert (error.line, error.column) == (1, 41)


def test_group_by_data_field_with_null_key(library: FakeSource) -> None:
    rows = run(
        "FROM e IN events GROUP BY e.data.reader PROJECT INTO [UNIQUE(e.data.reader), COUNT()]",
        library,
    )
    assert rows == [[None, 1], ["ann", 2], ["bob", 1], ["cid", 1]]


def test_group_keys_compare_like_equality() -> None:
    source = FakeSource(
        [make_event(i, data={"k": k}) for i, k in enumerate([1, 1.0, True, "1", None, 1])]
    )
    rows = run("FROM e IN events GROUP BY e.data.k PROJECT INTO COUNT()", source)
    assert rows == [3, 1, 1, 1]


@pytest.mark.parametrize(
    "query",
    [
        "FROM e IN events ORDER BY e.time DESC GROUP BY e.subject PROJECT INTO UNIQUE(e.subject)",
        "FROM e IN events GROUP BY e.subject ORDER BY e.time DESC PROJECT INTO UNIQUE(e.subject)",
    ],
)
def test_order_by_sorts_rows_before_grouping_in_either_order(
    query: str, library: FakeSource
) -> None:
    assert run(query, library) == ["/books/2", "/books/1"]


def test_skip_and_top_apply_to_groups(library: FakeSource) -> None:
    rows = run("FROM e IN events GROUP BY e.type SKIP 1 TOP 1 PROJECT INTO COUNT()", library)
    assert rows == [3]


def test_group_by_over_no_rows_yields_no_rows(empty: FakeSource) -> None:
    assert run("FROM e IN events GROUP BY e.type PROJECT INTO COUNT()", empty) == []


# -- DISTINCT ----------------------------------------------------------------------------------


def test_distinct_scalars(library: FakeSource) -> None:
    assert run("FROM e IN events PROJECT INTO DISTINCT e.subject", library) == [
        "/books/1",
        "/books/2",
    ]


def test_distinct_records_ignore_key_order_and_keep_types_apart() -> None:
    datas: list[dict[str, object]] = [
        {"a": 1, "b": 2},
        {"b": 2, "a": 1},
        {"a": True, "b": 2},
        {"a": 1.0, "b": 2},
    ]
    source = FakeSource([make_event(i, data=d) for i, d in enumerate(datas)])
    assert run("FROM e IN events PROJECT INTO DISTINCT e.data", source) == [datas[0], datas[2]]


def test_distinct_whole_events_over_a_product(library: FakeSource) -> None:
    rows = run("FROM e IN events FROM s IN subjects PROJECT INTO DISTINCT e", library)
    assert rows == library.event_list
    assert all(r is e for r, e in zip(rows, library.event_list, strict=True))
    assert len(run("FROM e IN events FROM s IN subjects PROJECT INTO e", library)) == 20


def test_distinct_comes_before_skip_and_top(library: FakeSource) -> None:
    assert run("FROM e IN events TOP 1 PROJECT INTO DISTINCT e.data.title", library) == ["Dune"]
    assert run("FROM e IN events SKIP 1 PROJECT INTO DISTINCT e.data.title", library) == ["Emma"]


def test_distinct_times(library: FakeSource) -> None:
    rows = run("FROM e IN events PROJECT INTO DISTINCT e.time AS DATE", library)
    assert rows == ["2025-01-01"]


# -- ORDER BY / SKIP / TOP ---------------------------------------------------------------------


def test_order_by_is_stable(library: FakeSource) -> None:
    assert ids("FROM e IN events ORDER BY e.subject PROJECT INTO e.id", library) == [
        "0", "1", "2", "3", "4",
    ]  # fmt: skip
    assert ids("FROM e IN events ORDER BY e.subject DESC PROJECT INTO e.id", library) == [
        "3", "4", "0", "1", "2",
    ]  # fmt: skip


def test_order_by_puts_null_first_ascending_and_last_descending(library: FakeSource) -> None:
    query = "FROM e IN events ORDER BY e.data.days {} PROJECT INTO e.id"
    assert ids(query.format("ASC"), library) == ["0", "4", "3", "2", "1"]
    assert ids(query.format("DESC"), library) == ["1", "2", "3", "0", "4"]


def test_order_by_expression(library: FakeSource) -> None:
    rows = ids("FROM e IN events ORDER BY e.id AS INT DESC PROJECT INTO e.id", library)
    assert rows == ["4", "3", "2", "1", "0"]


def test_order_by_id_is_textual() -> None:
    source = FakeSource([make_event(i) for i in range(12)])
    assert ids("FROM e IN events ORDER BY e.id TOP 3 PROJECT INTO e.id", source) == [
        "0", "1", "10",
    ]  # fmt: skip


def test_order_by_booleans(library: FakeSource) -> None:
    rows = ids("FROM e IN events ORDER BY e.subject == '/books/1' PROJECT INTO e.id", library)
    assert rows == ["3", "4", "0", "1", "2"]


@pytest.mark.parametrize(
    ("order", "fragment"),
    [
        ("IF(e.id == '0', 1, 'a')", "different types"),
        ("e.data.tags", "cannot order by"),
        ("e.data", "cannot order by"),
    ],
)
def test_order_by_errors(order: str, fragment: str, library: FakeSource) -> None:
    error = evaluation_error(f"FROM e IN events ORDER BY {order} PROJECT INTO e", library)
    assert fragment in error.detail
    assert (error.line, error.column) == (1, 27)


@pytest.mark.parametrize(
    ("clauses", "expected"),
    [
        ("SKIP 1 TOP 2", ["1", "2"]),
        ("SKIP 10", []),
        ("TOP 0", []),
        ("TOP 100", ["0", "1", "2", "3", "4"]),
        ("SKIP 1 + 1", ["2", "3", "4"]),
        ("SKIP 0 TOP 1", ["0"]),
        ("ORDER BY e.time DESC SKIP 1 TOP 2", ["3", "2"]),
    ],
)
def test_skip_and_top(clauses: str, expected: list[str], library: FakeSource) -> None:
    assert ids(f"FROM e IN events {clauses} PROJECT INTO e.id", library) == expected


@pytest.mark.parametrize("clause", ["TOP -1", "TOP 1.5", "TOP null", "SKIP null AS INT"])
def test_skip_and_top_need_non_negative_integers(clause: str, library: FakeSource) -> None:
    error = evaluation_error(f"FROM e IN events {clause} PROJECT INTO e", library)
    assert "non-negative integer" in error.detail


# -- isEventQlQueryTrue ------------------------------------------------------------------------


def test_precondition_true_and_false(library: FakeSource, empty: FakeSource) -> None:
    more = parse("FROM e IN events PROJECT INTO COUNT() > 0")
    none = parse("FROM e IN events PROJECT INTO COUNT() == 0")
    assert evaluate_precondition(more, library) is True
    assert evaluate_precondition(more, empty) is False
    assert evaluate_precondition(none, empty) is True
    assert evaluate_precondition(parse("FROM e IN events PROJECT INTO COUNT() < 10"), library)


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("FROM e IN events WHERE false PROJECT INTO true", "no rows"),
        ("FROM e IN events PROJECT INTO true", "more than one row"),
        ("FROM e IN events PROJECT INTO COUNT()", "number"),
        ("FROM e IN events TOP 1 PROJECT INTO e", "event"),
        ("FROM e IN events TOP 1 PROJECT INTO 'true'", "string"),
        ("FROM e IN events TOP 1 PROJECT INTO null", "null"),
    ],
)
def test_precondition_needs_exactly_one_boolean(
    query: str, fragment: str, library: FakeSource
) -> None:
    with pytest.raises(EventQLNotBooleanError) as info:
        evaluate_precondition(parse(query), library)
    assert info.value.code == "query-not-boolean"
    assert fragment in info.value.detail
    assert info.value.message.startswith("query must return a single boolean value")


def test_precondition_evaluation_errors_stay_evaluation_errors(library: FakeSource) -> None:
    with pytest.raises(EventQLEvaluationError) as info:
        evaluate_precondition(parse("FROM e IN events PROJECT INTO SUM(e.data.title) > 1"), library)
    assert not isinstance(info.value, EventQLNotBooleanError)
    assert info.value.code == "query-unevaluable"


def test_precondition_reads_at_most_two_rows() -> None:
    events: list[FakeEvent] = [make_event(i) for i in range(10)]
    with pytest.raises(EventQLNotBooleanError):
        evaluate_precondition(
            parse("FROM e IN events WHERE e.id != 'x' PROJECT INTO true"), FakeSource(events)
        )
    assert [event.calls for event in events] == [1, 1] + [0] * 8


# -- bounds ------------------------------------------------------------------------------------


def _nested_replace(depth: int) -> str:
    """REPLACE in REPLACE: each level makes the string ten times longer."""
    text = "'aaaaaaaaaa'"
    for _ in range(depth):
        text = f"REPLACE({text}, 'a', 'aaaaaaaaaa')"
    return text


@pytest.mark.timeout(20)
def test_computed_strings_are_bounded_even_when_folded_at_parse_time(
    one: FakeSource, empty: FakeSource
) -> None:
    # ten levels would be 10**11 characters; parsing computes none of them
    query = f"FROM e IN events PROJECT INTO {_nested_replace(10)}"
    assert run(query, empty) == []
    error = evaluation_error(query, one)
    assert "more than the 1,048,576 a computed string may have" in error.detail
    assert error.code == "query-unevaluable"
    assert len(str(value(_nested_replace(5), one))) == 10**6  # within the bound
    upper = evaluation_error(
        f"FROM e IN events PROJECT INTO UPPER(REPLACE({_nested_replace(5)}, 'a', 'ßß'))", one
    )
    assert "UPPER would have" not in upper.detail  # REPLACE itself is refused first
    assert "REPLACE would have 2,000,000 characters" in upper.detail


def test_constants_beyond_the_fold_budget_are_computed_per_row(
    monkeypatch: pytest.MonkeyPatch, library: FakeSource
) -> None:
    monkeypatch.setattr(evaluator, "FOLD_BUDGET", 3)
    rows = run(
        "FROM e IN events WHERE e.type == REPLACE('io.library.book-x', '-x', '-returned') "
        "PROJECT INTO [e.id, UPPER('abc'), LEN(REPLACE('aaaa', 'a', 'bb'))]",
        library,
    )
    assert rows == [["2", "ABC", 8]]


@pytest.mark.parametrize(
    ("clauses", "what"),
    [
        ("ORDER BY e.id PROJECT INTO e", "ORDER BY"),
        ("PROJECT INTO COUNT()", "an aggregated projection"),
        ("GROUP BY e.id PROJECT INTO COUNT()", "an aggregated projection"),
        ("PROJECT INTO DISTINCT e.id", "DISTINCT"),
    ],
)
def test_rows_held_in_memory_are_bounded(
    clauses: str, what: str, monkeypatch: pytest.MonkeyPatch, library: FakeSource
) -> None:
    monkeypatch.setattr(evaluator, "MAX_HELD_ROWS", 4)
    error = evaluation_error(f"FROM e IN events {clauses}", library)
    assert error.detail == f"{what} would hold more than 4 rows in memory; narrow the query " + (
        "(WHERE, fewer sources)"
    )
    monkeypatch.setattr(evaluator, "MAX_HELD_ROWS", 5)
    assert len(run(f"FROM e IN events {clauses}", library)) >= 1


def test_a_cancelled_query_stops_before_its_next_row(library: FakeSource) -> None:
    cancellation = Cancellation()
    rows = parse("FROM a IN events FROM b IN events PROJECT INTO [a.id, b.id]").run(
        library, cancellation
    )
    assert next(rows) == ["0", "0"]
    cancellation.cancel()
    with pytest.raises(QueryCancelledError):
        next(rows)


def test_a_cancelled_precondition_stops(library: FakeSource) -> None:
    cancellation = Cancellation()
    cancellation.cancel()
    query = parse("FROM e IN (FROM x IN events PROJECT INTO x) PROJECT INTO COUNT() > 1")
    with pytest.raises(QueryCancelledError):
        evaluate_precondition(query, library, cancellation)
    assert evaluate_precondition(query, library) is True
