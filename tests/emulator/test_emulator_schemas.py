"""Schemas: what registration refuses, and violations in santhosh-tekuri/jsonschema v5's words."""

from __future__ import annotations

from typing import Any

import pytest

from eventsourcingdb.emulator.schemas import (
    TEXT_DATA_TOO_DEEP,
    TEXT_TOO_DEEP,
    InvalidSchemaError,
    SchemaProblem,
    compile_schema,
    re2_problem,
)


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def _refusal(schema: Any) -> str:
    with pytest.raises(InvalidSchemaError) as refused:
        compile_schema(schema)
    assert refused.value.problem is SchemaProblem.MALFORMED
    return refused.value.detail


def _violation(schema: dict[str, Any], data: Any) -> str | None:
    return compile_schema(schema).violation(data)


# --- references ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "detail"),
    [
        ("#/nope", "jsonschema: #/nope not found"),
        ("#/properties/b", "jsonschema: #/properties/b not found"),
        ("#no-such-anchor", "jsonschema: #no-such-anchor not found"),
        (
            "https://example.com/s.json",
            "jsonschema: no Loader found for https://example.com/s.json",
        ),
        (
            "https://example.com/s.json#/a",
            "jsonschema: no Loader found for https://example.com/s.json",
        ),
        ("other.json", "jsonschema: no Loader found for other.json"),
        ("#/type", "at '/type': expected object or boolean, but got string"),
    ],
)
def test_references_that_resolve_nowhere_are_refused(reference: str, detail: str) -> None:
    assert _refusal(_object(a={"$ref": reference})) == detail


def test_references_are_resolved_in_every_schema_position() -> None:
    for schema in (
        {**_object(), "$defs": {"x": {"$ref": "#/nope"}}},
        {**_object(), "anyOf": [{"type": "object"}, {"$ref": "#/nope"}]},
        _object(a={"items": {"not": {"$dynamicRef": "#/nope"}}}),
        _object(a={"$id": "https://example.com/sub", "$ref": "#/nope"}),
    ):
        assert _refusal(schema) == "jsonschema: #/nope not found"


def test_references_that_resolve_are_accepted() -> None:
    defs = {**_object(a={"$ref": "#/$defs/title"}), "$defs": {"title": {"type": "string"}}}
    assert _violation(defs, {"a": 1}) == "at '/a': expected string, but got number"
    anchored = {**_object(a={"$ref": "#t"}), "$defs": {"t": {"$anchor": "t", "type": "string"}}}
    assert _violation(anchored, {"a": "x"}) is None
    identified = {
        **_object(a={"$ref": "root#/properties/b"}, b={"type": "integer"}),
        "$id": "https://example.com/root",
    }
    assert _violation(identified, {"a": 1.5}) == "at '/a': expected integer, but got number"
    nested = _object(a={"$id": "https://e.com/a", "$defs": {"q": {}}, "$ref": "#/$defs/q"})
    assert _violation(nested, {"a": 1}) is None
    recursive = _object(child={"$ref": "#"})
    assert _violation(recursive, {"child": {"child": {}}}) is None
    metaschema = _object(a={"$ref": "https://json-schema.org/draft/2020-12/schema"})
    assert _violation(metaschema, {"a": {"type": "string"}}) is None


def test_references_in_values_are_not_references() -> None:
    assert _violation({**_object(), "const": {"$ref": "#/nope"}}, {"$ref": "#/nope"}) is None
    assert _violation(_object(a={"enum": [{"$ref": "#/nope"}]}), {}) is None


# --- $schema ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "declared",
    [
        "https://json-schema.org/draft/2020-12/schema",
        "http://json-schema.org/draft/2020-12/schema#",
        "https://json-schema.org/draft/2019-09/schema",
        "http://json-schema.org/draft-07/schema#",
        "http://json-schema.org/draft-06/schema#",
        "http://json-schema.org/draft-04/schema#",
        "https://json-schema.org/schema",
    ],
)
def test_known_drafts_are_accepted(declared: str) -> None:
    compile_schema({**_object(), "$schema": declared})


