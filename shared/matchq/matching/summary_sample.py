"""The score sample of a job's summary: a score histogram and a suggested threshold.

`sample_scores` takes a seeded random sample of file1 rows and scores each against every
file2 row with no threshold, keeping each sampled row's best and runner-up score. The
scores are the job's own pair scores, bit for bit: the same prepared values, the same
rapidfuzz kernels (`cdist` over distinct values, as `verify.evaluate_all`), the weighted
mean summed in mapping order over the comparable mappings (docs/matching.md, "The score
of a pair"), and batched Jaro-Winkler scores rescored with the scalar scorer wherever
they could decide a best or runner-up. file2 is taken in blocks, so memory is bounded by
BLOCK_CELLS whatever its size. `score_histogram` bins the best scores; `suggest_threshold`
estimates, without labels, the threshold that separates true matches from chance ones
(docs/matching.md, "Score histogram and suggested threshold").
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from rapidfuzz import process

from matchq.matching.plan import Plan, PreparedJob
from matchq.matching.verify import INEXACT_SLACK

SAMPLE_CELLS = 1_000_000  # sampled rows x file2 rows (per mapping) the size rule aims at
MIN_SAMPLE_ROWS = 200  # fewer sampled rows than this tell too little (unless rows1 is less)
MAX_SAMPLE_ROWS = 1000  # more add little to the histogram and the suggestion
BLOCK_CELLS = 2_000_000  # sampled rows x file2 rows scored at a time
FULL_CELLS = 4_000_000  # distinct value pairs of a mapping scored once up front, at most
HISTOGRAM_BINS = 20  # bins of 5 points over 0-100; the last one includes 100
MIN_SUGGEST_ROWS = 50  # sampled rows with a runner-up needed for a suggestion
TAIL_FROM, TAIL_TO = 0.5, 0.85  # runner-up quantiles the chance tail is fitted between
MAX_CHANCE_FOR_N1 = 0.25  # rows with a partner are counted where chance is at most this
MIN_GAP_ROWS = 10  # surely-chance rows needed to measure the best - runner-up gap
MIN_ABOVE = 2  # rows estimated to have a true partner, at least


@dataclass(frozen=True)
class ScoreSample:
    """The sampled file1 rows' best and runner-up scores against all of file2."""

    rows: np.ndarray  # sampled file1 rows (int64, sorted)
    best: np.ndarray  # float64: each row's best score (0.0 when no pair is comparable)
    second: np.ndarray  # float64: its runner-up over the other file2 rows (NaN: rows2 < 2)
    seconds: float  # time taken


