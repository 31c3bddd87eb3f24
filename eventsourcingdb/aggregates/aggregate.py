"""`Aggregate`: the base class of domain objects whose state is the fold of their events.

A subclass declares its state as annotated fields with defaults (it becomes a keyword-only
dataclass), its commands as plain methods that check rules and `record` events, and its state
changes as `@handles` methods. Loading, saving and concurrency belong to the `Repository`.

```python
class Book(Aggregate):
    title: str = ""
    borrowed_by: str | None = None

    def borrow(self, member: str) -> None:
        if self.borrowed_by is not None:
            raise BookAlreadyBorrowed(self.subject)
        self.record(BookBorrowed(member=member))

    @handles(BookBorrowed)
    def _borrowed(self, event: BookBorrowed) -> None:
        self.borrowed_by = event.member
```

Options are class keywords: `class Order(Aggregate, recursive=True, snapshots=Snapshots(...),
on_missing_handler=MissingHandler.IGNORE)`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self, dataclass_transform

from pydantic import BaseModel

from eventsourcingdb._validation import check_written_subject
from eventsourcingdb.aggregates.errors import AggregateDefinitionError, MissingHandlerError
from eventsourcingdb.aggregates.handlers import MissingHandler, collect_handlers
from eventsourcingdb.aggregates.snapshots import Snapshots
from eventsourcingdb.errors import InvalidArgumentError

__all__ = ["Aggregate"]

_Handler = Callable[[Any, Any], None]


@dataclass(frozen=True, slots=True)
class AggregateSpec:
    """What the class statement of an aggregate declared: handlers and options, checked once."""

    handlers: Mapping[type[BaseModel], _Handler]
    recursive: bool
    on_missing_handler: MissingHandler
    snapshots: Snapshots | None
    fields: tuple[str, ...]


def _qualified(cls: type[object]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _collect_handlers(cls: type[Aggregate]) -> dict[type[BaseModel], _Handler]:
    """The handler of each event model (see `collect_handlers`)."""
    found = collect_handlers(cls, Aggregate, AggregateDefinitionError)
    return {model: function for model, (_, function) in found.items()}


@dataclass_transform(
    kw_only_default=True, eq_default=False, field_specifiers=(dataclasses.field, dataclasses.Field)
)
class Aggregate:
    """A domain object rebuilt from the events of its subject, recording new ones as it decides.

    Every subclass is a keyword-only dataclass (`eq=False`: aggregates compare by identity), and
    every field needs a default: it is the state before the first event. Class keywords:
    `recursive=True` spans the subject tree (reads nested subjects, guards the whole tree);
    `snapshots=Snapshots(Model, every=N)` opts into snapshots; `on_missing_handler` decides what
    an event without a handler does (`MissingHandler.RAISE` by default).
    """

    _spec: ClassVar[AggregateSpec]
    _subject: str | None
    _version: str | None
    _pending: list[tuple[str, BaseModel]]
    _since_snapshot: int

    def __init_subclass__(
        cls,
        *,
        recursive: bool | None = None,
        snapshots: Snapshots | None = None,
        on_missing_handler: MissingHandler | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        try:
            dataclass(kw_only=True, eq=False, repr=False)(cls)
        except ValueError as error:  # a mutable default, most likely
            raise AggregateDefinitionError(f"{_qualified(cls)}: {error}") from None
        inherited = getattr(cls, "_spec", None)
        if recursive is None:
            recursive = inherited.recursive if inherited is not None else False
        if not isinstance(recursive, bool):
            raise AggregateDefinitionError(
                f"recursive must be True or False, got {recursive!r} for {_qualified(cls)}"
            )
        if on_missing_handler is None:
            on_missing_handler = (
                inherited.on_missing_handler if inherited is not None else MissingHandler.RAISE
            )
        if not isinstance(on_missing_handler, MissingHandler):
            raise AggregateDefinitionError(
                f"on_missing_handler must be MissingHandler.RAISE or MissingHandler.IGNORE, got "
                f"{on_missing_handler!r} for {_qualified(cls)}"
            )
        if snapshots is None and inherited is not None:
            snapshots = inherited.snapshots
        if snapshots is not None and not isinstance(snapshots, Snapshots):
            raise AggregateDefinitionError(
                f"snapshots must be a Snapshots(...) policy, got {snapshots!r} for "
                f"{_qualified(cls)}"
            )
        _check_names(cls)
        fields = _checked_fields(cls)
        handlers = _collect_handlers(cls)
        if snapshots is not None:
            _check_snapshots(cls, snapshots, handlers, fields)
        cls._spec = AggregateSpec(
            handlers=handlers,
            recursive=recursive,
            on_missing_handler=on_missing_handler,
            snapshots=snapshots,
            fields=fields,
        )

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        if cls is Aggregate:
            raise AggregateDefinitionError(
                "Aggregate is a base class: subclass it with your state, commands and handlers"
            )
        self = super().__new__(cls)
        self._subject = None
        self._version = None
        self._pending = []
        self._since_snapshot = 0
        return self

    @classmethod
    def new(cls, subject: str) -> Self:
        """A fresh aggregate at `subject`, with no events yet (saving it expects a new subject)."""
        aggregate = cls()
        aggregate._subject = check_written_subject(subject)
        return aggregate

    # --- identity and version ----------------------------------------------------------------

    @property
    def subject(self) -> str:
        """The subject whose events make this aggregate, e.g. `/books/42`."""
        if self._subject is None:
            raise InvalidArgumentError(
                f"this {type(self).__name__} was made without a subject: create it with "
                f"{type(self).__name__}.new(subject), or load it through a Repository"
            )
        return self._subject

    @property
    def version(self) -> str | None:
        """The id of the last stored event applied; None while nothing has been stored."""
        return self._version

    @property
    def pending(self) -> tuple[BaseModel, ...]:
        """The events recorded since loading or the last save, oldest first."""
        return tuple(event for _, event in self._pending)

    # --- commands record, handlers apply ------------------------------------------------------

    def record(self, event: BaseModel, *, subject: str | None = None) -> None:
        """Apply `event` now and keep it pending until the repository saves it.

        `subject` places the event on a nested subject of a `recursive=True` aggregate; it is the
        aggregate's own subject by default. If no handler takes the event (with the default
        `MissingHandler.RAISE`), or the handler raises, nothing is recorded.
        """
        if not isinstance(event, BaseModel):
            raise InvalidArgumentError(
                f"record takes an event: an instance of a pydantic model declared with "
                f"@event_type, got {type(event).__name__}"
            )
        spec = type(self)._spec
        if spec.snapshots is not None and isinstance(event, spec.snapshots.model):
            raise InvalidArgumentError(
                f"{type(event).__qualname__} is the snapshot model of {type(self).__name__}; "
                "snapshots are written by the repository, not recorded by commands"
            )
        target = self._nested(subject)
        self._apply(event, event_id=None)
        self._pending.append((target, event))

    def _nested(self, subject: str | None) -> str:
        own = self.subject
        if subject is None or subject == own:
            return own
        check_written_subject(subject)
        if not type(self)._spec.recursive:
            raise InvalidArgumentError(
                f"{type(self).__name__} at {own} can record events on its own subject only, not "
                f"on {subject}: declare it with recursive=True to span its subject tree"
            )
        root = own.rstrip("/")
        if not subject.startswith(root + "/"):
            raise InvalidArgumentError(
                f"{subject} is not within the subject tree of {type(self).__name__} at {own}"
            )
        return subject

    def _apply(self, event: BaseModel, *, event_id: str | None) -> None:
        handlers = type(self)._spec.handlers
        for model in type(event).__mro__:
            handler = handlers.get(model)
            if handler is not None:
                handler(self, event)
                return
            if model is BaseModel:
                break
        if type(self)._spec.on_missing_handler is MissingHandler.IGNORE:
            return
        where = "recording it" if event_id is None else f"loading event {event_id}"
        raise MissingHandlerError(
            f"{type(self).__name__} has no handler for {type(event).__qualname__} (while "
            f"{where} at {self._subject or 'an unnamed subject'}): add a method decorated with "
            f"@handles({type(event).__qualname__}), or declare the aggregate with "
            "on_missing_handler=MissingHandler.IGNORE if such events change nothing",
            aggregate_type=type(self),
            event_type=type(event),
            subject=self._subject or "",
            event_id=event_id,
        )

    # --- replaying and saving (used by the repository and the scenarios) ----------------------

    def _replay(self, data: BaseModel | None, *, event_id: str) -> None:
        """Apply one stored event; `data` None stands for an event that is skipped."""
        snapshots = type(self)._spec.snapshots
        if data is None:
            pass
        elif snapshots is not None and isinstance(data, snapshots.model):
            self.restore_snapshot(data)
            self._since_snapshot = 0
        else:
            self._apply(data, event_id=event_id)
            self._since_snapshot += 1
        self._version = event_id

    def _replay_all(self, batch: Sequence[tuple[BaseModel, str]]) -> None:
        """Apply stored events, each `(data, event_id)`: `_replay` for each, in one loop that
        finds a handler by the event's exact type first (how a load replays a chunk)."""
        spec = type(self)._spec
        if spec.snapshots is not None or not batch:
            for data, event_id in batch:
                self._replay(data, event_id=event_id)
            return
        handlers = spec.handlers
        for data, event_id in batch:
            handler = handlers.get(type(data))
            if handler is None:
                self._apply(data, event_id=event_id)  # a subclass, or no handler at all
            else:
                handler(self, data)
        self._since_snapshot += len(batch)
        self._version = batch[-1][1]

    def _saved(self, version: str, *, snapshot_written: bool) -> None:
        """Note a successful save: the new version, nothing pending, the snapshot count."""
        self._since_snapshot = 0 if snapshot_written else self._since_snapshot + len(self._pending)
        self._version = version
        self._pending.clear()

    def _snapshot_due(self) -> bool:
        snapshots = type(self)._spec.snapshots
        return snapshots is not None and snapshots.due(self._since_snapshot + len(self._pending))

    # --- snapshots ----------------------------------------------------------------------------

    def take_snapshot(self) -> BaseModel:
        """This aggregate's state as an instance of its snapshot model.

        By default the model's fields are filled from the aggregate's fields of the same names;
        override it (with `restore_snapshot`) when the snapshot has another shape.
        """
        snapshots = type(self)._spec.snapshots
        if snapshots is None:
            raise AggregateDefinitionError(
                f"{type(self).__name__} takes no snapshots: declare it with "
                "snapshots=Snapshots(Model, every=N)"
            )
        values = {
            (info.alias or name): getattr(self, name)
            for name, info in snapshots.model.model_fields.items()
        }
        return snapshots.model.model_validate(values)

    def restore_snapshot(self, snapshot: BaseModel) -> None:
        """Set this aggregate's state from `snapshot` (the default copies fields by name)."""
        for name in type(snapshot).model_fields:
            setattr(self, name, getattr(snapshot, name))

    def __repr__(self) -> str:
        state = ", ".join(f"{name}={getattr(self, name)!r}" for name in type(self)._spec.fields)
        head = f"subject={self._subject!r}, version={self._version!r}"
        if self._pending:
            head += f", pending={len(self._pending)}"
        return f"{type(self).__qualname__}({head}{', ' if state else ''}{state})"