@pytest.mark.parametrize(
    ("declared", "detail"),
    [
        ("https://example.com/my-dialect", "jsonschema: no Loader found for https://example.com/my-dialect"),
        ("http://json-schema.org/draft-03/schema#", "jsonschema: no Loader found for http://json-schema.org/draft-03/schema"),
        ("draft 2020-12", "jsonschema: $schema must be uri"),
        (5, "at '/$schema': expected string, but got number"),
        ({}, "at '/$schema': expected string, but got object"),
    ],
)  # fmt: skip
def test_unknown_drafts_are_refused(declared: object, detail: str) -> None:
    assert _refusal({**_object(), "$schema": declared}) == detail


def test_drafts_before_2019_assert_formats_as_the_library_does() -> None:
    email = _object(e={"type": "string", "format": "email"})
    assert _violation(email, {"e": "nope"}) is None
    draft7 = {**email, "$schema": "http://json-schema.org/draft-07/schema#"}
    assert _violation(draft7, {"e": "nope"}) == "at '/e': 'nope' is not valid 'email'"


# --- regular expressions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        "(?=a)",
        "a(?!b)",
        "(?<=a)b",
        "(?<!a)b",
        r"(a)\1",
        "(?P<n>a)(?P=n)",
        "(?>a+)",
        "a*+",
        "a++",
        "a?+",
        "a{2}+",
        "a+?+",
        "(?(1)a|b)",
        "(?#note)a",
        "(?x)a",
        r"a\Z",
        r"\u0041",
        r"[\1]",
    ],
)
def test_regexes_that_re2_refuses_are_refused(pattern: str) -> None:
    assert re2_problem(pattern) is not None
    detail = _refusal(_object(a={"type": "string", "pattern": pattern}))
    escaped = pattern.replace("\\", "\\\\")
    assert detail == f"at '/properties/a/pattern': '{escaped}' is not valid 'regex'"
    keyed = _refusal({**_object(), "patternProperties": {pattern: {}}})
    assert keyed.startswith("at '/patternProperties/")
    assert keyed.endswith(f": '{escaped}' is not valid 'regex'")


@pytest.mark.parametrize(
    "pattern",
    [
        "^[a-z]+$",
        r"\d{3}-\d{4}",
        "a+?",
        "a{2,}?",
        r"\++",
        "[+]+",
        "[(?=]",
        "[]a]+",
        "(?i)a",
        "(?s-i:a.)",
        "(?P<name>a)",
        r"\123",
        r"\0",
        r"\Aa",
    ],
)
def test_regexes_that_re2_accepts_are_accepted(pattern: str) -> None:
    assert re2_problem(pattern) is None
    compile_schema(_object(a={"type": "string", "pattern": pattern}))


@pytest.mark.parametrize(
    ("pattern", "matching", "other"),
    [
        (r"^\p{L}+$", "Grüße", "abc1"),
        (r"^\p{Greek}+$", "αβγ", "abc"),
        (r"^\pN+$", "٣4", "x"),
        (r"^\P{L}+$", "123", "a1"),
        (r"^[\p{Lu}\d]+$", "AÄ1", "a"),
        (r"^[[:alpha:]]+$", "abc", "a1"),
        (r"^\x{41}$", "A", "B"),
        (r"^\Q.*\E$", ".*", "ab"),
    ],
)
def test_re2_syntax_python_lacks_is_accepted_and_matches(
    pattern: str, matching: str, other: str
) -> None:
    schema = compile_schema(_object(a={"type": "string", "pattern": pattern}))
    assert schema.violation({"a": matching}) is None
    escaped = pattern.replace("\\", "\\\\")
    assert schema.violation({"a": other}) == f"at '/a': does not match pattern '{escaped}'"


def test_go_refuses_the_any_byte_escape_that_cpp_re2_knows() -> None:
    assert re2_problem(r"a\C") == "invalid escape sequence: \\C"
    assert re2_problem(r"a\\C") is None  # an escaped backslash, then a literal C


