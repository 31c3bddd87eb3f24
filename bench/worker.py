"""The worker that runs our client and the raw limit: `python -m bench.worker`.

It reads one JSON request per line from stdin (`{"op": name, "params": {...}}`), runs the
operation on one long-lived event loop, and writes one JSON answer per line. The operations
(see `bench.session`) are defined next to their measurement and time their own work.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import os
import sys
import traceback
from typing import Any, Final

from bench.proposals import apply_requested
from bench.session import OPERATIONS, Params, Result, Session

IDLE_CATCH_UP: Final = 0.02
MODULES: Final = (
    "bench.read",
    "bench.write",
    "bench.observe",
    "bench.rehydrate",
    "bench.eventql",
    "bench.memory",
    "bench.command",
    "bench.server",
    "bench.profiling",
    "bench.projections",
    "bench.twins",
)


async def _run(name: str, params: Params, session: Session) -> Result:
    function = OPERATIONS.get(name)
    if function is None:
        raise ValueError(f"no operation {name!r}; known: {sorted(OPERATIONS)}")
    # The loop only runs during an operation: let it take in what happened while it was idle
    # (such as the server closing a kept-alive connection) before anything is timed.
    await asyncio.sleep(IDLE_CATCH_UP)
    gc.collect()
    return await function(params, session)


def main() -> int:
    # The answers get a descriptor of their own; anything else printed goes to stderr.
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    for module in MODULES:
        importlib.import_module(module)
    patches = apply_requested()
    if patches:
        print(f"worker: applied the proposed patches {patches}", file=sys.stderr)
    with asyncio.Runner() as runner:
        session = Session()
        try:
            for line in sys.stdin:
                if not line.strip():
                    continue
                request = json.loads(line)
                try:
                    result = runner.run(_run(request["op"], request.get("params", {}), session))
                    answer: dict[str, Any] = {"ok": True, "result": result}
                except Exception:
                    answer = {"ok": False, "error": traceback.format_exc()}
                answers.write(json.dumps(answer) + "\n")
        finally:
            runner.run(session.aclose())
    return 0


if __name__ == "__main__":
    sys.exit(main())
