"""Several jobs submitted concurrently: the API document's batch example on the async SDK.

Uploads the two files once, then submits one job per threshold at the same time
(`asyncio.gather`), prints their ids and, with `--wait`, waits for all of them and prints
a summary.

    export MATCHQ_URL=http://localhost:5000/api/v1 MATCHQ_TOKEN=$(matchq token --user alice)
    python examples/batch_jobs.py samples/crm_customers.csv samples/billing_accounts.csv \
        --thresholds 70 80 90 --wait

Exit status: 0 when every job was submitted (and, with --wait, completed), 1 when a job
failed, was cancelled or timed out, 2 when a request was refused or the server could not
be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matchq_client import AsyncMatchqClient, Job, JobTimeout, MatchqError

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
DEFAULT_FILE1 = SAMPLES / "crm_customers.csv"
DEFAULT_FILE2 = SAMPLES / "billing_accounts.csv"

BASE_CONFIG: dict[str, Any] = {
    "mappings": [
        {"file1_col": "customer_name", "file2_col": "full_name", "match_type": "fuzzy"},
    ],
    "output_cols1": ["customer_id", "customer_name"],
    "output_cols2": ["account_no", "full_name"],
    "generate_unmatched": False,
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file1", nargs="?", type=Path, default=DEFAULT_FILE1)
    parser.add_argument("file2", nargs="?", type=Path, default=DEFAULT_FILE2)
    parser.add_argument("--config", type=Path, help="JSON file of the base config (no file ids)")
    parser.add_argument(
        "--thresholds", type=float, nargs="+", default=[70, 80, 90], help="one job per value"
    )
    parser.add_argument("--priority", type=int, default=2, choices=[1, 2, 3, 4])
    parser.add_argument("--wait", action="store_true", help="wait for every job to finish")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait per job")
    parser.add_argument("--url", help="API base URL (default: $MATCHQ_URL or the local stack)")
    parser.add_argument("--token", help="JWT (default: $MATCHQ_TOKEN)")
    return parser.parse_args(argv)


async def submit_batch_jobs(
    client: AsyncMatchqClient, job_configs: list[dict[str, Any]]
) -> list[str]:
    """Submit several jobs concurrently; returns their ids in the order given."""
    tasks = [
        client.submit_job(job["name"], job["config"], job.get("priority", 2)) for job in job_configs
    ]
    return list(await asyncio.gather(*tasks))


async def wait_all(client: AsyncMatchqClient, job_ids: list[str], timeout: float) -> list[Job]:
    """Wait for every job at once; a job that times out is cancelled and read again."""

    def report(job: Job) -> None:
        if job.finished:
            print(f"{job.id}: {job.status} - {job.message}", flush=True)

    async def one(job_id: str) -> Job:
        try:
            return await client.wait(job_id, timeout=timeout, on_progress=report)
        except JobTimeout as exc:
            print(f"{job_id}: {exc}; cancelling", file=sys.stderr)
            await client.cancel_job(job_id)
            return await client.get_job(job_id)

    return list(await asyncio.gather(*(one(job_id) for job_id in job_ids)))


async def run(args: argparse.Namespace) -> int:
    base = json.loads(args.config.read_text()) if args.config else BASE_CONFIG
    async with AsyncMatchqClient(args.url, args.token) as client:
        file1, file2 = await asyncio.gather(
            client.upload_file(args.file1), client.upload_file(args.file2)
        )
        job_configs = [
            {
                "name": f"Batch Job {n} (threshold {threshold:g})",
                "config": {**base, "file1": file1, "file2": file2, "threshold": threshold},
                "priority": args.priority,
            }
            for n, threshold in enumerate(args.thresholds, start=1)
        ]
        job_ids = await submit_batch_jobs(client, job_configs)
        print(f"Submitted {len(job_ids)} jobs: {job_ids}", flush=True)
        if not args.wait:
            return 0
        jobs = await wait_all(client, job_ids, args.timeout)
        for spec, job in zip(job_configs, jobs, strict=True):
            counts = ""
            if job.succeeded:
                files = await client.results(job.id)
                counts = ", ".join(f"{f.name} {f.size_bytes} B" for f in files)
            print(f"{spec['name']}: {job.status} {counts}".rstrip())
        return 0 if all(job.succeeded for job in jobs) else 1


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # --help or a usage error: return, don't exit the caller
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return asyncio.run(run(args))
    except (MatchqError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
