"""Static checks between parsing and compiling: names, fields, functions and aggregate rules.

Every violation is an :class:`EventQLSyntaxError` (``query-malformed``) positioned at the
offending expression. The rules:

* aliases are unique within a query; a subquery sees only its own aliases;
* sources are ``events``, ``subjects``, ``eventtypes`` (any case) or a subquery;
* a bare name must be an alias (or ``PI``); fields of ``events``, ``subjects`` and ``eventtypes``
  rows must exist at the first level (``e.foo`` is refused, ``e.data.foo`` is fine);
* functions and ``AS`` types must exist, with the right number of arguments;
* aggregates may appear only in ``PROJECT INTO`` and ``HAVING``, not nested, and their argument
  must refer to the source (``SUM(1)`` is refused, ``COUNT()`` is fine);
* when the projection is aggregated (it holds an aggregate, or the query has ``GROUP BY``),
  every reference to the source in ``PROJECT INTO``/``HAVING`` must sit inside an aggregate;
* ``GROUP BY`` takes a field (``e.type``, ``e.data.a.b``); ``SKIP``/``TOP`` may not refer to
  the source;
* types that are known before the query runs must fit where they are used, as the reference's
  parser checks them: ``WHERE``, ``HAVING``, ``NOT``, ``AND``, ``OR``, ``XOR`` and ``IF`` take
  booleans, arithmetic takes numbers, ``CONTAINS`` takes an array on its left and, when the
  array is a literal of one known item type, a value of that type on its right
  (``[1, 2, 3] CONTAINS e.source`` is refused). Types that depend on the data (``e.data.x``,
  null) are checked while the query runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from . import ast
from .errors import EventQLSyntaxError
from .functions import AGGREGATE_FUNCTIONS, CONVERSIONS, SCALAR_FUNCTIONS, type_name

__all__ = [
    "EVENT_FIELDS",
    "EVENT_TYPE_FIELDS",
    "SUBJECT_FIELDS",
    "SourceKind",
    "analyze",
    "contains_aggregate",
    "field_path",
    "projects_whole_event",
    "source_kind",
]

EVENT_FIELDS = (
    "specversion", "id", "time", "source", "subject", "type", "datacontenttype", "data",
    "predecessorhash", "hash", "traceparent", "tracestate", "signature",
)  # fmt: skip
"""The fields of an ``events`` row."""

SUBJECT_FIELDS = ("subject",)
"""The fields of a ``subjects`` row (shaped like a read-subjects payload)."""

EVENT_TYPE_FIELDS = ("eventType", "isPhantom", "schema")
"""The fields of an ``eventtypes`` row (shaped like a read-event-types payload)."""


class SourceKind(Enum):
    """What an alias is bound to."""

    EVENTS = "events"
    SUBJECTS = "subjects"
    EVENT_TYPES = "eventtypes"
    ROWS = "rows"  # rows of a subquery that does not project whole events


_NAMED_SOURCES = {
    "events": SourceKind.EVENTS,
    "subjects": SourceKind.SUBJECTS,
    "eventtypes": SourceKind.EVENT_TYPES,
}
_FIELDS: Mapping[SourceKind, tuple[str, ...]] = {
    SourceKind.EVENTS: EVENT_FIELDS,
    SourceKind.SUBJECTS: SUBJECT_FIELDS,
    SourceKind.EVENT_TYPES: EVENT_TYPE_FIELDS,
}


def _error(detail: str, span: ast.Span) -> EventQLSyntaxError:
    """A syntax error spanning ``span``."""
    return EventQLSyntaxError(detail, start_token=span.start, end_token=span.end)


def source_kind(source: ast.Source) -> SourceKind:
    """The kind of rows a source yields (after analysis has accepted it)."""
    if isinstance(source, ast.NamedSource):
        kind = _NAMED_SOURCES.get(source.name.lower())
        if kind is None:
            known = ", ".join(_NAMED_SOURCES)
            raise _error(f"unknown source '{source.name}'; expected {known} or a subquery",
                         source.span)  # fmt: skip
        return kind
    return SourceKind.EVENTS if projects_whole_event(source.query) else SourceKind.ROWS


def projects_whole_event(query: ast.QueryNode) -> bool:
    """True iff the query projects the bare alias of a source of whole events."""
    projection = query.projection
    if not isinstance(projection, ast.Identifier) or query.group_by is not None:
        return False
    for clause in query.froms:
        if clause.alias == projection.name:
            return source_kind(clause.source) is SourceKind.EVENTS
    return False


def contains_aggregate(expr: ast.Expr) -> bool:
    """True if an aggregate call occurs anywhere in ``expr``."""
    if isinstance(expr, ast.Call):
        return expr.name in AGGREGATE_FUNCTIONS or any(contains_aggregate(a) for a in expr.args)
    return any(contains_aggregate(child) for child in _children(expr))


def field_path(expr: ast.Expr) -> tuple[ast.Identifier, tuple[str, ...]] | None:
    """Split ``a.b.c`` into (``a``, (``b``, ``c``)); None if the chain is not rooted at a name."""
    names: list[str] = []
    while isinstance(expr, ast.FieldAccess):
        names.append(expr.name)
        expr = expr.target
    if isinstance(expr, ast.Identifier):
        return expr, tuple(reversed(names))
    return None


def _children(expr: ast.Expr) -> tuple[ast.Expr, ...]:
    """The direct subexpressions of ``expr``."""
    if isinstance(expr, ast.FieldAccess):
        return (expr.target,)
    if isinstance(expr, ast.Unary):
        return (expr.operand,)
    if isinstance(expr, ast.Binary):
        return (expr.left, expr.right)
    if isinstance(expr, ast.Conversion):
        return (expr.operand,)
    if isinstance(expr, ast.Call | ast.ArrayLiteral):
        return expr.args if isinstance(expr, ast.Call) else expr.items
    if isinstance(expr, ast.RecordLiteral):
        return tuple(value for _, value in expr.fields)
    return ()


def _source_text(expr: ast.Expr) -> str:
    """A short text for a source reference in messages (``e``, ``e.data.x``)."""
    path = field_path(expr)
    if path is None:  # pragma: no cover - only called for source references
        return "the source"
    root, names = path
    return ".".join((root.name, *names))


def analyze(query: ast.QueryNode) -> None:
    """Check ``query`` and its subqueries; raise :class:`EventQLSyntaxError` on a violation."""
    scope: dict[str, SourceKind] = {}
    for clause in query.froms:
        if isinstance(clause.source, ast.SubquerySource):
            analyze(clause.source.query)
        kind = source_kind(clause.source)
        if clause.alias in scope:
            raise _error(f"the alias '{clause.alias}' is already defined", clause.alias_span)
        scope[clause.alias] = kind

    if query.where is not None:
        _Check(scope, "WHERE").run(query.where)
    if query.order_by is not None:
        _Check(scope, "ORDER BY").run(query.order_by.expr)
    grouped = query.group_by is not None or contains_aggregate(query.projection)
    if query.group_by is not None:
        key = query.group_by.key
        path = field_path(key)
        if path is None or not path[1] or path[0].name not in scope:
            raise _error("GROUP BY expects a field of a source, such as e.type", key.span)
        _Check(scope, "GROUP BY").run(key)
        if query.group_by.having is not None:
            _Check(scope, "HAVING", aggregates=True, grouped=True).run(query.group_by.having)
    for name, limit in (("SKIP", query.skip), ("TOP", query.top)):
        if limit is not None:
            _Check(scope, name, constant=True).run(limit)
    _Check(scope, "PROJECT INTO", aggregates=True, grouped=grouped).run(query.projection)
    _typecheck(query, scope)


@dataclass
class _Check:
    """Walks one clause's expression with the rules that apply to that clause."""

    scope: Mapping[str, SourceKind]
    clause: str
    aggregates: bool = False  # aggregate calls allowed
    grouped: bool = False  # source references only inside aggregates
    constant: bool = False  # no source references at all
    _in_aggregate: bool = False
    _saw_source: bool = False

    def run(self, expr: ast.Expr) -> None:
        """Check ``expr``; raise on the first violation."""
        self._visit(expr)

    def _visit(self, expr: ast.Expr) -> None:
        """Dispatch on the node kind; references and calls have their own rules."""
        if isinstance(expr, ast.Identifier | ast.FieldAccess):
            path = field_path(expr)
            if path is not None:
                self._reference(expr, *path)
                return
        if isinstance(expr, ast.Call):
            self._call(expr)
            return
        if isinstance(expr, ast.Conversion) and expr.type_name not in CONVERSIONS:
            known = ", ".join(CONVERSIONS)
            raise _error(f"unknown type '{expr.type_name}'; expected one of {known}", expr.span)
        for child in _children(expr):
            self._visit(child)

    def _reference(self, expr: ast.Expr, root: ast.Identifier, names: tuple[str, ...]) -> None:
        """A name or a field chain rooted at a name."""
        kind = self.scope.get(root.name)
        if kind is None:
            if root.name.upper() == "PI" and not names:
                return
            raise _error(f"unknown identifier '{root.name}'", root.span)
        fields = _FIELDS.get(kind)
        if fields is not None and names and names[0] not in fields:
            raise _error(
                f"unknown field '{names[0]}' of {kind.value}; known fields: {', '.join(fields)}",
                expr.span,
            )
        if self.constant:
            raise _error(f"{self.clause} cannot refer to the source ('{_source_text(expr)}')",
                         expr.span)  # fmt: skip
        if self.grouped and not self._in_aggregate:
            raise _error(
                f"'{_source_text(expr)}' must be inside an aggregate function in {self.clause}: "
                "an aggregated projection cannot mix aggregates with plain source fields "
                "(use UNIQUE() for the grouped value)",
                expr.span,
            )
        self._saw_source = True

    def _call(self, call: ast.Call) -> None:
        """A function or aggregate call."""
        aggregate = AGGREGATE_FUNCTIONS.get(call.name)
        if aggregate is not None:
            if not self.aggregates:
                raise _error(f"the aggregate function {call.name} is not allowed in "
                             f"{self.clause}", call.span)  # fmt: skip
            if self._in_aggregate:
                raise _error("aggregate functions cannot be nested", call.span)
            _arity(call, aggregate.min_args, aggregate.max_args)
            self._in_aggregate, self._saw_source = True, False
            for arg in call.args:
                self._visit(arg)
            if call.args and not self._saw_source:
                raise _error(f"the argument of {call.name} must refer to the source, "
                             "such as e.data.value", call.args[0].span)  # fmt: skip
            self._in_aggregate = False
            return
        function = SCALAR_FUNCTIONS.get(call.name)
        if function is None:
            raise _error(f"unknown function '{call.name}'", call.span)
        _arity(call, function.min_args, function.max_args)
        for arg in call.args:
            self._visit(arg)


