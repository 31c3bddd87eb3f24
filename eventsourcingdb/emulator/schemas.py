"""Event schemas: JSON Schema, checked and reported the way the real server does.

The server validates with santhosh-tekuri/jsonschema (v5), so violations are described in that
library's words (`additionalProperties 'extra' not allowed`, `missing properties: 'title'`).
It also insists on a root `"type": "object"` and a `properties` member before it accepts a schema.

Like that library, `compile_schema` refuses at registration what could only fail later: a `$ref`
that resolves nowhere (the server loads no remote schemas), a `$schema` that names no known draft,
and regular expressions that Go's RE2 engine rejects (lookaround, backreferences, atomic groups,
possessive quantifiers).

Every regular expression (`pattern`, `patternProperties`, `format: regex`) runs on RE2 (google-re2),
as Go's `regexp` does: in time linear in the input, so no pattern can freeze the server, and with
RE2's syntax, `\\p{Greek}` included. `uniqueItems` compares canonical forms through a hash table,
in time linear in the size of the array.
"""

from __future__ import annotations

import enum
import functools
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

import referencing.exceptions
from jsonschema import (
    Draft4Validator,
    Draft6Validator,
    Draft7Validator,
    Draft201909Validator,
    Draft202012Validator,
    FormatChecker,
    validators,
)
from jsonschema.exceptions import (
    SchemaError,
    ValidationError,
    best_match,
)
from jsonschema.protocols import Validator
from referencing import Registry, Resource, Specification
from referencing.jsonschema import DRAFT4, DRAFT6, DRAFT7, DRAFT201909, DRAFT202012

from eventsourcingdb._extras import import_extra
from eventsourcingdb.emulator.encoding import decode_json, encode_json

if TYPE_CHECKING:
    from referencing._core import Resolver

__all__ = [
    "TEXT_DATA_TOO_DEEP",
    "TEXT_TOO_DEEP",
    "CompiledSchema",
    "InvalidSchemaError",
    "SchemaProblem",
    "compile_schema",
    "describe",
    "re2_problem",
]


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


TEXT_TOO_DEEP: Final = "the schema is nested too deeply"
TEXT_DATA_TOO_DEEP: Final = "the data is nested too deeply to be validated"


# --- RE2 ----------------------------------------------------------------------------------------


@functools.cache
def _re2() -> Any:
    """google-re2 (the `emulator` extra), imported on first use; errors are not logged by it."""
    module = import_extra("re2", extra="emulator", feature="JSON Schema patterns in the emulator")
    options = module.Options()
    options.log_errors = False  # RE2 would print every refused pattern to stderr
    return module, options


@functools.lru_cache(maxsize=4096)
def _regex(pattern: str) -> Any:
    """A pattern compiled by RE2 (cached: schemas are validated again and again)."""
    module, options = _re2()
    return module.compile(pattern, options=options)


def _go_only_problem(pattern: str) -> str | None:
    """What Go's `regexp` refuses although C++ RE2 accepts it: the escape `\\C` (any byte)."""
    index = pattern.find("\\")
    while index != -1:
        if pattern[index + 1 : index + 2] == "C":
            return "invalid escape sequence: \\C"
        index = pattern.find("\\", index + 2)
    return None


def re2_problem(pattern: str) -> str | None:
    """Why Go's `regexp` (RE2 syntax) refuses a pattern, or None if it accepts it.

    Refused, among others: lookahead and lookbehind, backreferences (`\\1`, `(?P=name)`), atomic
    groups, possessive quantifiers, conditionals, comment groups, flags other than `imsU`,
    repetitions beyond 1000, and the escapes `\\Z`, `\\u`, `\\C` that Go does not know.
    """
    problem = _go_only_problem(pattern)
    if problem is not None:
        return problem
    module, _ = _re2()
    try:
        _regex(pattern)
    except module.error as error:
        reason = error.args[0] if error.args else "invalid pattern"
        return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
    return None


