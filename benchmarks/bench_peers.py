"""Bench-only comparison of matchq's engine with two peer libraries: Splink and string_grouper.

Usage (in its own venv, see benchmarks/requirements-peers.txt):
    .venv-peers/bin/python benchmarks/bench_peers.py [--rows 50000] [--repeats 3] [--quick]

Data: `synth.make_tables(n, n, seed=n)` (as bench_engine.py): file1 and file2 of n person
records each, about 60 % of file2 rows being noisy copies of file1 rows (typos in first/last,
5 % of zips dropped, 5 % of cities changed, 10 % of file2 names written "Last First").

Every method runs in its own subprocess, `--repeats` times; "wall s" is the median of its
end-to-end time in that process (read both CSVs, prepare, match, pick the best pair per
file1 row; matchq also writes its JSON result files), "peak RSS MB" the largest ru_maxrss
of its runs (os.wait4), interpreter and imports included.

The reference is matchq's own result: `run_match` in match_mode "best" is exact (its pairs
are the exhaustive best match per file1 row at or above the threshold, which
bench_engine.py checks). "recall vs exact" is the fraction of those (file1 row, file2 row)
pairs that a peer also returns; "precision vs exact" the fraction of the peer's pairs that
are matchq's. Both are agreement with matchq's score, not with the (unknown) truth: a peer
that finds a real match matchq's score rejects (e.g. a swapped "Last First" name, which
`ratio` scores low) loses precision here. Under each table a note counts the misses where
the peer picked another file2 row with the same matchq score (an equally good tie), and
those where it picked a worse one that still reaches matchq's threshold.

Case A, "person records, 4 mappings" (bench_engine CASES["weighted 4 maps"]): first (ratio,
weight 1.0), last (ratio, 1.5), city exact (1.0), zip exact (0.5), threshold 80, best.
- Splink 4, DuckDB backend, link_only. Values are stripped and lower-cased (matchq
  normalises too), empty ones become NULL. Comparisons: JaroWinklerAtThresholds on first and
  on last (default levels 0.9 / 0.7), ExactMatch on city and on zip. Blocking rules for
  prediction: block_on("zip") OR block_on("substr(last, 1, 1)", "city"); every pair of
  matchq's scoring >= 80 has the same city (otherwise the score is at most 75), and the
  typos of synth never touch a first letter, so blocking loses almost none of them.
  Training: probability_two_random_records_match from the deterministic rule
  block_on("zip", "city") with recall 0.9; u by random sampling (seed 1, max_pairs from
  --splink-u-pairs, default 1e6 = Splink's default; the 1e7 its warning suggests gave the
  same pairs at 20,000 rows but cost 5 s and 1.5 GB more); m by EM blocked on
  block_on("first", "last") (trains city and zip), then on block_on("zip") (trains first
  and last). Then predict(threshold_match_probability=0.5).
  Splink's pairs: its best prediction per file1 row (highest match weight, lowest file2 row
  on ties) among those with match probability >= 0.5. Two rows: the whole pipeline (read,
  prepare, train, predict, best per row) and predict() alone (the trained model's
  prediction SQL run into a DuckDB table; same process, so same RSS). The note also gives
  the recall of all predictions >= 0.5, not only the best per row.

Case B, "names single column" (bench_engine CASES["name ratio>=80"]): name, ratio >= 80, best.
- string_grouper `match_strings(master=file2 names, duplicates=file1 names)`: tf-idf cosine
  on character 3-grams (its defaults: ignore case, regex cleanup, max_n_matches 20), with
  --sg-min-similarity (default 0.6; cosine is another score than ratio) and
  number_of_processes = all cores; its pairs are the most similar file2 row per file1 row.
- Splink is skipped on this case: a Fellegi-Sunter model over one column has nothing to
  train its m probabilities on (EM needs comparisons independent of the blocking rule, and
  every rule here would block on the compared column), so it would reduce to a hand-set
  threshold on one similarity.
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
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# bench_engine puts shared/ on sys.path (matchq without an install) and holds the cases.
from bench_engine import CASES, FILE_ID, ROOT, child_engine, child_main, fmt_time  # noqa: E402

CASE_A = "A. person records, 4 mappings"
CASE_B = "B. names single column"
ENGINE_CASE = {CASE_A: "weighted 4 maps", CASE_B: "name ratio>=80"}
SPLINK_COLS = ["first", "last", "city", "zip"]
SPLINK_THRESHOLD = 0.5


# --- child processes -------------------------------------------------------------------------


def child_matchq(case: str, file1: str, file2: str, out: str, _opt: str) -> dict[str, Any]:
    data = child_engine(ENGINE_CASE[case], file1, file2, out, "0")
    return {"seconds": data["seconds"], "pairs": data["pairs"]}


def child_splink(_case: str, file1: str, file2: str, _out: str, opt: str) -> dict[str, Any]:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("splink").setLevel(logging.ERROR)
    import numpy as np
    import pandas as pd
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    start = time.perf_counter()

    def load(path: str) -> pd.DataFrame:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, usecols=SPLINK_COLS)
        for col in SPLINK_COLS:
            values = df[col].str.strip().str.lower()
            df[col] = values.mask(values == "")  # empty -> NULL
        df.insert(0, "unique_id", np.arange(len(df), dtype=np.int64))
        return df

    df1, df2 = load(file1), load(file2)
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        comparisons=[
            cl.JaroWinklerAtThresholds("first"),
            cl.JaroWinklerAtThresholds("last"),
            cl.ExactMatch("city"),
            cl.ExactMatch("zip"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("zip"),
            block_on("substr(last, 1, 1)", "city"),
        ],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker([df1, df2], settings, db_api=DuckDBAPI(), set_up_basic_logging=False,
                    input_table_aliases=["file1", "file2"])  # fmt: skip
    linker.training.estimate_probability_two_random_records_match(
        [block_on("zip", "city")], recall=0.9
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=float(opt), seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("first", "last"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("zip"))
    predict_start = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=SPLINK_THRESHOLD)
    predict_seconds = time.perf_counter() - predict_start
    pred = predictions.as_pandas_dataframe()
    flip = (pred["source_dataset_l"] != "file1").to_numpy()
    ids_l, ids_r = pred["unique_id_l"].to_numpy(), pred["unique_id_r"].to_numpy()
    frame = pd.DataFrame({
        "i": np.where(flip, ids_r, ids_l).astype(np.int64),
        "j": np.where(flip, ids_l, ids_r).astype(np.int64),
        "w": pred["match_weight"].to_numpy(),
    })  # fmt: skip
    best = frame.sort_values(["i", "w", "j"], ascending=[True, False, True])
    best = best.drop_duplicates("i")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "predict_seconds": predict_seconds,
            "pairs": best[["i", "j"]].to_numpy().tolist(),
            "all_pairs": frame[["i", "j"]].to_numpy().tolist()}  # fmt: skip


def child_sg(_case: str, file1: str, file2: str, _out: str, opt: str) -> dict[str, Any]:
    import warnings

    warnings.filterwarnings("ignore")
    import pandas as pd
    from string_grouper import match_strings

    start = time.perf_counter()
    names1 = pd.read_csv(file1, dtype=str, keep_default_na=False, usecols=["name"])["name"]
    names2 = pd.read_csv(file2, dtype=str, keep_default_na=False, usecols=["name"])["name"]
    matches = match_strings(names2, names1, min_similarity=float(opt),
                            number_of_processes=os.cpu_count() or 1)  # fmt: skip
    # left = master (file2), right = duplicates (file1): best file2 row per file1 row.
    frame = pd.DataFrame({"i": matches["right_index"], "j": matches["left_index"],
                          "s": matches["similarity"]})  # fmt: skip
    best = frame.sort_values(["i", "s", "j"], ascending=[True, False, True])
    best = best.drop_duplicates("i")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "pairs": best[["i", "j"]].to_numpy().tolist()}


CHILDREN = {"matchq": child_matchq, "splink": child_splink, "string_grouper": child_sg}


# --- parent ------------------------------------------------------------------------------------


def run_child(method: str, case: str, file1: Path, file2: Path, out: Path, opt: str) -> dict:
    """Run one method in a subprocess; adds its peak RSS (MiB) from os.wait4."""
    result_file = out / "result.json"
    result_file.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", method, case, str(file1), str(file2), str(out),
         str(result_file), opt],
        cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{method} failed on {case} (exit {code})")
    data = json.loads(result_file.read_text(encoding="utf-8"))
    data["rss_mb"] = usage.ru_maxrss / 1024
    return data


def runs_of(method: str, case: str, file1: Path, file2: Path, tmp: Path, opt: str,
            repeats: int) -> list[dict[str, Any]]:  # fmt: skip
    out = tmp / f"out_{method}"
    out.mkdir(exist_ok=True)
    runs = []
    for _ in range(repeats):
        runs.append(run_child(method, case, file1, file2, out, opt))
        print(f"  {case} {method}: {runs[-1]['seconds']:.2f} s, "
              f"{runs[-1]['rss_mb']:,.0f} MB", file=sys.stderr, flush=True)  # fmt: skip
    return runs


class Scorer:
    """matchq's score of any (file1 row, file2 row) pair, to tell ties from misses."""

    def __init__(self, case: str, rows1: list[list[str]], rows2: list[list[str]]) -> None:
        from matchq.config import MatchConfig
        from matchq.matching.normalize import compared_value

        config = MatchConfig(file1=FILE_ID, file2=FILE_ID, **CASES[ENGINE_CASE[case]])
        self.maps, self.threshold = config.mappings, float(config.threshold)
        header = rows1[0]
        self.cols = []
        for m in self.maps:
            k1, k2 = header.index(m.file1_col), rows2[0].index(m.file2_col)
            norm = m.use_normalization
            self.cols.append(([compared_value(r[k1], norm) for r in rows1[1:]],
                              [compared_value(r[k2], norm) for r in rows2[1:]]))  # fmt: skip

    def __call__(self, i: int, j: int) -> float:
        from matchq.matching.scorers import scalar_score

        num = den = 0.0
        for m, (c1, c2) in zip(self.maps, self.cols, strict=True):
            a, b = c1[i], c2[j]
            if a is None or b is None:
                continue
            if m.match_type.value == "exact":
                s = 100.0 if a == b else 0.0
            else:
                assert m.effective_scorer is not None  # a fuzzy mapping has a scorer
                s = scalar_score(m.effective_scorer, a, b)
            num += m.weight * s
            den += m.weight
        return round(num / den, 4) if den else 0.0


