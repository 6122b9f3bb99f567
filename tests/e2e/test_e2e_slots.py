"""Worker slots as processes: one child of `matchq serve` per slot, replaced when it dies,
gone when the stack dies; MATCHQ_SLOTS=threads keeps them in the stack's process."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from matchq_local.launch import background_stack
from tests.e2e.e2e_support import TINY_CONFIG, Stack, own_stack, tiny_files, wait_job

pytestmark = pytest.mark.e2e


def slot_pids(parent: int) -> set[int]:
    """The worker slot processes whose parent is `parent` (the WorkerFunction's; the
    notifier and webhook delivery functions run in slots of their own)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if (
            ppid == parent
            and b"matchq_local.slots" in cmdline
            and b'"function": "WorkerFunction"' in cmdline
        ):
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def eventually[T](probe: Callable[[], T], *, timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value


def run_tiny_job(stack: Stack, tmp_path: Path) -> None:
    with stack.client("slot-user") as client:
        job_id = client.submit_files(*tiny_files(tmp_path), TINY_CONFIG, name="tiny")
        job = wait_job(client, job_id, timeout=60)
        assert job.status == "completed", job.error_message


def test_a_killed_slot_is_replaced_and_jobs_still_run(tmp_path: Path) -> None:
    with own_stack(tmp_path / "serve.log", workers=2) as stack:
        first = eventually(lambda: len(s := slot_pids(stack.pid)) == 2 and s)
        for pid in first:
            os.kill(pid, signal.SIGKILL)
        second = eventually(lambda: len(s := slot_pids(stack.pid)) == 2 and not s & first and s)
        assert len(second) == 2
        run_tiny_job(stack, tmp_path)
    assert "exited with status -9; starting it again" in (tmp_path / "serve.log").read_text()
    assert not any(alive(pid) for pid in second)  # a clean stop ends every slot


def test_slots_die_with_a_killed_stack(tmp_path: Path) -> None:
    with background_stack(workers=2, log=tmp_path / "serve.log") as running:
        pids = eventually(lambda: len(s := slot_pids(running.pid)) == 2 and s)
        os.kill(running.pid, signal.SIGKILL)
        eventually(lambda: not any(alive(pid) for pid in pids), timeout=5)


def test_threads_keep_every_slot_in_the_stacks_process(tmp_path: Path) -> None:
    settings = {"MATCHQ_SLOTS": "threads"}
    with own_stack(tmp_path / "serve.log", workers=2, settings=settings) as stack:
        run_tiny_job(stack, tmp_path)
        assert slot_pids(stack.pid) == set()


def test_a_stack_reported_ready_has_every_slot_warm(tmp_path: Path) -> None:
    """The ready line waits for the slots: each has loaded the worker and its engine (the
    Lambda init phase), so the first job does not pay for those imports."""
    with background_stack(workers=2, log=tmp_path / "serve.log") as running:
        pids = slot_pids(running.pid)
        assert len(pids) == 2
        for pid in pids:
            maps = Path(f"/proc/{pid}/maps").read_text()
            assert "rapidfuzz" in maps and "pandas" in maps