def sample_size(rows1: int, rows2: int) -> int:
    """How many file1 rows the sample scores: about SAMPLE_CELLS / rows2, between
    MIN_SAMPLE_ROWS and MAX_SAMPLE_ROWS, never more than rows1."""
    wanted = max(MIN_SAMPLE_ROWS, min(MAX_SAMPLE_ROWS, SAMPLE_CELLS // max(1, rows2)))
    return max(0, min(rows1, wanted))


def sample_rows(rows1: int, rows2: int, seed: int = 0) -> np.ndarray:
    """The sampled file1 rows, sorted: `sample_size` of them drawn without replacement by
    `numpy.random.default_rng(seed)` (all rows when the size reaches rows1)."""
    size = sample_size(rows1, rows2)
    if size >= rows1:
        return np.arange(rows1, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(rows1, size=size, replace=False).astype(np.int64))


# --- scoring ---------------------------------------------------------------------------------


def _no_tick() -> None:
    return None


def _distinct(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct non-empty codes, and per position its index into them plus one (0 for
    an empty value), to index a score matrix whose row or column 0 is all zeros."""
    uniques, inverse = np.unique(codes, return_inverse=True)
    if len(uniques) and uniques[0] < 0:
        return uniques[1:], inverse
    return uniques, inverse + 1


def _score_matrix(plan: Plan, a_codes: np.ndarray, b_codes: np.ndarray) -> np.ndarray:
    """Scores of distinct non-empty codes a x b, padded with a zero row and column first
    (batched: Jaro-Winkler's are within INEXACT_SLACK of the scalar scores)."""
    out = np.zeros((len(a_codes) + 1, len(b_codes) + 1))
    if not len(a_codes) or not len(b_codes):
        return out
    kernel = plan.kernel
    assert kernel is not None
    out[1:, 1:] = process.cdist(
        plan.values[a_codes].tolist(),
        plan.values[b_codes].tolist(),
        scorer=kernel.func,
        processor=None,
        dtype=np.float64,
        workers=-1,
    )
    if kernel.scale != 1.0:
        out[1:, 1:] *= kernel.scale
    return out


@dataclass
class _Fuzzy:
    """A fuzzy mapping's sampled side: distinct codes, and the whole matrix when small."""

    plan: Plan
    a_codes: np.ndarray
    a_index: np.ndarray
    full: np.ndarray | None = None  # scores a x every distinct file2 code (padded)
    column: np.ndarray | None = None  # file2 code + 1 -> column of `full` (0: empty)


def _fuzzy_side(plan: Plan, rows: np.ndarray) -> _Fuzzy:
    a_codes, a_index = _distinct(plan.codes1[rows])
    side = _Fuzzy(plan, a_codes, a_index)
    present = np.zeros(len(plan.values) + 1, bool)
    present[plan.codes2 + 1] = True
    present[0] = False
    b_codes = np.flatnonzero(present) - 1
    assert plan.kernel is not None
    if len(a_codes) * len(b_codes) <= min(FULL_CELLS, plan.kernel.block_pairs):
        side.full = _score_matrix(plan, a_codes, b_codes)
        column = np.zeros(len(plan.values) + 1, np.int64)
        column[b_codes + 1] = np.arange(1, len(b_codes) + 1)
        side.column = column
    return side


@dataclass
class _Block:
    """One block of file2 rows against the sample: approximate or exact scores, and per
    mapping how to look up any pair's own score again (matrix, row index, column index)."""

    scores: np.ndarray  # sampled rows x block rows
    weights: np.ndarray | float  # the comparable mappings' weight sum (per cell, or one)
    lookups: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]


def _add_weight(
    weights: np.ndarray | float, weight: float, a: np.ndarray, b: np.ndarray
) -> np.ndarray | float:
    """`weights` plus `weight` where a mapping is comparable (plus 0.0 elsewhere): one
    number while every pair so far had the same mappings, else one per cell."""
    full_a, full_b = bool((a >= 0).all()), bool((b >= 0).all())
    if full_a and full_b:
        return weights + weight
    if isinstance(weights, float):
        weights = np.full((len(a), len(b)), weights)
    weights += np.where((a >= 0)[:, None] & (b >= 0)[None, :], weight, 0.0)
    return weights


def _score_block(
    job: PreparedJob,
    rows: np.ndarray,
    sides: dict[int, _Fuzzy],
    block: slice,
    tick: Callable[[], None],
) -> _Block:
    """Pair scores of the sampled rows x file2 rows `block`: the weighted mean over the
    comparable mappings, summed in mapping order (a mapping left out adds 0.0, which
    changes no sum), the same float operations as the engine."""
    total = np.zeros((len(rows), block.stop - block.start))
    weights: np.ndarray | float = 0.0
    lookups: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for plan in job.plans:  # mapping order, as the engine and the reference sum
        a = plan.codes1[rows]
        b = plan.codes2[block]
        if plan.exact:
            equal = (a[:, None] == b[None, :]) & (a >= 0)[:, None]
            total += np.where(equal, plan.weight * 100.0, 0.0)
        else:
            side = sides[plan.index]
            if side.full is not None and side.column is not None:
                matrix, b_index = side.full, side.column[b + 1]
            else:
                b_codes, b_index = _distinct(b)
                matrix = _score_matrix(plan, side.a_codes, b_codes)
            lookups[plan.index] = (matrix, side.a_index, b_index)
            term = matrix[side.a_index[:, None], b_index[None, :]]
            term *= plan.weight
            total += term
            del term
        weights = _add_weight(weights, plan.weight, a, b)
        tick()
    if isinstance(weights, float):
        total /= weights
    else:
        np.divide(total, weights, out=total, where=weights > 0)
        total[weights <= 0] = 0.0
    return _Block(total, weights, lookups)


def _exact_scores(
    job: PreparedJob, rows: np.ndarray, block: slice, data: _Block, p: np.ndarray, q: np.ndarray
) -> np.ndarray:
    """Exact scores of the cells (p, q) of a block: Jaro-Winkler rescored by the scalar
    scorer once per distinct value pair, every term summed again in mapping order."""
    total = np.zeros(len(p))
    cols = np.arange(block.start, block.stop)[q]
    for plan in job.plans:
        a, b = plan.codes1[rows[p]], plan.codes2[cols]
        if plan.exact:
            term = np.where((a >= 0) & (a == b), 100.0, 0.0)
        elif plan.kernel is not None and not plan.kernel.exact:
            term = _scalar_scores(plan, a, b)
        else:
            matrix, a_index, b_index = data.lookups[plan.index]
            term = matrix[a_index[p], b_index[q]]
        total = total + plan.weight * term
    weights = data.weights[p, q] if isinstance(data.weights, np.ndarray) else data.weights
    out = np.zeros(len(p))
    np.divide(total, weights, out=out, where=weights > 0)
    return out


def _scalar_scores(plan: Plan, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The scalar scorer's scores of code pairs (0.0 where either is empty)."""
    assert plan.scalar is not None
    out = np.zeros(len(a))
    both = (a >= 0) & (b >= 0)
    width = len(plan.compared) + 1
    keys, inverse = np.unique(a[both] * width + b[both], return_inverse=True)
    scalar, compared = plan.scalar, plan.compared
    scores = np.array(
        [scalar(compared[k // width], compared[k % width]) for k in keys.tolist()],
        dtype=np.float64,
    )
    out[both] = scores[inverse]
    return out


def _top_two(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a matrix its largest and second-largest value (-inf when missing)."""
    n, width = scores.shape
    if width == 0:
        return np.full(n, -np.inf), np.full(n, -np.inf)
    if width == 1:
        return scores[:, 0].copy(), np.full(n, -np.inf)
    top = np.partition(scores, width - 2, axis=1)[:, -2:]
    return top.max(axis=1), top.min(axis=1)


def _sparse_top_two(n: int, p: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row 0..n-1 the two largest of `values` at rows `p` (-inf when missing)."""
    first, second = np.full(n, -np.inf), np.full(n, -np.inf)
    order = np.lexsort((-values, p))
    p, values = p[order], values[order]
    starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]]) if len(p) else np.empty(0, np.int64)
    first[p[starts]] = values[starts]
    nxt = starts + 1
    has_next = nxt < len(p)
    has_next[has_next] &= p[nxt[has_next]] == p[starts[has_next]]
    second[p[starts[has_next]]] = values[nxt[has_next]]
    return first, second


def _merge(
    best: np.ndarray, second: np.ndarray, b1: np.ndarray, b2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The two largest of {best, second, b1, b2} per row (best >= second, b1 >= b2)."""
    return np.maximum(best, b1), np.maximum(np.minimum(best, b1), np.maximum(second, b2))


def _block_rows(job: PreparedJob, sampled: int) -> int:
    """file2 rows per block: BLOCK_CELLS cells, fewer for slow scorers (Kernel.block_pairs)."""
    cells = BLOCK_CELLS
    for plan in job.plans:
        if plan.kernel is not None:
            cells = min(cells, plan.kernel.block_pairs)
    return max(1, cells // max(1, sampled))


def score_rows(
    job: PreparedJob, rows: np.ndarray, tick: Callable[[], None] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Best and runner-up score of each of file1 `rows` against every file2 row.

    Exact whatever the kernels: with an inexact batched kernel (Jaro-Winkler) the cells
    whose batched score comes within twice INEXACT_SLACK of the row's runner-up are
    rescored with the scalar scorer, so both values are the engine's scores of those pairs.
    """
    tick = tick or _no_tick
    rows = np.asarray(rows, dtype=np.int64)
    n = len(rows)
    best, second = np.full(n, -np.inf), np.full(n, -np.inf)
    if n == 0 or job.rows2 == 0:
        return np.zeros(n), np.full(n, np.nan)
    sides = {p.index: _fuzzy_side(p, rows) for p in job.plans if not p.exact}
    inexact = any(p.kernel is not None and not p.kernel.exact for p in job.plans)
    step = _block_rows(job, n)
    for start in range(0, job.rows2, step):
        block = slice(start, min(job.rows2, start + step))
        data = _score_block(job, rows, sides, block, tick)
        b1, b2 = _top_two(data.scores)
        if inexact:
            # a cell can be among the row's exact top two only if its batched score
            # reaches the exact runner-up so far, or the block's own, less the slack
            line = np.maximum(second, b2 - INEXACT_SLACK) - INEXACT_SLACK
            p, q = np.nonzero(data.scores >= line[:, None])
            b1, b2 = _sparse_top_two(n, p, _exact_scores(job, rows, block, data, p, q))
            tick()
        best, second = _merge(best, second, b1, b2)
        tick()
    if job.rows2 < 2:
        second = np.full(n, np.nan)
    return best, second


def sample_scores(
    job: PreparedJob, *, seed: int = 0, tick: Callable[[], None] | None = None
) -> ScoreSample:
    """Score the sampled file1 rows (`sample_rows`) against all of file2, no threshold.

    `tick()` is called at least once per mapping and block of file2 rows scored (a few
    hundredths of a second of work each); it may raise to cancel.
    """
    started = time.perf_counter()
    rows = sample_rows(job.rows1, job.rows2, seed)
    best, second = score_rows(job, rows, tick)
    return ScoreSample(rows, best, second, time.perf_counter() - started)


# --- the histogram and the suggestion --------------------------------------------------------


def score_histogram(best: np.ndarray) -> list[dict[str, float | int]]:
    """Counts of `best` in 20 bins of 5 points: [from, to), the last one [95, 100]."""
    width = 100 // HISTOGRAM_BINS
    values = np.asarray(best, dtype=np.float64)
    values = values[np.isfinite(values)]
    index = np.clip(np.floor(values / width).astype(np.int64), 0, HISTOGRAM_BINS - 1)
    counts = np.bincount(index, minlength=HISTOGRAM_BINS)
    return [
        {"from": k * width, "to": (k + 1) * width, "count": int(counts[k])}
        for k in range(HISTOGRAM_BINS)
    ]


def _chance_gap(best: np.ndarray, second: np.ndarray) -> float:
    """How far a chance best lies above its runner-up: the median of best - second over
    the rows whose best is at most the median runner-up (surely chance)."""
    low = best <= np.median(second)
    if int(low.sum()) < MIN_GAP_ROWS:
        return 0.0
    return float(np.median((best - second)[low]))


def chance_survival(best: np.ndarray, second: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The estimated share of rows whose best *chance* score is >= each threshold of `grid`.

    Runner-up scores stand for chance (a row's second-best file2 row is, but for a
    duplicate in file2, not its partner), shifted up by the gap between a chance best and
    its runner-up (`_chance_gap`). Above their TAIL_TO quantile the empirical tail is
    capped by an exponential fitted between the quantiles TAIL_FROM and TAIL_TO, so up to
    15 % of runner-ups may be true matches (duplicates) without inflating it.
    """
    n = len(second)
    gap = _chance_gap(best, second)
    empirical = (n - np.searchsorted(np.sort(second), grid - gap, side="left")) / n
    q_from, q_to = (float(q) for q in np.quantile(second, [TAIL_FROM, TAIL_TO]))
    if q_to - q_from <= 0:
        return empirical
    rate = math.log((1 - TAIL_FROM) / (1 - TAIL_TO)) / (q_to - q_from)  # per point
    start = q_to + gap
    tail = (1 - TAIL_TO) * np.exp(-rate * np.maximum(0.0, grid - start))
    # the lower of the two above the fit: an empirical tail lighter than exponential (no
    # chance score up there at all) is believed, a heavier one (true runner-ups) is not
    return np.where(grid >= start, np.minimum(tail, empirical), empirical)


def suggest_threshold(sample: ScoreSample) -> float | None:
    """The threshold of the highest F1 the sample predicts, without labels; 1 decimal.

    For each threshold t on a 0.1 grid: P(t) sampled rows have a best score >= t, and
    (N - N1) * C(t) of them are expected to be chance, C the chance survival
    (`chance_survival`) and N1 the rows with a true partner, estimated as the largest
    (P(t) - N C(t)) / (1 - C(t)) where C(t) <= MAX_CHANCE_FOR_N1 (there the true matches
    are all above t and chance is measured well). Then TP(t) = P(t) - (N - N1) C(t) and
    F1(t) = 2 TP(t) / (P(t) + N1); the suggestion is the middle of the thresholds reaching
    the highest F1. None when the sample cannot tell: fewer than MIN_SUGGEST_ROWS rows with
    a runner-up, or fewer rows estimated to have a true partner than MIN_ABOVE or than
    chance alone could explain there (3 standard deviations of a binomial count).
    """
    ok = np.isfinite(sample.second) & np.isfinite(sample.best)
    best, second = sample.best[ok], sample.second[ok]
    n = len(best)
    if n < MIN_SUGGEST_ROWS:
        return None
    grid = np.round(np.arange(0.0, 100.0 + 1e-9, 0.1), 1)
    predicted = n - np.searchsorted(np.sort(best), grid, side="left")
    chance = chance_survival(best, second, grid)
    measurable = chance <= MAX_CHANCE_FOR_N1
    if not measurable.any():
        return None
    estimates = np.where(
        measurable, (predicted - n * chance) / np.maximum(1e-12, 1 - chance), -np.inf
    )
    at = int(np.argmax(estimates))
    partners = float(np.clip(estimates[at], 0, n))
    # what chance alone could put there: 3 standard deviations of the chance count
    noise = 3 * math.sqrt(n * chance[at] * (1 - chance[at])) / max(1e-12, 1 - chance[at])
    if partners < max(MIN_ABOVE, noise):
        return None
    true_pos = np.clip(predicted - (n - partners) * chance, 0, np.minimum(predicted, partners))
    f1 = 2 * true_pos / (predicted + partners)
    top = np.nonzero(f1 >= f1.max() - 1e-9)[0]
    return float(grid[(top[0] + top[-1]) // 2])
