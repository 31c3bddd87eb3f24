"""EventQL without string building: values as literals, and `$name` placeholders bound to them.

Only what every EventQL parser reads the same way is written. The server's rules for escape
sequences in strings are not published (one independent parser knows none, the emulator knows
`\\\\ \\" \\' \\n \\r \\t`), so a string is written without any: in single quotes, or in double
quotes when it contains a single quote. A string with a backslash, or with both kinds of quotes,
cannot be written that way and is refused; newlines, `//`, `/*`, `$` and any Unicode need no
escaping inside quotes.

A placeholder is `$` followed by a name (`[A-Za-z_][A-Za-z0-9_]*`). `$` is no character of
EventQL outside strings and comments, so a placeholder can never be mistaken for EventQL; inside
string literals and comments, `$name` is left alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from enum import Enum
from typing import Final

from eventsourcingdb.errors import InvalidArgumentError

__all__ = ["bind_parameters", "literal"]

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LARGEST_EXACT_INTEGER: Final = 2**53
"""EventQL numbers are float64: integers beyond this would silently become other integers."""

_TOKENS: Final = re.compile(
    r"""
      (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<comment>//[^\n]*|/\*.*?\*/)
    | (?P<open>["']|/\*)
    | \$(?P<name>[A-Za-z_][A-Za-z0-9_]*)?
    """,
    re.VERBOSE | re.DOTALL,
)
"""What the binder looks at in a query: strings and comments (skipped), placeholders."""


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _string(value: str, where: str) -> str:
    if "\\" in value or ("'" in value and '"' in value):
        raise InvalidArgumentError(
            f"{where} {_describe(value)} cannot be written as an EventQL string: it contains a "
            "backslash, or both kinds of quotes, which only escape sequences could express, and "
            "EventQL servers do not agree on those; compare with another value, or filter such "
            "rows after the query"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgumentError(
            f"{where} {_describe(value)} contains a lone surrogate character, which is not valid "
            "Unicode text; remove or replace it"
        ) from None
    quote = '"' if "'" in value else "'"
    return f"{quote}{value}{quote}"


def _number(value: int | float, where: str) -> str:
    if isinstance(value, int):
        if abs(value) > _LARGEST_EXACT_INTEGER:
            raise InvalidArgumentError(
                f"{where} {value} is too large for EventQL, whose numbers are 64-bit floats "
                f"(exact up to 2**53): compare as a string, or with a float on purpose"
            )
        text = repr(int(value))
    else:
        if not math.isfinite(value):
            raise InvalidArgumentError(f"{where} must be a finite number, got {value!r}")
        text = repr(float(value))
    return f"({text})" if text.startswith("-") else text


def _render(value: object, where: str, path: tuple[int, ...]) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum) and not isinstance(value, str | int | float):
        raise InvalidArgumentError(
            f"{where} is the enum member {value!r}: pass its value ({value.value!r} for "
            f"{type(value).__name__}.{value.name})"
        )
    if isinstance(value, str):
        return _string(str.__str__(value), where)
    if isinstance(value, int | float):
        return _number(value, where)
    if isinstance(value, list | tuple | Mapping):
        if id(value) in path:
            raise InvalidArgumentError(f"{where} contains itself; EventQL values are trees")
        inner = (*path, id(value))
        if isinstance(value, Mapping):
            fields: list[str] = []
            for key, item in value.items():
                if not (isinstance(key, str) and _NAME.fullmatch(key)):
                    raise InvalidArgumentError(
                        f"{where} has the key {_describe(key)}; keys of an EventQL record are "
                        "names of letters, digits and '_' (not starting with a digit)"
                    )
                fields.append(f"{key}: {_render(item, f'{where}[{key!r}]', inner)}")
            return "{" + ", ".join(fields) + "}"
        items = [_render(item, f"{where}[{index}]", inner) for index, item in enumerate(value)]
        return "[" + ", ".join(items) + "]"
    raise InvalidArgumentError(
        f"{where} is of type {type(value).__name__}, which has no EventQL literal: pass a string, "
        "number, boolean, None, or a list or dict of those (convert other values first, e.g. a "
        "datetime with .isoformat() and compare with AS DATETIME in the query)"
    )


def literal(value: object, where: str = "value") -> str:
    """`value` as an EventQL literal: `null`, `true`, a number, a quoted string, `[...]`, `{...}`.

    `where` names the value in errors (`InvalidArgumentError` for a value that has no literal
    every EventQL parser reads alike).
    """
    return _render(value, where, ())


def _position(query: str, offset: int) -> str:
    line = query.count("\n", 0, offset) + 1
    column = offset - (query.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def bind_parameters(query: str, parameters: object) -> str:
    """`query` with each `$name` outside strings and comments replaced by its value's literal.

    Every placeholder needs a parameter and every parameter a placeholder (a name used twice is
    fine); anything else is an `InvalidArgumentError`, raised before any request.
    """
    if not isinstance(parameters, Mapping):
        raise InvalidArgumentError(
            f"parameters must be a mapping of names to values, such as {{'name': 'Ann'}}, got "
            f"{type(parameters).__name__}"
        )
    rendered: dict[str, str] = {}
    for name, value in parameters.items():
        if not (isinstance(name, str) and _NAME.fullmatch(name)):
            raise InvalidArgumentError(
                f"the parameter name {_describe(name)} is not a name: use letters, digits and "
                "'_', not starting with a digit, and write it as $name in the query"
            )
        rendered[name] = literal(value, f"the parameter {name!r}")
    parts: list[str] = []
    used: set[str] = set()
    missing: list[str] = []
    start = 0
    for match in _TOKENS.finditer(query):
        if match.group("string") is not None or match.group("comment") is not None:
            continue
        if match.group("open") is not None:
            what = "comment" if match.group("open") == "/*" else "string literal"
            raise InvalidArgumentError(
                f"the query has an unterminated {what} at {_position(query, match.start())}"
            )
        name = match.group("name")
        if name is None:
            raise InvalidArgumentError(
                f"the query has a '$' without a name at {_position(query, match.start())}: a "
                "placeholder is $ followed by a name, such as $subject"
            )
        if name not in rendered:
            missing.append(name)
            continue
        used.add(name)
        parts.append(query[start : match.start()])
        parts.append(rendered[name])
        start = match.end()
    if missing:
        names = ", ".join(f"${name}" for name in dict.fromkeys(missing))
        raise InvalidArgumentError(
            f"the query uses {names} but parameters gives no value for it: add it to parameters"
        )
    unused = [name for name in rendered if name not in used]
    if unused:
        names = ", ".join(repr(name) for name in unused)
        raise InvalidArgumentError(
            f"parameters gives {names}, which the query does not use: write it as $name where "
            "the value belongs, or leave it out"
        )
    parts.append(query[start:])
    return "".join(parts)
