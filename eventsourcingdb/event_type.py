"""`EventType`: an event type the server knows, whether it has events, and its schema."""

from __future__ import annotations

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

    @property
    def event_type(self) -> str:
        """The type's name (the 1.x official client's attribute name)."""
        return self.type

    @property
    def is_phantom(self) -> bool:
        """True while the type has a schema but no events (the 1.x official client's flag)."""
        return not self.has_events


__all__ = ["EventType"]
