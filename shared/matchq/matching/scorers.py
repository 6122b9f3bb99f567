"""Scorer functions: the scalar form the reference uses and the kernels the engine batches.

Every scorer is called with `processor=None`: values are normalised (or not) beforehand.
`token_sort_ratio` is computed by the engine as `ratio` on pre-sorted tokens, split on
exactly the white space rapidfuzz splits on; this is bit-identical to rapidfuzz's own
`token_sort_ratio` except for values holding U+0085 or U+00A0, for which the engine falls
back to rapidfuzz's `token_sort_ratio` itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler

from matchq.config import Scorer

ScalarScorer = Callable[[str, str], float]

# Cut-offs handed to rapidfuzz are lowered by this: it compares some of them in single
# precision (a Jaro-Winkler of exactly 0.8 fails score_cutoff=0.79999999).
RF_MARGIN = 1e-3


def _jaro_winkler(a: str, b: str) -> float:
    return JaroWinkler.normalized_similarity(a, b, processor=None) * 100


def _wrap(func: Any) -> ScalarScorer:
    def score(a: str, b: str) -> float:
        return func(a, b, processor=None)

    return score


SCALAR: dict[Scorer, ScalarScorer] = {
    Scorer.RATIO: _wrap(fuzz.ratio),
    Scorer.PARTIAL_RATIO: _wrap(fuzz.partial_ratio),
    Scorer.TOKEN_SORT_RATIO: _wrap(fuzz.token_sort_ratio),
    Scorer.TOKEN_SET_RATIO: _wrap(fuzz.token_set_ratio),
    Scorer.WRATIO: _wrap(fuzz.WRatio),
    Scorer.JARO_WINKLER: _jaro_winkler,
}


def scalar_score(scorer: Scorer, a: str, b: str) -> float:
    """The 0-100 score of two compared (non-empty) strings."""
    return SCALAR[scorer](a, b)


# White space as rapidfuzz's sentence splitting sees it (Python's str.split() set without
# U+0085 and U+00A0, which rapidfuzz treats inconsistently: values holding them fall back).
_RF_SPACE = re.compile(
    "[\t\n\x0b\x0c\r\x1c-\x1f \u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+"
)
_UNSAFE_FOR_PRESORT = ("\x85", "\xa0")


def presort_safe(value: str) -> bool:
    """Whether `ratio(sort_tokens(a), sort_tokens(b))` equals rapidfuzz's token_sort_ratio."""
    return not any(ch in value for ch in _UNSAFE_FOR_PRESORT)


def sort_tokens(value: str) -> str:
    """The words of `value` sorted and joined by one space, as rapidfuzz's token_sort does."""
    return " ".join(sorted(tok for tok in _RF_SPACE.split(value) if tok))


@dataclass(frozen=True)
class Kernel:
    """How the engine batches one fuzzy scorer with rapidfuzz.process.cdist/cpdist.

    `func` is applied to the (possibly pre-processed) strings; `scale` turns its result into
    0-100; `exact` tells whether batched results equal the scalar scorer bit for bit (when
    not, the engine only filters with them and recomputes survivors with the scalar
    scorer); `indel` enables the length bound of normalised Indel similarity; `cost` ranks
    scorers by speed (lower is faster), `block_pairs` caps pairs per batched call.
    """

    func: Any
    scale: float
    exact: bool
    indel: bool
    cost: int
    block_pairs: int


RATIO_KERNEL = Kernel(fuzz.ratio, 1.0, True, True, 0, 4_000_000)
KERNELS: dict[Scorer, Kernel] = {
    Scorer.RATIO: RATIO_KERNEL,
    Scorer.PARTIAL_RATIO: Kernel(fuzz.partial_ratio, 1.0, True, False, 2, 1_000_000),
    Scorer.TOKEN_SORT_RATIO: Kernel(fuzz.token_sort_ratio, 1.0, True, False, 1, 2_000_000),
    Scorer.TOKEN_SET_RATIO: Kernel(fuzz.token_set_ratio, 1.0, True, False, 3, 400_000),
    Scorer.WRATIO: Kernel(fuzz.WRatio, 1.0, True, False, 4, 300_000),
    Scorer.JARO_WINKLER: Kernel(
        JaroWinkler.normalized_similarity, 100.0, False, False, 0, 3_000_000
    ),
}
