"""Parametrises every test that asks for `twin` over the async and the blocking twin."""

from __future__ import annotations

import pytest

from tests.twins import Twin


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "twins(*names, reason): run only on these twins ('async', 'sync'), saying why",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "twin" not in metafunc.fixturenames or "backend" in metafunc.fixturenames:
        return  # with a `backend` (tests/client), the twin follows from it
    marker = metafunc.definition.get_closest_marker("twins")
    chosen = [Twin(name) for name in marker.args] if marker is not None else list(Twin)
    metafunc.parametrize("twin", chosen, ids=[twin.value for twin in chosen])
