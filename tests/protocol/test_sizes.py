"""The size of an event as the server counts it: Go's JSON of `data`, computed without encoding."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from eventsourcingdb._protocol.sizes import go_json_size
from eventsourcingdb.emulator.encoding import encode_json

_TEXT = st.text(st.characters(exclude_categories=["Cs"]) | st.sampled_from('<>&\u2028\b\x00"\\'))
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**25), 10**25)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_TEXT, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(_JSON)
def test_the_size_is_that_of_the_emulators_go_compatible_encoding(value: Any) -> None:
    # the emulator's encoder reproduces the real server's bytes (see its own tests); the client
    # counts them independently, without encoding
    assert go_json_size(value) == len(encode_json(value))


def test_go_spells_numbers_and_some_characters_differently_from_python() -> None:
    assert go_json_size(1.0) == len("1")
    assert go_json_size(1e-7) == len("1e-7")
    assert go_json_size(1e21) == len("1e+21")
    assert go_json_size(10**25) == len("1e+25")
    assert go_json_size(-0.0) == len("-0")
    assert go_json_size("<&>") == len('"\\u003c\\u0026\\u003e"')
    assert go_json_size("\u2028") == len('"\\u2028"')
    assert go_json_size({"a": [True, None]}) == len('{"a":[true,null]}')
