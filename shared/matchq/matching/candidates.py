"""Candidates: the distinct value pairs whose driver score reaches the driver's bound.

The driver is one fuzzy mapping of a group pair, the one that prunes most cheaply. Its
distinct values of both sides are scored with `rapidfuzz.process.cdist` and the driver's
bound as score_cutoff, in slabs of choices; for Indel-based scorers (ratio and
token_sort_ratio on pre-sorted tokens) queries whose length alone bounds the ratio below
the cut-off are skipped (ratio <= 200*min(l1, l2)/(l1 + l2)). On large blocks with a high
bound, ratio drivers use the count filter instead (`matchq.matching.count_filter`), its
candidates found by signature search where the allowed distance is small
(`matchq.matching.signatures`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from rapidfuzz import process

from matchq.config import MatchMode
from matchq.matching.bounds import GroupPair
from matchq.matching.count_filter import JARO_WINKLER_KERNEL, CountBound, ValuePairs
from matchq.matching.plan import Plan
from matchq.matching.scorers import RATIO_KERNEL, RF_MARGIN
from matchq.matching.signatures import SignatureFilter

DRIVER_MIN_CUT = 40.0  # below this bound a fuzzy mapping barely prunes
MIN_SLAB = 64  # choices per cdist call at least
# The count filter pays off from this many value pairs and this cut-off on.
FILTER_MIN_PAIRS = 1_000_000
FILTER_MIN_CUT = 70.0
# Jaro-Winkler's count bound (docs/matching.md) prunes from about this cut-off on.
JW_FILTER_MIN_CUT = 88.0
# In mode best with one ratio mapping, queries with a pair scoring at least this are settled
# by a signature search at this cut-off before the search at the job's (docs/matching.md).
SETTLE_CUT = 90.0


def pick_driver(pair: GroupPair) -> Plan | None:
    """The fuzzy mapping to search with: cheapest scorer, then tightest bound; None when no
    fuzzy mapping has a positive bound (nothing prunes)."""
    best: Plan | None = None
    best_key: tuple[float, float] | None = None
    for plan in pair.plans:
        cut = pair.cuts[plan.index]
        if plan.exact or plan.index in pair.known or cut <= 0:
            continue
        assert plan.kernel is not None
        key = (plan.kernel.cost + (0 if cut >= DRIVER_MIN_CUT else 10), -cut)
        if best_key is None or key < best_key:
            best, best_key = plan, key
    return best


def driver_candidates(
    pair: GroupPair, driver: Plan, queries: np.ndarray, choices: np.ndarray
) -> Iterator[ValuePairs]:
    """Value pairs (positions in queries, choices: codes of the driver) whose driver score
    reaches its bound, with their scores."""
    kernel = driver.kernel
    assert kernel is not None
    cut = pair.cuts[driver.index]
    cutoff = max(0.0, cut - RF_MARGIN) / kernel.scale
    if cutoff > 0 and len(queries) * len(choices) >= FILTER_MIN_PAIRS:
        if kernel is RATIO_KERNEL and cut >= FILTER_MIN_CUT:
            yield from count_filtered(pair, driver, queries, choices, cutoff)
            return
        if kernel is JARO_WINKLER_KERNEL and cut >= JW_FILTER_MIN_CUT:
            search = SignatureFilter(driver, queries, choices, CountBound.jaro_winkler(cutoff))
            for p, q, s in search.pairs(pair.tick):
                yield p, q, s * kernel.scale
            return
    yield from _cdist_slabs(pair, driver, queries, choices, cut, cutoff)


def _cdist_slabs(
    pair: GroupPair,
    driver: Plan,
    queries: np.ndarray,
    choices: np.ndarray,
    cut: float,
    cutoff: float,
) -> Iterator[ValuePairs]:
    kernel = driver.kernel
    assert kernel is not None
    if kernel.indel:
        query_order = np.argsort(driver.lengths[queries], kind="stable")
        choice_order = np.argsort(driver.lengths[choices], kind="stable")
    else:
        query_order = np.arange(len(queries))
        choice_order = np.arange(len(choices))
    query_values = driver.values[queries[query_order]]
    choice_values = driver.values[choices[choice_order]]
    query_lengths = driver.lengths[queries[query_order]]
    choice_lengths = driver.lengths[choices[choice_order]]
    step = max(MIN_SLAB, kernel.block_pairs // max(1, len(queries)))
    for s in range(0, len(choices), step):
        e = min(len(choices), s + step)
        if kernel.indel:
            # ratio <= 200*min/(l1+l2): queries shorter than lo*c/(200-c) or longer
            # than hi*(200-c)/c cannot reach c against any choice of this slab.
            lo, hi = float(choice_lengths[s]), float(choice_lengths[e - 1])
            c = min(cut, 100.0)
            first = int(np.searchsorted(query_lengths, lo * c / (200.0 - c) - 1e-9, side="left"))
            last = int(np.searchsorted(query_lengths, hi * (200.0 - c) / c + 1e-9, side="right"))
        else:
            first, last = 0, len(queries)
        if first >= last:
            continue
        matrix = process.cdist(
            query_values[first:last].tolist(),
            choice_values[s:e].tolist(),
            scorer=kernel.func,
            processor=None,
            score_cutoff=cutoff,
            dtype=np.float64,
            workers=-1,
        )
        p, q = np.nonzero(matrix >= cutoff)
        scores = matrix[p, q]
        del matrix
        if kernel.scale != 1.0:
            scores = scores * kernel.scale
        pair.tick()
        if len(p):
            yield query_order[p + first], choice_order[q + s], scores


def count_filtered(
    pair: GroupPair, driver: Plan, queries: np.ndarray, choices: np.ndarray, cutoff: float
) -> Iterator[ValuePairs]:
    """`driver_candidates` for ratio drivers through the count filter (exact: the filter
    only drops pairs below the cut-off)."""
    single_best = pair.job.mode is MatchMode.BEST and len(pair.plans) == 1 and not pair.known
    left = np.arange(len(queries))
    if single_best and driver.values is driver.compared and cutoff <= 100:
        # The driver is the only mapping and only each query's best pair counts. Ratio
        # is 100 only for equal strings, and codes are shared by both files and distinct
        # per string, so a query whose code is among the choices scores 100 with that
        # value and with no other: it is settled without search. (Not for token_sort_ratio:
        # there the scored strings are token-sorted and 'a b', 'b a' both score 100.)
        _, equal_q, equal_c = np.intersect1d(
            queries, choices, assume_unique=True, return_indices=True
        )
        if len(equal_q):
            yield equal_q, equal_c, np.full(len(equal_q), 100.0)
            rest = np.ones(len(queries), bool)
            rest[equal_q] = False
            left = np.flatnonzero(rest)
    if single_best and cutoff < SETTLE_CUT and len(left):
        # Only each query's best pairs count, so a query with some pair scoring s >= SETTLE_CUT
        # needs no pair below s: a search at SETTLE_CUT (signatures only, cheap) finds all
        # pairs scoring >= s, its best among them, and settles it.
        search = SignatureFilter(driver, queries[left], choices, CountBound.ratio(SETTLE_CUT))
        settled = np.zeros(len(left), bool)
        for p, q, s in search.pairs(pair.tick, dense=False):
            settled[p] = True
            yield left[p], q, s
        left = left[~settled]
    if len(left):
        search = SignatureFilter(driver, queries[left], choices, CountBound.ratio(cutoff))
        for p, q, s in search.pairs(pair.tick):
            yield left[p], q, s
