"""Given/when/then scenarios: specifications of aggregates and deciders that need no server.

```python
given(Book, BookAcquired(title="Solaris")).when(lambda book: book.borrow("/members/7")).then(
    BookBorrowed(member="/members/7")
)
given(Book).when(lambda book: book.borrow("/members/7")).then_raises(BookNotInCatalogue)
given(book_decider, BookAcquired(title="Solaris")).when(Borrow("/members/7")).then(...)
```

Given past events (applied through the handlers, or folded by the decider), when a command runs,
then exactly the expected events are recorded, or the expected error is raised. A failing
scenario raises `ScenarioFailure` (an `AssertionError`) that shows the story and a line diff of
expected and recorded events.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, cast, overload

from pydantic import BaseModel

from eventsourcingdb._validation import check_written_subject
from eventsourcingdb.aggregates.aggregate import Aggregate
from eventsourcingdb.aggregates.decider import Decider
from eventsourcingdb.errors import InvalidArgumentError

__all__ = ["AggregateScenario", "DeciderScenario", "ScenarioFailure", "given"]

A = TypeVar("A", bound=Aggregate)
S = TypeVar("S")
C = TypeVar("C")
E = TypeVar("E", bound=BaseModel)
X = TypeVar("X", bound=BaseException)

_DEFAULT_SUBJECT = "/scenario"


class ScenarioFailure(AssertionError):
    """A given/when/then scenario did not turn out as specified; the message shows how."""


def _line(event: BaseModel) -> str:
    data = json.dumps(event.model_dump(mode="json", by_alias=True), ensure_ascii=False)
    return f"{type(event).__qualname__} {data}"


def _listing(events: Sequence[BaseModel]) -> str:
    if not events:
        return "    (none)"
    return "\n".join(f"    {_line(event)}" for event in events)


def _describe(command: object) -> str:
    if isinstance(command, BaseModel):
        return _line(command)
    name = getattr(command, "__qualname__", None)
    return name if isinstance(name, str) else repr(command)


def _same(expected: Sequence[BaseModel], recorded: Sequence[BaseModel]) -> bool:
    return len(expected) == len(recorded) and all(
        type(left) is type(right) and left == right
        for left, right in zip(expected, recorded, strict=True)
    )


def _diff(expected: Sequence[BaseModel], recorded: Sequence[BaseModel]) -> str:
    lines = difflib.ndiff([_line(e) for e in expected], [_line(e) for e in recorded])
    return "\n".join(f"    {line.rstrip()}" for line in lines)


class _Story:
    """The given and when of a scenario, to tell it in a failure message."""

    def __init__(self, title: str, given: Sequence[BaseModel], command: object) -> None:
        self._title = title
        self._given = given
        self._command = command

    def fail(self, problem: str, detail: str) -> ScenarioFailure:
        return ScenarioFailure(
            f"{self._title}: {problem}\n"
            f"  given:\n{_listing(self._given)}\n"
            f"  when: {_describe(self._command)}\n"
            f"{detail}"
        )


def _expect_events(
    story: _Story, expected: Sequence[BaseModel], recorded: Sequence[BaseModel]
) -> None:
    if not _same(expected, recorded):
        raise story.fail(
            "the recorded events differ from the expected ones",
            f"  then (- expected, + recorded):\n{_diff(expected, recorded)}",
        )


def _expect_error(
    story: _Story,
    error_type: type[X],
    match: str | None,
    raised: BaseException | None,
    recorded: Sequence[BaseModel],
) -> X:
    wanted = error_type.__qualname__ + (f" matching {match!r}" if match else "")
    if raised is None:
        raise story.fail(
            f"expected {wanted}, but nothing was raised",
            f"  recorded instead:\n{_listing(recorded)}",
        )
    if not isinstance(raised, error_type):
        raise story.fail(
            f"expected {wanted}, but {type(raised).__qualname__} was raised",
            f"  raised: {type(raised).__qualname__}: {raised}",
        ) from raised
    if match is not None and not re.search(match, str(raised)):
        raise story.fail(
            f"expected {wanted}, but its message does not match",
            f"  raised: {type(raised).__qualname__}: {raised}",
        ) from raised
    return raised


class AggregateScenario(Generic[A]):
    """Given events of an aggregate type; `when` a command (a function of the aggregate) runs."""

    def __init__(
        self,
        aggregate_type: type[A],
        given: Sequence[BaseModel],
        subject: str,
        command: Callable[[A], object] | None = None,
    ) -> None:
        self._type = aggregate_type
        self._given = tuple(given)
        self._subject = subject
        self._command = command
        self._build()  # a broken history fails at `given`, where it was written

    def _build(self) -> A:
        aggregate = self._type.new(self._subject)
        for position, event in enumerate(self._given):
            aggregate._replay(event, event_id=str(position))
        return aggregate

    @property
    def aggregate(self) -> A:
        """A fresh aggregate with the given events applied (its version counts them from 0)."""
        return self._build()

    def when(self, command: Callable[[A], object]) -> AggregateScenario[A]:
        """The command: a function that calls the aggregate's methods (`lambda b: b.borrow(m)`)."""
        return AggregateScenario(self._type, self._given, self._subject, command)

    def _run(self) -> tuple[A, BaseException | None]:
        if self._command is None:
            raise InvalidArgumentError("say what happens with .when(...) before .then(...)")
        aggregate = self._build()
        try:
            self._command(aggregate)
        except Exception as error:  # the scenario reports whatever was raised
            return aggregate, error
        return aggregate, None

    def _story(self) -> _Story:
        return _Story(f"{self._type.__qualname__} at {self._subject}", self._given, self._command)

    def then(self, *expected: BaseModel) -> A:
        """Assert the command recorded exactly `expected` (none: nothing); return the aggregate."""
        aggregate, raised = self._run()
        if raised is not None:
            raise self._story().fail(
                f"expected events, but the command raised {type(raised).__qualname__}: {raised}",
                f"  expected:\n{_listing(expected)}",
            ) from raised
        _expect_events(self._story(), expected, aggregate.pending)
        return aggregate

    def then_raises(self, error_type: type[X], *, match: str | None = None) -> X:
        """Assert the command raised `error_type` (with `match` searched in its message)."""
        aggregate, raised = self._run()
        return _expect_error(self._story(), error_type, match, raised, aggregate.pending)


