"""The engine equals the brute-force reference, bit for bit, on random tables and configs."""

from __future__ import annotations

import math
import random
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rapidfuzz import fuzz

from matchq.config import MatchConfig, MatchMode, MatchType, Scorer
from matchq.formats import Table
from matchq.matching import (
    ChunkResult,
    blocks,
    candidates,
    count_filter,
    match_chunk,
    match_tables,
    plan,
    prepare,
    select,
    signatures,
    verify,
)
from tests.unit.matching.reference import reference_match

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from synth import make_tables

FILE_ID = "file_12345678-1234-4123-8123-123456789012"
COLUMNS = ["c0", "c1", "c2"]

POOL = [
    "John Smith", "Jon Smith", "Smith John", "john smyth", "JOHN SMITH!", "J. Smith",
    "Café", "cafe", "CAFE", "café au lait", "ß", "ss", "Straße", "strasse", "a b", "b a",
    "a  b", "\xa0x y", "x\x85y", "y\xa0x", " ", "", "-", "...", "ab", "abc", "abd", "ba",
    "\uff2a\uff4f\uff48\uff4e", "İstanbul", "istanbul", "x\u3000y", "y x", "Zoë", "zoe",
    "12345", "12354", "\U0001f600 smile", "smile \U0001f600", "a\u0301", "á",
]  # fmt: skip
VALUES = st.one_of(
    st.none(),
    st.sampled_from(POOL),
    st.text(alphabet="abAB é-\xa0\t", max_size=6),
)


def _table(columns: dict[str, list[str | None]], name: str) -> Table:
    n = len(next(iter(columns.values())))
    return Table(name, list(columns), columns, n)


@st.composite
def tables_and_config(draw: st.DrawFn) -> tuple[Table, Table, MatchConfig, int]:
    n1 = draw(st.integers(1, 7))
    n2 = draw(st.integers(1, 7))
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
            "weight": draw(st.sampled_from([1.0, 0.5, 2.0, 3.7, 0.1, 1000.0])),
        }
        if not exact:
            mapping["scorer"] = draw(st.sampled_from([None, *Scorer]))
        mappings.append(mapping)
    threshold = draw(st.one_of(st.sampled_from([0.0, 50.0, 66.5, 80.0, 90.0, 100.0]),
                               st.floats(0, 100)))  # fmt: skip
    config = MatchConfig(
        file1=FILE_ID, file2=FILE_ID, mappings=mappings, threshold=threshold,
        match_mode=draw(st.sampled_from(list(MatchMode))),
    )  # fmt: skip
    chunk_rows = draw(st.integers(1, 8))
    return _table(cols1, "f1.csv"), _table(cols2, "f2.csv"), config, chunk_rows


def as_pairs(result: ChunkResult) -> list[tuple[int, int, float, tuple[float, ...]]]:
    return [
        (int(i), int(j), float(s), tuple(ms))
        for i, j, s, ms in zip(result.rows1.tolist(), result.rows2.tolist(),
                               result.scores.tolist(), result.mapping_scores.tolist(),
                               strict=True)
    ]  # fmt: skip


def assert_same(got: list[Any], want: list[Any]) -> None:
    assert [p[:3] for p in got] == [p[:3] for p in want]
    for a, b in zip(got, want, strict=True):
        assert len(a[3]) == len(b[3])
        for x, y in zip(a[3], b[3], strict=True):
            assert (math.isnan(x) and math.isnan(y)) or x == y, (a, b)


