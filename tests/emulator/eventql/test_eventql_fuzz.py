"""Property tests: generated valid queries parse and run; garbage fails only with EventQL errors."""

from __future__ import annotations

import contextlib
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventsourcingdb.emulator.eventql import (
    EventQLEvaluationError,
    EventQLSyntaxError,
    parse,
)
from tests.emulator.eventql.eventql_fakes import FakeEvent, FakeSource, make_event

_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_SOURCE = FakeSource(
    [
        make_event(0, data={"a": 1, "b": {"c": "x"}, "l": [1, 2]}),
        make_event(1, type_="io.other", data={"a": 2.5, "b": {"c": "y"}}),
        make_event(2, subject="/other", data={"b": None}),
    ],
    ["/", "/other", "/things", "/things/1"],
    [("io.eventsourcingdb.test.thing-happened", True, None), ("io.other", True, {"x": 1})],
)

_FIELDS = ["e.id", "e.type", "e.subject", "e.time", "e.data.a", "e.data.b.c", "e.data.l",
           "e.traceparent", "e.data", "e.specversion"]  # fmt: skip
_BINARY = ["+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "AND", "OR", "XOR",
           "CONTAINS"]  # fmt: skip
_FUNCTIONS = [("ABS", 1), ("CEIL", 1), ("FLOOR", 1), ("ROUND", 1), ("COS", 1), ("EXP", 1),
              ("POW", 2), ("SQRT", 1), ("RAND", 0), ("PI", 0), ("LOWER", 1), ("UPPER", 1),
              ("TRIM", 1), ("LTRIM", 1), ("RTRIM", 1), ("LEN", 1), ("INSTR", 2),
              ("SUBSTRING", 3), ("SUBSTRING", 2), ("REPLACE", 3), ("STARTSWITH", 2),
              ("ENDSWITH", 2), ("NOW", 0), ("YEAR", 1), ("MONTH", 1), ("DAY", 1), ("HOUR", 1),
              ("MINUTE", 1), ("SECOND", 1), ("WEEKDAY", 1), ("IF", 3)]  # fmt: skip
_TYPES = ["STRING", "INT", "FLOAT64", "BOOLEAN", "DATE", "TIME", "DATETIME"]
_AGGREGATES = ["SUM", "AVG", "MIN", "MAX", "MEDIAN", "STDDEV", "VARIANCE", "UNIQUE"]
_SPACES = [" ", "  ", "\n", "\t", " /* note */ ", " // note\n"]


def _spelling(word: str) -> st.SearchStrategy[str]:
    """Any casing of a keyword, function or type name."""
    return st.sampled_from([word.upper(), word.lower(), word.capitalize(), word.swapcase()])


def _string_literal() -> st.SearchStrategy[str]:
    """A string literal in single or double quotes, with escapes."""
    text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\\\"'\r"), max_size=8)

    def quote(pair: tuple[str, bool]) -> str:
        body, double = pair
        return f'"{body}\\""' if double else f"'{body}\\''"

    return st.tuples(text, st.booleans()).map(quote)


_LITERALS = st.one_of(
    st.integers(min_value=0, max_value=10**6).map(str),
    st.floats(min_value=0, max_value=1e6, allow_nan=False).map(repr),
    _string_literal(),
    st.sampled_from(["true", "FALSE", "null", "[]", "{}"]),
)


