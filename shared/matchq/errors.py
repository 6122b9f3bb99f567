"""Typed domain errors. `matchq.api` is the one place that turns them into HTTP responses."""

from __future__ import annotations

from http import HTTPStatus


class MatchqError(Exception):
    """Base of every error a user may see; `details` is safe to show."""

    status: HTTPStatus = HTTPStatus.INTERNAL_SERVER_ERROR

    def __init__(self, details: str) -> None:
        super().__init__(details)
        self.details = details


class ValidationFailed(MatchqError):
    """A request field is missing or invalid; `details` names the field."""

    status = HTTPStatus.BAD_REQUEST


class Unauthorized(MatchqError):
    """No valid token."""

    status = HTTPStatus.UNAUTHORIZED


class AccessDenied(MatchqError):
    """The caller may not touch this resource."""

    status = HTTPStatus.FORBIDDEN


class NotFound(MatchqError):
    """The resource does not exist."""

    status = HTTPStatus.NOT_FOUND


class JobNotFound(NotFound):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"Job not found: {job_id}")
        self.job_id = job_id


class InvalidState(MatchqError):
    """The job is in a state that does not allow the operation."""

    status = HTTPStatus.CONFLICT


class IdempotencyConflict(MatchqError):
    """An Idempotency-Key reused with a different request."""

    status = HTTPStatus.CONFLICT


class PayloadTooLarge(MatchqError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class ServiceUnavailable(MatchqError):
    """A dependency failed; the request changed nothing and may be retried."""

    status = HTTPStatus.SERVICE_UNAVAILABLE


class InputFileError(MatchqError):
    """An input file cannot be used; `details` names the file and the row or column."""

    status = HTTPStatus.BAD_REQUEST


class JobCancelled(Exception):
    """Raised inside the worker when the job was cancelled while running."""
