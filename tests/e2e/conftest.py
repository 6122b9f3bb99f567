"""A local stack (`matchq serve` in a subprocess) on free ports, shared by the e2e tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from matchq_client import MatchqClient
from tests.e2e.e2e_support import Stack, own_stack

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0
MAINTENANCE_SECONDS = 2


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`matchq serve` with one worker slot and a short maintenance interval."""
    log = tmp_path_factory.mktemp("stack") / "serve.log"
    with own_stack(log, workers=1, maintenance_seconds=MAINTENANCE_SECONDS) as running:
        yield running


@pytest.fixture
def user() -> str:
    """A user id of its own for each test, so their jobs do not mix."""
    return f"user-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def api(stack: Stack, user: str) -> Iterator[MatchqClient]:
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