def _search(pattern: str, text: str) -> bool:
    """Whether `pattern` (RE2, already checked at registration) matches somewhere in `text`."""
    return _regex(pattern).search(text) is not None


def _is_regex(instance: object) -> bool:
    """The `regex` format, checked as the library checks it: with Go's `regexp`."""
    return not isinstance(instance, str) or re2_problem(instance) is None


def _with_re2_regex(base: FormatChecker) -> FormatChecker:
    """The formats of `base`, with `regex` checked by RE2 instead of Python's `re`."""
    checker = FormatChecker(formats=())
    checker.checkers = {**base.checkers, "regex": (_is_regex, ())}
    return checker


# --- keywords that jsonschema would run with Python's `re` or in quadratic time -----------------

_Running = Any
"""The validator a keyword runs in (jsonschema passes its own instance; `descend` and
`_resolver`, which keywords use as jsonschema's own keywords do, are not in its protocol)."""


def _unmatched(instance: Mapping[str, object], schema: Mapping[str, object]) -> list[str]:
    """The members that neither `properties` nor `patternProperties` of `schema` cover."""
    known = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    known = known if isinstance(known, Mapping) else {}
    patterns = patterns if isinstance(patterns, Mapping) else {}
    return [
        key
        for key in instance
        if key not in known and not any(_search(pattern, key) for pattern in patterns)
    ]


def _pattern(
    validator: _Running, pattern: str, instance: object, schema: Mapping[str, object]
) -> Iterator[ValidationError]:
    if isinstance(instance, str) and not _search(pattern, instance):
        yield ValidationError(f"does not match pattern {_quote(pattern)}")


def _pattern_properties(
    validator: _Running,
    patterns: Mapping[str, object],
    instance: object,
    schema: Mapping[str, object],
) -> Iterator[ValidationError]:
    if not isinstance(instance, dict):
        return
    members: Mapping[str, object] = instance
    for pattern, subschema in patterns.items():
        for key, value in members.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: _Running, additional: object, instance: object, schema: Mapping[str, object]
) -> Iterator[ValidationError]:
    if not isinstance(instance, dict):
        return
    members: Mapping[str, object] = instance
    extras = _unmatched(members, schema)
    if isinstance(additional, dict):
        for key in extras:
            yield from validator.descend(members[key], additional, path=key)
    elif additional is False and extras:
        yield ValidationError("additional properties are not allowed")


def _evaluated(validator: _Running, instance: Mapping[str, object], schema: object) -> set[str]:
    """The members that `schema` evaluates successfully (the annotations `unevaluatedProperties`
    looks at): through `properties`, `patternProperties`, `additionalProperties`, nested
    `unevaluatedProperties`, references, and the applicators whose subschemas hold."""
    if not isinstance(schema, Mapping):
        return set(instance) if schema is True else set()
    keys: set[str] = set()
    for keyword in ("$ref", "$dynamicRef"):
        reference = schema.get(keyword)
        if isinstance(reference, str):
            resolved = validator._resolver.lookup(reference)
            target = validator.evolve(schema=resolved.contents, _resolver=resolved.resolver)
            keys |= _evaluated(target, instance, resolved.contents)
    if "additionalProperties" in schema or "unevaluatedProperties" in schema:
        return set(instance)  # with these, a schema that holds has evaluated every member
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        keys.update(key for key in instance if key in properties)
    patterns = schema.get("patternProperties")
    if isinstance(patterns, Mapping):
        keys.update(key for key in instance if any(_search(p, key) for p in patterns))
    dependent = schema.get("dependentSchemas")
    if isinstance(dependent, Mapping):
        for name, subschema in dependent.items():
            if name in instance:
                keys |= _evaluated(validator, instance, subschema)
    subschemas: list[object] = []
    for keyword in ("allOf", "anyOf", "oneOf"):
        listed = schema.get(keyword)
        if isinstance(listed, list):
            subschemas.extend(listed)
    if "if" in schema:
        holds = _holds(validator, instance, schema["if"])
        subschemas.append(schema["if"])
        branch = schema.get("then" if holds else "else")
        if branch is not None:
            subschemas.append(branch)
    for subschema in subschemas:
        if _holds(validator, instance, subschema):
            keys |= _evaluated(validator, instance, subschema)
    return keys


