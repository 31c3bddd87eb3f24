"""`Projection` and `Reactor`: plain Python classes whose typed handlers follow the event log.

```python
class BooksOnLoan(Projection):
    subject = "/books"                      # observed with its nested subjects

    @handles(BookBorrowed)
    async def _borrowed(self, event: RecordedEvent[BookBorrowed], tx: AsyncConnection) -> None:
        await tx.execute(loans.insert().values(book=event.subject, member=event.data.member))
```

A handler takes the `RecordedEvent` (typed data, id, subject, time, ...) and, if it wants one,
the transaction of the checkpoint store (`tx`): on a SQL store the read model and the
checkpoint commit together. Handlers are `async def`, or `def` for blocking code (a `def`
handler's `tx` is the blocking form, such as a `sqlalchemy.Connection`). Options are class
attributes (an instance may override them, e.g. its `name`); `setup(tx)` creates what the read
model needs, `reset(tx)` empties it for a rebuild in place.

A `Reactor` is a projection whose handlers act on the world (send mail, call services, issue
commands): the same runner, the same checkpoints, delivered at least once, one event per commit.
"""

from __future__ import annotations

import enum
import inspect
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

from pydantic import BaseModel

from eventsourcingdb._validation import check_subject
from eventsourcingdb.aggregates.handlers import collect_handlers
from eventsourcingdb.aggregates.retrying import Backoff
from eventsourcingdb.errors import InvalidArgumentError
from eventsourcingdb.projections.errors import ProjectionDefinitionError

if TYPE_CHECKING:
    from eventsourcingdb.projections._worker import Worker
    from eventsourcingdb.projections.status import ProjectionStatus

__all__ = ["OnError", "OnStoreMismatch", "Projection", "Reactor", "StartAt"]

_NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}")
_KEBAB: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


class OnError(enum.StrEnum):
    """What a projection does once a handler failed on an event `retries` times more."""

    STOP = "stop"
    """Stop the projection (phase `FAILED`) with its checkpoint before the event (the default)."""
    PARK = "park"
    """Record the event and its error as parked, move the checkpoint past it and go on."""


class OnStoreMismatch(enum.StrEnum):
    """What a projection does when the server no longer holds its checkpoint's event."""

    RAISE = "raise"
    """Stop with `StoreMismatchError` (the default): a person decides."""
    REBUILD = "rebuild"
    """Reset the read model (`reset(tx)`) and the checkpoint in one transaction, and replay."""


class StartAt(enum.StrEnum):
    """Where a projection without a checkpoint starts."""

    BEGINNING = "beginning"
    """With the first event of its subject (the default)."""
    NOW = "now"
    """After the newest event of its subject when it first starts: history is not replayed
    (for a reactor that must not act on the past, such as one that sends mail)."""


@dataclass(frozen=True, slots=True)
class HandlerInfo:
    """One handler of a projection class: the function and how to call it."""

    function: Callable[..., Any]
    name: str
    is_async: bool
    takes_tx: bool


@dataclass(frozen=True, slots=True)
class ProjectionSpec:
    """The handlers a projection class declared, by event model, checked when the class is made."""

    handlers: Mapping[type[BaseModel], HandlerInfo]


@dataclass(frozen=True, slots=True)
class ProjectionOptions:
    """The options of one projection instance, checked when it is added to a runner."""

    name: str
    subject: str
    recursive: bool
    batch_size: int
    batch_seconds: float
    on_error: OnError
    retries: int
    retry_backoff: Backoff
    on_store_mismatch: OnStoreMismatch
    start_at: StartAt


def _qualified(cls: type[object]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def default_name(cls: type[object]) -> str:
    """The name of a projection class that sets none: `BooksOnLoan` -> `books-on-loan`."""
    return _KEBAB.sub("-", cls.__name__).lower()


def _handler_info(klass: type[Projection], name: str, function: Callable[..., Any]) -> HandlerInfo:
    where = f"{_qualified(klass)}.{name}"
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        raise ProjectionDefinitionError(f"{where} is not a function a handler can be") from None
    positional = [
        parameter
        for parameter in signature.parameters.values()
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
    ]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values())
    required_keywords = [
        p.name
        for p in signature.parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.default is p.empty
    ]
    if required_keywords or not (2 <= len(positional) <= 3 or (variadic and len(positional) <= 3)):
        raise ProjectionDefinitionError(
            f"{where} must take (self, event) or (self, event, tx): the recorded event and, if "
            f"it writes a read model, the checkpoint store's transaction; it takes {signature}"
        )
    return HandlerInfo(
        function=function,
        name=name,
        is_async=inspect.iscoroutinefunction(function),
        takes_tx=len(positional) == 3 or variadic,
    )


