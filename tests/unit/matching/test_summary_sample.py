"""The summary's score sample: exact scores, the size rule, the histogram, the suggestion."""

from __future__ import annotations

import math
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matchq.config import MatchConfig, MatchType, Scorer
from matchq.formats import Table
from matchq.matching import prepare, summary_sample
from matchq.matching.normalize import compared_value
from matchq.matching.scorers import scalar_score
from matchq.matching.summary_sample import (
    ScoreSample,
    sample_rows,
    sample_scores,
    sample_size,
    score_histogram,
    score_rows,
    suggest_threshold,
)

FILE_ID = "file_12345678-1234-4123-8123-123456789012"
COLUMNS = ["c0", "c1", "c2"]
WORDS = ["John Smith", "Jon Smith", "smith john", "Anna", "Anne", "ann", "Café", "cafe",
         "12345", "12354", "a b", "b a", "...", "", " ", None]  # fmt: skip
VALUES = st.one_of(st.sampled_from(WORDS), st.text(alphabet="abé -", max_size=5))


def _table(columns: dict[str, list[str | None]], name: str) -> Table:
    return Table(name, list(columns), columns, len(next(iter(columns.values()))))


def brute_force(
    config: MatchConfig, cols1: dict[str, list[str | None]], cols2: dict[str, list[str | None]]
) -> tuple[list[float], list[float]]:
    """Per file1 row its best and runner-up score over every file2 row, by a double loop
    with rapidfuzz's scalar scorers and the weighted mean of comparable mappings."""
    maps = config.mappings
    v1 = [[compared_value(v, m.use_normalization) for v in cols1[m.file1_col]] for m in maps]
    v2 = [[compared_value(v, m.use_normalization) for v in cols2[m.file2_col]] for m in maps]
    best, second = [], []
    for i in range(len(v1[0])):
        scores = []
        for j in range(len(v2[0])):
            num = den = 0.0
            for k, m in enumerate(maps):
                a, b = v1[k][i], v2[k][j]
                if a is None or b is None:
                    continue
                if m.match_type is MatchType.EXACT:
                    s = 100.0 if a == b else 0.0
                else:
                    scorer = m.effective_scorer
                    assert scorer is not None
                    s = scalar_score(scorer, a, b)
                num += float(m.weight) * s
                den += float(m.weight)
            scores.append(num / den if den > 0 else 0.0)
        scores.sort(reverse=True)
        best.append(scores[0])
        second.append(scores[1] if len(scores) > 1 else math.nan)
    return best, second


@st.composite
def tables_and_config(draw: st.DrawFn) -> tuple[Any, Any, MatchConfig]:
    n1, n2 = draw(st.integers(1, 6)), draw(st.integers(1, 9))
    cols1 = {c: draw(st.lists(VALUES, min_size=n1, max_size=n1)) for c in COLUMNS}
    cols2 = {c: draw(st.lists(VALUES, min_size=n2, max_size=n2)) for c in COLUMNS}
    mappings: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 3))):
        exact = draw(st.booleans())
        mapping: dict[str, Any] = {
            "file1_col": draw(st.sampled_from(COLUMNS)),
            "file2_col": draw(st.sampled_from(COLUMNS)),
            "match_type": MatchType.EXACT if exact else MatchType.FUZZY,
            "use_normalization": draw(st.booleans()),
            "weight": draw(st.sampled_from([1.0, 0.5, 2.0, 3.7, 0.1])),
        }
        if not exact:
            mapping["scorer"] = draw(st.sampled_from(list(Scorer)))
        mappings.append(mapping)
    threshold = draw(st.sampled_from([0.0, 80.0, 100.0]))  # the sample ignores it
    config = MatchConfig(file1=FILE_ID, file2=FILE_ID, mappings=mappings, threshold=threshold)
    return cols1, cols2, config


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=tables_and_config(), block=st.sampled_from([1, 2, 5, 10_000]),
       full=st.sampled_from([0, 10_000]))  # fmt: skip
def test_scores_equal_brute_force(
    data: tuple[Any, Any, MatchConfig], block: int, full: int
) -> None:
    cols1, cols2, config = data
    job = prepare(config, _table(cols1, "a.csv"), _table(cols2, "b.csv"))
    with (
        mock.patch.object(summary_sample, "BLOCK_CELLS", block),
        mock.patch.object(summary_sample, "FULL_CELLS", full),
    ):
        best, second = score_rows(job, np.arange(job.rows1))
    want_best, want_second = brute_force(config, cols1, cols2)
    assert best.tolist() == want_best
    assert np.array_equal(second, np.array(want_second), equal_nan=True)


def test_sample_scores_are_the_rows_scores() -> None:
    rng = np.random.default_rng(1)
    names = ["anna berg", "anne berg", "john smith", "jon smyth", "zoe", None]
    cols1 = {"n": [names[k] for k in rng.integers(0, 6, 300)]}
    cols2 = {"n": [names[k] for k in rng.integers(0, 6, 40)]}
    mapping = {"file1_col": "n", "file2_col": "n", "scorer": "jaro_winkler"}
    config = MatchConfig(file1=FILE_ID, file2=FILE_ID, mappings=[mapping])
    job = prepare(config, _table(cols1, "a.csv"), _table(cols2, "b.csv"))
    with (
        mock.patch.object(summary_sample, "MIN_SAMPLE_ROWS", 50),
        mock.patch.object(summary_sample, "SAMPLE_CELLS", 50 * 40),
    ):
        sample = sample_scores(job, seed=3)
    assert len(sample.rows) == 50 and np.all(np.diff(sample.rows) > 0)
    assert sample.rows.dtype == np.int64
    want_best, want_second = brute_force(config, cols1, cols2)
    assert sample.best.tolist() == [want_best[i] for i in sample.rows]
    assert sample.second.tolist() == [want_second[i] for i in sample.rows]
    assert sample.seconds >= 0