def tiny_limits(stack: ExitStack) -> None:
    """Force every batching path (slabs, expansion splits, join crosses) on tiny data."""
    stack.enter_context(mock.patch.object(blocks, "EXPAND_LIMIT", 3))
    stack.enter_context(mock.patch.object(blocks, "CROSS_MIN", 2))
    stack.enter_context(mock.patch.object(candidates, "MIN_SLAB", 1))
    stack.enter_context(mock.patch.object(candidates, "DRIVER_MIN_CUT", 0.0))
    # the count filter of ratio drivers, with blocks of a few queries and choices
    stack.enter_context(mock.patch.object(candidates, "FILTER_MIN_PAIRS", 0))
    stack.enter_context(mock.patch.object(candidates, "FILTER_MIN_CUT", 0.0))
    stack.enter_context(mock.patch.object(candidates, "JW_FILTER_MIN_CUT", 0.0))
    stack.enter_context(mock.patch.object(count_filter, "FILTER_ROWS", 3))
    stack.enter_context(mock.patch.object(count_filter, "FILTER_COLS", 2))
    stack.enter_context(mock.patch.object(count_filter, "VERIFY_ROWS", 2))
    stack.enter_context(mock.patch.object(count_filter, "RESULT_BATCH", 1))
    # the signature search in front of it, with blocks of a few queries and pairs
    stack.enter_context(mock.patch.object(signatures, "QUERY_BLOCK", 2))
    stack.enter_context(mock.patch.object(signatures, "PROBE_BLOCK", 2))
    # blocks no mapping prunes, scored a row or two at a time
    stack.enter_context(mock.patch.object(verify, "DENSE_PAIRS", 3))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=tables_and_config(), tiny=st.booleans())
def test_engine_equals_reference(data: tuple[Table, Table, MatchConfig, int], tiny: bool) -> None:
    table1, table2, config, chunk_rows = data
    with ExitStack() as stack:
        if tiny:
            tiny_limits(stack)
        got = as_pairs(match_tables(config, table1, table2, chunk_rows=chunk_rows))
    assert_same(got, reference_match(config, table1.columns, table2.columns))


def _synthetic(n1: int, n2: int, seed: int) -> tuple[Table, Table]:
    rows1, rows2 = make_tables(n1, n2, seed=seed)

    def table(rows: list[list[str]], name: str) -> Table:
        cols = {c: [r[k] or None for r in rows[1:]] for k, c in enumerate(rows[0])}
        return Table(name, rows[0], cols, len(rows) - 1)

    return table(rows1, "a.csv"), table(rows2, "b.csv")


MEDIUM_CONFIGS: list[dict[str, Any]] = [
    {"mappings": [{"file1_col": "name", "file2_col": "name", "scorer": "ratio"}],
     "threshold": 80},
    {"mappings": [{"file1_col": "name", "file2_col": "name"}], "threshold": 75,
     "match_mode": "all"},
    {"mappings": [{"file1_col": "name", "file2_col": "name", "scorer": "jaro_winkler"}],
     "threshold": 88, "match_mode": "one_to_one"},
    {"mappings": [
        {"file1_col": "first", "file2_col": "first", "scorer": "ratio"},
        {"file1_col": "last", "file2_col": "last", "weight": 1.5},
        {"file1_col": "city", "file2_col": "city", "match_type": "exact"},
        {"file1_col": "zip", "file2_col": "zip", "match_type": "exact", "weight": 0.5}],
     "threshold": 80},
    {"mappings": [
        {"file1_col": "first", "file2_col": "first", "scorer": "partial_ratio"},
        {"file1_col": "email", "file2_col": "email", "scorer": "token_set_ratio", "weight": 2}],
     "threshold": 60, "match_mode": "all"},
    {"mappings": [{"file1_col": "last", "file2_col": "last", "scorer": "WRatio"},
                  {"file1_col": "city", "file2_col": "city", "match_type": "exact"}],
     "threshold": 0, "match_mode": "best"},
]  # fmt: skip


@pytest.mark.parametrize("spec", MEDIUM_CONFIGS)
@pytest.mark.parametrize("tiny", [False, True])
def test_engine_equals_reference_on_person_names(spec: dict[str, Any], tiny: bool) -> None:
    table1, table2 = _synthetic(70, 90, seed=3)
    config = MatchConfig(file1=FILE_ID, file2=FILE_ID, **spec)
    with ExitStack() as stack:
        if tiny:
            tiny_limits(stack)
        got = as_pairs(match_tables(config, table1, table2, chunk_rows=16))
    want = reference_match(config, table1.columns, table2.columns)
    assert want, "the case should have matches"
    assert_same(got, want)


