"""Hash v1 and v2 and Ed25519 signatures, against the vectors of http-api.md §8.2."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eventsourcingdb import _wire
from eventsourcingdb.emulator.encoding import TimeFormat
from eventsourcingdb.emulator.hashing import (
    EventMetadata,
    HashVersion,
    Signer,
    compute_hash,
    hash_v1,
    hash_v2,
    load_signing_key,
)
from eventsourcingdb.emulator.records import Candidate
from eventsourcingdb.emulator.store import Store
from tests.spec_vectors import FOUR_EVENT_CHAIN, V1_HASH

V1_DATA = '{"b":100,"k":{"a":2,"b":1},"n":1.5,"z":"\\u003c\\u0026\\u003e é 😀"}'.encode()
V1_LINE = (
    '{"type":"event","payload":{"source":"https://x","subject":"/a","type":"io.x.y",'
    '"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",'
    '"specversion":"1.0","id":"0","time":"2026-10-07T13:32:50.439461594Z",'
    '"datacontenttype":"application/json","predecessorhash":'
    '"0000000000000000000000000000000000000000000000000000000000000000",'
    '"data":{"b":100,"k":{"a":2,"b":1},"n":1.5,"z":"\\u003c\\u0026\\u003e é 😀"},'
    '"hash":"a6015b0e09ab312b6ff506e267ad46d6e806f3a13041f948cf5c5ebbf83105f0",'
    '"signature":null}}\n'
).encode()
V1_TIME_NS = 1_791_379_970_439_461_594
SEED_KEY_PEM = (
    b"-----BEGIN PRIVATE KEY-----\n"
    b"MC4CAQAwBQYDK2VwBCIEIAICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIC\n"
    b"-----END PRIVATE KEY-----\n"
)
V4_SIGNATURE = (
    "esdb:signature:v1:5853adc85dac851cf1e06e9cf8fe2051245c758407f003691a3b80a1b31d60c7"
    "61504abc48d46964755a02ab6430303c21788e5b2958fe4b5494a5a3c31d8807"
)


def _metadata(**fields: str) -> EventMetadata:
    defaults = {
        "specversion": "1.0",
        "id": "0",
        "predecessorhash": _wire.ZERO_HASH,
        "time": "2026-10-07T13:32:50.439461594Z",
        "source": "https://x",
        "subject": "/a",
        "type": "io.x.y",
        "datacontenttype": "application/json",
    }
    return EventMetadata(**{**defaults, **fields})


def test_v1_hash_of_the_real_server_line() -> None:
    assert len(V1_DATA) == 68
    assert hashlib.sha256(V1_DATA).hexdigest() == (
        "0b068a530db7899b81df6b51be7086320059dbe5bcaa9d106860597ef57346dd"
    )
    assert hash_v1(_metadata(), V1_DATA) == V1_HASH


def test_the_store_writes_the_real_server_line_byte_for_byte() -> None:
    store = Store(time_format=TimeFormat.RFC3339_NANO, clock=lambda: V1_TIME_NS)
    (event,) = store.write(
        [
            Candidate(
                source="https://x",
                subject="/a",
                type="io.x.y",
                data={},
                data_bytes=V1_DATA,
                traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )
        ]
    )
    assert b'{"type":"event","payload":' + event.encoded + b"}\n" == V1_LINE


def test_v2_vector_a_four_event_chain() -> None:
    predecessor = _wire.ZERO_HASH
    for index, (time, subject, event_type, data, expected) in enumerate(FOUR_EVENT_CHAIN):
        metadata = _metadata(
            id=str(index),
            predecessorhash=predecessor,
            time=time,
            source="tag:example.com,2024:test:app",
            subject=subject,
            type=event_type,
        )
        assert hash_v1(metadata, data.encode()) == expected
        predecessor = expected


V3_CHAIN = [
    (
        "1",
        "2023-01-02T13:37:00.0001Z",
        "/users/anne",
        "registered",
        "anne",
        "b6ae7a219468eeb110cf20151d9a8dc091ed40390a1411e36c183bf6a804900f",
    ),
    (
        "2",
        "2023-01-02T13:37:00.0002Z",
        "/users/anne",
        "loggedIn",
        "anne",
        "a97f96c1a2b61ea7fa1f6249079f624a244f783357e5b0b8e27b32b363a04263",
    ),
    (
        "3",
        "2023-01-02T13:37:01.0001Z",
        "/users/arno",
        "registered",
        "arno",
        "64d040f3bcf26b3a17f3172ddf56443cffa7f10fcd407eada39f2484bba36dea",
    ),
    (
        "4",
        "2023-01-02T13:37:01.0002Z",
        "/users/arno",
        "loggedIn",
        "arno",
        "f8fa12a86ccc776c94ad95802ed1fc1d182a17dbeed9846381711f062a5d2a47",
    ),
    (
        "5",
        "2023-01-02T13:37:02.0001Z",
        "/users",
        "foo",
        None,
        "084d451c2a2606c85577a5aec38d28837d3db41f590106c85426b535bb03a705",
    ),
]


def test_v3_vector_a_chain_with_trace_fields_that_v1_does_not_cover() -> None:
    predecessor = _wire.ZERO_HASH
    for index, (specversion, time, subject, kind, user, expected) in enumerate(V3_CHAIN):
        data = b"{}" if user is None else f'{{"username":"{user}"}}'.encode()
        metadata = _metadata(
            specversion=specversion,
            id=str(index),
            predecessorhash=predecessor,
            time=time,
            source="tag:thenativeweb.io,2023:test",
            subject=subject,
            type=f"io.thenativeweb.test.{kind}",
        )
        traced = dataclasses.replace(metadata, traceparent="00-x-y-01", tracestate="a=b")
        assert hash_v1(metadata, data) == expected
        assert hash_v1(traced, data) == expected
        predecessor = expected


def test_v2_hash_covers_eleven_lines_and_the_data() -> None:
    metadata = _metadata(traceparent="00-a-b-01")
    text = (
        "esdb:hash:v2:\n1.0\n0\n" + _wire.ZERO_HASH + "\n2026-10-07T13:32:50.439461594Z\n"
        "https://x\n/a\nio.x.y\napplication/json\n00-a-b-01\n-\n"
    ).encode() + V1_DATA
    expected = "esdb:hash:v2:" + hashlib.sha256(text).hexdigest()
    assert hash_v2(metadata, V1_DATA) == expected
    assert compute_hash(HashVersion.V2, metadata, V1_DATA) == expected
    assert compute_hash(HashVersion.V1, metadata, V1_DATA) == V1_HASH
    assert hash_v2(_metadata(traceparent="00-a-b-01", tracestate="k=v"), V1_DATA) != expected


def test_v4_signature_with_the_seed_key() -> None:
    key = load_signing_key(SEED_KEY_PEM)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert raw.hex() == "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394"
    signer = Signer(key)
    assert signer.sign(V1_HASH) == V4_SIGNATURE
    signature = bytes.fromhex(V4_SIGNATURE.removeprefix(_wire.SIGNATURE_V1_PREFIX))
    signer.public_key.verify(signature, V1_HASH.encode())


def test_v2_hashes_are_signed_with_their_prefix() -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    event_hash = "esdb:hash:v2:" + "ab" * 32
    signature = signer.sign(event_hash).removeprefix(_wire.SIGNATURE_V1_PREFIX)
    signer.public_key.verify(bytes.fromhex(signature), event_hash.encode())


def test_only_ed25519_pkcs8_keys_are_loaded() -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - cryptography's message
        load_signing_key(b"not a key")
