"""Block drivers: how one chunk of file1 rows meets all of file2.

Rows of both files are grouped by which mappings have a value; each file1 group meets
each file2 group as a `GroupPair` with fixed weights and bounds. Exact mappings whose
bound is positive must be equal, so those rows are hash-joined on them (`_match_join`);
the rest of each block is crossed (`_match_cross`): searched by a fuzzy driver over its
distinct values when one prunes, else expanded into every row pair. Row pairs go to
`verify.evaluate` in batches of at most EXPAND_LIMIT.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from matchq.matching import pairs
from matchq.matching.bounds import GroupPair, Tick, group_pair
from matchq.matching.candidates import driver_candidates, pick_driver
from matchq.matching.pairs import ChunkResult
from matchq.matching.plan import Plan, PreparedJob
from matchq.matching.selection import BestSink, Sink, sink_for
from matchq.matching.verify import evaluate, evaluate_all

EXPAND_LIMIT = 2_000_000  # row pairs evaluated per batch
CROSS_MIN = 2_000  # join groups with at least this many row pairs use a fuzzy driver


def _no_tick() -> None:
    return None


def _grouped(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct codes, and positions sorted by code with each code's start and count."""
    order = np.argsort(codes, kind="stable")
    distinct, starts, counts = np.unique(codes[order], return_index=True, return_counts=True)
    return distinct, order, starts, counts


