"""What the API returns, as small frozen dataclasses that tolerate extra fields."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = ["FINISHED_STATUSES", "Job", "JobPage", "JobStatus", "ResultFile", "parse_time"]


class JobStatus(StrEnum):
    """The states of a job (`Job.status` compares equal to these)."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED_STATUSES = frozenset({"completed", "failed", "cancelled"})


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 timestamp ('2025-01-27T10:00:00Z') as an aware datetime; None if absent."""
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Job:
    """A job as `GET /jobs/{id}` returns it. `raw` keeps the JSON object as received.

    `job["status"]` reads the raw JSON too, so code written for the spec's dict-returning
    client keeps working.
    """

    id: str
    name: str
    status: str
    priority: int = 2
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    progress: int = 0
    message: str = ""
    error_message: str | None = None
    result_files: tuple[str, ...] = ()
    user_id: str = ""
    duration: int | None = None
    estimated_remaining: int | None = None
    shards_total: int = 1
    shards_done: int = 0
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        """Build from the API's JSON object; unknown fields are kept in `raw` only."""
        return cls(
            id=str(data.get("id", "")),
            name=str(data.get("name") or ""),
            status=str(data.get("status") or ""),
            priority=_int_or_none(data.get("priority")) or 2,
            created_at=parse_time(data.get("created_at")),
            started_at=parse_time(data.get("started_at")),
            completed_at=parse_time(data.get("completed_at")),
            progress=_int_or_none(data.get("progress")) or 0,
            message=str(data.get("message") or ""),
            error_message=data.get("error_message"),
            result_files=tuple(str(f) for f in data.get("result_files") or ()),
            user_id=str(data.get("user_id") or ""),
            duration=_int_or_none(data.get("duration")),
            estimated_remaining=_int_or_none(data.get("estimated_remaining")),
            shards_total=_int_or_none(data.get("shards_total")) or 1,
            shards_done=_int_or_none(data.get("shards_done")) or 0,
            raw=dict(data),
        )

    @property
    def finished(self) -> bool:
        """True once the job is completed, failed or cancelled."""
        return self.status in FINISHED_STATUSES

    @property
    def succeeded(self) -> bool:
        """True when the job completed (its results can be downloaded)."""
        return self.status == JobStatus.COMPLETED

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def to_dict(self) -> dict[str, Any]:
        """The JSON object as received."""
        return dict(self.raw)


@dataclass(frozen=True)
class JobPage:
    """One page of `GET /jobs/list`; `next_token` is None on the last page."""

    jobs: tuple[Job, ...]
    next_token: str | None = None

    def __iter__(self) -> Iterator[Job]:
        return iter(self.jobs)

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, index: int) -> Job:
        return self.jobs[index]

    @property
    def has_more(self) -> bool:
        return self.next_token is not None


@dataclass(frozen=True)
class ResultFile:
    """One result file of a completed job, with its short-lived download link."""

    name: str
    size_bytes: int
    download_url: str
    expires_in: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResultFile:
        return cls(
            name=str(data.get("name", "")),
            size_bytes=_int_or_none(data.get("size_bytes")) or 0,
            download_url=str(data.get("download_url", "")),
            expires_in=_int_or_none(data.get("expires_in")),
        )
