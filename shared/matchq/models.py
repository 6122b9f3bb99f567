"""Jobs, their states, the job object of the API, and the request bodies it validates."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator

from matchq.config import MatchConfig

MAX_JOB_NAME = 200


class JobStatus(StrEnum):
    """Where a job is in its life."""

    PENDING = "pending"  # queued, waiting for a worker
    RUNNING = "running"  # a worker holds it and reports progress
    COMPLETED = "completed"  # finished; result files are stored
    FAILED = "failed"  # ended with an error_message
    CANCELLED = "cancelled"  # stopped by its owner or an admin

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATUSES


FINISHED_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
ACTIVE_STATUSES = frozenset({JobStatus.PENDING, JobStatus.RUNNING})


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime | None) -> str | None:
    """ISO-8601 UTC with a trailing Z, whole seconds (the API's format)."""
    if ts is None:
        return None
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_precise(ts: datetime) -> str:
    """Fixed-width ISO-8601 with microseconds: sorts as text in time order (storage format)."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class InputFile(BaseModel):
    """An uploaded file a job reads."""

    model_config = ConfigDict(frozen=True)

    file_id: str
    name: str
    key: str
    size_bytes: int


class Job(BaseModel):
    """A job as stored: the API's fields plus what the worker and maintenance need."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    status: JobStatus
    priority: int
    user_id: str
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    progress: int = 0
    message: str = ""
    error_message: str | None = None
    result_files: list[str] = Field(default_factory=list)
    result_bytes: int = 0
    estimated_remaining: int | None = None
    heartbeat_at: datetime | None = None
    queued_at: datetime | None = None
    attempts: int = 0
    run_id: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    inputs: list[InputFile] = Field(default_factory=list)
    # Shards (docs/api.md, "Shards"): set when a run splits the job; a job run in one
    # piece keeps shard_ranges empty and counts as one shard.
    shard_ranges: list[tuple[int, int]] = Field(default_factory=list)
    shards_finished: frozenset[int] = frozenset()
    rows_done: int = 0  # file1 rows matched by finished shards
    # file1 rows matched so far by shards still running, by shard (their heartbeats)
    shard_rows: dict[int, int] = Field(default_factory=dict)
    phase: str | None = None  # "shards" while shards run, "merging" once the merge began
    shards_started_at: datetime | None = None
    summary: dict[str, Any] | None = None  # the counts of summary.json, once completed

    @property
    def sharded(self) -> bool:
        return bool(self.shard_ranges)

    @property
    def rows_matched(self) -> int:
        """file1 rows matched so far: by finished shards, and by running ones."""
        running = sum(n for i, n in self.shard_rows.items() if i not in self.shards_finished)
        return self.rows_done + running

    @property
    def shards_total(self) -> int:
        return len(self.shard_ranges) or 1

    @property
    def shards_done(self) -> int:
        if self.sharded:
            return len(self.shards_finished)
        return 1 if self.status is JobStatus.COMPLETED else 0

    def duration(self, now: datetime) -> int | None:
        """Whole seconds spent running (so far, while running)."""
        if self.started_at is None:
            return None
        end = self.completed_at if self.status.finished and self.completed_at else now
        return max(0, int((end - self.started_at).total_seconds()))

    def remaining(self) -> int | None:
        if self.status is JobStatus.COMPLETED:
            return 0
        if self.status is JobStatus.RUNNING:
            return self.estimated_remaining
        return None

    def result_paths(self) -> list[str]:
        return [f"/results/{self.id}/{name}" for name in self.result_files]

    def to_api(self, now: datetime | None = None) -> JobView:
        """The job object of the API document."""
        now = now or utcnow()
        return JobView(
            id=self.id,
            name=self.name,
            status=self.status,
            priority=self.priority,
            created_at=iso(self.created_at) or "",
            started_at=iso(self.started_at),
            completed_at=iso(self.completed_at),
            progress=self.progress,
            message=self.message,
            error_message=self.error_message,
            result_files=self.result_paths(),
            user_id=self.user_id,
            duration=self.duration(now),
            estimated_remaining=self.remaining(),
            shards_total=self.shards_total,
            shards_done=self.shards_done,
            summary=(
                JobSummary.model_validate(self.summary)
                if self.summary is not None and self.status is JobStatus.COMPLETED
                else None
            ),
        )


SUMMARY_COUNTS = ("rows1", "rows2", "pairs", "unmatched1", "unmatched2", "suggested_threshold")


def summary_counts(summary: dict[str, Any]) -> dict[str, Any] | None:
    """What the job object's `summary` keeps of summary.json (None without one)."""
    if not summary:
        return None
    return {key: summary.get(key) for key in SUMMARY_COUNTS}


class JobSummary(BaseModel):
    """The `summary` of a completed job: the counts of its summary.json (docs/api.md)."""

    model_config = ConfigDict(extra="ignore")

    rows1: int = Field(description="Data rows of file1")
    rows2: int = Field(description="Data rows of file2")
    pairs: int = Field(description="Pairs in matched_results")
    unmatched1: int = Field(description="file1 rows in no pair")
    unmatched2: int = Field(description="file2 rows in no pair")
    suggested_threshold: float | None = Field(
        description="An estimate, without labels, of the threshold separating true matches "
        "from chance ones (docs/matching.md); null when the sample cannot tell"
    )


class JobView(BaseModel):
    """The job object of the API (docs/api.md), field for field."""

    id: str
    name: str
    status: JobStatus
    priority: int
    created_at: str
    started_at: str | None
    completed_at: str | None
    progress: int = Field(ge=0, le=100)
    message: str
    error_message: str | None
    result_files: list[str]
    user_id: str
    duration: int | None = Field(description="Whole seconds spent running (so far)")
    estimated_remaining: int | None = Field(description="Whole seconds, null when unknown")
    shards_total: int = Field(ge=1, description="Shards the job runs as (1 unless split)")
    shards_done: int = Field(ge=0, description="Shards finished, 0..shards_total")
    summary: JobSummary | None = Field(
        default=None, description="null until completed, then the counts of summary.json"
    )
    queue_position: int | None = Field(
        default=None,
        ge=1,
        description="A pending job's place in the queue of all users' pending jobs: 1 + those "
        "that start before it (higher priority, or the same and older); null unless pending "
        "(and in job lists)",
    )


class SubmitRequest(BaseModel):
    """Body of `POST /jobs/submit`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_JOB_NAME)
    config: MatchConfig
    priority: Annotated[int, Strict()] = Field(
        default=2, ge=1, le=4, description="1 low, 2 normal, 3 high, 4 urgent"
    )

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, name: str) -> str:
        name = name.strip()
        if not name:
            raise ValueError("must not be blank")
        if any(ord(ch) < 32 for ch in name):
            raise ValueError("must not contain control characters")
        return name


class UploadRequest(BaseModel):
    """Body of `POST /files`."""

    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=255, examples=["customers.csv"])


WebhookEvent = Literal["running", "completed", "failed", "cancelled"]
WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = ("running", "completed", "failed", "cancelled")


class WebhookRequest(BaseModel):
    """Body of `POST /webhooks`."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=1,
        max_length=2048,
        description="https URL of the receiver (a public address; no credentials)",
        examples=["https://example.com/matchq-events"],
    )
    events: list[WebhookEvent] = Field(
        default_factory=lambda: list(WEBHOOK_EVENTS),
        min_length=1,
        max_length=4,
        description="Job states to be told of; all four when omitted",
    )

    @field_validator("events")
    @classmethod
    def _unique(cls, events: list[WebhookEvent]) -> list[WebhookEvent]:
        return list(dict.fromkeys(events))