def _holds(validator: _Running, instance: object, subschema: object) -> bool:
    return next(iter(validator.descend(instance, subschema)), None) is None


def _unevaluated_properties(
    validator: _Running, unevaluated: object, instance: object, schema: Mapping[str, object]
) -> Iterator[ValidationError]:
    if not isinstance(instance, dict):
        return
    members: Mapping[str, object] = instance
    others = {
        keyword: value for keyword, value in schema.items() if keyword != "unevaluatedProperties"
    }
    evaluated = _evaluated(validator, members, others)
    failing = [
        key
        for key, value in members.items()
        if key not in evaluated
        and not _holds(validator.evolve(schema=unevaluated), value, unevaluated)
    ]
    if failing:
        yield ValidationError("unevaluated properties are not allowed")


def _canonical(value: object) -> object:
    """A hashable form of a JSON value: equal forms for equal values (`1` and `1.0`), never
    for a boolean and a number, members in any order."""
    if value is True or value is False:
        return ("boolean", value)
    if value is None:
        return ("null",)
    if isinstance(value, list):
        return ("array", tuple(map(_canonical, value)))
    if isinstance(value, dict):
        return ("object", frozenset((key, _canonical(item)) for key, item in value.items()))
    return value  # strings and numbers hash and compare as JSON equality wants


def _first_duplicate(items: Iterable[object]) -> tuple[int, int] | None:
    """The first pair of equal items (the later one as early as possible), or None."""
    first_seen: dict[object, int] = {}
    for index, item in enumerate(items):
        earlier = first_seen.setdefault(_canonical(item), index)
        if earlier != index:
            return earlier, index
    return None


def _unique_items(
    validator: _Running, unique: object, instance: object, schema: Mapping[str, object]
) -> Iterator[ValidationError]:
    if unique is True and isinstance(instance, list) and _first_duplicate(instance) is not None:
        yield ValidationError("items are not unique")


_RE2_KEYWORDS: Final = {
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
    "uniqueItems": _unique_items,
}


def _extended(validator: type[Validator], *, unevaluated: bool = False) -> type[Validator]:
    """A draft's validator whose regular expressions run on RE2 and whose `uniqueItems` hashes."""
    keywords: dict[str, Any] = dict(_RE2_KEYWORDS)
    if unevaluated:
        keywords["unevaluatedProperties"] = _unevaluated_properties
    extend: Any = validators.extend
    return cast(type[Validator], extend(validator, keywords))


@dataclass(frozen=True, slots=True)
class _Draft:
    """A JSON Schema draft the server knows: its validator and how it finds subschemas."""

    validator: type[Validator]
    specification: Specification[Any]
    asserts_formats: bool


_DRAFT_2020_12: Final = _Draft(
    _extended(Draft202012Validator, unevaluated=True), DRAFT202012, asserts_formats=False
)
_DRAFTS: Final[Mapping[str, _Draft]] = {
    "https://json-schema.org/schema": _DRAFT_2020_12,
    "https://json-schema.org/draft/2020-12/schema": _DRAFT_2020_12,
    "https://json-schema.org/draft/2019-09/schema": _Draft(
        _extended(Draft201909Validator, unevaluated=True), DRAFT201909, asserts_formats=False
    ),
    "https://json-schema.org/draft-07/schema": _Draft(
        _extended(Draft7Validator), DRAFT7, asserts_formats=True
    ),
    "https://json-schema.org/draft-06/schema": _Draft(
        _extended(Draft6Validator), DRAFT6, asserts_formats=True
    ),
    "https://json-schema.org/draft-04/schema": _Draft(
        _extended(Draft4Validator), DRAFT4, asserts_formats=True
    ),
}
"""The drafts santhosh-tekuri/jsonschema v5 has built in, by normalized `$schema` URI.

Drafts before 2019-09 assert `format` there (later drafts only annotate), and so they do here.
"""


