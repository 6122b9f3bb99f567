"""A small HTTP client of the matchq API, kept for the benchmarks and the e2e tests.

New code uses the SDK, `matchq_client.MatchqClient` (the CLI and the demo do).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

FINISHED = frozenset({"completed", "failed", "cancelled"})


class ApiError(Exception):
    """A 4xx/5xx answer; `body` is the contract's {"error", "details", "timestamp"}."""

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        try:
            self.body: dict[str, Any] = response.json()
        except ValueError:
            self.body = {"error": response.reason_phrase, "details": response.text[:200]}
        super().__init__(f"{self.status} {self.body.get('error')}: {self.body.get('details')}")


class ApiClient:
    """The endpoints of `/api/v1` plus the presigned upload and download steps."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        # Presigned URLs carry their own signature: never send our bearer token there.
        self.plain = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self.http.close()
        self.plain.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise ApiError(response)
        return response

    # --- files
    def upload(self, path: Path, filename: str | None = None) -> str:
        """POST /files, then the presigned multipart POST of the file; returns the file id."""
        grant = self.request("POST", "/files", json={"filename": filename or path.name}).json()
        upload = grant["upload"]
        with path.open("rb") as handle:
            response = self.plain.post(
                upload["url"],
                data=upload["fields"],
                files={"file": (filename or path.name, handle)},
            )
        if response.status_code >= 300:
            raise RuntimeError(
                f"upload of {path.name} failed: {response.status_code} {response.text[:300]}"
            )
        return str(grant["file_id"])

    # --- jobs
    def submit(self, name: str, config: dict[str, Any], priority: int = 2) -> str:
        body = {"name": name, "config": config, "priority": priority}
        return str(self.request("POST", "/jobs/submit", json=body).json()["job_id"])

    def get(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/jobs/{job_id}").json()
        return result

    def list_jobs(self, **params: Any) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/jobs/list", params=params).json()
        return result

    def cancel(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", f"/jobs/{job_id}/cancel").json()
        return result

    def delete(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("DELETE", f"/jobs/{job_id}").json()
        return result

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/jobs/stats").json()
        return result

    def cleanup(self, max_age_hours: int | None = None) -> dict[str, Any]:
        params = {} if max_age_hours is None else {"max_age_hours": max_age_hours}
        result: dict[str, Any] = self.request("POST", "/jobs/cleanup", params=params).json()
        return result

    def results(self, job_id: str) -> list[dict[str, Any]]:
        files: list[dict[str, Any]] = self.request("GET", f"/jobs/{job_id}/results").json()["files"]
        return files

    def download(self, job_id: str, directory: Path) -> list[Path]:
        """Every result file of a completed job, saved under `directory`."""
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for item in self.results(job_id):
            target = directory / Path(item["name"]).name
            with self.plain.stream("GET", item["download_url"]) as response:
                response.raise_for_status()
                with target.open("wb") as handle:
                    for chunk in response.iter_bytes():
                        handle.write(chunk)
            paths.append(target)
        return paths

    def wait(
        self,
        job_id: str,
        *,
        timeout: float = 600.0,
        interval: float = 0.25,
        on_update: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the job is finished; returns the final job."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if on_update is not None:
                on_update(job)
            if job["status"] in FINISHED:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"{job_id} still {job['status']} after {timeout:.0f} s")
            time.sleep(interval)
