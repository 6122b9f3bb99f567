"""The matching engine: exact results of CONTRACT section 6 without an n x m matrix.

Work is split into chunks of file1 rows; `match_chunk` matches one chunk against all of
file2 and is pure (the unit a later version can fan out across workers); `select`
applies the match mode to the chunks' results.

Pruning never drops a match. Rows are grouped by which mappings have a non-empty value;
for a file1 group against a file2 group the set C of comparable mappings and their weight
sum W are fixed, so a pair can reach the threshold T only if every mapping i of C scores
at least b_i = (T*W - (W - w_i)*100) / w_i (all the others scoring 100). Hence:

- exact mappings with b_i > 0 must be equal: those rows are joined by hashing;
- one fuzzy mapping (the "driver") is scored over the distinct values of the block with
  rapidfuzz.process.cdist and score_cutoff b_i, skipping, for Indel-based scorers
  (ratio, token_sort_ratio), value pairs whose lengths alone bound the score below b_i
  (ratio <= 200*min(l1, l2)/(l1 + l2)); on large blocks these scorers use a count filter
  instead (`_count_filtered`): the Indel distance is at least the L1 distance of the
  character counts, which the engine lower-bounds with popcounts of per-value token bit
  sets (dense numpy over all pairs, ~10x cheaper per pair than rapidfuzz), so cdist only
  verifies the few pairs left. In mode best with a single mapping, a value with an equal
  value in file2 (ratio 100, reached by no other value) is settled without search;
- the other mappings are computed only for surviving pairs (rapidfuzz.process.cpdist),
  dropping pairs below each mapping's bound, then the weighted mean decides.

A group pair with no comparable mapping scores 0 everywhere (a match only at threshold
0). At threshold 0 no bound prunes and every pair is scored; modes all and one_to_one
stop with TooManyMatches beyond MAX_PAIRS pairs rather than exhaust memory.

Bounds are lowered by 1e-6 before use (cut-offs given to rapidfuzz by 1e-3 more), and
the final test `score >= T` uses the score computed in the same order of float
operations as `matchq.matching.reference`, so results are bit-identical to the brute
force.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import process

from matchq.config import MatchConfig, MatchMode, MatchType, Scorer
from matchq.errors import InputFileError, JobCancelled
from matchq.formats import ALL_COLUMNS, Table, read_table
from matchq.matching import writers
from matchq.matching.normalize import compared_values
from matchq.matching.scorers import KERNELS, RATIO_KERNEL, Kernel, presort_safe, sort_tokens
from matchq.matching.scorers import SCALAR as SCALAR_SCORERS

MAX_PAIRS = 5_000_000  # matched pairs (mode all) or candidate pairs (one_to_one) at most
DEFAULT_CHUNK_ROWS = 5000
EXPAND_LIMIT = 2_000_000  # row pairs evaluated per batch
CROSS_MIN = 2_000  # join groups with at least this many row pairs use a fuzzy driver
DRIVER_MIN_CUT = 40.0  # below this bound a fuzzy mapping barely prunes
MIN_SLAB = 64  # choices per cdist call at least
EPS = 1e-6  # bounds are lowered by this before use
# Count filter of Indel-based drivers (see _count_filtered): used from this many value
# pairs and this cut-off on; queries per dense filter block, choices per filter slab,
# queries per verifying cdist call.
FILTER_MIN_PAIRS = 1_000_000
FILTER_MIN_CUT = 70.0
FILTER_ROWS = 128
FILTER_COLS = 8192
VERIFY_ROWS = 16
RESULT_BATCH = 100_000  # value pairs handed on together
TOKEN_BITS = 64  # (character, occurrence) tokens tracked per value, one uint64
# Cut-offs handed to rapidfuzz are lowered further: it compares some of them in single
# precision (a Jaro-Winkler of exactly 0.8 fails score_cutoff=0.79999999).
RF_MARGIN = 1e-3

Tick = Callable[[], None]


def _no_tick() -> None:
    return None


class TooManyMatches(InputFileError):
    """More pairs reach the threshold than the engine returns; raise the threshold."""


def _too_many(mode: MatchMode, threshold: float) -> TooManyMatches:
    return TooManyMatches(
        f"more than {MAX_PAIRS:,} pairs score at or above the threshold {threshold:g} in "
        f"match_mode '{mode.value}'; raise the threshold or use match_mode 'best'"
    )


@dataclass
class Plan:
    """One mapping, ready to score: values of both files as codes into shared uniques."""

    index: int
    weight: float
    exact: bool
    kernel: Kernel | None
    scalar: Callable[[str, str], float] | None
    values: np.ndarray  # kernel input per code (object array of str)
    compared: np.ndarray  # the compared string per code (scalar scorer input)
    lengths: np.ndarray  # len of each kernel input
    codes1: np.ndarray  # per file1 row: code, or -1 when the value is empty
    codes2: np.ndarray
    token_bits: np.ndarray | None = None  # per code, built on first use (_token_bits)


@dataclass
class PreparedJob:
    """Everything `match_chunk` needs; built once per job by `prepare`."""

    threshold: float
    mode: MatchMode
    plans: list[Plan]
    rows1: int
    rows2: int
    masks1: np.ndarray
    groups2: list[tuple[int, np.ndarray]]


@dataclass
class ChunkResult:
    """Pairs found for some file1 rows: row numbers, score, one column per mapping."""

    rows1: np.ndarray
    rows2: np.ndarray
    scores: np.ndarray
    mapping_scores: np.ndarray

    @staticmethod
    def empty(k: int) -> ChunkResult:
        return ChunkResult(
            np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty((0, k))
        )

    @staticmethod
    def concat(parts: list[ChunkResult], k: int) -> ChunkResult:
        if not parts:
            return ChunkResult.empty(k)
        return ChunkResult(
            np.concatenate([p.rows1 for p in parts]),
            np.concatenate([p.rows2 for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.mapping_scores for p in parts]),
        )

    def take(self, index: np.ndarray) -> ChunkResult:
        return ChunkResult(
            self.rows1[index], self.rows2[index], self.scores[index], self.mapping_scores[index]
        )

    def __len__(self) -> int:
        return len(self.rows1)


# --- preparation -------------------------------------------------------------------------


def _object_array(items: list[str | None]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def prepare(config: MatchConfig, table1: Table, table2: Table) -> PreparedJob:
    """Normalise, factorise and index the mapped columns of both tables."""
    n1, n2 = table1.nrows, table2.nrows
    plans: list[Plan] = []
    masks1 = np.zeros(n1, np.int64)
    masks2 = np.zeros(n2, np.int64)
    for index, mapping in enumerate(config.mappings):
        values = compared_values(table1.columns[mapping.file1_col], mapping.use_normalization)
        values += compared_values(table2.columns[mapping.file2_col], mapping.use_normalization)
        codes, uniques = pd.factorize(_object_array(values), use_na_sentinel=True)
        del values
        compared = np.asarray(uniques, dtype=object)
        codes = codes.astype(np.int64)
        exact = mapping.match_type is MatchType.EXACT
        kernel: Kernel | None = None
        scalar = None
        kernel_values = compared
        if not exact:
            scorer = mapping.effective_scorer
            assert scorer is not None
            scalar = SCALAR_SCORERS[scorer]
            kernel = KERNELS[scorer]
            if scorer is Scorer.TOKEN_SORT_RATIO and all(map(presort_safe, compared)):
                kernel = RATIO_KERNEL
                kernel_values = _object_array([sort_tokens(v) for v in compared])
        lengths = np.fromiter((len(v) for v in kernel_values), np.int64, len(kernel_values))
        plan = Plan(
            index,
            float(mapping.weight),
            exact,
            kernel,
            scalar,
            kernel_values,
            compared,
            lengths,
            codes[:n1],
            codes[n1:],
        )
        plans.append(plan)
        masks1 |= (plan.codes1 >= 0).astype(np.int64) << index
        masks2 |= (plan.codes2 >= 0).astype(np.int64) << index
    groups2 = [(int(m), np.flatnonzero(masks2 == m)) for m in np.unique(masks2)]
    return PreparedJob(float(config.threshold), config.match_mode, plans, n1, n2, masks1, groups2)


# --- result sinks --------------------------------------------------------------------------


class _PairSink:
    """Collects every pair at or above the threshold (modes all and one_to_one)."""

    def __init__(self, job: PreparedJob) -> None:
        self.job = job
        self.parts: list[ChunkResult] = []
        self.count = 0

    def add(self, part: ChunkResult) -> None:
        if len(part):
            self.count += len(part)
            if self.count > MAX_PAIRS:
                raise _too_many(self.job.mode, self.job.threshold)
            self.parts.append(part)

    def result(self) -> ChunkResult:
        return ChunkResult.concat(self.parts, len(self.job.plans))


class _BestSink:
    """Keeps, per file1 row of the chunk, its best pair (ties: lowest file2 row)."""

    def __init__(self, job: PreparedJob, rows1: np.ndarray) -> None:
        self.rows1 = rows1
        k = len(job.plans)
        self.score = np.full(len(rows1), -math.inf)
        self.row2 = np.full(len(rows1), np.iinfo(np.int64).max, np.int64)
        self.ms = np.full((len(rows1), k), np.nan)

    def add(self, part: ChunkResult) -> None:
        if not len(part):
            return
        local = np.searchsorted(self.rows1, part.rows1)
        order = np.lexsort((part.rows2, -part.scores, local))
        local = local[order]
        first = np.ones(len(order), bool)
        first[1:] = local[1:] != local[:-1]
        pick = order[first]
        loc = local[first]
        s, j = part.scores[pick], part.rows2[pick]
        cur_s, cur_j = self.score[loc], self.row2[loc]
        better = (s > cur_s) | ((s == cur_s) & (j < cur_j))
        loc, pick = loc[better], pick[better]
        self.score[loc] = part.scores[pick]
        self.row2[loc] = part.rows2[pick]
        self.ms[loc] = part.mapping_scores[pick]

    def result(self) -> ChunkResult:
        found = np.isfinite(self.score)
        return ChunkResult(self.rows1[found], self.row2[found], self.score[found], self.ms[found])


# --- matching one chunk ----------------------------------------------------------------


@dataclass
class _Group:
    """A file1 mask group against a file2 mask group: comparable mappings and bounds."""

    job: PreparedJob
    plans: list[Plan]
    weight_sum: float
    cuts: dict[int, float]
    sink: _PairSink | _BestSink
    tick: Tick
    known: dict[int, float] = field(default_factory=dict)


def _grouped(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct codes, and positions sorted by code with each code's start and count."""
    order = np.argsort(codes, kind="stable")
    uniq, starts, counts = np.unique(codes[order], return_index=True, return_counts=True)
    return uniq, order, starts, counts


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
            sl = slice(start, end)
            size = sizes[sl]
            n = int(size.sum())
            block = np.repeat(np.arange(end - start), size)
            offset = np.arange(n) - np.repeat(np.cumsum(size) - size, size)
            cb = counts_b[sl][block]
            ia = rows_a[starts_a[sl][block] + offset // cb]
            ib = rows_b[starts_b[sl][block] + offset % cb]
            yield ia, ib, None if extra is None else extra[sl][block]
        start = end


def _fuzzy_scores(plan: Plan, ia: np.ndarray, ib: np.ndarray, cut: float) -> np.ndarray:
    """Batched scores of `plan` for row pairs; exact where >= cut (0 may stand for < cut)."""
    kernel = plan.kernel
    assert kernel is not None
    ca, cb = plan.codes1[ia], plan.codes2[ib]
    out = np.empty(len(ia))
    rf_cutoff = (cut - RF_MARGIN) / kernel.scale if cut > RF_MARGIN else None
    for k in range(0, len(ia), kernel.block_pairs):
        sl = slice(k, k + kernel.block_pairs)
        out[sl] = process.cpdist(
            plan.values[ca[sl]].tolist(),
            plan.values[cb[sl]].tolist(),
            scorer=kernel.func,
            processor=None,
            score_cutoff=rf_cutoff,
            dtype=np.float64,
            workers=-1,
        )
    if kernel.scale != 1.0:
        out *= kernel.scale
    return out


def _scalar_rescore(plan: Plan, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """Scores from the scalar scorer, computed once per distinct value pair."""
    assert plan.scalar is not None
    ca, cb = plan.codes1[ia], plan.codes2[ib]
    key = ca * (len(plan.compared) + 1) + cb
    uniq, inverse = np.unique(key, return_inverse=True)
    scalar, compared, width = plan.scalar, plan.compared, len(plan.compared) + 1
    scores = np.array(
        [scalar(compared[u // width], compared[u % width]) for u in uniq.tolist()], dtype=np.float64
    )
    return scores[inverse]


def _evaluate(g: _Group, ia: np.ndarray, ib: np.ndarray, given: dict[int, np.ndarray]) -> None:
    """Score row pairs on every comparable mapping, prune by bounds, emit the matches."""
    scores = dict(given)
    pending = [p for p in g.plans if p.index not in g.known and p.index not in scores]
    pending.sort(key=lambda p: (not p.exact, p.kernel.cost if p.kernel else -1, -g.cuts[p.index]))
    for plan in pending:
        if not len(ia):
            return
        cut = g.cuts[plan.index]
        if plan.exact:
            s = np.where(plan.codes1[ia] == plan.codes2[ib], 100.0, 0.0)
        else:
            s = _fuzzy_scores(plan, ia, ib, cut)
        if cut > 0:
            keep = s >= cut
            if not keep.all():
                ia, ib, s = ia[keep], ib[keep], s[keep]
                scores = {k: v[keep] for k, v in scores.items()}
        scores[plan.index] = s
        g.tick()
    if not len(ia):
        return
    for plan in g.plans:
        if plan.kernel is not None and not plan.kernel.exact and plan.index in scores:
            scores[plan.index] = _scalar_rescore(plan, ia, ib)
    total = np.zeros(len(ia))
    ms = np.full((len(ia), len(g.job.plans)), np.nan)
    for plan in g.plans:  # mapping order, as the reference
        if plan.index in g.known:
            term = g.known[plan.index]
            total = total + plan.weight * term
            ms[:, plan.index] = term
        else:
            total = total + plan.weight * scores[plan.index]
            ms[:, plan.index] = scores[plan.index]
    score = total / g.weight_sum
    keep = score >= g.job.threshold
    if keep.any():
        g.sink.add(ChunkResult(ia[keep], ib[keep], score[keep], ms[keep]))


def _pick_driver(g: _Group) -> Plan | None:
    best: Plan | None = None
    best_key: tuple[float, float] | None = None
    for plan in g.plans:
        cut = g.cuts[plan.index]
        if plan.exact or plan.index in g.known or cut <= 0:
            continue
        assert plan.kernel is not None
        key = (plan.kernel.cost + (0 if cut >= DRIVER_MIN_CUT else 10), -cut)
        if best_key is None or key < best_key:
            best, best_key = plan, key
    return best


# --- count filter for Indel-based drivers ---------------------------------------------------
#
# For a value a, let T(a) be its set of tokens (ch, k): "a holds at least k characters ch".
# Then |T(a)| = len(a) and |T(a) ^ T(b)| = sum over ch of |count_a(ch) - count_b(ch)|, and
# since LCS(a, b) <= sum over ch of min(count_a(ch), count_b(ch)), the Indel distance
# d = len(a) + len(b) - 2*LCS(a, b) >= |T(a) ^ T(b)|. Tracking only a subset C of tokens as
# bits (popcount = number of tracked tokens held), with r = len - popcount the untracked
# rest, |T(a) ^ T(b)| >= popcount(bits_a ^ bits_b) + |r_a - r_b|. rapidfuzz's ratio is
# 100*(1 - d/(len(a) + len(b))), so ratio >= c implies
#     popcount(bits_a ^ bits_b) <= floor((1 - c/100)*(len(a) + len(b))) - |r_a - r_b|,
# whatever C is: the filter never drops a pair reaching c. C is chosen per job as the tokens
# that best split the values (held by closest to half of them).


def _token_bits(values: np.ndarray) -> np.ndarray:
    """Per value, a uint64 with one bit per tracked (character, occurrence) token."""
    n = len(values)
    lengths = np.fromiter(map(len, values), np.int64, n)
    # batches of values of about 2M characters
    bounds = [0]
    total = 0
    for k, length in enumerate(lengths.tolist()):
        total += length
        if total >= 2_000_000:
            bounds.append(k + 1)
            total = 0
    if bounds[-1] != n:
        bounds.append(n)

    def tokens(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Value numbers and tokens (codepoint << 32 | occurrence), sorted by value."""
        text = "".join(values[lo:hi].tolist())
        cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        sid = np.repeat(np.arange(lo, hi, dtype=np.int64), lengths[lo:hi])
        order = np.argsort(sid * 0x110000 + cps, kind="stable")
        sid, cps = sid[order], cps[order]
        pos = np.arange(len(cps))
        new = np.ones(len(cps), bool)
        new[1:] = (sid[1:] != sid[:-1]) | (cps[1:] != cps[:-1])
        run_start = np.maximum.accumulate(np.where(new, pos, 0))
        return sid, (cps << 32) | (pos - run_start + 1)

    uniq: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    for lo, hi in itertools.pairwise(bounds):
        u, c = np.unique(tokens(lo, hi)[1], return_counts=True)
        uniq.append(u)
        counts.append(c)
    toks, inverse = np.unique(np.concatenate(uniq or [np.empty(0, np.int64)]), return_inverse=True)
    freq = np.bincount(
        inverse, weights=np.concatenate(counts or [np.empty(0)]), minlength=len(toks)
    )
    split = np.minimum(freq, n - freq)
    rank = np.lexsort((toks, -split))[:TOKEN_BITS]
    rank = rank[split[rank] > 0]
    chosen = toks[rank]
    bit_of = np.left_shift(np.uint64(1), np.arange(TOKEN_BITS - 1, -1, -1, dtype=np.uint64))[
        : len(chosen)
    ]  # the best-splitting token gets the highest bit
    by_token = np.argsort(chosen)
    chosen_sorted, bit_sorted = chosen[by_token], bit_of[by_token]
    bits = np.zeros(n, np.uint64)
    if not len(chosen):
        return bits
    for lo, hi in itertools.pairwise(bounds):
        sid, tok = tokens(lo, hi)
        at = np.minimum(np.searchsorted(chosen_sorted, tok), len(chosen_sorted) - 1)
        hit = chosen_sorted[at] == tok
        sid, val = sid[hit], bit_sorted[at[hit]]
        if len(sid):
            starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
            bits[sid[starts]] = np.bitwise_or.reduceat(val, starts)
    return bits


def _plan_bits(plan: Plan) -> np.ndarray:
    if plan.token_bits is None:
        plan.token_bits = _token_bits(plan.values)
    return plan.token_bits


def _count_filtered(
    g: _Group, d: Plan, ua: np.ndarray, ub: np.ndarray, cutoff: float
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """`_driver_candidates` for ratio: value pairs scoring >= cutoff, found by cdist on
    the pairs the count filter keeps (exact: the filter only drops pairs below cutoff)."""
    single_best = g.job.mode is MatchMode.BEST and len(g.plans) == 1 and not g.known
    if single_best and d.values is d.compared and cutoff <= 100:
        # The driver is the only mapping and only each query's best pair counts. Ratio
        # is 100 only for equal strings, and codes are shared by both files and distinct
        # per string, so a query whose code is in ub scores 100 with that value and with
        # no other: it is settled without search. (Not for token_sort_ratio: there the
        # scored strings are token-sorted and 'a b', 'b a' both score 100.)
        _, pa, pb = np.intersect1d(ua, ub, assume_unique=True, return_indices=True)
        if len(pa):
            yield pa, pb, np.full(len(pa), 100.0)
            rest = np.ones(len(ua), bool)
            rest[pa] = False
            left = np.flatnonzero(rest)
            for p, q, s in _count_filtered_all(g, d, ua[left], ub, cutoff):
                yield left[p], q, s
            return
    yield from _count_filtered_all(g, d, ua, ub, cutoff)


def _count_filtered_all(
    g: _Group, d: Plan, ua: np.ndarray, ub: np.ndarray, cutoff: float
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every value pair of ua x ub scoring >= cutoff (see `_count_filtered`).

    The filter runs in two stages: first on the 32 best-splitting tokens (cheap uint32
    operations over every pair of a block of queries of one length and rest against the
    choices the bound allows by length and rest alone), then on all 64 tokens for the
    few pairs left. Each stage is the bound above for its own token subset.
    """
    if not len(ua):
        return
    bits = _plan_bits(d)
    la, lb = d.lengths[ua], d.lengths[ub]
    sa, sb = bits[ua], bits[ub]
    ha = (sa >> np.uint64(32)).astype(np.uint32)
    hb = (sb >> np.uint64(32)).astype(np.uint32)
    ra32 = la - np.bitwise_count(ha).astype(np.int64)
    rb32 = lb - np.bitwise_count(hb).astype(np.int64)
    oa = np.lexsort((sa, ra32, la))  # similar queries side by side: they share candidates
    ob = np.lexsort((rb32, lb))
    la, ra32, sa, ha = la[oa], ra32[oa], sa[oa], ha[oa]
    lb, rb32, sb, hb = lb[ob], rb32[ob], sb[ob], hb[ob]
    ra64 = la - np.bitwise_count(sa).astype(np.int64)
    rb64 = lb - np.bitwise_count(sb).astype(np.int64)
    qvals = d.values[ua[oa]]
    cvals = d.values[ub[ob]]
    slack = 1.0 - cutoff / 100.0

    # choices in runs of equal (length, rest): the first-stage limit is constant on a run
    new = np.ones(len(lb), bool)
    new[1:] = (lb[1:] != lb[:-1]) | (rb32[1:] != rb32[:-1])
    run_start = np.flatnonzero(new)
    run_len = np.diff(np.r_[run_start, len(lb)])
    run_l, run_r = lb[run_start], rb32[run_start]
    new = np.ones(len(la), bool)
    new[1:] = (la[1:] != la[:-1]) | (ra32[1:] != ra32[:-1])
    starts = np.flatnonzero(new).tolist()
    tasks = list(itertools.pairwise([*starts, len(la)]))  # classes of equal (length, rest)

    def choices(s: int) -> tuple[np.ndarray, np.ndarray]:
        """The choices the class of query s may reach the cut-off with, by length and
        rest alone, and the most 32-token Hamming distance each allows."""
        l1, r1 = int(la[s]), int(ra32[s])
        # Indel distance allowed, less what the untracked rest and the tracked count
        # (|popcount difference| <= Hamming distance) must differ by at least
        allowed = np.floor(slack * (l1 + run_l) + 1e-6).astype(np.int64) - np.abs(r1 - run_r)
        keep = allowed >= np.abs((l1 - r1) - (run_l - run_r))
        counts = run_len[keep]
        cols = np.repeat(run_start[keep] - np.cumsum(counts) + counts, counts)
        cols += np.arange(len(cols))
        limit = np.repeat(np.minimum(allowed[keep], 32).astype(np.uint8), counts)
        return cols, limit

    def candidates(
        s: int, e: int, cols: np.ndarray, hcols: np.ndarray, limit: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pairs (query s + qi, choice cols[cj]) both stages keep, by query."""
        q = ha[s:e, None]
        rows = e - s
        size = rows * min(FILTER_COLS, len(cols))
        xor = np.empty(size, np.uint32)
        cnt = np.empty(size, np.uint8)
        ok = np.empty(size, bool)
        hits: list[np.ndarray] = []
        for k in range(0, len(cols), FILTER_COLS):
            w = min(FILTER_COLS, len(cols) - k)
            x = xor[: rows * w].reshape(rows, w)
            n = cnt[: rows * w].reshape(rows, w)
            np.bitwise_xor(q, hcols[None, k : k + w], out=x)
            np.bitwise_count(x, out=n)
            np.less_equal(n, limit[None, k : k + w], out=ok[: rows * w].reshape(rows, w))
            flat = np.flatnonzero(ok[: rows * w])  # much faster than a 2-D nonzero
            i, j = np.divmod(flat, w)
            hits.append(i * len(cols) + (j + k))
        qi, cj = np.divmod(np.sort(np.concatenate(hits)), len(cols))
        qi += s
        cj = cols[cj]
        allowed = np.floor(slack * (la[qi] + lb[cj]) + 1e-6).astype(np.int64)
        allowed -= np.abs(ra64[qi] - rb64[cj])
        keep = np.bitwise_count(sa[qi] ^ sb[cj]) <= allowed
        return qi[keep], cj[keep]

    def run(task: tuple[int, int]) -> tuple[np.ndarray, ...]:
        """Value pairs of one class of queries reaching the cut-off (p, q, score)."""
        cols, limit = choices(task[0])
        if not len(cols):
            return ()
        hcols = hb[cols]
        out_p: list[np.ndarray] = []
        out_q: list[np.ndarray] = []
        out_s: list[np.ndarray] = []
        for s in range(task[0], task[1], FILTER_ROWS):
            e = min(task[1], s + FILTER_ROWS)
            verify(s, e, *candidates(s, e, cols, hcols, limit), out_p, out_q, out_s)
        if not out_p:
            return ()
        return np.concatenate(out_p), np.concatenate(out_q), np.concatenate(out_s)

    def verify(
        s: int,
        e: int,
        qi: np.ndarray,
        cj: np.ndarray,
        out_p: list[np.ndarray],
        out_q: list[np.ndarray],
        out_s: list[np.ndarray],
    ) -> None:
        """Score the candidate pairs of queries s..e-1 with cdist, a few queries at a
        time against the union of their candidates."""
        bounds = np.searchsorted(qi, np.arange(s, e + VERIFY_ROWS, VERIFY_ROWS)).tolist()
        for lo, hi in itertools.pairwise(bounds):
            if lo == hi:
                continue
            picked = np.sort(cj[lo:hi])
            picked = picked[np.r_[True, picked[1:] != picked[:-1]]]
            first = int(qi[lo]) - (int(qi[lo]) - s) % VERIFY_ROWS
            matrix = process.cdist(
                qvals[first : min(e, first + VERIFY_ROWS)].tolist(),
                cvals[picked].tolist(),
                scorer=RATIO_KERNEL.func,
                processor=None,
                score_cutoff=cutoff,
                dtype=np.float64,
                workers=1,
            )
            p, r = np.nonzero(matrix >= cutoff)
            if len(p):
                out_s.append(matrix[p, r])
                out_p.append(oa[first + p])
                out_q.append(ob[picked[r]])

    workers = max(1, min(os.process_cpu_count() or 1, 8))
    pool = ThreadPoolExecutor(max_workers=workers)
    pending: deque[Future[tuple[np.ndarray, ...]]] = deque()

    def results() -> Iterator[tuple[np.ndarray, ...]]:
        """Task results in order, with a bounded window of tasks in flight."""
        for task in tasks:
            pending.append(pool.submit(run, task))
            if len(pending) > 4 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    batch: list[tuple[np.ndarray, ...]] = []
    size = 0
    try:
        for found in results():
            g.tick()
            if found:
                batch.append(found)
                size += len(found[0])
            if size >= RESULT_BATCH:
                yield _joined(batch)
                batch, size = [], 0
        if batch:
            yield _joined(batch)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _joined(batch: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p, q, s = zip(*batch, strict=True)
    return np.concatenate(p), np.concatenate(q), np.concatenate(s)


def _driver_candidates(
    g: _Group, d: Plan, ua: np.ndarray, ub: np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Value pairs (positions in ua, ub) whose driver score reaches its bound, with scores."""
    kernel = d.kernel
    assert kernel is not None
    cut = g.cuts[d.index]
    cutoff = max(0.0, cut - RF_MARGIN) / kernel.scale
    if (
        kernel is RATIO_KERNEL
        and cut >= FILTER_MIN_CUT
        and cutoff > 0
        and len(ua) * len(ub) >= FILTER_MIN_PAIRS
    ):
        yield from _count_filtered(g, d, ua, ub, cutoff)
        return
    if kernel.indel:
        oa = np.argsort(d.lengths[ua], kind="stable")
        ob = np.argsort(d.lengths[ub], kind="stable")
    else:
        oa = np.arange(len(ua))
        ob = np.arange(len(ub))
    qa = d.values[ua[oa]]
    cb = d.values[ub[ob]]
    la = d.lengths[ua[oa]]
    lb = d.lengths[ub[ob]]
    step = max(MIN_SLAB, kernel.block_pairs // max(1, len(ua)))
    for s in range(0, len(ub), step):
        e = min(len(ub), s + step)
        if kernel.indel:
            # ratio <= 200*min/(l1+l2): queries shorter than lo*c/(200-c) or longer
            # than hi*(200-c)/c cannot reach c against any choice of this slab.
            lo, hi = float(lb[s]), float(lb[e - 1])
            c = min(cut, 100.0)
            qlo = int(np.searchsorted(la, lo * c / (200.0 - c) - 1e-9, side="left"))
            qhi = int(np.searchsorted(la, hi * (200.0 - c) / c + 1e-9, side="right"))
        else:
            qlo, qhi = 0, len(ua)
        if qlo >= qhi:
            continue
        matrix = process.cdist(
            qa[qlo:qhi].tolist(),
            cb[s:e].tolist(),
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
        g.tick()
        if len(p):
            yield oa[p + qlo], ob[q + s], scores


def _match_cross(g: _Group, a_rows: np.ndarray, b_rows: np.ndarray) -> None:
    """All pairs of a_rows x b_rows, pruned by a fuzzy driver when one has a bound."""
    driver = _pick_driver(g)
    if driver is None:
        step = max(1, EXPAND_LIMIT // max(1, len(a_rows)))
        for k in range(0, len(b_rows), step):
            b = b_rows[k : k + step]
            _evaluate(g, np.repeat(a_rows, len(b)), np.tile(b, len(a_rows)), {})
        return
    ua, order_a, starts_a, counts_a = _grouped(driver.codes1[a_rows])
    ub, order_b, starts_b, counts_b = _grouped(driver.codes2[b_rows])
    sorted_a, sorted_b = a_rows[order_a], b_rows[order_b]
    for p, q, scores in _driver_candidates(g, driver, ua, ub):
        for ia, ib, s in _expand(
            sorted_a, starts_a[p], counts_a[p], sorted_b, starts_b[q], counts_b[q], scores
        ):
            assert s is not None
            _evaluate(g, ia, ib, {driver.index: s})


def _join_keys(
    joins: list[Plan], a_rows: np.ndarray, b_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    ka, kb = joins[0].codes1[a_rows], joins[0].codes2[b_rows]
    for plan in joins[1:]:
        width = len(plan.compared) + 1
        both = np.concatenate([ka, kb]) * width
        both += np.concatenate([plan.codes1[a_rows], plan.codes2[b_rows]])
        _, inverse = np.unique(both, return_inverse=True)
        ka, kb = inverse[: len(a_rows)], inverse[len(a_rows) :]
    return ka, kb


def _match_join(g: _Group, a_rows: np.ndarray, b_rows: np.ndarray, joins: list[Plan]) -> None:
    """Pairs agreeing on every exact mapping that must be equal (hash join)."""
    ka, kb = _join_keys(joins, a_rows, b_rows)
    ua, order_a, starts_a, counts_a = _grouped(ka)
    ub, order_b, starts_b, counts_b = _grouped(kb)
    _, ia, ib = np.intersect1d(ua, ub, assume_unique=True, return_indices=True)
    sorted_a, sorted_b = a_rows[order_a], b_rows[order_b]
    sizes = counts_a[ia] * counts_b[ib]
    big = sizes >= CROSS_MIN
    for a_i, b_i in zip(ia[big].tolist(), ib[big].tolist(), strict=True):
        _match_cross(
            g,
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
        _evaluate(g, pa, pb, {})


def _match_groups(
    job: PreparedJob,
    a_rows: np.ndarray,
    b_rows: np.ndarray,
    common: int,
    sink: _PairSink | _BestSink,
    tick: Tick,
) -> None:
    plans = [p for p in job.plans if common >> p.index & 1]
    threshold = job.threshold
    if not plans:  # no comparable mapping: every pair scores 0
        if threshold <= 0:
            k = len(job.plans)
            if isinstance(sink, _BestSink):
                first = np.full(len(a_rows), b_rows[0], np.int64)
                sink.add(
                    ChunkResult(
                        a_rows, first, np.zeros(len(a_rows)), np.full((len(a_rows), k), np.nan)
                    )
                )
            else:
                if len(a_rows) * len(b_rows) > MAX_PAIRS:
                    raise _too_many(job.mode, threshold)
                n = len(a_rows) * len(b_rows)
                sink.add(
                    ChunkResult(
                        np.repeat(a_rows, len(b_rows)),
                        np.tile(b_rows, len(a_rows)),
                        np.zeros(n),
                        np.full((n, k), np.nan),
                    )
                )
        return
    weight_sum = 0.0
    for plan in plans:
        weight_sum += plan.weight
    cuts = {
        p.index: (threshold * weight_sum - (weight_sum - p.weight) * 100.0) / p.weight - EPS
        for p in plans
    }
    g = _Group(job, plans, weight_sum, cuts, sink, tick)
    joins = [p for p in plans if p.exact and cuts[p.index] > 0]
    if joins:
        g.known = {p.index: 100.0 for p in joins}
        _match_join(g, a_rows, b_rows, joins)
    else:
        _match_cross(g, a_rows, b_rows)


def match_chunk(job: PreparedJob, rows1: np.ndarray, tick: Tick | None = None) -> ChunkResult:
    """Match file1 rows `rows1` (ascending) against all of file2.

    Mode best: each row's best pair; modes all and one_to_one: every pair at or above the
    threshold. Pure apart from calling `tick` (cancellation, progress) now and then.
    """
    tick = tick or _no_tick
    rows1 = np.asarray(rows1, dtype=np.int64)
    sink: _PairSink | _BestSink
    sink = _BestSink(job, rows1) if job.mode is MatchMode.BEST else _PairSink(job)
    masks = job.masks1[rows1]
    for mask1 in np.unique(masks).tolist():
        a_rows = rows1[masks == mask1]
        for mask2, b_rows in job.groups2:
            _match_groups(job, a_rows, b_rows, mask1 & mask2, sink, tick)
            tick()
    return sink.result()


def select(job: PreparedJob, parts: list[ChunkResult]) -> ChunkResult:
    """Apply the match mode to all chunks' results; pairs sorted by file1 then file2 row."""
    result = ChunkResult.concat(parts, len(job.plans))
    if job.mode is MatchMode.ALL and len(result) > MAX_PAIRS:
        raise _too_many(job.mode, job.threshold)
    if job.mode is MatchMode.ONE_TO_ONE:
        if len(result) > MAX_PAIRS:
            raise _too_many(job.mode, job.threshold)
        order = np.lexsort((result.rows2, result.rows1, -result.scores))
        used1 = bytearray(job.rows1)
        used2 = bytearray(job.rows2)
        taken: list[int] = []
        r1, r2 = result.rows1.tolist(), result.rows2.tolist()
        for k in order.tolist():
            i, j = r1[k], r2[k]
            if not used1[i] and not used2[j]:
                used1[i] = used2[j] = 1
                taken.append(k)
        result = result.take(np.array(taken, dtype=np.int64))
    order = np.lexsort((result.rows2, result.rows1))
    return result.take(order)


def match_tables(
    config: MatchConfig,
    table1: Table,
    table2: Table,
    *,
    chunk_rows: int | None = None,
    tick: Tick | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> ChunkResult:
    """Match two tables in memory; `on_chunk(rows_done)` after each chunk."""
    job = prepare(config, table1, table2)
    return _match_prepared(job, chunk_rows, tick, on_chunk)


def _match_prepared(
    job: PreparedJob,
    chunk_rows: int | None,
    tick: Tick | None,
    on_chunk: Callable[[int], None] | None,
) -> ChunkResult:
    size = max(1, chunk_rows or DEFAULT_CHUNK_ROWS)
    if job.mode is MatchMode.ALL and job.threshold <= 0 and job.rows1 * job.rows2 > MAX_PAIRS:
        raise _too_many(job.mode, job.threshold)
    parts: list[ChunkResult] = []
    total = 0
    for start in range(0, job.rows1, size):
        part = match_chunk(job, np.arange(start, min(job.rows1, start + size)), tick)
        total += len(part)
        if job.mode is not MatchMode.BEST and total > MAX_PAIRS:
            raise _too_many(job.mode, job.threshold)
        parts.append(part)
        if on_chunk is not None:
            on_chunk(min(job.rows1, start + size))
    return select(job, parts)


# --- the job -------------------------------------------------------------------------------


@dataclass
class MatchSummary:
    """What run_match did: table sizes, pair counts, files written, seconds taken."""

    rows1: int
    rows2: int
    matched: int
    unmatched1: int
    unmatched2: int
    files: list[str]
    elapsed: float


class _Reporter:
    """Throttled, monotonic progress and cancellation checks (about twice a second)."""

    INTERVAL = 0.5

    def __init__(
        self,
        progress: Callable[[float, str], None] | None,
        should_cancel: Callable[[], bool] | None,
    ) -> None:
        self.progress = progress
        self.should_cancel = should_cancel
        self.percent = 0.0
        self.message = "Starting"
        self.last_report = -math.inf
        self.last_check = time.monotonic()

    def set(self, percent: float, message: str, *, force: bool = False) -> None:
        self.percent = max(self.percent, min(100.0, percent))
        self.message = message
        self.tick(force=force)

    def tick(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.should_cancel is not None and (force or now - self.last_check >= self.INTERVAL):
            self.last_check = now
            if self.should_cancel():
                raise JobCancelled("the job was cancelled")
        if self.progress is not None and (force or now - self.last_report >= self.INTERVAL):
            self.last_report = now
            self.progress(round(self.percent, 2), self.message)


def _columns_wanted(config: MatchConfig, side: int) -> list[str]:
    needed = config.columns_needed(side)
    outputs = config.output_cols1 if side == 1 else config.output_cols2
    return needed if outputs is not None else [*needed, ALL_COLUMNS]


def run_match(
    config: MatchConfig,
    file1: Path,
    file2: Path,
    out_dir: Path,
    *,
    file1_name: str,
    file2_name: str,
    progress: Callable[[float, str], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    max_rows: int = 1_000_000,
    chunk_rows: int | None = None,
) -> MatchSummary:
    """Read both files, match them per `config`, write the result files into `out_dir`.

    The extensions of `file1_name`/`file2_name` decide the formats. Output values are the
    texts the files hold (see `matchq.formats`), missing ones null; scores are
    rounded to 4 decimals in the files only. `progress(percent, message)` and
    `should_cancel()` are called about twice a second while working.

    Raises InputFileError (bad input, naming the file and row or column), TooManyMatches
    (an InputFileError) when modes all/one_to_one would exceed MAX_PAIRS, JobCancelled when
    `should_cancel()` turns true; nothing is left in `out_dir` in those cases.
    """
    started = time.perf_counter()
    rep = _Reporter(progress, should_cancel)
    written: list[Path] = []
    try:
        rep.set(0.0, f"Reading {file1_name}", force=True)
        table1 = read_table(
            Path(file1),
            file1_name,
            _columns_wanted(config, 1),
            max_rows=max_rows,
            tick=lambda n: rep.set(0.0, f"Reading {file1_name}: {n:,} rows"),
        )
        rep.set(4.0, f"Reading {file2_name}")
        table2 = read_table(
            Path(file2),
            file2_name,
            _columns_wanted(config, 2),
            max_rows=max_rows,
            tick=lambda n: rep.set(4.0, f"Reading {file2_name}: {n:,} rows"),
        )
        rep.set(8.0, "Preparing values")
        job = prepare(config, table1, table2)
        n1 = job.rows1
        rep.set(10.0, f"Matched 0 of {n1:,} rows")

        def on_chunk(done: int) -> None:
            rep.set(10.0 + 80.0 * done / max(1, n1), f"Matched {done:,} of {n1:,} rows")

        result = _match_prepared(job, chunk_rows, rep.tick, on_chunk)
        rep.set(90.0, f"Writing {len(result):,} matches")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        cols1 = config.output_cols1 if config.output_cols1 is not None else table1.header
        cols2 = config.output_cols2 if config.output_cols2 is not None else table2.header
        total_out = len(result) + ((n1 + job.rows2) if config.generate_unmatched else 0)

        def on_written(base: int) -> Callable[[int], None]:
            return lambda n: rep.set(
                90.0 + 10.0 * (base + n) / max(1, total_out),
                f"Writing results: {base + n:,} of {total_out:,} records",
            )

        path = out_dir / writers.MATCHED_FILE
        written.append(path)
        writers.write_array(
            path,
            writers.matched_records(
                result.rows1,
                result.rows2,
                result.scores,
                result.mapping_scores,
                table1,
                list(cols1),
                table2,
                list(cols2),
            ),
            on_written(0),
        )
        unmatched1 = np.setdiff1d(np.arange(n1), result.rows1)
        unmatched2 = np.setdiff1d(np.arange(job.rows2), result.rows2)
        if config.generate_unmatched:
            for side, rows, table, cols, name in (
                (1, unmatched1, table1, cols1, writers.UNMATCHED1_FILE),
                (2, unmatched2, table2, cols2, writers.UNMATCHED2_FILE),
            ):
                path = out_dir / name
                written.append(path)
                writers.write_array(
                    path,
                    writers.unmatched_records(rows, side, table, list(cols)),
                    on_written(len(result) + (0 if side == 1 else n1)),
                )
        rep.set(100.0, f"Done: {len(result):,} matches", force=True)
        return MatchSummary(
            rows1=n1,
            rows2=job.rows2,
            matched=len(result),
            unmatched1=len(unmatched1),
            unmatched2=len(unmatched2),
            files=[p.name for p in written],
            elapsed=time.perf_counter() - started,
        )
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
