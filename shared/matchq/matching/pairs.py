"""Pairs the engine finds, as parallel arrays, and the cap on how many it hands back."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matchq.config import MatchMode
from matchq.errors import InputFileError

MAX_PAIRS = 5_000_000  # matched pairs (mode all) or candidate pairs (one_to_one) at most


class TooManyMatches(InputFileError):
    """More pairs reach the threshold than the engine returns; raise the threshold."""


def too_many(mode: MatchMode, threshold: float) -> TooManyMatches:
    return TooManyMatches(
        f"more than {MAX_PAIRS:,} pairs score at or above the threshold {threshold:g} in "
        f"match_mode '{mode.value}'; raise the threshold or use match_mode 'best'"
    )


def check_count(count: int, mode: MatchMode, threshold: float) -> None:
    """Raise TooManyMatches when `count` pairs are more than MAX_PAIRS."""
    if count > MAX_PAIRS:
        raise too_many(mode, threshold)


@dataclass
class ChunkResult:
    """Pairs found for some file1 rows: row numbers, score, one column per mapping.

    A mapping left out of a pair's mean (a value empty on either side) scores NaN.
    """

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
        if len(parts) == 1:  # as it is: no copy (results are never modified in place)
            return parts[0]
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

    def is_sorted(self) -> bool:
        """Whether the pairs are in (file1 row, file2 row) order, each pair once."""
        r1, r2 = self.rows1, self.rows2
        return bool(np.all((r1[1:] > r1[:-1]) | ((r1[1:] == r1[:-1]) & (r2[1:] > r2[:-1]))))

    def sorted(self) -> ChunkResult:
        """The pairs in (file1 row, file2 row) order (itself when already so)."""
        return self if self.is_sorted() else self.take(np.lexsort((self.rows2, self.rows1)))

    def __len__(self) -> int:
        return len(self.rows1)