class DeciderScenario(Generic[S, C, E]):
    """Given events folded by a decider; `when` a command is decided on."""

    def __init__(
        self,
        decider: Decider[S, C, E],
        given: Sequence[E],
        command: tuple[C] | None = None,
    ) -> None:
        self._decider = decider
        self._given = tuple(given)
        self._command = command
        self._state = decider.fold(self._given)

    @property
    def state(self) -> S:
        """The state after the given events."""
        return self._state

    def when(self, command: C) -> DeciderScenario[S, C, E]:
        """The command to decide on."""
        return DeciderScenario(self._decider, self._given, (command,))

    def _run(self) -> tuple[list[E], BaseException | None]:
        if self._command is None:
            raise InvalidArgumentError("say what happens with .when(...) before .then(...)")
        try:
            return list(self._decider.decide(self._state, self._command[0])), None
        except Exception as error:  # the scenario reports whatever was raised
            return [], error

    def _story(self) -> _Story:
        command = self._command[0] if self._command is not None else None
        return _Story("the decider", self._given, command)

    def then(self, *expected: E) -> S:
        """Assert the decision is exactly `expected` (none: nothing); return the state after it."""
        decided, raised = self._run()
        if raised is not None:
            raise self._story().fail(
                f"expected events, but deciding raised {type(raised).__qualname__}: {raised}",
                f"  expected:\n{_listing(expected)}",
            ) from raised
        _expect_events(self._story(), expected, decided)
        return self._decider.fold(decided, self._state)

    def then_raises(self, error_type: type[X], *, match: str | None = None) -> X:
        """Assert deciding raised `error_type` (with `match` searched in its message)."""
        decided, raised = self._run()
        return _expect_error(self._story(), error_type, match, raised, decided)


@overload
def given(
    subject_of: type[A], *events: BaseModel, subject: str = _DEFAULT_SUBJECT
) -> AggregateScenario[A]: ...


@overload
def given(subject_of: Decider[S, C, E], *events: E) -> DeciderScenario[S, C, E]: ...


def given(
    subject_of: type[Aggregate] | Decider[S, C, E],
    *events: BaseModel,
    subject: str = _DEFAULT_SUBJECT,
) -> AggregateScenario[Any] | DeciderScenario[S, C, E]:
    """Start a scenario: an aggregate type (at `subject`) or a decider, with past `events`."""
    for event in events:
        if not isinstance(event, BaseModel):
            raise InvalidArgumentError(
                f"given takes events (pydantic models), got {type(event).__name__}"
            )
    if isinstance(subject_of, Decider):
        # The overload promised events of the decider's type; they are checked as models above.
        return DeciderScenario(subject_of, cast("Sequence[E]", events))
    if isinstance(subject_of, type) and issubclass(subject_of, Aggregate):
        return AggregateScenario(subject_of, events, check_written_subject(subject))
    raise InvalidArgumentError(
        f"given takes an Aggregate subclass or a Decider, got {subject_of!r}"
    )
