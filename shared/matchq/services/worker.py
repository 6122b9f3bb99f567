"""Running one job: claim it, match, store the results, finish it. Never leaves it `running`."""

from __future__ import annotations

import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from matchq.config import MatchConfig
from matchq.dal import SERVICE_ERRORS
from matchq.dal.jobs import JobRepository
from matchq.dal.queues import JobQueues
from matchq.dal.storage import Storage, results_prefix
from matchq.errors import JobCancelled, MatchqError
from matchq.messages import JobMessage, MessageKind
from matchq.models import Job, JobStatus, summary_counts, utcnow
from matchq.observability import logger, metrics, tag
from matchq.services.memory import MemoryGuard
from matchq.services.outcomes import Outcome
from matchq.services.shards import ShardWork
from matchq.settings import WorkerSettings

__all__ = ["JobRunner", "Outcome"]

# The ETA is the engine's rate of progress over this window (docs/api.md, the job object).
ETA_WINDOW_SECONDS = 60.0

# Leave this much of the Lambda's time to fail the job cleanly instead of being killed.
TIME_LIMIT_MARGIN_SECONDS = 20.0


class RunStopped(Exception):
    """The run no longer holds the job (cancelled, or re-queued by the reaper)."""


class TimeLimitReached(TimeoutError):
    """The worker is about to hit its time limit."""


class ProgressReporter:
    """Throttled heartbeat: progress, message and ETA, which also notices cancellation."""

    def __init__(
        self,
        repo: JobRepository,
        job: Job,
        run_id: str,
        *,
        interval: float,
        clock: Callable[[], datetime] = utcnow,
        time_left: Callable[[], float] | None = None,
        span: tuple[float, float] = (0.0, 100.0),
        memory_limit_mb: int | None = None,
    ) -> None:
        self.memory = MemoryGuard(memory_limit_mb)
        # The engine's 0..100 % maps onto span (from, width) of the job's progress; the ETA
        # extrapolates the engine's own percentage (a merge starts at 90 %, not at 0).
        self.span = span
        self._local = 0.0
        self.repo = repo
        self.job = job
        self.run_id = run_id
        self.interval = interval
        self.clock = clock
        self.time_left = time_left
        self.started = time.monotonic()
        self._last_write = 0.0
        self._progress = 0
        self._message = "Starting"
        self.stopped = False
        self._samples: deque[tuple[float, float]] = deque([(self.started, 0.0)])

    def _eta(self) -> int | None:
        """Seconds left at the rate the engine's percentage moved over the last
        ETA_WINDOW_SECONDS (its throughput; from the start until that much has passed),
        None while it has not moved."""
        now = time.monotonic()
        samples = self._samples
        samples.append((now, self._local))
        while len(samples) > 2 and now - samples[1][0] >= ETA_WINDOW_SECONDS:
            samples.popleft()
        since, then = samples[0]
        if now <= since or self._local <= then:
            return None
        rate = (self._local - then) / (now - since)
        return int((100 - self._local) / rate)

    def _write(self) -> None:
        eta = self._eta()
        updated = self.repo.report_progress(
            self.job.id,
            self.run_id,
            progress=self._progress,
            message=self._message,
            estimated_remaining=eta,
            now=self.clock(),
        )
        self._last_write = time.monotonic()
        if updated is None:
            self.stopped = True

    def update(self, percent: float, message: str) -> None:
        """Engine callback; progress never goes backwards and stays below 100 until done."""
        self._local = max(self._local, min(99.0, percent))
        start, width = self.span
        self._progress = max(self._progress, min(99, int(start + width * self._local / 100)))
        self._message = message
        self.tick()

    def tick(self) -> None:
        self.memory.check()
        if time.monotonic() - self._last_write >= self.interval:
            self._write()

    def should_cancel(self) -> bool:
        self.tick()
        if self.time_left is not None and self.time_left() < TIME_LIMIT_MARGIN_SECONDS:
            raise TimeLimitReached
        return self.stopped


MatchEngine = Callable[..., Any]


def default_engine() -> MatchEngine:
    from matchq.matching.coordinate import begin_match  # the heavy layer: worker only

    return begin_match