def compare(exact: list[list[Any]], pairs: list[list[Any]], scorer: Scorer) -> dict[str, Any]:
    ref = {(int(p[0]), int(p[1])) for p in exact}
    ref_score = {int(p[0]): round(float(p[2]), 4) for p in exact}
    got = {(int(p[0]), int(p[1])) for p in pairs}
    got_row = {int(p[0]): int(p[1]) for p in pairs}
    hit = len(ref & got)
    ties = above = 0
    for i, _ in ref - got:
        if i in got_row:
            score = scorer(i, got_row[i])
            ties += score == ref_score[i]
            above += scorer.threshold <= score < ref_score[i]
    return {"recall": hit / len(ref) if ref else 1.0, "precision": hit / len(got) if got else 1.0,
            "misses": len(ref) - hit, "ties": ties, "above": above}  # fmt: skip


def table(rows: list[list[str]]) -> str:
    header = ["method", "wall s (median)", "peak RSS MB", "pairs", "recall vs exact",
              "precision vs exact"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(
        ["---"] + ["---:"] * (len(header) - 1)) + "|"]  # fmt: skip
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def row(name: str, seconds: float, rss: float, npairs: int, cmp: dict | None) -> list[str]:
    rec = "1.000 (ref.)" if cmp is None else f"{cmp['recall']:.3f}"
    prec = "1.000 (ref.)" if cmp is None else f"{cmp['precision']:.3f}"
    return [name, fmt_time(seconds), f"{rss:,.0f}", f"{npairs:,}", rec, prec]


