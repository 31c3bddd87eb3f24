"""What `import eventsourcingdb` loads: the client and its protocol, nothing a client does not use.

Cold start counts for command-line tools, serverless functions and test runs, so the core
import leaves out the emulator and its parser and schema libraries, the container support, the
typed layer (pydantic and its models) and aiohttp, which the client imports on its first request
(`bench/run startup` measures the time beside the official client's). Each check runs in a
fresh interpreter, since this test process has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys

NEVER_AT_IMPORT = (
    "eventsourcingdb.emulator",
    "eventsourcingdb.container",
    "eventsourcingdb.testing",
    "eventsourcingdb.models",
    "eventsourcingdb.aggregates",
    "eventsourcingdb.projections",
    "lark",
    "jsonschema",
    "re2",
    "uvicorn",
    "testcontainers",
    "docker",
    "pydantic",
    "pydantic_core",
    "aiohttp",
)


def loaded_after(statements: str) -> list[str]:
    """Which of `NEVER_AT_IMPORT` a fresh interpreter has loaded after running `statements`."""
    probe = (
        "import json, sys\n"
        f"{statements}\n"
        f"watched = {NEVER_AT_IMPORT!r}\n"
        "print(json.dumps(sorted({w for w in watched for m in sys.modules "
        "if m == w or m.startswith(w + '.')})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_package_loads_only_the_client() -> None:
    assert loaded_after("import eventsourcingdb") == []


def test_creating_a_client_loads_nothing_more() -> None:
    statements = (
        "import eventsourcingdb\n"
        "client = eventsourcingdb.Client('http://127.0.0.1:9', 'secret')\n"
        "options = eventsourcingdb.ReadEventsOptions(recursive=True)"
    )
    assert loaded_after(statements) == []


def test_aiohttp_is_loaded_by_the_first_request() -> None:
    statements = (
        "import asyncio, eventsourcingdb\n"
        "async def ping():\n"
        "    async with eventsourcingdb.Client('http://127.0.0.1:9', 'secret', timeout=5) as c:\n"
        "        try:\n"
        "            await c.ping()\n"
        "        except eventsourcingdb.EventSourcingDBError:\n"
        "            pass  # nothing listens on port 9: the request was made all the same\n"
        "asyncio.run(ping())"
    )
    assert loaded_after(statements) == ["aiohttp"]
