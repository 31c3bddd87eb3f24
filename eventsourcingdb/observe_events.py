"""The options of `observe_events` under the official SDK 2.2.4's module path; see
`eventsourcingdb.options`."""

from eventsourcingdb.options import (
    IfEventIsMissingDuringObserve,
    ObserveEventsOptions,
    ObserveFromLatestEvent,
)

__all__ = ["IfEventIsMissingDuringObserve", "ObserveEventsOptions", "ObserveFromLatestEvent"]
