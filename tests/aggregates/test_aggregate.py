"""`Aggregate` and `@handles` without a server: declaring, recording, applying, refusing."""

from __future__ import annotations

import dataclasses
from dataclasses import field

import pytest
from pydantic import BaseModel

from eventsourcingdb.aggregates import (
    Aggregate,
    AggregateDefinitionError,
    MissingHandler,
    MissingHandlerError,
    Snapshots,
    handles,
)
from eventsourcingdb.errors import InvalidArgumentError
from tests.aggregates.domain import (
    Counter,
    CounterSnapshot,
    CounterTooHigh,
    Incremented,
    LenientCounter,
    LineAdded,
    Noted,
    Order,
    Reset,
    SnapshottingCounter,
)


def test_a_subclass_is_a_keyword_only_dataclass_with_identity_equality() -> None:
    counter = Counter(value=3)
    assert counter.value == 3
    assert counter.history == []
    assert [f.name for f in dataclasses.fields(counter)] == ["value", "history", "maximum"]
    assert Counter() != Counter()
    assert Counter().history is not Counter().history
    with pytest.raises(TypeError):
        Counter(3)  # type: ignore[call-arg]


def test_new_sets_the_subject_and_starts_without_a_version() -> None:
    counter = Counter.new("/counters/1")
    assert counter.subject == "/counters/1"
    assert counter.version is None
    assert counter.pending == ()


def test_an_aggregate_made_without_new_has_no_subject() -> None:
    with pytest.raises(InvalidArgumentError, match=r"Counter\.new\(subject\)"):
        _ = Counter().subject


def test_new_checks_the_subject() -> None:
    with pytest.raises(InvalidArgumentError, match="subject"):
        Counter.new("counters/1")


def test_record_applies_at_once_and_keeps_the_event_pending() -> None:
    counter = Counter.new("/counters/1")
    counter.increment(2)
    counter.increment(3)
    assert counter.value == 5
    assert counter.history == [2, 3]
    assert counter.pending == (Incremented(by=2), Incremented(by=3))
    assert counter.version is None


def test_a_refused_command_records_nothing() -> None:
    counter = Counter.new("/counters/1")
    counter.maximum = 1
    with pytest.raises(CounterTooHigh):
        counter.increment(2)
    assert counter.pending == ()
    assert counter.value == 0


def test_recording_an_event_without_a_handler_is_an_error_and_records_nothing() -> None:
    counter = Counter.new("/counters/1")
    with pytest.raises(MissingHandlerError) as caught:
        counter.record(Noted(text="hello"))
    error = caught.value
    assert error.aggregate_type is Counter
    assert error.event_type is Noted
    assert error.subject == "/counters/1"
    assert error.event_id is None
    assert "@handles(Noted)" in str(error)
    assert "MissingHandler.IGNORE" in str(error)
    assert counter.pending == ()


def test_an_ignoring_aggregate_records_events_without_handlers_unchanged() -> None:
    counter = LenientCounter.new("/counters/1")
    counter.record(Noted(text="hello"))
    assert counter.pending == (Noted(text="hello"),)
    assert counter.value == 0


def test_replaying_an_event_without_a_handler_names_the_event_id() -> None:
    counter = Counter.new("/counters/1")
    with pytest.raises(MissingHandlerError, match="loading event 7") as caught:
        counter._replay(Noted(text="x"), event_id="7")
    assert caught.value.event_id == "7"


def test_record_refuses_what_is_not_an_event() -> None:
    counter = Counter.new("/counters/1")
    with pytest.raises(InvalidArgumentError, match="pydantic model"):
        counter.record({"by": 1})  # type: ignore[arg-type]


def test_record_refuses_the_snapshot_model() -> None:
    counter = SnapshottingCounter.new("/counters/1")
    with pytest.raises(InvalidArgumentError, match="snapshot"):
        counter.record(CounterSnapshot(value=1, history=[1], maximum=9))


