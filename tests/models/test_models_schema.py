"""Generated schemas: the server's form, inlined, closed, stable, and faithful to the model."""

from __future__ import annotations

import enum
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError, computed_field

from eventsourcingdb.models import DeclarationError, SchemaEvolution, event_schema
from eventsourcingdb.models.schema import (
    JSON_SCHEMA_DIALECT,
    additive_changes,
    schema_diff,
    schemas_equal,
)


class Genre(enum.StrEnum):
    """The genres a library shelves by."""

    FICTION = "fiction"
    SCIENCE = "science"


class Rating(enum.IntEnum):
    LOW = 1
    HIGH = 5


class Author(BaseModel):
    """Who wrote it."""

    model_config = ConfigDict(frozen=True)

    name: str
    born: date | None = None


class Shelf(BaseModel):
    model_config = ConfigDict(extra="allow")

    label: str


class Catalogued(BaseModel):
    """Every kind of field an event may hold."""

    model_config = ConfigDict(frozen=True)

    title: str
    authors: list[Author]
    main_author: Author
    genre: Genre
    rating: Rating
    price: Decimal
    copies: int = Field(ge=0)
    weight: float
    id: UUID
    at: datetime
    loan_period: timedelta
    subtitle: str | None = None
    tags: tuple[str, ...] = ()
    shelf: Shelf
    state: Literal["new", "used"]
    isbn: Annotated[str, Field(pattern=r"^\d{3}-\d{10}$")]


def _walk(value: object) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        found.append(value)
        for item in value.values():
            found.extend(_walk(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_walk(item))
    return found


def test_the_root_is_a_2020_12_object_with_properties_and_required_members() -> None:
    schema = event_schema(Catalogued)
    assert schema["$schema"] == JSON_SCHEMA_DIALECT
    assert schema["type"] == "object"
    assert isinstance(schema["properties"], dict)
    assert set(schema["properties"]) == set(Catalogued.model_fields)
    assert set(schema["required"]) == {  # type: ignore[arg-type]
        "title",
        "authors",
        "main_author",
        "genre",
        "rating",
        "price",
        "copies",
        "weight",
        "id",
        "at",
        "loan_period",
        "shelf",
        "state",
        "isbn",
    }
    Draft202012Validator.check_schema(schema)


def test_nested_definitions_are_inlined_without_references() -> None:
    schema = event_schema(Catalogued)
    assert "$defs" not in schema
    assert all("$ref" not in node for node in _walk(schema))
    properties = schema["properties"]
    assert isinstance(properties, dict)
    assert properties["main_author"] == {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "born": {
                "anyOf": [{"type": "string", "format": "date"}, {"type": "null"}],
                "default": None,
            },
        },
        "required": ["name"],
        "additionalProperties": False,
    }
    assert properties["genre"] == {"enum": ["fiction", "science"], "type": "string"}


def test_objects_are_closed_unless_the_model_allows_extra_fields() -> None:
    schema = event_schema(Catalogued)
    properties = schema["properties"]
    assert isinstance(properties, dict)
    assert schema["additionalProperties"] is False
    assert properties["shelf"]["additionalProperties"] is True  # type: ignore[index, call-overload]


def test_class_names_and_docstrings_do_not_leak_into_the_schema() -> None:
    class BookAcquired(BaseModel):
        """Acquired by the library."""

        title: str
        genre: Genre

    class BookWasAcquired(BaseModel):
        """A differently worded docstring."""

        title: str
        genre: Genre

    first, second = event_schema(BookAcquired), event_schema(BookWasAcquired)
    assert first == second
    assert not any("title" in node and isinstance(node["title"], str) for node in _walk(first))
    assert "description" not in json.dumps(first)


def test_explicit_field_descriptions_are_kept() -> None:
    class Described(BaseModel):
        title: str = Field(description="The title as printed on the cover")

    properties = event_schema(Described)["properties"]
    assert properties == {
        "title": {"type": "string", "description": "The title as printed on the cover"}
    }


def test_a_self_referencing_model_is_refused() -> None:
    class Node(BaseModel):
        children: list[Node]

    Node.model_rebuild()
    with pytest.raises(DeclarationError, match="recursively"):
        event_schema(Node)


def test_a_model_with_an_undefined_reference_is_refused_with_advice() -> None:
    class Early(BaseModel):
        later: Later  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(DeclarationError, match="define nested models before"):
        event_schema(Early)


def test_a_root_model_is_refused() -> None:
    class Titles(RootModel[list[str]]):
        pass

    with pytest.raises(DeclarationError, match=r"RootModel|object"):
        event_schema(Titles)


