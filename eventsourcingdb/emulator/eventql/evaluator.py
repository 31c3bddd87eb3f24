"""Compiles an analysed query into Python closures once, then runs it lazily against a snapshot.

Execution order: FROM (cartesian product, first source streamed) → WHERE → ORDER BY (stable,
on input rows, wherever it is written) → GROUP BY/HAVING or the single group of an aggregated
projection → PROJECT INTO → DISTINCT → SKIP → TOP. Without ORDER BY, grouping and DISTINCT,
rows stream one by one and TOP stops reading early.

Bounds: constant folding computes at most ``FOLD_BUDGET`` characters of strings per query (the
rest is computed while running, in the worker thread); ORDER BY, GROUP BY, aggregates and
DISTINCT hold at most ``MAX_HELD_ROWS`` rows; a :class:`Cancellation` passed to ``execute`` is
looked at before every row, so a query whose client has gone stops at once.

Expressions are closures ``fn(env)``: in row context ``env`` is a tuple with one bound value per
alias (an :class:`EventValue` for events, a plain object otherwise). Aggregated projections run
in two steps: while rows stream in, each aggregate collects its argument's values per group (no
rows are kept); then per group the aggregates are finished and the projection and HAVING are
evaluated with ``env`` = the list of finished aggregate results.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from . import ast
from .analysis import EVENT_FIELDS, SourceKind, contains_aggregate, field_path, source_kind
from .errors import EventQLEvaluationError, QueryCancelledError
from .functions import (
    AGGREGATE_FUNCTIONS,
    CONVERSIONS,
    SCALAR_FUNCTIONS,
    DateTimeValue,
    EventValue,
    QuerySource,
    ValueProblem,
    canonical,
    compare,
    equals,
    event_type_row,
    export,
    is_number,
    sort_key,
    sort_key_kind,
    type_name,
)

__all__ = ["FOLD_BUDGET", "MAX_HELD_ROWS", "Cancellation", "Plan", "compile_query"]

FOLD_BUDGET = 4 * 1024 * 1024
"""Characters of strings that constant folding may compute for one query; beyond it constants
are computed per row, where cancellation can stop them."""
MAX_HELD_ROWS = 1_000_000
"""Rows that ORDER BY, GROUP BY (and aggregates), and DISTINCT may hold in memory at once."""


class Cancellation:
    """Set from any thread when nobody waits for a query's rows any more; the running query
    looks at it before every row and stops with :class:`QueryCancelledError`."""

    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        """Ask the query to stop (safe from any thread)."""
        self.cancelled = True


class _FoldBudget:
    """What constant folding may still compute for one query (counted in characters)."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = FOLD_BUDGET


_Fn = Callable[[Any], object]
_TEMPORAL_TYPES = frozenset({"DATETIME", "DATE", "TIME"})


def _fail(span: ast.Span, detail: str) -> EventQLEvaluationError:
    """An evaluation error located at ``span``."""
    return EventQLEvaluationError(detail, start_token=span.start, end_token=span.end)


@dataclass(frozen=True, slots=True)
class _Code:
    """A compiled expression and what the compiler knows about it statically."""

    fn: _Fn
    exports: bool = False  # may yield an internal value (temporal, event) that needs export
    constant: bool = False  # independent of the rows and deterministic
    folded: bool = False  # constant whose value was computed at compile time
    value: object = None  # the folded value
    plain: _Fn | None = None  # a faster closure that yields the exported value directly


def _constant(value: object) -> _Code:
    """A folded constant."""
    return _Code(lambda env: value, exports=False, constant=True, folded=True, value=value)


def _fold(code: _Code, budget: _FoldBudget) -> _Code:
    """Evaluate a constant scalar expression once; keep it lazy if it fails (error at run), and
    once the query's fold budget is spent."""
    if not code.constant or code.folded or budget.left <= 0:
        return code
    try:
        value = code.fn(None)
    except EventQLEvaluationError:
        return code
    budget.left -= len(value) if type(value) is str else 1
    if isinstance(value, list | dict):
        return code  # rebuild containers per row so that rows never share mutable objects
    return _Code(lambda env: value, code.exports, constant=True, folded=True, value=value)


