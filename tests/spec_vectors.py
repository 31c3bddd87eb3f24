"""Test vectors of the spec (http-api.md §8.2), shared by the client's and the emulator's tests.

Both implementations are checked against the same published values, never against each other.
"""

from __future__ import annotations

V1_HASH = "a6015b0e09ab312b6ff506e267ad46d6e806f3a13041f948cf5c5ebbf83105f0"
"""The hash of the captured real-server line (vector V1)."""

FOUR_EVENT_CHAIN = [
    (
        "2024-01-01T12:00:00.000000000Z",
        "/test-subject/items/00000000-0000-0000-0000-000000000001",
        "com.example.item.created",
        '{"title":"Lorem ipsum","description":"Dolor sit amet"}',
        "a5137d458a5639ee5d1f1248559058b2dfc25c98c8731aefc3efbf9decb5dbeb",
    ),
    (
        "2024-01-01T12:01:00.000000000Z",
        "/test-subject/items/00000000-0000-0000-0000-000000000002",
        "com.example.item.created",
        '{"title":"Consectetur adipiscing","description":"Elit sed do"}',
        "414c8cfda7891fd289c4ce4aeacaa3349e39e54dded74254bba9f89d81c6a265",
    ),
    (
        "2024-01-01T12:02:00.000000000Z",
        "/test-subject/items/00000000-0000-0000-0000-000000000003",
        "com.example.item.updated",
        '{"title":"Eiusmod tempor","description":"Incididunt ut labore"}',
        "b858182943c324718ac47f96fe4cfbb41e5f50dac2b645b1578304a7b40d5454",
    ),
    (
        "2024-01-01T12:03:00.000000000Z",
        "/test-subject/items/00000000-0000-0000-0000-000000000004",
        "com.example.item.deleted",
        '{"reason":"Et dolore magna"}',
        "1f4cc9e2e48cd81003050bf56bf953033e4d7c8ac5762bade5e149175812d969",
    ),
]
"""Vector V2: (time, subject, type, raw data, hash) of a four-event chain."""
