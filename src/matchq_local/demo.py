"""`make demo`: the main job end to end against a local stack.

Uses the stack answering at MATCHQ_URL (or on MATCHQ_PORT); otherwise starts one in the
background and stops it afterwards. Runs as the user of MATCHQ_TOKEN, else as the login
user with a fresh local token (so the job shows up in that user's `matchq list`). Uploads
the two sample files, submits a matching job, shows its progress (a bar on a terminal,
plain lines otherwise, as `matchq submit --wait`), downloads the results and prints the
job's summary: counts, the score histogram and the suggested threshold.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from matchq_cli.progress import ProgressReporter
from matchq_cli.render import summary_text
from matchq_client import JobSummary, MatchqClient, MatchqError, Unauthorized
from matchq_local.launch import StackFailed, background_stack
from matchq_local.template import ROOT

SAMPLES = ROOT / "samples"
FILE1 = SAMPLES / "crm_customers.csv"
FILE2 = SAMPLES / "billing_accounts.csv"
START_TIMEOUT = 90.0

CONFIG: dict[str, Any] = {
    "mappings": [
        # Names differ in order ("Garcia, José"), accents, case and typos.
        {
            "file1_col": "customer_name",
            "file2_col": "full_name",
            "match_type": "fuzzy",
            "scorer": "token_sort_ratio",
            "use_normalization": True,
            "weight": 3.0,
        },
        # The same e-mail is strong evidence; an empty one on either side is left out.
        {"file1_col": "email", "file2_col": "email_address", "match_type": "exact", "weight": 2.0},
        {"file1_col": "zip", "file2_col": "postcode", "match_type": "exact", "weight": 1.0},
        {
            "file1_col": "city",
            "file2_col": "town",
            "match_type": "fuzzy",
            "scorer": "ratio",
            "use_normalization": True,
            "weight": 0.5,
        },
    ],
    "output_cols1": ["customer_id", "customer_name", "email", "city"],
    "output_cols2": ["account_no", "full_name", "email_address", "town"],
    "threshold": 80,
    "match_mode": "one_to_one",
    "generate_unmatched": True,
}


def base_url() -> str:
    if url := os.environ.get("MATCHQ_URL", "").strip():
        return url.rstrip("/")
    return f"http://localhost:{os.environ.get('MATCHQ_PORT', '5000').strip() or '5000'}/api/v1"


def answers(url: str) -> bool:
    """True when a matchq API answers at `url` (a 401 error body counts)."""
    try:
        response = httpx.get(f"{url}/jobs/stats", timeout=2.0)
    except httpx.HTTPError:
        return False
    try:
        return "error" in response.json() or response.status_code == 200
    except ValueError:
        return False


@contextmanager
def local_stack(url: str) -> Iterator[str]:
    """The URL of a stack: the one answering at `url`, or one started for the demo."""
    if answers(url):
        print(f"Using the local stack at {url}")
        yield url
        return
    print("Starting a local stack in the background ...")
    try:
        with background_stack(fresh=False, start_timeout=START_TIMEOUT) as stack:
            print(stack.log.read_text(errors="replace").strip().splitlines()[-1])
            yield url
    except StackFailed as exc:
        raise SystemExit(str(exc)) from None
    finally:
        print("Stopped the local stack started for the demo.")


def user() -> str:
    """The user the demo runs as without MATCHQ_TOKEN: $MATCHQ_USER, else the login name."""
    if value := os.environ.get("MATCHQ_USER", "").strip():
        return value
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "demo-user"


def token() -> tuple[str, str | None]:
    """The bearer token and, when the demo made it, the user it is for."""
    if value := os.environ.get("MATCHQ_TOKEN", "").strip():
        return value, None
    from matchq.auth import issue_token
    from matchq_local.secret import local_jwt_secret

    name = user()
    return issue_token(local_jwt_secret(), name, ttl_seconds=3600), name


def examples(directory: Path) -> None:
    path = directory / "matched_results.json"
    matched: list[dict[str, Any]] = json.loads(path.read_text()) if path.exists() else []
    print("\nExample pairs (lowest scores above the threshold are the interesting ones):")
    chosen = (
        sorted(matched, key=lambda m: m["score"])[:3]
        + sorted(matched, key=lambda m: -m["score"])[:2]
    )
    for pair in chosen:
        left, right = pair["file1"], pair["file2"]
        name1, email1 = left.get("customer_name") or "-", left.get("email") or "-"
        name2, email2 = right.get("full_name") or "-", right.get("email_address") or "-"
        print(f"  {pair['score']:5.1f}  {name1:<24} {email1:<36} ~ {name2:<24} {email2}")


def report(summary: JobSummary, directory: Path, elapsed: float) -> None:
    print(f"\nResults ({elapsed:.1f} s end to end), saved in {directory}:")
    print(summary_text(summary, blocks=(sys.stdout.encoding or "").lower().startswith("utf")))
    examples(directory)


def run() -> int:
    url = base_url()
    for path in (FILE1, FILE2):
        if not path.exists():
            raise SystemExit(f"{path} is missing; run: python scripts/make_samples.py")
    bearer, name = token()
    with local_stack(url) as api_url, MatchqClient(api_url, bearer) as api:
        started = time.monotonic()
        if name is not None:
            print(f"Running as user '{name}' (set MATCHQ_USER or MATCHQ_TOKEN for another);")
            print(f"  see its jobs with: MATCHQ_TOKEN=$(matchq token --user {name}) matchq list")
        print(f"Uploading {FILE1.name} and {FILE2.name} ...")
        job_id = api.submit_files(
            FILE1, FILE2, CONFIG, name="Demo: CRM customers vs billing accounts", priority=3
        )
        print(f"Submitted {job_id}")
        progress = ProgressReporter(sys.stdout)
        job = api.wait(
            job_id, timeout=900, poll_interval=0.2, max_interval=1.0, on_progress=progress
        )
        progress.finish(job)
        if not job.succeeded:
            print(f"Job {job.status}: {job.error_message or job.message}", file=sys.stderr)
            return 1
        directory = ROOT / ".matchq" / "demo-results" / job_id
        api.download_results(job_id, directory)
        report(api.summary(job_id), directory, time.monotonic() - started)
    return 0


def main() -> None:
    try:
        sys.exit(run())
    except MatchqError as exc:
        hint = (
            " (is the running stack using another MATCHQ_JWT_SECRET?)"
            if isinstance(exc, Unauthorized)
            else ""
        )
        print(f"demo failed: {exc}{hint}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
