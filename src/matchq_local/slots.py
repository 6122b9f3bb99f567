"""Worker slots as processes: each slot a child process polling the queues, as one Lambda
execution environment would.

The matching engine holds the GIL between its numpy and rapidfuzz calls, so slots that are
threads of one interpreter share one core for that part: measured here with two slots on
two cores, threads ran a 100k x 100k shard set 1.12-1.14x faster than one slot, processes
1.43-1.47x (docs/local-stack.md, "Worker slots"). A slot process imports the worker
function itself, polls the queues in priority order (`WorkerPool` with one slot) and talks
to the parent's AWS endpoint over HTTP, like the functions of a deployed stack.

The parent starts one process per slot, starts a slot again when its process dies (as
Lambda replaces a crashed environment; the message is delivered again after its visibility
timeout or recovered by the reaper), and stops them with SIGTERM: a slot expires its
running invocation's time, as before a Lambda timeout, and exits. A slot whose parent dies
(even by SIGKILL) is killed by the kernel (PR_SET_PDEATHSIG) or, elsewhere, notices
within a second and exits.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from typing import Any

log = logging.getLogger("matchq.local")

RESTART_PAUSE_SECONDS = 1.0
PR_SET_PDEATHSIG = 1
READY_TIMEOUT_SECONDS = 60.0  # a slot's imports and warm-up, at most


class SlotProcesses:
    """`slots` child processes running `function` from the queues of the template."""

    def __init__(
        self,
        function: str,
        *,
        endpoint: str,
        parameters: dict[str, str],
        slots: int,
        log_level: str,
    ) -> None:
        if slots < 1:
            raise ValueError("the worker pool needs at least one slot")
        self.function, self.slots = function, slots
        self._spec = {
            "function": function,
            "endpoint": endpoint,
            "parameters": parameters,
            "log_level": log_level,
            "parent": os.getpid(),
        }
        self._children: list[subprocess.Popen[bytes] | None] = [None] * slots
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._monitor = threading.Thread(target=self._watch, name="slot-monitor", daemon=True)

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [child.pid for child in self._children if child is not None]

    def _spawn(self, index: int, ready_fd: int | None = None) -> subprocess.Popen[bytes]:
        spec = json.dumps({**self._spec, "slot": index + 1, "ready_fd": ready_fd})
        return subprocess.Popen(  # noqa: S603 (this interpreter, our module, our JSON)
            [sys.executable, "-m", "matchq_local.slots", spec],
            stdin=subprocess.DEVNULL,
            pass_fds=() if ready_fd is None else (ready_fd,),
            # Its own session: a Ctrl-C reaches the parent, which stops the slots in order.
            start_new_session=True,
        )

    def start(self, ready_timeout: float = READY_TIMEOUT_SECONDS) -> SlotProcesses:
        """Start every slot and wait (up to `ready_timeout`) until each has loaded its
        function and polls, so that a stack reported ready takes a job at once."""
        pipes = []
        with self._lock:
            for i in range(self.slots):
                read, write = os.pipe()
                self._children[i] = self._spawn(i, write)
                os.close(write)
                pipes.append(read)
        deadline = time.monotonic() + ready_timeout
        for read in pipes:
            with os.fdopen(read, "rb") as pipe:  # a byte once warm; EOF if the slot died
                ready, _, _ = select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))
                if not ready or not pipe.read(1):
                    log.warning("a worker slot (%s) is not ready yet", self.function)
        self._monitor.start()
        return self

    def _watch(self) -> None:
        while not self._stopping.wait(RESTART_PAUSE_SECONDS):
            with self._lock:
                for i, child in enumerate(self._children):
                    if child is None or child.poll() is None or self._stopping.is_set():
                        continue
                    log.warning(
                        "worker slot %d (%s) exited with status %s; starting it again",
                        i + 1,
                        self.function,
                        child.returncode,
                    )
                    self._children[i] = self._spawn(i)

    def stop(self, grace_seconds: float = 5.0) -> int:
        """SIGTERM every slot; wait up to `grace_seconds` (plus a second to exit) for them;
        kill what still runs and return how many slots that was."""
        self._stopping.set()
        if self._monitor.is_alive():
            self._monitor.join()
        with self._lock:
            children = [child for child in self._children if child is not None]
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds + 1.0
        left = 0
        for child in children:
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
                left += 1
                continue
            left += child.returncode == ABANDONED_EXIT
        return left


ABANDONED_EXIT = 3  # a slot's status when its job still ran at the end of the grace period


# --- the slot process --------------------------------------------------------------------------


def _die_with(parent: int) -> None:
    """Be killed when `parent` dies (Linux); elsewhere the main loop checks getppid()."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def run_slot(spec: dict[str, Any], grace_seconds: float = 5.0) -> int:
    from matchq_local.aws import session, use_endpoint
    from matchq_local.lambda_runtime import LocalFunction
    from matchq_local.stack import configure_logging
    from matchq_local.template import load_stack
    from matchq_local.workers import WorkerPool, polled_queues

    _die_with(int(spec["parent"]))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    configure_logging(spec["log_level"])
    endpoint = spec["endpoint"]
    use_endpoint(endpoint)  # the environment is the parent's: prepare_runtime ran there
    stack = load_stack(endpoint, parameters=spec["parameters"])
    function_spec = stack.functions[spec["function"]]
    # A slot runs one function, as a Lambda environment does, with the memory size Lambda
    # puts in its environment: the worker's memory guard is then 90 % of the template's
    # MemorySize (WorkerMemoryMB), as in the cloud, unless MATCHQ_MAX_JOB_MEMORY_MB is set.
    os.environ.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", str(function_spec.memory_mb))
    function = LocalFunction(function_spec)
    function.warm()
    queues = polled_queues(stack, endpoint, spec["function"])
    pool = WorkerPool(function, queues, session(endpoint).client("sqs"), 1).start()
    if spec.get("ready_fd") is not None:
        with os.fdopen(int(spec["ready_fd"]), "wb") as ready:
            ready.write(b"1")
    while not stop.wait(1.0):
        if os.getppid() != int(spec["parent"]):
            stop.set()
    left = pool.stop(grace_seconds)
    return ABANDONED_EXIT if left else 0


if __name__ == "__main__":
    code = run_slot(json.loads(sys.argv[1]))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
