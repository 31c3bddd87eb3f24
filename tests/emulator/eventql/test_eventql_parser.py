"""Parsing and analysis: every construct, case rules, comments, quoting and error positions."""

from __future__ import annotations

import pickle

import pytest

from eventsourcingdb.emulator.eventql import (
    EventQLError,
    EventQLEvaluationError,
    EventQLNotBooleanError,
    EventQLSyntaxError,
    Token,
    parse,
)
from eventsourcingdb.emulator.eventql import ast as q
from eventsourcingdb.emulator.eventql.parser import parse_query


def projection(text: str) -> q.Expr:
    """The projection of ``FROM e IN events PROJECT INTO <text>``."""
    return parse_query(f"FROM e IN events PROJECT INTO {text}").projection


def syntax_error(text: str) -> EventQLSyntaxError:
    """The syntax error that parsing ``text`` raises."""
    with pytest.raises(EventQLSyntaxError) as info:
        parse(text)
    return info.value


# -- structure -------------------------------------------------------------------------------------


def test_minimal_query() -> None:
    node = parse_query("FROM e IN events PROJECT INTO e")
    assert len(node.froms) == 1
    assert node.froms[0].alias == "e"
    assert isinstance(node.froms[0].source, q.NamedSource)
    assert node.froms[0].source.name == "events"
    assert node.projection == q.Identifier("e", node.projection.span)
    assert (node.where, node.order_by, node.group_by, node.skip, node.top) == (None,) * 5
    assert node.distinct is False


def test_all_clauses() -> None:
    node = parse_query(
        "FROM e IN events FROM s IN subjects WHERE e.type == 'x' ORDER BY e.time DESC "
        "GROUP BY e.subject HAVING COUNT() > 1 SKIP 2 TOP 3 PROJECT INTO DISTINCT COUNT()"
    )
    assert [f.alias for f in node.froms] == ["e", "s"]
    assert isinstance(node.where, q.Binary)
    assert node.order_by is not None
    assert node.order_by.descending is True
    assert node.group_by is not None
    assert isinstance(node.group_by.having, q.Binary)
    assert isinstance(node.skip, q.Literal)
    assert node.skip.value == 2.0
    assert isinstance(node.top, q.Literal)
    assert node.top.value == 3.0
    assert node.distinct is True
    assert isinstance(node.projection, q.Call)
    assert node.projection.name == "COUNT"


def test_group_by_may_precede_order_by() -> None:
    node = parse_query("FROM e IN events GROUP BY e.type ORDER BY e.time PROJECT INTO COUNT()")
    assert node.group_by is not None
    assert node.order_by is not None
    assert node.order_by.descending is False


@pytest.mark.parametrize(("direction", "descending"), [("ASC", False), ("desc", True), ("", False)])
def test_order_direction(direction: str, descending: bool) -> None:
    node = parse_query(f"FROM e IN events ORDER BY e.id {direction} PROJECT INTO e")
    assert node.order_by is not None
    assert node.order_by.descending is descending


def test_subquery_source() -> None:
    node = parse_query("FROM x IN (FROM e IN events WHERE true PROJECT INTO e.data) PROJECT INTO x")
    source = node.froms[0].source
    assert isinstance(source, q.SubquerySource)
    assert source.query.where is not None
    assert isinstance(source.query.projection, q.FieldAccess)


@pytest.mark.parametrize(
    "text",
    [
        "FROM e IN events WHERE true WHERE true PROJECT INTO e",
        "FROM e IN events TOP 1 SKIP 1 PROJECT INTO e",
        "FROM e IN events ORDER BY e.id ORDER BY e.id PROJECT INTO e",
        "FROM e IN events WHERE true",
        "FROM e IN events PROJECT INTO e WHERE true",
        "PROJECT INTO 1",
        "FROM e IN events HAVING true PROJECT INTO e",
        "FROM e events PROJECT INTO e",
        "",
    ],
)
def test_malformed_clause_order(text: str) -> None:
    assert syntax_error(text).code == "query-malformed"


# -- expressions -----------------------------------------------------------------------------------