# -- plan ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _AggregateSlot:
    """One aggregate call of an aggregated projection or HAVING clause."""

    arg: _Fn | None  # evaluated per row; None for COUNT()
    finish: Callable[[list[object]], object]  # the collected values -> the aggregate's result


@dataclass(frozen=True, slots=True)
class _SourcePlan:
    """How to produce the bound values of one FROM clause."""

    kind: SourceKind
    subplan: Plan | None


@dataclass(frozen=True, slots=True)
class Plan:
    """A compiled query: closures for each clause plus the flags that pick the execution path."""

    sources: tuple[_SourcePlan, ...]
    where: _Fn | None
    where_span: ast.Span | None
    order: _Fn | None
    order_span: ast.Span | None
    descending: bool
    grouped: bool
    aggregates: tuple[_AggregateSlot, ...]
    group_key: _Fn | None
    having: _Fn | None
    having_span: ast.Span | None
    projection: _Fn
    exporter: Callable[[object], object] | None
    distinct: bool
    skip: _Fn | None
    skip_span: ast.Span | None
    top: _Fn | None
    top_span: ast.Span | None
    whole_event: bool

    def execute(
        self,
        source: QuerySource,
        *,
        keep_events: bool = False,
        cancellation: Cancellation | None = None,
    ) -> Iterator[object]:
        """Yield the result rows lazily (a generator: errors surface while iterating).

        ``keep_events`` yields whole events as their :class:`EventValue` (sharing its field
        cache) instead of the caller's row objects; subqueries use it. A ``cancellation``
        that is set stops the query before its next row (:class:`QueryCancelledError`).
        """
        try:
            yield from self._rows(source, keep_events, cancellation)
        except RecursionError:
            raise EventQLEvaluationError("the query is nested too deeply to evaluate") from None

    def _rows(
        self, source: QuerySource, keep_events: bool, cancellation: Cancellation | None
    ) -> Iterator[object]:
        """The pipeline of the module docstring, picking the streaming path when it can."""
        skip = _limit(self.skip, self.skip_span, "SKIP")
        top = _limit(self.top, self.top_span, "TOP")
        if top == 0:
            return
        envs = self._environments(source, cancellation)
        if self.where is not None:
            envs = _filtered(envs, self.where, self.where_span)
        if self.order is not None:
            assert self.order_span is not None
            envs = _held(envs, "ORDER BY")
            envs = iter(_sorted(envs, self.order, self.order_span, self.descending))
        rows: Iterator[object]
        if self.grouped:
            rows = map(self.projection, self._groups(_held(envs, "an aggregated projection")))
        elif self.whole_event and not self.distinct:
            if keep_events:
                yield from _window((env[0] for env in envs), skip, top)
            else:
                yield from _window((cast(EventValue, env[0]).row for env in envs), skip, top)
            return
        elif not self.distinct:
            envs = _window(envs, skip, top)
            skip, top = 0, None
            rows = map(self.projection, envs)
        else:
            rows = map(self.projection, envs)
        if self.distinct:
            rows = _distinct(rows)
        rows = _window(rows, skip, top)
        exporter = self.exporter
        if keep_events and exporter is _event_row:
            exporter = None
        yield from rows if exporter is None else map(exporter, rows)

    def _environments(
        self, source: QuerySource, cancellation: Cancellation | None
    ) -> Iterator[tuple[object, ...]]:
        """One tuple of bound values per combination of the FROM clauses."""
        streams = [_bound_values(spec, source, cancellation) for spec in self.sources]
        # a single iterable: 1-tuples, lazily
        envs = zip(streams[0]) if len(streams) == 1 else itertools.product(*streams)
        return envs if cancellation is None else _watched(envs, cancellation)

    def _groups(self, envs: Iterator[tuple[object, ...]]) -> Iterator[list[object]]:
        """Finished aggregate results per group, groups in order of first appearance.

        Without GROUP BY there is exactly one group, even over zero rows.
        """
        slots = self.aggregates
        states: dict[object, list[list[object]]] = {}
        key_fn = self.group_key
        if key_fn is None:
            state: list[list[object]] = [[] for _ in slots]
            states[None] = state
            _collect(envs, state, slots)
        else:
            args = [slot.arg for slot in slots]
            for env in envs:
                key = key_fn(env)
                if type(key) is not str:
                    key = canonical(key)
                found = states.get(key)
                if found is None:
                    found = states[key] = [[] for _ in slots]
                for values, arg in zip(found, args, strict=True):
                    values.append(None if arg is None else arg(env))
        having = self.having
        for state in states.values():
            results = [slot.finish(values) for slot, values in zip(slots, state, strict=True)]
            if having is not None:
                verdict = having(results)
                if verdict is False:
                    continue
                if verdict is not True:
                    assert self.having_span is not None
                    raise _fail(self.having_span,
                                f"HAVING needs a boolean, got {type_name(verdict)}")  # fmt: skip
            yield results


