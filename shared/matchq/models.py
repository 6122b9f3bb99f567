"""Jobs, their states, and the request models validated at the API's edge."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from matchq.config import MatchConfig
from matchq.errors import ValidationFailed

MAX_JOB_NAME = 200
PRIORITY_ERROR = "Priority must be between 1 (low) and 4 (urgent)"


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

    def to_api(self, now: datetime | None = None) -> dict[str, Any]:
        """The job object of the API document, field for field."""
        now = now or utcnow()
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status.value,
            "priority": self.priority,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "completed_at": iso(self.completed_at),
            "progress": self.progress,
            "message": self.message,
            "error_message": self.error_message,
            "result_files": self.result_paths(),
            "user_id": self.user_id,
            "duration": self.duration(now),
            "estimated_remaining": self.remaining(),
        }


class SubmitRequest(BaseModel):
    """Body of `POST /jobs/submit`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_JOB_NAME)
    config: MatchConfig
    priority: int = 2

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

    filename: str = Field(min_length=1, max_length=255)


def _loc(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "body"


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each bad field: `config.mappings[0].weight: Input should be ...`."""
    parts = []
    for err in exc.errors(include_url=False):
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "is required"
        elif err["type"] == "extra_forbidden":
            msg = "is not a known field"
        parts.append(f"{_loc(tuple(err['loc']))}: {msg}")
    return "; ".join(parts)


def parse_submit(body: Any) -> SubmitRequest:
    """Validate a submit body, raising `ValidationFailed` that names the field."""
    if not isinstance(body, dict):
        raise ValidationFailed("Request body must be a JSON object")
    priority = body.get("priority", 2)
    if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 4:
        raise ValidationFailed(PRIORITY_ERROR)
    return parse_model(SubmitRequest, body)


def parse_model[M: BaseModel](model: type[M], body: Any) -> M:
    if not isinstance(body, dict):
        raise ValidationFailed("Request body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ValidationFailed(describe_validation_error(exc)) from exc