def _draft_key(uri: str) -> str:
    """A `$schema` URI as the library compares it: `http` as `https`, no empty fragment."""
    if uri.startswith("http://"):
        uri = "https://" + uri.removeprefix("http://")
    if uri.endswith(("#", "#/")):
        uri = uri[: uri.index("#")]
    return uri


def _metaschemas() -> Registry[Any]:
    """The meta-schemas of the known drafts, which a `$ref` may name (no network ever)."""
    registry: Registry[Any] = Registry()
    for uri, draft in _DRAFTS.items():
        metaschema = draft.validator.META_SCHEMA
        resource = draft.specification.create_resource(metaschema)
        for spelling in (uri, uri.replace("https://", "http://", 1)):
            registry = registry.with_resource(spelling, resource)
            registry = registry.with_resource(spelling + "#", resource)
    return registry


_METASCHEMAS: Final = _metaschemas()


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
            return None if error is None else describe(error, self.validator)
        except RecursionError:
            return TEXT_DATA_TOO_DEEP
        except referencing.exceptions.Unresolvable as unresolvable:
            # every reference was resolved at registration; kept as a safety net
            return f"jsonschema: {unresolvable.ref} not found"


# --- messages in santhosh-tekuri's words -------------------------------------------------------


def _quote(text: object) -> str:
    """A string quoted as santhosh-tekuri quotes it: single quotes, Go-style escapes."""
    value = str(text)
    out = ["'"]
    for char in value:
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\f":
            out.append("\\f")
        elif char == "\t":
            out.append("\\t")
        elif code < 0x20:
            out.append(f"\\u00{code:02x}")
        elif char in "\u2028\u2029":
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    out.append("'")
    return "".join(out)


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


_COMPARISONS: Final = {
    "minimum": ">=",
    "maximum": "<=",
    "exclusiveMinimum": ">",
    "exclusiveMaximum": "<",
}


def _additional(error: ValidationError | SchemaError) -> list[str]:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    return sorted(_unmatched(instance, schema))


def _matching(validator: Validator | None, schema: object, items: list[Any]) -> list[int]:
    """The indexes of the items that `schema` accepts (empty without a validator)."""
    if validator is None:
        return []
    check = validator.evolve(schema=schema)
    return [index for index, item in enumerate(items) if check.is_valid(item)]


def _one_of(error: ValidationError | SchemaError, validator: Validator | None) -> str:
    if error.context or validator is None:
        return "oneOf failed"
    schemas = error.validator_value if isinstance(error.validator_value, list) else []
    valid = [
        index
        for index, schema in enumerate(schemas)
        if validator.evolve(schema=schema).is_valid(cast(Any, error.instance))
    ]
    if len(valid) < 2:
        return "oneOf failed"
    return f"valid against schemas at indexes {valid[0]} and {valid[1]}"


def _dependency(error: ValidationError | SchemaError) -> str:
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    dependencies = error.validator_value if isinstance(error.validator_value, Mapping) else {}
    for name, needed in dependencies.items():
        if name in instance and isinstance(needed, list):
            for other in needed:
                if other not in instance:
                    return (
                        f"property {_quote(other)} is required, if {_quote(name)} property exists"
                    )
    return f"{error.validator} failed"


def _unique(error: ValidationError | SchemaError) -> str:
    items = error.instance if isinstance(error.instance, list) else []
    pair = _first_duplicate(items)
    if pair is None:
        return "uniqueItems failed"
    return f"items at index {pair[0]} and {pair[1]} are equal"