def _collect(
    envs: Iterator[tuple[object, ...]], state: list[list[object]], slots: Sequence[_AggregateSlot]
) -> None:
    """Feed every row into the value lists of one group."""
    pairs = [(values, slot.arg) for values, slot in zip(state, slots, strict=True)]
    if len(pairs) == 1:
        values, arg = pairs[0]
        if arg is None:
            values.extend(None for _ in envs)
        else:
            values.extend(map(arg, envs))
        return
    for env in envs:
        for values, arg in pairs:
            values.append(None if arg is None else arg(env))


def _watched(
    envs: Iterator[tuple[object, ...]], cancellation: Cancellation
) -> Iterator[tuple[object, ...]]:
    """The rows, stopping before the next one once the query is cancelled."""
    for env in envs:
        if cancellation.cancelled:
            raise QueryCancelledError("the query was cancelled: nobody waits for its rows")
        yield env


def _held(envs: Iterator[Any], what: str) -> Iterator[Any]:
    """The rows, refused once more than `MAX_HELD_ROWS` would be held in memory for `what`."""
    for count, env in enumerate(envs, 1):
        if count > MAX_HELD_ROWS:
            raise _too_many(what)
        yield env


def _too_many(what: str) -> EventQLEvaluationError:
    return EventQLEvaluationError(
        f"{what} would hold more than {MAX_HELD_ROWS:,} rows in memory; narrow the query "
        "(WHERE, fewer sources)"
    )


def _bound_values(
    spec: _SourcePlan, source: QuerySource, cancellation: Cancellation | None
) -> Iterable[object]:
    """The values an alias takes: events wrapped lazily, other rows as JSON-like objects."""
    kind = spec.kind
    if spec.subplan is not None:
        return spec.subplan.execute(
            source, keep_events=kind is SourceKind.EVENTS, cancellation=cancellation
        )
    if kind is SourceKind.EVENTS:
        return map(EventValue, source.events())
    if kind is SourceKind.SUBJECTS:
        return [{"subject": subject} for subject in source.subjects()]
    return [event_type_row(entry) for entry in source.event_types()]


def _limit(fn: _Fn | None, span: ast.Span | None, clause: str) -> int | None:
    """Evaluate a SKIP/TOP expression: a non-negative integer."""
    if fn is None or span is None:
        return None
    value = fn(None)
    if is_number(value) and float(value).is_integer() and value >= 0:
        return int(value)
    raise _fail(span, f"{clause} needs a non-negative integer, got {type_name(value)} {value!r}")


def _window(items: Iterator[Any], skip: int | None, top: int | None) -> Iterator[Any]:
    """Apply SKIP and TOP."""
    if not skip and top is None:
        return items
    start = skip or 0
    return itertools.islice(items, start, None if top is None else start + top)


def _filtered(
    envs: Iterator[tuple[object, ...]], condition: _Fn, span: ast.Span | None
) -> Iterator[tuple[object, ...]]:
    """Keep the rows whose WHERE condition is true; anything but a boolean is an error."""
    for env in envs:
        verdict = condition(env)
        if verdict is True:
            yield env
        elif verdict is not False:
            assert span is not None
            raise _fail(span, f"WHERE needs a boolean, got {type_name(verdict)}")


