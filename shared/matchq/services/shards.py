"""A big job's run across workers: queue its shards, match each one, merge them.

The run that claims a job prepares it once; when the planner splits it (docs/matching.md,
"Shards"), the run stores the prepared job under the job's result prefix, records the
shard ranges on the job and sends one shard message per range to the job's own priority
queue. Each shard message matches its range into a partial file; the shard whose count
completes the set sends the merge message; the merge writes the result files and
completes the job. Every step names its run, and every count is a conditional write, so
duplicate or late messages change nothing (docs/operations.md, "Shards").
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from matchq.config import MatchConfig
from matchq.dal import SERVICE_ERRORS
from matchq.dal.jobs import MERGING, SHARDS, JobRepository
from matchq.dal.queues import JobQueues
from matchq.dal.storage import Storage, results_prefix
from matchq.errors import JobCancelled, MatchqError
from matchq.messages import JobMessage, MessageKind
from matchq.models import Job, JobStatus, summary_counts
from matchq.observability import logger, metrics
from matchq.services.memory import MemoryGuard
from matchq.services.outcomes import Outcome
from matchq.settings import WorkerSettings

PREPARED = "prepared.npz"
# Shard progress spans 10..90 %: preparing comes before, the merge after.
SHARDS_FROM, SHARDS_SPAN = 10.0, 80.0
# The merge's time as a share of the shard phase's, for the ETA: an allowance (it reads
# both files again and writes the results), not a measurement.
MERGE_SHARE = 0.1


def work_prefix(job: Job) -> str:
    """Where a run's shared files live: under the job's results, so delete and cleanup
    remove them with the results."""
    return results_prefix(job.user_id, job.id) + "_shards/"


def part_key(job: Job, shard: int) -> str:
    return f"{work_prefix(job)}part-{shard:05d}.npz"


def describe(job: Job, shard: int) -> str:
    start, stop = job.shard_ranges[shard]
    return f"shard {shard + 1} of {job.shards_total} (file1 rows {start:,} to {stop - 1:,})"


def shard_messages(job: Job, shards: Iterable[int]) -> list[JobMessage]:
    """The messages of these shards of the job's current run."""
    return [
        JobMessage(
            job_id=job.id, priority=job.priority, kind=MessageKind.SHARD, run_id=job.run_id, shard=i
        )
        for i in shards
    ]


def merge_message(job: Job) -> JobMessage:
    return JobMessage(
        job_id=job.id, priority=job.priority, kind=MessageKind.MERGE, run_id=job.run_id
    )


def resend(repo: JobRepository, queues: JobQueues, job: Job, *, now: datetime) -> int:
    """Queue again what a silent sharded run still needs: its unfinished shards, or its
    merge (begun again if its worker died). Duplicates change nothing; returns the number
    of messages sent."""
    if job.phase == MERGING:
        job = repo.restart_merge(job, now=now) or job
    missing = [i for i in range(len(job.shard_ranges)) if i not in job.shards_finished]
    if not missing:
        queues.send(merge_message(job))
        return 1
    queues.send_all(shard_messages(job, missing))
    return len(missing)


class Stop(Exception):
    """This run no longer holds the job (cancelled, re-queued or finished)."""


class Beat:
    """Heartbeat of a shard or merge at most every `interval` seconds; raises Stop when
    the run no longer holds the job (the engine's tick). A shard's beat also records the
    rows it matched so far (`rows`, set by the engine's on_rows) and moves the job's
    progress with them (`on_job`)."""

    def __init__(
        self,
        repo: JobRepository,
        job: Job,
        *,
        interval: float,
        clock: Callable[[], datetime],
        time_left: Callable[[], float] | None,
        margin: float,
        shard: int | None = None,
        on_job: Callable[[Job], None] | None = None,
        memory_limit_mb: int | None = None,
    ) -> None:
        self.memory = MemoryGuard(memory_limit_mb)
        self.repo, self.job, self.interval, self.clock = repo, job, interval, clock
        self.time_left, self.margin = time_left, margin
        self.shard, self.on_job = shard, on_job
        self.rows: int | None = None
        self.last = time.monotonic()

    def matched(self, rows: int) -> None:
        """The engine's on_rows: the shard has matched `rows` of its rows."""
        self.rows = rows

    def __call__(self) -> None:
        if self.time_left is not None and self.time_left() < self.margin:
            raise TimeoutError
        self.memory.check()
        if time.monotonic() - self.last < self.interval:
            return
        self.last = time.monotonic()
        assert self.job.run_id is not None
        job = self.repo.heartbeat(
            self.job.id, self.job.run_id, now=self.clock(), shard=self.shard, rows=self.rows
        )
        if job is None:
            raise Stop
        if self.on_job is not None and self.rows is not None:
            self.on_job(job)