def _row_expressions(fields: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Expressions over row fields, literals, operators, functions, records and arrays."""

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binary = st.tuples(inner, st.sampled_from(_BINARY), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        )
        unary = st.tuples(st.sampled_from(["NOT ", "-", "+", "not "]), inner).map(
            lambda t: f"({t[0]}({t[1]}))"  # NOT binds looser than comparisons: parenthesise
        )
        call = (
            st.sampled_from(_FUNCTIONS)
            .flatmap(
                lambda f: st.tuples(_spelling(f[0]), st.lists(inner, min_size=f[1], max_size=f[1]))
            )
            .map(lambda t: f"{t[0]}({', '.join(t[1])})")
        )
        conversion = st.tuples(inner, st.sampled_from(_TYPES).flatmap(_spelling)).map(
            lambda t: f"({t[0]}) AS {t[1]}"
        )
        record = st.lists(inner, max_size=3).map(
            lambda items: "{ " + ", ".join(f"k{i}: {v}" for i, v in enumerate(items)) + " }"
        )
        array = st.lists(inner, max_size=3).map(lambda items: "[" + ", ".join(items) + "]")
        return st.one_of(binary, unary, call, conversion, record, array)

    return st.recursive(st.one_of(_LITERALS, fields), extend, max_leaves=8)


_ROW = _row_expressions(st.sampled_from(_FIELDS))
_CONSTANT = _row_expressions(st.nothing())
_SOURCED = st.one_of(
    st.sampled_from(_FIELDS),
    st.tuples(st.sampled_from(_FIELDS), st.sampled_from(_BINARY), _ROW).map(
        lambda t: f"{t[0]} {t[1]} ({t[2]})"
    ),
)  # an expression that surely refers to the source, as aggregate arguments must


@st.composite
def _aggregate_projection(draw: st.DrawFn) -> str:
    """A projection made of aggregates and constants only."""
    parts: list[str] = []
    for index in range(draw(st.integers(min_value=1, max_value=3))):
        kind = draw(st.sampled_from(["count", "count_if", "agg", "constant"]))
        if kind == "count":
            item = draw(_spelling("COUNT")) + "()"
        elif kind == "count_if":
            item = f"{draw(_spelling('COUNT'))}(({draw(_SOURCED)}) == {draw(_LITERALS)})"
        elif kind == "agg":
            item = f"{draw(st.sampled_from(_AGGREGATES).flatmap(_spelling))}({draw(_SOURCED)})"
        else:
            item = draw(_CONSTANT)
        parts.append(f"a{index}: {item}")
    if len(parts) == 1 and draw(st.booleans()):
        return parts[0].split(": ", 1)[1]
    return "{ " + ", ".join(parts) + " }"


@st.composite
def valid_queries(draw: st.DrawFn) -> str:
    """A query that the analysis must accept."""

    def kw(word: str) -> str:
        return draw(_spelling(word))

    def gap() -> str:
        return draw(st.sampled_from(_SPACES))

    parts = [kw("FROM"), "e", kw("IN"), kw("events")]
    if draw(st.booleans()):
        parts += [kw("FROM"), "s", kw("IN"), draw(st.sampled_from(["subjects", "SUBJECTS"]))]
    if draw(st.booleans()):
        parts += [kw("WHERE"), draw(_ROW)]
    mode = draw(st.sampled_from(["rows", "aggregate", "grouped"]))
    order = [kw("ORDER"), kw("BY"), draw(_ROW), draw(st.sampled_from(["", "ASC", "desc"]))]
    group = [kw("GROUP"), kw("BY"), draw(st.sampled_from([*_FIELDS[:-2], "e.data.b"]))]
    if draw(st.booleans()):
        group += [kw("HAVING"), f"{kw('COUNT')}() > {draw(st.integers(0, 3))}"]
    use_order = draw(st.booleans())
    if mode == "grouped":
        if use_order:
            parts += (group + order) if draw(st.booleans()) else (order + group)
        else:
            parts += group
    elif use_order:
        parts += order
    if draw(st.booleans()):
        parts += [kw("SKIP"), str(draw(st.integers(0, 3)))]
    if draw(st.booleans()):
        parts += [kw("TOP"), str(draw(st.integers(0, 3)))]
    parts += [kw("PROJECT"), kw("INTO")]
    if draw(st.booleans()):
        parts.append(kw("DISTINCT"))
    parts.append(draw(_ROW) if mode == "rows" else draw(_aggregate_projection()))
    return gap().join(part for part in parts if part)


def _assert_json_rows(rows: list[object]) -> None:
    """Rows are JSON-compatible (numbers finite) unless they are whole events."""
    for row in rows:
        if isinstance(row, FakeEvent):
            continue
        json.dumps(row, allow_nan=False)


@_SETTINGS
@given(valid_queries())
def test_generated_queries_parse_and_run(text: str) -> None:
    try:
        query = parse(text)
    except EventQLSyntaxError as error:  # only types known before the run may refuse it
        refused: EventQLSyntaxError | None = error
    else:
        refused = None
    if refused is not None:
        assert refused.detail.startswith("type mismatch: "), refused.message
        _check_syntax_error(refused, text)
        return
    assert query.text == text
    try:
        rows = list(query.run(_SOURCE))
    except EventQLEvaluationError as error:
        failure: EventQLEvaluationError | None = error
    else:
        failure = None
        _assert_json_rows(rows)
    if failure is not None:
        assert failure.code == "query-unevaluable"
        assert failure.line is None or failure.line >= 1


def _check_syntax_error(error: EventQLSyntaxError, text: str) -> None:
    """A syntax error has its code, and its position lies inside the text (or just past it)."""
    assert error.code == "query-malformed"
    if error.line is None or error.column is None:
        return
    assert f"line {error.line}, column {error.column}" in error.message
    lines = text.split("\n")
    assert 1 <= error.line <= len(lines)
    assert 1 <= error.column <= len(lines[error.line - 1]) + 1


def _parse_or_syntax_error(text: str) -> None:
    """Parsing either works (then running raises only evaluation errors) or is a syntax error."""
    try:
        query = parse(text)
    except EventQLSyntaxError as error:
        _check_syntax_error(error, text)
        return
    with contextlib.suppress(EventQLEvaluationError):
        _assert_json_rows(list(query.run(_SOURCE)))


@_SETTINGS
@given(st.text(max_size=80))
def test_random_text_fails_only_with_syntax_errors(text: str) -> None:
    _parse_or_syntax_error(text)


_TOKENS = ["FROM", "e", "IN", "events", "subjects", "eventtypes", "WHERE", "ORDER", "BY", "ASC",
           "DESC", "GROUP", "HAVING", "SKIP", "TOP", "PROJECT", "INTO", "DISTINCT", "AND", "OR",
           "XOR", "NOT", "CONTAINS", "AS", "INT", "STRING", "true", "null", "1", "2.5", "'x'",
           '"y"', "e.data", "e.id", ".", ",", ":", "(", ")", "[", "]", "{", "}", "==", "<", "+",
           "-", "*", "/", "%", "COUNT()", "SUM(", "e.time", "x", "/*", "*/", "//", "\n",
           "'"]  # fmt: skip


@_SETTINGS
@given(st.lists(st.sampled_from(_TOKENS), max_size=30).map(" ".join))
def test_token_soup_fails_only_with_syntax_errors(text: str) -> None:
    _parse_or_syntax_error(text)


@_SETTINGS
@given(valid_queries(), st.data())
def test_mutated_queries_fail_only_with_syntax_errors(text: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(text)))
    action = data.draw(st.sampled_from(["delete", "insert", "cut"]))
    if action == "delete":
        mutated = text[:position] + text[position + 1 :]
    elif action == "insert":
        mutated = text[:position] + data.draw(st.sampled_from(_TOKENS)) + text[position:]
    else:
        mutated = text[:position]
    _parse_or_syntax_error(mutated)
