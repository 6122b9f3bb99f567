"""Restart time of the durable local stack: 1,000 jobs and 1 GB of uploads, after `kill -9`.

Fills a data dir through the API (--files uploads of --file-mb MB each, --jobs tiny jobs,
which the one worker slot starts running meanwhile), kills the whole process tree with
SIGKILL, then restarts the stack on that data dir --runs times (each run killed again once
ready) and, interleaved with them, starts a stack on an empty data dir. It prints, for
both, the median wall time from process start to the ready line, and the time the stack
itself spent restoring state (from its log). Budget: restore <= 5 s.

Usage: python benchmarks/bench_restart.py [--jobs 1000] [--files 10] [--file-mb 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "shared"), str(ROOT / "src")]

from matchq.auth import issue_token  # noqa: E402
from matchq_client import MatchqClient  # noqa: E402
from matchq_local.launch import background_stack, kill_tree  # noqa: E402

RESTORED = re.compile(
    r"restored (\d+) items, (\d+) objects \((\d+) bytes\) and (\d+) messages in ([\d.]+) s"
)
BUDGET_SECONDS = 5.0


def _start(data_dir: Path, log: Path) -> tuple[float, str]:
    """(seconds to ready, log text) of one start on `data_dir`, killed with SIGKILL once ready."""
    started = time.monotonic()
    settings = {"MATCHQ_DATA_DIR": str(data_dir)}
    with background_stack(workers=1, log=log, settings=settings) as stack:
        ready = time.monotonic() - started
        kill_tree(stack.pid)
    return ready, log.read_text(errors="replace")


def fill(data_dir: Path, work: Path, jobs: int, files: int, file_mb: int) -> None:
    left, right = work / "a.csv", work / "b.csv"
    left.write_text("name,city\nAnna Schmidt,Berlin\nJosé García,Madrid\n")
    right.write_text("full_name,town\nSCHMIDT ANNA,Berlin\nJose Garcia,Madrid\n")
    big = work / "big.csv"
    line = b"name,city\n" + b"x" * 60 + b",y\n"
    with big.open("wb") as handle:
        handle.write(line * (file_mb * 1024 * 1024 // len(line)))
    settings = {"MATCHQ_DATA_DIR": str(data_dir)}
    with background_stack(workers=1, log=work / "fill.log", settings=settings) as stack:
        with MatchqClient(stack.base_url, issue_token(stack.secret, "bench-user")) as api:
            started = time.monotonic()
            for _ in range(files):
                api.upload_file(big)
            uploaded = time.monotonic() - started
            config = {
                "file1": api.upload_file(left),
                "file2": api.upload_file(right),
                "mappings": [
                    {"file1_col": "name", "file2_col": "full_name", "match_type": "fuzzy"}
                ],
                "threshold": 80,
            }
            started = time.monotonic()
            for i in range(jobs):
                api.submit_job(f"job {i}", config)
            submitted = time.monotonic() - started
            time.sleep(1.0)
            stats = api.stats()
        kill_tree(stack.pid)
    print(
        f"filled: {files} x {file_mb} MB uploaded in {uploaded:.1f} s, {jobs} jobs submitted in"
        f" {submitted:.1f} s; at kill -9: {stats}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--file-mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="matchq-bench-restart-"))
    data = work / "data"
    fill(data, work, args.jobs, args.files, args.file_mb)
    full, empty, restore = [], [], []
    found = None
    for run in range(args.runs):
        seconds, text = _start(data, work / f"full{run}.log")
        full.append(seconds)
        found = RESTORED.search(text)
        if found is None:
            raise SystemExit(f"no restore line in the log:\n{text[-2000:]}")
        restore.append(float(found[5]))
        empty_dir = Path(tempfile.mkdtemp(prefix="matchq-empty-", dir=work))
        empty.append(_start(empty_dir, work / f"empty{run}.log")[0])
    assert found is not None
    items, objects, size, messages = (int(found[i]) for i in range(1, 5))
    size_mb = size / 1024**2
    print(
        f"\nRestart of the local stack after kill -9 (medians of {args.runs};"
        f" last restore: {items} items, {objects} objects, {size_mb:.0f} MB, {messages} messages)"
    )
    print(f"{'data dir':<28}{'to ready s':>12}{'restore s':>12}")
    print(f"{'empty':<28}{statistics.median(empty):12.2f}{'':>12}")
    label = f"{args.jobs:,} jobs + {args.files * args.file_mb:,} MB"
    print(f"{label:<28}{statistics.median(full):12.2f}{statistics.median(restore):12.2f}")
    extra = statistics.median(full) - statistics.median(empty)
    verdict = "met" if statistics.median(restore) <= BUDGET_SECONDS else "MISSED"
    print(
        f"restore budget {BUDGET_SECONDS:.0f} s: {verdict}; state adds {extra:+.2f} s to start-up"
    )


if __name__ == "__main__":
    main()
