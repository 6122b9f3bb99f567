"""Webhook delivery latency on the local stack: state change to receipt, p50/p99.

Starts `matchq serve` (one worker slot) unless MATCHQ_URL points at a running stack,
registers a loopback webhook, runs N tiny jobs one after another and measures, for every
job.running and job.completed delivery, the time from the change (`timestamp` of the
event) to its arrival at the receiver. The path measured: the job side's SQS message,
the notifier slot's poll, the delivery slot's poll, the signed POST.

    .venv/bin/python benchmarks/bench_webhooks.py [--jobs 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared"), str(ROOT / "src")]

from examples.webhook_receiver import make_server  # noqa: E402
from tests.e2e.e2e_support import TINY_CONFIG, own_stack, tiny_files, wait_job  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        own_stack(Path(tmp) / "serve.log", workers=1) as stack,
    ):
        received: list[tuple[dict[str, Any], float]] = []
        probe = make_server("whsec_" + "A" * 44, 0)
        port = probe.server_address[1]
        probe.server_close()
        with stack.client("bench-webhooks") as api:
            hook = api.create_webhook(f"http://127.0.0.1:{port}/hook", ["running", "completed"])
            assert hook.secret is not None
            server = make_server(hook.secret, port, lambda e, h, t: received.append((e, t)))
            threading.Thread(target=server.serve_forever, daemon=True).start()
            left, right = tiny_files(Path(tmp))
            config = {
                **TINY_CONFIG,
                "file1": api.upload_file(left),
                "file2": api.upload_file(right),
            }
            for i in range(args.jobs):
                job_id = api.submit_job(f"bench {i}", config)
                wait_job(api, job_id, timeout=60)
            deadline = time.monotonic() + 30
            while len(received) < 2 * args.jobs and time.monotonic() < deadline:
                time.sleep(0.05)
            api.delete_webhook(hook.webhook_id)
            server.shutdown()
    latencies: dict[str, list[float]] = {"job.running": [], "job.completed": []}
    for event, at in received:
        changed = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
        latencies[event["type"]].append((at - changed) * 1000)
    every = [ms for values in latencies.values() for ms in values]
    print(f"{len(received)} deliveries of {2 * args.jobs} expected ({args.jobs} jobs)")
    for name, values in [*latencies.items(), ("all", every)]:
        if values:
            print(
                f"  {name:14} p50 {percentile(values, 50):6.0f} ms"
                f"   p99 {percentile(values, 99):6.0f} ms"
                f"   mean {statistics.mean(values):6.0f} ms   max {max(values):6.0f} ms"
            )
    return 0 if len(received) == 2 * args.jobs else 1


if __name__ == "__main__":
    raise SystemExit(main())
