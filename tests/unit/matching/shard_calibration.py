"""Calibration of the shard work estimate (matching/shards.py), not a test.

Usage: .venv/bin/python -m tests.unit.matching.shard_calibration [--n 200000] [--sample 1000]

On synthetic person names (benchmarks/synth.py, n rows in each file) it times
`match_rows` on `--sample` file1 rows (one chunk) for cases that exercise each term of the
estimate, and prints per case the measured and estimated seconds per file1 row and the
constant that would make the estimate exact:

- a selective exact join (ROW_SECONDS: the fixed cost per row),
- no pruning at threshold 0 on a small file2 (PAIR_SECONDS: per row pair and mapping),
- each scorer as the driver at thresholds 60, 80 and 90 (SEARCH_SECONDS per value pair,
  for the three bands of cut-offs).

Set the constants to about the largest value printed per term (an estimate that errs
long only makes shards smaller).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from matchq.config import MatchConfig
from matchq.formats import Table
from matchq.matching import prepare, shards
from matchq.matching.pipeline import match_rows

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from synth import make_tables

FILE_ID = "file_12345678-1234-4123-8123-123456789012"


def _tables(n1: int, n2: int) -> tuple[Table, Table]:
    rows1, rows2 = make_tables(n1, n2, seed=5)

    def table(rows: list[list[str]], name: str) -> Table:
        cols = {c: [r[k] or None for r in rows[1:]] for k, c in enumerate(rows[0])}
        return Table(name, rows[0], cols, len(rows) - 1)

    return table(rows1, "a.csv"), table(rows2, "b.csv")


def _measure(spec: dict[str, Any], tables: tuple[Table, Table], sample: int) -> tuple[float, float]:
    config = MatchConfig(file1=FILE_ID, file2=FILE_ID, **spec)
    job = prepare(config, *tables)
    rows = min(sample, job.rows1)
    started = time.perf_counter()
    match_rows(job, 0, rows, chunk_rows=rows)
    measured = (time.perf_counter() - started) / rows
    return measured, shards.estimate_row_seconds(job)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--sample", type=int, default=1000)
    args = parser.parse_args()
    big = _tables(args.n, args.n)
    small = _tables(2000, 2000)
    cases: list[tuple[str, dict[str, Any], tuple[Table, Table], str]] = [
        ("exact join on email", {"mappings": [
            {"file1_col": "email", "file2_col": "email", "match_type": "exact"}],
            "threshold": 100}, big, "row"),
        ("threshold 0, 2 mappings", {"mappings": [
            {"file1_col": "first", "file2_col": "first", "scorer": "ratio"},
            {"file1_col": "city", "file2_col": "city", "match_type": "exact"}],
            "threshold": 0}, small, "pair"),
    ]  # fmt: skip
    for scorer in ["ratio", "token_sort_ratio", "jaro_winkler", "partial_ratio",
                   "token_set_ratio", "WRatio"]:  # fmt: skip
        for threshold in (60, 80, 90):
            spec = {"mappings": [{"file1_col": "name", "file2_col": "name", "scorer": scorer}],
                    "threshold": threshold}  # fmt: skip
            cases.append((f"{scorer} >= {threshold}", spec, big, "search"))
    print(f"{'case':28} {'measured s/row':>15} {'estimate s/row':>15}  implied constant")
    for name, spec, tables, term in cases:
        measured, estimate = _measure(spec, tables, args.sample)
        config = MatchConfig(file1=FILE_ID, file2=FILE_ID, **spec)
        job = prepare(config, *tables)
        rest = measured - shards.ROW_SECONDS
        if term == "row":
            implied = f"ROW_SECONDS ~ {measured:.2e}"
        elif term == "pair":  # ratio's own share from SEARCH_SECONDS (cut-off below 70)
            rest -= job.rows2 * shards.SEARCH_SECONDS["indel"][0]
            implied = f"PAIR_SECONDS ~ {rest / (job.rows2 * len(job.plans)):.2e}"
        else:
            plan = job.plans[0]
            d1 = len(np.unique(plan.codes1[plan.codes1 >= 0]))
            d2 = len(np.unique(plan.codes2[plan.codes2 >= 0]))
            implied = f"SEARCH_SECONDS ~ {rest / (min(1.0, d1 / job.rows1) * d2):.2e}"
        print(f"{name:28} {measured:15.2e} {estimate:15.2e}  {implied}", flush=True)


if __name__ == "__main__":
    main()
