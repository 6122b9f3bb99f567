"""Python client of the matchq job API.

    from matchq_client import MatchqClient

    with MatchqClient() as client:  # $MATCHQ_URL, $MATCHQ_TOKEN
        job_id = client.submit_files("a.csv", "b.csv", config)
        job = client.wait(job_id, on_progress=print)
        client.download_results(job_id, "results/")

`AsyncMatchqClient` has the same methods as coroutines. Errors are subclasses of
`MatchqError`; `wait()` raises `JobTimeout`, a `TimeoutError`.
"""

from matchq_client._core import DEFAULT_URL, VERSION, RetryPolicy
from matchq_client.async_client import AsyncMatchqClient
from matchq_client.client import MatchqClient
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
from matchq_client.models import FINISHED_STATUSES, Job, JobPage, JobStatus, ResultFile

__version__ = VERSION

__all__ = [
    "DEFAULT_URL",
    "FINISHED_STATUSES",
    "AsyncMatchqClient",
    "BadRequest",
    "Conflict",
    "ConnectionFailed",
    "DownloadError",
    "Forbidden",
    "Job",
    "JobPage",
    "JobStatus",
    "JobTimeout",
    "MatchqClient",
    "MatchqError",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ResultFile",
    "RetryPolicy",
    "ServerError",
    "Unauthorized",
    "UploadError",
    "__version__",
]
