"""Declaring event types and upcasters: every mistake is a clear error when it is made."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, RootModel

from eventsourcingdb.errors import InvalidArgumentError
from eventsourcingdb.models import (
    DeclarationError,
    EventRegistry,
    JsonObject,
    default_registry,
    event_schema,
    event_type,
    upcaster,
)

ACQUIRED = "io.eventsourcingdb.library.book-acquired"
ACQUIRED_V2 = "io.eventsourcingdb.library.book-acquired.v2"
ACQUIRED_V3 = "io.eventsourcingdb.library.book-acquired.v3"


def test_a_declared_model_is_known_both_ways_with_its_schema() -> None:
    registry = EventRegistry()

    @registry.event_type(ACQUIRED)
    class BookAcquired(BaseModel):
        title: str

    declaration = registry.declaration_for(ACQUIRED)
    assert declaration is not None
    assert declaration.model is BookAcquired
    assert registry.declaration_of(BookAcquired) is declaration
    assert declaration.schema == event_schema(BookAcquired)
    assert declaration.model_name.endswith("BookAcquired")
    assert ACQUIRED in registry
    assert BookAcquired in registry
    assert len(registry) == 1
    assert [d.name for d in registry] == [ACQUIRED]
    assert registry.knows(ACQUIRED)
    assert not registry.knows(ACQUIRED_V2)


def test_the_schema_of_a_declaration_cannot_be_changed_through_it() -> None:
    registry = EventRegistry()

    @registry.event_type(ACQUIRED)
    class BookAcquired(BaseModel):
        title: str

    declaration = registry.declaration_for(ACQUIRED)
    assert declaration is not None
    declaration.schema["type"] = "array"
    assert declaration.schema["type"] == "object"


def test_the_decorator_returns_the_class_unchanged() -> None:
    registry = EventRegistry()

    class BookAcquired(BaseModel):
        title: str

    assert event_type(ACQUIRED, registry=registry)(BookAcquired) is BookAcquired


@pytest.mark.parametrize(
    "name", ["", "book-acquired", "io.library", "io..library.x", "io.library.", "i.library.x", 42]
)
def test_a_malformed_type_name_is_refused_at_declaration(name: object) -> None:
    registry = EventRegistry()
    with pytest.raises(DeclarationError) as caught:

        @registry.event_type(name)  # type: ignore[arg-type]
        class Event(BaseModel):
            title: str

    assert isinstance(caught.value, InvalidArgumentError)
    assert "event type" in str(caught.value)


def test_the_same_name_for_two_classes_is_refused() -> None:
    registry = EventRegistry()

    @registry.event_type(ACQUIRED)
    class BookAcquired(BaseModel):
        title: str

    with pytest.raises(DeclarationError, match=r"already declared for .*BookAcquired"):

        @registry.event_type(ACQUIRED)
        class BookBought(BaseModel):
            title: str


def test_one_class_under_two_names_is_refused() -> None:
    registry = EventRegistry()

    @registry.event_type(ACQUIRED)
    class BookAcquired(BaseModel):
        title: str

    with pytest.raises(DeclarationError, match=f"already declared as event type '{ACQUIRED}'"):
        registry.declare(ACQUIRED_V2, BookAcquired)


def test_declaring_the_same_pair_again_changes_nothing() -> None:
    registry = EventRegistry()

    class BookAcquired(BaseModel):
        title: str

    first = registry.declare(ACQUIRED, BookAcquired)
    assert registry.declare(ACQUIRED, BookAcquired) is first
    assert len(registry) == 1


def test_a_re_executed_definition_replaces_the_earlier_class() -> None:
    registry = EventRegistry()
    classes = []
    for _ in range(2):  # as when a module is reloaded or a notebook cell runs again

        @registry.event_type(ACQUIRED)
        class BookAcquired(BaseModel):
            title: str

        classes.append(BookAcquired)

    declaration = registry.declaration_for(ACQUIRED)
    assert declaration is not None
    assert declaration.model is classes[1]
    assert registry.declaration_of(classes[0]) is None


def test_only_plain_models_can_be_declared() -> None:
    registry = EventRegistry()

    class NotAModel:
        title: str

    class Titles(RootModel[list[str]]):
        pass

    with pytest.raises(DeclarationError, match="BaseModel subclass"):
        registry.declare(ACQUIRED, NotAModel)  # type: ignore[arg-type]
    with pytest.raises(DeclarationError, match="RootModel"):
        registry.declare(ACQUIRED, Titles)


def test_registries_are_isolated_from_each_other_and_from_the_default() -> None:
    name = "io.eventsourcingdb.tests.isolated-book-acquired"
    first, second = EventRegistry(), EventRegistry()

    class BookAcquired(BaseModel):
        title: str

    class OtherBookAcquired(BaseModel):
        isbn: str

    first.declare(name, BookAcquired)
    second.declare(name, OtherBookAcquired)
    second.declare(name + ".v2", BookAcquired)
    assert first.declaration_for(name).model is BookAcquired  # type: ignore[union-attr]
    assert second.declaration_for(name).model is OtherBookAcquired  # type: ignore[union-attr]
    assert name not in default_registry
    assert BookAcquired not in default_registry


def test_the_module_decorators_use_the_default_registry() -> None:
    name = "io.eventsourcingdb.tests.default-registry-declared"

    @event_type(name)
    class Declared(BaseModel):
        value: int

    @event_type(name + ".v2")
    class DeclaredV2(BaseModel):
        value: int
        unit: str

    @upcaster(name, to=DeclaredV2)
    def add_unit(old: JsonObject) -> DeclaredV2:
        return DeclaredV2(value=int(str(old["value"])), unit="pieces")

    assert default_registry.declaration_of(Declared) is not None
    upcast = default_registry.upcaster_for(name)
    assert upcast is not None
    assert upcast.function is add_unit
    assert default_registry.current_type(name) == name + ".v2"


class _V1(BaseModel):
    title: str


class _V2(BaseModel):
    title: str
    author: str


class _V3(BaseModel):
    title: str
    authors: list[str]


def _versions() -> EventRegistry:
    registry = EventRegistry()
    registry.declare(ACQUIRED, _V1)
    registry.declare(ACQUIRED_V2, _V2)
    registry.declare(ACQUIRED_V3, _V3)
    return registry


def test_upcasters_chain_to_the_current_type() -> None:
    registry = _versions()

    @registry.upcaster(_V1, to=_V2)
    def v1_to_v2(old: _V1) -> _V2:
        return _V2(title=old.title, author="unknown")

    @registry.upcaster(ACQUIRED_V2, to=_V3)
    def v2_to_v3(old: JsonObject) -> JsonObject:
        return {"title": old["title"], "authors": [old["author"]]}

    chain = registry.upcast_chain(ACQUIRED)
    assert [(step.from_type, step.to_type) for step in chain] == [
        (ACQUIRED, ACQUIRED_V2),
        (ACQUIRED_V2, ACQUIRED_V3),
    ]
    assert chain[0].from_model is _V1
    assert chain[1].from_model is None
    assert registry.current_type(ACQUIRED) == ACQUIRED_V3
    assert registry.current_type(ACQUIRED_V3) == ACQUIRED_V3
    assert [step.from_type for step in registry.upcasters] == [ACQUIRED, ACQUIRED_V2]


def test_an_upcaster_from_a_type_without_a_model_makes_the_type_readable() -> None:
    registry = EventRegistry()
    registry.declare(ACQUIRED_V2, _V2)
    registry.add_upcaster(
        ACQUIRED, to=_V2, function=lambda old: {"title": old["title"], "author": "unknown"}
    )
    assert registry.knows(ACQUIRED)
    assert ACQUIRED not in registry


def test_an_upcaster_to_an_undeclared_model_is_refused() -> None:
    registry = EventRegistry()
    registry.declare(ACQUIRED, _V1)
    with pytest.raises(DeclarationError, match="not declared in this registry"):
        registry.add_upcaster(ACQUIRED, to=_V2, function=lambda old: old)


def test_an_upcaster_from_an_undeclared_model_is_refused() -> None:
    registry = EventRegistry()
    registry.declare(ACQUIRED_V2, _V2)
    with pytest.raises(DeclarationError, match="needs that model declared"):
        registry.add_upcaster(_V1, to=_V2, function=lambda old: _V2(title=old.title, author=""))


def test_a_second_upcaster_from_the_same_type_is_refused() -> None:
    registry = _versions()
    registry.add_upcaster(ACQUIRED, to=_V2, function=lambda old: old)
    with pytest.raises(DeclarationError, match="already has an upcaster"):
        registry.add_upcaster(ACQUIRED, to=_V3, function=lambda old: old)


def test_an_upcaster_to_its_own_type_is_refused() -> None:
    registry = _versions()
    with pytest.raises(DeclarationError, match="same type"):
        registry.add_upcaster(ACQUIRED, to=_V1, function=lambda old: old)


def test_a_cycle_of_upcasters_is_refused() -> None:
    registry = _versions()
    registry.add_upcaster(ACQUIRED, to=_V2, function=lambda old: old)
    registry.add_upcaster(ACQUIRED_V2, to=_V3, function=lambda old: old)
    with pytest.raises(DeclarationError, match="cycle"):
        registry.add_upcaster(ACQUIRED_V3, to=_V1, function=lambda old: old)


def test_a_malformed_from_type_is_refused() -> None:
    registry = _versions()
    with pytest.raises(DeclarationError, match="from_type"):
        registry.add_upcaster("book-acquired", to=_V2, function=lambda old: old)


def test_the_registry_repr_counts_its_content() -> None:
    registry = _versions()
    registry.add_upcaster(ACQUIRED, to=_V2, function=lambda old: old)
    assert repr(registry) == "EventRegistry(<3 event types, 1 upcasters>)"