def test_duplicate_heavy_values_and_empties() -> None:
    rng = random.Random(5)
    words = ["anna", "anne", "ann", "hanna", None, "", " "]
    cols1 = {"a": [rng.choice(words) for _ in range(120)],
             "b": [rng.choice(["x", "y", None]) for _ in range(120)]}  # fmt: skip
    cols2 = {"a": [rng.choice(words) for _ in range(150)],
             "b": [rng.choice(["x", "y", None]) for _ in range(150)]}  # fmt: skip
    for mode in MatchMode:
        config = MatchConfig(
            file1=FILE_ID, file2=FILE_ID, match_mode=mode, threshold=70,
            mappings=[{"file1_col": "a", "file2_col": "a", "scorer": "ratio"},
                      {"file1_col": "b", "file2_col": "b", "match_type": "exact"}],
        )  # fmt: skip
        with ExitStack() as stack:
            tiny_limits(stack)
            got = as_pairs(match_tables(config, _table(cols1, "1.csv"), _table(cols2, "2.csv"),
                                        chunk_rows=13))  # fmt: skip
        assert_same(got, reference_match(config, cols1, cols2))


@pytest.mark.parametrize("mode", list(MatchMode))
def test_score_exactly_at_threshold_matches(mode: MatchMode) -> None:
    # Jaro-Winkler('b a', 'b') is exactly 0.8; rapidfuzz rejects it at score_cutoff 0.79999999.
    cols1: dict[str, list[str | None]] = {"c0": [None, "b a", "b  a"]}
    cols2: dict[str, list[str | None]] = {"c2": ["b"]}
    config = MatchConfig(
        file1=FILE_ID, file2=FILE_ID, threshold=80, match_mode=mode,
        mappings=[{"file1_col": "c0", "file2_col": "c2", "scorer": "jaro_winkler",
                   "use_normalization": False}],
    )  # fmt: skip
    got = as_pairs(match_tables(config, _table(cols1, "1.csv"), _table(cols2, "2.csv")))
    want = reference_match(config, cols1, cols2)
    assert want[0][:3] == (1, 0, 80.0)
    assert_same(got, want)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12))
def test_ascii_fast_path_of_normalize_equals_the_unicode_path(text: str) -> None:
    import unicodedata

    from matchq.matching import normalize as norm

    ascii_text = text.encode("ascii", "replace").decode()
    slow = unicodedata.normalize("NFKC", ascii_text)
    slow = "".join(c for c in unicodedata.normalize("NFKD", slow) if not unicodedata.combining(c))
    slow = " ".join(slow.casefold().translate(norm._punct_to_space()).split())
    assert norm.normalize(ascii_text) == slow


def test_chunks_are_independent_units() -> None:
    """Chunks matched separately, in any order, select to the same result (fan-out unit)."""
    table1, table2 = _synthetic(60, 80, seed=11)
    for spec in MEDIUM_CONFIGS[:4]:
        config = MatchConfig(file1=FILE_ID, file2=FILE_ID, **spec)
        job = prepare(config, table1, table2)
        bounds = [(0, 7), (7, 31), (31, 60)]
        parts = [match_chunk(job, np.arange(lo, hi)) for lo, hi in reversed(bounds)]
        got = as_pairs(select(job, parts))
        assert_same(got, reference_match(config, table1.columns, table2.columns))


# --- the count filter of ratio drivers ------------------------------------------------------

FILTER_TEXT = st.text(alphabet="aabbcé \u0301\U0001f600", min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(FILTER_TEXT, min_size=2, max_size=8), st.sampled_from([1, 3, 8, 64]))
def test_token_bits_bound_the_indel_distance(values: list[str], bits: int) -> None:
    from rapidfuzz.distance import Indel

    with mock.patch.object(count_filter, "TOKEN_BITS", bits):
        tokens = count_filter.token_bits(plan.object_array(list(values)))
    lengths = np.array([len(v) for v in values])
    rest = lengths - np.bitwise_count(tokens).astype(np.int64)
    for i, a in enumerate(values):
        for j, b in enumerate(values):
            bound = int(np.bitwise_count(tokens[i] ^ tokens[j])) + abs(int(rest[i] - rest[j]))
            assert bound <= Indel.distance(a, b, processor=None), (a, b)


