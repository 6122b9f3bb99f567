"""The count filter: exact candidate pruning for Indel-based drivers (ratio).

(For small allowed distances `matchq.matching.signatures` finds its candidates without a
dense pass; this module is the dense form and the test both share.)

For a value a, let T(a) be its set of tokens (ch, k): "a holds at least k characters ch".
Then |T(a)| = len(a) and |T(a) ^ T(b)| = sum over ch of |count_a(ch) - count_b(ch)|, and
since LCS(a, b) <= sum over ch of min(count_a(ch), count_b(ch)), the Indel distance
d = len(a) + len(b) - 2*LCS(a, b) >= |T(a) ^ T(b)|. Tracking only a subset C of tokens as
bits (popcount = number of tracked tokens held), with rest = len - popcount the untracked
characters, |T(a) ^ T(b)| >= popcount(bits_a ^ bits_b) + |rest_a - rest_b|. rapidfuzz's
ratio is 100*(1 - d/(len(a) + len(b))), so ratio >= c implies

    popcount(bits_a ^ bits_b) <= floor((1 - c/100)*(len(a) + len(b))) - |rest_a - rest_b|,

whatever C is: the filter never drops a pair reaching c. C is chosen per job as the tokens
that best split the values (held by closest to half of them). See docs/matching.md.

The filter runs in two stages: first on the 32 best-splitting tokens (cheap uint32
operations over every pair of a block of queries of one length and rest against the
choices the bound allows by length and rest alone), then on all 64 tokens for the few
pairs left; `rapidfuzz.process.cdist` verifies what remains. Queries are the file1-side
values, choices the file2-side values; both are positions into the caller's arrays.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from rapidfuzz import process

from matchq.config import Scorer
from matchq.matching.plan import Plan
from matchq.matching.scorers import KERNELS, RATIO_KERNEL, Kernel

FILTER_ROWS = 128  # queries per dense filter block
FILTER_COLS = 8192  # choices per filter slab
VERIFY_ROWS = 16  # queries per verifying cdist call
RESULT_BATCH = 100_000  # value pairs handed on together
TOKEN_BITS = 64  # (character, occurrence) tokens tracked per value, one uint64
TOKEN_BATCH_CHARS = 2_000_000  # values are tokenised in batches of about this many characters

# (query positions, choice positions, scores) of value pairs reaching the cut-off
ValuePairs = tuple[np.ndarray, np.ndarray, np.ndarray]

JARO_WINKLER_KERNEL = KERNELS[Scorer.JARO_WINKLER]


@dataclass(frozen=True)
class CountBound:
    """A scorer's cut-off as a bound on |T(a) xor T(b)|, and the kernel that verifies.

    `cutoff` is in the kernel's own units: 0-100 for ratio, 0-1 for Jaro-Winkler.
    """

    kernel: Kernel
    cutoff: float

    @staticmethod
    def ratio(cutoff: float) -> CountBound:
        return CountBound(RATIO_KERNEL, cutoff)

    @staticmethod
    def jaro_winkler(cutoff: float) -> CountBound:
        return CountBound(JARO_WINKLER_KERNEL, cutoff)

    def allowed(self, length1: np.ndarray | int, length2: np.ndarray) -> np.ndarray:
        """The most tokens a pair of these lengths may differ in and reach the cut-off."""
        if self.kernel is RATIO_KERNEL:
            # Indel distance d >= |T(a) xor T(b)|, ratio = 100*(1 - d/(l1 + l2))
            return np.floor((1.0 - self.cutoff / 100.0) * (length1 + length2) + 1e-6).astype(
                np.int64
            )
        # Jaro-Winkler: JW <= 0.6*J + 0.4 (prefix bonus <= 4 * 0.1 * (1 - J)), and with m
        # matching characters J <= (m/l1 + m/l2 + 1)/3, m <= common = sum of min counts,
        # |T(a) xor T(b)| = l1 + l2 - 2*common. So JW >= c needs
        # common >= (3*(c - 0.4)/0.6 - 1) * l1*l2/(l1 + l2).
        jaro = (self.cutoff - 0.4) / 0.6
        need = max(0.0, 3.0 * jaro - 1.0) * length1 * length2 / (length1 + length2)
        return (length1 + length2 - 2 * np.ceil(need - 1e-6)).astype(np.int64)


def _batches(lengths: np.ndarray) -> list[int]:
    """Bounds of consecutive values holding about TOKEN_BATCH_CHARS characters each."""
    bounds = [0]
    total = 0
    for k, length in enumerate(lengths.tolist()):
        total += length
        if total >= TOKEN_BATCH_CHARS:
            bounds.append(k + 1)
            total = 0
    if bounds[-1] != len(lengths):
        bounds.append(len(lengths))
    return bounds


def _tokens(values: np.ndarray, lengths: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, ...]:
    """Value numbers and tokens (codepoint << 32 | occurrence) of values lo..hi-1, sorted
    by value."""
    text = "".join(values[lo:hi].tolist())
    # surrogatepass: a lone surrogate (JSON's "\ud800" escape) is a code point like any other
    data = text.encode("utf-32-le", "surrogatepass")
    codepoints = np.frombuffer(data, dtype=np.uint32).astype(np.int64)
    owner = np.repeat(np.arange(lo, hi, dtype=np.int64), lengths[lo:hi])
    order = np.argsort(owner * 0x110000 + codepoints, kind="stable")
    owner, codepoints = owner[order], codepoints[order]
    position = np.arange(len(codepoints))
    new = np.ones(len(codepoints), bool)
    new[1:] = (owner[1:] != owner[:-1]) | (codepoints[1:] != codepoints[:-1])
    run_start = np.maximum.accumulate(np.where(new, position, 0))
    return owner, (codepoints << 32) | (position - run_start + 1)


def token_bits(values: np.ndarray) -> np.ndarray:
    """Per value, a uint64 with one bit per tracked (character, occurrence) token."""
    n = len(values)
    lengths = np.fromiter(map(len, values), np.int64, n)
    bounds = _batches(lengths)
    distinct: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    for lo, hi in itertools.pairwise(bounds):
        d, c = np.unique(_tokens(values, lengths, lo, hi)[1], return_counts=True)
        distinct.append(d)
        counts.append(c)
    tokens, inverse = np.unique(
        np.concatenate(distinct or [np.empty(0, np.int64)]), return_inverse=True
    )
    held_by = np.bincount(
        inverse, weights=np.concatenate(counts or [np.empty(0)]), minlength=len(tokens)
    )
    split = np.minimum(held_by, n - held_by)
    rank = np.lexsort((tokens, -split))[:TOKEN_BITS]
    rank = rank[split[rank] > 0]
    chosen = tokens[rank]
    # the best-splitting token gets the highest bit
    bit_of = np.left_shift(np.uint64(1), np.arange(TOKEN_BITS - 1, -1, -1, dtype=np.uint64))
    bit_of = bit_of[: len(chosen)]
    by_token = np.argsort(chosen)
    chosen_sorted, bit_sorted = chosen[by_token], bit_of[by_token]
    bits = np.zeros(n, np.uint64)
    if not len(chosen):
        return bits
    for lo, hi in itertools.pairwise(bounds):
        owner, token = _tokens(values, lengths, lo, hi)
        at = np.minimum(np.searchsorted(chosen_sorted, token), len(chosen_sorted) - 1)
        hit = chosen_sorted[at] == token
        owner, bit = owner[hit], bit_sorted[at[hit]]
        if len(owner):
            starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
            bits[owner[starts]] = np.bitwise_or.reduceat(bit, starts)
    return bits


def plan_bits(plan: Plan) -> np.ndarray:
    """The token bits of a plan's values, computed once per job."""
    if plan.token_bits is None:
        plan.token_bits = token_bits(plan.values)
    return plan.token_bits


