"""Job management as the API document describes it: submit, read, list, cancel, delete, stats."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from matchq.auth import Principal
from matchq.config import MatchConfig
from matchq.dal.jobs import JobRepository
from matchq.dal.queues import JobQueues
from matchq.dal.storage import Storage, results_prefix, upload_prefix
from matchq.errors import (
    AccessDenied,
    InputFileError,
    InvalidState,
    JobNotFound,
    MatchqError,
    ServiceUnavailable,
    ValidationFailed,
)
from matchq.formats import NeedsWholeFile, preview, read_columns
from matchq.formats.delimited import PROBE_BYTES as HEADER_PROBE_BYTES
from matchq.models import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    InputFile,
    Job,
    JobStatus,
    JobView,
    SubmitRequest,
    utcnow,
)
from matchq.observability import logger, metrics, tag
from matchq.settings import ApiSettings

if TYPE_CHECKING:
    from matchq.dal.idempotency import IdempotentSubmits

MAX_COLUMNS = 1000
JOB_ID_PREFIX = "job_"
IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{1,128}")  # printable ASCII
STATUS_VALUES = ", ".join(s.value for s in JobStatus)


def parse_status(raw: str | None) -> JobStatus | None:
    if raw is None or raw == "":
        return None
    try:
        return JobStatus(raw)
    except ValueError as exc:
        raise ValidationFailed(f"status must be one of: {STATUS_VALUES}") from exc


@dataclass(frozen=True)
class CleanupReport:
    cleaned_jobs: int
    freed_bytes: int

    def to_api(self) -> dict[str, Any]:
        freed_mb = round(self.freed_bytes / (1024 * 1024), 2)
        return {
            "success": True,
            "cleaned_jobs": self.cleaned_jobs,
            "freed_space_mb": freed_mb,
            "message": f"Cleaned up {self.cleaned_jobs} old jobs, freed {freed_mb:g} MB",
        }


class JobService:
    """The job lifecycle on behalf of one caller."""

    def __init__(
        self,
        repo: JobRepository,
        queues: JobQueues,
        storage: Storage,
        settings: ApiSettings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.repo = repo
        self.queues = queues
        self.storage = storage
        self.settings = settings
        self.clock = clock
        self._idempotent: IdempotentSubmits | None = None

    # --- reading -----------------------------------------------------------------------

    def view(self, principal: Principal, job_id: str) -> JobView:
        """`GET /jobs/{job_id}`: the job object, with `queue_position` while pending."""
        job = self.get(principal, job_id)
        view = job.to_api(self.clock())
        if job.status is JobStatus.PENDING:
            view.queue_position = self.repo.queue_position(job)
        return view

    def get(self, principal: Principal, job_id: str) -> Job:
        tag(job_id=job_id)
        job = self.repo.get(job_id) if job_id.startswith(JOB_ID_PREFIX) else None
        if job is None:
            raise JobNotFound(job_id)
        if not principal.may_access(job.user_id):
            raise AccessDenied("Access denied to this job")
        return job

    def list_jobs(
        self,
        principal: Principal,
        *,
        status: JobStatus | None,
        limit: int,
        next_token: str | None,
    ) -> tuple[list[Job], str | None]:
        return self.repo.list_page(
            user_id=None if principal.is_admin else principal.user_id,
            status=status,
            limit=limit,
            next_token=next_token,
        )

    def stats(self, principal: Principal) -> dict[str, int]:
        user = None if principal.is_admin else principal.user_id
        counts = {s.value: self.repo.count(user_id=user, status=s) for s in JobStatus}
        return {
            "total_jobs": sum(counts.values()),
            **counts,
            "active_workers": self.repo.active_workers(user_id=user),
            "total_workers": self.settings.total_workers,
        }

    # --- submit ------------------------------------------------------------------------

    def _input_file(self, principal: Principal, field: str, file_id: str) -> InputFile:
        objects = self.storage.list_prefix(upload_prefix(principal.user_id, file_id))
        if not objects:
            raise ValidationFailed(
                f"{field}: no uploaded file {file_id} for this user "
                "(create it with POST /files and upload it first)"
            )
        obj = objects[0]
        return InputFile(file_id=file_id, name=obj.name, key=obj.key, size_bytes=obj.size_bytes)

    def _columns(self, source: InputFile) -> list[str]:
        """The header of an uploaded file; errors name the file, the caller adds the field."""
        if source.size_bytes == 0:
            raise ValidationFailed(f"'{source.name}' is empty")
        if source.size_bytes > self.settings.max_upload_bytes:
            # the upload policy caps the size; this holds whatever wrote the object
            raise ValidationFailed(
                f"'{source.name}' holds {source.size_bytes:,} bytes; files may hold at most "
                f"{self.settings.max_upload_bytes:,}"
            )
        complete = source.size_bytes <= HEADER_PROBE_BYTES
        data = self.storage.read_head(source.key, HEADER_PROBE_BYTES)
        try:
            columns = read_columns(data, source.name, complete=complete)
        except NeedsWholeFile:
            # The header did not fit in the probe (or the format, xlsx, needs the whole file).
            data = self.storage.read_head(source.key, self.settings.max_upload_bytes)
            columns = read_columns(data, source.name, complete=True)
            complete = True
        if complete and not self._has_rows(data, source.name):
            raise ValidationFailed(f"'{source.name}' has a header but no data rows")
        if len(columns) > MAX_COLUMNS:
            raise ValidationFailed(
                f"'{source.name}' has {len(columns)} columns; at most {MAX_COLUMNS} are supported"
            )
        return columns

    @staticmethod
    def _has_rows(data: bytes, name: str) -> bool:
        """Whether the whole file `data` holds a data row, as the worker reads it (a file
        whose rows cannot be read is left for the worker to name what is wrong)."""
        try:
            return bool(preview(data, name, complete=True, max_rows=1).rows)
        except InputFileError:
            return True

    def _check_columns(self, config: MatchConfig, inputs: list[InputFile]) -> None:
        for side, source in ((1, inputs[0]), (2, inputs[1])):
            field = f"config.file{side}"
            try:
                header = set(self._columns(source))
            except MatchqError as exc:
                raise ValidationFailed(f"{field}: {exc.details}") from exc
            for i, mapping in enumerate(config.mappings):
                col = mapping.file1_col if side == 1 else mapping.file2_col
                if col not in header:
                    raise ValidationFailed(
                        f"config.mappings[{i}].file{side}_col: column '{col}' "
                        f"not found in file{side} '{source.name}'"
                    )
            outputs = config.output_cols1 if side == 1 else config.output_cols2
            for i, col in enumerate(outputs or []):
                if col not in header:
                    raise ValidationFailed(
                        f"config.output_cols{side}[{i}]: column '{col}' "
                        f"not found in file{side} '{source.name}'"
                    )

    def submit_once(
        self,
        principal: Principal,
        request: SubmitRequest,
        idempotency_key: str | None,
        context: Any | None = None,
    ) -> str:
        """`submit`, once per (user, Idempotency-Key) within 24 hours; the job id."""
        if idempotency_key is None:
            return self.submit(principal, request).id
        if not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
            raise ValidationFailed("Idempotency-Key: must be 1 to 128 printable ASCII characters")
        if self.settings.idempotency_table_name is None:
            raise ServiceUnavailable("Idempotency-Key is not available on this deployment")
        from matchq.dal.idempotency import IdempotentSubmits

        if self._idempotent is None:
            self._idempotent = IdempotentSubmits(self.settings.idempotency_table_name)
        return self._idempotent.once(
            principal.user_id,
            idempotency_key,
            request.model_dump(mode="json"),
            lambda: self.submit(principal, request).id,
            context,
        )

    def submit(self, principal: Principal, request: SubmitRequest) -> Job:
        config = request.config
        inputs = [
            self._input_file(principal, "config.file1", config.file1),
            self._input_file(principal, "config.file2", config.file2),
        ]
        self._check_columns(config, inputs)
        now = self.clock()
        job = Job(
            id=f"{JOB_ID_PREFIX}{uuid.uuid4()}",
            name=request.name,
            status=JobStatus.PENDING,
            priority=request.priority,
            user_id=principal.user_id,
            created_at=now,
            queued_at=now,
            message="Queued",
            config=config.model_dump(mode="json"),
            inputs=inputs,
        )
        self.repo.create(job)
        try:
            self.queues.enqueue(job.id, job.priority)
        except Exception as exc:
            # Nothing half-done: a job that is not queued must not look pending forever.
            logger.exception("enqueue failed", extra={"job_id": job.id})
            self.repo.delete_pending(job)
            raise ServiceUnavailable("The job could not be queued; please retry") from exc
        logger.info("job submitted", extra={"job_id": job.id, "priority": job.priority})
        metrics.add_metric(name="JobsSubmitted", unit="Count", value=1)
        return job

    # --- cancel, delete, cleanup -------------------------------------------------------

    def cancel(self, principal: Principal, job_id: str) -> Job:
        job = self.get(principal, job_id)
        if job.status.finished:
            raise InvalidState(
                f"Job {job_id} is already {job.status.value} and cannot be cancelled"
            )
        by = "its owner" if principal.user_id == job.user_id else f"admin {principal.user_id}"
        cancelled = self.repo.cancel(job, now=self.clock(), message=f"Cancelled by {by}")
        if cancelled is None:
            current = self.get(principal, job_id)
            raise InvalidState(
                f"Job {job_id} is already {current.status.value} and cannot be cancelled"
            )
        logger.info("job cancelled", extra={"job_id": job.id, "was": job.status.value})
        metrics.add_metric(name="JobsCancelled", unit="Count", value=1)
        return cancelled

    def _remove(self, job: Job) -> int | None:
        """Delete a finished job's files, then its record; None if it is not finished."""
        if job.status in ACTIVE_STATUSES:
            return None
        freed = self.storage.delete_prefix(results_prefix(job.user_id, job.id))
        if not self.repo.delete_finished(job):
            return None
        return freed

    def delete(self, principal: Principal, job_id: str) -> None:
        job = self.get(principal, job_id)
        if self._remove(job) is None:
            raise InvalidState(
                f"Job {job_id} is {job.status.value}; only completed, failed or cancelled "
                "jobs can be deleted (cancel it first)"
            )
        logger.info("job deleted", extra={"job_id": job_id})

    def cleanup(self, principal: Principal | None, max_age_hours: int) -> CleanupReport:
        """Remove finished jobs that finished more than `max_age_hours` ago (None: everyone's)."""
        cutoff = self.clock() - timedelta(hours=max_age_hours)
        user = None if principal is None or principal.is_admin else principal.user_id
        cleaned = 0
        freed = 0
        for status in sorted(FINISHED_STATUSES):
            for job in self.repo.by_status(status, user_id=user, created_before=cutoff):
                finished = job.completed_at or job.created_at
                if finished >= cutoff:
                    continue
                removed = self._remove(job)
                if removed is not None:
                    cleaned += 1
                    freed += removed
        logger.info("cleanup done", extra={"cleaned_jobs": cleaned, "freed_bytes": freed})
        return CleanupReport(cleaned_jobs=cleaned, freed_bytes=freed)

    # --- results -----------------------------------------------------------------------

    def results(self, principal: Principal, job_id: str) -> dict[str, Any]:
        job = self.get(principal, job_id)
        if job.status is not JobStatus.COMPLETED:
            raise InvalidState(
                f"Job {job_id} is {job.status.value}; results exist only for completed jobs"
            )
        expires = self.settings.presign_expires_seconds
        stored = {o.name: o for o in self.storage.list_prefix(results_prefix(job.user_id, job.id))}
        files = []
        for name in job.result_files:
            obj = stored.get(name)
            if obj is None:
                continue
            files.append(
                {
                    "name": name,
                    "size_bytes": obj.size_bytes,
                    "download_url": self.storage.presigned_download(obj.key, expires, name),
                    "expires_in": expires,
                }
            )
        return {"job_id": job.id, "files": files}
