"""Hash v1 and v2 and signatures: the vectors of spec §8.2, v2 vectors, and what must fail."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)
from hypothesis import given
from hypothesis import strategies as st

from eventsourcingdb import (
    Event,
    HashMismatchError,
    InvalidArgumentError,
    MissingSignatureError,
    SignatureMismatchError,
    UnsupportedHashVersionError,
)
from eventsourcingdb._protocol.envelopes import StreamDecoder, convert_event
from eventsourcingdb._protocol.hashing import canonical_data, hash_v1, hash_v2, hash_version
from eventsourcingdb._protocol.requests import ApiVersion, build_read_events
from eventsourcingdb.options import ReadEventsOptions
from tests.spec_vectors import FOUR_EVENT_CHAIN, V1_HASH

# The captured real-server line of spec §8.2 V1, byte for byte: `\u003c` etc. are six-character
# escapes in the line, `é` and `😀` raw UTF-8.
REAL_LINE = (
    '{"type":"event","payload":{"source":"https://x","subject":"/a","type":"io.x.y",'
    '"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",'
    '"specversion":"1.0","id":"0","time":"2026-10-07T13:32:50.439461594Z",'
    '"datacontenttype":"application/json",'
    '"predecessorhash":"0000000000000000000000000000000000000000000000000000000000000000",'
    '"data":{"b":100,"k":{"a":2,"b":1},"n":1.5,"z":"\\u003c\\u0026\\u003e é 😀"},'
    '"hash":"a6015b0e09ab312b6ff506e267ad46d6e806f3a13041f948cf5c5ebbf83105f0",'
    '"signature":null}}'
).encode()

RAW_DATA_HEX = (
    "7b2262223a3130302c226b223a7b2261223a322c2262223a317d2c226e223a312e352c227a223a225c7530"
    "3033635c75303032365c753030336520c3a920f09f9880227d"
)
METADATA = (
    "1.0|0|0000000000000000000000000000000000000000000000000000000000000000|"
    "2026-10-07T13:32:50.439461594Z|https://x|/a|io.x.y|application/json"
)
METADATA_HASH = "659853e3767eaec6ddf2912d1dc191d9c297886051f72315a8db2c08e6687c1c"
DATA_HASH = "0b068a530db7899b81df6b51be7086320059dbe5bcaa9d106860597ef57346dd"

SEED = b"\x02" * 32
PUBLIC_KEY_HEX = "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394"
PRIVATE_PEM = (
    b"-----BEGIN PRIVATE KEY-----\n"
    b"MC4CAQAwBQYDK2VwBCIEIAICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIC\n"
    b"-----END PRIVATE KEY-----\n"
)
PUBLIC_PEM = (
    b"-----BEGIN PUBLIC KEY-----\n"
    b"MCowBQYDK2VwAyEAgTl3Dqh9F19Wo1Rmw0x+zMuNipG07jeiXfYPW4/Js5Q=\n"
    b"-----END PUBLIC KEY-----\n"
)
V4_SIGNATURE = (
    "esdb:signature:v1:5853adc85dac851cf1e06e9cf8fe2051245c758407f003691a3b80a1b31d60c761504ab"
    "c48d46964755a02ab6430303c21788e5b2958fe4b5494a5a3c31d8807"
)

# Hash v2 of the same event, by the recipe of http-api-v2.md §5 (see `_v2_by_hand`).
V2_HASH_WITH_TRACEPARENT = (
    "esdb:hash:v2:b7285eb12d1f96ac242cd323a3df816a747bc83385d9952ab684250a78fc1d27"
)
V2_HASH_WITHOUT_TRACE = (
    "esdb:hash:v2:b4e9d29028f25fbd7e5211ab0d509e01e67f136fc9432f28adb1f9c608a128ff"
)
V2_SIGNATURE = (
    "esdb:signature:v1:d36a6f36ef0a59dc5ffc6e2100096dd4fadd6edfc56151b3ca995e2212669574192395"
    "456893a677bfc34b4394343bc3cddde6e19b40208941dbf31982d99907"
)


def read_line(line: bytes) -> Event:
    """The event of one v1 read-events line, decoded as the client does."""
    decoder = StreamDecoder(
        build_read_events(ApiVersion.V1, "/", ReadEventsOptions()), "event", convert_event
    )
    (event,) = decoder.feed(line + b"\n")
    assert decoder.failure is None
    return event


def with_changes(line: bytes, **changes: str | None) -> bytes:
    """The line with payload members replaced (by text substitution, keeping `data` bytes)."""
    text = line.decode("utf-8")
    payload = json.loads(text)["payload"]
    for key, value in changes.items():
        old = f'"{key}":{json.dumps(payload[key], ensure_ascii=False)}'
        assert old in text, old
        text = text.replace(old, f'"{key}":{json.dumps(value, ensure_ascii=False)}')
    return text.encode("utf-8")


def _v2_by_hand(fields: list[str], raw: bytes) -> str:
    message = ("\n".join(["esdb:hash:v2:", *fields]) + "\n").encode("utf-8") + raw
    return "esdb:hash:v2:" + hashlib.sha256(message).hexdigest()


# --- V1: the captured real-server line ------------------------------------------------------


def test_the_real_line_keeps_its_raw_data_bytes() -> None:
    event = read_line(REAL_LINE)
    assert event.raw_data == bytes.fromhex(RAW_DATA_HEX)
    assert len(event.raw_data) == 68
    assert event.data == {"b": 100, "k": {"a": 2, "b": 1}, "n": 1.5, "z": "<&> é 😀"}


def test_the_real_line_hashes_step_by_step() -> None:
    assert hashlib.sha256(METADATA.encode()).hexdigest() == METADATA_HASH
    assert hashlib.sha256(bytes.fromhex(RAW_DATA_HEX)).hexdigest() == DATA_HASH
    event = read_line(REAL_LINE)
    assert hash_v1(event.to_json(), bytes.fromhex(RAW_DATA_HEX)) == V1_HASH


def test_the_real_line_verifies() -> None:
    event = read_line(REAL_LINE)
    event.verify_hash()
    assert event.hash == V1_HASH
    assert event.time_text == "2026-10-07T13:32:50.439461594Z"


def test_hash_v1_ignores_trace_fields_and_signature() -> None:
    line = with_changes(
        REAL_LINE, traceparent="00-1111111111111111111111111111111a-1111111111111111-01"
    )
    read_line(line).verify_hash()


def test_a_re_serialisation_would_not_verify() -> None:
    """What the 1.x client did (json.dumps of the parsed data) gives other bytes, another hash."""
    event = read_line(REAL_LINE)
    resorted = json.dumps(event.data, separators=(",", ":")).encode()
    assert resorted != event.raw_data
    assert hash_v1(event.to_json(), resorted) != V1_HASH


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("id", "1"),
        ("time", "2026-10-07T13:32:50.43946159Z"),
        ("source", "https://y"),
        ("subject", "/b"),
        ("type", "io.x.z"),
        ("specversion", "1.1"),
        ("datacontenttype", "text/json"),
        ("predecessorhash", "1" * 64),
        ("hash", "0" * 64),
    ],
)
def test_any_changed_member_fails_the_hash(member: str, value: str) -> None:
    event = read_line(with_changes(REAL_LINE, **{member: value}))
    with pytest.raises(HashMismatchError, match="does not match its content"):
        event.verify_hash()


def test_changed_data_fails_the_hash() -> None:
    event = read_line(REAL_LINE.replace(b'"n":1.5', b'"n":1.50'))
    assert event.data["n"] == 1.5
    with pytest.raises(HashMismatchError):
        event.verify_hash()


def test_data_changed_after_the_read_fail_the_verification() -> None:
    """`Event.data` is not a copy: a change to it is noticed, though the raw bytes still hash."""
    event = read_line(REAL_LINE)
    event.verify_hash()
    event.data["b"] = 1_000_000
    with pytest.raises(HashMismatchError, match="data were changed after it was received"):
        event.verify_hash()
    event.data["b"] = 100
    event.verify_hash()
    nested = read_line(REAL_LINE)
    nested.data["k"]["c"] = 3
    with pytest.raises(HashMismatchError, match="data were changed"):
        nested.verify_hash()
    from_text = Event.from_json(REAL_LINE[len(b'{"type":"event","payload":') : -1])
    from_text.verify_hash()
    from_text.data.clear()
    with pytest.raises(HashMismatchError, match="data were changed"):
        from_text.verify_hash()


# --- V2 and V3: chains -----------------------------------------------------------------------


def _event_text(**members: str) -> str:
    data = members.pop("data")
    head = ",".join(f'"{key}":{json.dumps(value)}' for key, value in members.items())
    return "{" + head + ',"data":' + data + "}"


def test_the_four_event_chain_verifies() -> None:
    predecessor = "0" * 64
    for index, (time, subject, event_type, data, expected) in enumerate(FOUR_EVENT_CHAIN):
        text = _event_text(
            specversion="1.0",
            id=str(index),
            time=time,
            source="tag:example.com,2024:test:app",
            subject=subject,
            type=event_type,
            datacontenttype="application/json",
            predecessorhash=predecessor,
            hash=expected,
            data=data,
        )
        event = Event.from_json(text)
        assert event.raw_data == data.encode()
        event.verify_hash()
        predecessor = expected


AUDIT_CHAIN = [
    ("1", "2023-01-02T13:37:00.0001Z", "/users/anne", "io.thenativeweb.test.registered",
     '{"username":"anne"}', "b6ae7a219468eeb110cf20151d9a8dc091ed40390a1411e36c183bf6a804900f"),
    ("2", "2023-01-02T13:37:00.0002Z", "/users/anne", "io.thenativeweb.test.loggedIn",
     '{"username":"anne"}', "a97f96c1a2b61ea7fa1f6249079f624a244f783357e5b0b8e27b32b363a04263"),
    ("3", "2023-01-02T13:37:01.0001Z", "/users/arno", "io.thenativeweb.test.registered",
     '{"username":"arno"}', "64d040f3bcf26b3a17f3172ddf56443cffa7f10fcd407eada39f2484bba36dea"),
    ("4", "2023-01-02T13:37:01.0002Z", "/users/arno", "io.thenativeweb.test.loggedIn",
     '{"username":"arno"}', "f8fa12a86ccc776c94ad95802ed1fc1d182a17dbeed9846381711f062a5d2a47"),
    ("5", "2023-01-02T13:37:02.0001Z", "/users", "io.thenativeweb.test.foo",
     "{}", "084d451c2a2606c85577a5aec38d28837d3db41f590106c85426b535bb03a705"),
]  # fmt: skip


def test_the_five_event_chain_with_trace_fields_verifies() -> None:
    predecessor = "0" * 64
    for index, (spec, time, subject, event_type, data, expected) in enumerate(AUDIT_CHAIN):
        text = _event_text(
            specversion=spec,
            id=str(index),
            time=time,
            source="tag:thenativeweb.io,2023:test",
            subject=subject,
            type=event_type,
            datacontenttype="application/json",
            predecessorhash=predecessor,
            hash=expected,
            traceparent=f"00-{index + 1:032x}-{index + 1:016x}-01",
            tracestate=f"k=v{index}",
            data=data,
        )
        Event.from_json(text).verify_hash()
        predecessor = expected


# --- hash v2 ---------------------------------------------------------------------------------


def test_hash_v2_by_its_recipe() -> None:
    raw = bytes.fromhex(RAW_DATA_HEX)
    fields = [
        "1.0",
        "0",
        "0" * 64,
        "2026-10-07T13:32:50.439461594Z",
        "https://x",
        "/a",
        "io.x.y",
        "application/json",
    ]
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert _v2_by_hand([*fields, traceparent, "-"], raw) == V2_HASH_WITH_TRACEPARENT
    assert _v2_by_hand([*fields, "-", "-"], raw) == V2_HASH_WITHOUT_TRACE
    event = read_line(REAL_LINE)
    assert hash_v2(event.to_json(), raw) == V2_HASH_WITH_TRACEPARENT


def test_a_v2_event_verifies_and_its_hash_covers_the_trace_fields() -> None:
    line = with_changes(REAL_LINE, hash=V2_HASH_WITH_TRACEPARENT)
    read_line(line).verify_hash()
    changed = with_changes(
        line, traceparent="00-1111111111111111111111111111111a-1111111111111111-01"
    )
    with pytest.raises(HashMismatchError):
        read_line(changed).verify_hash()


def test_a_v2_event_without_trace_fields_verifies() -> None:
    line = REAL_LINE.replace(
        b'"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",', b""
    )
    read_line(with_changes(line, hash=V2_HASH_WITHOUT_TRACE)).verify_hash()


def test_tracestate_enters_the_v2_hash() -> None:
    raw = bytes.fromhex(RAW_DATA_HEX)
    event = read_line(REAL_LINE).to_json()
    with_state = {**event, "tracestate": "rojo=00f067aa0ba902b7"}
    assert hash_v2(with_state, raw) != hash_v2(event, raw)
    fields = [
        event[k]
        for k in (
            "specversion",
            "id",
            "predecessorhash",
            "time",
            "source",
            "subject",
            "type",
            "datacontenttype",
            "traceparent",
        )
    ]
    assert hash_v2(with_state, raw) == _v2_by_hand([*fields, "rojo=00f067aa0ba902b7"], raw)


@pytest.mark.parametrize(
    ("value", "version"),
    [
        (V1_HASH, "v1"),
        (V2_HASH_WITH_TRACEPARENT, "v2"),
        ("esdb:hash:v3:" + "0" * 64, "v3"),
        ("esdb:hash:", "?"),
    ],
)
def test_hash_versions(value: str, version: str) -> None:
    assert hash_version(value) == version


def test_an_unknown_hash_version_is_reported_as_such() -> None:
    event = read_line(with_changes(REAL_LINE, hash="esdb:hash:v3:" + "ab" * 32))
    with pytest.raises(UnsupportedHashVersionError, match="version 'v3'") as caught:
        event.verify_hash()
    assert not isinstance(caught.value, HashMismatchError)
    assert caught.value.version == "v3"  # the label, as the official SDK 2.2.4 has it


# --- signatures ------------------------------------------------------------------------------


def _key() -> Ed25519PublicKey:
    key = load_pem_public_key(PUBLIC_PEM)
    assert isinstance(key, Ed25519PublicKey)
    return key


def test_the_v4_key_material_fits_together() -> None:
    private = load_pem_private_key(PRIVATE_PEM, password=None)
    assert isinstance(private, Ed25519PrivateKey)
    seeded = Ed25519PrivateKey.from_private_bytes(SEED)
    raw_public = seeded.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert raw_public.hex() == PUBLIC_KEY_HEX
    assert _key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex() == PUBLIC_KEY_HEX
    signature = private.sign(V1_HASH.encode("ascii")).hex()
    assert "esdb:signature:v1:" + signature == V4_SIGNATURE


def test_the_v4_signature_verifies() -> None:
    read_line(with_changes(REAL_LINE, signature=V4_SIGNATURE)).verify_signature(_key())


def test_a_v2_signature_covers_the_whole_hash_string() -> None:
    line = with_changes(REAL_LINE, hash=V2_HASH_WITH_TRACEPARENT, signature=V2_SIGNATURE)
    read_line(line).verify_signature(_key())
    private = Ed25519PrivateKey.from_private_bytes(SEED)
    hex_only = V2_HASH_WITH_TRACEPARENT.removeprefix("esdb:hash:v2:").encode()
    wrong = "esdb:signature:v1:" + private.sign(hex_only).hex()
    bad = with_changes(REAL_LINE, hash=V2_HASH_WITH_TRACEPARENT, signature=wrong)
    with pytest.raises(SignatureMismatchError, match="does not verify"):
        read_line(bad).verify_signature(_key())


def test_another_key_does_not_verify() -> None:
    other = Ed25519PrivateKey.from_private_bytes(b"\x03" * 32).public_key()
    event = read_line(with_changes(REAL_LINE, signature=V4_SIGNATURE))
    with pytest.raises(SignatureMismatchError, match="does not verify"):
        event.verify_signature(other)


def test_signature_verification_checks_the_hash_first() -> None:
    line = with_changes(REAL_LINE, signature=V4_SIGNATURE).replace(b'"n":1.5', b'"n":2.5')
    with pytest.raises(HashMismatchError):
        read_line(line).verify_signature(_key())


def test_a_missing_signature_is_reported() -> None:
    with pytest.raises(MissingSignatureError, match="no signature"):
        read_line(REAL_LINE).verify_signature(_key())


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ("5853adc85dac851cf1e06e9cf8fe2051", "does not start with"),
        ("esdb:signature:v1:abc", "128 hex digits"),
        ("esdb:signature:v2:" + "00" * 64, "version 'v2'"),
        ("esdb:signature:v1:" + "zz" * 64, "128 hex digits"),
    ],
)
def test_malformed_signatures(signature: str, message: str) -> None:
    event = read_line(with_changes(REAL_LINE, signature=signature))
    with pytest.raises(SignatureMismatchError, match=message):
        event.verify_signature(_key())


def test_the_key_must_be_an_ed25519_public_key() -> None:
    event = read_line(with_changes(REAL_LINE, signature=V4_SIGNATURE))
    with pytest.raises(InvalidArgumentError, match="Ed25519PublicKey"):
        event.verify_signature(PUBLIC_PEM)  # type: ignore[arg-type]


# --- the server's encoding, for events built without raw bytes -------------------------------


def test_canonical_data_reproduces_the_captured_bytes() -> None:
    event = read_line(REAL_LINE)
    assert canonical_data(event.data) == bytes.fromhex(RAW_DATA_HEX)


def test_an_event_built_from_a_dict_verifies_by_canonical_encoding() -> None:
    parsed = Event.parse(read_line(REAL_LINE).to_json())
    assert parsed.raw_data is None
    parsed.verify_hash()


def test_a_mismatch_of_a_dict_built_event_explains_the_missing_bytes() -> None:
    payload: dict[str, Any] = read_line(REAL_LINE).to_json()
    payload["data"] = {**payload["data"], "n": 1.25}
    with pytest.raises(HashMismatchError, match=r"Event\.from_json"):
        Event.parse(payload).verify_hash()


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (1.0, "1"),
        (1e3, "1000"),
        (2.5, "2.5"),
        (1e-7, "1e-7"),
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (-2.5e-10, "-2.5e-10"),
        (0.000001, "0.000001"),
        (123456789.125, "123456789.125"),
        (12345678901234567890.0, "12345678901234567000"),
        (0.0, "0"),
        (10**30, "1000000000000000000000000000000"),
        ("a\u2028b", '"a\\u2028b"'),
        ("\x01\n\t", '"\\u0001\\n\\t"'),
        ({"b": 1, "a": [True, None]}, '{"a":[true,null],"b":1}'),
        ({"é": 1, "z": 2, "Z": 3}, '{"Z":3,"z":2,"é":1}'),
    ],
)
def test_canonical_encoding_follows_go(value: object, encoded: str) -> None:
    assert canonical_data(value).decode("utf-8") == encoded


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda children: st.lists(children) | st.dictionaries(st.text(), children),
        max_leaves=20,
    )
)
def test_canonical_encoding_is_json_of_the_same_value(value: object) -> None:
    """Same value as JSON, numbers compared as float64 (Go pads long integral floats with 0s)."""
    decoded = json.loads(canonical_data(value), parse_int=float)
    assert decoded == json.loads(json.dumps(value), parse_int=float)


# --- dataclasses.replace: a copy verifies, a change does not --------------------------------


@pytest.mark.parametrize(
    "changes",
    [{}, {"hash": V2_HASH_WITH_TRACEPARENT, "signature": V2_SIGNATURE}],
    ids=["v1", "v2-signed"],
)
def test_a_replaced_event_verifies_as_the_original(changes: dict[str, str]) -> None:
    """The official SDK 2.2.4 loses the server's time string in `replace` and cannot verify the
    copy (AttributeError); ours carries it over in `time_text`."""
    original = read_line(with_changes(REAL_LINE, **changes))
    copy_ = dataclasses.replace(original)
    assert copy_ == original
    assert copy_.time_text == "2026-10-07T13:32:50.439461594Z"
    assert copy_.raw_data is None, "the copy re-encodes its data the way the server does"
    copy_.verify_hash()
    if "signature" in changes:
        copy_.verify_signature(_key())


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": "/b"},
        {"data": {"b": 101}},
        {"time": datetime(2026, 10, 7, 13, 32, 51, tzinfo=UTC)},
        {"trace_parent": "00-1111111111111111111111111111111a-1111111111111111-01"},
    ],
)
def test_a_replaced_event_with_a_changed_field_fails_verification(changes: dict[str, Any]) -> None:
    original = read_line(with_changes(REAL_LINE, hash=V2_HASH_WITH_TRACEPARENT))
    original.verify_hash()
    changed = dataclasses.replace(original, **changes)
    with pytest.raises(HashMismatchError):
        changed.verify_hash()


def test_replace_with_the_same_instant_keeps_the_servers_time_string() -> None:
    original = read_line(REAL_LINE)
    same_instant = dataclasses.replace(original, time=original.time)
    assert same_instant.time_text == original.time_text
    same_instant.verify_hash()
    fields = [field.name for field in dataclasses.fields(original)]
    assert fields[:3] == ["data", "source", "subject"]
    assert dataclasses.asdict(original)["time_text"] == original.time_text