@settings(max_examples=500, deadline=None)
@given(FILTER_TEXT, FILTER_TEXT)
def test_count_bounds_hold_at_the_pairs_own_score(a: str, b: str) -> None:
    """A pair reaches its own score, so the bound at that cut-off must let it through."""
    from collections import Counter

    from rapidfuzz.distance import JaroWinkler

    ca, cb = Counter(a), Counter(b)
    differ = sum(((ca - cb) + (cb - ca)).values())  # |T(a) xor T(b)|
    ratio = count_filter.CountBound.ratio(fuzz.ratio(a, b, processor=None))
    assert differ <= int(ratio.allowed(len(a), np.array([len(b)]))[0])
    jw = count_filter.CountBound.jaro_winkler(JaroWinkler.normalized_similarity(a, b))
    assert differ <= int(jw.allowed(len(a), np.array([len(b)]))[0])


@st.composite
def ratio_tables(draw: st.DrawFn) -> tuple[Table, Table, MatchConfig, int]:
    text = st.one_of(st.none(), FILTER_TEXT, st.sampled_from(POOL))
    n1, n2 = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    cols1 = {"c0": draw(st.lists(text, min_size=n1, max_size=n1))}
    cols2 = {"c0": draw(st.lists(text, min_size=n2, max_size=n2))}
    config = MatchConfig(
        file1=FILE_ID, file2=FILE_ID,
        mappings=[{"file1_col": "c0", "file2_col": "c0",
                   "scorer": draw(st.sampled_from(["ratio", "token_sort_ratio",
                                                   "jaro_winkler"])),
                   "use_normalization": draw(st.booleans())}],
        threshold=draw(st.one_of(st.sampled_from([50.0, 80.0, 100.0]), st.floats(0, 100))),
        match_mode=draw(st.sampled_from(list(MatchMode))),
    )  # fmt: skip
    return _table(cols1, "f1.csv"), _table(cols2, "f2.csv"), config, draw(st.integers(1, 5))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=ratio_tables(),
    bits=st.sampled_from([1, 3, 64]),
    chunks=st.sampled_from([0, 1, 2, 6]),
    settle=st.sampled_from([50.0, 90.0, 101.0]),
)
def test_count_filter_path_equals_reference(
    data: tuple[Table, Table, MatchConfig, int], bits: int, chunks: int, settle: float
) -> None:
    table1, table2, config, chunk_rows = data
    with ExitStack() as stack:
        tiny_limits(stack)
        stack.enter_context(mock.patch.object(count_filter, "TOKEN_BITS", bits))
        # 0: the dense filter only; 6: signature search up to tau = 11
        stack.enter_context(mock.patch.object(signatures, "MAX_CHUNKS", chunks))
        # mode best's settling search, at cut-offs below and above the job's
        stack.enter_context(mock.patch.object(candidates, "SETTLE_CUT", settle))
        got = as_pairs(match_tables(config, table1, table2, chunk_rows=chunk_rows))
    assert_same(got, reference_match(config, table1.columns, table2.columns))


def _names_config(threshold: float) -> MatchConfig:
    return MatchConfig(file1=FILE_ID, file2=FILE_ID, threshold=threshold, match_mode="all",
                       mappings=[{"file1_col": "name", "file2_col": "name",
                                  "scorer": "ratio"}])  # fmt: skip


def _spy(stack: ExitStack, owner: Any, name: str) -> mock.MagicMock:
    """Count the calls of owner.name while it keeps working."""
    original = getattr(owner, name)
    spy: mock.MagicMock = stack.enter_context(
        mock.patch.object(owner, name, autospec=True, side_effect=original)
    )
    return spy


def _names_match(
    n1: int, n2: int, seed: int, threshold: float, chunk_rows: int, spies: list[tuple[Any, str]]
) -> tuple[list[mock.MagicMock], list[Any], list[Any]]:
    """Match synthetic person names under tiny limits; the spies, got and want."""
    table1, table2 = _synthetic(n1, n2, seed=seed)
    config = _names_config(threshold)
    with ExitStack() as stack:
        tiny_limits(stack)
        stack.enter_context(mock.patch.object(count_filter, "FILTER_ROWS", 16))
        stack.enter_context(mock.patch.object(count_filter, "FILTER_COLS", 64))
        stack.enter_context(mock.patch.object(signatures, "QUERY_BLOCK", 16))
        stack.enter_context(mock.patch.object(signatures, "PROBE_BLOCK", 64))
        watched = [_spy(stack, owner, name) for owner, name in spies]
        got = as_pairs(match_tables(config, table1, table2, chunk_rows=chunk_rows))
    return watched, got, reference_match(config, table1.columns, table2.columns)