def versions() -> list[str]:
    names = ["matchq", "splink", "duckdb", "sqlglot", "string_grouper", "sparse-dot-topn",
             "sp_matmul_rs", "rapidfuzz", "numpy", "pandas"]  # fmt: skip
    out = [f"python {sys.version.split()[0]}"]
    for name in names:
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name} (not installed)")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="rows in each file")
    parser.add_argument("--repeats", type=int, default=3, help="runs per method (median)")
    parser.add_argument("--quick", action="store_true", help="5,000 rows")
    parser.add_argument("--sg-min-similarity", default="0.6",
                        help="string_grouper's min_similarity (cosine)")  # fmt: skip
    parser.add_argument("--splink-u-pairs", default="1e6",
                        help="Splink's max_pairs for u estimation by random sampling")  # fmt: skip
    parser.add_argument("--child", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_main(args.child, CHILDREN)

    from synth import make_tables, write_csv

    n = 5000 if args.quick else args.rows
    repeats = max(1, args.repeats)
    failures = 0
    print(f"# matchq vs Splink and string_grouper: n1 = n2 = {n:,}, "
          f"{repeats} run(s) per method, {os.cpu_count()} cores\n")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="matchq-peers-") as tmp_name:
        tmp = Path(tmp_name)
        file1, file2 = tmp / "f1.csv", tmp / "f2.csv"
        rows1, rows2 = make_tables(n, n, seed=n)
        write_csv(file1, rows1)
        write_csv(file2, rows2)
        peers = {
            CASE_A: [("splink", args.splink_u_pairs)],
            CASE_B: [("string_grouper", args.sg_min_similarity)],
        }
        for case in (CASE_A, CASE_B):
            runs = runs_of("matchq", case, file1, file2, tmp, "", repeats)
            exact = runs[0]["pairs"]
            scorer = Scorer(case, rows1, rows2)
            lines = [row(f"matchq run_match, {ENGINE_CASE[case]!r} (exact)",
                         statistics.median(r["seconds"] for r in runs),
                         max(r["rss_mb"] for r in runs), len(exact), None)]  # fmt: skip
            notes = []
            for method, opt in peers[case]:
                try:
                    runs = runs_of(method, case, file1, file2, tmp, opt, repeats)
                except RuntimeError as error:
                    failures += 1
                    lines.append([method, "failed", "", "", "", ""])
                    notes.append(f"- {error}")
                    continue
                rss = max(r["rss_mb"] for r in runs)
                cmp = compare(exact, runs[0]["pairs"], scorer)
                npairs = len(runs[0]["pairs"])
                notes.append(f"- {method}: {cmp['misses']:,} of matchq's {len(exact):,} pairs "
                             f"missed; for {cmp['ties']:,} of them the peer's file2 row is a tie "
                             f"(same matchq score), for {cmp['above']:,} a worse one still "
                             f">= {scorer.threshold:g}")  # fmt: skip
                if method == "splink":
                    lines.append(row("splink pipeline (prepare + train + predict)",
                                     statistics.median(r["seconds"] for r in runs), rss,
                                     npairs, cmp))  # fmt: skip
                    lines.append(row("splink predict() alone (trained model)",
                                     statistics.median(r["predict_seconds"] for r in runs), rss,
                                     npairs, cmp))  # fmt: skip
                    every = compare(exact, runs[0]["all_pairs"], scorer)
                    notes.append(f"- splink: best prediction per file1 row with match "
                                 f"probability >= {SPLINK_THRESHOLD}; all "
                                 f"{len(runs[0]['all_pairs']):,} predictions >= "
                                 f"{SPLINK_THRESHOLD} contain {every['recall']:.3f} of matchq's "
                                 f"pairs")  # fmt: skip
                else:
                    lines.append(row(f"string_grouper match_strings, min_similarity={opt}",
                                     statistics.median(r["seconds"] for r in runs), rss,
                                     npairs, cmp))  # fmt: skip
                    notes.append(f"- string_grouper: tf-idf cosine on 3-grams, "
                                 f"min_similarity={opt}, best (most similar) file2 row per "
                                 f"file1 row")  # fmt: skip
            if case == CASE_B:
                notes.append("- splink: skipped on one column (a Fellegi-Sunter model has no "
                             "second comparison to train m on; see the docstring)")  # fmt: skip
            print(f"## {case}\n\n{table(lines)}\n")
            print("\n".join(notes) + "\n")
    print("Versions: " + ", ".join(versions()))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