def popcount(bits: np.ndarray) -> np.ndarray:
    """Set bits per value, as int64."""
    return np.bitwise_count(bits).astype(np.int64)


@dataclass
class _Side:
    """The values of one side, sorted so that similar ones sit together."""

    order: np.ndarray  # per sorted value, its position in the caller's array
    values: np.ndarray  # the strings
    lengths: np.ndarray
    bits: np.ndarray  # uint64: all tracked tokens (second stage)
    high: np.ndarray  # uint32: the 32 best-splitting tokens (first stage)
    rest32: np.ndarray  # characters the first stage does not track
    rest64: np.ndarray  # characters the second stage does not track

    @staticmethod
    def of(plan: Plan, codes: np.ndarray, *, queries: bool) -> _Side:
        lengths, bits = plan.lengths[codes], plan_bits(plan)[codes]
        high = (bits >> np.uint64(32)).astype(np.uint32)
        rest32 = lengths - popcount(high)
        # queries of one (length, rest) class share candidates; equal bits side by side
        order = np.lexsort((bits, rest32, lengths) if queries else (rest32, lengths))
        lengths, bits, high, rest32 = lengths[order], bits[order], high[order], rest32[order]
        return _Side(
            order, plan.values[codes[order]], lengths, bits, high, rest32, lengths - popcount(bits)
        )


