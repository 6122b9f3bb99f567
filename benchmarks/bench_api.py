"""API latency of the local stack: p50/p99 of GET /jobs/{id}, POST /jobs/submit, GET /jobs/list.

Starts `matchq serve` on free ports (unless --url is given), then sends sequential requests
from one client, as a user polling the API would, and prints a table. Without --url it
does so twice, side by side: state in memory (MATCHQ_DATA_DIR=:memory:) and on disk (the
default, durable), and prints the ratio of their medians.

Usage: python benchmarks/bench_api.py [--requests 200] [--url http://localhost:5000/api/v1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "shared"), str(ROOT / "src")]

from matchq.auth import issue_token  # noqa: E402
from matchq_client import MatchqClient  # noqa: E402
from matchq_local.launch import StackFailed, background_stack  # noqa: E402

WARMUP = 10


@contextmanager
def started_stack(data_dir: str | None = None) -> Iterator[tuple[str, str]]:
    """(base URL, JWT secret) of a fresh local stack with one worker slot; its state in
    `data_dir` (None: a temporary directory, durable)."""
    settings = {"MATCHQ_DATA_DIR": data_dir} if data_dir else None
    try:
        with background_stack(workers=1, settings=settings) as stack:
            yield stack.base_url, stack.secret
    except StackFailed as exc:
        raise SystemExit(str(exc)) from None


def measure(call: Callable[[], httpx.Response], n: int) -> list[float]:
    """Milliseconds of `n` sequential calls after a warm-up; every call must succeed."""
    for _ in range(WARMUP):
        call().raise_for_status()
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = call()
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


Rows = list[tuple[str, list[float]]]


def run(base_url: str, token: str, n: int, label: str = "") -> Rows:
    work = Path(tempfile.mkdtemp(prefix="matchq-bench-"))
    left, right = work / "a.csv", work / "b.csv"
    left.write_text("name,city\nAnna Schmidt,Berlin\nJosé García,Madrid\n")
    right.write_text("full_name,town\nSCHMIDT ANNA,Berlin\nJose Garcia,Madrid\n")
    # The SDK prepares and inspects; the timed requests go through plain httpx, so that
    # they measure the API alone (no retries, no parsing into models).
    auth = {"Authorization": f"Bearer {token}"}
    with (
        MatchqClient(base_url, token) as api,
        httpx.Client(base_url=base_url, headers=auth, timeout=30.0) as http,
    ):
        config = {
            "file1": api.upload_file(left),
            "file2": api.upload_file(right),
            "mappings": [{"file1_col": "name", "file2_col": "full_name", "match_type": "fuzzy"}],
            "threshold": 80,
        }
        job_id = api.submit_job("bench", config)
        api.wait(job_id, timeout=60, poll_interval=0.25)
        body = {"name": "bench", "config": config, "priority": 1}
        rows = [
            ("GET /jobs/{id}", measure(lambda: http.get(f"/jobs/{job_id}"), n)),
            ("POST /jobs/submit", measure(lambda: http.post("/jobs/submit", json=body), n)),
        ]
        # The submitted jobs run meanwhile; list once they are done, so the worker is idle.
        deadline = time.monotonic() + 300
        while (stats := api.stats())["pending"] + stats["running"] and time.monotonic() < deadline:
            time.sleep(0.5)
        rows.append(("GET /jobs/list", measure(lambda: http.get("/jobs/list"), n)))
        rows.append(
            ("GET /jobs/list?limit=10", measure(lambda: http.get("/jobs/list?limit=10"), n))
        )
        jobs = len(api.list_jobs(limit=1000))
    print(
        f"\nAPI latency, local stack{label} ({n} sequential requests each after {WARMUP}"
        f" warm-up; {jobs} jobs listed)"
    )
    print(f"{'endpoint':<24}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'mean ms':>9}")
    for name, times in rows:
        print(
            f"{name:<24}{percentile(times, 50):9.1f}{percentile(times, 90):9.1f}"
            f"{percentile(times, 99):9.1f}{max(times):9.1f}{statistics.fmean(times):9.1f}"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="measured requests per endpoint")
    parser.add_argument(
        "--url", help="use a running stack (token from MATCHQ_TOKEN or the local secret)"
    )
    args = parser.parse_args()
    if args.url:
        token = os.environ.get("MATCHQ_TOKEN")
        if not token:
            from matchq_local.secret import local_jwt_secret

            token = issue_token(local_jwt_secret(), "bench-user")
        run(args.url.rstrip("/"), token, args.requests)
        return
    measured = {}
    for label, data_dir in (("in memory", ":memory:"), ("on disk", None)):
        with started_stack(data_dir) as (url, secret):
            measured[label] = run(
                url, issue_token(secret, "bench-user"), args.requests, f", state {label}"
            )
    print("\ndurable state: p50 on disk / p50 in memory")
    for (name, memory), (_, disk) in zip(measured["in memory"], measured["on disk"], strict=True):
        ratio = percentile(disk, 50) / percentile(memory, 50)
        print(f"{name:<24}{ratio:9.2f}x")


if __name__ == "__main__":
    main()
