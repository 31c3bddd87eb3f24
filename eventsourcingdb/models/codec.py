"""Turning models into event candidates and stored events into `RecordedEvent`s, without I/O.

Encoding dumps a model in JSON mode and refuses what the server would not keep unchanged;
decoding validates the raw `data` bytes straight into the model, running upcasters first when the
event's type is retired.
"""

from __future__ import annotations

import copy
import enum
import json
from collections.abc import Callable, Iterable
from typing import Any, Final, cast

from pydantic import BaseModel, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from eventsourcingdb.event import Event, EventCandidate
from eventsourcingdb.models.errors import (
    EventDecodingError,
    EventEncodingError,
    SupersededEventTypeError,
    UndeclaredModelError,
    UnknownEventTypeError,
    UpcastingError,
)
from eventsourcingdb.models.recorded import RecordedEvent, recorded
from eventsourcingdb.models.registry import EventRegistry, JsonObject, Upcaster

__all__ = ["OnUnknown", "Verification", "decode_event", "dump_data", "encode_event"]

_MODEL_VALIDATE_JSON: Final = BaseModel.model_validate_json.__func__  # type: ignore[attr-defined]

MAX_SAFE_INTEGER: Final = 2**53
"""Integers beyond this magnitude do not survive the server's JSON numbers (IEEE doubles)."""


class OnUnknown(enum.StrEnum):
    """What a read does with an event whose type has neither a model nor an upcaster."""

    RAISE = "raise"
    """Raise `UnknownEventTypeError` naming the type (the default)."""
    YIELD_RAW = "yield-raw"
    """Yield the untyped `Event` in place of a `RecordedEvent`."""
    SKIP = "skip"
    """Leave the event out."""


class Verification(enum.StrEnum):
    """What a read checks of each event before decoding it."""

    NONE = "none"
    """Nothing."""
    HASH = "hash"
    """The hash, over the bytes as received (`HashMismatchError` on a mismatch)."""
    SIGNATURE = "signature"
    """The hash and the server's Ed25519 signature (needs the verification key)."""