@pytest.mark.timeout(20)
def test_patterns_run_in_linear_time() -> None:
    # Python's backtracking `re` needs about 2**60 steps for each of these
    evil = "^(a+)+$"
    text = "a" * 60 + "b"
    assert _violation(_object(a={"type": "string", "pattern": evil}), {"a": text}) is not None
    keyed = {**_object(), "patternProperties": {evil: {"type": "string"}}}
    assert _violation(keyed, {text: 1}) is None
    many = "a" * 60
    assert _violation(keyed, {many: 1}) == f"at '/{many}': expected string, but got number"
    closed = {**_object(), "patternProperties": {evil: {}}, "additionalProperties": False}
    assert _violation(closed, {text: 1}) == f"additionalProperties '{text}' not allowed"
    unevaluated = {**_object(), "patternProperties": {evil: {}}, "unevaluatedProperties": False}
    assert _violation(unevaluated, {many: 1}) is None
    assert _violation(unevaluated, {text: 1}) == "unevaluatedProperties failed"
    formats = {
        **_object(r={"format": "regex"}),
        "$schema": "http://json-schema.org/draft-07/schema#",
    }
    assert _violation(formats, {"r": "(?=a)"}) == "at '/r': '(?=a)' is not valid 'regex'"
    assert _violation(formats, {"r": r"\p{L}"}) is None


def test_unevaluated_properties_see_what_applicators_evaluated() -> None:
    schema = {
        **_object(a={}, kind={}),
        "allOf": [{"patternProperties": {"^x": {}}}],
        "anyOf": [{"properties": {"b": {"type": "string"}}}, {"properties": {"c": {}}}],
        "if": {"properties": {"kind": {"const": "d"}}},
        "then": {"properties": {"d": {}}},
        "else": {"properties": {"e": {}}},
        "dependentSchemas": {"a": {"properties": {"f": {}}}},
        "$defs": {"g": {"properties": {"g": {}}}},
        "$ref": "#/$defs/g",
        "unevaluatedProperties": False,
    }
    assert _violation(schema, {"a": 1, "xy": 1, "b": "s", "c": 1, "g": 1, "f": 1}) is None
    assert _violation(schema, {"kind": "d", "d": 1}) is None
    assert _violation(schema, {"kind": "z", "e": 1}) is None
    assert _violation(schema, {"kind": "z", "d": 1}) == "unevaluatedProperties failed"
    assert _violation(schema, {"b": 1}) is not None  # the anyOf branch with `b` fails
    assert _violation(schema, {"f": 1}) == "unevaluatedProperties failed"  # no `a`
    assert _violation(schema, {"y": 1}) == "unevaluatedProperties failed"


@pytest.mark.timeout(20)
def test_unique_items_are_checked_in_linear_time() -> None:
    schema = compile_schema(_object(a={"type": "array", "uniqueItems": True}))
    items: list[Any] = [{"n": index, "tags": [index, str(index)]} for index in range(100_000)]
    assert schema.violation({"a": items}) is None
    items.append({"tags": [7, "7"], "n": 7.0})
    assert schema.violation({"a": items}) == "at '/a': items at index 7 and 100000 are equal"
    assert schema.violation({"a": [[1], [True], {"a": None}, {"a": False}, [1.0]]}) == (
        "at '/a': items at index 0 and 4 are equal"
    )


# --- deep schemas and data ----------------------------------------------------------------------


def test_schemas_too_deep_to_check_are_refused_not_crashed() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(200):
        schema = _object(a=schema)
    assert _refusal(schema) == TEXT_TOO_DEEP


def test_data_too_deep_to_validate_is_a_violation_not_a_crash() -> None:
    data: dict[str, Any] = {}
    for _ in range(400):
        data = {"a": data}
    assert _violation(_object(a={"$ref": "#"}), data) == TEXT_DATA_TOO_DEEP


# --- violations in the library's words ----------------------------------------------------------

