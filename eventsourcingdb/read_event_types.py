"""`EventType` under the official SDK 2.2.4's module path; see `eventsourcingdb.event_type`."""

from eventsourcingdb.event_type import EventType

__all__ = ["EventType"]
