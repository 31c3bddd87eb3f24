"""Proposed fixes of hot paths, applied inside our workers to measure them before they land.

`bench/run --patch NAME ...` sets `BENCH_PATCHES`, and every worker of ours applies the named
patches when it starts (the emulator and the official client are untouched). A patched run is
never written to latest.json. The code here is the proposal itself: each patch replaces one
function of the package with the faster version suggested for it, keeping its behaviour.

* `sniffio` - makes `import sniffio` succeed, as adding `sniffio` to the package's dependencies
  would. httpcore 1.0 imports it (to tell asyncio from trio) each time it creates a lock or
  semaphore, four times per request; anyio 4.x no longer depends on it, so without it every
  request pays four failed imports, each a search of the whole `sys.path`. This patch stands in
  for the installed package (it answers "asyncio" as sniffio does in an asyncio task); it affects
  our client and the raw limit alike, both being httpx. Since `sniffio` became a dependency of
  the package, the patch finds it installed and does nothing; it stays as the record of the
  proposal and as an example of a patch.

The earlier proposals `fast-raw-data` (`Event.raw_data` by search and the C scanner) and
`lean-decode` (typed decoding without the general path) have landed in the package, in a
stronger form (see docs/performance.md, "What changed"); their before/after runs stay in
bench/results/proposals/.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Final

PATCHES_VARIABLE: Final = "BENCH_PATCHES"


def _apply_sniffio() -> None:
    import importlib.util
    import sys
    import types

    if importlib.util.find_spec("sniffio") is not None:
        return  # installed already: the patch changes nothing

    def current_async_library() -> str:
        return "asyncio"  # what sniffio answers inside an asyncio task

    module = types.ModuleType("sniffio")
    module.__dict__["current_async_library"] = current_async_library
    sys.modules["sniffio"] = module


PATCHES: Final[dict[str, Callable[[], None]]] = {
    "sniffio": _apply_sniffio,
}


def requested() -> list[str]:
    """The patches named in the environment."""
    names = [name for name in os.environ.get(PATCHES_VARIABLE, "").split(",") if name]
    unknown = [name for name in names if name not in PATCHES]
    if unknown:
        raise ValueError(f"unknown patch(es) {unknown}; known: {sorted(PATCHES)}")
    return names


def apply_requested() -> list[str]:
    """Apply the patches named in the environment; their names."""
    names = requested()
    for name in names:
        PATCHES[name]()
    return names