VIOLATIONS: list[tuple[str, dict[str, Any], Any, str]] = [
    ("anyOf", _object(a={"anyOf": [{"type": "string"}, {"type": "integer"}]}), {"a": 1.5},
     "at '/a': anyOf failed"),
    ("oneOf, none", _object(a={"oneOf": [{"type": "string"}, {"type": "boolean"}]}), {"a": 1},
     "at '/a': oneOf failed"),
    ("oneOf, two", _object(a={"oneOf": [{"type": "number"}, {"type": "integer"}]}), {"a": 1},
     "at '/a': valid against schemas at indexes 0 and 1"),
    ("allOf", _object(a={"allOf": [{"type": "number"}, {"minimum": 5}]}), {"a": 1},
     "at '/a': must be >= 5 but found 1"),
    ("not", _object(a={"not": {"type": "number"}}), {"a": 1}, "at '/a': not failed"),
    ("if-then", _object(a={"if": {"type": "number"}, "then": {"minimum": 5}}), {"a": 1},
     "at '/a': must be >= 5 but found 1"),
    ("if-else", _object(a={"if": {"type": "number"}, "else": {"type": "string"}}), {"a": True},
     "at '/a': expected string, but got boolean"),
    ("dependentRequired", {**_object(), "dependentRequired": {"a": ["b", "c"]}},
     {"a": 1, "b": 2}, "property 'c' is required, if 'a' property exists"),
    ("uniqueItems", _object(a={"uniqueItems": True}), {"a": [1, True, 2, 1.0]},
     "at '/a': items at index 0 and 3 are equal"),
    ("contains", _object(a={"contains": {"type": "string"}}), {"a": [1, 2]},
     "at '/a': valid must be >= 1, but got 0"),
    ("minContains", _object(a={"contains": {"type": "string"}, "minContains": 2}),
     {"a": [1, "x"]}, "at '/a': valid must be >= 2, but got 1"),
    ("maxContains", _object(a={"contains": {"type": "string"}, "maxContains": 1}),
     {"a": ["x", "y", "z"]}, "at '/a': valid must be <= 1, but got 3"),
    ("minProperties", {**_object(), "minProperties": 2}, {"a": 1},
     "minimum 2 properties allowed, but found 1 properties"),
    ("maxProperties", {**_object(), "maxProperties": 1}, {"a": 1, "b": 2},
     "maximum 1 properties allowed, but found 2 properties"),
    ("propertyNames", {**_object(), "propertyNames": {"pattern": "^a"}}, {"a": 1, "b x/y": 2},
     "at '/b%20x~1y': does not match pattern '^a'"),
    ("propertyNames false", {**_object(), "propertyNames": False}, {"a": 1},
     "at '/a': not allowed"),
    ("false", _object(a=False), {"a": 1}, "at '/a': not allowed"),
    ("items false", _object(a={"prefixItems": [{}], "items": False}), {"a": [1, 2, 3]},
     "at '/a/1': not allowed"),
    ("const object", _object(a={"const": {"x": 1}}), {"a": 1}, "at '/a': const failed"),
    ("enum of one", _object(a={"enum": ["x"]}), {"a": 1}, 'at \'/a\': value must be "x"'),
    ("enum of objects", _object(a={"enum": ["x", {"y": 1}]}), {"a": 1}, "at '/a': enum failed"),
    ("format (draft 7)", {**_object(d={"format": "date"}),
                          "$schema": "http://json-schema.org/draft-07/schema#"},
     {"d": "never"}, "at '/d': 'never' is not valid 'date'"),
    ("no Python repr", {**_object(), "unevaluatedProperties": False}, {"zz": 1},
     "unevaluatedProperties failed"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("schema", "data", "message"),
    [case[1:] for case in VIOLATIONS],
    ids=[case[0] for case in VIOLATIONS],
)
def test_violations_are_worded_as_the_library_words_them(
    schema: dict[str, Any], data: Any, message: str
) -> None:
    assert _violation(schema, data) == message


def test_invalid_schemas_are_worded_as_the_library_words_them() -> None:
    assert _refusal(_object(a={"type": "wat"})) == "at '/properties/a/type': anyOf failed"
    assert _refusal(_object(a={"minLength": -1})) == (
        "at '/properties/a/minLength': must be >= 0 but found -1"
    )


def test_the_schema_as_given_is_kept() -> None:
    schema = {**_object(a=False), "additionalProperties": {"not": False}}
    compiled = compile_schema(schema)
    assert compiled.schema == schema
    assert (
        compiled.encoded
        == b'{"additionalProperties":{"not":false},"properties":{"a":false},"type":"object"}'
    )