def test_a_model_with_a_computed_field_is_refused() -> None:
    class Priced(BaseModel):
        net: Decimal

        @computed_field  # type: ignore[prop-decorator]
        @property
        def gross(self) -> Decimal:
            return self.net * Decimal("1.19")

    with pytest.raises(DeclarationError, match="computed field"):
        event_schema(Priced)


def test_a_field_without_a_json_form_is_refused() -> None:
    class Opaque(BaseModel):
        model_config = ConfigDict(arbitrary_types_allowed=True)

        handle: object

    class Holder:
        pass

    class WithHandle(BaseModel):
        model_config = ConfigDict(arbitrary_types_allowed=True)

        handle: Holder

    event_schema(Opaque)  # `object` is any JSON value: fine
    with pytest.raises(DeclarationError, match="no JSON Schema"):
        event_schema(WithHandle)


@pytest.mark.parametrize(
    "text", ["1.5", " 1.5 ", "1e3", "1E+2", ".5", "5.", "+1", "-0.001", "1_000", "abc", "1..2", ""]
)
def test_the_decimal_pattern_accepts_exactly_what_the_model_accepts(text: str) -> None:
    class Priced(BaseModel):
        price: Decimal

    validator = Draft202012Validator(event_schema(Priced))
    try:
        Priced.model_validate_json(json.dumps({"price": text}))
        model_accepts = True
    except ValidationError:
        model_accepts = False
    assert validator.is_valid({"price": text}) is model_accepts


_NOW = datetime(2026, 10, 7, 13, 32, 50, 439461)


def _sample(**changes: object) -> dict[str, Any]:
    sample = Catalogued(
        title="2001 – A Space Odyssey",
        authors=[Author(name="Arthur C. Clarke", born=date(1917, 12, 16))],
        main_author=Author(name="Arthur C. Clarke"),
        genre=Genre.SCIENCE,
        rating=Rating.HIGH,
        price=Decimal("12.90"),
        copies=3,
        weight=0.35,
        id=UUID("5f0c7bde-b8c3-4d9e-9a53-2f4c1a1f0e11"),
        at=_NOW,
        loan_period=timedelta(days=14),
        shelf=Shelf(label="A1"),
        state="new",
        isbn="978-0756906788",
    ).model_dump(mode="json")
    sample.update(changes)
    return sample


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("title", 42),
        ("genre", "poetry"),
        ("rating", 3),
        ("copies", -1),
        ("copies", 1.5),
        ("state", "lost"),
        ("isbn", "978"),
        ("main_author", {}),
        ("price", "twelve"),
    ],
)
def test_data_the_model_refuses_the_schema_refuses(change: str, value: object) -> None:
    data = _sample(**{change: value})
    with pytest.raises(ValidationError):
        Catalogued.model_validate_json(json.dumps(data))
    assert not Draft202012Validator(event_schema(Catalogued)).is_valid(data)


@pytest.mark.parametrize(
    "data",
    [_sample(unexpected="member"), _sample(authors=[{"name": "A", "unexpected": True}])],
)
def test_members_a_model_would_drop_are_refused_by_the_schema(data: dict[str, Any]) -> None:
    # pydantic ignores (and loses) undeclared members unless extra="allow"; the schema keeps such
    # data out of the store, where it would never survive a round trip through the model.
    model = Catalogued.model_validate_json(json.dumps(data))
    assert model.model_dump(mode="json") != data
    assert not Draft202012Validator(event_schema(Catalogued)).is_valid(data)


def test_a_missing_required_member_is_refused_by_both() -> None:
    data = _sample()
    del data["isbn"]
    with pytest.raises(ValidationError):
        Catalogued.model_validate_json(json.dumps(data))
    assert not Draft202012Validator(event_schema(Catalogued)).is_valid(data)


def test_extra_members_of_an_open_model_are_accepted_by_both() -> None:
    data = _sample(shelf={"label": "A1", "row": 3})
    Catalogued.model_validate_json(json.dumps(data))
    assert Draft202012Validator(event_schema(Catalogued)).is_valid(data)


@settings(max_examples=60, deadline=None)
@given(
    title=st.text(),
    copies=st.integers(min_value=0, max_value=2**53),
    weight=st.floats(allow_nan=False, allow_infinity=False),
    price=st.decimals(allow_nan=False, allow_infinity=False),
    subtitle=st.none() | st.text(),
    tags=st.lists(st.text(), max_size=3),
    genre=st.sampled_from(Genre),
)
def test_whatever_the_model_writes_its_schema_accepts(
    title: str,
    copies: int,
    weight: float,
    price: Decimal,
    subtitle: str | None,
    tags: list[str],
    genre: Genre,
) -> None:
    data = _sample(
        title=title,
        copies=copies,
        weight=weight,
        price=str(price),
        subtitle=subtitle,
        tags=tags,
        genre=genre.value,
    )
    assert Draft202012Validator(event_schema(Catalogued)).is_valid(data)
    assert Catalogued.model_validate_json(json.dumps(data)).model_dump(mode="json") == data