def test_a_recursive_aggregate_records_on_nested_subjects_only() -> None:
    order = Order.new("/orders/1")
    order.place("ada")
    order.add_line("tea", 2)
    assert order.lines == {"tea": 2}
    assert order._pending[-1] == ("/orders/1/lines/tea", LineAdded(sku="tea", quantity=2))
    with pytest.raises(InvalidArgumentError, match="not within the subject tree"):
        order.record(LineAdded(sku="x", quantity=1), subject="/orders/10/lines/x")
    with pytest.raises(InvalidArgumentError, match="malformed"):
        order.record(LineAdded(sku="x", quantity=1), subject="/orders/1/lines/x y")


def test_a_plain_aggregate_records_on_its_own_subject_only() -> None:
    counter = Counter.new("/counters/1")
    counter.record(Reset(), subject="/counters/1")
    with pytest.raises(InvalidArgumentError, match="recursive=True"):
        counter.record(Reset(), subject="/counters/1/child")


def test_repr_shows_subject_version_pending_and_state() -> None:
    counter = Counter.new("/counters/1")
    counter.increment()
    assert repr(counter) == (
        "Counter(subject='/counters/1', version=None, pending=1, value=1, history=[1], "
        "maximum=1000000)"
    )


def test_handlers_are_inherited_and_can_be_overridden() -> None:
    class Doubling(Counter):
        @handles(Incremented)
        def _double(self, event: Incremented) -> None:
            self.value += 2 * event.by

    class Silenced(Counter, on_missing_handler=MissingHandler.IGNORE):
        def _incremented(self, event: Incremented) -> None:
            """Redefined without @handles: it handles nothing any more."""

    doubling = Doubling.new("/c/1")
    doubling.increment(2)
    doubling.reset()
    assert doubling.value == 0
    doubling.increment(2)
    assert doubling.value == 4
    silenced = Silenced.new("/c/2")
    silenced.increment(5)
    assert silenced.value == 0
    assert silenced.pending == (Incremented(by=5),)


def test_options_are_inherited() -> None:
    class Child(SnapshottingCounter):
        pass

    class Tree(Order):
        pass

    assert Child._spec.snapshots == SnapshottingCounter._spec.snapshots
    assert Tree._spec.recursive is True
    assert LenientCounter._spec.on_missing_handler is MissingHandler.IGNORE


def test_one_handler_may_take_several_models() -> None:
    class Log(Aggregate):
        entries: list[str] = field(default_factory=list)

        @handles(Incremented, Reset)
        def _any(self, event: Incremented | Reset) -> None:
            self.entries.append(type(event).__name__)

    log = Log.new("/log")
    log.record(Incremented(by=1))
    log.record(Reset())
    assert log.entries == ["Incremented", "Reset"]


def test_a_field_without_a_default_is_refused() -> None:
    with pytest.raises(AggregateDefinitionError, match="has no default"):

        class Broken(Aggregate):
            title: str


def test_a_mutable_default_is_refused() -> None:
    with pytest.raises(AggregateDefinitionError, match="mutable default"):

        class Broken(Aggregate):
            items: list[str] = []  # noqa: RUF012 - the point of the test


def test_a_field_named_like_the_base_class_api_is_refused() -> None:
    with pytest.raises(AggregateDefinitionError, match="'version'"):

        class Broken(Aggregate):
            version: str = ""


def test_a_method_named_like_the_machinery_is_refused() -> None:
    with pytest.raises(AggregateDefinitionError, match="'_apply'"):

        class Broken(Aggregate):
            @handles(Reset)
            def _apply(self, event: Reset) -> None:  # type: ignore[override]
                pass

    with pytest.raises(AggregateDefinitionError, match="'record'"):

        class AlsoBroken(Aggregate):
            def record(self, event: BaseModel, *, subject: str | None = None) -> None:
                pass


def test_two_handlers_for_one_model_are_refused() -> None:
    with pytest.raises(AggregateDefinitionError, match="twice"):

        class Broken(Aggregate):
            @handles(Reset)
            def _one(self, event: Reset) -> None:
                pass

            @handles(Reset)
            def _two(self, event: Reset) -> None:
                pass