def _arity(call: ast.Call, least: int, most: int) -> None:
    """Refuse a call with the wrong number of arguments."""
    count = len(call.args)
    if least <= count <= most:
        return
    wanted = str(least) if least == most else f"{least} to {most}"
    plural = "" if most == 1 and least == 1 else "s"
    raise _error(f"{call.name} takes {wanted} argument{plural}, got {count}", call.span)


# -- types known before the query runs ------------------------------------------------------------

_BOOLEAN, _NUMBER, _STRING, _ARRAY, _RECORD = "boolean", "number", "string", "array", "record"

_FIELD_TYPES: Mapping[SourceKind, Mapping[str, str]] = {
    SourceKind.EVENTS: {
        **dict.fromkeys(
            ("specversion", "id", "source", "subject", "type", "datacontenttype",
             "predecessorhash", "hash"),
            _STRING,
        ),
        "time": "DATETIME",
        "data": _RECORD,
    },
    SourceKind.SUBJECTS: {"subject": _STRING},
    SourceKind.EVENT_TYPES: {"eventType": _STRING, "isPhantom": _BOOLEAN},
}  # fmt: skip
"""The fields whose type never depends on the data (trace fields and signatures may be null)."""

_CONVERSION_TYPES: Mapping[str, str] = {
    "STRING": _STRING, "INT": _NUMBER, "FLOAT64": _NUMBER, "BOOLEAN": _BOOLEAN,
    "DATETIME": "DATETIME", "DATE": "DATE", "TIME": "TIME",
}  # fmt: skip

