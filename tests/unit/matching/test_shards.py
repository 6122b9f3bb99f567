"""Sharded jobs: prepared once, file1 ranges matched apart in any order, merged into the
very files run_match writes."""

from __future__ import annotations

import itertools
import json
import random
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matchq.config import MatchConfig
from matchq.errors import JobCancelled
from matchq.formats import Table
from matchq.matching import (
    MatchSummary,
    TooManyMatches,
    count_filter,
    pairs,
    prepare,
    run_match,
    shards,
)
from matchq.matching.coordinate import PlannedShards, begin_match
from matchq.matching.pipeline import Reporter
from matchq.matching.plan import PreparedJob
from matchq.matching.shards import (
    load_prepared,
    merge_shards,
    plan_shards,
    prepare_files,
    run_shard,
    save_prepared,
    share_token_bits,
)
from tests.support import comparable
from tests.unit.matching.test_engine_properties import (
    COLUMNS,
    FILE_ID,
    tables_and_config,
    tiny_limits,
)

NAMES = ("one.jsonl", "two.json")


def write_inputs(directory: Path, table1: Table, table2: Table) -> tuple[Path, Path]:
    """The tables as a JSON-lines and a JSON file (None as null, every value verbatim)."""
    f1, f2 = directory / "in1", directory / "in2"
    records1 = [{c: table1.columns[c][i] for c in table1.header} for i in range(table1.nrows)]
    records2 = [{c: table2.columns[c][i] for c in table2.header} for i in range(table2.nrows)]
    f1.write_text("".join(json.dumps(r) + "\n" for r in records1), encoding="utf-8")
    f2.write_text(json.dumps(records2), encoding="utf-8")
    return f1, f2


def sharded(
    config: MatchConfig,
    files: tuple[Path, Path],
    work: Path,
    out: Path,
    *,
    shard_rows: int | None,
    max_shards: int = 1000,
    rng: random.Random | None = None,
    chunk_rows: int | None = None,
    share: bool = True,
) -> MatchSummary:
    """Prepare, save (with the token bits computed first if `share`, as the worker does),
    plan, run the shards (each from the saved file, in random order), merge."""
    kw: dict[str, Any] = {"file1_name": NAMES[0], "file2_name": NAMES[1], "max_rows": 1000}
    job = prepare_files(config, *files, **kw)
    if share:
        share_token_bits(job)
    save_prepared(job, work / "job.npz")
    ranges = plan_shards(job, shard_rows=shard_rows, max_shards=max_shards)
    order = list(range(len(ranges)))
    (rng or random.Random(0)).shuffle(order)
    for k in order:
        run_shard(load_prepared(work / "job.npz"), *ranges[k], work / f"part{k}.npz",
                  chunk_rows=chunk_rows)  # fmt: skip
    parts = [work / f"part{k}.npz" for k in range(len(ranges))]
    return merge_shards(config, load_prepared(work / "job.npz"), parts, *files, out, **kw)


def assert_same_files(summary: Any, want: Path, got: Path) -> None:
    assert sorted(p.name for p in got.iterdir()) == sorted(p.name for p in want.iterdir())
    for name in summary.files:
        got_file, want_file = (comparable({name: (d / name).read_bytes()}) for d in (got, want))
        assert got_file == want_file, name


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    data=tables_and_config(),
    shard_rows=st.integers(1, 7),
    seed=st.integers(0, 2**16),
    outputs=st.one_of(st.none(), st.lists(st.sampled_from(COLUMNS), unique=True, max_size=3)),
    unmatched=st.booleans(),
    tiny=st.booleans(),
    share=st.booleans(),
)
def test_sharded_files_equal_run_match_byte_for_byte(
    data: tuple[Table, Table, MatchConfig, int],
    shard_rows: int,
    seed: int,
    outputs: list[str] | None,
    unmatched: bool,
    tiny: bool,
    share: bool,
) -> None:
    table1, table2, config, chunk_rows = data
    config = MatchConfig(
        **{**config.model_dump(), "output_cols2": outputs, "generate_unmatched": unmatched}
    )
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        if tiny:
            tiny_limits(stack)
        work = Path(tmp)
        files = write_inputs(work, table1, table2)
        want = run_match(config, *files, work / "want", file1_name=NAMES[0],
                         file2_name=NAMES[1], chunk_rows=chunk_rows)  # fmt: skip
        # chunks of 1..8 rows inside shards of 1..7 rows: both boundaries fall anywhere
        got = sharded(config, files, work, work / "got", shard_rows=shard_rows,
                      rng=random.Random(seed), chunk_rows=chunk_rows, share=share)  # fmt: skip
        assert got.files == want.files
        assert (got.rows1, got.rows2, got.matched, got.unmatched1, got.unmatched2) == (
            want.rows1, want.rows2, want.matched, want.unmatched1, want.unmatched2)  # fmt: skip
        assert_same_files(got, work / "want", work / "got")


