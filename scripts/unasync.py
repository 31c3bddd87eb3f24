"""Write the blocking twins of the async framework modules, as httpcore's unasync script does.

The async modules are the one implementation; each blocking twin in `eventsourcingdb/sync/` is
generated from one of them and committed. `tests/sync/test_unasync.py` fails when a committed
twin differs from what this script makes of the async source, and mypy checks both.

The rewriting is textual, token by token: `async def` becomes `def`, `await` and `async` before
`for`/`with` go, async types and helpers become their blocking counterparts (`AsyncGenerator[X,
None]` becomes `Generator[X, None, None]`, `Awaitable[X]` becomes `X`, `aclosing` becomes
`closing`, `asyncio.sleep` becomes `time.sleep`, ...), and imports of async modules that have a
blocking twin name the twin (`eventsourcingdb.client` becomes `eventsourcingdb.sync.client`).
Where a line must differ otherwise, the async source says how with a trailing comment:
`# sync: <code>` replaces the line's code in the twin, and `# sync: -` leaves the line out. The
result is formatted with ruff.

    python scripts/unasync.py           write the twins
    python scripts/unasync.py --check   list the stale twins and exit 1 if there is one
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[1]

TWINS: Final = {
    "eventsourcingdb/models/store.py": "eventsourcingdb/sync/store.py",
    "eventsourcingdb/aggregates/retrying.py": "eventsourcingdb/sync/retrying.py",
    "eventsourcingdb/aggregates/repository.py": "eventsourcingdb/sync/repository.py",
}
"""Each async module and its generated blocking twin."""

MODULES: Final = {
    "eventsourcingdb.client": "eventsourcingdb.sync.client",
    "eventsourcingdb._streams": "eventsourcingdb.sync._streams",
    "eventsourcingdb.models.store": "eventsourcingdb.sync.store",
    "eventsourcingdb.aggregates.retrying": "eventsourcingdb.sync.retrying",
    "eventsourcingdb.aggregates.repository": "eventsourcingdb.sync.repository",
}
"""Imports of these async modules name their blocking twins instead."""

Replacement = str | Callable[[re.Match[str]], str]

FIRST: Final[list[tuple[str, Replacement]]] = [
    (r"\bAwaitable\[None\] \| None\b", "object"),  # a callback's result, awaited if awaitable
]
"""Regular expressions applied before the async types are unwrapped."""

WORDS: Final[list[tuple[str, Replacement]]] = [
    (r"\bAsyncGenerator\b", "Generator"),
    (r"\basync def\b", "def"),
    (r"\basync (for|with)\b", r"\1"),
    (r"\bawait ", ""),
    (r"\baclosing\b", "closing"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\bAsyncIterable\b", "Iterable"),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\b__anext__\b", "__next__"),
    (r"\b__aiter__\b", "__iter__"),
    (r"\bStopAsyncIteration\b", "StopIteration"),
    (r"\baclose\b", "close"),
    (r"\banext\b", "next"),
    (r"\basyncio\.sleep\b", "time.sleep"),
    (r"^import asyncio$", "import time"),
    # prose in docstrings and comments
    (r"\ban async generator\b", "a generator"),
    (r"\basync generators?\b", lambda m: m.group(0).removeprefix("async ")),
    (r"\banother task\b", "another thread"),
    (r"\bthe async client\b", "the blocking client"),
    (r" \(sync or async\)", ""),
]
"""Regular expressions and what they become, applied to every line in this order."""

_DIRECTIVE: Final = re.compile(r"^(?P<indent>\s*)(?P<code>.*?)\s*# sync: (?P<twin>.*)$")
_WRAPPERS: Final = re.compile(r"\b(AsyncGenerator|Awaitable)\[")
_IMPORT: Final = re.compile(r"^(\s*from\s+)([\w.]+)(\s+import\b)")


def _closing_bracket(text: str, opening: int) -> int:
    """The index of the `]` that closes the `[` at `opening`."""
    depth = 0
    for index in range(opening, len(text)):
        if text[index] == "[":
            depth += 1
        elif text[index] == "]":
            depth -= 1
            if depth == 0:
                return index
    raise ValueError(f"unbalanced brackets in {text!r}")


def _unwrap_types(line: str) -> str:
    """`AsyncGenerator[X, None]` -> `Generator[X, None, None]`, `Awaitable[X]` -> `X`."""
    while (match := _WRAPPERS.search(line)) is not None:
        opening = match.end() - 1
        closing = _closing_bracket(line, opening)
        inner = line[opening + 1 : closing]
        replacement = inner if match.group(1) == "Awaitable" else f"Generator[{inner}, None]"
        line = line[: match.start()] + replacement + line[closing + 1 :]
    return line


def unasync_line(line: str) -> str | None:
    """The twin of one line of async source; None to leave it out."""
    directive = _DIRECTIVE.match(line)
    if directive is not None:
        twin = directive.group("twin").strip()
        if twin == "-":
            return None
        return directive.group("indent") + twin
    imported = _IMPORT.match(line)
    if imported is not None and imported.group(2) in MODULES:
        line = imported.group(1) + MODULES[imported.group(2)] + line[imported.end(2) :]
    for pattern, replacement in FIRST:
        line = re.sub(pattern, replacement, line)
    line = _unwrap_types(line)
    for pattern, replacement in WORDS:
        line = re.sub(pattern, replacement, line)
    return line


def unasync(source: str, origin: str) -> str:
    """The blocking twin of the async module `source` (read from `origin`), unformatted."""
    header = (
        f"# Generated from {origin} by scripts/unasync.py:\n# edit that file and run the script.\n"
    )
    lines = [unasync_line(line) for line in source.splitlines()]
    return header + "\n".join(line for line in lines if line is not None) + "\n"


def _ruff(arguments: list[str], text: str, target: str) -> str:
    ruff = Path(sys.executable).with_name("ruff")
    command = [str(ruff) if ruff.exists() else "ruff", *arguments, "--stdin-filename", target, "-"]
    finished = subprocess.run(command, input=text, capture_output=True, text=True, cwd=ROOT)
    if finished.returncode not in (0, 1):
        raise RuntimeError(f"ruff {' '.join(arguments)} failed on {target}: {finished.stderr}")
    return finished.stdout


def generate(origin: str, target: str) -> str:
    """The formatted twin of `origin` (both relative to the repository), as it should be."""
    text = unasync((ROOT / origin).read_text(encoding="utf-8"), origin)
    text = _ruff(["check", "--fix", "--select", "I,F401,UP", "--exit-zero"], text, target)
    return _ruff(["format"], text, target)


def stale() -> list[str]:
    """The twins whose committed text is not what the async source makes."""
    return [
        target
        for origin, target in TWINS.items()
        if not (ROOT / target).exists()
        or (ROOT / target).read_text(encoding="utf-8") != generate(origin, target)
    ]


def main(arguments: list[str]) -> int:
    if arguments == ["--check"]:
        outdated = stale()
        for target in outdated:
            print(f"{target} is stale: run python scripts/unasync.py", file=sys.stderr)
        return 1 if outdated else 0
    if arguments:
        print(__doc__, file=sys.stderr)
        return 2
    for origin, target in TWINS.items():
        (ROOT / target).write_text(generate(origin, target), encoding="utf-8")
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
