"""Whether our package offers the surface of the official SDK 2.2.4: every difference, by place.

A difference is `(place, aspect)`: `place` is a module path, `module:Name` or
`module:Name.member`; `aspect` says what differs (`missing`, `kind`, `bases`, `members`,
`signature`, `style`, `fields`). Our package may offer more than 2.2.4 (more names, parameters
with defaults, enum members); it may not offer less or something else.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import enum
import importlib
import inspect
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any

from tests.compat import surface

Parameters = list[dict[str, Any]]

_POSITIONAL = ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")
_KEYWORD = ("POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY")


@dataclasses.dataclass(frozen=True)
class Difference:
    """One way our surface differs from 2.2.4's, with what exactly differs."""

    place: str
    aspect: str
    detail: str

    @property
    def key(self) -> str:
        """The place without the module of a name (a name differs alike wherever it is
        exported), and the aspect: `ClientError.__init__ signature`."""
        return f"{self.place.partition(':')[2] or self.place} {self.aspect}"


def _same_default(theirs: str, ours: str) -> bool:
    if theirs == ours:
        return True
    try:
        return bool(ast.literal_eval(theirs) == ast.literal_eval(ours))
    except (ValueError, SyntaxError):
        return False


def signature_problems(theirs: Parameters, ours: Parameters) -> list[str]:
    """Why a call that binds to `theirs` may not bind to `ours` the same way (empty: it does)."""
    problems: list[str] = []
    by_name = {parameter["name"]: parameter for parameter in ours}
    ours_positional = [parameter for parameter in ours if parameter["kind"] in _POSITIONAL]
    ours_kinds = {parameter["kind"] for parameter in ours}
    theirs_positional = [parameter for parameter in theirs if parameter["kind"] in _POSITIONAL]
    for index, parameter in enumerate(theirs_positional):
        if index >= len(ours_positional):
            if "VAR_POSITIONAL" not in ours_kinds:
                problems.append(f"positional parameter {index} ({parameter['name']}) is missing")
            continue
        if ours_positional[index]["name"] != parameter["name"]:
            problems.append(
                f"positional parameter {index} is {ours_positional[index]['name']!r}, "
                f"not {parameter['name']!r}"
            )
    for parameter in theirs:
        name, kind = parameter["name"], parameter["kind"]
        if kind in ("VAR_POSITIONAL", "VAR_KEYWORD"):
            if kind not in ours_kinds:
                problems.append(f"*{name} is missing" if kind == "VAR_POSITIONAL" else f"**{name}")
            continue
        mine = by_name.get(name)
        if kind in _KEYWORD and (mine is None or mine["kind"] not in _KEYWORD):
            if "VAR_KEYWORD" not in ours_kinds:
                problems.append(f"{name}= is not accepted as a keyword")
            continue
        if mine is None:
            continue
        if "default" in parameter:
            if "default" not in mine:
                problems.append(f"{name} has no default (2.2.4: {parameter['default']})")
            elif not _same_default(parameter["default"], mine["default"]):
                problems.append(f"{name} defaults to {mine['default']}, not {parameter['default']}")
    theirs_names = {parameter["name"] for parameter in theirs}
    for parameter in ours:
        if (
            parameter["name"] not in theirs_names
            and parameter["kind"] not in ("VAR_POSITIONAL", "VAR_KEYWORD")
            and "default" not in parameter
            and not (
                parameter["kind"] in _POSITIONAL
                and ours_positional.index(parameter) < len(theirs_positional)
            )
        ):
            problems.append(f"{parameter['name']} is required here, unknown to 2.2.4")
    return problems


def _resolve(name: str, root: ModuleType) -> Any:
    if "." in name:
        module, _, attribute = name.rpartition(".")
        return getattr(importlib.import_module(module), attribute)
    if hasattr(root, name):
        return getattr(root, name)
    return getattr(builtins, name)


