"""The per-job memory guard of the worker.

The engine's callbacks (progress, cancellation checks and shard heartbeats, every few
thousand rows) call `MemoryGuard.check`, which reads the process's resident set size
(`/proc/self/statm`, a few microseconds) at most every `every` seconds and fails the job
with a message naming the limit once it is over: a job that outgrows its worker ends with
a readable error instead of the runtime killing the process (and SQS redelivering it until
its attempts run out). One job runs per process in Lambda and in the local stack's worker
slots (`MATCHQ_SLOTS=processes`); with `MATCHQ_SLOTS=threads` the slots share one process,
so the guard sees their sum. A single allocation between two checks is not caught.
"""

from __future__ import annotations

import os
import time

from matchq.errors import MatchqError

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class MemoryLimitExceeded(MatchqError):
    """The job's worker process grew past MATCHQ_MAX_JOB_MEMORY_MB."""


def resident_mb() -> float | None:
    """This process's resident set size in MB; None where /proc is missing."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * PAGE_BYTES / 2**20
    except (OSError, ValueError, IndexError):
        return None


class MemoryGuard:
    """Raises MemoryLimitExceeded from `check()` once the process is over `limit_mb`."""

    def __init__(self, limit_mb: int | None, every: float = 0.5) -> None:
        self.limit_mb = limit_mb
        self.every = every
        self._next = 0.0

    def check(self) -> None:
        if self.limit_mb is None:
            return
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.every
        used = resident_mb()
        if used is not None and used > self.limit_mb:
            raise MemoryLimitExceeded(
                f"The job needed more than {self.limit_mb:,} MB of memory (it reached"
                f" {used:,.0f} MB; the limit is MATCHQ_MAX_JOB_MEMORY_MB): split the input"
                " files, use fewer output columns, or raise WorkerMemoryMB"
            )
