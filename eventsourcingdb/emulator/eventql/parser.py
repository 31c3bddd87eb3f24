"""Text to syntax tree: the lark LALR parser over ``grammar.lark`` and the tree conversion.

Lark errors become :class:`EventQLSyntaxError` with the line and column of the offending token;
nothing else escapes :func:`parse_query`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Collection, Sequence
from importlib import resources

from lark import Lark, Tree
from lark import Token as LarkToken
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import ast
from .errors import EventQLSyntaxError, Token

__all__ = ["KEYWORDS", "parse_query"]

KEYWORDS = frozenset(
    {
        "FROM", "IN", "WHERE", "ORDER", "GROUP", "BY", "ASC", "DESC", "HAVING", "SKIP", "TOP",
        "PROJECT", "INTO", "DISTINCT", "AND", "OR", "XOR", "NOT", "CONTAINS", "AS", "TRUE",
        "FALSE", "NULL",
    }
)  # fmt: skip
"""Reserved words (terminal names in the grammar); they cannot be aliases or function names."""

_OPERATOR_TERMINALS = {
    "EQ": "==", "NE": "!=", "LE": "<=", "GE": ">=", "LT": "<", "GT": ">", "PLUS": "+",
    "MINUS": "-", "STAR": "*", "SLASH": "/", "PERCENT": "%", "DOT": ".",
}  # fmt: skip
_PUNCTUATION_TERMINALS = {
    "COMMA": ",", "COLON": ":", "LPAR": "(", "RPAR": ")", "LBRACK": "[", "RBRACK": "]",
    "LBRACE": "{", "RBRACE": "}",
}  # fmt: skip
_BINARY_OPS = {
    "OR": ast.BinaryOp.OR, "XOR": ast.BinaryOp.XOR, "AND": ast.BinaryOp.AND,
    "EQ": ast.BinaryOp.EQ, "NE": ast.BinaryOp.NE, "LT": ast.BinaryOp.LT, "LE": ast.BinaryOp.LE,
    "GT": ast.BinaryOp.GT, "GE": ast.BinaryOp.GE, "CONTAINS": ast.BinaryOp.CONTAINS,
    "PLUS": ast.BinaryOp.ADD, "MINUS": ast.BinaryOp.SUB, "STAR": ast.BinaryOp.MUL,
    "SLASH": ast.BinaryOp.DIV, "PERCENT": ast.BinaryOp.MOD,
}  # fmt: skip
_UNARY_OPS = {"NOT": ast.UnaryOp.NOT, "PLUS": ast.UnaryOp.PLUS, "MINUS": ast.UnaryOp.MINUS}
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "r": "\r", "t": "\t"}

_Child = LarkToken | Tree[LarkToken]


@functools.cache
def _lark() -> Lark:
    """Build the parser once per process (about 50 ms); the grammar ships next to this module."""
    grammar = resources.files(__package__).joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer="basic", start="start", maybe_placeholders=False)


def parse_query(text: str) -> ast.QueryNode:
    """Parse ``text`` into a syntax tree; raise :class:`EventQLSyntaxError` on any failure."""
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text) from None
    try:
        return _Converter(text).query(_only_tree(tree.children[0]))
    except RecursionError:
        raise EventQLSyntaxError("the query is nested too deeply") from None


def _display_type(terminal: str) -> str:
    """The kind of a terminal as reported in error tokens."""
    if terminal in KEYWORDS:
        return "keyword"
    if terminal == "NAME":
        return "identifier"
    if terminal in ("NUMBER", "STRING"):
        return terminal.lower()
    if terminal in _OPERATOR_TERMINALS:
        return "operator"
    if terminal in _PUNCTUATION_TERMINALS:
        return "punctuation"
    return "end of input" if terminal == "$END" else terminal.lower()


def _token(tok: LarkToken) -> Token:
    """Convert a lark token into the public token record."""
    return Token(tok.line or 1, tok.column or 1, str(tok), _display_type(tok.type))


def _end_of_input(text: str) -> Token:
    """A zero-width token just after the last character of ``text``."""
    line = text.count("\n") + 1
    column = len(text) - (text.rfind("\n") + 1) + 1
    return Token(line, column, "", "end of input")


def _position(text: str, offset: int) -> tuple[int, int]:
    """The 1-based line and column of a character offset."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _describe_expected(expected: Collection[str]) -> str:
    """Human text for the terminals the parser would have accepted."""
    names = set(expected)
    if "NAME" in names and names >= KEYWORDS:
        names -= KEYWORDS  # after a dot any keyword is also a field name: just say identifier
    shown: list[str] = []
    for name in sorted(names, key=lambda n: (n in KEYWORDS, n)):
        if name in KEYWORDS:
            shown.append(name)
        elif name == "NAME":
            shown.append("identifier")
        elif name in ("NUMBER", "STRING"):
            shown.append(name.lower())
        elif name == "$END":
            shown.append("end of input")
        else:
            shown.append(
                f"'{_OPERATOR_TERMINALS.get(name) or _PUNCTUATION_TERMINALS.get(name, name)}'"
            )
    if not shown:
        return ""
    if len(shown) > 12:
        shown = [*shown[:12], "..."]
    return "; expected " + (shown[0] if len(shown) == 1 else "one of " + ", ".join(shown))