def test_one_file2_row_has_no_runner_up_and_empty_rows_score_zero() -> None:
    cols1 = {"n": ["anna", None, "bob"]}
    cols2 = {"n": ["anna"]}
    config = MatchConfig(file1=FILE_ID, file2=FILE_ID,
                         mappings=[{"file1_col": "n", "file2_col": "n"}])  # fmt: skip
    sample = sample_scores(prepare(config, _table(cols1, "a.csv"), _table(cols2, "b.csv")))
    assert sample.best.tolist() == [100.0, 0.0, 0.0]
    assert np.isnan(sample.second).all()


def test_size_rule() -> None:
    cells, least = summary_sample.SAMPLE_CELLS, summary_sample.MIN_SAMPLE_ROWS
    most = summary_sample.MAX_SAMPLE_ROWS
    assert sample_size(10, 1_000) == 10  # never more than rows1
    assert sample_size(10**6, cells // 500) == 500
    assert sample_size(10**6, 10**6) == least  # the floor
    assert sample_size(10**6, 100) == most  # the cap
    assert sample_size(10**6, cells // least // 2) == 2 * least
    assert sample_size(0, 5) == 0


def test_sampled_rows_are_seeded() -> None:
    a, b = sample_rows(100_000, 40_000, seed=7), sample_rows(100_000, 40_000, seed=7)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, sample_rows(100_000, 40_000, seed=8))
    assert len(np.unique(a)) == len(a) == sample_size(100_000, 40_000)
    assert a.min() >= 0 and a.max() < 100_000 and np.all(np.diff(a) > 0)
    assert np.array_equal(sample_rows(30, 40_000), np.arange(30))


def test_tick_is_called_and_may_cancel() -> None:
    cols = {"n": [f"name {k}" for k in range(50)]}
    mappings = [{"file1_col": "n", "file2_col": "n"},
                {"file1_col": "n", "file2_col": "n", "match_type": "exact"}]  # fmt: skip
    config = MatchConfig(file1=FILE_ID, file2=FILE_ID, mappings=mappings)
    job = prepare(config, _table(cols, "a.csv"), _table(cols, "b.csv"))
    calls = []
    with mock.patch.object(summary_sample, "BLOCK_CELLS", 500):
        sample_scores(job, tick=lambda: calls.append(1))
    assert len(calls) >= 2 * 5  # each mapping of each of the 5 blocks

    def cancel() -> None:
        raise RuntimeError("cancelled")

    with pytest.raises(RuntimeError):
        sample_scores(job, tick=cancel)


def test_histogram_bins_and_edges() -> None:
    best = np.array([0.0, 4.999, 5.0, 50.0, 94.99, 95.0, 99.9, 100.0, 100.0])
    hist = score_histogram(best)
    assert [(h["from"], h["to"]) for h in hist] == [(5 * k, 5 * k + 5) for k in range(20)]
    counts = [h["count"] for h in hist]
    assert counts[0] == 2 and counts[1] == 1 and counts[10] == 1
    assert counts[18] == 1 and counts[19] == 4  # 95, 99.9 and both 100s
    assert sum(counts) == len(best)


@given(st.lists(st.floats(0, 100), max_size=200))
def test_histogram_counts_every_score(scores: list[float]) -> None:
    hist = score_histogram(np.array(scores, dtype=np.float64))
    assert len(hist) == 20 and sum(h["count"] for h in hist) == len(scores)


def _synthetic(n: int, matched: float, seed: int) -> ScoreSample:
    """Chance best scores ~30-60 (runner-ups a little lower), true matches ~90-100."""
    rng = np.random.default_rng(seed)
    chance_best = rng.uniform(30, 60, n)
    runner = chance_best - rng.uniform(0, 3, n)
    is_match = rng.random(n) < matched
    best = np.where(is_match, rng.uniform(90, 100, n), chance_best)
    second = np.where(is_match, chance_best, runner)
    return ScoreSample(np.arange(n, dtype=np.int64), best, second, 0.0)


@pytest.mark.parametrize("matched", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_suggestion_separates_known_components(matched: float, seed: int) -> None:
    suggestion = suggest_threshold(_synthetic(400, matched, seed))
    assert suggestion is not None and 60 <= suggestion <= 90
    assert suggestion == round(suggestion, 1)


def test_no_suggestion_without_separation() -> None:
    assert suggest_threshold(_synthetic(400, 0.0, 0)) is None  # all chance
    assert suggest_threshold(_synthetic(30, 0.5, 0)) is None  # too few rows
    flat = np.full(300, 100.0)  # runner-ups without spread (exact mappings only)
    assert suggest_threshold(ScoreSample(np.arange(300), flat, flat, 0.0)) is None
    nan = np.full(300, np.nan)  # one file2 row: no runner-up
    assert suggest_threshold(ScoreSample(np.arange(300), flat, nan, 0.0)) is None
