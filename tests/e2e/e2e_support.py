"""Helpers of the e2e tests: the running stack, input files and job configs."""

from __future__ import annotations

import csv
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matchq.auth import issue_token
from matchq_client import Job, MatchqClient
from matchq_local.launch import background_stack


@dataclass
class Stack:
    """A running local stack: where it answers and how to sign tokens for it."""

    base_url: str
    aws_endpoint: str
    secret: str
    log: Path
    workers: int
    pid: int = 0  # of the `matchq serve` process, when the test started it

    def token(self, user: str, *, admin: bool = False, ttl: int = 3600) -> str:
        return issue_token(self.secret, user, admin=admin, ttl_seconds=ttl)

    def client(self, user: str, *, admin: bool = False) -> MatchqClient:
        """An SDK client as `user`; no retries, so every answer reaches the test as sent."""
        return MatchqClient(self.base_url, self.token(user, admin=admin), retries=0)

    def table(self) -> Any:
        """The jobs table on the stack's AWS endpoint (for precise timestamps)."""
        import boto3

        resource = boto3.resource(
            "dynamodb",
            endpoint_url=self.aws_endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        return resource.Table("matchq-local-jobstable")


SAMPLE_CONFIG: dict[str, Any] = {
    "mappings": [
        {
            "file1_col": "customer_name",
            "file2_col": "full_name",
            "match_type": "fuzzy",
            "scorer": "token_sort_ratio",
            "use_normalization": True,
            "weight": 2.0,
        },
        {
            "file1_col": "email",
            "file2_col": "email_address",
            "match_type": "exact",
            "use_normalization": True,
            "weight": 1.0,
        },
        {"file1_col": "zip", "file2_col": "postcode", "match_type": "exact", "weight": 1.0},
    ],
    "output_cols1": ["customer_id", "customer_name", "email"],
    "output_cols2": ["account_no", "full_name", "town"],
    "threshold": 80,
    "match_mode": "best",
    "generate_unmatched": True,
}


def tiny_files(directory: Path, rows: int = 5) -> tuple[Path, Path]:
    """Two small CSVs whose rows pair up one to one."""
    directory.mkdir(parents=True, exist_ok=True)
    left, right = directory / "left.csv", directory / "right.csv"
    names = ["Anna Schmidt", "José García", "Peter Novák", "Zoë Müller", "Liam Walsh", "Mia Chen"]
    with left.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "city"])
        for i in range(rows):
            writer.writerow([names[i % len(names)], f"city{i}"])
    with right.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["full_name", "town"])
        for i in range(rows):
            writer.writerow([names[i % len(names)].upper(), f"city{i}"])
    return left, right


TINY_CONFIG: dict[str, Any] = {
    "mappings": [{"file1_col": "name", "file2_col": "full_name", "match_type": "fuzzy"}],
    "threshold": 80,
}


def slow_files(directory: Path, rows: int = 6000) -> tuple[Path, Path]:
    """Two CSVs big enough that a WRatio job over them runs for several seconds."""
    rng = random.Random(7)
    syllables = ["an", "be", "ko", "ra", "mi", "tel", "sor", "vin", "da", "lu", "ger", "pol"]

    def name() -> str:
        return " ".join(
            "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))).title()
            for _ in range(3)
        )

    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / "slow1.csv", directory / "slow2.csv"
    for path in paths:
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["name", "other"])
            for _ in range(rows):
                writer.writerow([name(), name()])
    return paths


SLOW_CONFIG: dict[str, Any] = {
    "mappings": [
        {"file1_col": "name", "file2_col": "name", "match_type": "fuzzy", "scorer": "WRatio"},
        {
            "file1_col": "other",
            "file2_col": "other",
            "match_type": "fuzzy",
            "scorer": "token_set_ratio",
        },
    ],
    "threshold": 95,
    "match_mode": "all",
}


def bearer(client: MatchqClient) -> dict[str, str]:
    """The Authorization header of `client`, for raw requests as the same user."""
    assert client.token, "the client has no token"
    return {"Authorization": f"Bearer {client.token}"}


def wait_job(client: MatchqClient, job_id: str, *, timeout: float, interval: float = 0.25) -> Job:
    """`client.wait()` polling every `interval` seconds (no backoff); the finished job."""
    return client.wait(job_id, timeout=timeout, poll_interval=interval, max_interval=interval)


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "condition",
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@contextmanager
def own_stack(
    log: Path,
    *,
    workers: int,
    maintenance_seconds: float = 2.0,
    start_timeout: float = 90.0,
    settings: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """A `matchq serve` of a test's own (other settings than the session stack) on free ports.

    Stopped with SIGTERM on exit, which must end it cleanly (exit status 0).
    """
    with background_stack(
        workers=workers,
        maintenance_seconds=maintenance_seconds,
        log=log,
        start_timeout=start_timeout,
        check_exit=True,
        settings=settings,
    ) as running:
        yield Stack(
            base_url=running.base_url,
            aws_endpoint=running.aws_endpoint,
            secret=running.secret,
            log=log,
            workers=workers,
            pid=running.pid,
        )