def _sorted(
    envs: Iterator[tuple[object, ...]], key_fn: _Fn, span: ast.Span, descending: bool
) -> list[tuple[object, ...]]:
    """Stable sort by one key; null sorts first ascending; mixed types are an error."""
    rows: list[tuple[object, ...]] = []
    keys: list[object] = []
    kinds: set[str] = set()
    has_null = False
    try:
        for env in envs:
            value = key_fn(env)
            kind = type(value)
            if kind is DateTimeValue:
                value = cast(DateTimeValue, value).ns
                kinds.add("DATETIME")
            elif kind is str:
                kinds.add("string")
            elif kind is float or kind is int:
                kinds.add("number")
            elif value is None:
                has_null = True
            else:
                kinds.add(sort_key_kind(value))
                value = sort_key(value)
            rows.append(env)
            keys.append(value)
    except ValueProblem as problem:
        raise _fail(span, problem.detail) from None
    if len(kinds) > 1:
        raise _fail(span, "ORDER BY found values of different types: " + ", ".join(sorted(kinds)))
    if has_null:
        keys = [(False, 0) if key is None else (True, key) for key in keys]
    order = sorted(range(len(keys)), key=keys.__getitem__, reverse=descending)  # type: ignore[arg-type]
    return [rows[index] for index in order]


def _distinct(rows: Iterator[object]) -> Iterator[object]:
    """Drop rows equal to an earlier row."""
    seen: set[object] = set()
    for row in rows:
        key = canonical(row)
        if key not in seen:
            if len(seen) >= MAX_HELD_ROWS:
                raise _too_many("DISTINCT")
            seen.add(key)
            yield row


# -- compiler ------------------------------------------------------------------------------------


def compile_query(query: ast.QueryNode, budget: _FoldBudget | None = None) -> Plan:
    """Compile an analysed query (see :func:`analysis.analyze`) into a :class:`Plan`."""
    budget = _FoldBudget() if budget is None else budget
    scope: dict[str, tuple[int, SourceKind]] = {}
    sources: list[_SourcePlan] = []
    for index, clause in enumerate(query.froms):
        kind = source_kind(clause.source)
        subplan = (
            compile_query(clause.source.query, budget)
            if isinstance(clause.source, ast.SubquerySource)
            else None
        )
        sources.append(_SourcePlan(kind, subplan))
        scope[clause.alias] = (index, kind)

    row = _Compiler(scope, budget, group=False)
    group = _Compiler(scope, budget, group=True)
    grouped = query.group_by is not None or contains_aggregate(query.projection)
    projection = (group if grouped else row).compile(query.projection)

    whole_event = False
    exporter: Callable[[object], object] | None = export if projection.exports else None
    if projection.plain is not None:
        projection, exporter = _Code(projection.plain), None
    if not grouped and isinstance(query.projection, ast.Identifier):
        bound = scope.get(query.projection.name)
        if bound is not None and bound[1] is SourceKind.EVENTS:
            whole_event = True
            index = bound[0]
            projection = _Code(lambda env: env[index])
            exporter = _event_row

    having = query.group_by.having if query.group_by is not None else None
    having_fn = group.compile(having).fn if having is not None else None  # adds slots: first
    return Plan(
        sources=tuple(sources),
        where=row.compile(query.where).fn if query.where is not None else None,
        where_span=query.where.span if query.where is not None else None,
        order=row.compile(query.order_by.expr).fn if query.order_by is not None else None,
        order_span=query.order_by.expr.span if query.order_by is not None else None,
        descending=query.order_by.descending if query.order_by is not None else False,
        grouped=grouped,
        aggregates=tuple(group.slots),
        group_key=row.compile(query.group_by.key).fn if query.group_by is not None else None,
        having=having_fn,
        having_span=having.span if having is not None else None,
        projection=projection.fn,
        exporter=exporter,
        distinct=query.distinct,
        skip=row.compile(query.skip).fn if query.skip is not None else None,
        skip_span=query.skip.span if query.skip is not None else None,
        top=row.compile(query.top).fn if query.top is not None else None,
        top_span=query.top.span if query.top is not None else None,
        whole_event=whole_event and len(sources) == 1 and sources[0].kind is SourceKind.EVENTS,
    )


def _event_row(value: object) -> object:
    """Exporter of whole-event projections: the caller's own row object (identity)."""
    if isinstance(value, EventValue):
        return value.row
    return export(value)  # pragma: no cover - whole-event projections only yield events