# --- the prepared file -----------------------------------------------------------------------

ODD = ["\ud800", "a\udfff", "\x00", "x\x00", "\x85 y", "\xa0b a", "😀 a", "b\u3000a", "é"]


def assert_same_job(got: PreparedJob, want: PreparedJob) -> None:
    assert (got.threshold, got.mode, got.rows1, got.rows2) == (
        want.threshold, want.mode, want.rows1, want.rows2)  # fmt: skip
    assert got.masks1.dtype == np.int64 and np.array_equal(got.masks1, want.masks1)
    assert [m for m, _ in got.groups2] == [m for m, _ in want.groups2]
    for (_, a), (_, b) in zip(got.groups2, want.groups2, strict=True):
        assert a.dtype == np.int64 and np.array_equal(a, b)
    for a, b in zip(got.plans, want.plans, strict=True):
        assert (a.index, a.weight, a.exact) == (b.index, b.weight, b.exact)
        assert a.kernel is b.kernel and a.scalar is b.scalar
        assert a.values.tolist() == b.values.tolist()
        assert a.compared.tolist() == b.compared.tolist()
        assert a.values.dtype == object and a.compared.dtype == object
        assert (a.values is a.compared) == (b.values is b.compared)
        for x, y in ((a.lengths, b.lengths), (a.codes1, b.codes1), (a.codes2, b.codes2)):
            assert x.dtype == np.int64 and np.array_equal(x, y)
        assert (a.token_bits is None) == (b.token_bits is None)
        if b.token_bits is not None:
            assert a.token_bits is not None and np.array_equal(a.token_bits, b.token_bits)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=tables_and_config(), odd=st.lists(st.sampled_from(ODD), max_size=4),
       bits=st.booleans())  # fmt: skip
def test_prepared_job_round_trips(
    data: tuple[Table, Table, MatchConfig, int], odd: list[str], bits: bool
) -> None:
    table1, table2, config, _ = data
    table1.columns["c0"] = [*table1.columns["c0"], *odd]
    for c in COLUMNS[1:]:
        table1.columns[c] = [*table1.columns[c], *([None] * len(odd))]
    table1.nrows += len(odd)
    job = prepare(config, table1, table2)
    if bits:
        for plan in job.plans:
            if plan.kernel is not None:
                count_filter.plan_bits(plan)
    with tempfile.TemporaryDirectory() as tmp:
        save_prepared(job, Path(tmp) / "job.npz")
        assert_same_job(load_prepared(Path(tmp) / "job.npz"), job)


def test_the_coordinator_stores_the_token_bits_every_shard_needs(tmp_path: Path) -> None:
    names = [f"Person {chr(65 + i % 26)}{i}" for i in range(40)]
    table = Table("t.csv", ["name", "city"], {"name": names, "city": ["X"] * 40}, 40)
    files = write_inputs(tmp_path, table, table)
    config = MatchConfig(file1=FILE_ID, file2=FILE_ID, mappings=[
        {"file1_col": "name", "file2_col": "name", "scorer": "ratio"},
        {"file1_col": "name", "file2_col": "name", "scorer": "token_set_ratio"},
        {"file1_col": "city", "file2_col": "city", "match_type": "exact"}])  # fmt: skip
    planned = begin_match(config, *files, tmp_path / "out", file1_name=NAMES[0],
                          file2_name=NAMES[1], prepared_path=tmp_path / "job.npz",
                          shard_rows=10, max_shards=10)  # fmt: skip
    assert isinstance(planned, PlannedShards) and len(planned.shard_ranges) == 4
    ratio, token_set, exact = load_prepared(tmp_path / "job.npz").plans
    assert ratio.token_bits is not None
    assert np.array_equal(ratio.token_bits, count_filter.token_bits(ratio.values))
    assert token_set.token_bits is None and exact.token_bits is None  # no count filter