_RESERVED: frozenset[str] = frozenset(
    {name for name in vars(Aggregate) if not name.startswith("__")}
    | {"_subject", "_version", "_pending", "_since_snapshot", "_spec"}
)


_OVERRIDABLE: frozenset[str] = frozenset({"take_snapshot", "restore_snapshot"})


def _check_names(cls: type[Aggregate]) -> None:
    """Refuse attributes that would replace the machinery of `Aggregate` (a handler `_apply`)."""
    for name in vars(cls):
        if name in _RESERVED and name not in _OVERRIDABLE:
            raise AggregateDefinitionError(
                f"{_qualified(cls)} defines {name!r}, a name Aggregate uses itself: rename it"
            )


def _checked_fields(cls: type[Aggregate]) -> tuple[str, ...]:
    names: list[str] = []
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name in _RESERVED:
            raise AggregateDefinitionError(
                f"{_qualified(cls)} defines {field.name!r}, a name Aggregate uses itself: rename it"
            )
        if (
            field.init
            and field.default is dataclasses.MISSING
            and field.default_factory is dataclasses.MISSING
        ):
            raise AggregateDefinitionError(
                f"{_qualified(cls)}.{field.name} has no default: every field of an aggregate "
                "needs one, as it is the state before the first event (use "
                "field(default_factory=...) for lists and dicts)"
            )
        names.append(field.name)
    return tuple(names)


def _check_snapshots(
    cls: type[Aggregate],
    snapshots: Snapshots,
    handlers: Mapping[type[BaseModel], _Handler],
    fields: tuple[str, ...],
) -> None:
    if snapshots.model in handlers:
        raise AggregateDefinitionError(
            f"{_qualified(cls)} has a handler for its snapshot model "
            f"{snapshots.model.__qualname__}; snapshots are restored by restore_snapshot, "
            "not by handlers"
        )
    if cls.take_snapshot is Aggregate.take_snapshot or (
        cls.restore_snapshot is Aggregate.restore_snapshot
    ):
        model_fields = set(snapshots.model.model_fields)
        if model_fields != set(fields):
            missing = sorted(set(fields) - model_fields)
            extra = sorted(model_fields - set(fields))
            raise AggregateDefinitionError(
                f"the snapshot model {snapshots.model.__qualname__} of {_qualified(cls)} must "
                f"have exactly the aggregate's fields to be taken and restored by default "
                f"(missing: {missing or 'none'}, not fields of the aggregate: {extra or 'none'}); "
                "or override take_snapshot and restore_snapshot"
            )
