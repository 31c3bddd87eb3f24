"""The options of `read_events` under the official SDK 2.2.4's module path; see
`eventsourcingdb.options`."""

from eventsourcingdb.options import (
    IfEventIsMissingDuringRead,
    Order,
    ReadEventsOptions,
    ReadFromLatestEvent,
)

__all__ = ["IfEventIsMissingDuringRead", "Order", "ReadEventsOptions", "ReadFromLatestEvent"]