def _runs(lengths: np.ndarray, rests: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and sizes of runs of equal (length, rest) in sorted values."""
    new = np.ones(len(lengths), bool)
    new[1:] = (lengths[1:] != lengths[:-1]) | (rests[1:] != rests[:-1])
    starts = np.flatnonzero(new)
    return starts, np.diff(np.r_[starts, len(lengths)])


class CountFilter:
    """Every value pair of queries x choices whose score reaches the bound's cut-off
    (exact)."""

    def __init__(self, plan: Plan, queries: np.ndarray, choices: np.ndarray, bound: CountBound):
        self.bound = bound
        self.cutoff = bound.cutoff
        self.queries = _Side.of(plan, queries, queries=True)
        self.choices = _Side.of(plan, choices, queries=False)
        # choices in runs of equal (length, rest): the first-stage limit is constant on a run
        self.run_start, self.run_size = _runs(self.choices.lengths, self.choices.rest32)
        self.run_length = self.choices.lengths[self.run_start]
        self.run_rest = self.choices.rest32[self.run_start]

    def query_classes(self) -> list[tuple[int, int]]:
        """Ranges of sorted queries of equal (length, rest)."""
        starts, sizes = _runs(self.queries.lengths, self.queries.rest32)
        return list(zip(starts.tolist(), (starts + sizes).tolist(), strict=True))

    def reachable(self, first: int) -> tuple[np.ndarray, np.ndarray]:
        """The choices the class of query `first` may reach the cut-off with, by length and
        rest alone, and the most 32-token Hamming distance each allows."""
        length, rest = int(self.queries.lengths[first]), int(self.queries.rest32[first])
        # Indel distance allowed, less what the untracked rests must differ by; the tracked
        # counts must differ by |popcount difference| <= Hamming distance at least
        allowed = self.bound.allowed(length, self.run_length) - np.abs(rest - self.run_rest)
        keep = allowed >= np.abs((length - rest) - (self.run_length - self.run_rest))
        sizes = self.run_size[keep]
        columns = np.repeat(self.run_start[keep] - np.cumsum(sizes) + sizes, sizes)
        columns += np.arange(len(columns))
        limit = np.repeat(np.minimum(allowed[keep], 32).astype(np.uint8), sizes)
        return columns, limit

    def candidates(
        self, start: int, end: int, columns: np.ndarray, high: np.ndarray, limit: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pairs (query, choice columns[j]) of queries start..end-1 both stages keep, sorted
        by query. `high` holds the columns' first-stage bits."""
        q, c = self.queries, self.choices
        query_high = q.high[start:end, None]
        rows = end - start
        size = rows * min(FILTER_COLS, len(columns))
        xor = np.empty(size, np.uint32)
        differ = np.empty(size, np.uint8)
        ok = np.empty(size, bool)
        hits: list[np.ndarray] = []
        for k in range(0, len(columns), FILTER_COLS):
            width = min(FILTER_COLS, len(columns) - k)
            cells = rows * width
            np.bitwise_xor(
                query_high, high[None, k : k + width], out=xor[:cells].reshape(rows, width)
            )
            np.bitwise_count(xor[:cells], out=differ[:cells])
            np.less_equal(
                differ[:cells].reshape(rows, width),
                limit[None, k : k + width],
                out=ok[:cells].reshape(rows, width),
            )
            flat = np.flatnonzero(ok[:cells])  # much faster than a 2-D nonzero
            i, j = np.divmod(flat, width)
            hits.append(i * len(columns) + (j + k))
        query, column = np.divmod(np.sort(np.concatenate(hits)), len(columns))
        query += start
        choice = columns[column]
        allowed = self.bound.allowed(q.lengths[query], c.lengths[choice])
        allowed -= np.abs(q.rest64[query] - c.rest64[choice])
        keep = popcount(q.bits[query] ^ c.bits[choice]) <= allowed
        return query[keep], choice[keep]

    def verify(
        self, start: int, end: int, query: np.ndarray, choice: np.ndarray, out: list[ValuePairs]
    ) -> None:
        """Score the candidate pairs of queries start..end-1 with cdist, VERIFY_ROWS queries
        at a time against the union of their candidates; append those reaching the cut-off
        (as positions in the caller's arrays)."""
        bounds = np.searchsorted(query, np.arange(start, end + VERIFY_ROWS, VERIFY_ROWS))
        for lo, hi in itertools.pairwise(bounds.tolist()):
            if lo == hi:
                continue
            picked = np.sort(choice[lo:hi])
            picked = picked[np.r_[True, picked[1:] != picked[:-1]]]
            first = int(query[lo]) - (int(query[lo]) - start) % VERIFY_ROWS
            matrix = process.cdist(
                self.queries.values[first : min(end, first + VERIFY_ROWS)].tolist(),
                self.choices.values[picked].tolist(),
                scorer=self.bound.kernel.func,
                processor=None,
                score_cutoff=self.cutoff,
                dtype=np.float64,
                workers=1,
            )
            p, r = np.nonzero(matrix >= self.cutoff)
            if len(p):
                out.append(
                    (self.queries.order[first + p], self.choices.order[picked[r]], matrix[p, r])
                )

    def match_class(self, queries: tuple[int, int]) -> ValuePairs | None:
        """Value pairs of one class of queries reaching the cut-off."""
        columns, limit = self.reachable(queries[0])
        if not len(columns):
            return None
        high = self.choices.high[columns]
        found: list[ValuePairs] = []
        for start in range(queries[0], queries[1], FILTER_ROWS):
            end = min(queries[1], start + FILTER_ROWS)
            query, choice = self.candidates(start, end, columns, high, limit)
            self.verify(start, end, query, choice, found)
        return batched(found)

    def pairs(self, tick: Callable[[], None]) -> Iterator[ValuePairs]:
        """All value pairs reaching the cut-off, in batches of about RESULT_BATCH."""
        yield from pooled(self.query_classes(), self.match_class, tick)


def pooled[U](
    units: list[U], work: Callable[[U], ValuePairs | None], tick: Callable[[], None]
) -> Iterator[ValuePairs]:
    """`work(unit)` of every unit on a thread pool (numpy and rapidfuzz release the GIL),
    results in unit order joined in batches of about RESULT_BATCH; `tick()` per unit."""
    workers = max(1, min(os.process_cpu_count() or 1, 8))
    pool = ThreadPoolExecutor(max_workers=workers)
    running: deque[Future[ValuePairs | None]] = deque()

    def results() -> Iterator[ValuePairs | None]:
        """Unit results in order, with a bounded window of units in flight."""
        for unit in units:
            running.append(pool.submit(work, unit))
            if len(running) > 4 * workers:
                yield running.popleft().result()
        while running:
            yield running.popleft().result()

    batch: list[ValuePairs] = []
    size = 0
    try:
        for found in results():
            tick()
            if found is not None:
                batch.append(found)
                size += len(found[0])
            if size >= RESULT_BATCH:
                yield _joined(batch)
                batch, size = [], 0
        if batch:
            yield _joined(batch)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def batched(found: list[ValuePairs]) -> ValuePairs | None:
    """The pairs of `found` as one batch; None when there are none."""
    return _joined(found) if found else None


def _joined(batch: list[ValuePairs]) -> ValuePairs:
    p, q, s = zip(*batch, strict=True)
    return np.concatenate(p), np.concatenate(q), np.concatenate(s)
