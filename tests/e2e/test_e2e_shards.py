"""Shards end to end: `matchq serve` with MATCHQ_SHARD_ROWS splits a job across its worker
slots, and the results equal the one-piece run of the session stack byte for byte."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from matchq_client import Job
from tests.e2e.e2e_support import TINY_CONFIG, Stack, own_stack, tiny_files, wait_job, wait_until
from tests.support import comparable

pytestmark = pytest.mark.e2e

CONFIG = {
    "mappings": [
        {"file1_col": "customer_name", "file2_col": "full_name", "scorer": "token_sort_ratio"},
        {"file1_col": "email", "file2_col": "email_address", "match_type": "exact"},
    ],
    "threshold": 75,
    "match_mode": "one_to_one",
}


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    log = tmp_path_factory.mktemp("sharded") / "serve.log"
    with own_stack(log, workers=2, settings={"MATCHQ_SHARD_ROWS": "400"}) as running:
        yield running


def run(stack: Stack, files: tuple[Path, Path], out: Path) -> tuple[dict[str, Any], Job]:
    with stack.client("shard-user") as client:
        job_id = client.submit_files(*files, CONFIG, name="sharded or not")
        job = wait_job(client, job_id, timeout=240)
        assert job.status == "completed", job.error_message
        paths = client.download_results(job_id, out)
        return comparable({p.name: p.read_bytes() for p in paths}), job


def test_a_sharded_job_on_the_local_stack_equals_the_one_piece_run(
    stack: Stack, sharded: Stack, sample_files: tuple[Path, Path], tmp_path: Path
) -> None:
    expected, whole = run(stack, sample_files, tmp_path / "whole")
    got, job = run(sharded, sample_files, tmp_path / "sharded")
    assert (whole.shards_total, whole.shards_done) == (1, 1)
    assert (job.shards_total, job.shards_done) == (7, 7)  # 2,680 rows
    assert got == expected


def test_an_urgent_job_overtakes_the_waiting_shards_of_a_low_priority_job(
    sample_files: tuple[Path, Path], tmp_path: Path
) -> None:
    settings = {"MATCHQ_SHARD_ROWS": "100"}  # 2,680 rows: 27 shards on one slot
    with (
        own_stack(tmp_path / "serve.log", workers=1, settings=settings) as stack,
        stack.client("priority-user") as client,
    ):
        big = client.submit_files(*sample_files, CONFIG, name="big and low", priority=1)
        wait_until(lambda: client.get_job(big).shards_total > 1, timeout=60, what="the split")
        urgent = client.submit_files(*tiny_files(tmp_path), TINY_CONFIG, priority=4)
        done = wait_job(client, urgent, timeout=60)
        assert done.status == "completed", done.error_message
        meanwhile = client.get_job(big)
        # the urgent job ran after at most the shard the slot was on
        assert meanwhile.status == "running"
        assert meanwhile.shards_done < meanwhile.shards_total == 27
        assert wait_job(client, big, timeout=240).status == "completed"