def _collect_handlers(cls: type[Projection]) -> dict[type[BaseModel], HandlerInfo]:
    """The handler of each event model, with how to call it (see `collect_handlers`)."""
    infos: dict[str, HandlerInfo] = {}
    handlers: dict[type[BaseModel], HandlerInfo] = {}
    for model, (name, function) in collect_handlers(
        cls, Projection, ProjectionDefinitionError
    ).items():
        if name not in infos:
            infos[name] = _handler_info(cls, name, function)
        handlers[model] = infos[name]
    return handlers


def _check_int(value: object, what: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ProjectionDefinitionError(
            f"{what} must be an integer of at least {minimum}, got {value!r}"
        )
    return value


def _check_seconds(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProjectionDefinitionError(f"{what} must be a number of seconds, got {value!r}")
    if value < 0:
        raise ProjectionDefinitionError(f"{what} must not be negative, got {value!r}")
    return float(value)


def _check_enum(value: object, enum_type: type[enum.StrEnum], what: str) -> Any:
    if isinstance(value, enum_type):
        return value
    allowed = ", ".join(f"{enum_type.__name__}.{member.name}" for member in enum_type)
    raise ProjectionDefinitionError(f"{what} must be one of {allowed}, got {value!r}")


def check_name(name: object, where: str) -> str:
    """A projection name: 1 to 200 letters, digits and `._:/-`, starting with a letter or digit."""
    if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name):
        raise ProjectionDefinitionError(
            f"the name of {where} must be 1 to 200 letters, digits and '._:/-', starting with a "
            f"letter or digit (it keys the checkpoint), got {name!r}"
        )
    return name


def options_of(projection: Projection) -> ProjectionOptions:
    """The options of `projection` (class attributes, or the instance's own), all checked."""
    cls = type(projection)
    where = _qualified(cls)
    name = check_name(projection.name, where)
    subject = projection.subject
    if subject is None:
        raise ProjectionDefinitionError(
            f"{where} declares no subject: set subject = '/...' (the subject whose events it "
            "follows; '/' for all of them)"
        )
    try:
        subject = check_subject(subject, f"the subject of {where}")
    except InvalidArgumentError as error:
        raise ProjectionDefinitionError(error.message) from None
    recursive = projection.recursive
    if not isinstance(recursive, bool):
        raise ProjectionDefinitionError(
            f"recursive of {where} must be True or False, got {recursive!r}"
        )
    backoff = projection.retry_backoff
    if not isinstance(backoff, Backoff):
        raise ProjectionDefinitionError(
            f"retry_backoff of {where} must be a Backoff(...), got {backoff!r}"
        )
    return ProjectionOptions(
        name=name,
        subject=subject,
        recursive=recursive,
        batch_size=_check_int(projection.batch_size, f"batch_size of {where}", minimum=1),
        batch_seconds=_check_seconds(projection.batch_seconds, f"batch_seconds of {where}"),
        on_error=_check_enum(projection.on_error, OnError, f"on_error of {where}"),
        retries=_check_int(projection.retries, f"retries of {where}", minimum=0),
        retry_backoff=backoff,
        on_store_mismatch=_check_enum(
            projection.on_store_mismatch, OnStoreMismatch, f"on_store_mismatch of {where}"
        ),
        start_at=_check_enum(projection.start_at, StartAt, f"start_at of {where}"),
    )


class Projection:
    """The base class of read models: typed handlers for the events under one subject.

    Class attributes (an instance may set its own):

    - `subject`: the subject followed, with nested ones unless `recursive = False`;
    - `name`: keys the checkpoint (default: the class name in kebab case, `books-on-loan`);
    - `batch_size` (500) and `batch_seconds` (0.5): while catching up, commit once this many
      events are applied or this much time has passed; live events commit as soon as no
      further event is waiting;
    - `on_error` (`OnError.STOP`), `retries` (3) and `retry_backoff`: what a failing handler
      gets;
    - `on_store_mismatch` (`OnStoreMismatch.RAISE`): when the server lost the checkpoint's event;
    - `start_at` (`StartAt.BEGINNING`): where a projection without a checkpoint starts.
    """

    _spec: ClassVar[ProjectionSpec]
    _esdb_worker: Worker | None = None

    name: str = "projection"
    subject: str | None = None
    recursive: bool = True
    batch_size: int = 500
    batch_seconds: float = 0.5
    on_error: OnError = OnError.STOP
    retries: int = 3
    retry_backoff: Backoff = Backoff(initial=0.1, maximum=5.0)
    on_store_mismatch: OnStoreMismatch = OnStoreMismatch.RAISE
    start_at: StartAt = StartAt.BEGINNING

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check_names(cls)
        if "name" not in vars(cls):
            cls.name = default_name(cls)
        cls._spec = ProjectionSpec(handlers=_collect_handlers(cls))
        if cls.subject is not None:
            options_of_class(cls)

    # --- hooks ------------------------------------------------------------------------------

    def setup(self, tx: Any) -> Awaitable[None] | None:
        """Create what the read model needs (tables, indexes), once per start; idempotently.

        Runs in a transaction of the checkpoint store before the first event. Override it as
        `async def` (getting the store's transaction) or `def` (getting its blocking form).
        """
        return None

    def reset(self, tx: Any) -> Awaitable[None] | None:
        """Empty the read model for a rebuild in place; runs in the transaction that also
        forgets the checkpoint. Override it (`async def` or `def`, as `setup`) to rebuild in
        place, or rebuild into a new projection instead."""
        raise ProjectionDefinitionError(
            f"{type(self).__qualname__} cannot be rebuilt in place: define reset(self, tx) to "
            "empty its read model, or rebuild into a new projection (Runner.rebuild(..., into=...))"
        )

    # --- while running ----------------------------------------------------------------------

    def _running(self) -> Worker:
        from eventsourcingdb.projections.errors import ProjectionStoppedError

        worker = self._esdb_worker
        if worker is None:
            raise ProjectionStoppedError(
                f"projection {self.name!r} is not in a runner: add it with runner.add(...)",
                projection=self.name,
            )
        return worker

    async def wait_for(self, event_id: str, *, timeout: float | None = 10.0) -> None:  # noqa: ASYNC109
        """Wait until every event up to `event_id` that concerns this projection is committed.

        Read-your-writes: pass the id of an event you wrote; afterwards the read model shows it.
        Raises `ProjectionTimeoutError` after `timeout` seconds, `ProjectionFailedError` if the
        projection fails meanwhile, `ProjectionStoppedError` if it is not running.
        """
        await self._running().wait_for(event_id, timeout=timeout)

    async def wait_until_caught_up(self, *, timeout: float | None = 10.0) -> None:  # noqa: ASYNC109
        """Wait until the projection has committed the newest event of its subject (as of now)."""
        await self._running().wait_until_caught_up(timeout=timeout)

    @property
    def status(self) -> ProjectionStatus:
        """Where the projection is: phase, position, lag, counters, error."""
        return self._running().status()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} subject={self.subject!r}>"


def options_of_class(cls: type[Projection]) -> None:
    """Check the options a class sets, when the class is made (before any instance exists)."""
    probe = object.__new__(cls)
    options_of(probe)


_RESERVED: Final = frozenset(
    {"wait_for", "wait_until_caught_up", "status", "_running", "_spec", "_esdb_worker"}
)


def _check_names(cls: type[Projection]) -> None:
    """Refuse attributes that would replace the machinery of `Projection`."""
    for name in vars(cls):
        if name in _RESERVED:
            raise ProjectionDefinitionError(
                f"{_qualified(cls)} defines {name!r}, a name Projection uses itself: rename it"
            )


class Reactor(Projection):
    """A projection whose handlers act on the world: at least once, one event per commit.

    A handler may run again for the same event after a crash or a failed commit, so make its
    effect idempotent (the event id is a natural idempotency key). `start_at = StartAt.NOW`
    keeps a new reactor from acting on events of the past.
    """

    batch_size = 1
