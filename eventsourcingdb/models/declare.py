"""The decorators users write: `@event_type(name)` on models, `@upcaster(...)` on functions.

Both act on `default_registry` unless given `registry=`; an `EventRegistry` offers the same
decorators as methods for apps that keep their types apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from pydantic import BaseModel

from eventsourcingdb.models.registry import EventRegistry, JsonObject, default_registry
from eventsourcingdb.models.schema import SchemaEvolution

__all__ = ["event_type", "upcaster"]

M = TypeVar("M", bound=BaseModel)
O = TypeVar("O", bound=BaseModel)  # noqa: E741 - the old model of an upcaster
N = TypeVar("N", bound=BaseModel)


def event_type(
    name: str,
    *,
    registry: EventRegistry | None = None,
    evolution: SchemaEvolution = SchemaEvolution.STRICT,
) -> Callable[[type[M]], type[M]]:
    """Declare the decorated pydantic model as the data of the event type `name`.

    ```python
    @event_type("io.eventsourcingdb.library.book-acquired")
    class BookAcquired(BaseModel):
        title: str
    ```

    The name is checked at once (reverse-domain form), and so are duplicates: a name declared
    for another class, or a class declared under another name, raise `DeclarationError`.
    `evolution=SchemaEvolution.ADDITIVE` lets the model gain optional members later without a
    new type (see `SchemaEvolution`).
    """
    chosen = default_registry if registry is None else registry
    return chosen.event_type(name, evolution=evolution)


@overload
def upcaster(
    from_type: str, *, to: type[N], registry: EventRegistry | None = None
) -> Callable[[Callable[[JsonObject], N | JsonObject]], Callable[[JsonObject], N | JsonObject]]: ...


@overload
def upcaster(
    from_type: type[O], *, to: type[N], registry: EventRegistry | None = None
) -> Callable[[Callable[[O], N | JsonObject]], Callable[[O], N | JsonObject]]: ...


def upcaster(
    from_type: str | type[BaseModel],
    *,
    to: type[BaseModel],
    registry: EventRegistry | None = None,
) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Declare the decorated function as the upcaster from `from_type` to the model `to`.

    With a type name, the function takes the stored data as a JSON object; with a declared
    model, it takes an instance of that model. It returns an instance of `to` (or its data as a
    JSON object). Stored events of `from_type` are then read as `to`, and writing `from_type` is
    refused.
    """
    chosen = default_registry if registry is None else registry
    return chosen.upcaster(from_type, to=to)
