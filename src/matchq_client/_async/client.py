"""The matchq client of the job API (docs/api.md), written once.

`_async/client.py` (`AsyncMatchqClient`) is the source; `scripts/unasync.py` generates
`_sync/client.py` (`MatchqClient`) from it. Edit the async source, then run the script.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from matchq_client import _core, _io, _settings
from matchq_client._io import AsyncSleep, ProgressCallback
from matchq_client.errors import DownloadError, UploadError
from matchq_client.models import (
    FileInfo,
    Job,
    JobPage,
    JobStatus,
    JobSummary,
    OutputFormat,
    ResultFile,
    Webhook,
)

__all__ = ["AsyncMatchqClient"]

StrPath = str | os.PathLike[str]


class AsyncMatchqClient:
    """A client of the matchq job API (`/api/v1`).

    `base_url` and `token` default to $MATCHQ_URL and $MATCHQ_TOKEN (the URL then to the
    local stack). GET and DELETE requests are retried on connection errors, timeouts, 429
    and 5xx (`retries` times, exponential backoff with full jitter from `backoff` seconds,
    capped at `max_backoff`); other requests are sent once. `transport` replaces httpx's
    network transport (e.g. `httpx.MockTransport` in tests); `sleep`, `clock` and `rng`
    replace the sleep function, `time.monotonic` and the jitter's random source.

    `AsyncMatchqClient` has the methods of `MatchqClient` as coroutines; its `sleep` is
    async, and `wait()`'s `on_progress` may also be a coroutine function.
    """

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float | httpx.Timeout | None = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        sleep: AsyncSleep = _io.async_sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = _settings.resolve_base_url(base_url)
        self.token = _settings.resolve_token(token)
        self.retry_policy = _core.RetryPolicy(retries, backoff, max_backoff)
        self._extra_headers = dict(headers or {})
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        # One connection pool for the API and the presigned storage URLs; the bearer
        # token is added per API request, never to storage requests.
        self._http = httpx.AsyncClient(
            timeout=timeout, transport=transport, headers={"User-Agent": _core.USER_AGENT}
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    # --- lifecycle ---------------------------------------------------------------------

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    aclose = close  # unasync: drop (the sync client has close() only)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- transport ---------------------------------------------------------------------

    def _api_headers(self) -> dict[str, str]:
        headers = dict(self._extra_headers)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    async def _send(
        self,
        method: str,
        url: str,
        *,
        api: bool = True,
        stream: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send with the retry policy; returns the last response, whatever its status."""
        headers = {**(self._api_headers() if api else {}), **kwargs.pop("headers", {})}
        idempotent = "Idempotency-Key" in headers
        attempt = 0
        while True:
            try:
                request = self._http.build_request(method, url, headers=headers, **kwargs)
                response = await self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                delay = self.retry_policy.after_error(method, attempt, exc, self._rng, idempotent)
                if delay is None:
                    raise _core.connection_failed(method, url, exc) from exc
            else:
                delay = self.retry_policy.after_status(
                    method, attempt, response, self._rng, idempotent
                )
                if delay is None:
                    return response
                await response.aclose()
            await self._sleep(delay)
            attempt += 1

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An API request to `base_url/path`; raises the typed error of a 4xx/5xx answer."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        response = await self._send(method.upper(), url, **kwargs)
        if response.status_code >= 400:
            raise _core.api_error(response)
        return response

    # --- jobs --------------------------------------------------------------------------

    async def submit_job(
        self,
        name: str,
        config: Mapping[str, Any],
        priority: int = 2,
        idempotency_key: str | None = None,
        *,
        output_format: OutputFormat | None = None,
        output_cols1: Sequence[str] | None = None,
        output_cols2: Sequence[str] | None = None,
        generate_unmatched: bool | None = None,
    ) -> str:
        """Submit a job (`config` must name `file1` and `file2`); returns its id.

        Sent with an Idempotency-Key (a fresh random one unless given), so a retry after a
        lost answer or a 5xx returns the same job instead of creating a second one; the
        same key within 24 hours returns the first job. `output_format` ("json", "csv"
        or "xlsx"), `output_cols1`, `output_cols2` and `generate_unmatched` set those
        config keys when given (over `config`'s own; the caller's dict is not changed).
        """
        job_config = _core.with_output_options(
            config, output_format, output_cols1, output_cols2, generate_unmatched
        )
        body = {"name": name, "config": job_config, "priority": priority}
        key = idempotency_key or f"sdk-{uuid.uuid4()}"
        response = await self.request(
            "POST", "jobs/submit", json=body, headers={"Idempotency-Key": key}
        )
        return _core.parse_job_id(response)

    async def get_job(self, job_id: str) -> Job:
        """One job."""
        return _core.parse_job(await self.request("GET", _core.job_path(job_id)))

    async def list_jobs(
        self,
        status: str | JobStatus | None = None,
        limit: int | None = None,
        next_token: str | None = None,
    ) -> JobPage:
        """One page of jobs, newest first; pass `page.next_token` on for the next page."""
        params = _core.without_none(
            {"status": str(status) if status else None, "limit": limit, "next_token": next_token}
        )
        return _core.parse_page(await self.request("GET", "jobs/list", params=params))

    async def iter_jobs(
        self, status: str | JobStatus | None = None, page_size: int = 100
    ) -> AsyncIterator[Job]:
        """Every job, newest first, fetching pages of `page_size` as needed."""
        token: str | None = None
        while True:
            page = await self.list_jobs(status=status, limit=page_size, next_token=token)
            for job in page.jobs:
                yield job
            if page.next_token is None:
                return
            if page.next_token == token:
                raise _core.repeated_token()
            token = page.next_token

    async def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a pending or running job; returns the API's answer. Never retried.

        A finished job raises `Conflict` (409).
        """
        return _core.json_object(await self.request("POST", _core.job_path(job_id, "cancel")))

    async def cancel_job(self, job_id: str) -> bool:
        """The spec's form of `cancel()`: True when the job was cancelled."""
        answer = await self.cancel(job_id)
        return bool(answer.get("success"))

    async def delete(self, job_id: str) -> dict[str, Any]:
        """Delete a finished job and its files; returns the API's answer.

        A pending or running job raises `Conflict` (409).
        """
        return _core.json_object(await self.request("DELETE", _core.job_path(job_id)))

    async def delete_job(self, job_id: str) -> bool:
        """The spec's form of `delete()`: True when the job was deleted."""
        answer = await self.delete(job_id)
        return bool(answer.get("success"))

    async def stats(self) -> dict[str, Any]:
        """Job counts by status, `active_workers` and `total_workers`."""
        return _core.json_object(await self.request("GET", "jobs/stats"))

    get_queue_stats = stats

    async def cleanup(self, max_age_hours: int = 24) -> dict[str, Any]:
        """Remove finished jobs older than `max_age_hours` (1..168). Never retried."""
        params = {"max_age_hours": max_age_hours}
        return _core.json_object(await self.request("POST", "jobs/cleanup", params=params))

    # --- webhooks ----------------------------------------------------------------------

    async def create_webhook(self, url: str, events: Sequence[str] | None = None) -> Webhook:
        """Register `url` for the state changes `events` of your jobs (running, completed,
        failed, cancelled; all when None). The answer's `secret` is shown only here."""
        body: dict[str, Any] = {"url": url}
        if events is not None:
            body["events"] = list(events)
        response = await self.request("POST", "webhooks", json=body)
        return Webhook.from_dict(_core.json_object(response))

    async def list_webhooks(self) -> list[Webhook]:
        """Your webhooks, oldest first, without secrets."""
        answer = _core.json_object(await self.request("GET", "webhooks"))
        return [Webhook.from_dict(w) for w in answer.get("webhooks") or []]

    async def delete_webhook(self, webhook_id: str) -> bool:
        """Remove a webhook (nothing more is delivered to it): True when deleted."""
        answer = await self.request("DELETE", _core.webhook_path(webhook_id))
        return bool(_core.json_object(answer).get("success"))

    # --- waiting -----------------------------------------------------------------------

    async def wait(
        self,
        job_id: str,
        timeout: float | None = 3600,
        poll_interval: float = 1.0,
        max_interval: float = 10.0,
        on_progress: ProgressCallback | None = None,
    ) -> Job:
        """Poll until the job is finished and return it; `on_progress(job)` sees every poll.

        The pause starts at `poll_interval`, grows 1.5x while nothing changes, up to
        `max_interval`. Raises `JobTimeout` (a `TimeoutError`) after `timeout` seconds.
        """
        deadline = None if timeout is None else self._clock() + timeout
        interval = poll_interval
        previous: Job | None = None
        while True:
            job = await self.get_job(job_id)
            if on_progress is not None:
                await _io.async_notify(on_progress, job)
            if job.finished:
                return job
            interval = _core.next_poll_interval(
                previous, job, interval, poll_interval, max_interval
            )
            previous = job
            pause = interval
            if deadline is not None:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise _core.job_timeout(job_id, timeout, job)
                pause = min(pause, remaining)
            await self._sleep(pause)

    async def wait_for_job_completion(
        self, job_id: str, timeout: float | None = 3600, **kwargs: Any
    ) -> Job:
        """The spec's name for `wait()`."""
        return await self.wait(job_id, timeout=timeout, **kwargs)

    # --- files -------------------------------------------------------------------------

    async def upload_file(self, path: StrPath, filename: str | None = None) -> str:
        """Upload a local file (POST /files, then the presigned POST); returns its file id."""
        source = Path(path)
        name = filename or source.name
        size = source.stat().st_size
        grant = _core.parse_grant(await self.request("POST", "files", json={"filename": name}))
        if grant.max_bytes is not None and size > grant.max_bytes:
            raise _core.too_large(name, size, grant.max_bytes)
        with source.open("rb") as handle:
            response = await self._send(
                "POST",
                grant.url,
                api=False,
                data=grant.fields,
                files={"file": (name, handle, _core.content_type(name))},
            )
        if not 200 <= response.status_code < 300:
            raise _core.storage_error(UploadError, response)
        return grant.file_id

    async def submit_files(
        self,
        file1: StrPath,
        file2: StrPath,
        config: Mapping[str, Any],
        name: str | None = None,
        priority: int = 2,
        *,
        output_format: OutputFormat | None = None,
        output_cols1: Sequence[str] | None = None,
        output_cols2: Sequence[str] | None = None,
        generate_unmatched: bool | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Upload both files, submit a job on them with `config`; returns the job id.

        The options are those of `submit_job()`. The async client uploads the two files
        concurrently.
        """
        id1, id2 = await _io.async_gather(self.upload_file(file1), self.upload_file(file2))
        job_name = name or f"{Path(file1).name} vs {Path(file2).name}"
        return await self.submit_job(
            job_name,
            _core.job_config(config, id1, id2),
            priority,
            idempotency_key,
            output_format=output_format,
            output_cols1=output_cols1,
            output_cols2=output_cols2,
            generate_unmatched=generate_unmatched,
        )

    async def get_file(self, file_id: str) -> FileInfo:
        """An upload of the caller's: its name, size, how it reads (format, encoding,
        delimiter), its columns and up to 10 sample rows.

        Another user's file raises `Forbidden` (403); an unknown one, or one not uploaded
        yet, `NotFound` (404).
        """
        return _core.parse_file_info(await self.request("GET", _core.file_path(file_id)))

    async def results(self, job_id: str) -> list[ResultFile]:
        """The result files of a completed job with download links (409 before that)."""
        response = await self.request("GET", _core.job_path(job_id, "results"))
        return _core.parse_results(response)

    async def summary(self, job_id: str) -> JobSummary:
        """A completed job's `summary.json`, downloaded and parsed: counts, the score
        histogram, the suggested threshold, how each file was read, the phases' timings.

        A job that is not completed raises `Conflict` (409); a completed job without a
        `summary.json` (run by an older server) raises `NotFound`.
        """
        item = _core.summary_file(job_id, await self.results(job_id))
        response = await self._send("GET", item.download_url, api=False)
        if response.status_code != 200:
            raise _core.storage_error(DownloadError, response)
        return _core.parse_summary(response)

    async def download_file(self, result: ResultFile | str, target: StrPath) -> Path:
        """Stream one file (a `ResultFile` or a presigned URL) to `target`."""
        url = result.download_url if isinstance(result, ResultFile) else result
        path = Path(target)
        partial = path.with_name(f".{path.name}.part")
        response = await self._send("GET", url, api=False, stream=True)
        try:
            if response.status_code != 200:
                await response.aread()
                raise _core.storage_error(DownloadError, response)
            try:
                with partial.open("wb") as handle:
                    async for chunk in response.aiter_bytes():
                        handle.write(chunk)
            except httpx.TransportError as exc:
                partial.unlink(missing_ok=True)
                raise _core.connection_failed("GET", url, exc) from exc
            partial.replace(path)
        finally:
            await response.aclose()
        return path

    async def download_results(self, job_id: str, directory: StrPath) -> list[Path]:
        """Download every result file of a completed job into `directory` (created if needed)."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for item in await self.results(job_id):
            paths.append(await self.download_file(item, folder / _core.safe_filename(item.name)))
        return paths
