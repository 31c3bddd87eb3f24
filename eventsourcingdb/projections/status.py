"""What a runner tells about its projections: phases, status for health checks, progress of a
rebuild or catch-up, and the hook that metrics (OpenTelemetry, Prometheus, logs) plug into."""

from __future__ import annotations

import enum
import sys
import time
from dataclasses import dataclass
from typing import IO, Any, Protocol

__all__ = [
    "Phase",
    "Progress",
    "ProgressBar",
    "ProjectionMetrics",
    "ProjectionStatus",
    "RetryReason",
    "RunnerStatus",
]


class Phase(enum.StrEnum):
    """Where a projection is in its life."""

    STARTING = "starting"
    """Added, not yet connected."""
    STANDBY = "standby"
    """Another instance holds the projection's lease; this one waits to take over."""
    CATCHING_UP = "catching-up"
    """Applying stored events, behind the newest one it knew of when it connected."""
    LIVE = "live"
    """Caught up, applying new events as they are written."""
    RECONNECTING = "reconnecting"
    """The server or the checkpoint store failed; waiting (with backoff) to resume."""
    STOPPED = "stopped"
    """Stopped by the runner; its checkpoint is committed."""
    FAILED = "failed"
    """Stopped by an error (see `ProjectionStatus.error`); its checkpoint is before the event."""

    @property
    def healthy(self) -> bool:
        """Whether this phase is one a working projection is in (everything but FAILED)."""
        return self is not Phase.FAILED


class RetryReason(enum.StrEnum):
    """Why a projection waits before trying again."""

    SERVER = "server"
    """The event stream broke off, stalled, or the server answered with an error worth a retry."""
    CHECKPOINT_STORE = "checkpoint-store"
    """The checkpoint store could not be reached."""
    HANDLER = "handler"
    """A handler raised; the event is applied again."""


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    """A snapshot of one projection, for health checks and dashboards."""

    name: str
    phase: Phase
    position: str | None
    """The id of the last committed event, None before the first."""
    lag: int | None
    """Event ids between `position` and the newest event of the subject known to the runner;
    0 when caught up, None while not known (before connecting)."""
    processed: int
    """Events committed since the runner started it (handled or not this projection's concern)."""
    retries: int
    """Waits before trying again, of any `RetryReason`, since it started."""
    error: BaseException | None
    """Why it failed (phase FAILED), or the last error it is retrying after."""

    @property
    def healthy(self) -> bool:
        """Whether the projection works (it has not failed)."""
        return self.phase.healthy

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form, e.g. for a health endpoint."""
        return {
            "name": self.name,
            "phase": self.phase.value,
            "position": self.position,
            "lag": self.lag,
            "processed": self.processed,
            "retries": self.retries,
            "error": None if self.error is None else f"{type(self.error).__name__}: {self.error}",
        }


@dataclass(frozen=True, slots=True)
class RunnerStatus:
    """The status of every projection of a runner."""

    running: bool
    projections: tuple[ProjectionStatus, ...]

    @property
    def healthy(self) -> bool:
        """Whether the runner runs and none of its projections failed."""
        return self.running and all(status.healthy for status in self.projections)

    def __getitem__(self, name: str) -> ProjectionStatus:
        for status in self.projections:
            if status.name == name:
                return status
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form, e.g. for a health endpoint."""
        return {
            "running": self.running,
            "healthy": self.healthy,
            "projections": [status.as_dict() for status in self.projections],
        }


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a catch-up (or rebuild) has come, reported after every commit while catching up."""

    name: str
    processed: int
    """Events committed since the catch-up began."""
    position: int | None
    """The id of the last committed event."""
    start: int | None
    """The id the catch-up began after (None: from the beginning)."""
    target: int | None
    """The newest id of the subject when the catch-up began (None: there were no events)."""

    @property
    def fraction(self) -> float:
        """From 0.0 to 1.0, by event ids: how much of the way from `start` to `target` is done."""
        if self.target is None:
            return 1.0
        begin = -1 if self.start is None else self.start
        done = begin if self.position is None else self.position
        span = self.target - begin
        return 1.0 if span <= 0 else max(0.0, min(1.0, (done - begin) / span))

    @property
    def done(self) -> bool:
        """Whether the target is reached."""
        return self.fraction >= 1.0


class ProgressBar:
    """A `progress` callback that draws a text bar, e.g. `[#######.....]  58% books-on-loan`.

    It rewrites one line of `file` (standard error by default) and ends it once done.
    """

    def __init__(self, file: IO[str] | None = None, *, width: int = 30) -> None:
        self._file = file
        self._width = width
        self._started = time.monotonic()

    def __call__(self, progress: Progress) -> None:
        file = self._file if self._file is not None else sys.stderr
        filled = round(progress.fraction * self._width)
        bar = "#" * filled + "." * (self._width - filled)
        rate = progress.processed / max(time.monotonic() - self._started, 1e-9)
        line = (
            f"\r[{bar}] {progress.fraction:4.0%} {progress.name}: {progress.processed} events "
            f"({rate:,.0f}/s)"
        )
        file.write(line + ("\n" if progress.done else ""))
        file.flush()


class ProjectionMetrics(Protocol):
    """A hook for metrics: the runner calls it, you forward to your metrics library.

    Every method must return quickly and must not raise (errors are logged and ignored).
    """

    def processed(self, name: str, events: int, seconds: float) -> None:
        """A batch of `events` was committed for projection `name`, taking `seconds`."""
        ...

    def lag(self, name: str, events: int) -> None:
        """After a commit: projection `name` is `events` event ids behind the newest one."""
        ...

    def retry(self, name: str, reason: RetryReason, error: BaseException, delay: float) -> None:
        """Projection `name` waits `delay` seconds before trying again, because of `error`."""
        ...