def test_literals() -> None:
    node = projection("[1, 2.5, 1e3, 'a', \"b\", true, FALSE, Null, [], {}]")
    assert isinstance(node, q.ArrayLiteral)
    values = [item.value for item in node.items[:8] if isinstance(item, q.Literal)]
    assert values == [1.0, 2.5, 1000.0, "a", "b", True, False, None]
    assert all(type(v) is float for v in values[:3])
    assert node.items[8] == q.ArrayLiteral((), node.items[8].span)
    assert node.items[9] == q.RecordLiteral((), node.items[9].span)


def test_nested_record_keeps_order_and_accepts_keywords_and_strings_as_keys() -> None:
    node = projection("{ b: 1, from: { order: e.id }, 'odd key': 2 }")
    assert isinstance(node, q.RecordLiteral)
    assert [key for key, _ in node.fields] == ["b", "from", "odd key"]
    inner = node.fields[1][1]
    assert isinstance(inner, q.RecordLiteral)
    assert inner.fields[0][0] == "order"


def test_field_access_chain_and_keyword_field_names() -> None:
    node = projection("e.data.from.a")
    assert isinstance(node, q.FieldAccess)
    assert node.name == "a"
    assert isinstance(node.target, q.FieldAccess)
    assert node.target.name == "from"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"plain"', "plain"),
        ("'single'", "single"),
        (r"'it\'s'", "it's"),
        (r'"say \"hi\""', 'say "hi"'),
        (r'"back\\slash"', "back\\slash"),
        (r"'mixed \" quote'", 'mixed " quote'),
        ('"double \' inside"', "double ' inside"),
        (r"'tab\tnew\nline\r'", "tab\tnew\nline\r"),
        ("''", ""),
    ],
)
def test_string_literals(text: str, expected: str) -> None:
    node = projection(text)
    assert isinstance(node, q.Literal)
    assert node.value == expected


def test_unknown_escape_is_a_syntax_error() -> None:
    error = syntax_error(r"FROM e IN events PROJECT INTO 'a\qb'")
    assert "escape" in error.detail
    assert (error.line, error.column) == (1, 31)


def _shape(expr: q.Expr) -> object:
    """A compact nested tuple of operators and leaves, for precedence checks."""
    if isinstance(expr, q.Binary):
        return (expr.op.value, _shape(expr.left), _shape(expr.right))
    if isinstance(expr, q.Unary):
        return (expr.op.value, _shape(expr.operand))
    if isinstance(expr, q.Conversion):
        return ("AS", _shape(expr.operand), expr.type_name)
    if isinstance(expr, q.Literal):
        return expr.value
    if isinstance(expr, q.Identifier):
        return expr.name
    if isinstance(expr, q.FieldAccess):
        return f"{_shape(expr.target)}.{expr.name}"
    if isinstance(expr, q.Call):
        return (expr.name, *(_shape(a) for a in expr.args))
    raise AssertionError(expr)


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("1 + 2 * 3", ("+", 1.0, ("*", 2.0, 3.0))),
        ("1 - 2 - 3", ("-", ("-", 1.0, 2.0), 3.0)),
        ("8 / 4 % 3", ("%", ("/", 8.0, 4.0), 3.0)),
        ("(1 + 2) * 3", ("*", ("+", 1.0, 2.0), 3.0)),
        ("-1 + 2", ("+", ("-", 1.0), 2.0)),
        ("- -1", ("-", ("-", 1.0))),
        ("+1 * -2", ("*", ("+", 1.0), ("-", 2.0))),
        ("a OR b AND c", ("OR", "a", ("AND", "b", "c"))),
        ("a AND b OR c", ("OR", ("AND", "a", "b"), "c")),
        ("a XOR b AND c", ("XOR", "a", ("AND", "b", "c"))),
        ("a OR b XOR c", ("OR", "a", ("XOR", "b", "c"))),
        ("NOT a == b", ("NOT", ("==", "a", "b"))),
        ("NOT a AND b", ("AND", ("NOT", "a"), "b")),
        ("NOT NOT a", ("NOT", ("NOT", "a"))),
        ("a < b + 1", ("<", "a", ("+", "b", 1.0))),
        ("x.y CONTAINS 1 + 1", ("CONTAINS", "x.y", ("+", 1.0, 1.0))),
        ("e.id AS INT + 1", ("+", ("AS", "e.id", "INT"), 1.0)),
        ("-e.id AS INT", ("-", ("AS", "e.id", "INT"))),
        ("e.id as int >= 2", (">=", ("AS", "e.id", "INT"), 2.0)),
        ("1 AS STRING AS INT", ("AS", ("AS", 1.0, "STRING"), "INT")),
        ("count() < 10", ("<", ("COUNT",), 10.0)),
        ("Pow(2, 3) != 8", ("!=", ("POW", 2.0, 3.0), 8.0)),
    ],
)
def test_precedence(text: str, shape: object) -> None:
    assert _shape(parse_query(f"FROM a IN events PROJECT INTO {text}").projection) == shape


