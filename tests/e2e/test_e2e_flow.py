"""The documented flow over real HTTP: upload, submit, poll, results, list, stats, delete."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import httpx
import pytest

from matchq_client import MatchqClient, NotFound
from tests.e2e.e2e_support import (
    SAMPLE_CONFIG,
    TINY_CONFIG,
    Stack,
    bearer,
    tiny_files,
    wait_job,
    wait_until,
)

pytestmark = pytest.mark.e2e

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
JOB_FIELDS = {
    "id",
    "name",
    "status",
    "priority",
    "created_at",
    "started_at",
    "completed_at",
    "progress",
    "message",
    "error_message",
    "result_files",
    "user_id",
    "duration",
    "estimated_remaining",
}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_full_flow_on_the_samples(
    stack: Stack, api: MatchqClient, user: str, sample_files: tuple[Path, Path], tmp_path: Path
) -> None:
    crm, billing = sample_files
    file1, file2 = api.upload_file(crm), api.upload_file(billing)
    assert file1.startswith("file_") and file2.startswith("file_")

    config = {**SAMPLE_CONFIG, "file1": file1, "file2": file2}
    job_id = api.submit_job("Customer Data Matching - Batch 1", config, priority=3)
    assert re.fullmatch(r"job_[0-9a-f-]{36}", job_id)

    job = wait_job(api, job_id, timeout=90)
    assert job["status"] == "completed", job
    assert set(job.raw) >= JOB_FIELDS
    assert job["progress"] == 100
    assert job["user_id"] == user
    assert job["priority"] == 3
    assert job["estimated_remaining"] == 0
    assert isinstance(job["duration"], int)
    for key in ("created_at", "started_at", "completed_at"):
        assert ISO_Z.match(job[key]), job[key]
    assert [Path(p).name for p in job["result_files"]] == [
        "matched_results.json",
        "unmatched_1.json",
        "unmatched_2.json",
        "summary.json",
    ]

    # The JSON as sent (the SDK's ResultFile would coerce the sizes).
    listing = api.request("GET", f"/jobs/{job_id}/results").json()["files"]
    assert {f["name"] for f in listing} == {
        "matched_results.json",
        "unmatched_1.json",
        "unmatched_2.json",
        "summary.json",
    }
    assert all(f["size_bytes"] > 0 and f["expires_in"] > 0 for f in listing)
    paths = {p.name: p for p in api.download_results(job_id, tmp_path / "results")}
    matched = json.loads(paths["matched_results.json"].read_text())
    unmatched1 = json.loads(paths["unmatched_1.json"].read_text())
    unmatched2 = json.loads(paths["unmatched_2.json"].read_text())

    summary = json.loads(paths["summary.json"].read_text())
    assert job["summary"] == {
        key: summary[key]
        for key in ("rows1", "rows2", "pairs", "unmatched1", "unmatched2", "suggested_threshold")
    }
    assert (summary["pairs"], summary["unmatched1"]) == (len(matched), len(unmatched1))
    assert summary["unmatched2"] == len(unmatched2)
    assert sum(b["count"] for b in summary["score_histogram"]) == summary["sample_rows"]
    assert summary["files"]["file1"] == {"format": "csv", "encoding": "UTF-8", "delimiter": ","}
    assert summary["suggested_threshold"] is not None  # the samples separate clearly

    left, right = _rows(crm), _rows(billing)
    assert len(matched) > len(left) // 2, "the samples share most customers"
    assert len(matched) + len(unmatched1) == len(left)  # best mode: every file1 row once
    assert len({m["file2_row"] for m in matched}) + len(unmatched2) == len(right)
    for pair in matched[:200]:
        assert pair["score"] >= config["threshold"]
        assert len(pair["mapping_scores"]) == len(config["mappings"])
        assert set(pair["file1"]) == set(config["output_cols1"])
        assert set(pair["file2"]) == set(config["output_cols2"])
        assert pair["file1"]["customer_id"] == left[pair["file1_row"]]["customer_id"]
        assert pair["file2"]["account_no"] == right[pair["file2_row"]]["account_no"]

    assert job_id in [j["id"] for j in api.list_jobs()]
    assert job_id in [j["id"] for j in api.list_jobs(status="completed")]
    assert job_id not in [j["id"] for j in api.list_jobs(status="pending")]

    stats = api.stats()
    assert stats["completed"] >= 1
    assert stats["total_workers"] == stack.workers
    assert stats["total_jobs"] == sum(
        stats[s] for s in ("pending", "running", "completed", "failed", "cancelled")
    )

    deleted = api.request("DELETE", f"/jobs/{job_id}").json()
    assert deleted == {"success": True, "message": "Job deleted successfully"}
    with pytest.raises(NotFound) as gone:
        api.get_job(job_id)
    assert gone.value.status == 404
    assert gone.value.body["details"] == f"Job not found: {job_id}"


def test_list_pages_newest_first(api: MatchqClient, raw: httpx.Client, tmp_path: Path) -> None:
    left, right = tiny_files(tmp_path)
    config = {**TINY_CONFIG, "file1": api.upload_file(left), "file2": api.upload_file(right)}
    ids = [api.submit_job(f"job {i}", config, priority=1) for i in range(3)]
    first = raw.get("/jobs/list", params={"limit": 2}, headers=bearer(api))
    assert first.status_code == 200
    assert [j["id"] for j in first.json()] == ids[::-1][:2]
    token = first.headers["X-Next-Token"]
    rest = api.list_jobs(limit=2, next_token=token)
    assert [j["id"] for j in rest] == ids[:1]
    for job_id in ids:
        wait_job(api, job_id, timeout=60)


def test_cors_preflight_and_headers(stack: Stack, raw: httpx.Client) -> None:
    response = raw.options("/jobs/list", headers={"Origin": "http://example.com"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert "DELETE" in response.headers["Access-Control-Allow-Methods"]
    answer = raw.get(
        "/jobs/stats",
        headers={
            "Origin": "http://example.com",
            "Authorization": f"Bearer {stack.token('cors-user')}",
        },
    )
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == "*"


def test_maintenance_runs_on_its_timer(stack: Stack) -> None:
    wait_until(
        lambda: "maintenance: " in stack.log.read_text(errors="replace"),
        timeout=15,
        what="the scheduled maintenance function to run",
    )


def test_ctrl_c_stops_the_stack_cleanly(tmp_path: Path) -> None:
    """SIGINT, as Ctrl-C sends it, ends the stack (one process) with exit status 0."""
    import signal

    from matchq.auth import issue_token
    from matchq_local.launch import background_stack

    with background_stack(
        workers=2, log=tmp_path / "serve.log", check_exit=True, stop_signal=signal.SIGINT
    ) as running:
        token = issue_token(running.secret, "ctrl-c-user")
        response = httpx.get(
            f"{running.base_url}/jobs/stats", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.json()["total_workers"] == 2
    assert "stopping" in (tmp_path / "serve.log").read_text()
