"""Event hashes (versions 1 and 2) and Ed25519 signatures, computed the way the server does.

The `data` part of a hash is always taken over bytes handed in by the caller: the raw bytes the
server sent. `canonical_data` re-creates those bytes from a parsed value (the server's encoding:
Go's `encoding/json`) for events that were built without them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from hashlib import sha256
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from eventsourcingdb._wire import HASH_PREFIX, HASH_V2_PREFIX, SIGNATURE_V1_PREFIX
from eventsourcingdb.errors import (
    HashMismatchError,
    InvalidArgumentError,
    MissingSignatureError,
    SignatureMismatchError,
    UnsupportedHashVersionError,
)

_SIGNATURE_PREFIX = "esdb:signature:"
_HEX_SIGNATURE = re.compile(r"[0-9a-fA-F]{128}")


def hash_v1(event: Mapping[str, Any], raw_data: bytes) -> str:
    """Hash version 1: SHA-256 over the hex digests of the `|`-joined metadata and of `data`."""
    metadata = "|".join(
        (
            event["specversion"],
            event["id"],
            event["predecessorhash"],
            event["time"],
            event["source"],
            event["subject"],
            event["type"],
            event["datacontenttype"],
        )
    )
    metadata_digest = sha256(metadata.encode("utf-8")).hexdigest()
    data_digest = sha256(raw_data).hexdigest()
    return sha256((metadata_digest + data_digest).encode("ascii")).hexdigest()


def hash_v2(event: Mapping[str, Any], raw_data: bytes) -> str:
    """Hash version 2: SHA-256 over eleven newline-terminated lines (trace fields too) + data."""
    lines = (
        HASH_V2_PREFIX,
        event["specversion"],
        event["id"],
        event["predecessorhash"],
        event["time"],
        event["source"],
        event["subject"],
        event["type"],
        event["datacontenttype"],
        event.get("traceparent") or "-",
        event.get("tracestate") or "-",
    )
    digest = sha256(("\n".join(lines) + "\n").encode("utf-8"))
    digest.update(raw_data)
    return HASH_V2_PREFIX + digest.hexdigest()


def hash_version(hash_: str) -> str:
    """The version label of a hash: `v1` for 64 hex digits without prefix, else its own label."""
    if hash_.startswith(HASH_V2_PREFIX):
        return "v2"
    if hash_.startswith(HASH_PREFIX):
        return hash_[len(HASH_PREFIX) :].split(":", 1)[0] or "?"
    return "v1"


def verify_hash(event: Mapping[str, Any], raw_data: bytes, *, raw_is_exact: bool = True) -> None:
    """Recompute the hash of `event` over `raw_data` and compare it with the hash it carries.

    Raises `UnsupportedHashVersionError` for a hash version this SDK does not know (it is neither
    confirmed nor denied), `HashMismatchError` when the hashes differ.
    """
    carried: str = event["hash"]
    event_id = event["id"]
    version = hash_version(carried)
    if version == "v1":
        computed = hash_v1(event, raw_data)
    elif version == "v2":
        computed = hash_v2(event, raw_data)
    else:
        raise UnsupportedHashVersionError(
            version,
            f"event {event_id} carries a hash of version {version!r} ({carried[:40]}...), which "
            "this SDK cannot check; upgrade the eventsourcingdb package to verify it",
        )
    if computed != carried:
        hint = (
            "the event or its hash were changed after the server wrote it"
            if raw_is_exact
            else "this Event was built from a parsed dict without the bytes the server sent, so "
            "its data were re-encoded; build it with Event.from_json(line) to hash the exact bytes"
        )
        raise HashMismatchError(
            f"the hash of event {event_id} does not match its content: computed {computed}, the "
            f"event carries {carried}; {hint}"
        )


def require_signature(event: Mapping[str, Any], verification_key: object) -> str:
    """The event's signature; raises if the key is not an Ed25519 public key or there is none."""
    if not isinstance(verification_key, Ed25519PublicKey):
        raise InvalidArgumentError(
            "verification_key must be an Ed25519PublicKey from "
            "cryptography.hazmat.primitives.asymmetric.ed25519, got "
            f"{type(verification_key).__name__}; load a PEM key with "
            "cryptography.hazmat.primitives.serialization.load_pem_public_key"
        )
    signature: str | None = event.get("signature")
    if signature is None:
        raise MissingSignatureError(
            f"event {event['id']} carries no signature: the server runs without a signing key; "
            "start it with --signing-key-file to have events signed"
        )
    return signature


