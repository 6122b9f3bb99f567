"""The user's own Python client from the API document, unchanged, against the local stack;
and the SDK rewrites of the document's two usage examples."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from matchq_client import MatchqClient
from tests.e2e.e2e_support import SLOW_CONFIG, TINY_CONFIG, Stack, slow_files, tiny_files

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


# ---- copied verbatim from spec/job-management-api.md ("Python Client Example") ----
class JobManagementClient:
    def __init__(self, base_url: str, token: str):
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}"}

    def submit_job(self, name: str, config: dict[str, Any], priority: int = 2) -> str:
        """Submit a new job and return job ID."""
        response = requests.post(
            f"{self.base_url}/jobs/submit",
            json={"name": name, "config": config, "priority": priority},
            headers=self.headers,
        )
        response.raise_for_status()
        return response.json()["job_id"]

    def wait_for_job_completion(self, job_id: str, timeout: int = 3600) -> dict[str, Any]:
        """Wait for job to complete and return final status."""
        start_time = time.time()

        while time.time() - start_time < timeout:
            job = self.get_job(job_id)

            if job["status"] in ["completed", "failed", "cancelled"]:
                return job

            print(f"Job {job_id}: {job['status']} - {job['progress']}% - {job['message']}")
            time.sleep(10)  # Check every 10 seconds

        raise TimeoutError(f"Job {job_id} did not complete within {timeout} seconds")

    def get_job(self, job_id: str) -> dict[str, Any]:
        """Get job details."""
        response = requests.get(f"{self.base_url}/jobs/{job_id}", headers=self.headers)
        response.raise_for_status()
        return response.json()

    def list_jobs(self, status: str | None = None, limit: int | None = None) -> list:
        """List jobs with optional filtering."""
        params: dict[str, Any] = {}
        if status:
            params["status"] = status
        if limit:
            params["limit"] = limit

        response = requests.get(f"{self.base_url}/jobs/list", params=params, headers=self.headers)
        response.raise_for_status()
        return response.json()

    def cancel_job(self, job_id: str) -> bool:
        """Cancel a job."""
        response = requests.post(f"{self.base_url}/jobs/{job_id}/cancel", headers=self.headers)
        response.raise_for_status()
        return response.json()["success"]

    def delete_job(self, job_id: str) -> bool:
        """Delete a job."""
        response = requests.delete(f"{self.base_url}/jobs/{job_id}", headers=self.headers)
        response.raise_for_status()
        return response.json()["success"]

    def get_queue_stats(self) -> dict[str, Any]:
        """Get queue statistics."""
        response = requests.get(f"{self.base_url}/jobs/stats", headers=self.headers)
        response.raise_for_status()
        return response.json()


# ---- end of the copy ----


def _uploaded_config(stack: Stack, user: str, files: tuple[Path, Path]) -> dict[str, Any]:
    with MatchqClient(stack.base_url, stack.token(user)) as sdk:
        return {
            **TINY_CONFIG,
            "file1": sdk.upload_file(files[0]),
            "file2": sdk.upload_file(files[1]),
        }


def test_the_spec_client_runs_unchanged(stack: Stack, tmp_path: Path) -> None:
    user = "spec-client-user"
    client = JobManagementClient(stack.base_url, stack.token(user))
    config = _uploaded_config(stack, user, tiny_files(tmp_path))

    job_id = client.submit_job(name="Urgent Customer Matching", config=config, priority=3)
    assert job_id.startswith("job_")
    final = client.wait_for_job_completion(job_id, timeout=120)
    assert final["status"] == "completed", final
    assert len(final["result_files"]) == 4  # the three of the API document, and summary.json

    listed = client.list_jobs(status="completed", limit=10)
    assert [j["id"] for j in listed] == [job_id]
    stats = client.get_queue_stats()
    assert stats["total_jobs"] == 1 and stats["completed"] == 1
    assert client.delete_job(job_id) is True
    with pytest.raises(requests.HTTPError) as missing:
        client.get_job(job_id)
    assert missing.value.response.status_code == 404


def test_the_spec_client_cancels_a_job(stack: Stack, tmp_path: Path) -> None:
    user = "spec-client-cancel"
    client = JobManagementClient(stack.base_url, stack.token(user))
    config = {**_uploaded_config(stack, user, slow_files(tmp_path)), **SLOW_CONFIG}
    job_id = client.submit_job(name="to cancel", config=config)
    assert client.cancel_job(job_id) is True
    assert client.wait_for_job_completion(job_id, timeout=60)["status"] == "cancelled"
    with pytest.raises(requests.HTTPError) as again:
        client.cancel_job(job_id)
    assert again.value.response.status_code == 409


def _example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"example_{name}", ROOT / "examples" / f"{name}.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_single_job_example(stack: Stack, tmp_path: Path) -> None:
    left, right = tiny_files(tmp_path / "in")
    config = tmp_path / "config.json"
    config.write_text(json.dumps(TINY_CONFIG))
    argv = [str(left), str(right), "--config", str(config), "--download", str(tmp_path / "out")]
    argv += ["--url", stack.base_url, "--token", stack.token("example-user"), "--poll", "0.2"]
    assert _example("single_job").main(argv) == 0
    names = sorted(p.name for p in (tmp_path / "out").rglob("*.json"))
    assert names == ["matched_results.json", "summary.json", "unmatched_1.json", "unmatched_2.json"]


def test_batch_jobs_example(stack: Stack, tmp_path: Path) -> None:
    left, right = tiny_files(tmp_path / "in")
    config = tmp_path / "config.json"
    config.write_text(json.dumps(TINY_CONFIG))
    argv = [str(left), str(right), "--config", str(config), "--wait", "--timeout", "120"]
    argv += ["--url", stack.base_url, "--token", stack.token("batch-user")]
    assert _example("batch_jobs").main(argv) == 0
    with MatchqClient(stack.base_url, stack.token("batch-user")) as sdk:
        stats = sdk.stats()
    assert stats["total_jobs"] >= 2 and stats["completed"] == stats["total_jobs"]
