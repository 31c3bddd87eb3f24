"""`EventRegistry`: which model class stands for which event type, and how old types upcast.

A registry maps event type names to pydantic models (both ways), keeps each model's generated
schema, and holds the upcasters that turn stored events of retired types into current models.
Every check runs when a declaration is made, so mistakes surface at import time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from pydantic import BaseModel, JsonValue, RootModel

from eventsourcingdb._validation import check_event_type
from eventsourcingdb.errors import InvalidArgumentError
from eventsourcingdb.models.errors import DeclarationError
from eventsourcingdb.models.schema import SchemaEvolution, event_schema

__all__ = ["EventDeclaration", "EventRegistry", "JsonObject", "Upcaster", "default_registry"]

JsonObject = dict[str, JsonValue]
"""Event data as a JSON object: what raw upcasters receive and may return."""

M = TypeVar("M", bound=BaseModel)
O = TypeVar("O", bound=BaseModel)  # noqa: E741 - the old model of an upcaster
N = TypeVar("N", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class EventDeclaration:
    """One declared event type: its name, its model and the JSON Schema generated from it, and
    how the model may change once that schema is registered (`evolution`)."""

    name: str
    model: type[BaseModel]
    _schema_text: str = field(repr=False)
    evolution: SchemaEvolution = SchemaEvolution.STRICT

    @property
    def schema(self) -> JsonObject:
        """The generated JSON Schema (a fresh copy on every access)."""
        schema: JsonObject = json.loads(self._schema_text)
        return schema

    @property
    def model_name(self) -> str:
        """The model's qualified name, e.g. `library.events.BookAcquired`."""
        return _qualified(self.model)


@dataclass(frozen=True, slots=True)
class Upcaster:
    """A step that turns data of the retired type `from_type` into data of `to_type`.

    `from_model` is set when the function takes an instance of the old model; otherwise it takes
    the stored data as a JSON object. It returns an instance of `to_model` or a JSON object.
    """

    from_type: str
    to_type: str
    to_model: type[BaseModel]
    function: Callable[[Any], BaseModel | JsonObject]
    from_model: type[BaseModel] | None = None


