"""JSON Schemas generated from event models, in the form EventSourcingDB accepts.

The schema is draft 2020-12 with a root `type: object`, `properties` and `required`; nested
models, enums and dataclasses are inlined (the real server may not resolve `$ref`), and every
object is closed with `additionalProperties: false` unless its model allows extra fields.
Titles and docstrings pydantic would copy from class names are left out, so renaming a class or
rewording its docstring does not change the registered contract.

A type declared with `SchemaEvolution.ADDITIVE` gets an open schema instead (no object is
closed), so that its model may later gain optional members under the same type: the registered
schema then tolerates them, and `additive_changes` tells such a growth apart from a change that
stored events or the server would not survive.
"""

from __future__ import annotations

import difflib
import enum
import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel, JsonValue, PydanticUserError
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from eventsourcingdb.models.errors import DeclarationError

__all__ = [
    "JSON_SCHEMA_DIALECT",
    "SchemaEvolution",
    "SchemaReport",
    "additive_changes",
    "event_schema",
    "schemas_equal",
]

JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
"""The `$schema` of every generated schema."""

_DEFS: Final = "$defs"
_REF: Final = "$ref"
_REF_PREFIX: Final = "#/$defs/"
_DIGITS: Final = r"\d(?:_?\d)*"
_DECIMAL_PATTERN: Final = (
    rf"^\s*[+-]?(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?\s*$"
)
"""The strings `Decimal` fields accept (without NaN and infinities, which they refuse)."""


class SchemaEvolution(enum.Enum):
    """How a declared event type's model may change once its schema is registered."""

    STRICT = "strict"
    """Not at all: the schema is closed (no undeclared members), and any change is drift; a
    changed model gets a new, versioned type and an upcaster."""
    ADDITIVE = "additive"
    """By new optional members: the schema is open (undeclared members pass), so the server
    accepts them, and only they are checked by the model, not by the server."""


def _drop_class_annotations(json_schema: JsonSchemaValue, cls: type[Any], title: object) -> None:
    """Remove the title and description pydantic derives from a class name and docstring."""
    if title is None and json_schema.get("title") == cls.__name__:
        del json_schema["title"]
    doc = cls.__doc__
    if doc and json_schema.get("description") == inspect.cleandoc(doc):
        del json_schema["description"]


