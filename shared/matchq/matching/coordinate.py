"""The first step of a job's run: read, prepare, and either match in one piece or plan shards.

`begin_match` is what the worker calls when it claims a job. A job the planner keeps in
one shard is matched and written right here, exactly as `run_match` does; a bigger one is
prepared once into `prepared_path` (what every shard loads) and handed back as
`PlannedShards`, for the worker to queue its shards (docs/matching.md, "Shards").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from matchq.config import MatchConfig
from matchq.matching.pipeline import (
    MatchSummary,
    Reporter,
    match_and_write,
    read_tables,
    removed_on_error,
)
from matchq.matching.plan import prepare
from matchq.matching.shards import plan_shards, save_prepared, share_token_bits


@dataclass(frozen=True)
class PlannedShards:
    """A job split into shards: file1 row ranges, in order; its prepared job is stored."""

    shard_ranges: list[tuple[int, int]]
    rows1: int
    rows2: int


def begin_match(
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
    prepared_path: Path | None = None,
    shard_rows: int | None = None,
    max_shards: int = 1,
    concurrency: int = 1,
) -> MatchSummary | PlannedShards:
    """Match in one piece (as run_match, into `out_dir`) or, when the planner splits the job
    into several shards (never without `prepared_path`), store the prepared job there and
    return the plan (`concurrency`: the workers that may run its shards at once, see
    plan_shards). Raises what run_match raises; nothing is left behind on an error."""
    started = time.perf_counter()
    rep = Reporter(progress, should_cancel)
    rep.phase("read")
    with removed_on_error() as written:
        tables = read_tables(
            rep, config, (file1, file2), (file1_name, file2_name), max_rows, (0.0, 4.0)
        )
        rep.phase("prepare")
        rep.set(8.0, "Preparing values")
        job = prepare(config, *tables)
        if prepared_path is not None and max_shards > 1:
            ranges = plan_shards(
                job, shard_rows=shard_rows, max_shards=max_shards, concurrency=concurrency
            )
            if len(ranges) > 1:
                del tables
                written.append(Path(prepared_path))
                share_token_bits(job)
                save_prepared(job, Path(prepared_path))
                rep.set(10.0, f"Split into {len(ranges):,} shards", force=True)
                return PlannedShards(ranges, job.rows1, job.rows2)
        return match_and_write(
            rep, config, job, tables, Path(out_dir), written, started=started, chunk_rows=chunk_rows
        )
