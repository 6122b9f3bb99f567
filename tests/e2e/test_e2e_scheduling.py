"""Scheduling over real HTTP with one worker slot: strict priority order, and cancellation."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from matchq_client import Conflict, MatchqClient
from tests.e2e.e2e_support import (
    SLOW_CONFIG,
    TINY_CONFIG,
    Stack,
    slow_files,
    tiny_files,
    wait_job,
    wait_until,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def slow_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return slow_files(tmp_path_factory.mktemp("slow"))


def _start_slow_job(api: MatchqClient, slow_inputs: tuple[Path, Path], name: str) -> str:
    config = {
        **SLOW_CONFIG,
        "file1": api.upload_file(slow_inputs[0]),
        "file2": api.upload_file(slow_inputs[1]),
    }
    job_id = api.submit_job(name, config, priority=1)
    wait_until(
        lambda: api.get_job(job_id)["status"] != "pending", timeout=30, what=f"{name} to start"
    )
    status = api.get_job(job_id)["status"]
    assert status == "running", "the slow job finished too fast for this test"
    return job_id


def _results_keys(stack: Stack, user: str, job_id: str) -> list[str]:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=stack.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    listing = s3.list_objects_v2(
        Bucket="matchq-local-databucket", Prefix=f"results/{user}/{job_id}/"
    )
    return [obj["Key"] for obj in listing.get("Contents", [])]


def test_one_slot_starts_jobs_by_priority_then_fifo(
    stack: Stack, api: MatchqClient, slow_inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    left, right = tiny_files(tmp_path)
    tiny = {**TINY_CONFIG, "file1": api.upload_file(left), "file2": api.upload_file(right)}
    blocker = _start_slow_job(api, slow_inputs, "blocker")

    submitted = [
        ("low", 1),
        ("normal-a", 2),
        ("urgent-a", 4),
        ("high", 3),
        ("urgent-b", 4),
        ("normal-b", 2),
    ]
    ids = {name: api.submit_job(name, tiny, priority=priority) for name, priority in submitted}
    blocker_status = api.get_job(blocker)["status"]
    assert blocker_status == "running", "the slot must be busy while the others queue"
    assert {api.get_job(job_id)["status"] for job_id in ids.values()} == {"pending"}

    api.cancel_job(blocker)
    finished = {name: wait_job(api, job_id, timeout=60) for name, job_id in ids.items()}
    assert {job["status"] for job in finished.values()} == {"completed"}

    # The API shows whole seconds; the table keeps microseconds.
    table = stack.table()
    started = {
        name: table.get_item(Key={"job_id": job_id})["Item"]["started_at"]
        for name, job_id in ids.items()
    }
    order = sorted(started, key=started.__getitem__)
    assert order == ["urgent-a", "urgent-b", "high", "normal-a", "normal-b", "low"]
    api_started = [finished[name]["started_at"] for name in order]
    assert api_started == sorted(api_started)


def test_cancel_running_job(
    stack: Stack, api: MatchqClient, user: str, slow_inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    job_id = _start_slow_job(api, slow_inputs, "to be cancelled")
    with pytest.raises(Conflict) as early:
        api.results(job_id)
    assert early.value.status == 409

    asked = time.monotonic()
    cancelled = api.request("POST", f"/jobs/{job_id}/cancel").json()
    assert cancelled == {"success": True, "message": "Job cancelled successfully"}
    job = wait_job(api, job_id, timeout=30, interval=0.1)
    assert job["status"] == "cancelled"
    assert job["result_files"] == []

    # With one slot, a later job completes only after the cancelled run has let go.
    left, right = tiny_files(tmp_path)
    follower = api.submit_job(
        "after cancel",
        {**TINY_CONFIG, "file1": api.upload_file(left), "file2": api.upload_file(right)},
    )
    assert wait_job(api, follower, timeout=60)["status"] == "completed"
    assert time.monotonic() - asked < 20, "a cancelled run must stop within a few seconds"
    assert api.get_job(job_id)["status"] == "cancelled"
    assert _results_keys(stack, user, job_id) == []

    with pytest.raises(Conflict) as again:
        api.cancel_job(job_id)
    assert again.value.status == 409
    assert api.request("DELETE", f"/jobs/{job_id}").json()["success"] is True


def test_cancel_pending_job_and_delete_guards(
    stack: Stack, api: MatchqClient, slow_inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    blocker = _start_slow_job(api, slow_inputs, "blocker 2")
    left, right = tiny_files(tmp_path)
    pending = api.submit_job(
        "waits",
        {**TINY_CONFIG, "file1": api.upload_file(left), "file2": api.upload_file(right)},
    )
    with pytest.raises(Conflict) as busy:
        api.delete_job(pending)
    assert busy.value.status == 409
    assert api.request("POST", f"/jobs/{pending}/cancel").json()["success"] is True
    assert api.get_job(pending)["status"] == "cancelled"
    api.cancel_job(blocker)
    assert wait_job(api, blocker, timeout=30)["status"] == "cancelled"
    stats = api.stats()
    assert stats["cancelled"] == 2
    assert stats["total_workers"] == 1