class _EventSchemaGenerator(GenerateJsonSchema):
    """pydantic's generator, adjusted to describe exactly what a model validates, and no more."""

    def _close(self, json_schema: JsonSchemaValue, extra: object, cls: object) -> None:
        """Forbid undeclared members unless the class allows and keeps them."""
        if extra != "allow" and json_schema.get("type") == "object":
            json_schema["additionalProperties"] = False

    def field_title_should_be_set(self, schema: Any) -> bool:
        """Never derive titles from field names: they would only add noise to drift diffs."""
        return False

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        """A model: closed unless `extra='allow'`, without class-derived annotations."""
        json_schema = super().model_schema(schema)
        cls = schema["cls"]
        config = cls.model_config
        _drop_class_annotations(json_schema, cls, config.get("title"))
        self._close(json_schema, config.get("extra"), cls)
        return json_schema

    def dataclass_schema(self, schema: core_schema.DataclassSchema) -> JsonSchemaValue:
        """A dataclass: closed unless its config allows extra fields."""
        json_schema = super().dataclass_schema(schema)
        cls = schema["cls"]
        config: Mapping[str, object] = getattr(cls, "__pydantic_config__", None) or {}
        extra = config.get("extra", schema.get("config", {}).get("extra_fields_behavior"))
        _drop_class_annotations(json_schema, cls, config.get("title"))
        self._close(json_schema, extra, cls)
        return json_schema

    def typed_dict_schema(self, schema: core_schema.TypedDictSchema) -> JsonSchemaValue:
        """A TypedDict: closed unless it allows extra items."""
        json_schema = super().typed_dict_schema(schema)
        cls = schema.get("cls")
        if cls is not None:
            config: Mapping[str, object] = getattr(cls, "__pydantic_config__", None) or {}
            _drop_class_annotations(json_schema, cls, config.get("title"))
        self._close(json_schema, schema.get("extra_behavior"), cls)
        return json_schema

    def enum_schema(self, schema: core_schema.EnumSchema) -> JsonSchemaValue:
        """An enum: its values; the class name and docstring pydantic adds later are noted."""
        cls = schema["cls"]
        doc = inspect.cleandoc(cls.__doc__) if cls.__doc__ else None
        self._enum_annotations.setdefault(cls.__name__, set()).add(doc)
        return super().enum_schema(schema)

    def generate(self, schema: core_schema.CoreSchema, mode: Any = "validation") -> JsonSchemaValue:
        """The whole schema, with the enum titles and docstrings pydantic copies in removed."""
        self._enum_annotations: dict[str, set[str | None]] = {}
        json_schema = super().generate(schema, mode)
        self._drop_enum_annotations(json_schema)
        return json_schema

    def _drop_enum_annotations(self, value: object) -> None:
        if isinstance(value, list):
            for item in value:
                self._drop_enum_annotations(item)
        elif isinstance(value, dict):
            title = value.get("title")
            if "enum" in value and isinstance(title, str) and title in self._enum_annotations:
                del value["title"]
                if "description" in value and value["description"] in self._enum_annotations[title]:
                    del value["description"]
            for item in value.values():
                self._drop_enum_annotations(item)

    def decimal_schema(self, schema: core_schema.DecimalSchema) -> JsonSchemaValue:
        """A decimal: a number, or a string that spells one (which is how it is written)."""
        json_schema = super().decimal_schema(schema)
        if schema.get("allow_inf_nan"):
            return json_schema
        branches = json_schema.get("anyOf", [json_schema])
        for branch in branches:
            if branch.get("type") == "string" and "pattern" not in branch:
                branch["pattern"] = _DECIMAL_PATTERN
        return json_schema


class _OpenEventSchemaGenerator(_EventSchemaGenerator):
    """The generator of `SchemaEvolution.ADDITIVE` types: every object stays open."""

    def _close(self, json_schema: JsonSchemaValue, extra: object, cls: object) -> None:
        if extra == "forbid":
            name = getattr(cls, "__qualname__", repr(cls))
            raise DeclarationError(
                f"{name} forbids undeclared members (extra='forbid'), so a version of it could "
                "not read events written by a later version with more members: drop "
                "extra='forbid', or declare the type with SchemaEvolution.STRICT"
            )


def _inline(value: JsonValue, definitions: Mapping[str, JsonValue], trail: tuple[str, ...]) -> Any:
    """`value` with every `$ref` into `definitions` replaced by the definition itself."""
    if isinstance(value, list):
        return [_inline(item, definitions, trail) for item in value]
    if not isinstance(value, dict):
        return value
    reference = value.get(_REF)
    if isinstance(reference, str) and reference.startswith(_REF_PREFIX):
        name = reference.removeprefix(_REF_PREFIX)
        if name in trail or name not in definitions:
            raise DeclarationError(
                f"the schema of {trail[0]} refers to {name!r} recursively; a self-referencing "
                "model cannot be described without $ref, which EventSourcingDB may not accept: "
                "give the event a non-recursive shape (for example a list of flat items)"
            )
        target = definitions[name]
        merged: dict[str, JsonValue] = dict(target) if isinstance(target, dict) else {}
        merged.update({key: item for key, item in value.items() if key != _REF})
        return _inline(merged, definitions, (*trail, name))
    return {key: _inline(item, definitions, trail) for key, item in value.items()}


def _find_read_only(value: JsonValue) -> bool:
    if isinstance(value, list):
        return any(_find_read_only(item) for item in value)
    if isinstance(value, dict):
        return value.get("readOnly") is True or any(_find_read_only(v) for v in value.values())
    return False


