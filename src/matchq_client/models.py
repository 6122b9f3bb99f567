"""What the API returns, as small frozen dataclasses that tolerate extra fields."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

#: The config's `output_format` values: the result files' format (`summary.json` is always JSON).
OutputFormat = Literal["json", "csv", "xlsx"]
OUTPUT_FORMATS: tuple[str, ...] = ("json", "csv", "xlsx")

__all__ = [
    "FINISHED_STATUSES",
    "OUTPUT_FORMATS",
    "FileFormat",
    "FileInfo",
    "HistogramBin",
    "Job",
    "JobPage",
    "JobStatus",
    "JobSummary",
    "JobSummaryCounts",
    "OutputFormat",
    "ResultFile",
    "parse_time",
]


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
    except (TypeError, ValueError, OverflowError):
        return None


def _float_or_none(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class JobSummaryCounts:
    """`Job.summary`: the counts a completed job's `summary.json` starts with.

    `suggested_threshold` is None when the server could not estimate one.
    """

    rows1: int = 0
    rows2: int = 0
    pairs: int = 0
    unmatched1: int = 0
    unmatched2: int = 0
    suggested_threshold: float | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobSummaryCounts:
        return cls(
            rows1=_int_or_none(data.get("rows1")) or 0,
            rows2=_int_or_none(data.get("rows2")) or 0,
            pairs=_int_or_none(data.get("pairs")) or 0,
            unmatched1=_int_or_none(data.get("unmatched1")) or 0,
            unmatched2=_int_or_none(data.get("unmatched2")) or 0,
            suggested_threshold=_float_or_none(data.get("suggested_threshold")),
        )


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
    #: None until the job completed, and from servers that do not send it.
    summary: JobSummaryCounts | None = None
    #: 1 for the next pending job to start; None when not pending (or not sent).
    queue_position: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        """Build from the API's JSON object; unknown fields are kept in `raw` only."""
        summary = data.get("summary")
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
            summary=JobSummaryCounts.from_dict(summary) if isinstance(summary, Mapping) else None,
            queue_position=_int_or_none(data.get("queue_position")),
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


@dataclass(frozen=True)
class Webhook:
    """A registered webhook; `secret` (whsec_...) only from `create_webhook`."""

    webhook_id: str
    url: str
    events: tuple[str, ...]
    created_at: datetime | None = None
    secret: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Webhook:
        return cls(
            webhook_id=str(data.get("webhook_id", "")),
            url=str(data.get("url", "")),
            events=tuple(str(e) for e in data.get("events") or ()),
            created_at=parse_time(data.get("created_at")),
            secret=_str_or_none(data.get("secret")),
        )


@dataclass(frozen=True)
class HistogramBin:
    """One bar of `JobSummary.score_histogram`: `count` scores in `[lower, upper)`
    (the last bin also holds `upper`, i.e. 100)."""

    lower: float
    upper: float
    count: int

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HistogramBin:
        return cls(
            lower=_float_or_none(data.get("from")) or 0.0,
            upper=_float_or_none(data.get("to")) or 0.0,
            count=_int_or_none(data.get("count")) or 0,
        )


@dataclass(frozen=True)
class FileFormat:
    """How the server read an input file: `format` (csv, xlsx, ...), `encoding`, and
    `delimiter` (None where the format has none)."""

    format: str = ""
    encoding: str | None = None
    delimiter: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileFormat:
        return cls(
            format=str(data.get("format") or ""),
            encoding=_str_or_none(data.get("encoding")),
            delimiter=_str_or_none(data.get("delimiter")),
        )


@dataclass(frozen=True)
class JobSummary:
    """A completed job's `summary.json` (`MatchqClient.summary()`); `raw` keeps the JSON.

    `score_histogram` has one `HistogramBin` per 5 points (20 bins) of the best score of
    each sampled file1 row; `files` maps `file1` and `file2` to how each was read;
    `timings` maps each phase to seconds.
    """

    rows1: int = 0
    rows2: int = 0
    pairs: int = 0
    matched_rows1: int = 0
    matched_rows2: int = 0
    unmatched1: int = 0
    unmatched2: int = 0
    threshold: float | None = None
    match_mode: str = ""
    score_histogram: tuple[HistogramBin, ...] = ()
    suggested_threshold: float | None = None
    #: The file1 rows sampled for the histogram (None from servers that do not say).
    sample_rows: int | None = None
    files: Mapping[str, FileFormat] = field(default_factory=dict, hash=False)
    timings: Mapping[str, float] = field(default_factory=dict, hash=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobSummary:
        """Build from `summary.json`; missing fields get their defaults."""
        bins = data.get("score_histogram")
        files = data.get("files")
        timings = data.get("timings")
        return cls(
            rows1=_int_or_none(data.get("rows1")) or 0,
            rows2=_int_or_none(data.get("rows2")) or 0,
            pairs=_int_or_none(data.get("pairs")) or 0,
            matched_rows1=_int_or_none(data.get("matched_rows1")) or 0,
            matched_rows2=_int_or_none(data.get("matched_rows2")) or 0,
            unmatched1=_int_or_none(data.get("unmatched1")) or 0,
            unmatched2=_int_or_none(data.get("unmatched2")) or 0,
            threshold=_float_or_none(data.get("threshold")),
            match_mode=str(data.get("match_mode") or ""),
            score_histogram=tuple(
                HistogramBin.from_dict(item)
                for item in (bins if isinstance(bins, list) else ())
                if isinstance(item, Mapping)
            ),
            suggested_threshold=_float_or_none(data.get("suggested_threshold")),
            sample_rows=_int_or_none(data.get("sample_rows")),
            files={
                str(name): FileFormat.from_dict(item)
                for name, item in (files.items() if isinstance(files, Mapping) else ())
                if isinstance(item, Mapping)
            },
            timings={
                str(phase): seconds
                for phase, value in (timings.items() if isinstance(timings, Mapping) else ())
                if (seconds := _float_or_none(value)) is not None
            },
            raw=dict(data),
        )

    @property
    def counts(self) -> JobSummaryCounts:
        """The counts the job object's `summary` carries."""
        return JobSummaryCounts(
            self.rows1,
            self.rows2,
            self.pairs,
            self.unmatched1,
            self.unmatched2,
            self.suggested_threshold,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object as received."""
        return dict(self.raw)


@dataclass(frozen=True)
class FileInfo:
    """An upload as `GET /files/{file_id}` describes it; `raw` keeps the JSON object.

    `delimiter` is None for formats without one (xlsx); `sample_rows` holds up to 10 data
    rows, each a mapping of column to value.
    """

    file_id: str
    filename: str = ""
    size_bytes: int = 0
    format: str = ""
    encoding: str | None = None
    delimiter: str | None = None
    columns: tuple[str, ...] = ()
    sample_rows: tuple[Mapping[str, Any], ...] = field(default=(), hash=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileInfo:
        rows = data.get("sample_rows")
        columns = data.get("columns")
        return cls(
            file_id=str(data.get("file_id", "")),
            filename=str(data.get("filename") or ""),
            size_bytes=_int_or_none(data.get("size_bytes")) or 0,
            format=str(data.get("format") or ""),
            encoding=_str_or_none(data.get("encoding")),
            delimiter=_str_or_none(data.get("delimiter")),
            columns=tuple(str(c) for c in (columns if isinstance(columns, list) else ())),
            sample_rows=tuple(
                dict(row)
                for row in (rows if isinstance(rows, list) else ())
                if isinstance(row, Mapping)
            ),
            raw=dict(data),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object as received."""
        return dict(self.raw)
