"""One matching job, start to finish: the API document's Python client example on the SDK.

Uploads two files, submits a high-priority job, prints its progress until it finishes
(cancelling it if it takes too long) and optionally downloads the result files.

    export MATCHQ_URL=http://localhost:5000/api/v1 MATCHQ_TOKEN=$(matchq token --user alice)
    python examples/single_job.py samples/crm_customers.csv samples/billing_accounts.csv \
        --download results/

Exit status: 0 when the job completed, 1 when it failed, was cancelled or timed out,
2 when a request was refused or the server could not be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matchq_client import Job, JobTimeout, MatchqClient, MatchqError

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
DEFAULT_FILE1 = SAMPLES / "crm_customers.csv"
DEFAULT_FILE2 = SAMPLES / "billing_accounts.csv"

# The spec's config, with the columns of the sample files.
DEFAULT_CONFIG: dict[str, Any] = {
    "mappings": [
        {
            "file1_col": "customer_name",
            "file2_col": "full_name",
            "match_type": "fuzzy",
            "use_normalization": True,
            "weight": 1.0,
        }
    ],
    "output_cols1": ["customer_name", "email"],
    "output_cols2": ["full_name", "telephone"],
    "threshold": 80,
    "generate_unmatched": True,
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file1", nargs="?", type=Path, default=DEFAULT_FILE1)
    parser.add_argument("file2", nargs="?", type=Path, default=DEFAULT_FILE2)
    parser.add_argument("--config", type=Path, help="JSON file of the job config (no file ids)")
    parser.add_argument("--name", default="Urgent Customer Matching")
    parser.add_argument("--priority", type=int, default=3, choices=[1, 2, 3, 4])
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait")
    parser.add_argument("--poll", type=float, default=1.0, help="first polling interval")
    parser.add_argument("--download", type=Path, metavar="DIR", help="save the result files")
    parser.add_argument("--url", help="API base URL (default: $MATCHQ_URL or the local stack)")
    parser.add_argument("--token", help="JWT (default: $MATCHQ_TOKEN)")
    return parser.parse_args(argv)


class ProgressPrinter:
    """`on_progress` callback: one line per change of status, progress or message."""

    def __init__(self) -> None:
        self.last = ""

    def __call__(self, job: Job) -> None:
        line = f"Job {job.id}: {job.status} - {job.progress}% - {job.message}"
        if line != self.last:
            print(line, flush=True)
            self.last = line


def describe(path: Path) -> str:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"{path} ({path.stat().st_size} bytes)"
    count = len(records) if isinstance(records, list) else "?"
    return f"{path} ({count} records)"


def run(client: MatchqClient, args: argparse.Namespace) -> int:
    config = json.loads(args.config.read_text()) if args.config else DEFAULT_CONFIG
    job_id = client.submit_files(
        args.file1, args.file2, config, name=args.name, priority=args.priority
    )
    print(f"Submitted job: {job_id}", flush=True)
    try:
        final_job = client.wait_for_job_completion(
            job_id, timeout=args.timeout, poll_interval=args.poll, on_progress=ProgressPrinter()
        )
    except JobTimeout as exc:
        print(f"Job timed out: {exc}", file=sys.stderr)
        client.cancel_job(job_id)
        return 1
    if final_job.status != "completed":
        print(f"Job {final_job.status}: {final_job.error_message or final_job.message}")
        return 1
    print("Job completed successfully!")
    print(f"Result files: {list(final_job.result_files)}")
    if args.download:
        for path in client.download_results(job_id, args.download):
            print(f"Downloaded {describe(path)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # --help or a usage error: return, don't exit the caller
        return exc.code if isinstance(exc.code, int) else 2
    try:
        with MatchqClient(args.url, args.token) as client:
            return run(client, args)
    except (MatchqError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