def test_schemas_compare_as_json_values() -> None:
    assert schemas_equal({"a": [1, {"b": 2.0}]}, {"a": [1.0, {"b": 2}]})
    assert schemas_equal({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert not schemas_equal({"const": True}, {"const": 1})
    assert not schemas_equal({"a": [1, 2]}, {"a": [2, 1]})
    assert not schemas_equal({"a": "1"}, {"a": 1})
    assert not schemas_equal({"a": 1}, {"a": 1, "b": None})


def test_a_schema_diff_shows_the_changed_lines() -> None:
    diff = schema_diff({"type": "object", "required": ["a"]}, {"type": "object"}, model="m.M")
    assert "--- registered on the server" in diff
    assert "+++ generated from m.M" in diff
    assert '-  "required": [' in diff


# --- additive evolution ----------------------------------------------------------------------


class Address(BaseModel):
    city: str


class Member(BaseModel):
    name: str
    address: Address | None = None
    tags: list[Address] = []


def _has_closed_object(value: object) -> bool:
    if isinstance(value, list):
        return any(_has_closed_object(item) for item in value)
    if isinstance(value, dict):
        return "additionalProperties" in value or any(
            _has_closed_object(item) for item in value.values()
        )
    return False


def test_an_additive_type_gets_an_open_schema_everywhere() -> None:
    strict = event_schema(Member)
    open_schema = event_schema(Member, evolution=SchemaEvolution.ADDITIVE)
    assert _has_closed_object(strict)
    assert not _has_closed_object(open_schema)
    validator = Draft202012Validator(open_schema)
    assert validator.is_valid({"name": "Ann", "address": {"city": "Rome", "zip": "1"}, "new": 1})
    assert not validator.is_valid({"address": {"city": "Rome"}})  # what is declared still holds


def test_a_model_that_forbids_extra_members_cannot_evolve_additively() -> None:
    class Closed(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str

    class Outer(BaseModel):
        inner: Closed

    for model in (Closed, Outer):
        with pytest.raises(DeclarationError, match="extra='forbid'"):
            event_schema(model, evolution=SchemaEvolution.ADDITIVE)


def _additive(before: type[BaseModel], after: type[BaseModel]) -> tuple[tuple[str, ...], ...]:
    return additive_changes(
        event_schema(before, evolution=SchemaEvolution.ADDITIVE),
        event_schema(after, evolution=SchemaEvolution.ADDITIVE),
    )


def test_new_optional_members_are_additive_at_any_depth() -> None:
    class City(BaseModel):
        city: str
        zip: str | None = None

    class Grown(BaseModel):
        name: str
        address: City | None = None
        tags: list[City] = []
        since: date | None = None

    assert _additive(Member, Member) == ((), ())
    assert _additive(Member, Grown) == (("address.zip", "tags.zip", "since"), ())


@pytest.mark.parametrize(
    ("after", "problem"),
    [
        ({"name": (int, ...)}, "member 'name': 'type' was \"string\", is \"integer\" now"),
        ({"name": (str, None)}, "member 'name' became optional"),
        ({"since": (date, ...)}, "the new member 'since' is required"),
        ({"address": (Address, ...)}, "member 'address' changed"),
    ],
)
def test_other_changes_are_not_additive(after: dict[str, Any], problem: str) -> None:
    from pydantic import create_model

    fields: dict[str, Any] = {
        "name": (str, ...),
        "address": (Address | None, None),
        "tags": (list[Address], []),
    }
    changed = create_model("Changed", **{**fields, **after})
    _, problems = _additive(Member, changed)
    assert any(problem in text for text in problems), problems


def test_a_removed_member_and_a_closed_registered_schema_are_not_additive() -> None:
    class Smaller(BaseModel):
        name: str

    _, problems = _additive(Member, Smaller)
    assert problems == (
        "member 'address' was removed, but stored events have it (and the registered schema "
        "keeps checking it)",
        "member 'tags' was removed, but stored events have it (and the registered schema keeps "
        "checking it)",
    )

    class Grown(Member):
        since: date | None = None

    _, closed = additive_changes(
        event_schema(Member), event_schema(Grown, evolution=SchemaEvolution.ADDITIVE)
    )
    assert "closed in the registered schema" in closed[0]