@pytest.mark.parametrize("text", ["1 == 2 == 3", "1 < 2 < 3", "a CONTAINS b CONTAINS c"])
def test_comparisons_do_not_chain(text: str) -> None:
    syntax_error(f"FROM a IN events PROJECT INTO {text}")


# -- case, comments, whitespace --------------------------------------------------------------------


def test_keywords_functions_and_types_are_case_insensitive() -> None:
    texts = [
        "FROM e IN events WHERE e.id AS INT > 0 AND true ORDER BY e.time DESC TOP 1 "
        "PROJECT INTO { n: COUNT(), u: MAX(UPPER(e.type)) }",
        "from e in events where e.id as int > 0 and TRUE order by e.time desc top 1 "
        "project into { n: count(), u: max(upper(e.type)) }",
        "FrOm e iN EVENTS wHeRe e.id As iNt > 0 AnD True OrDeR bY e.time DeSc ToP 1 "
        "PrOjEcT iNtO { n: CoUnT(), u: mAx(UpPeR(e.type)) }",
    ]
    nodes = [parse_query(text) for text in texts]
    assert len({_shape(n.where) for n in nodes if n.where is not None}) == 1
    records = [n.projection for n in nodes]
    assert all(isinstance(r, q.RecordLiteral) for r in records)
    assert len({tuple(_shape(v) for _, v in r.fields) for r in records
                if isinstance(r, q.RecordLiteral)}) == 1  # fmt: skip
    for text in texts:
        parse(text)  # analysis accepts every spelling


def test_aliases_and_field_names_are_case_sensitive() -> None:
    error = syntax_error("FROM e IN events PROJECT INTO E.id")
    assert "'E'" in error.detail
    syntax_error("FROM e IN events PROJECT INTO e.ID")


def test_comments_and_whitespace() -> None:
    text = (
        "// leading comment\n"
        "FROM e /* inline */ IN events // trailing\n"
        "/* multi\n   line\n   comment */\n"
        "WHERE e.data.a /* between */ > 1\n"
        "PROJECT INTO e.data // last line without newline"
    )
    node = parse_query(text)
    assert isinstance(node.where, q.Binary)
    assert node.where.span.start == Token(6, 7, "e", "identifier")
    assert node.projection.span.end == Token(7, 16, "data", "identifier")


def test_comment_markers_inside_strings_are_text() -> None:
    node = projection("'// not a comment /* nor this */'")
    assert isinstance(node, q.Literal)
    assert node.value == "// not a comment /* nor this */"


# -- positions and error messages ------------------------------------------------------------------


def test_unexpected_keyword_position() -> None:
    error = syntax_error("FROM e IN events WHERE PROJECT INTO e")
    assert (error.line, error.column) == (1, 24)
    assert error.start_token == Token(1, 24, "PROJECT", "keyword")
    assert error.end_token == error.start_token
    assert "line 1, column 24" in error.message
    assert "PROJECT" in error.message
    assert str(error) == error.message
    assert error.code == "query-malformed"


def test_error_position_on_a_later_line() -> None:
    error = syntax_error("FROM e IN events\nWHERE e.type ==\n    == 'x'\nPROJECT INTO e")
    assert (error.line, error.column) == (3, 5)
    assert error.message.startswith("syntax error at line 3, column 5:")


def test_unexpected_end_of_input_points_past_the_text() -> None:
    error = syntax_error("FROM e IN events\nPROJECT INTO")
    assert (error.line, error.column) == (2, 13)
    assert "end of input" in error.detail
    assert error.start_token is not None
    assert error.start_token.type == "end of input"


def test_unexpected_character() -> None:
    error = syntax_error("FROM e IN events PROJECT INTO e.id # 1")
    assert (error.line, error.column) == (1, 36)
    assert "'#'" in error.detail


def test_single_equals_is_refused() -> None:
    error = syntax_error("FROM e IN events WHERE e.id = '1' PROJECT INTO e")
    assert (error.line, error.column) == (1, 29)