def _syntax_error(exc: UnexpectedInput, text: str) -> EventQLSyntaxError:
    """Translate a lark error into an EventQL syntax error at the offending position."""
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        start = exc.token.start_pos or 0
        for opening in (start - 1, start):
            if opening >= 0 and text.startswith("/*", opening):  # lexed as '/' and '*'
                line, column = _position(text, opening)
                return EventQLSyntaxError(
                    "unterminated block comment", start_token=Token(line, column, "/*", "comment")
                )
        tok = _token(exc.token)
        detail = f"unexpected {tok.type} '{tok.text}'" + _describe_expected(exc.expected)
        return EventQLSyntaxError(detail, start_token=tok)
    if isinstance(exc, UnexpectedToken | UnexpectedEOF):
        tok = _end_of_input(text)
        expected = exc.expected if isinstance(exc, UnexpectedToken) else []
        return EventQLSyntaxError("unexpected end of input" + _describe_expected(expected),
                                  start_token=tok)  # fmt: skip
    if isinstance(exc, UnexpectedCharacters):
        char = exc.char
        if char in "\"'":
            detail = "unterminated string literal"
        else:
            detail = f"unexpected character {char!r}"
        tok = Token(exc.line, exc.column, char, "character")
        return EventQLSyntaxError(detail, start_token=tok)
    return EventQLSyntaxError(str(exc))  # pragma: no cover - lark raises only the above


def _only_tree(child: _Child) -> Tree[LarkToken]:
    """Narrow a parse-tree child that the grammar guarantees to be a subtree."""
    if not isinstance(child, Tree):  # pragma: no cover - guaranteed by the grammar
        raise EventQLSyntaxError(f"unexpected token '{child}'", start_token=_token(child))
    return child


def _only_token(child: _Child) -> LarkToken:
    """Narrow a parse-tree child that the grammar guarantees to be a token."""
    if not isinstance(child, LarkToken):  # pragma: no cover - guaranteed by the grammar
        raise EventQLSyntaxError(f"unexpected construct '{child.data}'")
    return child


