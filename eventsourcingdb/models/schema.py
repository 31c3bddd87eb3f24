"""JSON Schemas generated from event models, in the form EventSourcingDB accepts.

The schema is draft 2020-12 with a root `type: object`, `properties` and `required`; nested
models, enums and dataclasses are inlined (the real server may not resolve `$ref`), and every
object is closed with `additionalProperties: false` unless its model allows extra fields.
Titles and docstrings pydantic would copy from class names are left out, so renaming a class or
rewording its docstring does not change the registered contract.
"""

from __future__ import annotations

import difflib
import inspect
import json
from collections.abc import Mapping
from typing import Any, Final

from pydantic import BaseModel, JsonValue, PydanticUserError
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from eventsourcingdb.models.errors import DeclarationError

__all__ = ["JSON_SCHEMA_DIALECT", "event_schema", "schemas_equal"]

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


def _drop_class_annotations(json_schema: JsonSchemaValue, cls: type[Any], title: object) -> None:
    """Remove the title and description pydantic derives from a class name and docstring."""
    if title is None and json_schema.get("title") == cls.__name__:
        del json_schema["title"]
    doc = cls.__doc__
    if doc and json_schema.get("description") == inspect.cleandoc(doc):
        del json_schema["description"]


def _close(json_schema: JsonSchemaValue, extra: object) -> None:
    """Forbid undeclared members unless the class allows and keeps them."""
    if extra != "allow" and json_schema.get("type") == "object":
        json_schema["additionalProperties"] = False


class _EventSchemaGenerator(GenerateJsonSchema):
    """pydantic's generator, adjusted to describe exactly what a model validates, and no more."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        """Never derive titles from field names: they would only add noise to drift diffs."""
        return False

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        """A model: closed unless `extra='allow'`, without class-derived annotations."""
        json_schema = super().model_schema(schema)
        cls = schema["cls"]
        config = cls.model_config
        _drop_class_annotations(json_schema, cls, config.get("title"))
        _close(json_schema, config.get("extra"))
        return json_schema

    def dataclass_schema(self, schema: core_schema.DataclassSchema) -> JsonSchemaValue:
        """A dataclass: closed unless its config allows extra fields."""
        json_schema = super().dataclass_schema(schema)
        cls = schema["cls"]
        config: Mapping[str, object] = getattr(cls, "__pydantic_config__", None) or {}
        extra = config.get("extra", schema.get("config", {}).get("extra_fields_behavior"))
        _drop_class_annotations(json_schema, cls, config.get("title"))
        _close(json_schema, extra)
        return json_schema

    def typed_dict_schema(self, schema: core_schema.TypedDictSchema) -> JsonSchemaValue:
        """A TypedDict: closed unless it allows extra items."""
        json_schema = super().typed_dict_schema(schema)
        cls = schema.get("cls")
        if cls is not None:
            config: Mapping[str, object] = getattr(cls, "__pydantic_config__", None) or {}
            _drop_class_annotations(json_schema, cls, config.get("title"))
        _close(json_schema, schema.get("extra_behavior"))
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


def event_schema(model: type[BaseModel]) -> dict[str, JsonValue]:
    """The JSON Schema of `model`'s event data, ready for `register_event_schema`.

    Raises `DeclarationError` when the model cannot be described in a form the server accepts.
    """
    qualified = f"{model.__module__}.{model.__qualname__}"
    try:
        raw = model.model_json_schema(schema_generator=_EventSchemaGenerator, mode="validation")
        serialized = model.model_json_schema(
            schema_generator=_EventSchemaGenerator, mode="serialization"
        )
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
