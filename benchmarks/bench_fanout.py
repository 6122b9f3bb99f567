"""Fan-out benchmark: one big job across worker slots, and what 1M x 1M would cost on Lambda.

Usage: .venv/bin/python benchmarks/bench_fanout.py [--rows 200000] [--slots 1,2,4]
       [--cloud-rows 1000000] [--concurrency 10,50,100] [--skip-local] [--skip-cloud] [--quick]

Part 1, local stack. A --rows x --rows single-column `token_sort_ratio` >= 80 job (synthetic
names, benchmarks/synth.py) runs through `matchq serve` with 1, 2 and 4 worker slots (slots
are processes): submit-to-completed wall time, shards_total, the peak memory of the whole
stack (the sum over the `matchq serve` process tree, sampled every 0.1 s from /proc: RSS,
and PSS, which counts shared pages once) and the SHA-256 of every result file, which must be
the same for every slot count (the script exits non-zero otherwise).

Part 2, cloud projection for --cloud-rows x --cloud-rows with `ratio`, `token_sort_ratio`
and `WRatio`, from times measured here with the engine's own functions:

- prepare: `prepare_files`, `share_token_bits` and `save_prepared` (what the coordinating
  worker does);
- a shard: `load_prepared`, its first 20 rows (counted whole: a shard's fixed costs), then
  `run_shard` on a sample of rows from the middle of file1 against all of file2: one chunk
  (5,000 rows, the unit the
  engine filters in) or the smallest planned shard if smaller, or fewer rows (sized by the
  planner's estimate to about --sample-seconds) when that would run over 4x that;
  per-row time = its time / its rows;
- the shard size: `plan_shards` as the worker calls it (no ShardRows, MaxShards 1000,
  concurrency C);
- merge: `merge_shards` of a real 1M x 1M job (an exact mapping on the same files, sharded
  the same way; the merge re-reads both files and writes one row per file1 row whatever the
  scorer, so its time does not depend on the scorer).

Lambda time = local time x (local cores / Lambda vCPU) (a --worker-mb function has
worker-mb / 1769 vCPU; this assumes the engine uses both local cores, and that one Graviton
vCPU does what one core here does; neither is measured here) + a cold start (the worker's
imports, measured) + S3 transfers at --s3-mbps (a partial result taken as 30 bytes per file1
row, its most in mode best). Wall = prepare + ceil(shards / C) waves of
one shard + merge. Dollars: Lambda arm64 GB-seconds and requests, SQS requests (send,
receive, delete per message), DynamoDB writes and reads (claim, heartbeats every 2 s, shard
count, active_workers), S3 PUTs and GETs, at the us-east-1 list prices below. API calls of
the user (submit, polls) and storage by the month are left out. The goal printed beside it:
1M x 1M single column under 60 s and under $0.50 at concurrency 100.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "shared"), str(ROOT / "src"), str(Path(__file__).resolve().parent)]

import synth  # noqa: E402
from bench_engine import FILE_ID  # noqa: E402

# us-east-1 list prices (December 2026)
LAMBDA_GB_SECOND = 0.0000133334  # arm64
LAMBDA_REQUEST = 0.20 / 1e6
SQS_REQUEST = 0.40 / 1e6
DYNAMO_WRITE = 0.625 / 1e6  # on-demand, per write request unit (1 KB)
DYNAMO_READ = 0.125 / 1e6  # on-demand, per read request unit (4 KB, strongly consistent)
S3_PUT = 0.005 / 1000
S3_GET = 0.0004 / 1000
LAMBDA_MB_PER_VCPU = 1769  # Lambda's documented memory per full vCPU
HEARTBEAT_SECONDS = 2.0  # WorkerSettings.heartbeat_interval_seconds
GOAL_SECONDS, GOAL_DOLLARS, GOAL_CONCURRENCY = 60.0, 0.50, 100
CLOUD_SCORERS = ("ratio", "token_sort_ratio", "WRatio")
LOCAL_SCORER = "token_sort_ratio"
MAX_SHARDS = 1000  # the template's MaxShards default


def config_for(scorer: str, file1: str, file2: str, *, exact: bool = False) -> dict[str, Any]:
    mapping: dict[str, Any] = {"file1_col": "name", "file2_col": "name"}
    mapping.update({"match_type": "exact"} if exact else {"scorer": scorer})
    return {
        "file1": file1,
        "file2": file2,
        "mappings": [mapping],
        "threshold": 80,
        "match_mode": "best",
    }


def write_names(directory: Path, rows: int) -> tuple[Path, Path]:
    """file1.csv and file2.csv of `rows` rows each: id and name (synth's people)."""
    rows1, rows2 = synth.make_tables(rows, rows)
    paths = directory / f"names1_{rows}.csv", directory / f"names2_{rows}.csv"
    for path, table in zip(paths, (rows1, rows2), strict=True):
        synth.write_csv(path, [r[:2] for r in table])
    return paths


# --------------------------------------------------------------------------- memory of a tree


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _tree(pid: int) -> list[int]:
    tree, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(tree.get(p, []))
    return out


def _rss_pss_kb(pid: int) -> tuple[int, int]:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    values = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("Rss:", "Pss:"):
            values[parts[0]] = int(parts[1])
    return values.get("Rss:", 0), values.get("Pss:", 0)


class TreeMemory(threading.Thread):
    """Samples the summed RSS and PSS of a process tree until stopped; keeps the peaks."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_rss_kb = self.peak_pss_kb = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            rss = pss = 0
            for p in _tree(self.pid):
                r, s = _rss_pss_kb(p)
                rss, pss = rss + r, pss + s
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self.peak_pss_kb = max(self.peak_pss_kb, pss)
            self.halt.wait(self.interval)

    def stop(self) -> None:
        self.halt.set()
        self.join()


# --------------------------------------------------------------------------- part 1: local


@dataclass
class LocalRun:
    slots: int
    wall: float
    status: str
    shards_total: int
    peak_rss_mb: float
    peak_pss_mb: float
    hashes: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def run_local(files: tuple[Path, Path], slots: int, workdir: Path, timeout: float) -> LocalRun:
    from matchq.auth import issue_token
    from matchq_client import MatchqClient
    from matchq_local.launch import background_stack

    with background_stack(workers=slots, start_timeout=120) as stack:
        memory = TreeMemory(stack.pid)
        memory.start()
        try:
            token = issue_token(stack.secret, f"fanout-{uuid.uuid4().hex[:8]}")
            with MatchqClient(stack.base_url, token, retries=0) as api:
                ids = [api.upload_file(p) for p in files]
                started = time.perf_counter()
                job_id = api.submit_job(
                    f"fanout {slots} slots", config_for(LOCAL_SCORER, *ids), priority=2
                )
                job = api.wait(job_id, timeout=timeout, poll_interval=0.1, max_interval=0.25)
                wall = time.perf_counter() - started
                run = LocalRun(
                    slots, wall, job.status, job.shards_total, 0.0, 0.0, error=job.error_message
                )
                if job.status == "completed":
                    out = workdir / f"results-{slots}"
                    for path in api.download_results(job_id, out):
                        run.hashes[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        finally:
            memory.stop()
    run.peak_rss_mb, run.peak_pss_mb = memory.peak_rss_kb / 1024, memory.peak_pss_kb / 1024
    return run


def part_local(args: argparse.Namespace, workdir: Path) -> bool:
    print(f"\n## Local stack: {args.rows:,} x {args.rows:,} {LOCAL_SCORER} >= 80, best\n")
    files = write_names(workdir, args.rows)
    runs = [run_local(files, s, workdir, args.timeout) for s in args.slots]
    base = runs[0]
    print("| slots | wall s | shards | peak RSS MB (tree) | peak PSS MB (tree) | vs 1st | results |"
          )  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    ok = True
    for r in runs:
        same = r.status == "completed" and r.hashes == base.hashes and bool(r.hashes)
        ok &= same
        verdict = "identical" if same else f"DIFFERENT ({r.status}: {r.error})"
        print(
            f"| {r.slots} | {r.wall:.1f} | {r.shards_total} | {r.peak_rss_mb:.0f} | "
            f"{r.peak_pss_mb:.0f} | {base.wall / r.wall:.2f}x | {verdict} |"
        )
    print()
    for name, digest in sorted(base.hashes.items()):
        print(f"    {name}: sha256 {digest[:16]}...")
    return ok


# --------------------------------------------------------------------------- part 2: cloud


@dataclass
class Measured:
    scorer: str
    prepare_s: float
    save_s: float
    prepared_mb: float
    load_s: float
    warm_s: float  # a shard's first 20 rows: its fixed costs beyond loading
    sample_rows: int
    row_s: float
    estimate_row_s: float
    plans: dict[int, list[tuple[int, int]]]


def _timed(fn: Any, *a: Any, **k: Any) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_scorer(
    scorer: str, files: tuple[Path, Path], workdir: Path, args: argparse.Namespace
) -> Measured:
    from matchq.config import MatchConfig
    from matchq.matching.shards import (
        DEFAULT_CHUNK_ROWS,
        estimate_row_seconds,
        load_prepared,
        plan_shards,
        prepare_files,
        run_shard,
        save_prepared,
        share_token_bits,
    )

    config = MatchConfig(**config_for(scorer, FILE_ID, FILE_ID))
    names: dict[str, Any] = {"file1_name": "file1.csv", "file2_name": "file2.csv"}
    job, prepare_s = _timed(prepare_files, config, *files, max_rows=10_000_000, **names)
    path = workdir / f"prepared-{scorer}.npz"
    _, share_s = _timed(share_token_bits, job)
    _, save_s = _timed(save_prepared, job, path)
    save_s += share_s  # the coordinator does both (begin_match)
    del job
    job, load_s = _timed(load_prepared, path)
    plans = {
        c: plan_shards(job, shard_rows=None, max_shards=MAX_SHARDS, concurrency=c)
        for c in args.concurrency
    }
    middle = job.rows1 // 2
    warm = min(20, job.rows1 - middle)
    _, warm_s = _timed(run_shard, job, middle, middle + warm, workdir / "warm.npz")
    # A row costs less in a full chunk (the filter's pass over file2 is shared by the
    # chunk's rows), so the sample is one chunk, or the smallest planned shard if smaller;
    # fewer rows (sized by the planner's estimate) when that would take too long.
    estimate = max(estimate_row_seconds(job), 1e-9)
    smallest = min(hi - lo for ranges in plans.values() for lo, hi in ranges)
    rows = min(smallest, DEFAULT_CHUNK_ROWS, job.rows1 - middle)
    if rows * estimate > 4 * args.sample_seconds:
        rows = max(20, min(rows, int(args.sample_seconds / estimate)))
    _, sample_s = _timed(run_shard, job, middle, middle + rows, workdir / "sample.npz")
    measured = Measured(
        scorer, prepare_s, save_s, path.stat().st_size / 1e6, load_s, warm_s, rows,
        sample_s / rows,
        estimate_row_seconds(job), plans,
    )  # fmt: skip
    path.unlink()
    return measured


def measure_merge(files: tuple[Path, Path], workdir: Path, shards: int) -> tuple[float, int]:
    """Seconds of `merge_shards` for a real job on `files` split into `shards` shards (an
    exact name mapping, so its shards are quick), and the pairs it wrote."""
    from matchq.config import MatchConfig
    from matchq.matching.shards import merge_shards, prepare_files, run_shard

    config = MatchConfig(**config_for("ratio", FILE_ID, FILE_ID, exact=True))
    names: dict[str, Any] = {"file1_name": "file1.csv", "file2_name": "file2.csv"}
    job = prepare_files(config, *files, max_rows=10_000_000, **names)
    step = math.ceil(job.rows1 / shards)
    parts = []
    pairs = 0
    for k, lo in enumerate(range(0, job.rows1, step)):
        part = workdir / f"part-{k:05d}.npz"
        pairs += run_shard(job, lo, min(job.rows1, lo + step), part).pairs
        parts.append(part)
    out = workdir / "merged"
    out.mkdir(exist_ok=True)
    _, merge_s = _timed(merge_shards, config, job, parts, *files, out, max_rows=10_000_000, **names)
    for part in parts:
        part.unlink()
    return merge_s, pairs


def cold_start_seconds() -> float:
    """Median import time of what the worker loads (a fresh interpreter, 3 runs)."""
    code = (
        "import time; t=time.perf_counter(); import numpy, pandas, rapidfuzz, boto3; "
        "import matchq.matching.shards, matchq.services.worker; print(time.perf_counter()-t)"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT / "shared"))
    runs = [
        float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True).stdout)
        for _ in range(3)
    ]  # fmt: skip
    return statistics.median(runs)


@dataclass
class Projection:
    scorer: str
    concurrency: int
    shards: int
    shard_rows: int
    shard_s: float
    prepare_s: float
    merge_s: float
    wall_s: float
    lambda_dollars: float
    other_dollars: float

    @property
    def dollars(self) -> float:
        return self.lambda_dollars + self.other_dollars


def project(
    m: Measured,
    concurrency: int,
    *,
    merge_local_s: float,
    input_mb: float,
    result_mb: float,
    cold_s: float,
    args: argparse.Namespace,
) -> Projection:
    cores = os.process_cpu_count() or 1
    factor = cores / (args.worker_mb / LAMBDA_MB_PER_VCPU)
    mbps = args.s3_mbps
    ranges = m.plans[concurrency]
    shards = len(ranges)
    biggest = max(hi - lo for lo, hi in ranges)
    part_mb = 0.05 + biggest * 0.03 / 1000  # a part: ~30 bytes per pair, at most one per row
    prepare = cold_s + input_mb / mbps + (m.prepare_s + m.save_s) * factor + m.prepared_mb / mbps
    if shards == 1:  # one piece: matched and written by the coordinator itself
        shard = 0.0
        # the result writing counted as a merge (it re-reads nothing: an overestimate)
        merge = biggest * m.row_s * factor + merge_local_s * factor + result_mb / mbps
        busy = prepare + merge
    else:
        shard = cold_s + m.prepared_mb / mbps + (m.load_s + m.warm_s) * factor
        shard += biggest * m.row_s * factor
        shard += part_mb / mbps
        merge = cold_s + (input_mb + shards * part_mb) / mbps + merge_local_s * factor
        merge += result_mb / mbps
        busy = prepare + shards * shard + merge
    waves = math.ceil(shards / concurrency)
    wall = prepare + waves * shard + merge
    gb_s = busy * args.worker_mb / 1024
    invocations = 1 + (shards + 1 if shards > 1 else 0)
    lambda_dollars = gb_s * LAMBDA_GB_SECOND + invocations * LAMBDA_REQUEST
    messages = invocations
    sqs = messages * 3  # send, receive, delete
    beats = busy / HEARTBEAT_SECONDS
    item_kb = 1 + shards * 24 / 1024  # the job item grows with its shard_rows map
    writes = (4 * invocations + 2 * beats) * math.ceil(item_kb)
    reads = 2 * invocations * math.ceil(item_kb / 4)
    puts = 1 + shards + 3
    gets = 2 + shards + shards + 2
    other = (
        sqs * SQS_REQUEST + writes * DYNAMO_WRITE + reads * DYNAMO_READ
        + puts * S3_PUT + gets * S3_GET
    )  # fmt: skip
    return Projection(
        m.scorer, concurrency, shards, biggest, shard, prepare, merge, wall, lambda_dollars, other
    )


def part_cloud(args: argparse.Namespace, workdir: Path) -> None:
    n = args.cloud_rows
    print(f"\n## Cloud projection: {n:,} x {n:,} single column >= 80, best\n")
    t = time.perf_counter()
    files = write_names(workdir, n)
    print(f"synthetic files: {time.perf_counter() - t:.1f} s")
    input_mb = sum(p.stat().st_size for p in files) / 1e6
    cold_s = cold_start_seconds()
    measured = []
    for scorer in CLOUD_SCORERS:
        m = measure_scorer(scorer, files, workdir, args)
        measured.append(m)
        print(
            f"{scorer}: prepare {m.prepare_s:.1f} s + save {m.save_s:.1f} s "
            f"({m.prepared_mb:.0f} MB), shard load {m.load_s:.2f} s + first rows {m.warm_s:.2f} s, "
            f"{m.sample_rows:,} rows sampled: {m.row_s * 1000:.2f} ms/row measured "
            f"(planner's estimate {m.estimate_row_s * 1000:.2f} ms/row); "
            f"max RSS so far {_maxrss_mb():.0f} MB"
        )
    merge_local_s, merge_pairs = measure_merge(files, workdir, args.merge_shards)
    result_mb = sum(p.stat().st_size for p in (workdir / "merged").iterdir()) / 1e6
    print(
        f"merge of {args.merge_shards} shards ({merge_pairs:,} pairs, {result_mb:.0f} MB of "
        f"results): {merge_local_s:.1f} s; worker cold start (imports) {cold_s:.2f} s; "
        f"max RSS {_maxrss_mb():.0f} MB"
    )
    cores = os.process_cpu_count() or 1
    vcpu = args.worker_mb / LAMBDA_MB_PER_VCPU
    print(
        f"\nLambda {args.worker_mb} MB arm64 = {vcpu:.2f} vCPU; local times x {cores / vcpu:.2f}; "
        f"S3 at {args.s3_mbps:.0f} MB/s per function\n"
    )
    print(
        "| scorer | concurrency | shards | rows/shard | shard s | prepare s | merge s | "
        "wall s | Lambda $ | SQS+DDB+S3 $ | total $ | vs goal (60 s, $0.50) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for m in measured:
        for c in args.concurrency:
            p = project(
                m, c, merge_local_s=merge_local_s, input_mb=input_mb, result_mb=result_mb,
                cold_s=cold_s, args=args,
            )  # fmt: skip
            goal = ""
            if c == GOAL_CONCURRENCY:
                goal = (
                    f"{p.wall_s / GOAL_SECONDS:.2f}x the time, "
                    f"{p.dollars / GOAL_DOLLARS:.2f}x the cost"
                )
            print(
                f"| {p.scorer} | {c} | {p.shards} | {p.shard_rows:,} | {p.shard_s:.1f} | "
                f"{p.prepare_s:.1f} | {p.merge_s:.1f} | {p.wall_s:.0f} | "
                f"{p.lambda_dollars:.4f} | {p.other_dollars:.4f} | {p.dollars:.4f} | {goal} |"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--slots", default="1,2,4")
    parser.add_argument("--cloud-rows", type=int, default=1_000_000)
    parser.add_argument("--concurrency", default="10,50,100")
    parser.add_argument("--sample-seconds", type=float, default=8.0)
    parser.add_argument("--merge-shards", type=int, default=20)
    parser.add_argument("--worker-mb", type=int, default=3008)
    parser.add_argument("--s3-mbps", type=float, default=80.0)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--skip-cloud", action="store_true")
    parser.add_argument("--quick", action="store_true", help="20k local, 100k cloud")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.cloud_rows, args.sample_seconds = 20_000, 100_000, 1.0
    args.slots = [int(s) for s in args.slots.split(",")]
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    ok = True
    with tempfile.TemporaryDirectory(prefix="matchq-fanout-") as tmp:
        workdir = Path(tmp)
        if not args.skip_local:
            ok = part_local(args, workdir)
        if not args.skip_cloud:
            part_cloud(args, workdir)
    if not ok:
        print("\nFAIL: the results differ between slot counts (or a job did not complete)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