def test_unterminated_string() -> None:
    error = syntax_error("FROM e IN events PROJECT INTO 'abc")
    assert (error.line, error.column) == (1, 31)
    assert "unterminated string" in error.detail


@pytest.mark.parametrize(
    ("text", "column"),
    [("FROM e IN events PROJECT INTO e /* no end", 33), ("FROM e IN events PROJECT INTO /*", 31)],
)
def test_unterminated_block_comment(text: str, column: int) -> None:
    error = syntax_error(text)
    assert "unterminated block comment" in error.detail
    assert (error.line, error.column) == (1, column)


def test_expected_tokens_are_named() -> None:
    error = syntax_error("FROM e IN events PROJECT INTO e.5")
    assert "expected identifier" in error.detail
    error = syntax_error("FROM e IN")
    assert "expected" in error.detail


def test_number_out_of_range() -> None:
    error = syntax_error("FROM e IN events PROJECT INTO 1e999")
    assert (error.line, error.column) == (1, 31)


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    text = "FROM e IN events PROJECT INTO " + "(" * 5000 + "1" + ")" * 5000
    assert isinstance(syntax_error(text), EventQLSyntaxError)


# -- analysis --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment", "column"),
    [
        ("FROM e IN evnts PROJECT INTO e", "unknown source 'evnts'", 11),
        ("FROM e IN events FROM e IN subjects PROJECT INTO e", "already defined", 23),
        ("FROM e IN events PROJECT INTO x", "unknown identifier 'x'", 31),
        ("FROM e IN events PROJECT INTO e.foo", "unknown field 'foo'", 31),
        ("FROM s IN subjects PROJECT INTO s.type", "unknown field 'type'", 33),
        ("FROM t IN eventtypes PROJECT INTO t.name", "unknown field 'name'", 35),
        ("FROM e IN events PROJECT INTO FOO(1)", "unknown function 'FOO'", 31),
        ("FROM e IN events PROJECT INTO LOWER()", "LOWER takes 1 argument, got 0", 31),
        ("FROM e IN events PROJECT INTO POW(1)", "POW takes 2 arguments, got 1", 31),
        ("FROM e IN events PROJECT INTO SUBSTRING('a')", "2 to 3 arguments", 31),
        ("FROM e IN events PROJECT INTO COUNT(true, true)", "0 to 1 arguments", 31),
        ("FROM e IN events PROJECT INTO e.id AS Foobar", "unknown type 'FOOBAR'", 31),
        ("FROM e IN events WHERE COUNT() > 1 PROJECT INTO e", "not allowed in WHERE", 24),
        ("FROM e IN events ORDER BY MAX(e.id) PROJECT INTO e", "not allowed in ORDER BY", 27),
        ("FROM e IN events GROUP BY e.type HAVING e.id == '1' PROJECT INTO COUNT()",
         "inside an aggregate", 41),
        ("FROM e IN events TOP COUNT() PROJECT INTO e", "not allowed in TOP", 22),
        ("FROM e IN events SKIP e.id AS INT PROJECT INTO e", "cannot refer to the source", 23),
        ("FROM e IN events PROJECT INTO SUM(COUNT())", "cannot be nested", 35),
        ("FROM e IN events PROJECT INTO SUM(1)", "must refer to the source", 35),
        ("FROM e IN events PROJECT INTO { sum: SUM(RAND()) }", "must refer to the source", 42),
        ("FROM e IN events PROJECT INTO { n: COUNT(), id: e.id }", "inside an aggregate", 49),
        ("FROM e IN events PROJECT INTO COUNT() + e.data.x", "inside an aggregate", 41),
        ("FROM e IN events GROUP BY e.type PROJECT INTO e.type", "inside an aggregate", 47),
        ("FROM e IN events GROUP BY e.type PROJECT INTO e", "inside an aggregate", 47),
        ("FROM e IN events GROUP BY 1 PROJECT INTO COUNT()", "GROUP BY expects a field", 27),
        ("FROM e IN events GROUP BY e PROJECT INTO COUNT()", "GROUP BY expects a field", 27),
        ("FROM e IN events GROUP BY LOWER(e.type) PROJECT INTO COUNT()", "expects a field", 27),
        ("FROM e IN events PROJECT INTO { a: 1, a: 2 }", "duplicate key 'a'", 39),
        ("FROM x IN (FROM e IN events PROJECT INTO e) PROJECT INTO e", "unknown identifier", 58),
        ("FROM x IN (FROM e IN events PROJECT INTO x) PROJECT INTO x", "unknown identifier", 42),
    ],
)  # fmt: skip
def test_analysis_errors(text: str, fragment: str, column: int) -> None:
    error = syntax_error(text)
    assert fragment in error.detail
    assert (error.line, error.column) == (1, column)
    assert error.code == "query-malformed"