def test_handles_checks_its_arguments() -> None:
    with pytest.raises(AggregateDefinitionError, match="at least one"):
        handles()
    with pytest.raises(AggregateDefinitionError, match="pydantic"):
        handles(dict)  # type: ignore[arg-type]


def test_a_static_handler_is_refused() -> None:
    with pytest.raises(AggregateDefinitionError, match="staticmethod"):

        class Broken(Aggregate):
            @staticmethod
            @handles(Reset)
            def _reset(event: Reset) -> None:
                pass


def test_class_options_are_checked() -> None:
    with pytest.raises(AggregateDefinitionError, match="recursive"):

        class A(Aggregate, recursive="yes"):  # type: ignore[arg-type]
            pass

    with pytest.raises(AggregateDefinitionError, match="on_missing_handler"):

        class B(Aggregate, on_missing_handler="ignore"):  # type: ignore[arg-type]
            pass

    with pytest.raises(AggregateDefinitionError, match="Snapshots"):

        class C(Aggregate, snapshots=5):  # type: ignore[arg-type]
            pass


def test_the_base_class_cannot_be_instantiated() -> None:
    with pytest.raises(AggregateDefinitionError, match="base class"):
        Aggregate()


class _Partial(BaseModel):
    value: int


def test_a_default_snapshot_needs_exactly_the_aggregates_fields() -> None:
    with pytest.raises(AggregateDefinitionError, match=r"missing: \['history', 'maximum'\]"):

        class Broken(Aggregate, snapshots=Snapshots(_Partial, every=3)):
            value: int = 0
            history: list[int] = field(default_factory=list)
            maximum: int = 0


def test_a_custom_snapshot_may_have_any_shape() -> None:
    class Custom(Counter, snapshots=Snapshots(_Partial, every=3)):
        def take_snapshot(self) -> BaseModel:
            return _Partial(value=self.value)

        def restore_snapshot(self, snapshot: BaseModel) -> None:
            assert isinstance(snapshot, _Partial)
            self.value = snapshot.value

    custom = Custom.new("/c")
    custom.increment(4)
    assert custom.take_snapshot() == _Partial(value=4)
    restored = Custom.new("/c")
    restored._replay(_Partial(value=9), event_id="3")
    assert (restored.value, restored.version) == (9, "3")


def test_a_handler_for_the_snapshot_model_is_refused() -> None:
    with pytest.raises(AggregateDefinitionError, match="restore_snapshot"):

        class Broken(Counter, snapshots=Snapshots(CounterSnapshot, every=3)):
            @handles(CounterSnapshot)
            def _snap(self, event: CounterSnapshot) -> None:
                pass


def test_snapshots_policy_is_checked() -> None:
    with pytest.raises(AggregateDefinitionError, match="positive"):
        Snapshots(CounterSnapshot, every=0)
    with pytest.raises(AggregateDefinitionError, match="pydantic"):
        Snapshots(dict, every=3)  # type: ignore[arg-type]
    with pytest.raises(AggregateDefinitionError, match="tuple"):
        Snapshots(CounterSnapshot, every=3, retired="io.x.y.z")  # type: ignore[arg-type]
    with pytest.raises(AggregateDefinitionError, match="malformed"):
        Snapshots(CounterSnapshot, every=3, retired=("nope",))


def test_take_snapshot_copies_the_state_and_restore_puts_it_back() -> None:
    counter = SnapshottingCounter.new("/c")
    counter.increment(2)
    counter.increment(5)
    snapshot = counter.take_snapshot()
    assert snapshot == CounterSnapshot(value=7, history=[2, 5], maximum=1_000_000)
    counter.history.append(99)
    assert snapshot == CounterSnapshot(value=7, history=[2, 5], maximum=1_000_000)
    restored = SnapshottingCounter.new("/c")
    restored._replay(snapshot, event_id="9")
    assert (restored.value, restored.history, restored.version) == (7, [2, 5], "9")


def test_take_snapshot_without_a_policy_is_an_error() -> None:
    with pytest.raises(AggregateDefinitionError, match="takes no snapshots"):
        Counter.new("/c").take_snapshot()