def _expand(
    rows_a: np.ndarray,
    starts_a: np.ndarray,
    counts_a: np.ndarray,
    rows_b: np.ndarray,
    starts_b: np.ndarray,
    counts_b: np.ndarray,
    extra: np.ndarray | None,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """Row pairs of the blocks rows_a[sa:sa+ca] x rows_b[sb:sb+cb], in bounded batches.

    `extra` (one value per block) is repeated along each block's pairs.
    """
    sizes = counts_a * counts_b
    total = len(sizes)
    start = 0
    cum = np.cumsum(sizes)
    while start < total:
        base = cum[start - 1] if start else 0
        end = int(np.searchsorted(cum, base + EXPAND_LIMIT, side="right"))
        end = max(end, start + 1)
        if end == start + 1 and sizes[start] > EXPAND_LIMIT:
            a = rows_a[starts_a[start] : starts_a[start] + counts_a[start]]
            b_all = rows_b[starts_b[start] : starts_b[start] + counts_b[start]]
            step = max(1, EXPAND_LIMIT // len(a))
            for k in range(0, len(b_all), step):
                b = b_all[k : k + step]
                ex = None if extra is None else np.full(len(a) * len(b), extra[start])
                yield np.repeat(a, len(b)), np.tile(b, len(a)), ex
        else:
            blocks = slice(start, end)
            size = sizes[blocks]
            n = int(size.sum())
            block = np.repeat(np.arange(end - start), size)
            offset = np.arange(n) - np.repeat(np.cumsum(size) - size, size)
            width = counts_b[blocks][block]
            ia = rows_a[starts_a[blocks][block] + offset // width]
            ib = rows_b[starts_b[blocks][block] + offset % width]
            yield ia, ib, None if extra is None else extra[blocks][block]
        start = end


def _match_cross(pair: GroupPair, a_rows: np.ndarray, b_rows: np.ndarray) -> None:
    """All pairs of a_rows x b_rows, pruned by a fuzzy driver when one has a bound."""
    driver = pick_driver(pair)
    if driver is None:
        evaluate_all(pair, a_rows, b_rows)
        return
    queries, order_a, starts_a, counts_a = _grouped(driver.codes1[a_rows])
    choices, order_b, starts_b, counts_b = _grouped(driver.codes2[b_rows])
    sorted_a, sorted_b = a_rows[order_a], b_rows[order_b]
    for p, q, scores in driver_candidates(pair, driver, queries, choices):
        for ia, ib, s in _expand(
            sorted_a, starts_a[p], counts_a[p], sorted_b, starts_b[q], counts_b[q], scores
        ):
            assert s is not None
            evaluate(pair, ia, ib, {driver.index: s})


def _join_keys(
    joins: list[Plan], a_rows: np.ndarray, b_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One key per row, equal exactly when the rows agree on every join mapping."""
    ka, kb = joins[0].codes1[a_rows], joins[0].codes2[b_rows]
    for plan in joins[1:]:
        width = len(plan.compared) + 1
        both = np.concatenate([ka, kb]) * width
        both += np.concatenate([plan.codes1[a_rows], plan.codes2[b_rows]])
        _, inverse = np.unique(both, return_inverse=True)
        ka, kb = inverse[: len(a_rows)], inverse[len(a_rows) :]
    return ka, kb


def _match_join(pair: GroupPair, a_rows: np.ndarray, b_rows: np.ndarray, joins: list[Plan]) -> None:
    """Pairs agreeing on every exact mapping that must be equal (hash join)."""
    ka, kb = _join_keys(joins, a_rows, b_rows)
    keys_a, order_a, starts_a, counts_a = _grouped(ka)
    keys_b, order_b, starts_b, counts_b = _grouped(kb)
    _, ia, ib = np.intersect1d(keys_a, keys_b, assume_unique=True, return_indices=True)
    sorted_a, sorted_b = a_rows[order_a], b_rows[order_b]
    sizes = counts_a[ia] * counts_b[ib]
    big = sizes >= CROSS_MIN
    for a_i, b_i in zip(ia[big].tolist(), ib[big].tolist(), strict=True):
        _match_cross(
            pair,
            sorted_a[starts_a[a_i] : starts_a[a_i] + counts_a[a_i]],
            sorted_b[starts_b[b_i] : starts_b[b_i] + counts_b[b_i]],
        )
    small = ~big
    for pa, pb, _ in _expand(
        sorted_a,
        starts_a[ia[small]],
        counts_a[ia[small]],
        sorted_b,
        starts_b[ib[small]],
        counts_b[ib[small]],
        None,
    ):
        evaluate(pair, pa, pb, {})


def _score_zero(job: PreparedJob, a_rows: np.ndarray, b_rows: np.ndarray, sink: Sink) -> None:
    """Groups with no comparable mapping: every pair scores 0 (a match at threshold 0)."""
    if job.threshold > 0:
        return
    k = len(job.plans)
    if isinstance(sink, BestSink):  # the lowest file2 row of the group wins the tie
        first = np.full(len(a_rows), b_rows[0], np.int64)
        sink.add(
            ChunkResult(a_rows, first, np.zeros(len(a_rows)), np.full((len(a_rows), k), np.nan))
        )
        return
    n = len(a_rows) * len(b_rows)
    pairs.check_count(n, job.mode, job.threshold)
    sink.add(
        ChunkResult(
            np.repeat(a_rows, len(b_rows)),
            np.tile(b_rows, len(a_rows)),
            np.zeros(n),
            np.full((n, k), np.nan),
        )
    )


def _match_groups(
    job: PreparedJob, a_rows: np.ndarray, b_rows: np.ndarray, common: int, sink: Sink, tick: Tick
) -> None:
    pair = group_pair(job, common, sink, tick)
    if pair is None:
        _score_zero(job, a_rows, b_rows, sink)
        return
    joins = [p for p in pair.plans if p.exact and pair.cuts[p.index] > 0]
    if joins:
        pair.known = {p.index: 100.0 for p in joins}
        _match_join(pair, a_rows, b_rows, joins)
    else:
        _match_cross(pair, a_rows, b_rows)


def match_chunk(job: PreparedJob, rows1: np.ndarray, tick: Tick | None = None) -> ChunkResult:
    """Match file1 rows `rows1` (ascending) against all of file2.

    Mode best: each row's best pair; modes all and one_to_one: every pair at or above the
    threshold (`select` applies the mode across chunks). Pure apart from calling `tick`
    (cancellation, progress) now and then.
    """
    tick = tick or _no_tick
    rows1 = np.asarray(rows1, dtype=np.int64)
    sink = sink_for(job, rows1)
    masks = job.masks1[rows1]
    for mask1 in np.unique(masks).tolist():
        a_rows = rows1[masks == mask1]
        for mask2, b_rows in job.groups2:
            _match_groups(job, a_rows, b_rows, mask1 & mask2, sink, tick)
            tick()
    return sink.result()
