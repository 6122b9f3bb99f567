"""Verification: score candidate row pairs on every comparable mapping, emit the matches.

Mappings are scored cheapest first (exact, then by kernel cost, then tightest bound) and
each drops the pairs below its bound before the next one runs. The surviving pairs' mean
is computed in mapping order with the same float operations as the brute-force
reference, so the final `score >= threshold` is decided on bit-identical numbers.
"""

from __future__ import annotations

import numpy as np
from rapidfuzz import process

from matchq.config import MatchMode
from matchq.matching.bounds import GroupPair
from matchq.matching.pairs import ChunkResult
from matchq.matching.plan import Plan
from matchq.matching.scorers import RF_MARGIN

DENSE_PAIRS = 2_000_000  # row pairs per block of `evaluate_all`
# Batched scores of an inexact kernel (Jaro-Winkler) differ from the scalar ones by far
# less than this; `evaluate_all` keeps such pairs this close below the line and rescores.
INEXACT_SLACK = 0.01


def fuzzy_scores(plan: Plan, rows1: np.ndarray, rows2: np.ndarray, cut: float) -> np.ndarray:
    """Batched scores of `plan` for row pairs; exact where >= cut (0 may stand for < cut)."""
    kernel = plan.kernel
    assert kernel is not None
    codes1, codes2 = plan.codes1[rows1], plan.codes2[rows2]
    out = np.empty(len(rows1))
    rf_cutoff = (cut - RF_MARGIN) / kernel.scale if cut > RF_MARGIN else None
    for k in range(0, len(rows1), kernel.block_pairs):
        batch = slice(k, k + kernel.block_pairs)
        out[batch] = process.cpdist(
            plan.values[codes1[batch]].tolist(),
            plan.values[codes2[batch]].tolist(),
            scorer=kernel.func,
            processor=None,
            score_cutoff=rf_cutoff,
            dtype=np.float64,
            workers=-1,
        )
    if kernel.scale != 1.0:
        out *= kernel.scale
    return out


def scalar_rescore(plan: Plan, rows1: np.ndarray, rows2: np.ndarray) -> np.ndarray:
    """Scores from the scalar scorer, computed once per distinct value pair."""
    assert plan.scalar is not None
    width = len(plan.compared) + 1
    key = plan.codes1[rows1] * width + plan.codes2[rows2]
    distinct, inverse = np.unique(key, return_inverse=True)
    scalar, compared = plan.scalar, plan.compared
    scores = np.array(
        [scalar(compared[u // width], compared[u % width]) for u in distinct.tolist()],
        dtype=np.float64,
    )
    return scores[inverse]


def _scoring_order(pair: GroupPair, plan: Plan) -> tuple[bool, int, float]:
    return (not plan.exact, plan.kernel.cost if plan.kernel else -1, -pair.cuts[plan.index])


def evaluate(
    pair: GroupPair, rows1: np.ndarray, rows2: np.ndarray, given: dict[int, np.ndarray]
) -> None:
    """Score row pairs on every comparable mapping, prune by bounds, emit the matches.

    `given` holds scores already computed (the driver's), per mapping index.
    """
    scores = dict(given)
    pending = [p for p in pair.plans if p.index not in pair.known and p.index not in scores]
    pending.sort(key=lambda p: _scoring_order(pair, p))
    for plan in pending:
        if not len(rows1):
            return
        cut = pair.cuts[plan.index]
        if plan.exact:
            s = np.where(plan.codes1[rows1] == plan.codes2[rows2], 100.0, 0.0)
        else:
            s = fuzzy_scores(plan, rows1, rows2, cut)
        if cut > 0:
            keep = s >= cut
            if not keep.all():
                rows1, rows2, s = rows1[keep], rows2[keep], s[keep]
                scores = {k: v[keep] for k, v in scores.items()}
        scores[plan.index] = s
        pair.tick()
    if not len(rows1):
        return
    for plan in pair.plans:
        if plan.kernel is not None and not plan.kernel.exact and plan.index in scores:
            scores[plan.index] = scalar_rescore(plan, rows1, rows2)
    total = np.zeros(len(rows1))
    mapping_scores = np.full((len(rows1), len(pair.job.plans)), np.nan)
    for plan in pair.plans:  # mapping order, as the reference
        if plan.index in pair.known:
            term = pair.known[plan.index]
            total = total + plan.weight * term
            mapping_scores[:, plan.index] = term
        else:
            total = total + plan.weight * scores[plan.index]
            mapping_scores[:, plan.index] = scores[plan.index]
    score = total / pair.weight_sum
    keep = score >= pair.job.threshold
    if keep.any():
        pair.sink.add(ChunkResult(rows1[keep], rows2[keep], score[keep], mapping_scores[keep]))


def _distinct_scores(plan: Plan, a_codes: np.ndarray, b_codes: np.ndarray) -> np.ndarray:
    """Scores of every a_codes x b_codes pair (codes distinct, none empty), one per cell."""
    if plan.exact:
        return np.where(a_codes[:, None] == b_codes[None, :], 100.0, 0.0)
    kernel = plan.kernel
    assert kernel is not None
    matrix = process.cdist(
        plan.values[a_codes].tolist(),
        plan.values[b_codes].tolist(),
        scorer=kernel.func,
        processor=None,
        dtype=np.float64,
        workers=-1,
    )
    if kernel.scale != 1.0:
        matrix *= kernel.scale
    return matrix


def evaluate_all(pair: GroupPair, a_rows: np.ndarray, b_rows: np.ndarray) -> None:
    """`evaluate` of every pair of a_rows x b_rows, for blocks no mapping prunes.

    Each mapping is scored once per distinct value pair of a block (cdist over the
    block's distinct values, never string lists per row pair), the row pairs' scores are
    gathered from those matrices and summed in mapping order as the reference sums them,
    and only the pairs that reach the threshold (in mode best: also their row's best
    score) go on to `evaluate`, with their scores given, which decides them exactly.
    """
    plans = [p for p in pair.plans if p.index not in pair.known]
    inexact = any(p.kernel is not None and not p.kernel.exact for p in plans)
    slack = INEXACT_SLACK if inexact else 0.0
    line = pair.job.threshold - slack
    best = pair.job.mode is MatchMode.BEST
    b_distinct = {}
    for plan in plans:
        codes, inverse = np.unique(plan.codes2[b_rows], return_inverse=True)
        b_distinct[plan.index] = (codes, inverse)
    step = max(1, DENSE_PAIRS // max(1, len(b_rows)))
    for k in range(0, len(a_rows), step):
        a = a_rows[k : k + step]
        gathered = {}
        total = np.zeros((len(a), len(b_rows)))
        for plan in pair.plans:  # mapping order, as the reference
            if plan.index in pair.known:
                total = total + plan.weight * pair.known[plan.index]
                continue
            codes, inverse = np.unique(plan.codes1[a], return_inverse=True)
            b_codes, b_inverse = b_distinct[plan.index]
            matrix = _distinct_scores(plan, codes, b_codes)
            gathered[plan.index] = (matrix, inverse, b_inverse)
            total = total + plan.weight * matrix[inverse[:, None], b_inverse[None, :]]
            pair.tick()
        score = total / pair.weight_sum
        keep = score >= line
        if best:  # only pairs that may be their row's best
            top = score.max(axis=1, initial=-np.inf)
            keep &= score >= (top - slack)[:, None]
        p, q = np.nonzero(keep)
        del total, score, keep
        if not len(p):
            continue
        given = {i: m[inv_a[p], inv_b[q]] for i, (m, inv_a, inv_b) in gathered.items()}
        evaluate(pair, a[p], b_rows[q], given)