@pytest.mark.parametrize(
    "text",
    [
        "FROM e IN events PROJECT INTO { sum: SUM(e.data.count), label: 'all', r: RAND() }",
        "FROM e IN events PROJECT INTO { voters: COUNT(e.data.age > 30) }",
        "FROM e IN events PROJECT INTO SUM(e.data.a * 2 + e.data.b)",
        "FROM e IN events GROUP BY e.data.a.b HAVING AVG(e.data.x) > 1 PROJECT INTO COUNT()",
        "FROM e IN events GROUP BY e.type PROJECT INTO { t: UNIQUE(e.type), n: COUNT() }",
        "FROM e IN events GROUP BY e.type PROJECT INTO 'constant'",
        "FROM e IN events PROJECT INTO e.data.anything.at.all",
        "FROM e IN events PROJECT INTO PI + pi() + Pi",
        "FROM e IN events SKIP 1 + 1 TOP ROUND(2.2) PROJECT INTO e",
        "FROM e IN events PROJECT INTO e.time.nothing",
        "FROM x IN (FROM e IN events PROJECT INTO e.data) PROJECT INTO x.anything",
        "FROM t IN eventtypes PROJECT INTO t.schema.properties",
        "FROM events IN events PROJECT INTO events.id",
    ],
)
def test_analysis_accepts(text: str) -> None:
    assert parse(text).text == text


# -- the public Query object -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "whole"),
    [
        ("FROM e IN events PROJECT INTO e", True),
        ("FROM e IN events PROJECT INTO DISTINCT e", True),
        ("FROM e IN events WHERE e.id != '0' ORDER BY e.time TOP 2 PROJECT INTO (e)", True),
        ("FROM e IN events FROM s IN subjects PROJECT INTO e", True),
        ("FROM x IN (FROM e IN events PROJECT INTO e) PROJECT INTO x", True),
        ("FROM e IN events FROM s IN subjects PROJECT INTO s", False),
        ("FROM e IN events PROJECT INTO e.data", False),
        ("FROM e IN events PROJECT INTO { e: e.id }", False),
        ("FROM e IN events PROJECT INTO COUNT()", False),
        ("FROM x IN (FROM e IN events PROJECT INTO e.data) PROJECT INTO x", False),
        ("FROM s IN subjects PROJECT INTO s", False),
    ],
)
def test_projects_whole_event(text: str, whole: bool) -> None:
    assert parse(text).projects_whole_event is whole


def test_parse_is_cached_and_pure() -> None:
    text = "FROM e IN events PROJECT INTO e.id"
    assert parse(text) is parse(text)
    assert parse(text).text == text


def test_parse_refuses_non_strings() -> None:
    with pytest.raises(TypeError):
        parse(b"FROM e IN events PROJECT INTO e")  # type: ignore[arg-type]


def test_error_hierarchy_and_codes() -> None:
    assert issubclass(EventQLSyntaxError, EventQLError)
    assert issubclass(EventQLEvaluationError, EventQLError)
    assert issubclass(EventQLNotBooleanError, EventQLEvaluationError)
    assert EventQLEvaluationError.code == "query-unevaluable"
    assert EventQLNotBooleanError.code == "query-not-boolean"


def test_errors_pickle_with_their_positions() -> None:
    error = syntax_error("FROM e IN events WHERE PROJECT INTO e")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is EventQLSyntaxError
    assert (copy.message, copy.line, copy.column) == (error.message, 1, 24)
    assert copy.start_token == error.start_token


def test_error_without_position() -> None:
    error = EventQLEvaluationError("boom")
    assert (error.line, error.column, error.start_token) == (None, None, None)
    assert error.message == "evaluation error: boom"


def test_token_is_frozen() -> None:
    token = Token(1, 2, "x", "identifier")
    with pytest.raises(AttributeError):
        token.line = 3  # type: ignore[misc]