def _contains(error: ValidationError | SchemaError, validator: Validator | None) -> str:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    items = error.instance if isinstance(error.instance, list) else []
    matched = len(_matching(validator, schema.get("contains", True), items))
    if error.validator == "maxContains":
        return f"valid must be <= {schema.get('maxContains')}, but got {matched}"
    return f"valid must be >= {schema.get('minContains', 1)}, but got {matched}"


def _message(error: ValidationError | SchemaError, validator: Validator | None) -> str:
    keyword = error.validator
    expected: Any = error.validator_value
    instance: Any = error.instance
    size = len(instance) if isinstance(instance, str | list | dict) else 0
    match keyword:
        case None:
            return "not allowed"  # the schema `false`
        case "additionalProperties":
            return f"additionalProperties {', '.join(map(_quote, _additional(error)))} not allowed"
        case "required":
            missing = [_quote(name) for name in expected if name not in instance]
            return "missing properties: " + ", ".join(missing)
        case "type":
            wanted = " or ".join(expected) if isinstance(expected, list) else expected
            return f"expected {wanted}, but got {_json_type(instance)}"
        case "const":
            if isinstance(expected, dict | list):
                return "const failed"
            return f"value must be {_json(expected)}"
        case "enum":
            if not isinstance(expected, list) or any(isinstance(x, dict | list) for x in expected):
                return "enum failed"
            if len(expected) == 1:
                return f"value must be {_json(expected[0])}"
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
            shown = _quote(instance) if isinstance(instance, str) else _number(instance)
            return f"{shown} is not valid {_quote(expected)}"
        case "minItems":
            return f"minimum {expected} items required, but found {size} items"
        case "maxItems":
            return f"maximum {expected} items required, but found {size} items"
        case "minProperties":
            return f"minimum {expected} properties allowed, but found {size} properties"
        case "maxProperties":
            return f"maximum {expected} properties allowed, but found {size} properties"
        case "uniqueItems":
            return _unique(error)
        case "contains" | "minContains" | "maxContains":
            return _contains(error, validator)
        case "dependentRequired" | "dependencies":
            return _dependency(error)
        case "anyOf" | "allOf":
            return f"{keyword} failed"
        case "oneOf":
            return _one_of(error, validator)
        case "not":
            if isinstance(error.schema, Mapping) and error.schema.get("$comment") == _FALSE_MARK:
                return "not allowed"
            return "not failed"
        case "then" | "else":
            return f"if-{keyword} failed"
        case "additionalItems" if isinstance(error.schema, Mapping) and isinstance(
            error.schema.get("items"), list
        ):
            return f"only {len(error.schema['items'])} items are allowed, but found {size} items"
        case _:
            return f"{keyword} failed"


def _escape(token: object) -> str:
    """A JSON pointer token as santhosh-tekuri writes instance locations (Go's PathEscape)."""
    text = str(token).replace("~", "~0").replace("/", "~1")
    return urllib.parse.quote(text, safe="$&+:=@")


def _pointer(path: list[object]) -> str:
    return "".join(f"/{_escape(part)}" for part in path)


def _location(error: ValidationError | SchemaError) -> list[object]:
    """Where the failing value is; a property name checked by `propertyNames` is part of it."""
    path: list[object] = list(error.absolute_path)
    if "propertyNames" in error.absolute_schema_path and isinstance(error.instance, str):
        path.append(error.instance)
    if (
        error.validator == "items"
        and error.validator_value is False
        and isinstance(error.schema, Mapping)
    ):
        prefix = error.schema.get("prefixItems", [])
        path.append(len(prefix) if isinstance(prefix, list) else 0)
    return path


