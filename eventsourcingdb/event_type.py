"""`EventType`: an event type the server knows, whether it has events, and its schema."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class EventType:
    """An event type known to the server: it has events, or a registered schema, or both.

    `schema` is the registered JSON Schema, None if none is registered.
    """

    type: str
    has_events: bool
    schema: dict[str, Any] | None = None

    @staticmethod
    def parse(unknown_object: dict[str, Any]) -> EventType:
        """An event type from the server's JSON form `{"type", "hasEvents", "schema"?}`.

        Raises `InvalidArgumentError` (a `ValidationError`) for anything else.
        """
        from eventsourcingdb._protocol.envelopes import MalformedItem, event_type_from_v2
        from eventsourcingdb.errors import InvalidArgumentError

        try:
            return event_type_from_v2(unknown_object)
        except MalformedItem as error:
            raise InvalidArgumentError(f"not a valid event type: {error}") from None

    def __hash__(self) -> int:
        schema = None
        if self.schema is not None:
            schema = json.dumps(self.schema, sort_keys=True, default=repr)
        return hash((self.type, self.has_events, schema))

    @property
    def event_type(self) -> str:
        """The type's name (the 1.x official client's attribute name)."""
        return self.type

    @property
    def is_phantom(self) -> bool:
        """True while the type has a schema but no events (the 1.x official client's flag)."""
        return not self.has_events


__all__ = ["EventType"]
