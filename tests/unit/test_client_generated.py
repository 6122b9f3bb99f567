"""The sync client is generated from the async one, and both stay the same client."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

from matchq_client import AsyncMatchqClient, MatchqClient

ROOT = Path(__file__).resolve().parents[2]


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(cls).items()
        if callable(member) and not name.startswith("_")
    }


def test_the_committed_sync_client_is_what_unasync_generates() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "unasync.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_clients_have_the_same_methods_and_signatures() -> None:
    sync = public_methods(MatchqClient)
    asynchronous = public_methods(AsyncMatchqClient)
    assert asynchronous.pop("aclose") == asynchronous["close"]
    assert set(sync) == set(asynchronous)
    for name, signature in sync.items():
        other = asynchronous[name]
        assert list(signature.parameters) == list(other.parameters), name
        defaults = [p.default for p in signature.parameters.values() if p.name != "sleep"]
        assert defaults == [p.default for p in other.parameters.values() if p.name != "sleep"]


def test_every_async_method_is_awaited_and_no_sync_method_is() -> None:
    for name in public_methods(MatchqClient):
        sync, asynchronous = getattr(MatchqClient, name), getattr(AsyncMatchqClient, name)
        assert not inspect.iscoroutinefunction(sync), name
        assert not inspect.isasyncgenfunction(sync), name
        awaited = inspect.iscoroutinefunction(asynchronous)
        assert awaited or inspect.isasyncgenfunction(asynchronous), name


def test_importing_the_package_waits_for_httpx_only_when_a_client_is_used() -> None:
    probe = (
        "import sys, matchq_client\n"
        "from matchq_client import Job, MatchqError, DEFAULT_URL\n"
        "before = 'httpx' in sys.modules\n"
        "from matchq_client import MatchqClient, AsyncMatchqClient, RetryPolicy\n"
        "print(before, 'httpx' in sys.modules, MatchqClient.__module__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "True", "matchq_client._sync.client"]