def _get(value: object, name: str) -> object:
    """``value.name`` for any value; null when there is no such field."""
    if type(value) is dict:
        return value.get(name)
    if isinstance(value, EventValue):
        return value.field(name)
    if isinstance(value, Mapping):
        return value.get(name)
    return None


def _dig(value: object, names: Sequence[str]) -> object:
    """Follow a path of field names through nested records."""
    for name in names:
        value = value.get(name) if type(value) is dict else _get(value, name)
        if value is None:
            return None
    return value


def _time_field(value: object) -> object:
    """``e.time`` as a lazily parsed DATETIME."""
    return DateTimeValue(None, value) if type(value) is str else value


def _boolean(value: object, span: ast.Span, what: str) -> bool:
    """Insist on a boolean operand."""
    if value is True or value is False:
        return value
    raise _fail(span, f"{what} expects a boolean, got {type_name(value)}")


def _number(value: object, span: ast.Span, what: str) -> float:
    """Insist on a number operand."""
    if is_number(value):
        return value
    raise _fail(span, f"{what} expects a number, got {type_name(value)}")


class _Compiler:
    """Compiles expressions for one context (rows or groups) of one query."""

    def __init__(
        self, scope: Mapping[str, tuple[int, SourceKind]], budget: _FoldBudget, *, group: bool
    ) -> None:
        self._scope = scope
        self._budget = budget
        self._group = group
        self.slots: list[_AggregateSlot] = []  # aggregates met in group context, in order

    def compile(self, expr: ast.Expr) -> _Code:
        """Compile ``expr`` and fold it when it is constant."""
        return _fold(self._compile(expr), self._budget)

    def _compile(self, expr: ast.Expr) -> _Code:
        """Compile one node without folding (``compile`` folds the result)."""
        if isinstance(expr, ast.Literal):
            return _constant(expr.value)
        if isinstance(expr, ast.Identifier | ast.FieldAccess):
            path = field_path(expr)
            if path is not None:
                return self._reference(path[0], path[1])
            assert isinstance(expr, ast.FieldAccess)
            target = self.compile(expr.target)
            target_fn, name = target.fn, expr.name
            return _Code(lambda env: _get(target_fn(env), name), exports=target.exports,
                         constant=target.constant)  # fmt: skip
        if isinstance(expr, ast.Unary):
            return self._unary(expr)
        if isinstance(expr, ast.Binary):
            return self._binary(expr)
        if isinstance(expr, ast.Conversion):
            return self._conversion(expr)
        if isinstance(expr, ast.Call):
            return self._call(expr)
        if isinstance(expr, ast.ArrayLiteral):
            return self._array(expr)
        return self._record(expr)

    # -- names ---------------------------------------------------------------------------------

    def _reference(self, root: ast.Identifier, names: tuple[str, ...]) -> _Code:
        """A source alias or a field path on it; ``PI`` is the only other bare name."""
        bound = self._scope.get(root.name)
        if bound is None:  # analysis admits only PI here
            return _constant(math.pi)
        assert not self._group, "analysis keeps source references inside aggregates"
        index, kind = bound
        if not names:
            return _Code(lambda env: env[index], exports=kind is SourceKind.EVENTS)
        if kind is not SourceKind.EVENTS:
            if len(names) == 1:
                name = names[0]
                return _Code(lambda env: _get(env[index], name))
            return _Code(lambda env: _dig(env[index], names))
        return self._event_field(index, names)

    def _event_field(self, index: int, names: tuple[str, ...]) -> _Code:
        """``e.<field>[.<path>]`` on an events alias (inlined cache reads: this is the hot path)."""
        first, rest = names[0], names[1:]
        assert first in EVENT_FIELDS
        if first == "time" and rest:
            return _constant(None)  # a DATETIME has no fields

        def top(env: Any) -> object:
            event = env[index]
            fields = event.cached
            if fields is None:
                fields = event.fields()
            return fields.get(first)

        if first == "time":
            return _Code(lambda env: _time_field(top(env)), exports=True, plain=top)
        if not rest:
            return _Code(top)
        if len(rest) == 1:
            second = rest[0]

            def one_deep(env: Any) -> object:
                event = env[index]
                fields = event.cached
                if fields is None:
                    fields = event.fields()
                value = fields.get(first)
                return value.get(second) if type(value) is dict else _get(value, second)

            return _Code(one_deep)
        return _Code(lambda env: _dig(top(env), rest))

    # -- operators -----------------------------------------------------------------------------

    def _unary(self, expr: ast.Unary) -> _Code:
        """``NOT`` needs a boolean, unary ``+``/``-`` a number; results are float/bool."""
        operand = self.compile(expr.operand)
        fn, span = operand.fn, expr.span
        if expr.op is ast.UnaryOp.NOT:
            return _Code(lambda env: not _boolean(fn(env), span, "NOT"),
                         constant=operand.constant)  # fmt: skip
        if expr.op is ast.UnaryOp.MINUS:
            return _Code(lambda env: -float(_number(fn(env), span, "unary -")),
                         constant=operand.constant)  # fmt: skip
        return _Code(lambda env: float(_number(fn(env), span, "unary +")),
                     constant=operand.constant)  # fmt: skip

    def _binary(self, expr: ast.Binary) -> _Code:
        """Logic, equality, CONTAINS, ordering and arithmetic operators."""
        left, right = self.compile(expr.left), self.compile(expr.right)
        constant = left.constant and right.constant
        op = expr.op
        if op in (ast.BinaryOp.AND, ast.BinaryOp.OR, ast.BinaryOp.XOR):
            return _Code(_logical(op, left.fn, right.fn, expr), constant=constant)
        if op in (ast.BinaryOp.EQ, ast.BinaryOp.NE):
            return _Code(_equality(op is ast.BinaryOp.NE, left, right, expr.span),
                         constant=constant)  # fmt: skip
        if op is ast.BinaryOp.CONTAINS:
            return _Code(_contains(left.fn, right.fn, expr.span), constant=constant)
        if op in _ORDERINGS:
            return _Code(_ordering(op, left, right, expr.span), constant=constant)
        return _Code(_arithmetic(op, left.fn, right.fn, expr.span), constant=constant)

    def _conversion(self, expr: ast.Conversion) -> _Code:
        """``x AS TYPE`` via the conversion table; failures are located errors."""
        operand = self.compile(expr.operand)
        fn, span, convert = operand.fn, expr.span, CONVERSIONS[expr.type_name]

        def conversion(env: Any) -> object:
            try:
                return convert(fn(env))
            except ValueProblem as problem:
                raise _fail(span, problem.detail) from None

        return _Code(conversion, exports=expr.type_name in _TEMPORAL_TYPES,
                     constant=operand.constant)  # fmt: skip

    # -- calls ---------------------------------------------------------------------------------

    def _call(self, expr: ast.Call) -> _Code:
        """A scalar function call; arguments are evaluated eagerly (IF is separate)."""
        if expr.name in AGGREGATE_FUNCTIONS:
            return self._aggregate(expr)
        if expr.name == "IF":
            return self._if(expr)
        function = SCALAR_FUNCTIONS[expr.name]
        args = [self.compile(arg) for arg in expr.args]
        impl, span = function.impl, expr.span
        fns = [arg.fn for arg in args]

        call: _Fn
        if len(fns) == 1:
            only = fns[0]

            def call_one(env: Any) -> object:
                try:
                    return impl(only(env))
                except ValueProblem as problem:
                    raise _fail(span, problem.detail) from None

            call = call_one
        else:

            def call_many(env: Any) -> object:
                try:
                    return impl(*[fn(env) for fn in fns])
                except ValueProblem as problem:
                    raise _fail(span, problem.detail) from None

            call = call_many
        constant = function.deterministic and all(arg.constant for arg in args)
        return _Code(call, exports=expr.name == "NOW", constant=constant)

    def _if(self, expr: ast.Call) -> _Code:
        """``IF(cond, a, b)`` evaluates only the chosen branch."""
        condition, then, otherwise = (self.compile(arg) for arg in expr.args)
        cond_fn, then_fn, else_fn = condition.fn, then.fn, otherwise.fn
        span = expr.args[0].span

        def branch(env: Any) -> object:
            verdict = cond_fn(env)
            if verdict is True:
                return then_fn(env)
            if verdict is False:
                return else_fn(env)
            raise _fail(span, f"IF expects a boolean condition, got {type_name(verdict)}")

        constant = condition.constant and then.constant and otherwise.constant
        return _Code(branch, exports=then.exports or otherwise.exports, constant=constant)

    def _aggregate(self, expr: ast.Call) -> _Code:
        """An aggregate becomes a slot that collects values per group; the code reads its result."""
        assert self._group, "analysis keeps aggregates out of row contexts"
        span, index = expr.span, len(self.slots)
        if not expr.args:
            self.slots.append(_AggregateSlot(None, _count_rows))
            return _Code(lambda results: results[index])
        arg = _Compiler(self._scope, self._budget, group=False).compile(expr.args[0])
        impl = AGGREGATE_FUNCTIONS[expr.name].impl

        def finish(values: list[object]) -> object:
            try:
                return impl(values)
            except ValueProblem as problem:
                raise _fail(span, problem.detail) from None

        self.slots.append(_AggregateSlot(arg.fn, finish))
        exports = arg.exports and expr.name in ("MIN", "MAX", "UNIQUE")
        return _Code(lambda results: results[index], exports=exports)

    # -- literals ------------------------------------------------------------------------------

    def _array(self, expr: ast.ArrayLiteral) -> _Code:
        """An array literal; its items are exported so arrays hold plain values only."""
        items = [self.compile(item) for item in expr.items]
        fns = [_exported(item) for item in items]
        return _Code(lambda env: [fn(env) for fn in fns],
                     constant=all(item.constant for item in items))  # fmt: skip

    def _record(self, expr: ast.RecordLiteral) -> _Code:
        """A record literal in written key order; its values are exported like arrays."""
        values = [self.compile(value) for _, value in expr.fields]
        keys = [key for key, _ in expr.fields]
        fns = [_exported(value) for value in values]
        return _Code(_record_builder(keys, fns), constant=all(value.constant for value in values))