def describe(error: ValidationError | SchemaError, validator: Validator | None = None) -> str:
    """One violation in santhosh-tekuri's words, prefixed by its place unless it is the root.

    `validator` (the one that found the error) lets messages that need to look at the value
    again (`oneOf`, `contains`) say what the library says.
    """
    if error.validator == "items" and error.validator_value is False:
        message = "not allowed"
    else:
        message = _message(error, validator)
    path = _pointer(_location(error))
    return f"at {_quote(path)}: {message}" if path else message


# --- checks at registration -------------------------------------------------------------------


def _server_rules(schema: Mapping[str, object]) -> str | None:
    """The server's own requirements of a schema's root: `type` "object" and `properties`."""
    missing = [name for name in ("type", "properties") if name not in schema]
    if missing:
        return "missing properties: " + ", ".join(map(_quote, missing))
    if schema["type"] != "object":
        return "at '/type': value must be \"object\""
    return None


_URI_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def _draft_of(schema: Mapping[str, object]) -> _Draft:
    """The draft a schema declares (2020-12 when it declares none); unknown drafts are refused.

    The library loads an unknown `$schema` as a meta-schema and fails: it loads no URLs.
    """
    declared = schema.get("$schema")
    if not isinstance(declared, str):
        return _DRAFT_2020_12  # absent, or not a string: the meta-schema check reports that
    draft = _DRAFTS.get(_draft_key(declared))
    if draft is not None:
        return draft
    if not _URI_SCHEME.match(declared):
        raise InvalidSchemaError(SchemaProblem.MALFORMED, "jsonschema: $schema must be uri")
    raise InvalidSchemaError(
        SchemaProblem.MALFORMED, f"jsonschema: no Loader found for {declared.split('#')[0]}"
    )


def _children(resource: Resource[Any]) -> Iterator[tuple[Resource[Any], list[object]]]:
    """The schemas directly inside a schema, each with its place below it.

    Only schema positions count (not `const`, `enum` or unknown keywords): the library compiles
    only those.
    """
    contents = resource.contents
    if not isinstance(contents, Mapping):
        return
    children = {
        id(sub.contents): sub
        for sub in resource.subresources()
        if isinstance(sub.contents, Mapping)  # `true` and `false` hold nothing to check
    }
    if not children:
        return
    for keyword, value in contents.items():
        if id(value) in children:
            yield children[id(value)], [keyword]
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if id(item) in children:
                    yield children[id(item)], [keyword, key]
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if id(item) in children:
                    yield children[id(item)], [keyword, index]


def _check(resource: Resource[Any], path: list[object], resolver: Resolver[Any]) -> None:
    """Check one schema and everything inside it: references resolve, patterns are RE2."""
    contents = resource.contents
    if isinstance(contents, Mapping):
        for keyword in ("$ref", "$dynamicRef"):
            reference = contents.get(keyword)
            if isinstance(reference, str):
                _resolve(resolver, reference)
        pattern = contents.get("pattern")
        if isinstance(pattern, str) and re2_problem(pattern) is not None:
            _refuse_regex([*path, "pattern"], pattern)
        properties = contents.get("patternProperties")
        if isinstance(properties, Mapping):
            for key in properties:
                if isinstance(key, str) and re2_problem(key) is not None:
                    _refuse_regex([*path, "patternProperties", key], key)
    for child, where in _children(resource):
        _check(child, path + where, resolver.in_subresource(child))


def _refuse_regex(path: list[object], pattern: str) -> None:
    """The library checks `format: regex` of its meta-schema with Go's `regexp`."""
    raise InvalidSchemaError(
        SchemaProblem.MALFORMED,
        f"at {_quote(_pointer(path))}: {_quote(pattern)} is not valid 'regex'",
    )


