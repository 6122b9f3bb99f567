"""Verification: score candidate row pairs on every comparable mapping, emit the matches.

Mappings are scored cheapest first (exact, then by kernel cost, then tightest bound) and
each drops the pairs below its bound before the next one runs. The surviving pairs' mean
is computed in mapping order with the same float operations as the brute-force
reference, so the final `score >= threshold` is decided on bit-identical numbers.
"""

from __future__ import annotations

import numpy as np
from rapidfuzz import process

from matchq.matching.bounds import GroupPair
from matchq.matching.pairs import ChunkResult
from matchq.matching.plan import Plan
from matchq.matching.scorers import RF_MARGIN


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
