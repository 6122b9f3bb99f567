"""Brute-force reference of the matching semantics (docs/matching.md): a double loop.

It shares only the value rules (`compared_value`) and the scalar scorers with the engine;
the score is the weighted mean over comparable mappings in mapping order, the same float
operations as the engine.
"""

from __future__ import annotations

import math

from matchq.config import MatchConfig, MatchMode, MatchType
from matchq.matching.normalize import compared_value
from matchq.matching.scorers import scalar_score

Pair = tuple[int, int, float, tuple[float, ...]]


def reference_match(
    config: MatchConfig,
    columns1: dict[str, list[str | None]],
    columns2: dict[str, list[str | None]],
) -> list[Pair]:
    """(file1_row, file2_row, score, mapping scores with NaN when left out), sorted."""
    maps = config.mappings
    vals1 = [[compared_value(v, m.use_normalization) for v in columns1[m.file1_col]] for m in maps]
    vals2 = [[compared_value(v, m.use_normalization) for v in columns2[m.file2_col]] for m in maps]
    n1, n2 = len(vals1[0]), len(vals2[0])
    threshold = float(config.threshold)
    candidates: list[Pair] = []
    for i in range(n1):
        for j in range(n2):
            num = 0.0
            den = 0.0
            ms: list[float] = []
            for k, m in enumerate(maps):
                a, b = vals1[k][i], vals2[k][j]
                if a is None or b is None:
                    ms.append(math.nan)
                    continue
                if m.match_type is MatchType.EXACT:
                    s = 100.0 if a == b else 0.0
                else:
                    scorer = m.effective_scorer
                    assert scorer is not None
                    s = scalar_score(scorer, a, b)
                ms.append(s)
                num += float(m.weight) * s
                den += float(m.weight)
            score = num / den if den > 0 else 0.0
            if score >= threshold:
                candidates.append((i, j, score, tuple(ms)))
    if config.match_mode is MatchMode.ALL:
        chosen = candidates
    elif config.match_mode is MatchMode.BEST:
        best: dict[int, Pair] = {}
        for pair in candidates:  # j ascending within i: a later j wins only when higher
            current = best.get(pair[0])
            if current is None or pair[2] > current[2]:
                best[pair[0]] = pair
        chosen = list(best.values())
    else:
        used1: set[int] = set()
        used2: set[int] = set()
        chosen = []
        for pair in sorted(candidates, key=lambda p: (-p[2], p[0], p[1])):
            if pair[0] not in used1 and pair[1] not in used2:
                used1.add(pair[0])
                used2.add(pair[1])
                chosen.append(pair)
    return sorted(chosen, key=lambda p: (p[0], p[1]))
