"""A local stack (`matchq serve` in a subprocess) on free ports, shared by the e2e tests."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from matchq_local.client import ApiClient
from tests.e2e.e2e_support import Stack

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0
MAINTENANCE_SECONDS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if "ready" in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"local stack did not start:\n{log.read_text(errors='replace')[-4000:]}")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`matchq serve` with one worker slot and a short maintenance interval."""
    try:
        from matchq.matching import run_match  # noqa: F401
    except ImportError:
        pytest.skip("the matching engine (matchq.matching.run_match) is not there yet")
    log = tmp_path_factory.mktemp("stack") / "serve.log"
    port, aws_port = free_port(), free_port()
    secret = secrets.token_urlsafe(32)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MATCHQ_", "POWERTOOLS_"))
    }
    env.update(
        MATCHQ_PORT=str(port),
        MATCHQ_AWS_PORT=str(aws_port),
        MATCHQ_WORKERS="1",
        MATCHQ_JWT_SECRET=secret,
        MATCHQ_MAINTENANCE_SECONDS=str(MAINTENANCE_SECONDS),
        MATCHQ_LOG_LEVEL="INFO",
        PYTHONPATH=os.pathsep.join(
            [str(ROOT / "shared"), str(ROOT / "src"), env.get("PYTHONPATH", "")]
        ),
        PYTHONUNBUFFERED="1",
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "matchq_cli.main", "serve"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(process, log)
        yield Stack(
            base_url=f"http://127.0.0.1:{port}/api/v1",
            aws_endpoint=f"http://127.0.0.1:{aws_port}",
            secret=secret,
            log=log,
            workers=1,
        )
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise AssertionError(
                    f"local stack ignored SIGTERM; log:\n{log.read_text()[-3000:]}"
                ) from None
            assert code == 0, f"local stack exited with {code}; log:\n{log.read_text()[-3000:]}"


@pytest.fixture
def user() -> str:
    """A user id of its own for each test, so their jobs do not mix."""
    return f"user-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def api(stack: Stack, user: str) -> Iterator[ApiClient]:
    with stack.client(user) as client:
        yield client


@pytest.fixture
def raw(stack: Stack) -> Iterator[httpx.Client]:
    """Plain HTTP to the gateway, for status codes and error bodies."""
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def sample_files() -> tuple[Path, Path]:
    files = SAMPLES / "crm_customers.csv", SAMPLES / "billing_accounts.csv"
    for path in files:
        assert path.exists(), f"{path} missing: run scripts/make_samples.py"
    return files
