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


@pytest.fixture(scope="session")
def _signing_emulator() -> Iterator[Emulator]:
    emulator = Emulator(in_process=True).with_signing_key().start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
async def signing_client(_signing_emulator: Emulator) -> AsyncIterator[Client]:
    """A client of an empty in-process emulator that signs every event."""
    _signing_emulator.reset()
    client = _signing_emulator.get_client()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def verification_key(_signing_emulator: Emulator) -> Ed25519PublicKey:
    """The public key matching the signing emulator's key."""
    return _signing_emulator.get_verification_key()