def event_schema(
    model: type[BaseModel], *, evolution: SchemaEvolution = SchemaEvolution.STRICT
) -> dict[str, JsonValue]:
    """The JSON Schema of `model`'s event data, ready for `register_event_schema`.

    Closed for `SchemaEvolution.STRICT` (the default), open for `SchemaEvolution.ADDITIVE`.
    Raises `DeclarationError` when the model cannot be described in a form the server accepts.
    """
    qualified = f"{model.__module__}.{model.__qualname__}"
    if not isinstance(evolution, SchemaEvolution):
        raise DeclarationError(
            f"evolution must be SchemaEvolution.STRICT or SchemaEvolution.ADDITIVE, got "
            f"{evolution!r}"
        )
    generator = (
        _OpenEventSchemaGenerator
        if evolution is SchemaEvolution.ADDITIVE
        else _EventSchemaGenerator
    )
    try:
        raw = model.model_json_schema(schema_generator=generator, mode="validation")
        serialized = model.model_json_schema(schema_generator=generator, mode="serialization")
    except DeclarationError:
        raise
    except PydanticUserError as error:
        if error.code != "class-not-fully-defined":
            raise DeclarationError(f"{qualified} has no JSON Schema: {error}") from error
        raise DeclarationError(
            f"{qualified} refers to a type that is not defined yet, so its schema cannot be "
            "generated at declaration: define nested models before the event model that uses "
            f"them ({error.message})"
        ) from error
    except Exception as error:  # pydantic raises several kinds for types without a JSON form
        raise DeclarationError(
            f"{qualified} has no JSON Schema: {error}; use field types with a JSON form"
        ) from error
    if _find_read_only(serialized):
        raise DeclarationError(
            f"{qualified} (or a model inside it) has a computed field; computed fields are "
            "written but not read back, so the event data would not match the model's schema: "
            "turn it into a property, or into a stored field"
        )
    normalized: JsonValue = json.loads(json.dumps(raw))
    assert isinstance(normalized, dict)
    definitions = normalized.pop(_DEFS, {})
    assert isinstance(definitions, dict)
    inlined = _inline(normalized, definitions, (qualified,))
    if inlined.get("type") != "object" or "properties" not in inlined:
        raise DeclarationError(
            f"{qualified} does not describe a JSON object with properties; event data must be "
            "an object: declare the event as a BaseModel with named fields (not a RootModel)"
        )
    schema: dict[str, JsonValue] = {"$schema": JSON_SCHEMA_DIALECT, **inlined}
    return schema