def _qualified(cls: type[object]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


_SAFE_SCALARS: Final = frozenset((str, float, bool, type(None)))
"""Values of these exact types hold no integer."""


def _has_unsafe_integer(value: object) -> bool:
    """Whether `value` (event data as `dump_data` gives it) holds an integer the server would
    round: the check every write makes, without the path `_find_unsafe_integer` builds."""
    kind = type(value)
    if kind is dict:
        items: Iterable[object] = cast(dict[str, object], value).values()
    elif kind is list:
        items = cast(list[object], value)
    elif kind is int:
        return abs(cast(int, value)) > MAX_SAFE_INTEGER
    elif kind in _SAFE_SCALARS:
        return False
    else:
        return _find_unsafe_integer(value, "") is not None  # subclasses: the thorough way
    for item in items:
        kind = type(item)
        if kind is int:
            if abs(cast(int, item)) > MAX_SAFE_INTEGER:
                return True
        elif kind not in _SAFE_SCALARS and _has_unsafe_integer(item):
            return True
    return False


def _find_unsafe_integer(value: object, path: str) -> str | None:
    """The path of the first integer the server would round, None if there is none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return path if abs(value) > MAX_SAFE_INTEGER else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _find_unsafe_integer(item, f"{path}.{key}")
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _find_unsafe_integer(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def dump_data(model: BaseModel) -> JsonObject:
    """The model as event data: JSON mode, by alias, in a form that validates back unchanged."""
    data: JsonObject = model.model_dump(mode="json", by_alias=True, round_trip=True)
    return data


def encode_event(
    registry: EventRegistry,
    subject: str,
    event: BaseModel,
    *,
    source: str,
    trace_parent: str | None = None,
    trace_state: str | None = None,
) -> EventCandidate:
    """The candidate that writes `event` to `subject`; checks the model is declared and current.

    Raises `UndeclaredModelError`, `SupersededEventTypeError` for a type with an upcaster, and
    `EventEncodingError` for integers the server would round.
    """
    declaration = registry.declaration_of(type(event))
    if declaration is None:
        raise UndeclaredModelError(
            f"{_qualified(type(event))} is not a declared event type in this store's registry: "
            "decorate it with @event_type('...') (or declare it in the registry the store uses)",
            model=_qualified(type(event)),
        )
    upcaster = registry.upcaster_for(declaration.name)
    if upcaster is not None:
        current = registry.current_type(declaration.name)
        current_declaration = registry.declaration_for(current)
        current_model = current_declaration.model_name if current_declaration else current
        raise SupersededEventTypeError(
            f"event type {declaration.name!r} ({declaration.model_name}) is retired: stored events "
            f"of it are upcast to {current!r} ({current_model}) on read, so new events must be "
            f"written as {current!r}",
            event_type=declaration.name,
            current_type=current,
        )
    data = dump_data(event)
    unsafe = _find_unsafe_integer(data, "data") if _has_unsafe_integer(data) else None
    if unsafe is not None:
        raise EventEncodingError(
            f"{unsafe} of a {declaration.model_name} event is an integer beyond ±2**53, which "
            "the server stores as a floating-point number and rounds: use a str or Decimal field "
            "for such numbers",
            event_type=declaration.name,
        )
    return EventCandidate(
        source=source,
        subject=subject,
        type=declaration.name,
        data=data,
        trace_parent=trace_parent,
        trace_state=trace_state,
    )


def _raw_json(event: Event) -> bytes:
    """The data bytes as received; for an event built from a dict, its data encoded anew."""
    raw = event.raw_data
    return raw if raw is not None else json.dumps(event.data, ensure_ascii=False).encode()


_LineValidator = Callable[[str | bytes], Any]
_line_validators: dict[tuple[type[BaseModel], str | None], _LineValidator | None] = {}
_MAX_LINE_VALIDATORS: Final = 1024
"""Models are few and long-lived; past this many (models made on the fly), start afresh."""
_make_typed_dict: Any = TypedDict  # the functional form, with a model only known at run time


def custom_json_validation(model: type[BaseModel]) -> bool:
    """Whether `model` has its own `model_validate_json` (then data are validated through it)."""
    return getattr(model.model_validate_json, "__func__", None) is not _MODEL_VALIDATE_JSON


def _build_line_validator(model: type[BaseModel], container: str | None) -> _LineValidator | None:
    """Validates a whole line into `{container: {"data": model}}`, ignoring every other member.

    Reading typed events, pydantic then parses the line once, in Rust, and validates the bytes of
    `data` in it straight into the model: the same input `model_validate_json(event.raw_data)`
    gets, without first locating those bytes in Python. None where that might differ: a model
    with its own `model_validate_json`, or one pydantic cannot build a validator for yet.
    """
    if custom_json_validation(model):
        return None
    try:
        shape: Any = _make_typed_dict("EventWithData", {"data": model})
        if container is not None:
            shape = _make_typed_dict("Envelope", {container: shape})
        validator: _LineValidator = TypeAdapter(shape).validator.validate_json
    except Exception:  # a model that is not fully defined: the general path reports it
        return None
    return validator


def _line_validator(model: type[BaseModel], container: str | None) -> _LineValidator | None:
    key = (model, container)
    try:
        return _line_validators[key]
    except KeyError:
        if len(_line_validators) >= _MAX_LINE_VALIDATORS:
            _line_validators.clear()
        validator = _line_validators[key] = _build_line_validator(model, container)
        return validator


def _decode_line(model: type[BaseModel], event: Event) -> BaseModel | None:
    """`event`'s data validated from its line into `model`; None: take the general path.

    The general path validates `event.raw_data` and reports what the model refuses; this one
    gives up on anything unusual (a line pydantic refuses, data the model refuses).
    """
    line, container = event._line()
    if line is None:
        return None
    validate = _line_validator(model, container)
    if validate is None:
        return None
    try:
        validated = validate(line)
    except (ValidationError, ValueError):
        return None
    if container is not None:
        validated = validated[container]
    data: BaseModel = validated["data"]
    return data


def _validate(model: type[BaseModel], raw: bytes, event: Event, what: str) -> BaseModel:
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise EventDecodingError(
            f"{what} of event {event.event_id} (type {event.type!r}, subject {event.subject!r}) "
            f"do not validate into {_qualified(model)}: {error}",
            event_type=event.type,
            event_id=event.event_id,
            model=_qualified(model),
        ) from error


def _as_model(
    model: type[BaseModel], value: BaseModel | JsonObject | None, event: Event, what: str
) -> BaseModel:
    if isinstance(value, model):
        return value
    if value is None:
        return _validate(model, _raw_json(event), event, what)
    data = dump_data(value) if isinstance(value, BaseModel) else value
    return _validate(model, json.dumps(data, ensure_ascii=False).encode(), event, what)


def _as_object(value: BaseModel | JsonObject | None, event: Event) -> JsonObject:
    if value is None:
        raw = event.raw_data
        if raw is None:
            return copy.deepcopy(event.data)
        data: JsonObject = json.loads(raw)
        return data
    return dump_data(value) if isinstance(value, BaseModel) else value


def _run_step(
    registry: EventRegistry, step: Upcaster, value: BaseModel | JsonObject | None, event: Event
) -> BaseModel | JsonObject:
    """One upcaster applied to the current value (None: the stored data, not yet parsed)."""
    argument: BaseModel | JsonObject
    if step.from_model is not None:
        source = registry.declaration_for(step.from_type)
        model = source.model if source is not None else step.from_model
        argument = _as_model(model, value, event, f"the {step.from_type!r} data")
    else:
        argument = _as_object(value, event)
    try:
        result = step.function(argument)
    except Exception as error:
        raise UpcastingError(
            f"the upcaster from {step.from_type!r} to {step.to_type!r} failed on event "
            f"{event.event_id}: {error!r}",
            from_type=step.from_type,
            to_type=step.to_type,
            event_id=event.event_id,
        ) from error
    target = registry.declaration_for(step.to_type)
    target_model = target.model if target is not None else step.to_model
    if isinstance(result, target_model):
        return result
    if isinstance(result, dict) and all(isinstance(key, str) for key in result):
        return result
    raise UpcastingError(
        f"the upcaster from {step.from_type!r} to {step.to_type!r} returned "
        f"{type(result).__name__} for event {event.event_id}; it must return a "
        f"{_qualified(target_model)} or its data as a dict",
        from_type=step.from_type,
        to_type=step.to_type,
        event_id=event.event_id,
    )


def decode_event(registry: EventRegistry, event: Event) -> RecordedEvent[BaseModel]:
    """`event` with its data as an instance of the model its type is read as.

    Raises `UnknownEventTypeError` for a type that is neither declared nor upcast,
    `EventDecodingError` for data the model refuses, `UpcastingError` for a failing upcaster.
    """
    declaration = registry.declaration_for(event.type)
    if declaration is not None and registry.upcaster_for(event.type) is None:
        # the common case, a current type: what the general path below does without upcasters
        model = declaration.model
        data = _decode_line(model, event)
        if data is None:
            data = _validate(model, _raw_json(event), event, "the data")
        return recorded(data, event)
    chain = registry.upcast_chain(event.type)
    final_type = chain[-1].to_type if chain else event.type
    declaration = registry.declaration_for(final_type)
    if declaration is None:
        raise UnknownEventTypeError(
            f"event {event.event_id} on {event.subject!r} has the type {event.type!r}, which is "
            "not declared: declare a model with @event_type(...), add an upcaster from it, or "
            "read with on_unknown=OnUnknown.YIELD_RAW or OnUnknown.SKIP",
            event_type=event.type,
            event_id=event.event_id,
            subject=event.subject,
        )
    value: BaseModel | JsonObject | None = None
    for step in chain:
        value = _run_step(registry, step, value, event)
    return recorded(_as_model(declaration.model, value, event, "the data"), event)