def _resolve(resolver: Resolver[Any], reference: str) -> None:
    """Refuse a reference that resolves nowhere: the library loads no remote documents."""
    try:
        resolved = resolver.lookup(reference)
    except referencing.exceptions.Unresolvable as error:
        if type(error) is referencing.exceptions.Unresolvable:
            target = reference.split("#")[0] or reference
            detail = f"jsonschema: no Loader found for {target}"
        else:
            detail = f"jsonschema: {reference} not found"
        raise InvalidSchemaError(SchemaProblem.MALFORMED, detail) from None
    except (ValueError, LookupError, TypeError):
        raise InvalidSchemaError(
            SchemaProblem.MALFORMED, f"jsonschema: {reference} not found"
        ) from None
    if not isinstance(resolved.contents, Mapping | bool):
        pointer = reference.partition("#")[2]
        raise InvalidSchemaError(
            SchemaProblem.MALFORMED,
            f"at {_quote(pointer)}: expected object or boolean, but got "
            f"{_json_type(resolved.contents)}",
        )


# --- compiling ----------------------------------------------------------------------------------

_FALSE_MARK: Final = "eventsourcingdb-emulator: false"
_FALSE: Final[Mapping[str, object]] = {"not": {}, "$comment": _FALSE_MARK}
"""Stands in for the schema `false` where jsonschema would lose the failing value's place."""
_ONE_SCHEMA: Final = frozenset({"not", "if", "then", "else", "propertyNames", "contains"})
_SCHEMA_MAPS: Final = frozenset(
    {"properties", "patternProperties", "dependentSchemas", "$defs", "definitions"}
)
_SCHEMA_LISTS: Final = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})


def _locatable(schema: object) -> object:
    """The schema with every nested `false` written as `{"not": {}}`, which means the same.

    jsonschema reports a value refused by a nested `false` without its place; `not` keeps it,
    and `describe` words it as the library words `false`: `not allowed`.
    """
    if schema is False:
        return _FALSE
    if not isinstance(schema, Mapping):
        return schema
    result: dict[str, object] = {}
    for keyword, value in schema.items():
        if keyword in _ONE_SCHEMA:
            value = _locatable(value)
        elif keyword in _SCHEMA_MAPS and isinstance(value, Mapping):
            value = {key: _locatable(item) for key, item in value.items()}
        elif keyword in _SCHEMA_LISTS and isinstance(value, list):
            value = [_locatable(item) for item in value]
        elif keyword in ("items", "additionalProperties") and isinstance(value, Mapping):
            value = _locatable(value)
        result[keyword] = value
    return result


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
    draft = _draft_of(schema)
    try:
        return _compile(schema, draft)
    except RecursionError:
        raise InvalidSchemaError(SchemaProblem.MALFORMED, TEXT_TOO_DEEP) from None


@functools.cache
def _format_checker(validator: type[Validator]) -> FormatChecker:
    """The formats the draft of `validator` asserts, `regex` checked with RE2."""
    return _with_re2_regex(validator.FORMAT_CHECKER)


@functools.cache
def _metaschema_validator(validator: type[Validator]) -> Validator:
    """A validator of the draft's meta-schema that asserts formats (`regex` among them)."""
    return validator(validator.META_SCHEMA, format_checker=_format_checker(validator))


def _compile(schema: dict[str, object], draft: _Draft) -> CompiledSchema:
    metaschema_validator = _metaschema_validator(draft.validator)
    error = best_match(metaschema_validator.iter_errors(cast(Any, schema)))
    if error is not None:
        raise InvalidSchemaError(SchemaProblem.MALFORMED, describe(error, metaschema_validator))
    resource = draft.specification.create_resource(schema)
    registry = _METASCHEMAS.with_resource("", resource)
    _check(resource, [], registry.resolver_with_root(resource))
    format_checker = _format_checker(draft.validator) if draft.asserts_formats else None
    # an empty registry: references resolve within the schema and to the drafts, never remotely
    locatable = cast(Mapping[str, Any], _locatable(schema))
    validator = draft.validator(locatable, registry=Registry(), format_checker=format_checker)
    return CompiledSchema(schema=schema, encoded=encode_json(schema), validator=validator)
