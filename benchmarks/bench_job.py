"""Whole jobs through the local stack, side by side with the engine alone and its peers.

Usage: .venv/bin/python benchmarks/bench_job.py [--repeats 3] [--cases A,B] [--quick]

For each case (bench_engine.CASES at the sizes below; synthetic person records from
synth.make_tables(n, n, seed=n), as bench_engine and bench_peers use) this prints, in one run:

- job: submit to `completed` as a user sees it: `matchq serve` with one worker slot, both
  files uploaded first (not timed), `submit_job`, then `GET /jobs/{id}` every 0.1 s until
  completed (so up to 0.1 s late; polling every 20 ms made the job itself 0.7 s slower at
  40k, the polls taking a core's share from it on 2 cores); the median of --repeats jobs run
  one after another (the first after the stack has been idle, so its pick-up waits up to
  one idle poll, 0.2 s; the next ones up to 20 ms);
  "peak RSS" is the largest summed RSS of the whole stack's process tree during the jobs;
- engine: `run_match` alone in a fresh process (bench_engine's child: read, match, write),
  the median of --repeats; its peak RSS from os.wait4;
- cdist: exhaustive chunked `rapidfuzz.process.cdist` over every pair (bench_engine's
  child); above --exhaustive-max file1 rows it runs on that many and is extrapolated;
- Splink predict(): when .venv-peers exists (make bench-peers), bench_peers' trained
  Splink on the person-records case, its predict step alone and its whole pipeline.

The job's matched pairs must equal the exhaustive search's (rows, and scores to the 4
decimals written; on the rows it searched); the script exits non-zero otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_engine  # noqa: E402
import synth  # noqa: E402
from bench_fanout import TreeMemory  # noqa: E402

# case -> (rows per file, the target printed beside it)
CASES: dict[str, tuple[int, str]] = {
    "name ratio>=80": (40_000, "job >= 10x cdist"),
    "weighted 4 maps": (50_000, "job < Splink predict()"),
    "6 fuzzy >=50": (5_000, "job < 5 s"),
}
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"


def run_jobs(case: str, files: tuple[Path, Path], repeats: int, out: Path) -> dict[str, Any]:
    """`repeats` jobs of `case` through one local stack; timings, peak memory, pairs."""
    from matchq.auth import issue_token
    from matchq_client import MatchqClient
    from matchq_local.launch import background_stack

    walls = []
    samples = []  # seconds of the summary's score sample in each job (summary.json timings)
    pairs: list[list[Any]] = []
    with background_stack(workers=1, start_timeout=120) as stack:
        memory = TreeMemory(stack.pid)
        memory.start()
        try:
            token = issue_token(stack.secret, "bench-job")
            with MatchqClient(stack.base_url, token, retries=0) as api:
                ids = [api.upload_file(p) for p in files]
                config = {"file1": ids[0], "file2": ids[1], **bench_engine.CASES[case]}
                for k in range(repeats):
                    started = time.perf_counter()
                    job_id = api.submit_job(f"{case} #{k}", config, priority=2)
                    job = api.wait(job_id, timeout=1800, poll_interval=0.1, max_interval=0.1)
                    walls.append(time.perf_counter() - started)
                    if job.status != "completed":
                        raise SystemExit(f"{case}: job {job.status}: {job.error_message}")
                    samples.append(api.summary(job_id).timings.get("sample", 0.0))
                    print(f"  {case} job #{k}: {walls[-1]:.2f} s (summary sample "
                          f"{samples[-1]:.2f} s)", file=sys.stderr, flush=True)  # fmt: skip
                    if k == 0:
                        target = out / "job"
                        api.download_results(job_id, target)
                        matched = json.loads(
                            (target / "matched_results.json").read_text(encoding="utf-8")
                        )
                        pairs = [[m["file1_row"], m["file2_row"], m["score"]] for m in matched]
        finally:
            memory.stop()
    return {
        "seconds": statistics.median(walls),
        "sample_seconds": statistics.median(samples),
        "rss_mb": memory.peak_rss_kb / 1024,
        "pairs": pairs,
    }


def run_splink(files: tuple[Path, Path], out: Path, repeats: int) -> dict[str, Any] | None:
    """bench_peers' Splink child in the peers venv, `repeats` times; None without that venv."""
    if not PEERS_PYTHON.exists():
        return None
    runs = []
    for _ in range(repeats):
        result = out / "splink.json"
        subprocess.run(
            [str(PEERS_PYTHON), str(ROOT / "benchmarks" / "bench_peers.py"), "--child",
             "splink", "weighted 4 maps", str(files[0]), str(files[1]), str(out), str(result),
             "1e6"],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        runs.append(json.loads(result.read_text(encoding="utf-8")))
        print(f"  splink: predict {runs[-1]['predict_seconds']:.2f} s", file=sys.stderr)
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "predict_seconds": statistics.median(r["predict_seconds"] for r in runs),
    }