_FUNCTION_TYPES: Mapping[str, str] = {
    **dict.fromkeys(
        ("ABS", "CEIL", "FLOOR", "ROUND", "COS", "EXP", "POW", "SQRT", "RAND", "PI", "LEN",
         "INSTR", "YEAR", "MONTH", "DAY", "WEEKDAY", "HOUR", "MINUTE", "SECOND", "COUNT"),
        _NUMBER,
    ),
    **dict.fromkeys(("LOWER", "UPPER", "TRIM", "LTRIM", "RTRIM", "SUBSTRING", "REPLACE"), _STRING),
    "STARTSWITH": _BOOLEAN,
    "ENDSWITH": _BOOLEAN,
    "NOW": "DATETIME",
}  # fmt: skip
"""Result types of functions that always give a value of one type (aggregates over no rows
may give null, so only COUNT is here)."""

_LOGICAL = frozenset({ast.BinaryOp.AND, ast.BinaryOp.OR, ast.BinaryOp.XOR})
_ARITHMETIC = frozenset(
    {ast.BinaryOp.ADD, ast.BinaryOp.SUB, ast.BinaryOp.MUL, ast.BinaryOp.DIV, ast.BinaryOp.MOD}
)


def _mismatch(expr: ast.Expr, expected: str, found: str) -> EventQLSyntaxError:
    return _error(f"type mismatch: expected {expected}, got {found}", expr.span)


