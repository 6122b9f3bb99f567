"""Typed errors of the matchq client. Every one carries the API's error body."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

__all__ = [
    "BadRequest",
    "Conflict",
    "ConnectionFailed",
    "DownloadError",
    "Forbidden",
    "JobTimeout",
    "MatchqError",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServerError",
    "Unauthorized",
    "UploadError",
    "error_class",
]


class MatchqError(Exception):
    """A request that did not succeed.

    `status` is the HTTP status (None when no answer came), `error` the reason phrase,
    `details` the explanation, `timestamp` the server's time, `body` the parsed body
    (a dict for JSON answers, else the text).
    """

    def __init__(
        self,
        status: int | None,
        error: str,
        details: str = "",
        timestamp: str | None = None,
        body: Any = None,
        *,
        method: str | None = None,
        url: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.error = error
        self.details = details
        self.timestamp = timestamp
        self.body = body
        self.method = method
        self.url = url
        self.retry_after = retry_after
        super().__init__(self._line())

    def _line(self) -> str:
        head = f"{self.status} {self.error}" if self.status is not None else self.error
        return f"{head}: {self.details}" if self.details else head

    def __str__(self) -> str:
        return self._line()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status!r}, {self.error!r}, {self.details!r})"


class BadRequest(MatchqError):
    """400: a field is missing or invalid; `details` names it."""


class Unauthorized(MatchqError):
    """401: no token, or a malformed, expired or badly signed one."""


class Forbidden(MatchqError):
    """403: another user's job."""


class NotFound(MatchqError):
    """404: no such job (or route)."""


class Conflict(MatchqError):
    """409: the job's state does not allow this (cancel a finished job, results too early)."""


class PayloadTooLarge(MatchqError):
    """413: the request body or the file is too large."""


class RateLimited(MatchqError):
    """429: too many requests; `retry_after` holds the server's hint in seconds, if any."""


class ServerError(MatchqError):
    """5xx: the server or a dependency failed."""


class ConnectionFailed(MatchqError):
    """No answer: the server is unreachable, the connection broke or the request timed out."""


class UploadError(MatchqError):
    """The storage service refused an upload; `error` is its code (e.g. EntityTooLarge)."""


class DownloadError(MatchqError):
    """The storage service refused a download; `error` is its code (e.g. AccessDenied)."""


class JobTimeout(TimeoutError):
    """`wait()` gave up: the job did not finish in time. `job` is the last state seen."""

    def __init__(self, message: str, job: Any = None) -> None:
        super().__init__(message)
        self.job = job


_BY_STATUS: dict[int, type[MatchqError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    429: RateLimited,
}


def error_class(status: int) -> type[MatchqError]:
    """The exception class of an HTTP error status."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, MatchqError)


def reason_phrase(status: int) -> str:
    """The standard reason phrase of `status`, or 'HTTP <status>'."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
