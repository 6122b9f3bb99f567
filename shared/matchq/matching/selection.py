"""Selection: which found pairs a match mode keeps.

While one chunk of file1 rows is matched, a sink receives the pairs at or above the
threshold: `BestSink` keeps each row's best pair (mode best), `PairSink` every pair
(modes all and one_to_one). `select` then applies the mode to the results of all chunks,
so chunks may be matched anywhere, in any order, and merged here.
"""

from __future__ import annotations

import math

import numpy as np

from matchq.config import MatchMode
from matchq.matching import pairs
from matchq.matching.pairs import ChunkResult
from matchq.matching.plan import PreparedJob


class PairSink:
    """Collects every pair at or above the threshold (modes all and one_to_one)."""

    def __init__(self, job: PreparedJob) -> None:
        self.job = job
        self.parts: list[ChunkResult] = []
        self.count = 0

    def add(self, part: ChunkResult) -> None:
        if len(part):
            self.count += len(part)
            pairs.check_count(self.count, self.job.mode, self.job.threshold)
            self.parts.append(part)

    def result(self) -> ChunkResult:
        return ChunkResult.concat(self.parts, len(self.job.plans))


class BestSink:
    """Keeps, per file1 row of the chunk, its best pair (ties: lowest file2 row)."""

    def __init__(self, job: PreparedJob, rows1: np.ndarray) -> None:
        self.rows1 = rows1
        k = len(job.plans)
        self.score = np.full(len(rows1), -math.inf)
        self.row2 = np.full(len(rows1), np.iinfo(np.int64).max, np.int64)
        self.mapping_scores = np.full((len(rows1), k), np.nan)

    def add(self, part: ChunkResult) -> None:
        if not len(part):
            return
        local = np.searchsorted(self.rows1, part.rows1)
        # per row of the part its best pair: highest score, then lowest file2 row
        order = np.lexsort((part.rows2, -part.scores, local))
        local = local[order]
        first = np.ones(len(order), bool)
        first[1:] = local[1:] != local[:-1]
        pick = order[first]
        at = local[first]
        score, row2 = part.scores[pick], part.rows2[pick]
        kept_score, kept_row2 = self.score[at], self.row2[at]
        better = (score > kept_score) | ((score == kept_score) & (row2 < kept_row2))
        at, pick = at[better], pick[better]
        self.score[at] = part.scores[pick]
        self.row2[at] = part.rows2[pick]
        self.mapping_scores[at] = part.mapping_scores[pick]

    def result(self) -> ChunkResult:
        found = np.isfinite(self.score)
        return ChunkResult(
            self.rows1[found], self.row2[found], self.score[found], self.mapping_scores[found]
        )


Sink = PairSink | BestSink


def sink_for(job: PreparedJob, rows1: np.ndarray) -> Sink:
    """The sink of the job's match mode for the file1 rows `rows1` (ascending)."""
    return BestSink(job, rows1) if job.mode is MatchMode.BEST else PairSink(job)


GREEDY_BATCH = 65536  # pairs turned into Python ints at a time by the greedy


def _one_to_one(job: PreparedJob, result: ChunkResult) -> ChunkResult:
    """Global greedy: pairs by score (highest first, ties by file1 then file2 row), each
    taken when neither of its rows is taken yet."""
    order = np.lexsort((result.rows2, result.rows1, -result.scores))
    used1 = bytearray(job.rows1)
    used2 = bytearray(job.rows2)
    taken: list[int] = []
    for start in range(0, len(order), GREEDY_BATCH):
        batch = order[start : start + GREEDY_BATCH]
        for k, i, j in zip(
            batch.tolist(), result.rows1[batch].tolist(), result.rows2[batch].tolist(), strict=True
        ):
            if not used1[i] and not used2[j]:
                used1[i] = used2[j] = 1
                taken.append(k)
    return result.take(np.array(taken, dtype=np.int64))


def select(job: PreparedJob, parts: list[ChunkResult]) -> ChunkResult:
    """Apply the match mode to all chunks' results; pairs sorted by file1 then file2 row.

    Mode best needs nothing more (each chunk holds its rows' best pairs). Parts already
    sorted and in file1 order (as the merge of shards hands them) are not copied.
    """
    result = ChunkResult.concat(parts, len(job.plans))
    if job.mode is not MatchMode.BEST:
        pairs.check_count(len(result), job.mode, job.threshold)
    if job.mode is MatchMode.ONE_TO_ONE:
        result = _one_to_one(job, result)
    return result.sorted()