def verify_signature(event: Mapping[str, Any], verification_key: Ed25519PublicKey) -> None:
    """Check the Ed25519 signature of an event over the UTF-8 bytes of its complete hash string.

    The caller verifies the hash first. Raises `MissingSignatureError` when the event carries none,
    `SignatureMismatchError` when it does not verify (or has a form this SDK does not know).
    """
    signature = require_signature(event, verification_key)
    event_id = event["id"]
    if not signature.startswith(SIGNATURE_V1_PREFIX):
        if signature.startswith(_SIGNATURE_PREFIX):
            label = signature[len(_SIGNATURE_PREFIX) :].split(":", 1)[0]
            raise SignatureMismatchError(
                f"event {event_id} carries a signature of version {label!r}, which this SDK "
                "cannot check; upgrade the eventsourcingdb package to verify it"
            )
        raise SignatureMismatchError(
            f"the signature of event {event_id} is malformed: it does not start with "
            f"{SIGNATURE_V1_PREFIX!r}"
        )
    hex_signature = signature[len(SIGNATURE_V1_PREFIX) :]
    if not _HEX_SIGNATURE.fullmatch(hex_signature):
        raise SignatureMismatchError(
            f"the signature of event {event_id} is malformed: expected 128 hex digits after "
            f"{SIGNATURE_V1_PREFIX!r}"
        )
    try:
        verification_key.verify(bytes.fromhex(hex_signature), event["hash"].encode("utf-8"))
    except InvalidSignature:
        raise SignatureMismatchError(
            f"the signature of event {event_id} does not verify with the given key: the event "
            "was signed with another key, or its hash or signature were changed"
        ) from None


# --- the server's encoding of `data` ---------------------------------------------------------

_HTML_UNSAFE = re.compile("[<>&\u2028\u2029]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _go_string(text: str) -> str:
    text = _LONE_SURROGATE.sub("\ufffd", text)
    encoded = json.dumps(text, ensure_ascii=False)
    return _HTML_UNSAFE.sub(lambda match: _ESCAPES[match.group()], encoded)


def _go_float(number: float) -> str:
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError("NaN and infinity have no JSON form")
    if number == 0:
        return "-0" if str(number).startswith("-") else "0"
    shortest = Decimal(repr(number)).normalize()
    if 1e-6 <= abs(number) < 1e21:
        return format(shortest, "f")
    sign, digits, exponent = shortest.as_tuple()
    assert isinstance(exponent, int)
    scientific = exponent + len(digits) - 1
    mantissa = str(digits[0])
    if len(digits) > 1:
        mantissa += "." + "".join(map(str, digits[1:]))
    exponent_text = f"{abs(scientific):02d}" if scientific >= 0 else str(-scientific)
    return (
        ("-" if sign else "") + mantissa + "e" + ("+" if scientific >= 0 else "-") + exponent_text
    )


def _canonical(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, Mapping):
        members = sorted(value.items())
        return "{" + ",".join(f"{_go_string(k)}:{_canonical(v)}" for k, v in members) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_canonical(item) for item in value) + "]"
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def canonical_data(data: Any) -> bytes:
    """`data` encoded as the server encodes it (Go `encoding/json` of a decoded value).

    Keys sorted by byte order, compact, `<`, `>`, `&`, U+2028 and U+2029 escaped, other non-ASCII
    raw, floats in Go's shortest form (`1e-7`, `1e+21`, `100`). Equal to the server's bytes for
    every value that survives a float64 round trip.
    """
    return _canonical(data).encode("utf-8")