def test_prepared_file_needs_no_pickle(tmp_path: Path) -> None:
    table = Table("t.csv", ["c0"], {"c0": ["Ann Lee", "Lee Ann", None]}, 3)
    config = MatchConfig(file1=FILE_ID, file2=FILE_ID,
                         mappings=[{"file1_col": "c0", "file2_col": "c0"}])  # fmt: skip
    save_prepared(prepare(config, table, table), tmp_path / "job.npz")
    with np.load(tmp_path / "job.npz", allow_pickle=False) as archive:
        assert all(archive[name].dtype != object for name in archive.files)
    (tmp_path / "bad.npz").write_bytes((tmp_path / "job.npz").read_bytes())
    with pytest.raises(ValueError, match="not a matchq-shard-part"):
        merge_shards(config, prepare(config, table, table), [tmp_path / "bad.npz"],
                     tmp_path / "x", tmp_path / "y", tmp_path / "o", file1_name="a.csv",
                     file2_name="b.csv", max_rows=10)  # fmt: skip


# --- planning --------------------------------------------------------------------------------


def small_job(n1: int = 23, n2: int = 5, mode: str = "best", threshold: float = 80) -> PreparedJob:
    rng = random.Random(n1)
    words = ["anna", "anne", "bob", "bobby", "carl", None]
    t1 = Table("a", ["c"], {"c": [rng.choice(words) for _ in range(n1)]}, n1)
    t2 = Table("b", ["c"], {"c": [rng.choice(words) for _ in range(n2)]}, n2)
    config = MatchConfig(file1=FILE_ID, file2=FILE_ID, match_mode=mode, threshold=threshold,
                         mappings=[{"file1_col": "c", "file2_col": "c"}])  # fmt: skip
    return prepare(config, t1, t2)


def assert_cover(ranges: list[tuple[int, int]], n: int) -> None:
    assert ranges[0][0] == 0 and ranges[-1][1] == n
    assert all(lo < hi for lo, hi in ranges)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))


@given(n1=st.integers(1, 200), shard_rows=st.one_of(st.none(), st.integers(1, 300)),
       max_shards=st.integers(1, 40))  # fmt: skip
@settings(max_examples=80, deadline=None)
def test_ranges_cover_file1_once_in_order(n1: int, shard_rows: int | None, max_shards: int) -> None:
    job = small_job(n1)
    ranges = plan_shards(job, shard_rows=shard_rows, max_shards=max_shards)
    assert_cover(ranges, n1)
    assert len(ranges) <= max_shards
    if shard_rows is not None and shard_rows * max_shards >= n1:
        assert all(hi - lo == shard_rows for lo, hi in ranges[:-1])
    if shard_rows is None:
        assert ranges == [(0, n1)]  # a small job is one shard


def test_shards_follow_the_estimate() -> None:
    job = small_job(100_000, 5)
    with mock.patch.object(shards, "estimate_row_seconds", return_value=0.001):
        ranges = plan_shards(job, shard_rows=None, max_shards=100, target_seconds=30)
        assert_cover(ranges, 100_000)
        assert [hi - lo for lo, hi in ranges] == [30_000, 30_000, 30_000, 10_000]
        capped = plan_shards(job, shard_rows=None, max_shards=2, target_seconds=30)
        assert capped == [(0, 50_000), (50_000, 100_000)]
        assert plan_shards(job, shard_rows=None, max_shards=9, target_seconds=100) == [(0, 100_000)]
        # whole chunks while a chunk is within the target
        chunks = plan_shards(job, shard_rows=None, max_shards=1000, target_seconds=7)
        assert {hi - lo for lo, hi in chunks[:-1]} == {shards.DEFAULT_CHUNK_ROWS}
        # below one chunk when a chunk is more work than the target
        tiny = plan_shards(job, shard_rows=None, max_shards=1000, target_seconds=1)
        assert {hi - lo for lo, hi in tiny} == {1000}
    with mock.patch.object(shards, "estimate_row_seconds", return_value=0.25):  # WRatio at 1M
        slow = plan_shards(job, shard_rows=None, max_shards=1000, concurrency=100)
        assert {hi - lo for lo, hi in slow[:-1]} == {720}  # 180 s each
        assert len(slow) == 139
    with pytest.raises(ValueError, match="shard_rows"):
        plan_shards(job, shard_rows=0, max_shards=3)
    with pytest.raises(ValueError, match="max_shards"):
        plan_shards(job, shard_rows=5, max_shards=0)


