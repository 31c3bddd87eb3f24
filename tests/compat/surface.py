"""The public surface of an installed `eventsourcingdb` package, as JSON.

Run it with the Python of an environment holding the official SDK to regenerate the snapshot
(`python tests/compat/surface.py > tests/compat/official-2.2.4.json`); the compatibility tests
import it to describe our package the same way. It uses the standard library only, since it runs
in the official SDK's environment, where our dependencies are not installed.

What counts as public: every module that declares `__all__` (its names are those), and every
module directly below the root package that defines a public class or function (`client`,
`container`, `bound`: the names it defines). For each name the snapshot holds what a program can
rely on: signatures (parameter names, kinds, defaults), the public methods and properties of a
class, the fields of a dataclass, the members of an enum and, for exceptions, the public classes
they derive from. `module_paths` lists every module path besides, with the names each defines.
"""

from __future__ import annotations

import ast
import builtins
import collections.abc
import dataclasses
import enum
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import pkgutil
import sys
import typing
from types import ModuleType
from typing import Any

ROOT = "eventsourcingdb"


def public_modules(root: ModuleType) -> list[str]:
    """The public module paths of the installed package (see the module docstring)."""
    found = [root.__name__]
    for info in pkgutil.walk_packages(root.__path__, prefix=root.__name__ + "."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional dependency (pandas) is missing: its names still count
            found.append(info.name)
            continue
        direct_child = info.name.count(".") == 1
        if hasattr(module, "__all__") or (direct_child and defined_names(module)):
            found.append(info.name)
    return sorted(found)


def defined_names(module: ModuleType) -> list[str]:
    """The public classes and functions a module defines itself (not those it imports)."""
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", None) == module.__name__
    )


def module_names(module: ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    return sorted(names) if names is not None else defined_names(module)


def _default(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    return repr(value)


def describe_signature(target: Any) -> list[dict[str, Any]] | None:
    """The parameters of a callable (without `self`/`cls`), None if Python cannot tell."""
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    parameters = []
    for parameter in signature.parameters.values():
        entry: dict[str, Any] = {"name": parameter.name, "kind": parameter.kind.name}
        if parameter.default is not inspect.Parameter.empty:
            entry["default"] = _default(parameter.default)
        parameters.append(entry)
    return parameters


_ASYNC_ITERATORS = (
    collections.abc.AsyncGenerator,
    collections.abc.AsyncIterator,
    collections.abc.AsyncIterable,
)


def call_style(function: Any) -> str:
    """How a callable is used: `await` it, `async for` over what it returns, or call it."""
    function = inspect.unwrap(function)
    if inspect.isasyncgenfunction(function):
        return "async-iterator"
    if inspect.iscoroutinefunction(function):
        return "awaitable"
    try:
        returned = inspect.signature(function, eval_str=True).return_annotation
    except Exception:  # an annotation that names what only type checkers import
        returned = getattr(function, "__annotations__", {}).get("return", "")
    if typing.get_origin(returned) in _ASYNC_ITERATORS or any(
        name in str(returned) for name in ("AsyncGenerator", "AsyncIterator")
    ):
        return "async-iterator"
    return "call"


def ancestor_names(cls: type, root: ModuleType) -> list[str]:
    """The public classes `cls` derives from: names in the root package, or builtins."""
    by_identity = {id(value): name for name, value in vars(root).items() if inspect.isclass(value)}
    names = []
    for base in cls.__mro__[1:]:
        if base is object:
            continue
        if id(base) in by_identity and not by_identity[id(base)].startswith("_"):
            names.append(by_identity[id(base)])
        elif base.__module__ == "builtins" and getattr(builtins, base.__name__, None) is base:
            names.append(base.__name__)
        elif base.__module__ in ("enum", "abc"):
            names.append(f"{base.__module__}.{base.__name__}")
    return names


def _is_method_like(value: Any) -> bool:
    return inspect.isfunction(value) or isinstance(value, staticmethod | classmethod)


def describe_class(cls: type, root: ModuleType) -> dict[str, Any]:
    if issubclass(cls, enum.Enum):
        return {
            "kind": "enum",
            "bases": ancestor_names(cls, root),
            "members": {member.name: member.value for member in cls},
        }
    if issubclass(cls, BaseException):
        return {
            "kind": "exception",
            "bases": ancestor_names(cls, root),
            "init": describe_signature(cls),
        }
    methods: dict[str, Any] = {}
    properties: list[str] = []
    for klass in reversed(cls.__mro__):
        if klass.__module__ in ("builtins", "abc", "typing"):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") and name not in ("__aenter__", "__enter__"):
                continue
            if isinstance(value, property):
                properties.append(name)
                methods.pop(name, None)
            elif _is_method_like(value):
                function = (
                    value.__func__ if isinstance(value, staticmethod | classmethod) else value
                )
                methods[name] = {
                    "binding": type(value).__name__ if not inspect.isfunction(value) else "method",
                    "style": call_style(function),
                    "parameters": describe_signature(getattr(cls, name)),
                }
                if name in properties:
                    properties.remove(name)
    description: dict[str, Any] = {
        "kind": "class",
        "bases": ancestor_names(cls, root),
        "init": describe_signature(cls),
        "methods": dict(sorted(methods.items())),
        "properties": sorted(set(properties)),
    }
    if dataclasses.is_dataclass(cls):
        description["fields"] = [
            field.name for field in dataclasses.fields(cls) if not field.name.startswith("_")
        ]
    return description


def describe(value: Any, root: ModuleType) -> dict[str, Any]:
    if inspect.isclass(value):
        return describe_class(value, root)
    if callable(value) and (inspect.isfunction(value) or inspect.isbuiltin(value)):
        return {
            "kind": "function",
            "style": call_style(value),
            "parameters": describe_signature(value),
        }
    if inspect.ismodule(value):
        return {"kind": "module", "name": value.__name__}
    if isinstance(value, int | float | str | bool):
        return {"kind": "constant", "value": value}
    return {"kind": "value", "type": type(value).__name__}


def _ast_parameters(arguments: ast.arguments) -> list[dict[str, Any]]:
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(arguments.defaults))
    defaults += arguments.defaults
    parameters: list[dict[str, Any]] = []
    for index, (argument, default) in enumerate(zip(positional, defaults, strict=True)):
        kind = "POSITIONAL_ONLY" if index < len(arguments.posonlyargs) else "POSITIONAL_OR_KEYWORD"
        parameters.append({"name": argument.arg, "kind": kind})
        if default is not None:
            parameters[-1]["default"] = ast.unparse(default)
    if arguments.vararg is not None:
        parameters.append({"name": arguments.vararg.arg, "kind": "VAR_POSITIONAL"})
    for argument, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True):
        parameters.append({"name": argument.arg, "kind": "KEYWORD_ONLY"})
        if default is not None:
            parameters[-1]["default"] = ast.unparse(default)
    if arguments.kwarg is not None:
        parameters.append({"name": arguments.kwarg.arg, "kind": "VAR_KEYWORD"})
    return parameters


