"""Fixtures of the typed-layer tests.

`esdb_client` (a client of a fresh, empty in-process emulator) comes from the package's pytest
plugin. Here: a client of a signing emulator, and its verification key, for signature checks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from eventsourcingdb.client import Client
from eventsourcingdb.emulator import Emulator
from tests.twins import Twin, server_client, twin_client


@pytest.fixture
def esdb_client(esdb_client: Client, twin: Twin, request: pytest.FixtureRequest) -> Client:
    """The plugin's client of the twin under test: every test that uses it runs against the
    async client and the blocking one (behind an async face, see `tests/twins.py`)."""
    return twin_client(twin, esdb_client, request)


@pytest.fixture(scope="session")
def _signing_emulator() -> Iterator[Emulator]:
    emulator = Emulator(in_process=True).with_signing_key().start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
async def signing_client(_signing_emulator: Emulator, twin: Twin) -> AsyncIterator[Client]:
    """A client of `twin` of an empty in-process emulator that signs every event."""
    _signing_emulator.reset()
    async with server_client(twin, _signing_emulator) as client:
        yield client


@pytest.fixture
def verification_key(_signing_emulator: Emulator) -> Ed25519PublicKey:
    """The public key matching the signing emulator's key."""
    return _signing_emulator.get_verification_key()