def _record_builder(keys: list[str], fns: list[_Fn]) -> _Fn:
    """A closure building the record; small records get a comprehension-free closure."""
    if len(keys) == 1:
        (k1,), (f1,) = keys, fns
        return lambda env: {k1: f1(env)}
    if len(keys) == 2:
        (k1, k2), (f1, f2) = keys, fns
        return lambda env: {k1: f1(env), k2: f2(env)}
    if len(keys) == 3:
        (k1, k2, k3), (f1, f2, f3) = keys, fns
        return lambda env: {k1: f1(env), k2: f2(env), k3: f3(env)}
    if len(keys) == 4:
        (k1, k2, k3, k4), (f1, f2, f3, f4) = keys, fns
        return lambda env: {k1: f1(env), k2: f2(env), k3: f3(env), k4: f4(env)}
    pairs = list(zip(keys, fns, strict=True))
    return lambda env: {key: fn(env) for key, fn in pairs}


def _count_rows(values: list[object]) -> object:
    """``COUNT()``: the number of rows in the group."""
    return float(len(values))


def _exported(code: _Code) -> _Fn:
    """The closure of ``code`` with internal values exported (records hold plain values)."""
    fn = code.fn
    if not code.exports:
        return fn
    if code.plain is not None:
        return code.plain
    return lambda env: export(fn(env))


