"""The blocking twins of the framework are what `scripts/unasync.py` makes of the async source.

`EventStore`, `Repository` and `retry_on_conflict` have one implementation, the async one; their
blocking twins are generated and committed. This fails when a change to the async source was not
carried over: run `python scripts/unasync.py`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "unasync.py"


@pytest.fixture(scope="module")
def unasync() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unasync", _SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("unasync", module)
    spec.loader.exec_module(module)
    return module


def test_the_committed_blocking_twins_are_up_to_date(unasync: ModuleType) -> None:
    assert unasync.stale() == [], "run: python scripts/unasync.py"


@pytest.mark.parametrize(
    ("line", "blocking"),
    [
        ("    async def load(self) -> A:", "    def load(self) -> A:"),
        ("        x = await self._store.append(y)", "        x = self._store.append(y)"),
        ("        async with aclosing(s) as e:", "        with closing(s) as e:"),
        ("            async for item in e:", "            for item in e:"),
        (
            "    ) -> AsyncGenerator[list[tuple[A, str]], None]:",
            "    ) -> Generator[list[tuple[A, str]], None, None]:",
        ),
        ("    op: Callable[[], Awaitable[R]],", "    op: Callable[[], R],"),
        (
            "    change: Callable[[A], Awaitable[None] | None],",
            "    change: Callable[[A], object],",
        ),
        ("            await asyncio.sleep(wait)", "            time.sleep(wait)"),
        ("import asyncio", "import time"),
        (
            "from eventsourcingdb.client import Client",
            "from eventsourcingdb.sync.client import Client",
        ),
        (
            "from eventsourcingdb.models import OnUnknown",
            "from eventsourcingdb.models import OnUnknown",
        ),
        (
            "        `aclose()`, also from another task,",
            "        `close()`, also from another thread,",
        ),
        (
            "        await outcome  # sync: raise Mismatch(outcome)",
            "        raise Mismatch(outcome)",
        ),
        ("        await warm_up()  # sync: -", None),
    ],
)
def test_each_rule(unasync: ModuleType, line: str, blocking: str | None) -> None:
    assert unasync.unasync_line(line) == blocking
