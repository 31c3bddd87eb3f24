"""`Dispatcher`: which handler of a projection takes a stored event, and calling it.

One implementation for the runner and the testing helpers: a stored event's type is upcast to
the type it is read as, its model looked up in the registry, and the first handler along the
model's class tree takes it. Events no handler takes are not decoded at all.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from eventsourcingdb.event import Event
from eventsourcingdb.models import EventRegistry, RecordedEvent
from eventsourcingdb.projections.checkpoints import CheckpointStore
from eventsourcingdb.projections.projection import HandlerInfo, Projection
from eventsourcingdb.telemetry import Instrumentation

__all__ = ["Dispatcher", "within"]


def within(subject: str, root: str, *, recursive: bool) -> bool:
    """Whether events of `subject` reach a projection of `root` (observing it as the server
    does: the subject itself, and with `recursive` every subject below it)."""
    if subject == root:
        return True
    if not recursive:
        return False
    return root == "/" or subject.startswith(root.rstrip("/") + "/")


class Dispatcher:
    """Calls the handlers of `projection`, decoding events with `decode`; `checkpoints` runs
    blocking handlers with the blocking form of its transaction."""

    def __init__(
        self,
        projection: Projection,
        registry: EventRegistry,
        decode: Callable[[Event], RecordedEvent[BaseModel]],
        checkpoints: CheckpointStore,
        telemetry: Instrumentation,
        name: str,
    ) -> None:
        self.projection = projection
        self._telemetry = telemetry
        self._traced = {"eventsourcingdb.projection": name}
        self._registry = registry
        self._decode = decode
        self._checkpoints = checkpoints
        self._handlers = type(projection)._spec.handlers
        self._by_type: dict[str, HandlerInfo | None] = {}

    def handler_for(self, event_type: str) -> HandlerInfo | None:
        """The handler of stored events of `event_type` (after upcasting), None if none."""
        try:
            return self._by_type[event_type]
        except KeyError:
            pass
        registry = self._registry
        declaration = registry.declaration_for(registry.current_type(event_type))
        found: HandlerInfo | None = None
        if declaration is not None:
            for model in declaration.model.__mro__:
                found = self._handlers.get(model)
                if found is not None or model is BaseModel:
                    break
        self._by_type[event_type] = found
        return found

    async def call(
        self, handler: HandlerInfo, event: Event, tx: Any, failures: list[BaseException]
    ) -> None:
        """Decode `event` and call its handler, in a CONSUMER span that continues the event's
        trace; a failure is noted in `failures` as the handler's (so that it can be told from
        the store's, after the transaction ended)."""
        projection = self.projection
        try:
            with self._telemetry.consuming(event, "process", self._traced):
                await self._handle(handler, projection, event, tx)
        except Exception as error:
            failures.append(error)
            raise

    async def _handle(
        self, handler: HandlerInfo, projection: Projection, event: Event, tx: Any
    ) -> None:
        """Decode `event` and call `handler` the way it is written (async, or blocking with the
        blocking form of `tx`)."""
        recorded = self._decode(event)
        if handler.is_async:
            if handler.takes_tx:
                await handler.function(projection, recorded, tx)
            else:
                await handler.function(projection, recorded)
        elif handler.takes_tx:
            function = functools.partial(handler.function, projection, recorded)
            await self._checkpoints.run_sync(tx, function)
        else:
            handler.function(projection, recorded)

    async def hook(self, method: Callable[[Any], Any], tx: Any) -> None:
        """Call `setup` or `reset`, async or not (the base class's `setup` does nothing)."""
        if getattr(method, "__func__", None) is Projection.setup:
            return
        if inspect.iscoroutinefunction(method):
            await method(tx)
        else:
            await self._checkpoints.run_sync(tx, method)