class ShardWork:
    """Handles shard and merge messages; `plan` queues the shards of a freshly split run."""

    def __init__(
        self,
        repo: JobRepository,
        storage: Storage,
        queues: JobQueues | None,
        settings: WorkerSettings,
        *,
        clock: Callable[[], datetime],
        margin: float,
    ) -> None:
        self.repo, self.storage, self.queues, self.settings = repo, storage, queues, settings
        self.clock, self.margin = clock, margin

    # --- the claiming run -----------------------------------------------------------------

    def plan(
        self, job: Job, run_id: str, ranges: list[tuple[int, int]], prepared: Path
    ) -> Job | None:
        """Store the prepared job, record the ranges, queue one message per shard. None
        when the run lost the job meanwhile."""
        if self.queues is None:
            raise RuntimeError("the worker has no queues to send shards to")
        self.storage.upload(prepared, work_prefix(job) + PREPARED, "application/octet-stream")
        started = self.repo.start_shards(
            job, run_id, ranges, now=self.clock(), message=f"Matching in {len(ranges):,} shards"
        )
        if started is None:
            return None
        self.queues.send_all(shard_messages(started, range(len(ranges))))
        metrics.add_metric(name="ShardsQueued", unit="Count", value=len(ranges))
        return started

    # --- messages ---------------------------------------------------------------------------

    def _current(self, message: JobMessage) -> Job | None:
        """The job, when this message's run still holds it."""
        job = self.repo.get(message.job_id)
        if job is None or job.status is not JobStatus.RUNNING or job.run_id != message.run_id:
            return None
        return job

    def _late(self, message: JobMessage) -> Outcome:
        """A message of a run that no longer holds its job. When the job was cancelled, no
        worker may hold it any more, so the first late message removes what runs stored."""
        job = self.repo.get(message.job_id)
        if job is None:
            return Outcome.GONE
        if job.status is JobStatus.CANCELLED:
            self.storage.delete_prefix(results_prefix(job.user_id, job.id))
            return Outcome.CANCELLED
        return Outcome.STALE

    def _stopped(self, job: Job) -> Outcome:
        current = self.repo.get(job.id)
        if current is None or current.status is JobStatus.CANCELLED:
            self.storage.delete_prefix(results_prefix(job.user_id, job.id))
            return Outcome.CANCELLED
        return Outcome.STALE

    def _fail(self, job: Job, error_message: str) -> Outcome:
        self.storage.delete_prefix(results_prefix(job.user_id, job.id))
        failed = self.repo.finish(
            job,
            job.run_id,
            JobStatus.FAILED,
            now=self.clock(),
            message="Job failed",
            error_message=error_message,
        )
        if failed is None:
            return self._stopped(job)
        metrics.add_metric(name="JobsFailed", unit="Count", value=1)
        metrics.add_metric(name="ShardFailures", unit="Count", value=1)
        logger.warning("job failed", extra={"error_message": error_message})
        return Outcome.FAILED

    def _retry(self, job: Job, message: JobMessage, what: str, reference: str) -> Outcome:
        """Send the message again (a later attempt), or fail the job after the limit."""
        if self.queues is None or message.attempt >= self.settings.max_attempts:
            return self._fail(
                job,
                f"The {what} failed {message.attempt} times "
                f"(last: internal error, reference {reference}); please resubmit the job",
            )
        self.queues.send(message.model_copy(update={"attempt": message.attempt + 1}))
        return Outcome.RETRIED

    def _retry_merge(self, job: Job, message: JobMessage) -> Outcome:
        """The merge may begin again (a later attempt), or the job fails after the limit."""
        if self.repo.restart_merge(job, now=self.clock()) is None:
            return self._stopped(job)
        return self._retry(job, message, "merge of the shards", f"{job.run_id}/merge")

    def _beat(
        self, job: Job, time_left: Callable[[], float] | None, shard: int | None = None
    ) -> Beat:
        return Beat(
            self.repo,
            job,
            interval=self.settings.heartbeat_interval_seconds,
            clock=self.clock,
            time_left=time_left,
            margin=self.margin,
            shard=shard,
            on_job=None if shard is None else self._report,
            memory_limit_mb=self.settings.memory_limit_mb(),
        )

    def shard(
        self,
        message: JobMessage,
        *,
        receive_count: int,
        time_left: Callable[[], float] | None,
    ) -> Outcome:
        """Match one shard into its partial file and count it; the last one queues the merge."""

        job = self._current(message)
        assert message.shard is not None
        if job is None:
            return self._late(message)
        if not 0 <= message.shard < len(job.shard_ranges):
            return Outcome.STALE
        if message.shard in job.shards_finished:
            # A redelivery of a counted shard: if the run that counted the last one died
            # before queuing the merge, queue it now (a duplicate merge changes nothing).
            if job.phase == SHARDS and len(job.shards_finished) == len(job.shard_ranges):
                self.send_merge(job)
            return Outcome.DUPLICATE
        what = describe(job, message.shard)
        if receive_count >= self.settings.max_receive_count:
            return self._fail(
                job,
                f"The worker stopped unexpectedly on {what} {receive_count - 1} times; "
                "lower ShardRows or raise WorkerMemoryMB",
            )
        start, stop = job.shard_ranges[message.shard]
        with self._counted(job):
            return self._run_shard(job, message, start, stop, what, time_left)

    @contextmanager
    def _counted(self, job: Job) -> Iterator[None]:
        """This invocation counts in the stats' active_workers while it works on the job."""
        assert job.run_id is not None
        self.repo.add_worker(job.id, job.run_id, 1)
        try:
            yield
        finally:
            self.repo.add_worker(job.id, job.run_id, -1)

    def _run_shard(
        self,
        job: Job,
        message: JobMessage,
        start: int,
        stop: int,
        what: str,
        time_left: Callable[[], float] | None,
    ) -> Outcome:
        from matchq.matching.shards import load_prepared, run_shard

        assert message.shard is not None
        reference = f"{job.run_id}/{message.shard}"
        try:
            with tempfile.TemporaryDirectory(prefix="matchq-shard-") as tmp:
                prepared = Path(tmp) / PREPARED
                self.storage.download(work_prefix(job) + PREPARED, prepared)
                beat = self._beat(job, time_left, shard=message.shard)
                part = Path(tmp) / "part.npz"
                run_shard(
                    load_prepared(prepared), start, stop, part, tick=beat, on_rows=beat.matched
                )
                beat()
                self.storage.upload(part, part_key(job, message.shard), "application/octet-stream")
        except (Stop, JobCancelled):
            return self._stopped(job)
        except TimeoutError:
            return self._fail(
                job,
                f"{what[0].upper()}{what[1:]} did not finish within the worker's time limit; "
                "lower ShardRows",
            )
        except MatchqError as exc:
            return self._fail(job, f"{what[0].upper()}{what[1:]}: {exc.details}")
        except SERVICE_ERRORS:
            logger.exception("AWS service error in a shard", extra={"shard": message.shard})
            return self._retry(job, message, what, reference)
        except Exception:
            logger.exception("shard crashed", extra={"shard": message.shard})
            return self._retry(job, message, what, reference)
        return self._count(job, message, stop - start)

    def _count(self, job: Job, message: JobMessage, rows: int) -> Outcome:
        assert message.shard is not None
        assert job.run_id is not None
        now = self.clock()
        done = self.repo.finish_shard(job.id, job.run_id, message.shard, rows, now=now)
        if done is None:
            current = self._current(message)
            if current is not None and message.shard in current.shards_finished:
                return Outcome.DUPLICATE
            return self._stopped(job)
        self._report(done, force=True)
        metrics.add_metric(name="ShardsCompleted", unit="Count", value=1)
        if len(done.shards_finished) == len(done.shard_ranges):
            self.send_merge(done)
        return Outcome.SHARD_DONE

    def _report(self, job: Job, *, force: bool = False) -> None:
        """The job's progress over its shards, from the rows matched by finished and running
        shards; the ETA from the rows per second measured since the shards began. Written
        when it moved a whole percent (or `force`), never backwards."""
        assert job.run_id is not None
        rows1 = job.shard_ranges[-1][1]
        matched = min(job.rows_matched, rows1)
        progress = int(SHARDS_FROM + SHARDS_SPAN * matched / max(1, rows1))
        if progress <= job.progress and not force:
            return
        now = self.clock()
        eta = None
        if job.shards_started_at is not None and matched > 0:
            elapsed = (now - job.shards_started_at).total_seconds()
            rate = matched / max(elapsed, 1e-3)
            # the rest of the rows at the rate measured so far, plus a merge
            eta = int((rows1 - matched) / rate + elapsed * MERGE_SHARE)
        self.repo.report_progress(
            job.id,
            job.run_id,
            progress=progress,
            message=(
                f"Matched {job.shards_done:,} of {job.shards_total:,} shards "
                f"({matched:,} of {rows1:,} rows)"
            ),
            estimated_remaining=eta,
            now=now,
            forward_only=True,
        )

    def send_merge(self, job: Job) -> None:
        if self.queues is not None:
            self.queues.send(merge_message(job))

    def merge(
        self,
        message: JobMessage,
        *,
        receive_count: int,
        time_left: Callable[[], float] | None,
        reporter: Callable[[Job], Any],
        expires_at: int,
    ) -> Outcome:
        """Merge the shards' partial results into the job's result files and complete it."""

        job = self._current(message)
        if job is None:
            return self._late(message)
        if job.phase == MERGING:
            # Another delivery merges; a redelivery means that one died (SQS waited a
            # whole visibility timeout), so this one takes over.
            if receive_count <= 1 or self.repo.restart_merge(job, now=self.clock()) is None:
                return Outcome.DUPLICATE
            job = self._current(message)
            if job is None:
                return Outcome.STALE
        if receive_count >= self.settings.max_receive_count:
            return self._fail(
                job,
                f"The worker stopped unexpectedly merging the shards {receive_count - 1} times",
            )
        merging = self.repo.start_merge(job, message.run_id or "", now=self.clock())
        if merging is None:
            return Outcome.DUPLICATE if self._current(message) is not None else self._stopped(job)
        with self._counted(merging):
            return self._run_merge(merging, message, reporter(merging), expires_at)

    def _run_merge(self, job: Job, message: JobMessage, progress: Any, expires_at: int) -> Outcome:
        from matchq.matching.shards import load_prepared, merge_shards

        merging = job
        prefix = results_prefix(job.user_id, job.id)
        try:
            with tempfile.TemporaryDirectory(prefix="matchq-merge-") as tmp:
                root = Path(tmp)
                inputs = []
                for i, source in enumerate(job.inputs, start=1):
                    path = root / f"input{i}"
                    self.storage.download(source.key, path)
                    inputs.append(path)
                self.storage.download(work_prefix(job) + PREPARED, root / PREPARED)
                parts = []
                for shard in range(len(job.shard_ranges)):
                    path = root / f"part-{shard:05d}.npz"
                    self.storage.download(part_key(job, shard), path)
                    parts.append(path)
                out = root / "out"
                summary = merge_shards(
                    MatchConfig.model_validate(job.config),
                    load_prepared(root / PREPARED),
                    parts,
                    inputs[0],
                    inputs[1],
                    out,
                    file1_name=job.inputs[0].name,
                    file2_name=job.inputs[1].name,
                    max_rows=self.settings.max_rows,
                    progress=progress.update,
                    should_cancel=progress.should_cancel,
                )
                if progress.should_cancel():
                    raise Stop
                for name in summary.files:
                    self.storage.upload(out / name, prefix + name)
                size = sum((out / n).stat().st_size for n in summary.files)
            finished = self.repo.finish(
                merging,
                merging.run_id,
                JobStatus.COMPLETED,
                now=self.clock(),
                message="Processing completed successfully",
                result_files=list(summary.files),
                result_bytes=size,
                expires_at=expires_at,
                summary=summary_counts(summary.summary),
            )
            if finished is None:
                raise Stop
        except (Stop, JobCancelled):
            return self._stopped(job)
        except TimeoutError:
            return self._fail(job, "Merging the shards did not finish within the time limit")
        except MatchqError as exc:
            return self._fail(job, exc.details)
        except SERVICE_ERRORS:
            logger.exception("AWS service error in the merge")
            return self._retry_merge(merging, message)
        except Exception:
            logger.exception("merge crashed")
            return self._retry_merge(merging, message)
        self.storage.delete_prefix(work_prefix(job))
        metrics.add_metric(name="JobsCompleted", unit="Count", value=1)
        logger.info("sharded job completed", extra={"shards": len(job.shard_ranges)})
        return Outcome.COMPLETED
