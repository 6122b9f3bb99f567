"""Progress of `matchq submit --wait`: a live bar on a terminal, plain lines elsewhere."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import TextIO

from matchq_cli.render import duration
from matchq_client import Job

BAR_WIDTH = 24
PLAIN_INTERVAL = 2.0  # seconds between plain lines while the job changes
PLAIN_HEARTBEAT = 15.0  # a plain line at least this often, even without change


def bar(progress: int, width: int = BAR_WIDTH) -> str:
    """`[#########---------------]` for 0..100 percent."""
    filled = width * min(100, max(0, progress)) // 100
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def eta(job: Job) -> str:
    """The estimated time left: `0s` once finished, `-` when the server does not know."""
    if job.finished:
        return duration(0)
    return duration(job.estimated_remaining)


def queue(job: Job) -> str:
    """`queue 3` for a pending job the server gave a queue position; else empty."""
    if job.status != "pending" or job.queue_position is None:
        return ""
    return f"queue {job.queue_position}"


def state(job: Job) -> tuple[str, int, str, int | None]:
    """What a new progress line is written for when it changes."""
    return (job.status, job.progress, job.message, job.queue_position)


def progress_line(job: Job, elapsed: float, width: int = 100) -> str:
    """The one-line bar a terminal shows, cut to `width` characters."""
    position = queue(job)
    head = (
        f"{bar(job.progress)} {job.progress:3d}%  {job.status:<9}  "
        + (f"{position}  " if position else "")
        + f"elapsed {duration(elapsed)}  ETA {eta(job)}"
    )
    line = f"{head}  {job.message}" if job.message else head
    return line if len(line) <= width else line[: max(0, width - 1)] + "…"


def plain_line(job: Job, elapsed: float) -> str:
    """One log line of progress, for pipes, files and CI logs."""
    position = queue(job)
    line = f"{job.id} {job.status} {job.progress}%" + (f" {position}" if position else "")
    line += f" elapsed {duration(elapsed)} ETA {eta(job)}"
    return f"{line}: {job.message}" if job.message else line


class ProgressReporter:
    """`MatchqClient.wait()`'s `on_progress`: draws the bar or writes throttled lines.

    On a terminal (`tty`: by default, whether `stream` is one) the bar is redrawn in place
    with `\\r` on every poll. Otherwise plain lines, never a `\\r`: one when the status
    changes, one when anything else changed (progress, message, queue position) and
    `PLAIN_INTERVAL` passed, and one after `PLAIN_HEARTBEAT` seconds of silence.
    `finish()` ends the output.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        width: int | None = None,
    ) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.clock = clock
        self.started = clock()
        self.width = width
        self._drawn = 0
        self._last: tuple[str, int, str, int | None] | None = None
        self._last_written: tuple[str, int, str, int | None] | None = None
        self._last_time = 0.0

    def elapsed(self) -> float:
        return self.clock() - self.started

    def __call__(self, job: Job) -> None:
        self._last = state(job)
        if self.tty:
            self._draw(job)
        elif self._due(job):
            self._write(job)

    def finish(self, job: Job | None = None) -> None:
        """The final state: the bar completed with a newline, or a last plain line."""
        if self.tty:
            if job is not None:
                self._draw(job)
            if self._drawn:
                self.stream.write("\n")
                self.stream.flush()
                self._drawn = 0
        elif job is not None and state(job) != self._last_written:
            self._write(job)

    def _draw(self, job: Job) -> None:
        width = self.width or max(20, shutil.get_terminal_size().columns - 1)
        line = progress_line(job, self.elapsed(), width)
        self.stream.write("\r" + line.ljust(self._drawn))
        self.stream.flush()
        self._drawn = len(line)

    def _due(self, job: Job) -> bool:
        now = state(job)
        if self._last_written is None or now[0] != self._last_written[0]:
            return True
        since = self.clock() - self._last_time
        if now != self._last_written:
            return since >= PLAIN_INTERVAL
        return since >= PLAIN_HEARTBEAT

    def _write(self, job: Job) -> None:
        self.stream.write(plain_line(job, self.elapsed()) + "\n")
        self.stream.flush()
        self._last_written = state(job)
        self._last_time = self.clock()
