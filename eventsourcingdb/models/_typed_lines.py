"""Typed reads in one pass: each event line is parsed once, by pydantic, into its model.

An untyped read parses a line with orjson into an `Event`, and decoding it into its model then
validates the line again (`codec._decode_line`). For a read that decodes every event anyway
(`EventStore.read` without verification, unknown types raising), the stream instead hands each
line first to a validator built from the registry: one pydantic schema for the whole line, the
envelope's members as strict strings and `data` as the model its `type` names (a discriminated
union over the current declared types). pydantic parses the line once, in Rust, and validates
the bytes of `data` straight into the model, exactly as `_decode_line` does (JSON mode, the same
bytes), so the model is the same. The `Event` beside it gets the envelope's members, and its
untyped `data` are parsed from the line only if asked for (`Event._parse_data`).

Whatever the validator does not accept (another item, a retired or unknown type, a model that
refuses the data, a member of the wrong type, a time in another form) goes the usual way: orjson,
`Event._from_wire`, `decode_event`, with their results and errors. Since pydantic and
`json.loads` read every line the stream gives it alike (lone surrogates and invalid UTF-8 are
refused by both; deep nesting and overlong integers are kept from it by `StreamDecoder`), nothing
that the usual way would refuse is accepted here, and errors stay where they are reported.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, NotRequired, Union

from pydantic import Field, Strict, TypeAdapter
from typing_extensions import TypedDict

from eventsourcingdb._protocol.events import OPTIONAL_TEXT_FIELDS, REQUIRED_TEXT_FIELDS
from eventsourcingdb.event import Event
from eventsourcingdb.models.codec import custom_json_validation
from eventsourcingdb.models.recorded import RecordedEvent
from eventsourcingdb.models.registry import EventRegistry

__all__ = ["line_decoders"]

_Text = Annotated[str, Strict()]
_ENVELOPE: Final[dict[str, Any]] = {
    **{name: _Text for name in REQUIRED_TEXT_FIELDS if name != "type"},
    **dict.fromkeys(OPTIONAL_TEXT_FIELDS, NotRequired[_Text | None]),
}
_make_typed_dict: Any = TypedDict  # the functional form, with fields only known at run time
_fromisoformat: Final = datetime.fromisoformat

MISSES_BEFORE_GIVING_UP: Final = 32
"""Event lines the validator may refuse before a stream stops asking it (a subject full of
undeclared or retired types would otherwise pay for a refusal on every line)."""

_Validate = Callable[[bytes], Any]
_new: Final = object.__new__
_EVENT_SLOTS: Final = tuple(
    Event.__dict__[slot].__set__ for slot in ("_payload", "_time", "_raw", "_raw_container")
)
_RECORDED_SLOTS: Final = tuple(RecordedEvent.__dict__[slot].__set__ for slot in ("data", "event"))


def _build(registry: EventRegistry, container: str) -> _Validate | None:
    """The validator of a whole event line for the current types of `registry`, None if there
    are none (or pydantic cannot build one)."""
    shapes = []
    for declaration in registry.declarations:
        model = declaration.model
        if registry.upcaster_for(declaration.name) is not None or custom_json_validation(model):
            continue
        fields = {**_ENVELOPE, "type": Literal[declaration.name], "data": model}
        shapes.append(_make_typed_dict(f"{model.__name__}Event", fields))
    if not shapes:
        return None
    event: Any = (
        shapes[0]
        if len(shapes) == 1
        else Annotated[
            Union[tuple(shapes)],  # noqa: UP007 - a union built at run time
            Field(discriminator="type"),
        ]
    )
    line = _make_typed_dict("EventLine", {"type": Literal["event"], container: event})
    try:
        validate: _Validate = TypeAdapter(line).validator.validate_json
    except Exception:  # a model that is not fully defined: the usual way reports it
        return None
    return validate


_validators: weakref.WeakKeyDictionary[EventRegistry, tuple[int, dict[str, _Validate | None]]]
_validators = weakref.WeakKeyDictionary()
"""Per registry: the generation they were built for, and the validators by envelope member."""


def _validator(registry: EventRegistry, container: str) -> _Validate | None:
    generation = registry._generation
    found = _validators.get(registry)
    if found is None or found[0] != generation:
        found = _validators[registry] = (generation, {})
    built = found[1]
    try:
        return built[container]
    except KeyError:
        validate = built[container] = _build(registry, container)
        return validate


def line_decoders(
    registry: EventRegistry, *, replay: bool = False
) -> Callable[[str], Callable[[bytes], Any] | None]:
    """For `calls.read_events`: the decoder of one stream's event lines (by the envelope member
    that holds the event), which returns a `RecordedEvent`, or None for the usual way.

    With `replay` (loading an aggregate, which keeps nothing but the data and the id), it returns
    `(model, event_id)` instead, after the same checks, building no `Event` around it.
    """

    def for_stream(container: str) -> Callable[[bytes], Any] | None:
        validate = _validator(registry, container)
        if validate is None:
            return None
        prefix = b'{"type":"event","' + container.encode() + b'":'
        misses = 0
        new = _new
        set_payload, set_time, set_raw, set_container = _EVENT_SLOTS
        set_data, set_event = _RECORDED_SLOTS

        def decode(line: bytes) -> Any:
            nonlocal misses
            if not line.startswith(prefix) or misses >= MISSES_BEFORE_GIVING_UP:
                return None
            try:
                payload = validate(line)[container]
            except ValueError:  # pydantic's ValidationError
                misses += 1
                return None
            try:
                time = _fromisoformat(payload["time"])
            except ValueError:
                return None
            if time.tzinfo is not UTC:
                return None
            if replay:
                return payload["data"], payload["id"]
            # an `Event` without its data (`Event._parse_data`) and its `RecordedEvent`, through
            # the slots (as `Event._from_wire` and `recorded` build them): once per event
            event = new(Event)
            set_payload(event, payload)
            set_time(event, time)
            set_raw(event, line)
            set_container(event, container)
            value = new(RecordedEvent)
            set_data(value, payload.pop("data"))
            set_event(value, event)
            return value

        return decode

    return for_stream
