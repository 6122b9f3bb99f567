"""Python client of the matchq job API (docs/api.md).

    from matchq_client import MatchqClient

    with MatchqClient() as client:  # $MATCHQ_URL, $MATCHQ_TOKEN
        job_id = client.submit_files("a.csv", "b.csv", config)
        job = client.wait(job_id, on_progress=print)
        client.download_results(job_id, "results/")
        summary = client.summary(job_id)  # summary.json: counts, score histogram

`AsyncMatchqClient` has the same methods as coroutines. Errors are subclasses of
`MatchqError`; `wait()` raises `JobTimeout`, a `TimeoutError`.

The clients (and `RetryPolicy`) are imported on first use: `import matchq_client`, and the
`matchq` command's start, do not wait for httpx until a client is needed.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from matchq_client._settings import DEFAULT_URL, VERSION
from matchq_client.errors import (
    BadRequest,
    Conflict,
    ConnectionFailed,
    DownloadError,
    Forbidden,
    JobTimeout,
    MatchqError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    Unauthorized,
    UploadError,
)
from matchq_client.models import (
    FINISHED_STATUSES,
    OUTPUT_FORMATS,
    FileFormat,
    FileInfo,
    HistogramBin,
    Job,
    JobPage,
    JobStatus,
    JobSummary,
    JobSummaryCounts,
    OutputFormat,
    ResultFile,
    Webhook,
)

if TYPE_CHECKING:
    from matchq_client._async.client import AsyncMatchqClient
    from matchq_client._core import RetryPolicy
    from matchq_client._sync.client import MatchqClient

__version__ = VERSION

__all__ = [
    "DEFAULT_URL",
    "FINISHED_STATUSES",
    "OUTPUT_FORMATS",
    "AsyncMatchqClient",
    "BadRequest",
    "Conflict",
    "ConnectionFailed",
    "DownloadError",
    "FileFormat",
    "FileInfo",
    "Forbidden",
    "HistogramBin",
    "Job",
    "JobPage",
    "JobStatus",
    "JobSummary",
    "JobSummaryCounts",
    "JobTimeout",
    "MatchqClient",
    "MatchqError",
    "NotFound",
    "OutputFormat",
    "PayloadTooLarge",
    "RateLimited",
    "ResultFile",
    "RetryPolicy",
    "ServerError",
    "Unauthorized",
    "UploadError",
    "Webhook",
    "__version__",
]

_LAZY = {
    "AsyncMatchqClient": "matchq_client._async.client",
    "MatchqClient": "matchq_client._sync.client",
    "RetryPolicy": "matchq_client._core",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