# -- types known before the query runs ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "detail"),
    [
        # the two refusals of the reference's parser snapshots (eventql-parser 0.1.4)
        ("FROM e IN events\nWHERE 42\nPROJECT INTO e", (2, 7), "expected boolean, got number"),
        (
            "FROM e in events\nWHERE [1,2,3] CONTAINS e.source\nPROJECT INTO e",
            (2, 24),
            "expected number, got string",
        ),
        ("FROM e IN events WHERE e.id PROJECT INTO e", (1, 24), "expected boolean, got string"),
        ("FROM e IN events WHERE e.time PROJECT INTO e", (1, 24), "expected boolean, got DATETIME"),
        ("FROM e IN events PROJECT INTO 'a' + 1", (1, 31), "expected number, got string"),
        ("FROM e IN events PROJECT INTO -'a'", (1, 32), "expected number, got string"),
        ("FROM e IN events PROJECT INTO NOT LEN('x')", (1, 35), "expected boolean, got number"),
        ("FROM e IN events PROJECT INTO 1 AND true", (1, 31), "expected boolean, got number"),
        ("FROM e IN events PROJECT INTO 'abc' CONTAINS 'a'", (1, 31), "expected array, got string"),
        ("FROM e IN events PROJECT INTO IF(1, 2, 3)", (1, 34), "expected boolean, got number"),
        ("FROM e IN events SKIP 'x' PROJECT INTO e", (1, 23), "expected number, got string"),
        ("FROM e IN events TOP true PROJECT INTO e", (1, 22), "expected number, got boolean"),
        (
            "FROM e IN events GROUP BY e.type HAVING COUNT() PROJECT INTO COUNT()",
            (1, 41),
            "expected boolean, got number",
        ),
        (
            "FROM e IN events WHERE UPPER(e.type) AS INT > 1 OR e.subject AS BOOLEAN "
            "PROJECT INTO { a: e.data.x + ('1' AS STRING) }",
            (1, 103),
            "expected number, got string",
        ),
        (
            "FROM s IN (FROM e IN events WHERE e.id PROJECT INTO e) PROJECT INTO s",
            (1, 35),
            "expected boolean, got string",
        ),
        ("FROM t IN eventtypes WHERE t.eventType PROJECT INTO t", (1, 28), "got string"),
        ("FROM s IN subjects WHERE s.subject + 1 > 0 PROJECT INTO s", (1, 26), "got string"),
    ],
)
def test_known_types_that_cannot_work_are_refused_before_running(
    text: str, position: tuple[int, int], detail: str
) -> None:
    error = syntax_error(text)
    assert error.code == "query-malformed"
    assert (error.line, error.column) == position
    assert error.detail.startswith("type mismatch: ")
    assert detail in error.detail


@pytest.mark.parametrize(
    "text",
    [
        "FROM e IN events WHERE e.data.flag PROJECT INTO e",
        "FROM e IN events WHERE e.data.n + 1 > 2 AND NOT e.data.done PROJECT INTO e",
        "FROM e IN events WHERE e.data.tags CONTAINS 'a' PROJECT INTO e",
        "FROM e IN events WHERE ['a', 'b'] CONTAINS e.type PROJECT INTO e",
        "FROM e IN events WHERE [1, 'a'] CONTAINS e.type PROJECT INTO e",
        "FROM e IN events WHERE [1, 2] CONTAINS e.data.n PROJECT INTO e",
        "FROM e IN events WHERE e.id == 1 PROJECT INTO e",
        "FROM e IN events WHERE e.time > '2024-01-01T00:00:00Z' PROJECT INTO e",
        "FROM e IN events WHERE e.traceparent PROJECT INTO e",
        "FROM e IN events WHERE null PROJECT INTO e",
        "FROM e IN events WHERE IF(e.data.a, true, e.data.b) PROJECT INTO e",
        "FROM e IN events WHERE e.id AS INT > 2 PROJECT INTO e",
        "FROM e IN events GROUP BY e.type HAVING MAX(e.data.n) > 1 PROJECT INTO COUNT()",
        "FROM e IN events SKIP 1 + 1 TOP PI PROJECT INTO e",
    ],
)
def test_types_that_depend_on_the_data_are_left_to_the_run(text: str) -> None:
    parse(text)
