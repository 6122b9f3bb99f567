"""Signature search: the count filter's candidates without comparing every pair.

The count filter (`matchq.matching.count_filter`) keeps a pair of values only when the
Hamming distance H of their 64 token bits is at most

    tau = allowed(len(a), len(b)) - |rest_a - rest_b|,  allowed = floor(slack*(len(a)+len(b)))

(slack = 1 - cutoff/100). Its dense form computes H for every pair the lengths allow, which
is quadratic. Here the 64 bit positions are dealt into m disjoint chunks (position p into
chunk p mod m). If every chunk of a pair differed in two bits or more, H would be at least
2m; so with 2m > tau some chunk differs in at most one bit (pigeonhole, as in multi-index
hashing). Per chunk, the choices are sorted by that chunk's bits; a query looks up its own
chunk key and the keys one bit away from it (w + 1 probes for a w-bit chunk), and the
choices found are its candidates. A pair found in chunk j is dropped when an earlier chunk
would have found it too, so every pair is produced once. The candidates then pass the
count filter's full test and `rapidfuzz.process.cpdist` (ratio with score_cutoff) keeps
those reaching the cut-off. The search drops only pairs whose H exceeds tau: exact.

The work per query is the probes and the choices behind them: about m*(w + 1)*(1 +
n/2**w) for n choices, against n for the dense filter. tau grows with length, so queries
whose tau needs more than MAX_CHUNKS chunks (chunks too narrow to be selective) go to the
dense filter instead. See docs/matching.md, "Signature search".
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from rapidfuzz import process

from matchq.matching.count_filter import (
    CountBound,
    CountFilter,
    ValuePairs,
    batched,
    plan_bits,
    pooled,
    popcount,
)
from matchq.matching.plan import Plan

MAX_CHUNKS = 2  # 64 bits in 2 chunks of 32; wider tau goes to the dense filter
QUERY_BLOCK = 2048  # queries probed together
PROBE_BLOCK = 2_000_000  # candidate pairs handled together, at most (about)


@dataclass
class _Chunks:
    """The choices indexed by the chunks of one chunking (m chunks)."""

    keys: list[np.ndarray]  # per chunk: per choice, its chunk key (uint64)
    widths: list[int]
    sorted_keys: list[np.ndarray]  # per chunk: the keys, sorted
    order: list[np.ndarray]  # per chunk: choice positions in that order

    @staticmethod
    def keys_of(bits: np.ndarray, m: int) -> tuple[list[np.ndarray], list[int]]:
        """Per chunk j, the bits at positions j, j + m, j + 2m, ... packed into a key."""
        if m == 1:
            return [bits], [64]
        if m == 2:
            return [_compact(bits), _compact(bits >> np.uint64(1))], [32, 32]
        keys: list[np.ndarray] = []
        widths: list[int] = []
        for j in range(m):
            key = np.zeros(len(bits), np.uint64)
            positions = range(j, 64, m)
            for t, p in enumerate(positions):
                key |= ((bits >> np.uint64(p)) & np.uint64(1)) << np.uint64(t)
            keys.append(key)
            widths.append(len(positions))
        return keys, widths

    @staticmethod
    def of(bits: np.ndarray, m: int) -> _Chunks:
        keys, widths = _Chunks.keys_of(bits, m)
        order = [np.argsort(k, kind="stable") for k in keys]
        return _Chunks(keys, widths, [k[o] for k, o in zip(keys, order, strict=True)], order)


_COMPACT = [
    (0, 0x5555555555555555),
    (1, 0x3333333333333333),
    (2, 0x0F0F0F0F0F0F0F0F),
    (4, 0x00FF00FF00FF00FF),
    (8, 0x0000FFFF0000FFFF),
    (16, 0x00000000FFFFFFFF),
]


def _compact(bits: np.ndarray) -> np.ndarray:
    """The even-position bits of each value, packed into its low 32 bits (bit 2t to t)."""
    x = bits
    for shift, mask in _COMPACT:
        x = (x | (x >> np.uint64(shift))) & np.uint64(mask)
    return x


@dataclass
class _Index:
    """Chunk indexes of one set of choices, kept across searches of the same job (the
    file2 side is the same for every chunk of file1 rows)."""

    choices: np.ndarray
    chunkings: dict[int, _Chunks]


_INDEX_KEEP = 4  # indexes kept per plan


def _index(plan: Plan, choices: np.ndarray, bits: np.ndarray, needed: set[int]) -> _Index:
    cache: list[_Index] = plan.caches.setdefault("signatures", [])
    for index in cache:
        if np.array_equal(index.choices, choices):
            break
    else:
        index = _Index(choices, {})
        cache.append(index)
        del cache[:-_INDEX_KEEP]
    for m in needed - index.chunkings.keys():
        index.chunkings[m] = _Chunks.of(bits, m)
    return index


class SignatureFilter:
    """Every value pair of queries x choices whose score reaches the bound's cut-off
    (exact), found through chunk signatures of the token bits."""

    def __init__(self, plan: Plan, queries: np.ndarray, choices: np.ndarray, bound: CountBound):
        self.plan = plan
        self.queries, self.choices = queries, choices
        self.bound = bound
        self.cutoff = bound.cutoff
        bits = plan_bits(plan)
        self.q_bits, self.c_bits = bits[queries], bits[choices]
        self.q_len, self.c_len = plan.lengths[queries], plan.lengths[choices]
        self.q_rest = self.q_len - popcount(self.q_bits)
        self.c_rest = self.c_len - popcount(self.c_bits)
        # per query, the chunks its widest tau needs (0: none reachable)
        self.q_chunks = self._chunks_needed()
        needed = set(np.unique(self.q_chunks).tolist()) & set(range(1, MAX_CHUNKS + 1))
        self.chunkings = _index(plan, choices, self.c_bits, needed).chunkings

    def _chunks_needed(self) -> np.ndarray:
        """Per query, m = ceil((tau + 1)/2) for the widest tau over the choice lengths its
        length can reach (|len(a) - len(b)| <= allowed); 0 when it reaches none."""
        lengths = np.unique(self.c_len)
        need = np.zeros(len(self.queries), np.int64)
        for la in np.unique(self.q_len).tolist():
            allowed = self.bound.allowed(la, lengths)
            ok = np.abs(la - lengths) <= allowed
            if ok.any():
                tau = int(allowed[ok].max())
                need[self.q_len == la] = (tau + 2) // 2
        return need

    def units(self) -> list[tuple[int, np.ndarray]]:
        """Blocks of queries (positions into `queries`) sharing a chunking, by length."""
        out: list[tuple[int, np.ndarray]] = []
        order = np.lexsort((self.q_bits, self.q_len))
        for m in range(1, MAX_CHUNKS + 1):
            picked = order[self.q_chunks[order] == m]
            for s in range(0, len(picked), QUERY_BLOCK):
                out.append((m, picked[s : s + QUERY_BLOCK]))
        return out

    def dense_queries(self) -> np.ndarray:
        """Queries whose tau needs more than MAX_CHUNKS chunks."""
        return np.flatnonzero(self.q_chunks > MAX_CHUNKS)

    @staticmethod
    def _probe(
        chunks: _Chunks, j: int, q_key: np.ndarray
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Candidate pairs of chunk j, as (query number within the unit, choice): choices
        whose chunk key is within one bit of the query's (`q_key`, per query of the unit);
        in slices of about PROBE_BLOCK pairs."""
        width = chunks.widths[j]
        flips = np.r_[np.uint64(0), np.left_shift(np.uint64(1), np.arange(width, dtype=np.uint64))]
        probes = (q_key[:, None] ^ flips[None, :]).ravel()
        keys = chunks.sorted_keys[j]
        lo = np.searchsorted(keys, probes, side="left")
        counts = np.searchsorted(keys, probes, side="right") - lo
        ends = np.cumsum(counts)
        # probe ranges [a, b) holding about PROBE_BLOCK pairs each
        cuts = np.searchsorted(ends, np.arange(PROBE_BLOCK, int(ends[-1]), PROBE_BLOCK))
        for a, b in itertools.pairwise([0, *np.unique(cuts + 1).tolist(), len(probes)]):
            if a >= b:
                continue
            size = counts[a:b]
            total = int(ends[b - 1] - (ends[a - 1] if a else 0))
            if not total:
                continue
            which = np.repeat(np.arange(a, b) // (width + 1), size)
            offsets = np.repeat(lo[a:b] - (np.cumsum(size) - size), size) + np.arange(total)
            yield which, chunks.order[j][offsets]

    def match_unit(self, unit: tuple[int, np.ndarray]) -> ValuePairs | None:
        m, query = unit
        chunks = self.chunkings[m]
        q_keys, _ = _Chunks.keys_of(self.q_bits[query], m)
        q_bits, q_len, q_rest = self.q_bits[query], self.q_len[query], self.q_rest[query]
        found: list[ValuePairs] = []
        for j in range(m):
            for which, choice in self._probe(chunks, j, q_keys[j]):
                keep = np.ones(len(which), bool)
                for i in range(j):  # found by an earlier chunk already
                    keep &= popcount(q_keys[i][which] ^ chunks.keys[i][choice]) > 1
                which, choice = which[keep], choice[keep]
                allowed = self.bound.allowed(q_len[which], self.c_len[choice])
                allowed -= np.abs(q_rest[which] - self.c_rest[choice])
                keep = popcount(q_bits[which] ^ self.c_bits[choice]) <= allowed
                self._verify(query[which[keep]], choice[keep], found)
        return batched(found)

    def _verify(self, query: np.ndarray, choice: np.ndarray, out: list[ValuePairs]) -> None:
        if not len(query):
            return
        values = self.plan.values
        scores = process.cpdist(
            values[self.queries[query]].tolist(),
            values[self.choices[choice]].tolist(),
            scorer=self.bound.kernel.func,
            processor=None,
            score_cutoff=self.cutoff,
            dtype=np.float64,
            workers=1,
        )
        keep = scores >= self.cutoff
        if keep.any():
            out.append((query[keep], choice[keep], scores[keep]))

    def pairs(self, tick: Callable[[], None], *, dense: bool = True) -> Iterator[ValuePairs]:
        """All value pairs reaching the cut-off (positions into queries, choices), in
        batches: signature search where the chunks are selective, the dense filter for
        the other queries (or, with dense=False, nothing for them)."""
        yield from pooled(self.units(), self.match_unit, tick)
        dense_queries = self.dense_queries() if dense else np.empty(0, np.int64)
        if len(dense_queries):
            search = CountFilter(self.plan, self.queries[dense_queries], self.choices, self.bound)
            for p, q, s in search.pairs(tick):
                yield dense_queries[p], q, s
