"""An oversized input fails its job with a message naming the limit; the stack keeps answering."""

from __future__ import annotations

from pathlib import Path

import pytest

from matchq_client import MatchqClient
from tests.e2e.e2e_support import TINY_CONFIG, tiny_files, wait_job

pytestmark = pytest.mark.e2e


def test_a_file_of_one_huge_line_fails_fast_by_its_limit(api: MatchqClient, tmp_path: Path) -> None:
    _, right = tiny_files(tmp_path)
    huge = tmp_path / "one line.csv"
    with huge.open("wb") as handle:
        handle.write(b"name\n")
        handle.write(b"x" * (17 << 20))  # past MATCHQ_MAX_LINE_BYTES (16 MiB), no line end
    config = {**TINY_CONFIG, "file1": api.upload_file(huge), "file2": api.upload_file(right)}
    job = wait_job(api, api.submit_job("huge line", config), timeout=120)
    assert job.status == "failed"
    assert job.error_message == (
        "one line.csv: line 2 is longer than 16,777,216 bytes (the limit, MATCHQ_MAX_LINE_BYTES)"
    ), job.error_message
    assert api.stats()["failed"] >= 1  # and the stack answers
