"""The pytest plugin's `esdb_runner`: a started runner over `esdb_store`, for any test suite."""

from __future__ import annotations

from pydantic import BaseModel

from eventsourcingdb.models import EventStore, RecordedEvent, event_type
from eventsourcingdb.projections import Phase, Projection, Runner, handles


@event_type("io.eventsourcingdb.tests.projections.plugin-noted")
class Noted(BaseModel):
    text: str


class Notes(Projection):
    subject = "/notes"

    def __init__(self) -> None:
        self.texts: list[str] = []

    @handles(Noted)
    def _noted(self, event: RecordedEvent[Noted]) -> None:
        self.texts.append(event.data.text)


async def test_a_projection_added_to_esdb_runner_starts_at_once(
    esdb_runner: Runner, esdb_store: EventStore
) -> None:
    assert esdb_runner.running
    assert esdb_runner.store is esdb_store
    notes = esdb_runner.add(Notes())
    written = await esdb_store.append("/notes/1", Noted(text="hello"))
    await notes.wait_for(written[0].event_id)
    assert notes.texts == ["hello"]
    assert notes.status.phase is Phase.LIVE
