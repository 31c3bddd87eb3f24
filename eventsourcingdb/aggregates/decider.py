"""`Decider`: the functional form of an aggregate, three plain functions and an initial state.

`decide(state, command) -> events` checks rules and says what happens; `evolve(state, event) ->
state` folds one event into the state; `initial_state` is the state of an empty subject. The same
`Repository` runs it (`execute`), with the same optimistic concurrency and retries.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

from eventsourcingdb.aggregates.errors import AggregateDefinitionError
from eventsourcingdb.models import RecordedEvent

__all__ = ["Decider", "DecisionResult"]

S = TypeVar("S")
C = TypeVar("C")
E = TypeVar("E", bound=BaseModel)


class _Initial(enum.Enum):
    """Stands for "the decider's initial state" where None could be a state itself."""

    STATE = enum.auto()


@dataclass(frozen=True, slots=True, kw_only=True)
class Decider(Generic[S, C, E]):
    """A decision function, an evolution function and an initial state.

    Keep the state immutable (a frozen dataclass, a tuple): `evolve` returns a new state, and
    `initial_state` is shared by every run. `recursive=True` reads the subject's whole tree.
    """

    decide: Callable[[S, C], Iterable[E]]
    evolve: Callable[[S, E], S]
    initial_state: S
    recursive: bool = False

    def __post_init__(self) -> None:
        for name in ("decide", "evolve"):
            if not callable(getattr(self, name)):
                raise AggregateDefinitionError(f"Decider({name}=...) must be a function")
        if not isinstance(self.recursive, bool):
            raise AggregateDefinitionError(
                f"Decider(recursive=...) must be True or False, got {self.recursive!r}"
            )

    def fold(self, events: Iterable[E], state: S | _Initial = _Initial.STATE) -> S:
        """The state after `events`, starting from `state` (the initial state by default)."""
        current = self.initial_state if isinstance(state, _Initial) else state
        for event in events:
            current = self.evolve(current, event)
        return current


@dataclass(frozen=True, slots=True)
class DecisionResult(Generic[S, E]):
    """What `Repository.execute` did: the state after the decision and the events it wrote."""

    state: S
    """The state with the new events applied."""
    events: tuple[RecordedEvent[E], ...]
    """The events written, empty when the decision produced none (then nothing was written)."""
    version: str | None
    """The id of the subject's latest event after the decision, None if it still has none."""
