"""What the async client and its generated sync twin share, free of I/O: the retry policy,
routes, and the parsing of answers and errors."""

from __future__ import annotations

import html
import json
import mimetypes
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

import httpx

from matchq_client._settings import VERSION
from matchq_client.errors import (
    ConnectionFailed,
    DownloadError,
    JobTimeout,
    MatchqError,
    NotFound,
    PayloadTooLarge,
    error_class,
    reason_phrase,
)
from matchq_client.models import FileInfo, Job, JobPage, JobSummary, ResultFile

USER_AGENT = f"matchq-client/{VERSION} httpx/{httpx.__version__}"

#: Only these methods are retried: repeating them cannot create or cancel anything twice.
RETRY_METHODS = frozenset({"GET", "HEAD", "DELETE"})
#: Failures after which a retry may succeed (a refused connection, a timeout, a cut stream).
RETRY_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
RETRY_HINT_STATUSES = frozenset({429, 503})
MAX_DETAIL_CHARS = 300


#: Names under /jobs/ that are routes, not jobs: `GET /jobs/stats` is no job.
RESERVED_JOB_IDS = frozenset({"list", "stats", "submit", "cleanup"})


def webhook_path(webhook_id: str) -> str:
    """`webhooks/<id>` with the id quoted."""
    if not isinstance(webhook_id, str) or webhook_id.strip() in {"", ".", ".."}:
        raise ValueError(f"invalid webhook id: {webhook_id!r}")
    return f"webhooks/{quote(webhook_id, safe='')}"


def job_path(job_id: str, suffix: str = "") -> str:
    """`jobs/<id>[/suffix]` with the id quoted, so no id can reach another route."""
    if not isinstance(job_id, str) or job_id.strip() in {"", ".", ".."}:
        raise ValueError(f"invalid job id: {job_id!r}")
    if job_id in RESERVED_JOB_IDS:
        raise NotFound(404, reason_phrase(404), f"Job not found: {job_id}")
    path = f"jobs/{quote(job_id, safe='')}"
    return f"{path}/{suffix}" if suffix else path


def file_path(file_id: str) -> str:
    """`files/<id>` with the id quoted into one path segment."""
    if not isinstance(file_id, str) or file_id.strip() in {"", ".", ".."}:
        raise ValueError(f"invalid file id: {file_id!r}")
    return f"files/{quote(file_id, safe='')}"