def test_shards_spread_the_work_over_the_workers_that_may_run_them() -> None:
    job = small_job(100_000, 5)

    def sizes(**kw: Any) -> list[int]:
        return [hi - lo for lo, hi in plan_shards(job, shard_rows=None, **kw)]

    with mock.patch.object(shards, "estimate_row_seconds", return_value=0.001):  # 100 s
        # one worker: shards as long as the target allows
        assert sizes(max_shards=100, target_seconds=50) == [50_000, 50_000]
        # four: a quarter of the work each (25 s), still within the target
        assert sizes(max_shards=100, target_seconds=50, concurrency=4) == [25_000] * 4
        # a hundred: never below MIN_SHARD_SECONDS of work, so ten shards, not a hundred
        assert sizes(max_shards=100, concurrency=100) == [10_000] * 10
        assert sizes(max_shards=3, concurrency=100) == [33_334, 33_334, 33_332]
    with mock.patch.object(shards, "estimate_row_seconds", return_value=0.0002):  # 20 s
        # within SPLIT_MIN_SECONDS: one shard however many workers wait
        assert sizes(max_shards=100, concurrency=100) == [100_000]
    with pytest.raises(ValueError, match="concurrency"):
        plan_shards(job, shard_rows=None, max_shards=3, concurrency=0)


def names_job(n1: int, n2: int, threshold: float = 80, scorer: str = "ratio") -> PreparedJob:
    t1 = Table("a", ["c"], {"c": [f"name {k}" for k in range(n1)]}, n1)
    t2 = Table("b", ["c"], {"c": [f"name {k % 977}" for k in range(n2)]}, n2)
    mapping = {"file1_col": "c", "file2_col": "c", "scorer": scorer}
    config = MatchConfig(file1=FILE_ID, file2=FILE_ID, threshold=threshold, mappings=[mapping])
    return prepare(config, t1, t2)


def test_estimate_grows_with_work() -> None:
    estimate = shards.estimate_row_seconds
    assert 0 < estimate(names_job(100, 100)) < estimate(names_job(100, 500))  # distinct 2
    assert estimate(names_job(100, 977)) == estimate(names_job(100, 5 * 977))  # not rows 2
    assert estimate(names_job(100, 500, 90)) < estimate(names_job(100, 500, 60))
    assert estimate(names_job(100, 500)) < estimate(names_job(100, 500, scorer="WRatio"))
    assert estimate(names_job(100, 500, 0)) < estimate(names_job(100, 5000, 0))  # no pruning


# --- MAX_PAIRS, cancellation, misuse ---------------------------------------------------------


def people(tmp_path: Path, n1: int = 6, n2: int = 4) -> tuple[Path, Path]:
    table1 = Table("a", ["c"], {"c": [f"name {k}" for k in range(n1)]}, n1)
    table2 = Table("b", ["c"], {"c": [f"name {k}x" for k in range(n2)]}, n2)
    return write_inputs(tmp_path, table1, table2)


def mode_config(mode: str, threshold: float) -> MatchConfig:
    mapping = {"file1_col": "c", "file2_col": "c", "scorer": "ratio"}
    return MatchConfig(file1=FILE_ID, file2=FILE_ID, match_mode=mode, threshold=threshold,
                       mappings=[mapping])  # fmt: skip


@pytest.mark.parametrize(("mode", "threshold"), [("all", 0), ("all", 50), ("one_to_one", 50)])
@pytest.mark.parametrize("cap", [5, 15])
def test_too_many_pairs_fail_alike_sharded_or_not(
    tmp_path: Path, mode: str, threshold: float, cap: int
) -> None:
    files = people(tmp_path)  # 24 pairs, all at or above 50
    config = mode_config(mode, threshold)
    with mock.patch.object(pairs, "MAX_PAIRS", cap):
        with pytest.raises(TooManyMatches) as want:
            run_match(config, *files, tmp_path / "want", file1_name=NAMES[0],
                      file2_name=NAMES[1])  # fmt: skip
        with pytest.raises(TooManyMatches) as got:  # shards of 4 pairs: the merge fails
            sharded(config, files, tmp_path, tmp_path / "got", shard_rows=1)
        job = prepare_files(config, *files, file1_name=NAMES[0], file2_name=NAMES[1],
                            max_rows=100)  # fmt: skip
        with pytest.raises(TooManyMatches) as early:  # one shard of 24 pairs fails itself
            run_shard(job, 0, 6, tmp_path / "part.npz")
    assert str(got.value) == str(want.value) == str(early.value)
    assert "raise the threshold" in str(want.value)
    assert not (tmp_path / "got").exists() or not list((tmp_path / "got").iterdir())
    assert not (tmp_path / "part.npz").exists()
    with mock.patch.object(pairs, "MAX_PAIRS", 24):  # exactly at the cap: fine
        summary = sharded(config, files, tmp_path, tmp_path / "ok", shard_rows=2)
    assert summary.matched == (24 if mode == "all" else 4)


