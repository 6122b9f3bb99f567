"""Scheduled upkeep: automatic cleanup by retention, and the reaper of silent running jobs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from matchq.dal.jobs import JobRepository
from matchq.dal.queues import JobQueues
from matchq.models import JobStatus, utcnow
from matchq.observability import logger, metrics
from matchq.services.jobs import JobService
from matchq.services.shards import resend
from matchq.settings import MaintenanceSettings


@dataclass(frozen=True)
class MaintenanceReport:
    cleaned_jobs: int
    freed_bytes: int
    requeued: list[str]
    failed: list[str]
    long_running: int
    resent: list[str]


class Maintenance:
    def __init__(
        self,
        jobs: JobService,
        repo: JobRepository,
        queues: JobQueues,
        settings: MaintenanceSettings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.jobs = jobs
        self.repo = repo
        self.queues = queues
        self.settings = settings
        self.clock = clock

    def reap_stale_jobs(self) -> tuple[list[str], list[str]]:
        """Running jobs whose heartbeat stopped: re-queue them, or fail them after the limit."""
        now = self.clock()
        cutoff = now - timedelta(seconds=self.settings.heartbeat_timeout_seconds)
        requeued: list[str] = []
        failed: list[str] = []
        for job in self.repo.by_status(JobStatus.RUNNING):
            beat = job.heartbeat_at or job.started_at or job.created_at
            if beat >= cutoff or job.run_id is None:
                continue
            silent = int((now - beat).total_seconds())
            if job.phase is not None:
                # A sharded run: its messages are on the queues (SQS redelivers one whose
                # worker died, and a shard that keeps killing workers fails the job), so
                # silence is most often shards waiting behind other work. Send again what
                # it still needs instead of starting the whole job over.
                if self.repo.heartbeat(job.id, job.run_id, now=now) is not None:
                    sent = resend(self.repo, self.queues, job, now=now)
                    logger.warning(
                        "re-sent the messages of a silent sharded job",
                        extra={"job_id": job.id, "messages": sent, "silent_seconds": silent},
                    )
                continue
            if job.attempts >= self.settings.max_attempts:
                done = self.repo.finish(
                    job,
                    job.run_id,
                    JobStatus.FAILED,
                    now=now,
                    message="Job failed",
                    error_message=(
                        f"The worker stopped responding {job.attempts} times "
                        f"(no heartbeat for {silent} s on the last attempt); giving up"
                    ),
                )
                if done is not None:
                    failed.append(job.id)
                    metrics.add_metric(name="JobsFailed", unit="Count", value=1)
                continue
            back = self.repo.requeue(
                job,
                now=now,
                message=f"Re-queued after the worker stopped responding (attempt {job.attempts})",
            )
            if back is not None:
                self.queues.enqueue(job.id, job.priority)
                requeued.append(job.id)
        if requeued or failed:
            logger.warning("reaped stale jobs", extra={"requeued": requeued, "failed": failed})
        return requeued, failed

    def resend_stale_pending(self) -> list[str]:
        """Send again the message of jobs pending for long: if it was lost (or died in a
        dead-letter queue), the job would wait forever. A duplicate delivery is harmless."""
        cutoff = self.clock() - timedelta(seconds=self.settings.pending_resend_seconds)
        resent = []
        for job in self.repo.by_status(JobStatus.PENDING):
            if job.queued_at is None or job.queued_at >= cutoff:
                continue
            if self.repo.mark_requeued(job, now=self.clock()) is not None:
                self.queues.enqueue(job.id, job.priority)
                resent.append(job.id)
        if resent:
            logger.warning("re-sent messages of long-pending jobs", extra={"jobs": resent})
        return resent

    def count_long_running(self) -> int:
        """Running jobs past the expected duration (the `LongRunningJobs` alarm's metric)."""
        cutoff = self.clock() - timedelta(seconds=self.settings.expected_job_seconds)
        return sum(
            1
            for job in self.repo.by_status(JobStatus.RUNNING)
            if job.started_at is not None and job.started_at < cutoff
        )

    def run(self) -> MaintenanceReport:
        report = self.jobs.cleanup(None, self.settings.retention_hours)
        requeued, failed = self.reap_stale_jobs()
        resent = self.resend_stale_pending()
        long_running = self.count_long_running()
        metrics.add_metric(name="LongRunningJobs", unit="Count", value=long_running)
        return MaintenanceReport(
            report.cleaned_jobs, report.freed_bytes, requeued, failed, long_running, resent
        )