def describe_from_source(path: str) -> dict[str, Any]:
    """The functions of a module that cannot be imported (an optional dependency is missing),
    read from its source: `eventsourcingdb.pandas` without pandas."""
    spec = importlib.util.find_spec(path)
    assert spec is not None
    assert spec.origin is not None
    with open(spec.origin, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    exported: list[str] | None = None
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            exported = list(ast.literal_eval(node.value))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            functions[node.name] = node
    names: dict[str, Any] = {}
    for name in sorted(exported if exported is not None else functions):
        node = functions[name]
        if isinstance(node, ast.AsyncFunctionDef):
            yields = any(isinstance(inner, ast.Yield | ast.YieldFrom) for inner in ast.walk(node))
            style = "async-iterator" if yields else "awaitable"
        else:
            returns = ast.unparse(node.returns) if node.returns is not None else ""
            style = "async-iterator" if "AsyncGenerator" in returns else "call"
        names[name] = {"kind": "function", "style": style, "parameters": _ast_parameters(node.args)}
    return names


def describe_module(path: str, root: ModuleType) -> dict[str, Any]:
    """The names of one module; one whose optional dependency is missing is read from source."""
    try:
        module = importlib.import_module(path)
    except ImportError as error:
        return {
            "importable": False,
            "error": f"{type(error).__name__}: {error}",
            "names": describe_from_source(path),
        }
    return {
        "importable": True,
        "names": {name: describe(getattr(module, name), root) for name in module_names(module)},
    }


def module_paths(root: ModuleType) -> dict[str, list[str]]:
    """Every module path of the installed package (none with a part starting with `_`), with
    the public classes and functions each defines itself: also the modules that only define
    what their package re-exports, such as 2.2.4's `eventsourcingdb.event.event`."""
    found: dict[str, list[str]] = {}
    for info in pkgutil.walk_packages(root.__path__, prefix=root.__name__ + "."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        try:
            found[info.name] = defined_names(importlib.import_module(info.name))
        except ImportError:  # an optional dependency is missing
            found[info.name] = []
    return found


def surface(root_name: str = ROOT) -> dict[str, Any]:
    """The whole public surface of the installed package `root_name`."""
    root = importlib.import_module(root_name)
    return {
        "distribution_version": importlib.metadata.version(root_name),
        "modules": {path: describe_module(path, root) for path in public_modules(root)},
        "module_paths": module_paths(root),
    }


def main() -> None:
    json.dump(surface(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
