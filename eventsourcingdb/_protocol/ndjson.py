"""Splitting an NDJSON byte stream into lines, whatever the chunk boundaries; no line limit."""

from __future__ import annotations


class LineSplitter:
    """Turns byte chunks into complete `\\n`-terminated lines (without the newline).

    A line may span any number of chunks and be of any length. Blank lines are passed on; the
    caller skips them.
    """

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        """The lines completed by `chunk`; an unterminated tail is kept for the next chunk."""
        parts = chunk.split(b"\n")
        tail = parts.pop()
        if parts and self._pending:
            self._pending.append(parts[0])
            parts[0] = b"".join(self._pending)
            self._pending.clear()
        if tail:
            self._pending.append(tail)
        return parts

    @property
    def pending(self) -> bytes:
        """What arrived after the last newline (empty when the stream ended on a line break)."""
        return b"".join(self._pending)

    def finish(self) -> bytes:
        """The unterminated rest at the end of the stream, and forget it."""
        rest = self.pending
        self._pending.clear()
        return rest
