"""`RecordedEvent[T]`: a stored event whose data are an instance of its model `T`.

The typed data sit next to the untouched `Event` the server sent, so every envelope field (id,
time, subject, hashes, signature, trace context) stays available and verifiable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final, Generic, TypeVar

from pydantic import BaseModel

from eventsourcingdb.event import Event

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = ["RecordedEvent"]

T_co = TypeVar("T_co", bound=BaseModel, covariant=True)
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class RecordedEvent(Generic[T_co]):
    """A stored event with typed data: `data` is a `T_co`, `event` the envelope as received.

    After upcasting, `data` is an instance of the current model while `type` still names the type
    the event was stored with.
    """

    data: T_co
    event: Event

    @property
    def event_id(self) -> str:
        """The id: a decimal integer as a string, unique and gap-free across the whole store."""
        return self.event.event_id

    @property
    def time(self) -> datetime:
        """When the event was written (aware UTC)."""
        return self.event.time

    @property
    def subject(self) -> str:
        """What the event is about, e.g. `/books/42`."""
        return self.event.subject

    @property
    def type(self) -> str:
        """The type the event was stored with (before any upcasting)."""
        return self.event.type

    @property
    def source(self) -> str:
        """Where the event comes from (a URI)."""
        return self.event.source

    @property
    def spec_version(self) -> str:
        """The CloudEvents version (`1.0`)."""
        return self.event.spec_version

    @property
    def data_content_type(self) -> str:
        """The media type of the data (`application/json`)."""
        return self.event.data_content_type

    @property
    def predecessor_hash(self) -> str:
        """The hash of the event written just before this one."""
        return self.event.predecessor_hash

    @property
    def hash(self) -> str:
        """The event's hash, as the server computed it."""
        return self.event.hash

    @property
    def signature(self) -> str | None:
        """The server's signature, None when it signs nothing."""
        return self.event.signature

    @property
    def trace_parent(self) -> str | None:
        """The W3C `traceparent` the event was written with, if any."""
        return self.event.trace_parent

    @property
    def trace_state(self) -> str | None:
        """The W3C `tracestate` the event was written with, if any."""
        return self.event.trace_state

    def verify_hash(self) -> None:
        """Recompute the hash over the data as received; raise `HashMismatchError` on a mismatch."""
        self.event.verify_hash()

    def verify_signature(self, verification_key: Ed25519PublicKey) -> None:
        """Verify the hash, then the server's Ed25519 signature with `verification_key`."""
        self.event.verify_signature(verification_key)


_new: Final = object.__new__
_set_data: Final = RecordedEvent.__dict__["data"].__set__
_set_event: Final = RecordedEvent.__dict__["event"].__set__


def recorded(data: M, event: Event) -> RecordedEvent[M]:
    """`RecordedEvent(data=data, event=event)` through its slots: reads build one per event.

    The frozen dataclass's `__init__` sets each field through `object.__setattr__`; this sets
    the same two slots directly, and nothing else differs.
    """
    instance: RecordedEvent[M] = _new(RecordedEvent)
    _set_data(instance, data)
    _set_event(instance, event)
    return instance