def median_child(
    method: str, case: str, files: tuple[Path, Path], out: Path, repeats: int, rows: int = 0
) -> dict[str, Any]:
    runs = [bench_engine.run_child(method, case, *files, out, rows) for _ in range(repeats)]
    for r in runs:
        print(f"  {case} {method}: {r['seconds']:.2f} s", file=sys.stderr, flush=True)
    first = runs[0]
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "match_seconds": statistics.median(r["match_seconds"] for r in runs),
        "rss_mb": max(r["rss_mb"] for r in runs),
        "pairs": first["pairs"],
        "rows": first.get("rows"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--quick", action="store_true", help="every case at 2,000 rows, once")
    parser.add_argument("--exhaustive-max", type=int, default=20_000)
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    header = ["case", "n x n", "method", "wall s", "peak RSS MB",
              "cdist / this", "target", "identical"]  # fmt: skip
    table: list[list[str]] = []
    failures = 0
    with tempfile.TemporaryDirectory(prefix="matchq-bench-job-") as tmp:
        for case in args.cases.split(","):
            n, target = CASES[case]
            n = 2_000 if args.quick else n
            work = Path(tmp) / case.replace(" ", "_").replace(">", "").replace("=", "")
            work.mkdir()
            files = work / "file1.csv", work / "file2.csv"
            for path, rows in zip(files, synth.make_tables(n, n, seed=n), strict=True):
                synth.write_csv(path, rows)
            sample = args.exhaustive_max if n > args.exhaustive_max else 0
            cdist = median_child("cdist", case, files, work, 1, sample)
            engine = median_child("engine", case, files, work, repeats)
            job = run_jobs(case, files, repeats, work)
            checked = cdist["rows"] or n
            job_pairs = [p for p in job["pairs"] if p[0] < checked]
            engine_pairs = [p for p in engine["pairs"] if p[0] < checked]
            same = job_pairs == cdist["pairs"] and engine_pairs == cdist["pairs"]
            failures += not same
            verdict = ("yes" if same else "NO") + (f" (rows < {checked:,})" if checked < n else "")
            base = cdist["seconds"]
            label = "cdist" + (" (extrap.)" if checked < n else "")
            table.append([case, f"{n:,}", label, f"{base:.2f}",
                          f"{cdist['rss_mb']:,.0f}", "1.0x", "", ""])  # fmt: skip
            table.append([case, f"{n:,}", "engine (run_match)", f"{engine['seconds']:.2f}",
                          f"{engine['rss_mb']:,.0f}", f"{base / engine['seconds']:.1f}x",
                          "", verdict])  # fmt: skip
            table.append([case, f"{n:,}", "whole job (local stack)", f"{job['seconds']:.2f}",
                          f"{job['rss_mb']:,.0f}",
                          f"{base / job['seconds']:.1f}x", target, verdict])  # fmt: skip
            share = 100 * job["sample_seconds"] / job["seconds"]
            table.append([case, f"{n:,}", "  of it: summary's score sample",
                          f"{job['sample_seconds']:.2f}", "", f"{share:.1f} % of the job",
                          "", ""])  # fmt: skip
            if case == "weighted 4 maps":
                splink = run_splink(files, work, repeats)
                if splink is None:
                    table.append([case, f"{n:,}", "Splink (run make bench-peers)", "", "", "",
                                  "", ""])  # fmt: skip
                else:
                    for what, key in (("Splink predict()", "predict_seconds"),
                                      ("Splink pipeline", "seconds")):  # fmt: skip
                        table.append([case, f"{n:,}", what, f"{splink[key]:.2f}", "",
                                      f"{base / splink[key]:.1f}x", "", "recall < 1"])  # fmt: skip
                    table[-4][-2] += (
                        f" ({'met' if job['seconds'] < splink['predict_seconds'] else 'missed'})"
                    )
    widths = [max(len(h), *(len(r[k]) for r in table)) for k, h in enumerate(header)]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for line in table:
        print(" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)))
    print(f"\nmedians of {repeats} run(s); cdist / this = exhaustive cdist wall / this wall; "
          f"{os.cpu_count()} cores.")  # fmt: skip
    if failures:
        print(f"\n{failures} case(s) differ from the exhaustive search", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