def schemas_equal(left: JsonValue, right: JsonValue) -> bool:
    """Whether two schemas are the same JSON value (`1 == 1.0`, but `true != 1`, key order free)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(
            schemas_equal(left[key], right[key]) for key in left
        )
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(
            schemas_equal(a, b) for a, b in zip(left, right, strict=True)
        )
    return type(left) is type(right) and left == right


def schema_diff(registered: JsonValue, generated: JsonValue, *, model: str) -> str:
    """A unified diff between two schemas, pretty-printed with sorted keys."""
    before = json.dumps(registered, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    after = json.dumps(generated, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    return "\n".join(
        difflib.unified_diff(
            before,
            after,
            fromfile="registered on the server",
            tofile=f"generated from {model}",
            lineterm="",
        )
    )


def _where(path: tuple[str, ...]) -> str:
    return "the event data" if not path else "member " + repr(".".join(path))


def _is_object(schema: JsonValue) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "object"


def _compare(
    registered: JsonValue,
    generated: JsonValue,
    path: tuple[str, ...],
    added: list[str],
    problems: list[str],
) -> None:
    """Collect into `added` the optional members `generated` adds to `registered`, and into
    `problems` every other difference (each one a change stored events or the server would not
    survive)."""
    if schemas_equal(registered, generated):
        return
    if isinstance(registered, dict) and isinstance(generated, dict):
        if _is_object(registered) and _is_object(generated):
            _compare_objects(registered, generated, path, added, problems)
            return
        if registered.keys() == generated.keys():
            for key, before in registered.items():
                after = generated[key]
                if schemas_equal(before, after):
                    continue
                if isinstance(before, dict | list) and isinstance(after, dict | list):
                    _compare(before, after, path, added, problems)
                else:
                    problems.append(
                        f"{_where(path)}: {key!r} was {_short(before)}, is {_short(after)} now"
                    )
            return
    if (
        isinstance(registered, list)
        and isinstance(generated, list)
        and len(registered) == len(generated)
        and all(isinstance(item, dict) for item in [*registered, *generated])
    ):
        for before, after in zip(registered, generated, strict=True):
            _compare(before, after, path, added, problems)
        return
    problems.append(
        f"the schema of {_where(path)} changed from {_short(registered)} to {_short(generated)}"
    )


def _short(value: JsonValue) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _compare_objects(
    registered: dict[str, JsonValue],
    generated: dict[str, JsonValue],
    path: tuple[str, ...],
    added: list[str],
    problems: list[str],
) -> None:
    where = _where(path)
    if "additionalProperties" in registered and registered["additionalProperties"] is not True:
        problems.append(
            f"{where} is closed in the registered schema (no undeclared members), so members "
            "cannot be added to it; only a type registered with SchemaEvolution.ADDITIVE can grow"
        )
        return
    before = registered.get("properties", {})
    after = generated.get("properties", {})
    required_before = registered.get("required", [])
    required_after = generated.get("required", [])
    if not (
        isinstance(before, dict)
        and isinstance(after, dict)
        and isinstance(required_before, list)
        and isinstance(required_after, list)
    ):
        problems.append(f"the schema of {where} changed")
        return
    for name, schema in before.items():
        if name not in after:
            problems.append(
                f"{_where((*path, name))} was removed, but stored events have it (and the "
                "registered schema keeps checking it)"
            )
        else:
            _compare(schema, after[name], (*path, name), added, problems)
    for name in after:
        if name in before:
            continue
        if name in required_after:
            problems.append(
                f"the new {_where((*path, name))} is required, but stored events do not have "
                "it: give it a default"
            )
        else:
            added.append(".".join((*path, name)))
    was = {name for name in required_before if isinstance(name, str)}
    now = {name for name in required_after if isinstance(name, str)}
    for name in sorted(was - now):
        if name in after:
            problems.append(
                f"{_where((*path, name))} became optional, but the registered schema requires it, "
                "so the server would refuse events without it"
            )
    for name in sorted(now - was):
        if name in before:
            problems.append(
                f"{_where((*path, name))} became required, but stored events may lack it"
            )
    for key in sorted((registered.keys() | generated.keys()) - {"properties", "required"}):
        if not schemas_equal(registered.get(key), generated.get(key)):
            problems.append(f"{where} changed its {key!r}")


def additive_changes(
    registered: JsonValue, generated: JsonValue
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """How `generated` differs from `registered`: the members it adds (dotted paths), and the
    changes that are not additive (empty when the registered schema accepts every event the
    model writes, and the model reads every event the registered schema accepted).

    Additive means: the same members with the same schemas and the same required ones, plus
    optional members, in objects the registered schema leaves open.
    """
    added: list[str] = []
    problems: list[str] = []
    _compare(registered, generated, (), added, problems)
    return tuple(added), tuple(problems)


@dataclass(frozen=True, slots=True)
class SchemaReport:
    """What `register_schemas` found and did, each a sorted tuple of event type names."""

    registered: tuple[str, ...]
    """Types whose schema this call registered."""
    unchanged: tuple[str, ...]
    """Types whose identical schema was registered already."""
    without_schema: tuple[str, ...]
    """Types with stored events but no schema that no declared model covers (left as they are)."""
    evolved: tuple[str, ...] = ()
    """Types declared with `SchemaEvolution.ADDITIVE` whose registered schema is an earlier
    version of their model's: the model added optional members, which the schema tolerates."""
