"""Event schemas: JSON Schema 2020-12, checked and reported the way the real server does.

The server validates with santhosh-tekuri/jsonschema (v5), so violations are described in that
library's words (`additionalProperties 'extra' not allowed`, `missing properties: 'title'`).
It also insists on a root `"type": "object"` and a `properties` member before it accepts a schema.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import referencing.exceptions
from jsonschema import Draft202012Validator
from jsonschema.exceptions import (
    SchemaError,
    ValidationError,
    best_match,
)
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from eventsourcingdb.emulator.encoding import decode_json, encode_json

__all__ = ["CompiledSchema", "InvalidSchemaError", "SchemaProblem", "compile_schema"]


class SchemaProblem(enum.Enum):
    """Why a schema is refused."""

    NOT_OBJECT = "not-object"
    MALFORMED = "malformed"


class InvalidSchemaError(Exception):
    """A schema the server refuses; `detail` says why in the validator's words."""

    def __init__(self, problem: SchemaProblem, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail


@dataclass(frozen=True, slots=True)
class CompiledSchema:
    """A registered schema: the object as given, its encoded bytes and a ready validator."""

    schema: Mapping[str, object]
    encoded: bytes
    validator: Validator

    def violation(self, data: object) -> str | None:
        """None when `data` matches, else what is wrong (e.g. `missing properties: 'title'`)."""
        try:
            error = best_match(self.validator.iter_errors(cast(Any, data)))
        except referencing.exceptions.Unresolvable as unresolvable:
            return f"cannot resolve reference: {unresolvable}"
        return None if error is None else describe(error)


def _quote(text: object) -> str:
    return "'" + str(text).replace("'", "\\'") + "'"


def _json(value: object) -> str:
    return encode_json(value).decode("utf-8")


def _number(value: object) -> str:
    return _json(value) if isinstance(value, int | float) else str(value)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_COMPARISONS = {
    "minimum": ">=",
    "maximum": "<=",
    "exclusiveMinimum": ">",
    "exclusiveMaximum": "<",
}


def _additional(error: ValidationError | SchemaError) -> list[str]:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    known = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    return sorted(
        key
        for key in instance
        if key not in known and not any(re.search(pattern, key) for pattern in patterns)
    )


def _message(error: ValidationError | SchemaError) -> str:
    keyword = error.validator
    expected: Any = error.validator_value
    instance: Any = error.instance
    size = len(instance) if isinstance(instance, str | list | dict) else 0
    match keyword:
        case "additionalProperties":
            return f"additionalProperties {', '.join(map(_quote, _additional(error)))} not allowed"
        case "required":
            missing = [_quote(name) for name in expected if name not in instance]
            return "missing properties: " + ", ".join(missing)
        case "type":
            wanted = " or ".join(expected) if isinstance(expected, list) else expected
            return f"expected {wanted}, but got {_json_type(instance)}"
        case "const":
            return f"value must be {_json(expected)}"
        case "enum":
            return f"value must be one of {', '.join(_json(item) for item in expected)}"
        case "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum":
            bound = f"{_COMPARISONS[keyword]} {_number(expected)}"
            return f"must be {bound} but found {_number(instance)}"
        case "multipleOf":
            return f"{_number(instance)} not multipleOf {_number(expected)}"
        case "minLength":
            return f"length must be >= {expected}, but got {size}"
        case "maxLength":
            return f"length must be <= {expected}, but got {size}"
        case "pattern":
            return f"does not match pattern {_quote(expected)}"
        case "format":
            return f"{_quote(instance)} is not valid {_quote(expected)}"
        case "minItems":
            return f"minimum {expected} items required, but found {size} items"
        case "maxItems":
            return f"maximum {expected} items required, but found {size} items"
        case _:
            return str(error.message)


def describe(error: ValidationError | SchemaError) -> str:
    """One violation in santhosh-tekuri's words, prefixed by its place unless it is the root."""
    message = _message(error)
    path = "".join(f"/{part}" for part in error.absolute_path)
    return f"at {_quote(path)}: {message}" if path else message


def _server_rules(schema: Mapping[str, object]) -> str | None:
    """The server's own requirements of a schema's root: `type` "object" and `properties`."""
    missing = [name for name in ("type", "properties") if name not in schema]
    if missing:
        return "missing properties: " + ", ".join(map(_quote, missing))
    if schema["type"] != "object":
        return "at '/type': value must be \"object\""
    return None


def compile_schema(schema: object) -> CompiledSchema:
    """Check a schema and make it ready to validate; raises `InvalidSchemaError`.

    A schema may also come as a JSON string holding the object (as pre-1.0 clients sent it).
    """
    if isinstance(schema, str):
        try:
            schema = decode_json(schema)
        except ValueError:
            raise InvalidSchemaError(
                SchemaProblem.NOT_OBJECT, "schema must be a JSON object"
            ) from None
    if not isinstance(schema, dict):
        raise InvalidSchemaError(SchemaProblem.NOT_OBJECT, "schema must be a JSON object")
    problem = _server_rules(schema)
    if problem is not None:
        raise InvalidSchemaError(SchemaProblem.MALFORMED, problem)
    validator_class = validator_for(schema, default=Draft202012Validator)
    try:
        validator_class.check_schema(schema)
    except SchemaError as error:
        raise InvalidSchemaError(SchemaProblem.MALFORMED, describe(error)) from None
    return CompiledSchema(
        schema=schema, encoded=encode_json(schema), validator=validator_class(schema)
    )
