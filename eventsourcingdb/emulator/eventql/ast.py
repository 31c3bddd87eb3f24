"""The EventQL syntax tree: immutable nodes that remember the tokens they span.

The parser builds these nodes, the analysis checks them and the compiler turns them into Python
closures. Names are kept as written (case-insensitive words such as function and type names are
upper-cased by the parser); numbers are already ``float``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .errors import Token

__all__ = [
    "ArrayLiteral",
    "Binary",
    "BinaryOp",
    "Call",
    "Conversion",
    "Expr",
    "FieldAccess",
    "FromClause",
    "GroupBy",
    "Identifier",
    "Literal",
    "NamedSource",
    "OrderBy",
    "QueryNode",
    "RecordLiteral",
    "Source",
    "Span",
    "SubquerySource",
    "Unary",
    "UnaryOp",
]


@dataclass(frozen=True, slots=True)
class Span:
    """The first and the last token of a node, for error positions."""

    start: Token
    end: Token


class BinaryOp(Enum):
    """Binary operators; the value is the spelling used in error messages."""

    OR = "OR"
    XOR = "XOR"
    AND = "AND"
    EQ = "=="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    CONTAINS = "CONTAINS"
    ADD = "+"
    SUB = "-"
    MUL = "*"
    DIV = "/"
    MOD = "%"


class UnaryOp(Enum):
    """Prefix operators; the value is the spelling used in error messages."""

    NOT = "NOT"
    PLUS = "+"
    MINUS = "-"


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant: ``float``, ``str``, ``bool`` or ``None``."""

    value: float | str | bool | None
    span: Span


@dataclass(frozen=True, slots=True)
class Identifier:
    """A bare name: a source alias (or the constant ``PI``)."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class FieldAccess:
    """``target.name``; a missing field evaluates to null."""

    target: Expr
    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Unary:
    """``NOT x``, ``-x``, ``+x``."""

    op: UnaryOp
    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Binary:
    """``left <op> right``."""

    op: BinaryOp
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Conversion:
    """``operand AS TYPE``; ``type_name`` is upper-cased."""

    operand: Expr
    type_name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    """A function or aggregate call; ``name`` is upper-cased."""

    name: str
    args: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class ArrayLiteral:
    """``[a, b, ...]``."""

    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class RecordLiteral:
    """``{ key: expr, ... }`` in the written order."""

    fields: tuple[tuple[str, Expr], ...]
    span: Span


Expr = (
    Literal
    | Identifier
    | FieldAccess
    | Unary
    | Binary
    | Conversion
    | Call
    | ArrayLiteral
    | RecordLiteral
)


@dataclass(frozen=True, slots=True)
class NamedSource:
    """``events``, ``subjects`` or ``eventtypes`` (``name`` lower-cased; checked by analysis)."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class SubquerySource:
    """A parenthesised query used as a source."""

    query: QueryNode
    span: Span


Source = NamedSource | SubquerySource


@dataclass(frozen=True, slots=True)
class FromClause:
    """``FROM alias IN source``."""

    alias: str
    alias_span: Span
    source: Source
    span: Span


@dataclass(frozen=True, slots=True)
class OrderBy:
    """``ORDER BY expr [ASC|DESC]``."""

    expr: Expr
    descending: bool
    span: Span


@dataclass(frozen=True, slots=True)
class GroupBy:
    """``GROUP BY key [HAVING condition]``."""

    key: Expr
    having: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class QueryNode:
    """A whole query (or subquery) as written."""

    froms: tuple[FromClause, ...]
    where: Expr | None
    order_by: OrderBy | None
    group_by: GroupBy | None
    skip: Expr | None
    top: Expr | None
    distinct: bool
    projection: Expr
    span: Span
