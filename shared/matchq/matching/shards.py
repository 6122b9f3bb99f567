"""Shards: one job matched by several workers, each on a range of file1 rows, then merged.

1. The coordinator reads both files once and prepares the job (`prepare_files`), stores it
   as one file (`save_prepared`) and splits file1 into row ranges (`plan_shards`).
2. Each worker loads the prepared job (`load_prepared`) and matches its range against all
   of file2 (`run_shard`), chunk by chunk as `run_match` does, into a partial result file.
3. The merger reads the partial results in shard order, selects under the match mode (the
   global greedy of one_to_one runs here) and writes the result files with run_match's own
   writing code (`merge_shards`): the files equal run_match's byte for byte.

Every file here is a numpy `.npz` archive read with `allow_pickle=False`: numeric arrays,
strings as UTF-8 bytes with offsets, metadata as one JSON member. docs/matching.md,
"Shards", has the formats and the work estimate behind `plan_shards`.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from matchq.config import MatchConfig, MatchMode, Scorer
from matchq.matching import pairs
from matchq.matching.bounds import EPS, Tick
from matchq.matching.candidates import DRIVER_MIN_CUT
from matchq.matching.pairs import ChunkResult
from matchq.matching.pipeline import (
    DEFAULT_CHUNK_ROWS,
    MatchSummary,
    Reporter,
    match_rows,
    read_tables,
    removed_on_error,
    write_results,
)
from matchq.matching.plan import Plan, PreparedJob, object_array, prepare
from matchq.matching.scorers import KERNELS, RATIO_KERNEL, SCALAR, Kernel
from matchq.matching.selection import select

PREPARED_FORMAT = "matchq-prepared/1"
PART_FORMAT = "matchq-shard-part/1"

# The work estimate of plan_shards (docs/matching.md, "Shards"). Seconds per value pair
# the driver's batched search scores, survivors' verification included, for driver
# cut-offs below 70, from 70 to 85 and from 85 on; measured with
# tests/unit/matching/shard_calibration.py on 200k x 200k synthetic names, 2 vCPUs
# (rapidfuzz uses all of them), rounded up; Jaro-Winkler's raised by half since a whole
# 5000-row chunk measured 1.9e-8 at cut-off 90. Against whole 5000-row shards of that job
# the estimate was 1.9x (ratio >= 80) and 3.8x (token_sort_ratio >= 85) too long, and
# 0.75x (Jaro-Winkler >= 90, before the raise) too short.
SEARCH_SECONDS: dict[str, tuple[float, float, float]] = {
    "indel": (1.3e-8, 6.5e-9, 4.5e-9),  # ratio, and token_sort_ratio on pre-sorted tokens
    Scorer.RATIO.value: (1.3e-8, 6.5e-9, 4.5e-9),
    Scorer.TOKEN_SORT_RATIO.value: (3e-8, 1.5e-8, 1e-8),  # values rapidfuzz must sort: 2x
    Scorer.JARO_WINKLER.value: (2.4e-7, 2.7e-8, 2.1e-8),
    Scorer.PARTIAL_RATIO.value: (3e-7, 3.5e-7, 4.2e-7),
    Scorer.TOKEN_SET_RATIO.value: (3.1e-7, 4.9e-7, 4.9e-7),
    Scorer.WRATIO.value: (6.7e-7, 6.9e-7, 6.9e-7),
}
PAIR_SECONDS = 3e-7  # a row pair verified on one mapping, besides its scorer's own cost
ROW_SECONDS = 2e-5  # fixed cost per file1 row (measured 1.6e-5 on a selective exact join)
DEFAULT_TARGET_SECONDS = 180.0  # a shard's estimated work at most (Lambda: 900 s at most)
MIN_SHARD_SECONDS = 10.0  # a shard's estimated work at least: its fixed cost is ~1 s
SPLIT_MIN_SECONDS = 30.0  # a job estimated within this stays one shard (a split costs ~5 s)


# --- strings and integers in npz members -----------------------------------------------------


def _pack_strings(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Strings as one UTF-8 buffer and their offsets in characters (exact for any str:
    lone surrogates pass, NULs stay; numpy's fixed-width unicode drops trailing NULs)."""
    items = values.tolist()
    data = "".join(items).encode("utf-8", "surrogatepass")
    offsets = np.zeros(len(items) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, items), np.int64, len(items)), out=offsets[1:])
    return np.frombuffer(data, np.uint8), offsets


