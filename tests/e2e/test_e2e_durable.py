"""Durable local state: `kill -9` of the whole stack, then a restart on the same data dir."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from matchq.auth import issue_token
from matchq_client import MatchqClient
from matchq_local.launch import RunningStack, StackFailed, background_stack, kill_tree
from tests.e2e.e2e_support import (
    SLOW_CONFIG,
    TINY_CONFIG,
    slow_files,
    tiny_files,
    wait_job,
    wait_until,
)

pytestmark = pytest.mark.e2e

# A silent job is re-queued after 6 s (the template's default is 300 s); heartbeats every 2 s.
RECOVERY = {"MATCHQ_PARAMETER_OVERRIDES": "HeartbeatTimeoutSeconds=6"}


@contextmanager
def _stack(data_dir: Path, log: Path, **kwargs: object) -> Iterator[RunningStack]:
    settings = {"MATCHQ_DATA_DIR": str(data_dir), **RECOVERY}
    with background_stack(
        workers=1, maintenance_seconds=1.0, log=log, settings=settings, **kwargs
    ) as running:
        yield running


def _client(running: RunningStack, user: str) -> MatchqClient:
    return MatchqClient(running.base_url, issue_token(running.secret, user), retries=0)


def test_kill_9_then_restart_keeps_jobs_uploads_results_and_recovers_running_work(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    left, right = tiny_files(tmp_path / "tiny")
    unicode_left = tmp_path / "Kunden übersicht.csv"
    unicode_left.write_bytes(left.read_bytes())
    slow1, slow2 = slow_files(tmp_path / "slow")

    with _stack(data, tmp_path / "first.log") as first:
        api = _client(first, "alice")
        files = {"file1": api.upload_file(unicode_left), "file2": api.upload_file(right)}
        done = wait_job(api, api.submit_job("done", {**TINY_CONFIG, **files}), timeout=60)
        assert done.status == "completed"
        before = {
            path.name: path.read_bytes()
            for path in api.download_results(done.id, tmp_path / "before")
        }
        slow = {"file1": api.upload_file(slow1), "file2": api.upload_file(slow2)}
        running = api.submit_job("running", {**SLOW_CONFIG, **slow})
        wait_until(lambda: api.get_job(running).status == "running", timeout=60, what="running")
        pending = api.submit_job("pending", {**TINY_CONFIG, **files}, priority=1)
        cancelled = api.submit_job("cancelled", {**TINY_CONFIG, **files}, priority=1)
        assert api.cancel_job(cancelled)
        stats_before = api.stats()
        assert api.get_job(running).status == "running", "the slow job ended before the kill"
        kill_tree(first.pid)

    started = time.monotonic()
    with _stack(data, tmp_path / "second.log") as second:
        restart_seconds = time.monotonic() - started
        api = _client(second, "alice")
        again = api.get_job(done.id)
        assert again == done
        after = {
            path.name: path.read_bytes()
            for path in api.download_results(done.id, tmp_path / "after")
        }
        assert after == before
        assert api.get_job(cancelled).status == "cancelled"
        assert api.stats()["total_jobs"] == stats_before["total_jobs"] == 4
        # the pending job runs; the one that was running is re-queued, then completes
        assert wait_job(api, pending, timeout=90).status == "completed"
        recovered = wait_job(api, running, timeout=180)
        assert recovered.status == "completed", (recovered, second.log.read_text()[-3000:])
        # the uploads are still there: a new job reads them
        reuse = wait_job(api, api.submit_job("reuse", {**TINY_CONFIG, **files}), timeout=60)
        assert reuse.status == "completed"
        reaped = [line for line in second.log.read_text().splitlines() if "reaped stale" in line]
        assert reaped and running in reaped[0], second.log.read_text()[-3000:]
    assert restart_seconds < 60  # start-up itself is measured in benchmarks/bench_restart.py


def test_ctrl_c_keeps_state_and_memory_keeps_none(tmp_path: Path) -> None:
    data = tmp_path / "data"
    left, right = tiny_files(tmp_path / "tiny")
    with _stack(data, tmp_path / "a.log", stop_signal=signal.SIGINT, check_exit=True) as first:
        api = _client(first, "bob")
        job = api.submit_job(
            "kept", {**TINY_CONFIG, "file1": api.upload_file(left), "file2": api.upload_file(right)}
        )
        assert wait_job(api, job, timeout=60).status == "completed"
    with _stack(data, tmp_path / "b.log") as second:
        assert _client(second, "bob").get_job(job).status == "completed"

    memory = {"MATCHQ_DATA_DIR": ":memory:"}
    with background_stack(workers=1, settings=memory) as first:
        api = _client(first, "bob")
        job = api.submit_job(
            "gone", {**TINY_CONFIG, "file1": api.upload_file(left), "file2": api.upload_file(right)}
        )
    with background_stack(workers=1, settings=memory) as second:
        assert _client(second, "bob").list_jobs().jobs == ()


def test_two_stacks_cannot_share_a_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with (
        _stack(data, tmp_path / "a.log"),
        pytest.raises(StackFailed) as failed,
        _stack(data, tmp_path / "b.log"),
    ):
        pass
    assert f"MATCHQ_DATA_DIR={data} is in use by another local stack" in str(failed.value)