class _Converter:
    """Turns the lark parse tree into :mod:`ast` nodes with token spans."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._expr_builders: dict[str, Callable[[list[_Child]], ast.Expr]] = {
            "binary": self._binary,
            "unary": self._unary,
            "conversion": self._conversion,
            "field_access": self._field_access,
            "number": self._number,
            "string": self._string,
            "true": lambda c: ast.Literal(True, self._span(c)),
            "false": lambda c: ast.Literal(False, self._span(c)),
            "null": lambda c: ast.Literal(None, self._span(c)),
            "identifier": lambda c: ast.Identifier(str(c[0]), self._span(c)),
            "call": self._call,
            "array": self._array,
            "record": self._record,
            "group": lambda c: self.expr(c[1]),
        }

    # -- spans -------------------------------------------------------------------------------

    def _first(self, child: _Child) -> Token:
        """The first token below ``child``."""
        while isinstance(child, Tree):
            child = child.children[0]
        return _token(child)

    def _last(self, child: _Child) -> Token:
        """The last token below ``child``."""
        while isinstance(child, Tree):
            child = child.children[-1]
        return _token(child)

    def _span(self, children: Sequence[_Child]) -> ast.Span:
        """The span from the first to the last of ``children``."""
        return ast.Span(self._first(children[0]), self._last(children[-1]))

    # -- clauses -----------------------------------------------------------------------------

    def query(self, tree: Tree[LarkToken]) -> ast.QueryNode:
        """Convert a ``query`` subtree."""
        froms: list[ast.FromClause] = []
        where: ast.Expr | None = None
        order_by: ast.OrderBy | None = None
        group_by: ast.GroupBy | None = None
        skip: ast.Expr | None = None
        top: ast.Expr | None = None
        distinct = False
        projection: ast.Expr | None = None
        for clause in tree.children:
            clause = _only_tree(clause)
            parts = clause.children
            kind = clause.data
            if kind == "from_clause":
                froms.append(self._from(parts))
            elif kind == "where_clause":
                where = self.expr(parts[1])
            elif kind == "order_clause":
                descending = len(parts) == 4 and _only_token(parts[3]).type == "DESC"
                order_by = ast.OrderBy(self.expr(parts[2]), descending, self._span(parts))
            elif kind == "group_clause":
                having = self.expr(parts[4]) if len(parts) == 5 else None
                group_by = ast.GroupBy(self.expr(parts[2]), having, self._span(parts))
            elif kind == "skip_clause":
                skip = self.expr(parts[1])
            elif kind == "top_clause":
                top = self.expr(parts[1])
            else:  # project_clause
                distinct = len(parts) == 4
                projection = self.expr(parts[-1])
        assert projection is not None  # the grammar requires PROJECT INTO
        return ast.QueryNode(
            froms=tuple(froms),
            where=where,
            order_by=order_by,
            group_by=group_by,
            skip=skip,
            top=top,
            distinct=distinct,
            projection=projection,
            span=self._span(tree.children),
        )

    def _from(self, parts: list[_Child]) -> ast.FromClause:
        """Convert ``FROM alias IN source``."""
        alias = _only_token(parts[1])
        source_tree = _only_tree(parts[3])
        source: ast.Source
        if source_tree.data == "named_source":
            name = _only_token(source_tree.children[0])
            source = ast.NamedSource(str(name), self._span(source_tree.children))
        else:
            inner = self.query(_only_tree(source_tree.children[1]))
            source = ast.SubquerySource(inner, self._span(source_tree.children))
        alias_token = _token(alias)
        return ast.FromClause(
            str(alias), ast.Span(alias_token, alias_token), source, self._span(parts)
        )

    # -- expressions -------------------------------------------------------------------------

    def expr(self, child: _Child) -> ast.Expr:
        """Convert any expression subtree."""
        tree = _only_tree(child)
        return self._expr_builders[str(tree.data)](tree.children)

    def _binary(self, c: list[_Child]) -> ast.Expr:
        """``left op right``."""
        op = _BINARY_OPS[_only_token(c[1]).type]
        return ast.Binary(op, self.expr(c[0]), self.expr(c[2]), self._span(c))

    def _unary(self, c: list[_Child]) -> ast.Expr:
        """``NOT x``, ``-x``, ``+x``."""
        op = _UNARY_OPS[_only_token(c[0]).type]
        return ast.Unary(op, self.expr(c[1]), self._span(c))

    def _conversion(self, c: list[_Child]) -> ast.Expr:
        """``x AS TYPE`` with the type name upper-cased."""
        return ast.Conversion(self.expr(c[0]), str(c[2]).upper(), self._span(c))

    def _field_access(self, c: list[_Child]) -> ast.Expr:
        """``x.name``."""
        return ast.FieldAccess(self.expr(c[0]), str(c[2]), self._span(c))

    def _number(self, c: list[_Child]) -> ast.Expr:
        """A number literal as float; overflow to infinity is a syntax error."""
        value = float(str(c[0]))
        if not math.isfinite(value):
            raise EventQLSyntaxError(
                f"number '{c[0]}' is out of range", start_token=self._first(c[0])
            )
        return ast.Literal(value, self._span(c))

    def _string(self, c: list[_Child]) -> ast.Expr:
        """A quoted string literal."""
        tok = _only_token(c[0])
        return ast.Literal(self._unescape(tok), self._span(c))

    def _unescape(self, tok: LarkToken) -> str:
        """Strip the quotes and resolve ``\\\\ \\" \\' \\n \\r \\t``; other escapes are errors."""
        body = str(tok)[1:-1]
        if "\\" not in body:
            return body
        out: list[str] = []
        i = 0
        while i < len(body):
            ch = body[i]
            if ch != "\\":
                out.append(ch)
                i += 1
                continue
            nxt = body[i + 1]  # the lexer guarantees a character after a backslash
            if nxt not in _ESCAPES:
                raise EventQLSyntaxError(
                    f"unknown escape sequence '\\{nxt}' in string literal",
                    start_token=_token(tok),
                )
            out.append(_ESCAPES[nxt])
            i += 2
        return "".join(out)

    def _call(self, c: list[_Child]) -> ast.Expr:
        """``NAME(args)`` with the name upper-cased."""
        args = tuple(self.expr(x) for x in c[2:-1] if isinstance(x, Tree))
        return ast.Call(str(c[0]).upper(), args, self._span(c))

    def _array(self, c: list[_Child]) -> ast.Expr:
        """``[items]``."""
        items = tuple(self.expr(x) for x in c[1:-1] if isinstance(x, Tree))
        return ast.ArrayLiteral(items, self._span(c))

    def _record(self, c: list[_Child]) -> ast.Expr:
        """``{ key: value, ... }``; duplicate keys are syntax errors."""
        fields: list[tuple[str, ast.Expr]] = []
        seen: set[str] = set()
        for child in c[1:-1]:
            if not isinstance(child, Tree):
                continue  # a comma
            key = _only_token(child.children[0])
            name = self._unescape(key) if key.type == "STRING" else str(key)
            if name in seen:
                raise EventQLSyntaxError(
                    f"duplicate key '{name}' in record literal", start_token=_token(key)
                )
            seen.add(name)
            fields.append((name, self.expr(child.children[2])))
        return ast.RecordLiteral(tuple(fields), self._span(c))