_ORDERINGS: Mapping[ast.BinaryOp, tuple[Callable[[Any, Any], bool], Callable[[int], bool]]] = {
    ast.BinaryOp.LT: (operator.lt, lambda c: c < 0),
    ast.BinaryOp.LE: (operator.le, lambda c: c <= 0),
    ast.BinaryOp.GT: (operator.gt, lambda c: c > 0),
    ast.BinaryOp.GE: (operator.ge, lambda c: c >= 0),
}
"""Each ordering operator: the Python operator for numbers/strings, the test on compare()."""


def _logical(op: ast.BinaryOp, left: _Fn, right: _Fn, expr: ast.Binary) -> _Fn:
    """AND/OR short-circuit; XOR evaluates both sides. Operands must be booleans."""
    left_span, right_span, what = expr.left.span, expr.right.span, op.value

    if op is ast.BinaryOp.AND:

        def logical_and(env: Any) -> object:
            if not _boolean(left(env), left_span, what):
                return False
            return _boolean(right(env), right_span, what)

        return logical_and
    if op is ast.BinaryOp.OR:

        def logical_or(env: Any) -> object:
            if _boolean(left(env), left_span, what):
                return True
            return _boolean(right(env), right_span, what)

        return logical_or

    def logical_xor(env: Any) -> object:
        return _boolean(left(env), left_span, what) != _boolean(right(env), right_span, what)

    return logical_xor


