"""Every Python code block of README.md and docs/ runs, so every example we show works.

The blocks of one page run in order in one namespace (later blocks use what earlier ones made),
with top-level `await` allowed, as in an async REPL. Pages under docs/ start with `emulator` (an
in-process emulator with a signing key) and `client` (connected to it) in that namespace, as their
introductions say; README.md starts from nothing. A block preceded by the line
`<!-- docs: syntax-only -->` shows a set-up that needs a real server; it is only compiled.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from types import CodeType

import pytest

from eventsourcingdb.emulator import Emulator

_ROOT = Path(__file__).resolve().parents[2]
_PAGES = sorted([_ROOT / "README.md", *(_ROOT / "docs").rglob("*.md")])
_FENCE = re.compile(
    r"^(?P<marker><!-- docs: syntax-only -->\n)?```python\n(?P<code>.*?)^```\n", re.M | re.S
)


@dataclass(frozen=True)
class _Block:
    page: Path
    line: int
    code: str
    syntax_only: bool

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(_ROOT)}:{self.line}"


def _blocks(page: Path) -> list[_Block]:
    text = page.read_text(encoding="utf-8")
    return [
        _Block(
            page=page,
            line=text.count("\n", 0, match.start("code")) + 1,
            code=match.group("code"),
            syntax_only=match.group("marker") is not None,
        )
        for match in _FENCE.finditer(text)
    ]


def _compile(block: _Block) -> CodeType:
    code: CodeType = compile(
        block.code,
        block.name,
        "exec",
        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        dont_inherit=True,  # not this module's `from __future__ import annotations`
    )
    return code


_RUNNABLE = [page for page in _PAGES if any(not block.syntax_only for block in _blocks(page))]


def test_there_are_documented_examples_to_run() -> None:
    assert _RUNNABLE, "no page has a runnable Python block"


@pytest.mark.parametrize("page", _RUNNABLE, ids=lambda page: str(page.relative_to(_ROOT)))
async def test_every_block_of_the_page_runs(page: Path) -> None:
    namespace: dict[str, object] = {"__name__": "__docs__"}
    async with contextlib.AsyncExitStack() as stack:
        if page.parent != _ROOT:
            emulator = stack.enter_context(Emulator(in_process=True).with_signing_key())
            client = await stack.enter_async_context(emulator.get_client())
            namespace.update(emulator=emulator, client=client)
        for block in _blocks(page):
            code = _compile(block)
            if block.syntax_only:
                continue
            result = eval(code, namespace)
            if inspect.iscoroutine(result):
                await result


@pytest.mark.parametrize(
    "block",
    [block for page in _PAGES for block in _blocks(page) if block.syntax_only],
    ids=lambda block: block.name,
)
def test_syntax_only_blocks_compile(block: _Block) -> None:
    _compile(block)
