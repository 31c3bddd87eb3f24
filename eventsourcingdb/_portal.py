"""`LoopThread`: an event loop in a daemon thread, for async code that blocking code drives.

The emulator's in-process transport for blocking clients runs the async server on one, and the
blocking `eventsourcingdb.sync.Runner` runs the async projections runner on one: the one place
where a portal to an event loop is the sensible design (see docs/sync.md). The blocking client
never uses one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Final, TypeVar

__all__ = ["LoopClosedError", "LoopThread"]

_T = TypeVar("_T")
_CLOSE_TIMEOUT: Final = 5.0
_STOPPED: Final = "the loop thread has been stopped"


class LoopClosedError(RuntimeError):
    """The loop thread no longer runs (it was stopped)."""


class LoopThread:
    """An event loop in a daemon thread; `run` and `submit` hand it coroutines from any thread."""

    def __init__(self, name: str = "eventsourcingdb-loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            # whatever still runs is cancelled, so that no caller waits for it forever
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    @property
    def is_alive(self) -> bool:
        """Whether the loop still runs."""
        return self._thread.is_alive() and not self._loop.is_closed()

    @property
    def is_current(self) -> bool:
        """Whether the caller runs in the loop's own thread (where waiting for the loop would
        wait forever)."""
        return threading.current_thread() is self._thread

    def submit(self, coroutine: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        """Schedule a coroutine on the loop; `LoopClosedError` once the loop has stopped."""
        if not self.is_alive:
            coroutine.close()
            raise LoopClosedError(_STOPPED)
        try:
            return asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        except RuntimeError:  # closed between the check and the call
            coroutine.close()
            raise LoopClosedError(_STOPPED) from None

    def call_soon(self, callback: Callable[[], object]) -> None:
        """Have the loop call `callback` soon (from any thread, a signal handler included)."""
        with contextlib.suppress(RuntimeError):  # a closed loop calls nothing any more
            self._loop.call_soon_threadsafe(callback)

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Run a coroutine on the loop and wait for its result."""
        return self.submit(coroutine).result()

    def close(self) -> None:
        """Stop the loop (closing what still runs on it) and join the thread."""
        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(_CLOSE_TIMEOUT)