def _compare_class(
    place: str, theirs: Mapping[str, Any], cls: type, root: ModuleType
) -> Iterator[Difference]:
    missing_bases = [
        base
        for base in theirs["bases"]
        if not base.startswith(("enum.", "abc.")) and not issubclass(cls, _resolve(base, root))
    ]
    if missing_bases:
        yield Difference(place, "bases", f"is not a subclass of {', '.join(missing_bases)}")
    if theirs["kind"] == "enum":
        assert issubclass(cls, enum.Enum)
        ours = {member.name: member.value for member in cls}
        wrong = {
            name: value for name, value in theirs["members"].items() if ours.get(name) != value
        }
        if wrong:
            yield Difference(place, "members", f"lacks or differs in {sorted(wrong)}")
        return
    init = surface.describe_signature(cls)
    if theirs.get("init") is not None and init is not None:
        problems = signature_problems(theirs["init"], init)
        if problems:
            yield Difference(f"{place}.__init__", "signature", "; ".join(problems))
    if theirs["kind"] == "exception":
        return
    for name, method in theirs["methods"].items():
        member_place = f"{place}.{name}"
        value = inspect.getattr_static(cls, name, None)
        if value is None:
            yield Difference(member_place, "missing", "no such method")
            continue
        function = value.__func__ if isinstance(value, staticmethod | classmethod) else value
        style = surface.call_style(function)
        if style != method["style"]:
            yield Difference(member_place, "style", f"is {style}, 2.2.4's is {method['style']}")
        parameters = surface.describe_signature(getattr(cls, name))
        if parameters is not None and method["parameters"] is not None:
            problems = signature_problems(method["parameters"], parameters)
            if problems:
                yield Difference(member_place, "signature", "; ".join(problems))
    for name in theirs["properties"]:
        if inspect.getattr_static(cls, name, None) is None:
            yield Difference(f"{place}.{name}", "missing", "no such property")
    if "fields" in theirs:
        init_names = {parameter["name"] for parameter in init or []}
        lacking = [
            name
            for name in theirs["fields"]
            if (inspect.getattr_static(cls, name, None) is None and name not in _slots(cls))
            or name not in init_names
        ]
        if not dataclasses.is_dataclass(cls) or lacking:
            detail = "not a dataclass" if not dataclasses.is_dataclass(cls) else str(lacking)
            yield Difference(place, "fields", f"dataclasses.replace cannot work: {detail}")


def _slots(cls: type) -> set[str]:
    return {name for klass in cls.__mro__ for name in getattr(klass, "__slots__", ())}


def compare_name(
    module_path: str, name: str, theirs: Mapping[str, Any], module: ModuleType, root: ModuleType
) -> Iterator[Difference]:
    place = f"{module_path}:{name}"
    if not hasattr(module, name):
        yield Difference(place, "missing", "not defined")
        return
    value = getattr(module, name)
    kind = theirs["kind"]
    if kind in ("class", "enum", "exception"):
        if not inspect.isclass(value):
            yield Difference(place, "kind", f"is a {type(value).__name__}, not a class")
            return
        ours_kind = surface.describe_class(value, root)["kind"]
        if ours_kind != kind:
            yield Difference(place, "kind", f"is a {ours_kind}, not a {kind}")
            return
        yield from _compare_class(place, theirs, value, root)
    elif kind == "function":
        if not callable(value):
            yield Difference(place, "kind", "is not callable")
            return
        style = surface.call_style(value)
        if style != theirs["style"]:
            yield Difference(place, "style", f"is {style}, 2.2.4's is {theirs['style']}")
        parameters = surface.describe_signature(value)
        if parameters is not None and theirs["parameters"] is not None:
            problems = signature_problems(theirs["parameters"], parameters)
            if problems:
                yield Difference(place, "signature", "; ".join(problems))
    elif kind == "constant" and value != theirs["value"]:
        yield Difference(place, "kind", f"is {value!r}, not {theirs['value']!r}")


def differences(snapshot: Mapping[str, Any]) -> list[Difference]:
    """Every difference between the installed `eventsourcingdb` and the 2.2.4 `snapshot`."""
    root = importlib.import_module(surface.ROOT)
    found: list[Difference] = []
    for module_path, described in snapshot["modules"].items():
        try:
            module = importlib.import_module(module_path)
        except ImportError:
            found.append(Difference(module_path, "missing", "no such module"))
            continue
        for name, theirs in described["names"].items():
            found.extend(compare_name(module_path, name, theirs, module, root))
    return found