class JobRunner:
    """Processes queue messages for jobs. Idempotent: a duplicate delivery changes nothing."""

    def __init__(
        self,
        repo: JobRepository,
        storage: Storage,
        settings: WorkerSettings,
        *,
        engine: MatchEngine | None = None,
        queues: JobQueues | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.repo = repo
        self.queues = queues
        self.storage = storage
        self.settings = settings
        self._engine = engine
        self.clock = clock
        self.shards = ShardWork(
            repo, storage, queues, settings, clock=clock, margin=TIME_LIMIT_MARGIN_SECONDS
        )

    @property
    def engine(self) -> MatchEngine:
        if self._engine is None:
            self._engine = default_engine()
        return self._engine

    def handle(
        self,
        message: JobMessage,
        *,
        receive_count: int = 1,
        time_left: Callable[[], float] | None = None,
    ) -> Outcome:
        """Handle one message; returns what happened. Raises only to ask for a redelivery."""
        tag(job_id=message.job_id)
        if message.kind is MessageKind.SHARD:
            return self.shards.shard(message, receive_count=receive_count, time_left=time_left)
        if message.kind is MessageKind.MERGE:
            return self.shards.merge(
                message,
                receive_count=receive_count,
                time_left=time_left,
                reporter=lambda job: self._reporter(job, job.run_id or "", time_left, (90, 10)),
                expires_at=self._expires_at(),
            )
        job = self.repo.get(message.job_id)
        if job is None:
            return Outcome.GONE
        tag(user_id=job.user_id)
        if job.status is not JobStatus.PENDING:
            return Outcome.NOT_PENDING
        if receive_count >= self.settings.max_receive_count:
            # Earlier deliveries died without finishing: do not try a last time blindly.
            failed = self.repo.fail_pending(
                job,
                now=self.clock(),
                error_message=(
                    f"The job could not be processed after {receive_count - 1} delivery attempts "
                    "(the worker stopped unexpectedly each time)"
                ),
            )
            if failed is not None:
                metrics.add_metric(name="JobsFailed", unit="Count", value=1)
            return Outcome.POISONED
        run_id = uuid.uuid4().hex
        claimed = self.repo.claim(job, run_id, self.clock())
        if claimed is None:
            return Outcome.CLAIMED_ELSEWHERE
        if claimed.queued_at is not None:
            wait = (self.clock() - claimed.queued_at).total_seconds()
            metrics.add_metric(name="QueueWaitSeconds", unit="Seconds", value=max(0.0, wait))
        return self._run(claimed, run_id, time_left)

    def _reporter(
        self,
        job: Job,
        run_id: str,
        time_left: Callable[[], float] | None,
        span: tuple[float, float] = (0.0, 100.0),
    ) -> ProgressReporter:
        return ProgressReporter(
            self.repo,
            job,
            run_id,
            interval=self.settings.heartbeat_interval_seconds,
            clock=self.clock,
            time_left=time_left,
            span=span,
            memory_limit_mb=self.settings.memory_limit_mb(),
        )

    def _run(self, job: Job, run_id: str, time_left: Callable[[], float] | None) -> Outcome:
        reporter = self._reporter(job, run_id, time_left)
        started = time.monotonic()
        prefix = results_prefix(job.user_id, job.id)
        try:
            with tempfile.TemporaryDirectory(prefix="matchq-") as tmp:
                done = self._match(job, Path(tmp), reporter)
                if reporter.should_cancel():
                    raise RunStopped
                if isinstance(done, list):  # split into shards: queue them, the run goes on
                    if self.shards.plan(job, run_id, done, Path(tmp) / "prepared.npz") is None:
                        raise RunStopped
                    logger.info("job split into shards", extra={"shards": len(done)})
                    return Outcome.SHARDED
                names, size, summary = done
                for name in names:
                    self.storage.upload(Path(tmp) / "out" / name, prefix + name)
            finished = self.repo.finish(
                job,
                run_id,
                JobStatus.COMPLETED,
                now=self.clock(),
                message="Processing completed successfully",
                result_files=names,
                result_bytes=size,
                expires_at=self._expires_at(),
                summary=summary_counts(summary),
            )
            if finished is None:
                raise RunStopped
        except (RunStopped, JobCancelled):
            return self._stopped(job, prefix)
        except TimeLimitReached:
            minutes = (time.monotonic() - started) / 60
            return self._fail(
                job,
                run_id,
                prefix,
                f"The job did not finish within the worker's time limit ({minutes:.0f} min); "
                "split the input files or raise WorkerTimeoutSeconds",
            )
        except MatchqError as exc:
            return self._fail(job, run_id, prefix, exc.details)
        except SERVICE_ERRORS:
            logger.exception("AWS service error during the run")
            return self._retry_later(job, run_id, prefix)
        except Exception:
            logger.exception("job crashed")
            return self._fail(
                job, run_id, prefix, f"Internal error while processing the job (reference {run_id})"
            )
        metrics.add_metric(name="JobsCompleted", unit="Count", value=1)
        metrics.add_metric(name="RunSeconds", unit="Seconds", value=time.monotonic() - started)
        logger.info("job completed", extra={"result_bytes": size})
        return Outcome.COMPLETED

    def _match(
        self, job: Job, tmp: Path, reporter: ProgressReporter
    ) -> tuple[list[str], int, dict[str, Any]] | list[tuple[int, int]]:
        """Match in one piece (the result files' names, their total size and the summary) or,
        when the engine splits the job, its shard ranges (the prepared job is then in
        tmp/prepared.npz)."""
        config = MatchConfig.model_validate(job.config)
        paths = []
        for i, source in enumerate(job.inputs, start=1):
            reporter.update(0, f"Reading {source.name}")
            path = tmp / f"input{i}"
            self.storage.download(source.key, path)
            paths.append(path)
        out = tmp / "out"
        out.mkdir()
        summary = self.engine(
            config,
            paths[0],
            paths[1],
            out,
            file1_name=job.inputs[0].name,
            file2_name=job.inputs[1].name,
            progress=reporter.update,
            should_cancel=reporter.should_cancel,
            max_rows=self.settings.max_rows,
            prepared_path=tmp / "prepared.npz",
            shard_rows=self.settings.shard_rows,
            max_shards=self.settings.max_shards if self.queues is not None else 1,
            concurrency=self.settings.concurrency(job.priority),
        )
        ranges = getattr(summary, "shard_ranges", None)
        if ranges is not None:
            return list(ranges)
        names = list(summary.files)
        size = sum((out / n).stat().st_size for n in names)
        return names, size, summary.summary

    def _expires_at(self) -> int:
        return int((self.clock() + timedelta(days=self.settings.result_ttl_days)).timestamp())

    def _stopped(self, job: Job, prefix: str) -> Outcome:
        """The run lost the job. If it was cancelled, no result file may remain."""
        current = self.repo.get(job.id)
        if current is None or current.status is JobStatus.CANCELLED:
            self.storage.delete_prefix(prefix)
            logger.info("job cancelled while running; results removed")
            return Outcome.CANCELLED
        return Outcome.LOST

    def _retry_later(self, job: Job, run_id: str, prefix: str) -> Outcome:
        """A storage or database failure: run the job again, up to the attempt limit."""
        attempts = job.attempts
        if self.queues is None or attempts >= self.settings.max_attempts:
            return self._fail(
                job,
                run_id,
                prefix,
                f"A storage or database service failed during the run ({attempts} attempts); "
                "please resubmit the job",
            )
        current = job.model_copy(update={"run_id": run_id})
        back = self.repo.requeue(
            current,
            now=self.clock(),
            message=f"Re-queued after a service error (attempt {attempts})",
        )
        if back is None:
            return self._stopped(job, prefix)
        self.queues.enqueue(job.id, job.priority)
        return Outcome.REQUEUED

    def _fail(self, job: Job, run_id: str, prefix: str, error_message: str) -> Outcome:
        self.storage.delete_prefix(prefix)
        failed = self.repo.finish(
            job,
            run_id,
            JobStatus.FAILED,
            now=self.clock(),
            message="Job failed",
            error_message=error_message,
            expires_at=self._expires_at(),
        )
        if failed is None:
            return self._stopped(job, prefix)
        metrics.add_metric(name="JobsFailed", unit="Count", value=1)
        logger.warning("job failed", extra={"error_message": error_message})
        return Outcome.FAILED
