"""Start `matchq serve` in a background process and stop it cleanly: for the demo, the
benchmarks and the end-to-end tests."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from matchq_local.template import ROOT

# The line `matchq serve` prints once it accepts requests (see matchq_local.stack.serve).
READY = re.compile(
    r"ready at http://[^:/]+:(?P<port>\d+)/api/v1 \(AWS endpoint (?P<aws>\S+), "
    r"(?P<workers>\d+) worker slot"
)


class StackFailed(RuntimeError):
    """The background stack did not start, or did not stop cleanly."""


@dataclass(frozen=True)
class RunningStack:
    base_url: str
    aws_endpoint: str
    secret: str
    log: Path
    workers: int
    pid: int  # of the `matchq serve` process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:] if log.exists() else ""


@contextmanager
def background_stack(
    *,
    fresh: bool = True,
    workers: int = 1,
    maintenance_seconds: float | None = None,
    log: Path | None = None,
    start_timeout: float = 90.0,
    stop_timeout: float = 20.0,
    check_exit: bool = False,
    stop_signal: signal.Signals = signal.SIGTERM,
    settings: dict[str, str] | None = None,
) -> Iterator[RunningStack]:
    """A local stack in a subprocess, stopped with SIGTERM on exit.

    `fresh`: free ports, a new JWT secret and none of the caller's AWS_/MATCHQ_ settings
    (tests, benchmarks); otherwise the caller's environment as it is (the demo).
    `check_exit`: raise `StackFailed` unless the stack exits 0 on `stop_signal`.
    `settings`: more MATCHQ_* variables for the stack (e.g. MATCHQ_SHARD_ROWS). A fresh
    stack keeps its state in a temporary MATCHQ_DATA_DIR, removed on exit, unless
    `settings` names one.
    """
    env = dict(os.environ)
    secret = None
    scratch: str | None = None
    if fresh:
        secret = secrets.token_urlsafe(32)
        env = {k: v for k, v in env.items() if not k.startswith(("AWS_", "MATCHQ_", "POWERTOOLS_"))}
        env.update(
            MATCHQ_PORT=str(free_port()),
            MATCHQ_AWS_PORT=str(free_port()),
            MATCHQ_WORKERS=str(workers),
            MATCHQ_JWT_SECRET=secret,
            MATCHQ_LOG_LEVEL="INFO",
        )
        if maintenance_seconds is not None:
            env["MATCHQ_MAINTENANCE_SECONDS"] = str(maintenance_seconds)
        if "MATCHQ_DATA_DIR" not in (settings or {}):
            scratch = env["MATCHQ_DATA_DIR"] = tempfile.mkdtemp(prefix="matchq-data-")
    env.update(settings or {})
    paths = [str(ROOT / "shared"), str(ROOT / "src"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env["PYTHONUNBUFFERED"] = "1"
    own_log = log is None
    log = log or Path(tempfile.mkstemp(prefix="matchq-serve-", suffix=".log")[1])
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "matchq_cli.main", "serve"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + start_timeout
        while not (ready := READY.search(log.read_text(errors="replace"))):
            if process.poll() is not None or time.monotonic() > deadline:
                raise StackFailed(f"the local stack did not start; its log:\n{_tail(log)}")
            time.sleep(0.1)
        from matchq_local.secret import local_jwt_secret

        yield RunningStack(
            base_url=f"http://127.0.0.1:{ready['port']}/api/v1",
            aws_endpoint=ready["aws"],
            secret=secret or local_jwt_secret(),
            log=log,
            workers=int(ready["workers"]),
            pid=process.pid,
        )
    finally:
        code = _stop(process, stop_timeout, stop_signal)
        text = _tail(log)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        if own_log:
            log.unlink(missing_ok=True)
        if check_exit and code != 0:
            raise StackFailed(
                f"the local stack exited with {code} on {stop_signal.name}; its log:\n{text}"
            )


def _descendants(pid: int) -> list[int]:
    """Every process under `pid` (Linux /proc)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.append(int(entry.name))
    return [c for child in children for c in (child, *_descendants(child))]


def kill_tree(pid: int) -> None:
    """SIGKILL `pid` and every process under it at once, as `kill -9` of the process tree."""
    for target in (*_descendants(pid), pid):
        with suppress(ProcessLookupError):
            os.kill(target, signal.SIGKILL)


def _stop(
    process: subprocess.Popen[bytes], timeout: float, stop_signal: signal.Signals
) -> int | None:
    """`stop_signal`, then SIGKILL after `timeout`; the exit status (None if it was killed)."""
    if process.poll() is not None:
        return process.returncode
    process.send_signal(stop_signal)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None