def _equality(negate: bool, left: _Code, right: _Code, span: ast.Span) -> _Fn:
    """``==``/``!=``; fast when the right side is a folded string or number."""
    left_fn, right_fn = left.fn, right.fn

    def slow(a: object, b: object) -> bool:
        try:
            return equals(a, b) != negate
        except ValueProblem as problem:
            raise _fail(span, problem.detail) from None

    if right.folded and type(right.value) in (str, float):
        constant, constant_type = right.value, type(right.value)

        def equal_constant(env: Any) -> object:
            value = left_fn(env)
            if type(value) is constant_type:
                return (value == constant) != negate
            return slow(value, constant)

        return equal_constant

    def equal(env: Any) -> object:
        a, b = left_fn(env), right_fn(env)
        kind = type(a)
        if kind is type(b) and (kind is str or kind is float):
            return (a == b) != negate
        return slow(a, b)

    return equal


def _ordering(op: ast.BinaryOp, left: _Code, right: _Code, span: ast.Span) -> _Fn:
    """``< <= > >=`` on numbers, strings and temporal values."""
    left_fn, right_fn = left.fn, right.fn
    python_op, test = _ORDERINGS[op]

    def ordering(env: Any) -> object:
        a, b = left_fn(env), right_fn(env)
        kind_a, kind_b = type(a), type(b)
        if (kind_a is float or kind_a is int) and (kind_b is float or kind_b is int):
            return python_op(a, b)
        if kind_a is str and kind_b is str:
            return python_op(a, b)
        try:
            return test(compare(a, b))
        except ValueProblem as problem:
            raise _fail(span, problem.detail) from None

    return ordering


def _contains(left: _Fn, right: _Fn, span: ast.Span) -> _Fn:
    """``array CONTAINS value`` with ``==`` semantics."""

    def contains(env: Any) -> object:
        items, needle = left(env), right(env)
        if not isinstance(items, list | tuple):
            raise _fail(span, f"CONTAINS expects an array on its left, got {type_name(items)}")
        if type(needle) is str:
            return needle in items
        try:
            return any(equals(item, needle) for item in items)
        except ValueProblem as problem:
            raise _fail(span, problem.detail) from None

    return contains


def _arithmetic(op: ast.BinaryOp, left: _Fn, right: _Fn, span: ast.Span) -> _Fn:
    """``+ - * / %`` on numbers; division by zero and non-finite results are errors."""
    symbol = op.value
    isfinite = math.isfinite

    def operands(env: Any) -> tuple[float, float]:
        a, b = left(env), right(env)
        if not is_number(a) or not is_number(b):
            raise _fail(span, f"'{symbol}' expects numbers, got {type_name(a)} and {type_name(b)}")
        return a, b

    def checked(result: float) -> float:
        if isfinite(result):
            return result
        raise _fail(span, f"the result of '{symbol}' is not a finite number")

    if op is ast.BinaryOp.ADD:

        def add(env: Any) -> object:
            a, b = operands(env)
            return checked(float(a + b))

        return add
    if op is ast.BinaryOp.SUB:

        def subtract(env: Any) -> object:
            a, b = operands(env)
            return checked(float(a - b))

        return subtract
    if op is ast.BinaryOp.MUL:

        def multiply(env: Any) -> object:
            a, b = operands(env)
            return checked(float(a * b))

        return multiply

    def divide(env: Any) -> object:
        a, b = operands(env)
        if b == 0:
            raise _fail(span, "division by zero" if symbol == "/" else "modulo by zero")
        return checked(a / b if symbol == "/" else math.fmod(a, b))

    return divide