def test_count_filter_path_is_taken_on_person_names() -> None:
    (spy,), got, want = _names_match(150, 200, 9, 80, 40, [(candidates, "count_filtered")])
    assert spy.call_count >= 4
    assert len(want) > 50
    assert_same(got, want)


def test_signature_search_and_dense_filter_share_a_job_on_person_names() -> None:
    # at 88 most names have tau <= 3 (two 32-bit chunks), the longest ones go dense
    (sparse, dense), got, want = _names_match(
        300,
        400,
        11,
        88,
        100,
        [(signatures.SignatureFilter, "match_unit"), (count_filter.CountFilter, "match_class")],
    )
    assert sparse.call_count >= 4
    assert dense.call_count >= 1
    assert len(want) > 50
    assert_same(got, want)


def test_count_filter_takes_lone_surrogates() -> None:
    # a JSON file may hold "\ud800": a str Python cannot encode as UTF-8 or UTF-32
    cols1: dict[str, list[str | None]] = {"c0": ["\ud800ab", "ab\udfff", "abc", "\ud800"]}
    cols2: dict[str, list[str | None]] = {"c0": ["ab\ud800", "\ud800ab", "abd", "\udfff"]}
    for mode in MatchMode:
        config = MatchConfig(
            file1=FILE_ID, file2=FILE_ID, threshold=50, match_mode=mode,
            mappings=[{"file1_col": "c0", "file2_col": "c0", "scorer": "ratio"}],
        )  # fmt: skip
        with ExitStack() as stack:
            tiny_limits(stack)
            spy = stack.enter_context(
                mock.patch.object(candidates, "count_filtered", wraps=candidates.count_filtered)
            )
            got = as_pairs(match_tables(config, _table(cols1, "1.csv"), _table(cols2, "2.csv")))
        assert spy.called
        assert_same(got, reference_match(config, cols1, cols2))


@pytest.mark.parametrize("scorer", ["ratio", "token_sort_ratio"])
def test_best_mode_ties_at_100_between_different_values(scorer: str) -> None:
    # token_sort_ratio('a b', 'b a') is 100 too: the lower file2 row wins the tie
    cols1: dict[str, list[str | None]] = {"c0": ["a b", "x y z", "b a"]}
    cols2: dict[str, list[str | None]] = {"c0": ["z y x", "b a", "a b", "x y z"]}
    config = MatchConfig(
        file1=FILE_ID, file2=FILE_ID, threshold=80, match_mode="best",
        mappings=[{"file1_col": "c0", "file2_col": "c0", "scorer": scorer}],
    )  # fmt: skip
    with ExitStack() as stack:
        tiny_limits(stack)
        got = as_pairs(match_tables(config, _table(cols1, "1.csv"), _table(cols2, "2.csv")))
    want = reference_match(config, cols1, cols2)
    if scorer == "token_sort_ratio":
        assert [p[:2] for p in want] == [(0, 1), (1, 0), (2, 1)]
    assert_same(got, want)


@pytest.mark.parametrize(
    ("scorer", "threshold", "mode"),
    [("ratio", 80, "best"), ("ratio", 70, "all"), ("token_sort_ratio", 85, "best"),
     ("ratio", 90, "one_to_one")],
)  # fmt: skip
def test_count_filter_equals_the_cdist_path_at_real_block_sizes(
    scorer: str, threshold: float, mode: str
) -> None:
    """Thousands of names: the count filter (real block sizes) == the plain cdist path."""
    table1, table2 = _synthetic(1200, 1500, seed=21)
    config = MatchConfig(file1=FILE_ID, file2=FILE_ID, threshold=threshold, match_mode=mode,
                         mappings=[{"file1_col": "name", "file2_col": "name",
                                    "scorer": scorer}])  # fmt: skip
    with mock.patch.object(candidates, "FILTER_MIN_PAIRS", 0):
        got = as_pairs(match_tables(config, table1, table2, chunk_rows=500))
    with mock.patch.object(candidates, "FILTER_MIN_PAIRS", 10**18):
        want = as_pairs(match_tables(config, table1, table2, chunk_rows=500))
    assert len(want) > 300
    assert_same(got, want)