def without_none(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def safe_filename(name: str) -> str:
    """The last segment of a result file name; refuses names that would leave the directory."""
    base = PurePosixPath(name.replace("\\", "/")).name
    if base in {"", ".", ".."}:
        raise DownloadError(None, "Invalid File Name", f"refusing to write result file {name!r}")
    return base


def content_type(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def public_url(url: httpx.URL | str) -> str:
    """A URL without its query (presigned URLs carry credentials there)."""
    return str(httpx.URL(str(url)).copy_with(query=None))


# --- retries ---------------------------------------------------------------------------


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from now; None if absent."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, for GET, HEAD and DELETE, and for a POST that
    carries an Idempotency-Key (the API answers its retries with the first answer).

    Attempt `n` (0-based) waits a uniform random time in `[0, min(max_backoff,
    backoff * 2**n)]`. A 429 or 503 with a Retry-After header waits what it says, unless
    that is longer than `max_backoff`: then the error is raised at once (it carries
    `retry_after`).
    """

    retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 30.0

    def allows(self, method: str, idempotent: bool = False) -> bool:
        return idempotent or method.upper() in RETRY_METHODS

    def backoff_delay(self, attempt: int, rng: random.Random) -> float:
        cap = min(self.max_backoff, self.backoff * (2**attempt))
        return rng.uniform(0.0, max(0.0, cap))

    def after_error(
        self,
        method: str,
        attempt: int,
        exc: Exception,
        rng: random.Random,
        idempotent: bool = False,
    ) -> float | None:
        """Seconds to wait before retrying after a transport error; None: do not retry."""
        if attempt >= self.retries or not self.allows(method, idempotent):
            return None
        if not isinstance(exc, RETRY_ERRORS):
            return None
        return self.backoff_delay(attempt, rng)

    def after_status(
        self,
        method: str,
        attempt: int,
        response: httpx.Response,
        rng: random.Random,
        idempotent: bool = False,
    ) -> float | None:
        """Seconds to wait before retrying after an error status; None: do not retry."""
        status = response.status_code
        if status != 429 and status < 500:
            return None
        if attempt >= self.retries or not self.allows(method, idempotent):
            return None
        if status in RETRY_HINT_STATUSES:
            hint = retry_after_seconds(response.headers.get("Retry-After"))
            if hint is not None:
                return hint if hint <= self.max_backoff else None
        return self.backoff_delay(attempt, rng)


def next_poll_interval(
    previous: Job | None, job: Job, interval: float, poll_interval: float, max_interval: float
) -> float:
    """`wait()`'s pause: back to `poll_interval` when the job moved, else 1.5x up to the max."""
    moved = previous is None or (
        previous.status,
        previous.progress,
        previous.message,
        previous.queue_position,
    ) != (job.status, job.progress, job.message, job.queue_position)
    if moved:
        return poll_interval
    return min(max(interval, poll_interval) * 1.5, max(max_interval, poll_interval))


# --- answers ---------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def one_line(text: str) -> str:
    """Text (or an HTML page) squeezed into one short line."""
    text = _SPACE.sub(" ", _TAG.sub(" ", text)).strip()
    if len(text) > MAX_DETAIL_CHARS:
        text = text[: MAX_DETAIL_CHARS - 3] + "..."
    return text


def api_error(response: httpx.Response) -> MatchqError:
    """The typed error of a 4xx/5xx API answer (read the body first when streaming)."""
    status = response.status_code
    text = response.text
    body: Any = text
    error = reason_phrase(status)
    details = ""
    timestamp: str | None = None
    try:
        parsed = json.loads(text) if text.strip() else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        body = parsed
        error = str(parsed.get("error") or error)
        raw_details = parsed.get("details") or parsed.get("message") or ""
        details = raw_details if isinstance(raw_details, str) else json.dumps(raw_details)
        raw_ts = parsed.get("timestamp")
        timestamp = str(raw_ts) if raw_ts is not None else None
    elif text.strip():
        details = one_line(text)
    cls = error_class(status)
    return cls(
        status,
        error,
        details,
        timestamp,
        body,
        method=response.request.method,
        url=public_url(response.request.url),
        retry_after=retry_after_seconds(response.headers.get("Retry-After")),
    )


_XML_FIELD = "<{0}>(.*?)</{0}>"


def _xml_field(text: str, name: str) -> str | None:
    match = re.search(_XML_FIELD.format(name), text, re.DOTALL)
    return html.unescape(match.group(1)).strip() if match else None


def storage_error(cls: type[MatchqError], response: httpx.Response) -> MatchqError:
    """An S3 answer that is not a success: its XML `<Code>` and `<Message>` if present."""
    status = response.status_code
    text = response.text
    code = _xml_field(text, "Code")
    message = _xml_field(text, "Message")
    return cls(
        status,
        code or reason_phrase(status),
        message if message is not None else one_line(text),
        None,
        text,
        method=response.request.method,
        url=public_url(response.request.url),
    )


def connection_failed(method: str, url: httpx.URL | str, exc: Exception) -> ConnectionFailed:
    """The error raised when no answer came."""
    where = public_url(url)
    if isinstance(exc, httpx.TimeoutException):
        reason = f"timed out ({type(exc).__name__})"
    else:
        reason = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        reason += " (is the server running? check MATCHQ_URL)"
    return ConnectionFailed(None, f"Cannot reach {where}", reason, method=method, url=where)


def invalid_answer(response: httpx.Response, expected: str) -> MatchqError:
    return MatchqError(
        response.status_code,
        "Invalid Response",
        f"expected {expected} from {response.request.method} "
        f"{public_url(response.request.url)}, got: {one_line(response.text)[:120]!r}",
        method=response.request.method,
        url=public_url(response.request.url),
    )


def json_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise invalid_answer(response, "JSON") from None


def json_object(response: httpx.Response) -> dict[str, Any]:
    data = json_of(response)
    if not isinstance(data, dict):
        raise invalid_answer(response, "a JSON object")
    return data


def parse_job(response: httpx.Response) -> Job:
    data = json_object(response)
    if "id" not in data or "status" not in data:
        raise invalid_answer(response, "a job object")
    return Job.from_dict(data)


def parse_job_id(response: httpx.Response) -> str:
    data = json_object(response)
    if not isinstance(data.get("job_id"), str):
        raise invalid_answer(response, "a job id")
    return str(data["job_id"])


def parse_page(response: httpx.Response) -> JobPage:
    data = json_of(response)
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise invalid_answer(response, "a JSON array of jobs")
    token = response.headers.get("X-Next-Token") or None
    return JobPage(jobs=tuple(Job.from_dict(item) for item in data), next_token=token)


def parse_results(response: httpx.Response) -> list[ResultFile]:
    files = json_object(response).get("files")
    if not isinstance(files, list):
        raise invalid_answer(response, "a results object with 'files'")
    return [ResultFile.from_dict(item) for item in files if isinstance(item, dict)]


#: The result file every completed job has (from servers that write summaries).
SUMMARY_FILE = "summary.json"


def summary_file(job_id: str, files: Sequence[ResultFile]) -> ResultFile:
    """The `summary.json` entry of a job's results; `NotFound` when the job has none."""
    for item in files:
        if PurePosixPath(item.name).name == SUMMARY_FILE:
            return item
    names = ", ".join(item.name for item in files) or "none"
    raise NotFound(
        None,
        "No Summary",
        f"job {job_id} has no {SUMMARY_FILE} (its result files: {names}); "
        "it was run by a server that writes no summaries",
    )


def parse_summary(response: httpx.Response) -> JobSummary:
    """A downloaded `summary.json`."""
    return JobSummary.from_dict(json_object(response))


def parse_file_info(response: httpx.Response) -> FileInfo:
    data = json_object(response)
    if not isinstance(data.get("file_id"), str):
        raise invalid_answer(response, "a file object")
    return FileInfo.from_dict(data)


@dataclass(frozen=True)
class UploadGrant:
    """The answer of `POST /files`."""

    file_id: str
    url: str
    fields: dict[str, str]
    max_bytes: int | None


def parse_grant(response: httpx.Response) -> UploadGrant:
    data = json_object(response)
    upload = data.get("upload")
    if not isinstance(upload, dict) or "file_id" not in data or "url" not in upload:
        raise invalid_answer(response, "an upload grant")
    max_bytes = data.get("max_bytes")
    return UploadGrant(
        file_id=str(data["file_id"]),
        url=str(upload["url"]),
        fields={str(k): str(v) for k, v in (upload.get("fields") or {}).items()},
        max_bytes=max_bytes if isinstance(max_bytes, int) else None,
    )


def too_large(name: str, size: int, max_bytes: int) -> MatchqError:
    details = f"{name} is {size} bytes; uploads are limited to {max_bytes} bytes"
    return PayloadTooLarge(413, reason_phrase(413), details)


def job_config(config: Mapping[str, Any], file1: str, file2: str) -> dict[str, Any]:
    """A copy of `config` with `file1` and `file2` set (the caller's dict is not changed)."""
    return {**config, "file1": file1, "file2": file2}


def _columns(name: str, columns: Sequence[str]) -> list[str]:
    if isinstance(columns, str):
        raise TypeError(f"{name} must be a sequence of column names, not a string")
    return [str(column) for column in columns]


def with_output_options(
    config: Mapping[str, Any],
    output_format: str | None = None,
    output_cols1: Sequence[str] | None = None,
    output_cols2: Sequence[str] | None = None,
    generate_unmatched: bool | None = None,
) -> dict[str, Any]:
    """A copy of `config` with the options that are not None set (they override its keys)."""
    result = dict(config)
    if output_format is not None:
        result["output_format"] = str(output_format)
    if output_cols1 is not None:
        result["output_cols1"] = _columns("output_cols1", output_cols1)
    if output_cols2 is not None:
        result["output_cols2"] = _columns("output_cols2", output_cols2)
    if generate_unmatched is not None:
        result["generate_unmatched"] = bool(generate_unmatched)
    return result


def job_timeout(job_id: str, timeout: float | None, job: Job) -> JobTimeout:
    """The spec's TimeoutError message, plus the last state seen."""
    return JobTimeout(
        f"Job {job_id} did not complete within {timeout or 0:g} seconds "
        f"(last seen {job.status}, {job.progress}%)",
        job,
    )


def repeated_token() -> MatchqError:
    return MatchqError(None, "Invalid Response", "the server repeated the same next_token")
