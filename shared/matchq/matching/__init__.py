"""The matching engine (worker side: imports pandas, numpy and rapidfuzz).

`run_match` runs a whole job from files to result files. Underneath, the job is split
into chunks of file1 rows: `prepare` builds a `PreparedJob` once, `match_chunk(job, rows1)`
matches one chunk against all of file2 (pure, the unit that can run anywhere) and
`select(job, parts)` merges the chunks' results under the match mode. A job too big for
one worker is split into shards of file1 rows (`matchq.matching.shards`: prepare once,
run each shard anywhere, merge into the same files run_match writes). docs/matching.md
explains the semantics and why the pruning never drops a match.
"""

from matchq.matching.blocks import match_chunk
from matchq.matching.pairs import ChunkResult, TooManyMatches
from matchq.matching.pipeline import MatchSummary, match_tables, run_match
from matchq.matching.plan import PreparedJob, prepare
from matchq.matching.selection import select
from matchq.matching.shards import (
    ShardSummary,
    load_prepared,
    merge_shards,
    plan_shards,
    prepare_files,
    run_shard,
    save_prepared,
)

__all__ = [
    "ChunkResult",
    "MatchSummary",
    "PreparedJob",
    "ShardSummary",
    "TooManyMatches",
    "load_prepared",
    "match_chunk",
    "match_tables",
    "merge_shards",
    "plan_shards",
    "prepare",
    "prepare_files",
    "run_match",
    "run_shard",
    "save_prepared",
    "select",
]