def test_cancelled_shard_leaves_no_part(tmp_path: Path) -> None:
    files = people(tmp_path)
    job = prepare_files(mode_config("all", 50), *files, file1_name=NAMES[0],
                        file2_name=NAMES[1], max_rows=100)  # fmt: skip
    calls = {"n": 0}

    def tick() -> None:  # cancelled in the second chunk
        calls["n"] += 1
        if calls["n"] > 1:
            raise JobCancelled("the job was cancelled")

    with pytest.raises(JobCancelled):
        run_shard(job, 0, 6, tmp_path / "part.npz", tick=tick, chunk_rows=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in1", "in2"]

    def stop_after_first_chunk(done: int) -> None:
        raise JobCancelled("the job was cancelled")

    with pytest.raises(JobCancelled):
        run_shard(job, 0, 6, tmp_path / "part.npz", chunk_rows=2, on_rows=stop_after_first_chunk)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in1", "in2"]
    done: list[int] = []
    summary = run_shard(job, 1, 6, tmp_path / "part.npz", chunk_rows=4, on_rows=done.append)
    assert done == [4, 5] and (summary.start, summary.stop, summary.pairs) == (1, 6, 20)


@pytest.mark.parametrize("when", ["Reading", "Selecting", "Writing"])
def test_cancelled_merge_leaves_no_files(tmp_path: Path, when: str) -> None:
    files = people(tmp_path)
    config = mode_config("one_to_one", 50)
    kw: dict[str, Any] = {"file1_name": NAMES[0], "file2_name": NAMES[1], "max_rows": 100}
    job = prepare_files(config, *files, **kw)
    run_shard(job, 0, 3, tmp_path / "p0.npz")
    run_shard(job, 3, 6, tmp_path / "p1.npz")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("not ours")
    stop = {"now": False}

    def progress(_: float, message: str) -> None:
        stop["now"] = stop["now"] or message.startswith(when)

    with mock.patch.object(Reporter, "INTERVAL", 0.0), pytest.raises(JobCancelled):
        merge_shards(config, job, [tmp_path / "p0.npz", tmp_path / "p1.npz"], *files, out,
                     progress=progress, should_cancel=lambda: stop["now"], **kw)  # fmt: skip
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_cancelled_prepare_raises(tmp_path: Path) -> None:
    files = people(tmp_path)
    with pytest.raises(JobCancelled):
        prepare_files(mode_config("best", 50), *files, file1_name=NAMES[0],
                      file2_name=NAMES[1], max_rows=100, should_cancel=lambda: True)  # fmt: skip


def test_merge_refuses_parts_out_of_order_or_missing(tmp_path: Path) -> None:
    files = people(tmp_path)
    config = mode_config("best", 50)
    kw: dict[str, Any] = {"file1_name": NAMES[0], "file2_name": NAMES[1], "max_rows": 100}
    job = prepare_files(config, *files, **kw)
    for k, (lo, hi) in enumerate([(0, 2), (2, 5), (5, 6)]):
        run_shard(job, lo, hi, tmp_path / f"p{k}.npz")
    p = [tmp_path / f"p{k}.npz" for k in range(3)]
    for wrong in ([p[1], p[0], p[2]], [p[0], p[2]], [p[0], p[1]], [p[0], p[1], p[2], p[2]]):
        with pytest.raises(ValueError, match="file1 row"):
            merge_shards(config, job, wrong, *files, tmp_path / "o", **kw)
    other = small_job(6, 4)
    with pytest.raises(ValueError, match="another job"):
        merge_shards(config, other, p, *files, tmp_path / "o", **kw)
    with pytest.raises(ValueError, match="within file1"):
        run_shard(job, 4, 7, tmp_path / "p9.npz")
    assert not (tmp_path / "o").exists()
    summary = merge_shards(config, job, p, *files, tmp_path / "o", **kw)
    assert summary.rows1 == 6 and summary.matched > 0