@dataclass
class _Types:
    """Infers the types known before running (None where they depend on the data) and refuses
    the expressions whose known types cannot work."""

    scope: Mapping[str, SourceKind]

    def expect(self, expr: ast.Expr, expected: str) -> None:
        """Check ``expr`` and insist on ``expected`` if its type is known."""
        found = self.infer(expr)
        if found is not None and found != expected:
            raise _mismatch(expr, expected, found)

    def infer(self, expr: ast.Expr) -> str | None:
        """The type of ``expr`` if it is known without the data; checks its parts on the way."""
        if isinstance(expr, ast.Literal):
            return None if expr.value is None else type_name(expr.value)
        if isinstance(expr, ast.Identifier | ast.FieldAccess):
            return self._reference(expr)
        if isinstance(expr, ast.Unary):
            wanted = _BOOLEAN if expr.op is ast.UnaryOp.NOT else _NUMBER
            self.expect(expr.operand, wanted)
            return wanted
        if isinstance(expr, ast.Binary):
            return self._binary(expr)
        if isinstance(expr, ast.Conversion):
            self.infer(expr.operand)
            return _CONVERSION_TYPES.get(expr.type_name)
        if isinstance(expr, ast.Call):
            return self._call(expr)
        for child in _children(expr):
            self.infer(child)
        return _ARRAY if isinstance(expr, ast.ArrayLiteral) else _RECORD

    def _reference(self, expr: ast.Identifier | ast.FieldAccess) -> str | None:
        path = field_path(expr)
        if path is None:
            assert isinstance(expr, ast.FieldAccess)
            self.infer(expr.target)
            return None
        root, names = path
        kind = self.scope.get(root.name)
        if kind is None:
            return _NUMBER if not names else None  # PI
        if len(names) != 1:
            return None
        return _FIELD_TYPES.get(kind, {}).get(names[0])

    def _binary(self, expr: ast.Binary) -> str | None:
        if expr.op in _LOGICAL:
            self.expect(expr.left, _BOOLEAN)
            self.expect(expr.right, _BOOLEAN)
            return _BOOLEAN
        if expr.op in _ARITHMETIC:
            self.expect(expr.left, _NUMBER)
            self.expect(expr.right, _NUMBER)
            return _NUMBER
        if expr.op is ast.BinaryOp.CONTAINS:
            self.expect(expr.left, _ARRAY)
            needle = self.infer(expr.right)
            item = self._item_type(expr.left)
            if item is not None and needle is not None and needle != item:
                raise _mismatch(expr.right, item, needle)
            return _BOOLEAN
        self.infer(expr.left)
        self.infer(expr.right)
        return _BOOLEAN

    def _item_type(self, expr: ast.Expr) -> str | None:
        """The one known type of every item of an array literal, else None."""
        if not isinstance(expr, ast.ArrayLiteral) or not expr.items:
            return None
        types = {self.infer(item) for item in expr.items}
        return types.pop() if len(types) == 1 else None

    def _call(self, call: ast.Call) -> str | None:
        if call.name == "IF":
            condition, then, otherwise = call.args
            self.expect(condition, _BOOLEAN)
            branches = {self.infer(then), self.infer(otherwise)}
            return branches.pop() if len(branches) == 1 else None
        for arg in call.args:
            self.infer(arg)
        if call.name == "COUNT" or call.name in SCALAR_FUNCTIONS:
            return _FUNCTION_TYPES.get(call.name)
        return None


def _typecheck(query: ast.QueryNode, scope: Mapping[str, SourceKind]) -> None:
    """Refuse a query whose known types cannot work (subqueries check themselves)."""
    types = _Types(scope)
    if query.where is not None:
        types.expect(query.where, _BOOLEAN)
    if query.order_by is not None:
        types.infer(query.order_by.expr)
    if query.group_by is not None and query.group_by.having is not None:
        types.expect(query.group_by.having, _BOOLEAN)
    for limit in (query.skip, query.top):
        if limit is not None:
            types.expect(limit, _NUMBER)
    types.infer(query.projection)
