"""Benchmark of the matching engine against brute force.

Usage: .venv/bin/python benchmarks/bench_engine.py [--sizes 10000,50000,100000] [--quick]
       .venv/bin/python benchmarks/bench_engine.py --growth   (one column, 100k to 1M rows)

For each size n (file1 and file2 both n synthetic person records, about 60 % of file2
being noisy copies of file1 rows) and each case, every method runs in its own subprocess
(peak RSS from os.wait4; the engine's is taken when run_match returns, before the
benchmark reads the results back); the table shows medians over --repeats runs:

- engine: `run_match` end to end (read CSVs, match, write JSON results); "match s" is its
  normalise + match phase alone;
- cdist: exhaustive chunked `rapidfuzz.process.cdist` (workers=-1, float64, score_cutoff
  when one mapping) over every pair, same readers and normalisation, best per row; above
  --exhaustive-max rows it runs on the first --exhaustive-max file1 rows against all of
  file2 and its per-row loop is extrapolated (normalising both files counts once;
  identity is checked on those rows);
- pandas: row-by-row `DataFrame.apply` of the same pair score on a sample of file1 rows,
  extrapolated to n x n.

The engine's matched pairs must equal the exhaustive search's (rows identical, scores
identical to the 4 decimals written); the script exits non-zero otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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

FILE_ID = "file_12345678-1234-4123-8123-123456789012"
CASES: dict[str, dict[str, Any]] = {
    "name ratio>=80": {
        "mappings": [{"file1_col": "name", "file2_col": "name", "scorer": "ratio"}],
        "threshold": 80,
        "match_mode": "best",
    },
    # threshold 90: most names have tau <= 3, the signature search's ground
    "name ratio>=90": {
        "mappings": [{"file1_col": "name", "file2_col": "name", "scorer": "ratio"}],
        "threshold": 90,
        "match_mode": "best",
    },
    # Jaro-Winkler >= 90: its count bound (docs/matching.md)
    "name jaro_winkler>=90": {
        "mappings": [{"file1_col": "name", "file2_col": "name", "scorer": "jaro_winkler"}],
        "threshold": 90,
        "match_mode": "best",
    },
    "weighted 4 maps": {
        "mappings": [
            {"file1_col": "first", "file2_col": "first", "scorer": "ratio", "weight": 1.0},
            {"file1_col": "last", "file2_col": "last", "weight": 1.5},
            {"file1_col": "city", "file2_col": "city", "match_type": "exact", "weight": 1.0},
            {"file1_col": "zip", "file2_col": "zip", "match_type": "exact", "weight": 0.5},
        ],
        "threshold": 80,
        "match_mode": "best",
    },
    "6 fuzzy >=50": {
        "mappings": [
            {"file1_col": c, "file2_col": c, "scorer": scorer}
            for c, scorer in [
                ("name", "token_sort_ratio"),
                ("first", "ratio"),
                ("last", "ratio"),
                ("city", "ratio"),
                ("zip", "ratio"),
                ("email", "ratio"),
            ]
        ],
        "threshold": 50,
        "match_mode": "best",
    },
}
# Cases run at their own sizes instead of --sizes: nothing prunes at threshold 50 over six
# fuzzy columns, so every pair is scored (n x n x 6); --quick runs every case at 2,000.
CASE_SIZES: dict[str, list[int]] = {"6 fuzzy >=50": [5000]}
# --growth: one column up to a million rows each side (the engine on one worker)
GROWTH_CASE = "name ratio>=80"
GROWTH_SIZES = [100_000, 300_000, 1_000_000]
GROWTH_EXHAUSTIVE = 5_000


def _config(case: str) -> Any:
    from matchq.config import MatchConfig

    return MatchConfig(file1=FILE_ID, file2=FILE_ID, **CASES[case])


# --- child processes -------------------------------------------------------------------------


def child_engine(case: str, file1: str, file2: str, out: str, _rows: str) -> dict[str, Any]:
    from matchq.matching import run_match
    from matchq.matching.pipeline import Reporter

    Reporter.INTERVAL = 0.0  # record every phase change
    marks: dict[str, float] = {}

    def progress(_: float, message: str) -> None:
        for key in ("Preparing", "Writing"):
            if message.startswith(key):
                marks.setdefault(key, time.perf_counter())

    start = time.perf_counter()
    summary = run_match(_config(case), Path(file1), Path(file2), Path(out),
                        file1_name="file1.csv", file2_name="file2.csv",
                        progress=progress)  # fmt: skip
    seconds = time.perf_counter() - start
    # the engine's peak, before this process reads the results back
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    matched = json.loads((Path(out) / "matched_results.json").read_text(encoding="utf-8"))
    pairs = [[m["file1_row"], m["file2_row"], m["score"]] for m in matched]
    return {"seconds": seconds, "match_seconds": marks["Writing"] - marks["Preparing"],
            "matched": summary.matched, "pairs": pairs, "engine_rss_mb": rss_mb}  # fmt: skip


def _load(case: str, file1: str, file2: str) -> tuple[Any, list[Any], list[Any]]:
    from matchq.formats import read_table

    config = _config(case)
    t1 = read_table(Path(file1), "file1.csv", config.columns_needed(1))
    t2 = read_table(Path(file2), "file2.csv", config.columns_needed(2))
    return config, [t1.columns[m.file1_col] for m in config.mappings], [
        t2.columns[m.file2_col] for m in config.mappings]  # fmt: skip


def child_cdist(case: str, file1: str, file2: str, _out: str, rows: str) -> dict[str, Any]:
    import numpy as np
    from rapidfuzz import process

    from matchq.matching.normalize import compared_values
    from matchq.matching.scorers import KERNELS

    start = time.perf_counter()
    config, raw1, raw2 = _load(case, file1, file2)
    match_start = time.perf_counter()
    maps = config.mappings
    vals1 = [compared_values(v, m.use_normalization) for v, m in zip(raw1, maps, strict=True)]
    vals2 = [compared_values(v, m.use_normalization) for v, m in zip(raw2, maps, strict=True)]
    n_all, n2 = len(vals1[0]), len(vals2[0])
    n1 = min(n_all, int(rows)) if int(rows) > 0 else n_all  # first n1 file1 rows only
    threshold = float(config.threshold)
    cutoff = threshold - 1e-3 if len(maps) == 1 and threshold > 1e-3 else None
    empty1 = [np.array([v is None for v in vs]) for vs in vals1]
    empty2 = [np.array([v is None for v in vs]) for vs in vals2]
    codes: list[tuple[Any, Any]] = []
    for m, a, b in zip(maps, vals1, vals2, strict=True):
        if m.match_type.value == "exact":
            lookup: dict[str, int] = {}
            ca = np.array([lookup.setdefault(v, len(lookup)) if v else -1 for v in a])
            cb = np.array([lookup.setdefault(v, len(lookup)) if v else -2 for v in b])
            codes.append((ca, cb))
        else:
            codes.append((None, None))
    fill1 = [[v if v is not None else "" for v in vs] for vs in vals1]
    fill2 = [[v if v is not None else "" for v in vs] for vs in vals2]
    step = max(1, 10_000_000 // n2)
    pairs: list[list[Any]] = []
    loop_start = time.perf_counter()  # what comes before is paid once, not per file1 row
    single = len(maps) == 1 and maps[0].weight == 1.0 and codes[0][0] is None
    if single and not (any(empty1[0][:n1]) or any(empty2[0])):
        # One fuzzy mapping of weight 1, no empty value: the score is the scorer's value.
        kernel = KERNELS[maps[0].effective_scorer]
        for lo in range(0, n1, step):
            hi = min(n1, lo + step)
            s = process.cdist(fill1[0][lo:hi], fill2[0], scorer=kernel.func, processor=None,
                              score_cutoff=None if cutoff is None else cutoff / kernel.scale,
                              dtype=np.float64, workers=-1)  # fmt: skip
            best = np.argmax(s, axis=1)
            best_score = s[np.arange(hi - lo), best] * kernel.scale
            for r in np.flatnonzero(best_score >= threshold).tolist():
                pairs.append([lo + r, int(best[r]), round(float(best_score[r]), 4)])
        n1_done = n1
    else:
        n1_done = 0
    for lo in range(n1_done, n1, step):
        hi = min(n1, lo + step)
        num: Any = 0.0
        den: Any = 0.0
        for k, m in enumerate(maps):
            if codes[k][0] is not None:
                s = (codes[k][0][lo:hi, None] == codes[k][1][None, :]) * 100.0
            else:
                kernel = KERNELS[m.effective_scorer]
                s = process.cdist(fill1[k][lo:hi], fill2[k], scorer=kernel.func, processor=None,
                                  score_cutoff=None if cutoff is None else cutoff / kernel.scale,
                                  dtype=np.float64, workers=-1)  # fmt: skip
                if cutoff is not None:
                    s[s * kernel.scale < threshold] = 0.0
                if kernel.scale != 1.0:
                    s *= kernel.scale
            w = float(m.weight)
            if empty1[k][lo:hi].any() or empty2[k].any():  # 0.0 added where not comparable
                comparable = ~empty1[k][lo:hi, None] & ~empty2[k][None, :]
                num = num + np.where(comparable, w * s, 0.0)
                den = den + np.where(comparable, w, 0.0)
            else:
                num = num + w * s
                den = den + w
        if np.ndim(den) == 0:
            score = num / den
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                score = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
        best = np.argmax(score, axis=1)
        best_score = score[np.arange(hi - lo), best]
        for r in np.flatnonzero(best_score >= threshold).tolist():
            pairs.append([lo + r, int(best[r]), round(float(best_score[r]), 4)])
    end = time.perf_counter()
    loop = (end - loop_start) * n_all / n1  # extrapolated to all file1 rows when sampled
    return {"seconds": loop_start - start + loop, "match_seconds": loop_start - match_start + loop,
            "matched": len(pairs), "pairs": pairs, "rows": n1}  # fmt: skip


def child_pandas(case: str, file1: str, file2: str, _out: str, _rows: str) -> dict[str, Any]:
    import pandas as pd

    from matchq.matching.normalize import compared_value
    from matchq.matching.scorers import scalar_score

    config, raw1, raw2 = _load(case, file1, file2)
    maps = config.mappings
    df2 = pd.DataFrame({f"m{k}": col for k, col in enumerate(raw2)})
    n1, n2 = len(raw1[0]), len(df2)

    def pair_score(row1: list[str | None], row2: Any) -> float:
        num = den = 0.0
        for k, m in enumerate(maps):
            a = compared_value(row1[k], m.use_normalization)
            value = row2[f"m{k}"]
            b = compared_value(value if isinstance(value, str) else None, m.use_normalization)
            if a is None or b is None:
                continue
            if m.match_type.value == "exact":
                s = 100.0 if a == b else 0.0
            else:
                s = scalar_score(m.effective_scorer, a, b)
            num += m.weight * s
            den += m.weight
        return num / den if den else 0.0

    start = time.perf_counter()
    done = 0
    for i in range(n1):
        row1 = [col[i] for col in raw1]
        scores = df2.apply(lambda r, row1=row1: pair_score(row1, r), axis=1)
        scores.idxmax()
        done += 1
        if time.perf_counter() - start > 4.0:
            break
    per_row = (time.perf_counter() - start) / done
    return {"seconds": per_row * n1, "match_seconds": per_row * n1, "matched": None,
            "pairs": None, "sampled_rows": done, "extrapolated": True, "n2": n2}  # fmt: skip


CHILDREN = {"engine": child_engine, "cdist": child_cdist, "pandas": child_pandas}


# --- parent ------------------------------------------------------------------------------------


def run_child(
    method: str, case: str, file1: Path, file2: Path, out: Path, rows: int = 0
) -> dict[str, Any]:
    """Run one method in a subprocess; adds its peak RSS (MiB) from os.wait4."""
    result_file = out / "result.json"
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", method, case, str(file1), str(file2), str(out),
         str(result_file), str(rows)],
        cwd=ROOT,
    )  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{method} failed on {case} (exit {proc.returncode})")
    data = json.loads(result_file.read_text(encoding="utf-8"))
    data["rss_mb"] = data.get("engine_rss_mb", usage.ru_maxrss / 1024)
    return data


def fmt_time(seconds: float) -> str:
    return f"{seconds:,.2f}" if seconds < 100 else f"{seconds:,.0f}"


def child_main(child: list[str], children: dict[str, Any]) -> int:
    """One method in its subprocess (--child METHOD CASE FILE1 FILE2 OUT RESULT OPTION): its
    figures as JSON into RESULT."""
    method, case, file1, file2, out, result_file, option = child
    data = children[method](case, file1, file2, out, option)
    Path(result_file).write_text(json.dumps(data), encoding="utf-8")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000,100000")
    parser.add_argument("--quick", action="store_true", help="one size of 2,000 rows")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs per method (median); sizes >= 50,000 run once")  # fmt: skip
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--no-pandas", action="store_true")
    parser.add_argument(
        "--exhaustive-max",
        type=int,
        default=20_000,
        help="above this size the exhaustive search runs on this many file1 "
        "rows and is extrapolated (identity checked on those rows)",
    )
    parser.add_argument(
        "--growth",
        action="store_true",
        help=f"the growth table: {GROWTH_CASE!r} at {', '.join(f'{n:,}' for n in GROWTH_SIZES)} "
        f"rows, the exhaustive search on {GROWTH_EXHAUSTIVE:,} file1 rows",
    )
    parser.add_argument("--child", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_main(args.child, CHILDREN)
    if args.growth:
        args.cases, args.no_pandas, args.repeats = GROWTH_CASE, True, 1
        args.sizes = ",".join(map(str, GROWTH_SIZES))
        args.exhaustive_max = GROWTH_EXHAUSTIVE

    from synth import make_tables, write_csv

    cases = args.cases.split(",")
    default_sizes = [2000] if args.quick else [int(s) for s in args.sizes.split(",")]

    def sizes_of(case: str) -> list[int]:
        return default_sizes if args.quick else CASE_SIZES.get(case, default_sizes)

    sizes = sorted({n for case in cases for n in sizes_of(case)})
    methods = ["engine", "cdist"] + ([] if args.no_pandas else ["pandas"])
    rows: list[list[str]] = []
    failures = 0
    with tempfile.TemporaryDirectory(prefix="matchq-bench-") as tmp:
        for n in sizes:
            file1, file2 = Path(tmp) / f"f1_{n}.csv", Path(tmp) / f"f2_{n}.csv"
            rows1, rows2 = make_tables(n, n, seed=n)
            write_csv(file1, rows1)
            write_csv(file2, rows2)
            repeats = args.repeats if n < 50_000 else 1
            for case in cases:
                if n not in sizes_of(case):
                    continue
                results: dict[str, dict[str, Any]] = {}
                for method in methods:
                    runs = []
                    for _ in range(1 if method == "pandas" else repeats):
                        out = Path(tmp) / f"out_{method}"
                        out.mkdir(exist_ok=True)
                        sample = args.exhaustive_max if n > args.exhaustive_max else 0
                        runs.append(
                            run_child(
                                method, case, file1, file2, out, sample if method == "cdist" else 0
                            )
                        )
                        print(f"  {case} n={n:,} {method}: {runs[-1]['seconds']:.2f} s",
                              file=sys.stderr, flush=True)  # fmt: skip
                    results[method] = {
                        "seconds": statistics.median(r["seconds"] for r in runs),
                        "match_seconds": statistics.median(r["match_seconds"] for r in runs),
                        "rss_mb": max(r["rss_mb"] for r in runs),
                        "pairs": runs[0]["pairs"], "matched": runs[0]["matched"],
                        "runs": len(runs), "rows": runs[0].get("rows"),
                    }  # fmt: skip
                engine_pairs = results["engine"]["pairs"]
                checked = results["cdist"]["rows"]
                if checked < n:  # sampled exhaustive search: compare those file1 rows
                    engine_pairs = [p for p in engine_pairs if p[0] < checked]
                    results["engine"]["checked"] = f" (rows < {checked:,})"
                identical = engine_pairs == results["cdist"]["pairs"]
                failures += not identical
                base = results["cdist"]["match_seconds"]
                for method in methods:
                    r = results[method]
                    rows.append([
                        case, f"{n:,}", method + (" (extrap.)" if method == "pandas" or (
                            method == "cdist" and r["rows"] < n) else ""),
                        str(r["runs"]), fmt_time(r["seconds"]), fmt_time(r["match_seconds"]),
                        f"{n * n / r['match_seconds'] / 1e6:,.1f}", f"{r['rss_mb']:,.0f}",
                        f"{base / results['engine']['match_seconds']:.1f}x"
                        if method == "engine" else "",
                        f"{r['match_seconds'] / results['engine']['match_seconds']:,.0f}x"
                        if method == "pandas" else "",
                        "" if r["matched"] is None or (r.get("rows") or n) < n
                        else f"{r['matched']:,}",
                        (("yes" if identical else "NO") + r.get("checked", ""))
                        if method == "engine" else "",
                    ])  # fmt: skip
    header = ["case", "n x n", "method", "runs", "total s", "match s", "Mpairs/s",
              "peak RSS MB", "vs cdist", "pandas/engine", "matched", "identical"]  # fmt: skip
    widths = [max(len(h), *(len(r[k]) for r in rows)) for k, h in enumerate(header)]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for line in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)))
    print("\nmatch s: normalise + match phase (medians); Mpairs/s = n*n / match s; "
          "vs cdist = exhaustive cdist match s / engine match s.")  # fmt: skip
    if failures:
        print(f"\n{failures} case(s) differ from the exhaustive search", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
