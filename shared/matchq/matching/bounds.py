"""Per-mapping lower bounds: the least score each mapping must reach for a pair to match.

A file1 row group and a file2 row group (rows with values in the same mappings) compare
a fixed set C of mappings with weight sum W. The pair score is sum(w_i * s_i) / W with
every s_i <= 100, so it reaches the threshold T only if every mapping i of C scores at
least

    b_i = (T*W - (W - w_i)*100) / w_i

(the score it needs when all the others score 100). A pair below some b_i cannot match:
dropping it never drops a match (docs/matching.md, "Why pruning is exact").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from matchq.matching.plan import Plan, PreparedJob
from matchq.matching.selection import Sink

EPS = 1e-6  # bounds are lowered by this before use, against float rounding

Tick = Callable[[], None]


@dataclass
class GroupPair:
    """A file1 mask group against a file2 mask group: comparable mappings and bounds.

    `cuts` holds b_i - EPS per comparable mapping index. `known` holds scores fixed for
    every pair handled (100 for exact mappings the rows were joined on).
    """

    job: PreparedJob
    plans: list[Plan]
    weight_sum: float
    cuts: dict[int, float]
    sink: Sink
    tick: Tick
    known: dict[int, float] = field(default_factory=dict)


def group_pair(job: PreparedJob, common: int, sink: Sink, tick: Tick) -> GroupPair | None:
    """The comparison of groups whose common mask is `common`; None when no mapping is
    comparable (every pair then scores 0)."""
    plans = [p for p in job.plans if common >> p.index & 1]
    if not plans:
        return None
    weight_sum = 0.0
    for plan in plans:  # in mapping order, as the reference sums them
        weight_sum += plan.weight
    threshold = job.threshold
    cuts = {
        p.index: (threshold * weight_sum - (weight_sum - p.weight) * 100.0) / p.weight - EPS
        for p in plans
    }
    return GroupPair(job, plans, weight_sum, cuts, sink, tick)
