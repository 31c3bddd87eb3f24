"""The server side of event integrity: hash v1 and v2 of an event, and Ed25519 signatures.

Recipes of http-api.md §8 (v1) and http-api-v2.md §5 (v2). The signature covers the UTF-8 bytes
of the complete `hash` string, so one function signs both versions.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from eventsourcingdb import _wire

__all__ = [
    "EventMetadata",
    "HashVersion",
    "Signer",
    "compute_hash",
    "hash_v1",
    "hash_v2",
    "load_signing_key",
]


class HashVersion(enum.IntEnum):
    """Which recipe the server hashes events with."""

    V1 = 1
    V2 = 2


@dataclass(frozen=True, slots=True)
class EventMetadata:
    """The members of an event that its hash covers, besides `data`."""

    specversion: str
    id: str
    predecessorhash: str
    time: str
    source: str
    subject: str
    type: str
    datacontenttype: str
    traceparent: str | None = None
    tracestate: str | None = None


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hash_v1(metadata: EventMetadata, data: bytes) -> str:
    """64 hex digits: SHA-256 over the hex digests of the `|`-joined metadata and of `data`."""
    joined = "|".join(
        (
            metadata.specversion,
            metadata.id,
            metadata.predecessorhash,
            metadata.time,
            metadata.source,
            metadata.subject,
            metadata.type,
            metadata.datacontenttype,
        )
    )
    digests = _sha256_hex(joined.encode("utf-8")) + _sha256_hex(data)
    return _sha256_hex(digests.encode("ascii"))


def hash_v2(metadata: EventMetadata, data: bytes) -> str:
    """`esdb:hash:v2:` and SHA-256 over eleven newline-terminated lines followed by `data`."""
    lines = (
        _wire.HASH_V2_PREFIX,
        metadata.specversion,
        metadata.id,
        metadata.predecessorhash,
        metadata.time,
        metadata.source,
        metadata.subject,
        metadata.type,
        metadata.datacontenttype,
        metadata.traceparent if metadata.traceparent is not None else "-",
        metadata.tracestate if metadata.tracestate is not None else "-",
    )
    header = ("\n".join(lines) + "\n").encode("utf-8")
    return _wire.HASH_V2_PREFIX + _sha256_hex(header + data)


def compute_hash(version: HashVersion, metadata: EventMetadata, data: bytes) -> str:
    """The hash of an event by the recipe of `version`."""
    if version is HashVersion.V2:
        return hash_v2(metadata, data)
    return hash_v1(metadata, data)


class Signer:
    """Signs event hashes with one Ed25519 key: `esdb:signature:v1:` and 128 hex digits."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key

    @property
    def private_key(self) -> Ed25519PrivateKey:
        """The key that signs."""
        return self._key

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The key that verifies the signatures."""
        return self._key.public_key()

    def sign(self, event_hash: str) -> str:
        """The signature member of an event whose `hash` is `event_hash`."""
        return _wire.SIGNATURE_V1_PREFIX + self._key.sign(event_hash.encode("utf-8")).hex()


def load_signing_key(pem: bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key from PKCS#8 PEM (what `--signing-key-file` holds).

    Raises `ValueError` when the text is not such a key.
    """
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"the signing key must be an Ed25519 key, not {type(key).__name__}")
    return key
