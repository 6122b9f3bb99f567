"""Response bodies of the API and the error body, as pydantic models (they feed the OpenAPI
document too), and the one function that words validation errors for users."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

PRIORITY_ERROR = "Priority must be between 1 (low) and 4 (urgent)"


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer."""

    error: str = Field(description="The HTTP reason phrase", examples=["Bad Request"])
    details: str = Field(description="What went wrong; names the field for a 400")
    timestamp: str = Field(description="ISO-8601 UTC, ending in Z")


class SubmitAccepted(BaseModel):
    job_id: str = Field(pattern=r"^job_[0-9a-f-]{36}$")
    message: str = Field(examples=["Job submitted successfully"])


class Success(BaseModel):
    success: bool
    message: str


class Stats(BaseModel):
    total_jobs: int
    pending: int
    running: int
    completed: int
    failed: int
    cancelled: int
    active_workers: int = Field(description="Running jobs (of the caller; an admin: of everyone)")
    total_workers: int = Field(description="Configured worker capacity")


class CleanupResult(BaseModel):
    success: bool
    cleaned_jobs: int
    freed_space_mb: float
    message: str


class PresignedPost(BaseModel):
    url: str
    fields: dict[str, str] = Field(description="Form fields to send before the file")


class UploadGrant(BaseModel):
    file_id: str = Field(pattern=r"^file_[0-9a-f-]{36}$")
    filename: str = Field(description="The name as stored (sanitised)")
    upload: PresignedPost
    max_bytes: int
    expires_in: int = Field(description="Seconds the upload form stays valid")


class FileView(BaseModel):
    """An uploaded file and its first rows, read as the worker will read them."""

    file_id: str = Field(pattern=r"^file_[0-9a-f-]{36}$")
    filename: str = Field(description="The name as stored; its extension decides the format")
    size_bytes: int = Field(ge=0)
    format: Literal["csv", "tsv", "txt", "json", "jsonl", "xlsx"] = Field(
        description="The file name's extension, without the dot"
    )
    encoding: Literal["UTF-8", "UTF-8 (BOM)", "UTF-16", "UTF-32", "Windows-1252"] | None = Field(
        description="The text encoding the file is read in (judged from the bytes read); "
        "null for xlsx"
    )
    delimiter: Literal[",", ";", "\t", "|"] | None = Field(
        description="The delimiter of delimited text (csv, tsv, txt); null for the others"
    )
    columns: list[str] = Field(description="The header, in file order")
    sample_rows: list[dict[str, str | None]] = Field(
        max_length=10,
        description="The first data rows (at most 10, those within the first MiB), keyed by "
        "column; empty values are null, values over 200 characters are cut to 200 and '…'",
    )


class ResultFile(BaseModel):
    name: str
    size_bytes: int
    download_url: str
    expires_in: int


class Results(BaseModel):
    job_id: str
    files: list[ResultFile]


class WebhookView(BaseModel):
    """A webhook; `secret` only in the answer that created it."""

    webhook_id: str = Field(pattern=r"^wh_[0-9a-f-]{36}$")
    url: str
    events: list[Literal["running", "completed", "failed", "cancelled"]]
    created_at: str = Field(description="ISO-8601 UTC, ending in Z")
    secret: str | None = Field(
        default=None,
        description="whsec_<base64>: verifies the webhook-signature header (shown once)",
    )


class WebhookList(BaseModel):
    webhooks: list[WebhookView]


class WebhookDeleted(BaseModel):
    success: bool
    webhook_id: str
    message: str


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"model": ErrorBody}},
    }


# Answers every route may give, documented once.
ERROR_RESPONSES: dict[int, dict[str, Any]] = {
    400: _error("Invalid request; `details` names the field"),
    401: _error("Missing, malformed, expired or badly signed token"),
    413: _error("Request body too large"),
    500: _error("Unexpected error"),
}
JOB_ERRORS: dict[int, dict[str, Any]] = {
    **ERROR_RESPONSES,
    403: _error("Another user's job"),
    404: _error("No such job"),
}
FILE_ERRORS: dict[int, dict[str, Any]] = {
    **ERROR_RESPONSES,
    400: _error("The file cannot be read as its format; `details` names the file and row"),
    403: _error("Another user's file"),
    404: _error("No such file, or not uploaded yet"),
}
WEBHOOK_ERRORS: dict[int, dict[str, Any]] = {
    **ERROR_RESPONSES,
    403: _error("Another user's webhook"),
    404: _error("No such webhook"),
}
CONFLICT = {409: _error("The job's state does not allow this")}
IDEMPOTENCY_CONFLICT = {409: _error("The Idempotency-Key was used with another request body")}
UNAVAILABLE = {503: _error("A dependency failed; retry")}


def answers(status: int, description: str, *errors: dict[int, dict[str, Any]]) -> dict[int, Any]:
    """A route's documented answers: its success (body from its return type) and errors."""
    documented: dict[int, Any] = {status: {"description": description}}
    for group in errors:
        documented.update(group)
    return documented


def _location(loc: Iterable[int | str]) -> str:
    """`config.mappings[0].weight` from pydantic's location, without the `body` root."""
    parts = list(loc)
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def describe_errors(errors: Iterable[Mapping[str, Any]]) -> str:
    """One line naming each bad field: `config.mappings[0].weight: Input should be ...`."""
    parts = []
    for err in errors:
        loc = tuple(err.get("loc") or ())
        where = _location(loc)
        kind = err.get("type", "")
        msg = str(err.get("msg") or kind).removeprefix("Value error, ")
        if loc == ("body",) and kind == "missing":
            parts.append("Request body is required (a JSON object)")
            continue
        if loc in {("body",), ()} or (kind == "model_attributes_type" and not where):
            parts.append("Request body must be a JSON object")
            continue
        if where == "priority" and loc[:1] == ("body",):
            parts.append(PRIORITY_ERROR)
            continue
        if kind == "missing":
            msg = "is required"
        elif kind == "extra_forbidden":
            msg = "is not a known field"
        parts.append(f"{where}: {msg}")
    return "; ".join(dict.fromkeys(parts)) or "Invalid request"