def _qualified(cls: type[Any]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _same_definition(left: object, right: object) -> bool:
    """Whether two objects are one definition executed twice (a reloaded module, a re-run cell)."""
    qualname = getattr(left, "__qualname__", None)
    return (
        isinstance(qualname, str)
        and not qualname.endswith("<lambda>")
        and qualname == getattr(right, "__qualname__", None)
        and getattr(left, "__module__", None) == getattr(right, "__module__", None)
    )


def _checked_name(name: object, what: str) -> str:
    try:
        return check_event_type(name, what)
    except InvalidArgumentError as error:
        raise DeclarationError(error.message) from None


class EventRegistry:
    """Event types and their models, both ways, plus the upcasters of retired types.

    Use the module's `default_registry` (through `@event_type` and `@upcaster`), or make your own
    for isolation: `registry = EventRegistry()` and `@registry.event_type("...")`.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._by_name: dict[str, EventDeclaration] = {}
        self._by_model: dict[type[BaseModel], EventDeclaration] = {}
        self._upcasters: dict[str, Upcaster] = {}
        self._generation = 0
        """Counts the changes (declarations, upcasters), so that what is derived from the
        registry (the typed line validators of reads) knows when to build anew."""

    # --- declaring ---------------------------------------------------------------------------

    def declare(
        self,
        name: str,
        model: type[BaseModel],
        *,
        evolution: SchemaEvolution = SchemaEvolution.STRICT,
    ) -> EventDeclaration:
        """Declare `model` as the data of the event type `name`; return the declaration.

        `evolution=SchemaEvolution.ADDITIVE` lets the model gain optional members later under
        the same type (its schema is generated open); the default allows no change at all.

        Raises `DeclarationError` for a malformed name, a class that is not a plain pydantic model,
        a model without a JSON Schema the server accepts, a name that is already declared for
        another class, or a class that is already declared under another name. Declaring a class
        again with the same module and qualified name (a reloaded module, a re-run notebook cell)
        replaces the earlier class.
        """
        name = _checked_name(name, "event type")
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise DeclarationError(
                f"{model!r} cannot be declared as event type {name!r}: an event type is declared "
                "on a pydantic BaseModel subclass"
            )
        if issubclass(model, RootModel):
            raise DeclarationError(
                f"{_qualified(model)} is a RootModel; event data are JSON objects, so declare "
                f"{name!r} on a BaseModel with named fields"
            )
        with self._lock:
            existing = self._by_name.get(name)
            if (
                existing is not None
                and existing.model is not model
                and not _same_definition(existing.model, model)
            ):
                raise DeclarationError(
                    f"event type {name!r} is already declared for {existing.model_name}; "
                    f"{_qualified(model)} cannot be declared under the same name: give one "
                    "of them another (versioned) name"
                )
            other = self._by_model.get(model)
            if other is not None and other.name != name:
                raise DeclarationError(
                    f"{_qualified(model)} is already declared as event type {other.name!r}; a "
                    f"class stands for one event type only, so it cannot also be {name!r}: "
                    "declare a separate class for the other type"
                )
            if existing is not None and existing.model is model:
                if existing.evolution is not evolution:
                    raise DeclarationError(
                        f"event type {name!r} is already declared with {existing.evolution}; "
                        f"it cannot also be declared with {evolution}"
                    )
                return existing
            declaration = EventDeclaration(
                name=name,
                model=model,
                _schema_text=json.dumps(event_schema(model, evolution=evolution)),
                evolution=evolution,
            )
            if existing is not None:
                del self._by_model[existing.model]
            self._by_name[name] = declaration
            self._by_model[model] = declaration
            self._generation += 1
            return declaration

    def event_type(
        self, name: str, *, evolution: SchemaEvolution = SchemaEvolution.STRICT
    ) -> Callable[[type[M]], type[M]]:
        """Class decorator: declare the decorated model as event type `name` (see `declare`)."""

        def decorate(model: type[M]) -> type[M]:
            self.declare(name, model, evolution=evolution)
            return model

        return decorate

    # --- upcasting ---------------------------------------------------------------------------

    @overload
    def add_upcaster(
        self,
        from_type: str,
        *,
        to: type[N],
        function: Callable[[JsonObject], N | JsonObject],
    ) -> Upcaster: ...

    @overload
    def add_upcaster(
        self,
        from_type: type[O],
        *,
        to: type[N],
        function: Callable[[O], N | JsonObject],
    ) -> Upcaster: ...

    def add_upcaster(
        self,
        from_type: str | type[BaseModel],
        *,
        to: type[BaseModel],
        function: Callable[[Any], BaseModel | JsonObject],
    ) -> Upcaster:
        """Declare that stored events of `from_type` are read as `to` through `function`.

        `from_type` is a type name (the function then takes the stored data as a JSON object) or
        a declared model (the function takes an instance of it). `to` must be declared here.
        Upcasters chain: `to`'s own type may have an upcaster too. Raises `DeclarationError` for
        a second upcaster from the same type, an undeclared target, or a cycle.
        """
        with self._lock:
            from_model: type[BaseModel] | None = None
            if isinstance(from_type, str):
                from_name = _checked_name(from_type, "from_type")
            else:
                source = self._by_model.get(from_type)
                if source is None:
                    raise DeclarationError(
                        f"the upcaster from {_qualified(from_type)} needs that model declared: "
                        "decorate it with @event_type(...) first, or pass its type name as a string"
                    )
                from_name, from_model = source.name, from_type
            target = self._by_model.get(to)
            if target is None:
                raise DeclarationError(
                    f"the upcaster from {from_name!r} targets {to!r}, which is not declared in "
                    "this registry: decorate the target model with @event_type(...) first"
                )
            if target.name == from_name:
                raise DeclarationError(
                    f"the upcaster from {from_name!r} targets the same type; an upcaster turns a "
                    "retired type into a newer one"
                )
            existing = self._upcasters.get(from_name)
            if existing is not None and not _same_definition(existing.function, function):
                raise DeclarationError(
                    f"event type {from_name!r} already has an upcaster (to {existing.to_type!r}); "
                    "a type is upcast one way only: chain further steps from the target type"
                )
            seen = [from_name, target.name]
            step = self._upcasters.get(target.name)
            while step is not None:
                if step.to_type in seen:
                    chain = " -> ".join([*seen, step.to_type])
                    raise DeclarationError(f"upcasters would form a cycle: {chain}")
                seen.append(step.to_type)
                step = self._upcasters.get(step.to_type)
            upcaster = Upcaster(
                from_type=from_name,
                to_type=target.name,
                to_model=to,
                function=function,
                from_model=from_model,
            )
            self._upcasters[from_name] = upcaster
            self._generation += 1
            return upcaster

    @overload
    def upcaster(
        self, from_type: str, *, to: type[N]
    ) -> Callable[
        [Callable[[JsonObject], N | JsonObject]], Callable[[JsonObject], N | JsonObject]
    ]: ...

    @overload
    def upcaster(
        self, from_type: type[O], *, to: type[N]
    ) -> Callable[[Callable[[O], N | JsonObject]], Callable[[O], N | JsonObject]]: ...

    def upcaster(
        self, from_type: str | type[BaseModel], *, to: type[BaseModel]
    ) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
        """Function decorator: declare the decorated function an upcaster (see `add_upcaster`)."""

        def decorate(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
            self.add_upcaster(from_type, to=to, function=function)
            return function

        return decorate

    # --- looking up --------------------------------------------------------------------------

    def declaration_for(self, name: str) -> EventDeclaration | None:
        """The declaration of the event type `name`, None if it is not declared."""
        return self._by_name.get(name)

    def declaration_of(self, model: type[BaseModel]) -> EventDeclaration | None:
        """The declaration of exactly `model` (not of a subclass), None if it is not declared."""
        return self._by_model.get(model)

    def upcaster_for(self, name: str) -> Upcaster | None:
        """The upcaster from the event type `name`, None if the type is not retired."""
        return self._upcasters.get(name)

    def upcast_chain(self, name: str) -> tuple[Upcaster, ...]:
        """The upcasters a stored event of type `name` passes through, oldest first."""
        chain: list[Upcaster] = []
        step = self._upcasters.get(name)
        while step is not None:
            chain.append(step)
            step = self._upcasters.get(step.to_type)
        return tuple(chain)

    def current_type(self, name: str) -> str:
        """The type that events of `name` are read as: the end of its upcaster chain."""
        chain = self.upcast_chain(name)
        return chain[-1].to_type if chain else name

    def knows(self, name: str) -> bool:
        """Whether events of type `name` can be read: declared, or upcast to a declared type."""
        return name in self._by_name or name in self._upcasters

    @property
    def declarations(self) -> tuple[EventDeclaration, ...]:
        """Every declaration, sorted by type name."""
        return tuple(self._by_name[name] for name in sorted(self._by_name))

    @property
    def upcasters(self) -> tuple[Upcaster, ...]:
        """Every upcaster, sorted by the type it upcasts from."""
        return tuple(self._upcasters[name] for name in sorted(self._upcasters))

    def __iter__(self) -> Iterator[EventDeclaration]:
        return iter(self.declarations)

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):
            return item in self._by_name
        return item in self._by_model

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(<{len(self._by_name)} event types, "
            f"{len(self._upcasters)} upcasters>)"
        )


default_registry = EventRegistry()
"""The registry `@event_type` and `@upcaster` use unless given another."""
