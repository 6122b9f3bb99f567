"""Idempotency-Key over real HTTP: concurrent duplicates of one submit make one job."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from matchq_client import MatchqClient
from tests.e2e.e2e_support import TINY_CONFIG, Stack, bearer, tiny_files

pytestmark = pytest.mark.e2e


def test_concurrent_duplicates_make_one_job(
    stack: Stack, api: MatchqClient, user: str, tmp_path: Path
) -> None:
    left, right = tiny_files(tmp_path)
    config = {**TINY_CONFIG, "file1": api.upload_file(left), "file2": api.upload_file(right)}
    headers = {**bearer(api), "Idempotency-Key": "burst-1"}

    def submit(_: int) -> httpx.Response:
        with httpx.Client(base_url=stack.base_url, timeout=30) as client:
            return client.post(
                "/jobs/submit", json={"name": "burst", "config": config}, headers=headers
            )

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(submit, range(6)))
    assert {answer.status_code for answer in answers} == {200}, [a.text for a in answers]
    assert len({answer.json()["job_id"] for answer in answers}) == 1
    assert len(api.list_jobs().jobs) == 1