def _unpack_strings(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    text = data.tobytes().decode("utf-8", "surrogatepass")
    bounds = offsets.tolist()
    return object_array([text[a:b] for a, b in itertools.pairwise(bounds)])


def _small_ints(values: np.ndarray) -> np.ndarray:
    """int64 values as int32 when they fit (halves the file); `_int64` restores them."""
    if not len(values) or (values.min() >= -(2**31) and values.max() < 2**31):
        return values.astype(np.int32)
    return values


def _int64(values: np.ndarray) -> np.ndarray:
    return values.astype(np.int64, copy=False)


def _meta(data: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(json.dumps(data).encode("utf-8"), np.uint8)


def _read_meta(archive: Any, fmt: str, path: Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads(archive["meta"].tobytes().decode("utf-8"))
    if meta.get("format") != fmt:
        raise ValueError(f"{path}: not a {fmt} file (format {meta.get('format')!r})")
    return meta


@contextmanager
def _atomic(path: Path) -> Iterator[IO[bytes]]:
    """A file written under a temporary name and renamed to `path` once complete; removed
    on any exception, so `path` is either absent or whole."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as handle:
            yield handle
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# --- the prepared job ------------------------------------------------------------------------

_SCORER_OF = {id(func): scorer for scorer, func in SCALAR.items()}


def _kernel_for(scorer: Scorer, presorted: bool) -> Kernel:
    return RATIO_KERNEL if presorted else KERNELS[scorer]


def prepare_files(
    config: MatchConfig,
    file1: Path,
    file2: Path,
    *,
    file1_name: str,
    file2_name: str,
    max_rows: int,
    progress: Callable[[float, str], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> PreparedJob:
    """Read both files and prepare the job once, for every shard.

    Reads only the mapped columns (the output columns are checked, read again by the
    merge), so it fails on a bad file exactly as run_match does (InputFileError naming
    the file; JobCancelled when `should_cancel()` turns true).
    """
    rep = Reporter(progress, should_cancel)
    tables = read_tables(
        rep, config, (file1, file2), (file1_name, file2_name), max_rows, (0.0, 40.0),
        outputs=False,
    )  # fmt: skip
    rep.set(80.0, "Preparing values", force=True)
    job = prepare(config, *tables)
    rep.set(100.0, f"Prepared {job.rows1:,} x {job.rows2:,} rows", force=True)
    return job


def share_token_bits(job: PreparedJob) -> None:
    """Compute once, for every shard, the count filter's token bits of each mapping that
    may use it (Indel kernels): otherwise each shard computes them for all of file2's
    values again (about 0.6 s per shard against 1M rows). save_prepared stores them."""
    from matchq.matching.count_filter import plan_bits

    for plan in job.plans:
        if plan.kernel is RATIO_KERNEL:
            plan_bits(plan)


def save_prepared(job: PreparedJob, path: Path) -> None:
    """Store `job` as one .npz file at `path` (written whole or not at all)."""
    arrays: dict[str, np.ndarray] = {"masks1": _small_ints(job.masks1)}
    arrays["groups2_masks"] = np.array([m for m, _ in job.groups2], np.int64)
    arrays["groups2_sizes"] = np.array([len(r) for _, r in job.groups2], np.int64)
    arrays["groups2_rows"] = _small_ints(
        np.concatenate([r for _, r in job.groups2]) if job.groups2 else np.empty(0, np.int64)
    )
    plans: list[dict[str, Any]] = []
    for k, plan in enumerate(job.plans):
        presorted = plan.values is not plan.compared
        scorer: Scorer | None = None
        if not plan.exact:
            scorer = _SCORER_OF[id(plan.scalar)]
            if plan.kernel is not _kernel_for(scorer, presorted):
                raise ValueError(f"mapping {plan.index}: a kernel the prepared file cannot name")
        plans.append(
            {"index": plan.index, "weight": plan.weight, "exact": plan.exact,
             "scorer": None if scorer is None else scorer.value, "presorted": presorted,
             "token_bits": plan.token_bits is not None}
        )  # fmt: skip
        arrays[f"p{k}_codes1"] = _small_ints(plan.codes1)
        arrays[f"p{k}_codes2"] = _small_ints(plan.codes2)
        arrays[f"p{k}_compared"], arrays[f"p{k}_compared_at"] = _pack_strings(plan.compared)
        if presorted:
            arrays[f"p{k}_values"], arrays[f"p{k}_values_at"] = _pack_strings(plan.values)
        if plan.token_bits is not None:
            arrays[f"p{k}_token_bits"] = plan.token_bits
    arrays["meta"] = _meta(
        {"format": PREPARED_FORMAT, "threshold": job.threshold, "mode": job.mode.value,
         "rows1": job.rows1, "rows2": job.rows2, "plans": plans}
    )  # fmt: skip
    with _atomic(path) as handle:
        np.savez(handle, allow_pickle=False, **arrays)


def load_prepared(path: Path) -> PreparedJob:
    """The job stored by `save_prepared` (scorers rebuilt from their names)."""
    with np.load(Path(path), allow_pickle=False) as archive:
        meta = _read_meta(archive, PREPARED_FORMAT, Path(path))
        plans: list[Plan] = []
        for k, spec in enumerate(meta["plans"]):
            compared = _unpack_strings(archive[f"p{k}_compared"], archive[f"p{k}_compared_at"])
            values = compared
            if spec["presorted"]:
                values = _unpack_strings(archive[f"p{k}_values"], archive[f"p{k}_values_at"])
            at = archive[f"p{k}_values_at" if spec["presorted"] else f"p{k}_compared_at"]
            kernel = scalar = None
            if not spec["exact"]:
                scorer = Scorer(spec["scorer"])
                kernel, scalar = _kernel_for(scorer, spec["presorted"]), SCALAR[scorer]
            plans.append(
                Plan(
                    index=spec["index"],
                    weight=spec["weight"],
                    exact=spec["exact"],
                    kernel=kernel,
                    scalar=scalar,
                    values=values,
                    compared=compared,
                    lengths=np.diff(at),
                    codes1=_int64(archive[f"p{k}_codes1"]),
                    codes2=_int64(archive[f"p{k}_codes2"]),
                    token_bits=archive[f"p{k}_token_bits"] if spec["token_bits"] else None,
                )
            )
        rows2 = _int64(archive["groups2_rows"])
        ends = np.cumsum(archive["groups2_sizes"]).tolist()
        groups2 = [
            (int(mask), rows2[end - size : end])
            for mask, size, end in zip(
                archive["groups2_masks"].tolist(), archive["groups2_sizes"].tolist(), ends,
                strict=True,
            )
        ]  # fmt: skip
        return PreparedJob(
            threshold=float(meta["threshold"]),
            mode=MatchMode(meta["mode"]),
            plans=plans,
            rows1=int(meta["rows1"]),
            rows2=int(meta["rows2"]),
            masks1=_int64(archive["masks1"]),
            groups2=groups2,
        )


# --- planning --------------------------------------------------------------------------------


def _distinct(codes: np.ndarray) -> int:
    return len(np.unique(codes[codes >= 0]))


def _pair_seconds(plan: Plan, cut: float) -> float:
    """Seconds per value pair searched (or row pair scored) with mapping `plan` at `cut`."""
    if plan.exact:
        return 0.0
    key = "indel" if plan.kernel is RATIO_KERNEL else _SCORER_OF[id(plan.scalar)].value
    low, mid, high = SEARCH_SECONDS[key]
    return low if cut < 70 else mid if cut < 85 else high


def estimate_row_seconds(job: PreparedJob) -> float:
    """Estimated seconds to match one file1 row against all of file2.

    Taken for rows with every mapping filled, searched as the engine would search them
    (docs/matching.md, "Shards"): a hash join on exact mappings that must be equal; else
    the driver's search over distinct values; else every row pair scored.
    """
    plans = job.plans
    weight_sum = 0.0
    for plan in plans:
        weight_sum += plan.weight
    cuts = {
        p.index: (job.threshold * weight_sum - (weight_sum - p.weight) * 100.0) / p.weight - EPS
        for p in plans
    }
    verify = sum(PAIR_SECONDS + _pair_seconds(p, 0.0) for p in plans)
    joins = [p for p in plans if p.exact and cuts[p.index] > 0]
    if joins:  # each row meets the file2 rows sharing its values
        partners = job.rows2 / max(1, max(_distinct(p.codes2) for p in joins))
        return ROW_SECONDS + partners * verify
    fuzzy = [p for p in plans if not p.exact and cuts[p.index] > 0]
    if not fuzzy:  # nothing prunes: every row pair is scored on every mapping
        return ROW_SECONDS + job.rows2 * verify

    def rank(p: Plan) -> tuple[float, float]:
        assert p.kernel is not None
        return (p.kernel.cost + (0 if cuts[p.index] >= DRIVER_MIN_CUT else 10), -cuts[p.index])

    driver = min(fuzzy, key=rank)
    # A chunk's distinct driver values (about this share of its rows) meet every distinct
    # file2 value.
    queries = min(1.0, _distinct(driver.codes1) / max(1, job.rows1))
    pairs_per_row = queries * _distinct(driver.codes2)
    return ROW_SECONDS + pairs_per_row * _pair_seconds(driver, cuts[driver.index])


def plan_shards(
    job: PreparedJob,
    *,
    shard_rows: int | None,
    max_shards: int,
    target_seconds: float = DEFAULT_TARGET_SECONDS,
    concurrency: int = 1,
) -> list[tuple[int, int]]:
    """file1 row ranges [start, stop), in order, covering [0, rows1) once; at most
    `max_shards` of them.

    With `shard_rows`, ranges of that many rows (more when that would make more than
    `max_shards`). Without, the job's estimated work (`estimate_row_seconds`) is spread
    over the `concurrency` workers that may run its shards at once: each shard gets a
    share of it, between MIN_SHARD_SECONDS and `target_seconds`, in whole chunks (fewer
    rows than one chunk when a chunk's work exceeds that share). A job
    within the target (or within SPLIT_MIN_SECONDS) is one shard.
    """
    n = job.rows1
    if max_shards < 1:
        raise ValueError("max_shards must be at least 1")
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if shard_rows is None:
        per_row = estimate_row_seconds(job)
        total = n * per_row
        target = min(target_seconds, max(MIN_SHARD_SECONDS, total / concurrency))
        if total <= max(target, SPLIT_MIN_SECONDS):
            return [(0, n)]
        # whole chunks; less than one only when one chunk is more work than the target
        # (slow scorers against a big file2: WRatio takes ~0.25 s per row against 1M rows)
        shard_rows = max(1, int(target / per_row))
        if shard_rows >= DEFAULT_CHUNK_ROWS:
            shard_rows -= shard_rows % DEFAULT_CHUNK_ROWS
    if shard_rows < 1:
        raise ValueError("shard_rows must be at least 1")
    shard_rows = max(shard_rows, math.ceil(n / max_shards))
    return [(lo, min(n, lo + shard_rows)) for lo in range(0, n, shard_rows)] or [(0, 0)]


# --- shards and their merge ------------------------------------------------------------------


@dataclass
class ShardSummary:
    """What run_shard did: its file1 rows [start, stop), the pairs it wrote, seconds."""

    start: int
    stop: int
    pairs: int
    elapsed: float


def run_shard(
    job: PreparedJob,
    start: int,
    stop: int,
    out_path: Path,
    *,
    tick: Tick | None = None,
    on_rows: Callable[[int], None] | None = None,
    chunk_rows: int | None = None,
) -> ShardSummary:
    """Match file1 rows [start, stop) against all of file2 into the partial result file
    `out_path` (.npz), in chunks as run_match does; `on_rows(done)` after each chunk, `done`
    the shard's rows matched so far; `tick()` (may raise JobCancelled) now and then;
    `chunk_rows` as for run_match (the result does not depend on it).

    Raises TooManyMatches as run_match would, as soon as this shard alone finds more than
    MAX_PAIRS pairs (the merge checks the sum). `out_path` is written whole or not at all.
    """
    started = time.perf_counter()
    if not 0 <= start <= stop <= job.rows1:
        raise ValueError(f"rows [{start}, {stop}) are not within file1's {job.rows1:,} rows")
    on_chunk = None if on_rows is None else (lambda row: on_rows(row - start))
    parts = match_rows(job, start, stop, chunk_rows=chunk_rows, tick=tick, on_chunk=on_chunk)
    result = ChunkResult.concat(parts, len(job.plans)).sorted()
    del parts
    meta = {"format": PART_FORMAT, "start": start, "stop": stop, "pairs": len(result),
            "rows1": job.rows1, "rows2": job.rows2, "mode": job.mode.value,
            "threshold": job.threshold, "mappings": len(job.plans)}  # fmt: skip
    with _atomic(out_path) as handle:
        np.savez(
            handle,
            allow_pickle=False,
            meta=_meta(meta),
            rows1=_small_ints(result.rows1),
            rows2=_small_ints(result.rows2),
            scores=result.scores,
            mapping_scores=result.mapping_scores,
        )
    return ShardSummary(start, stop, len(result), time.perf_counter() - started)


def _part_metas(job: PreparedJob, paths: list[Path]) -> list[dict[str, Any]]:
    """The parts' metadata, checked: parts of this job covering file1 once, in order."""
    metas = []
    expected = 0
    for path in paths:
        with np.load(Path(path), allow_pickle=False) as archive:
            meta = _read_meta(archive, PART_FORMAT, Path(path))
        mine = (meta["rows1"], meta["rows2"], meta["mode"], meta["threshold"], meta["mappings"])
        if mine != (job.rows1, job.rows2, job.mode.value, job.threshold, len(job.plans)):
            raise ValueError(f"{path}: a partial result of another job")
        if meta["start"] != expected:
            raise ValueError(
                f"{path}: starts at file1 row {meta['start']}, not {expected}: parts must be "
                "given in shard order, each once"
            )
        expected = meta["stop"]
        metas.append(meta)
    if expected != job.rows1:
        raise ValueError(f"the parts end at file1 row {expected}, not {job.rows1}")
    return metas


def _load_parts(job: PreparedJob, paths: list[Path], metas: list[dict[str, Any]]) -> ChunkResult:
    """All parts' pairs in one set of arrays, filled part by part (no second copy)."""
    total = sum(m["pairs"] for m in metas)
    k = len(job.plans)
    out = ChunkResult(
        np.empty(total, np.int64), np.empty(total, np.int64), np.empty(total), np.empty((total, k))
    )
    at = 0
    for path, meta in zip(paths, metas, strict=True):
        n = meta["pairs"]
        with np.load(Path(path), allow_pickle=False) as archive:
            for name in ("rows1", "rows2", "scores", "mapping_scores"):
                getattr(out, name)[at : at + n] = archive[name]
        at += n
    return out


def merge_shards(
    config: MatchConfig,
    job: PreparedJob,
    part_paths: list[Path],
    file1: Path,
    file2: Path,
    out_dir: Path,
    *,
    file1_name: str,
    file2_name: str,
    max_rows: int,
    progress: Callable[[float, str], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> MatchSummary:
    """Merge the partial results `part_paths` (in shard order) into the result files in
    `out_dir`: the same files, byte for byte, as run_match writes for the same inputs.

    Raises TooManyMatches (same message as run_match) when modes all/one_to_one find more
    than MAX_PAIRS pairs over all shards, before reading any pair; InputFileError when a
    file fails to read; JobCancelled when `should_cancel()` turns true; ValueError when the
    parts are not this job's, in order. Nothing is left in `out_dir` on any error.
    """
    started = time.perf_counter()
    rep = Reporter(progress, should_cancel)
    rep.phase("read")
    with removed_on_error() as written:
        rep.set(0.0, f"Merging {len(part_paths):,} shards", force=True)
        metas = _part_metas(job, part_paths)
        if job.mode is not MatchMode.BEST:
            pairs.check_count(sum(m["pairs"] for m in metas), job.mode, job.threshold)
        tables = read_tables(
            rep, config, (file1, file2), (file1_name, file2_name), max_rows, (5.0, 25.0)
        )
        if (tables[0].nrows, tables[1].nrows) != (job.rows1, job.rows2):
            raise ValueError("the files are not those the job was prepared from")
        rep.phase("merge")
        rep.set(45.0, "Selecting matches")
        result = select(job, [_load_parts(job, part_paths, metas)])
        return write_results(
            rep, config, job, result, tables, Path(out_dir), written, started=started, percent=50.0
        )
