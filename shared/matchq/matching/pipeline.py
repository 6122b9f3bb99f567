"""The run pipeline: read both files, prepare, match in chunks, select, write the results.

`run_match` is what the worker calls; `match_tables` is the same without files, for
tests and benchmarks. Progress and cancellation checks happen about twice a second.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from matchq.config import MatchConfig, MatchMode, OutputFormat
from matchq.errors import JobCancelled
from matchq.formats import ALL_COLUMNS, Table, read_table
from matchq.matching import pairs, writers
from matchq.matching.blocks import match_chunk
from matchq.matching.bounds import Tick
from matchq.matching.pairs import ChunkResult
from matchq.matching.plan import PreparedJob, prepare
from matchq.matching.selection import select

if TYPE_CHECKING:
    from matchq.matching.summary_sample import ScoreSample

DEFAULT_CHUNK_ROWS = 5000  # the largest chunk of file1 rows matched at once
FIRST_CHUNK_ROWS = 256  # the first chunk, which measures the rate
MIN_CHUNK_ROWS = 16  # chunks never get smaller (a very slow scorer)
CHUNK_SECONDS = 2.0  # later chunks are sized to about this much work


def _next_chunk(rows: int, seconds: float) -> int:
    """Rows of the next chunk: about CHUNK_SECONDS of work at the rate of the last chunk,
    between MIN_CHUNK_ROWS and DEFAULT_CHUNK_ROWS."""
    if seconds <= 0:
        return DEFAULT_CHUNK_ROWS
    wanted = int(rows * CHUNK_SECONDS / seconds)
    return max(MIN_CHUNK_ROWS, min(DEFAULT_CHUNK_ROWS, wanted))


def match_rows(
    job: PreparedJob,
    start: int,
    stop: int,
    *,
    chunk_rows: int | None = None,
    tick: Tick | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> list[ChunkResult]:
    """Match file1 rows [start, stop) chunk by chunk; the chunks' results, not selected.

    `on_chunk(row)` after each chunk, `row` the end of the rows matched so far. Chunks are
    `chunk_rows` rows when given; otherwise the first is FIRST_CHUNK_ROWS and each next one
    about CHUNK_SECONDS of work at the rate measured (so progress moves every few seconds
    even with a slow scorer), at most DEFAULT_CHUNK_ROWS. The result does not depend on
    the chunks. Modes all and one_to_one raise TooManyMatches as soon as the pairs found
    exceed MAX_PAIRS (the job's pairs are at least these), at threshold 0 in mode all
    before matching anything.
    """
    fixed = max(1, chunk_rows) if chunk_rows else None
    size = fixed or FIRST_CHUNK_ROWS
    if job.mode is MatchMode.ALL and job.threshold <= 0:
        pairs.check_count(job.rows1 * job.rows2, job.mode, job.threshold)
    parts: list[ChunkResult] = []
    total = 0
    lo = start
    while lo < stop:
        hi = min(stop, lo + size)
        began = time.perf_counter()
        part = match_chunk(job, np.arange(lo, hi), tick)
        if fixed is None:
            size = _next_chunk(hi - lo, time.perf_counter() - began)
        total += len(part)
        if job.mode is not MatchMode.BEST:
            pairs.check_count(total, job.mode, job.threshold)
        parts.append(part)
        if on_chunk is not None:
            on_chunk(hi)
        lo = hi
    return parts


def match_prepared(
    job: PreparedJob,
    *,
    chunk_rows: int | None = None,
    tick: Tick | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> ChunkResult:
    """Match a prepared job chunk by chunk of file1 rows, then select; `on_chunk(rows_done)`
    after each chunk."""
    parts = match_rows(job, 0, job.rows1, chunk_rows=chunk_rows, tick=tick, on_chunk=on_chunk)
    return select(job, parts)


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
    return match_prepared(job, chunk_rows=chunk_rows, tick=tick, on_chunk=on_chunk)


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
    summary: dict[str, Any] = field(default_factory=dict)  # summary.json


class Reporter:
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
        self.timings: dict[str, float] = {}  # seconds by phase, for the summary
        self._phase: tuple[str, float] | None = None

    def phase(self, name: str | None) -> None:
        """Begin phase `name` (None: end the current one); its time adds to timings."""
        now = time.perf_counter()
        if self._phase is not None:
            done, since = self._phase
            self.timings[done] = self.timings.get(done, 0.0) + now - since
        self._phase = None if name is None else (name, now)

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


def _read(
    rep: Reporter, path: Path, name: str, columns: list[str], max_rows: int, percent: float
) -> Table:
    rep.set(percent, f"Reading {name}", force=percent == 0.0)
    return read_table(
        Path(path),
        name,
        columns,
        max_rows=max_rows,
        tick=lambda n: rep.set(percent, f"Reading {name}: {n:,} rows"),
    )


def read_tables(
    rep: Reporter,
    config: MatchConfig,
    files: tuple[Path, Path],
    names: tuple[str, str],
    max_rows: int,
    percents: tuple[float, float],
    *,
    outputs: bool = True,
) -> tuple[Table, Table]:
    """Both files with the columns the job reads: the mapped ones, and with `outputs` the
    output columns (all when not given). Without `outputs` the output columns are still
    checked, so a file fails the same way either way."""
    tables = []
    for side in (1, 2):
        columns = _columns_wanted(config, side) if outputs else config.columns_needed(side)
        tables.append(
            _read(rep, files[side - 1], names[side - 1], columns, max_rows, percents[side - 1])
        )
    return tables[0], tables[1]


@contextmanager
def removed_on_error() -> Iterator[list[Path]]:
    """A list to append each output file to before opening it; on any exception (cancel
    included) the files listed are removed."""
    written: list[Path] = []
    try:
        yield written
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def _unmatched(result: ChunkResult, n1: int, n2: int) -> tuple[np.ndarray, np.ndarray]:
    return np.setdiff1d(np.arange(n1), result.rows1), np.setdiff1d(np.arange(n2), result.rows2)


def _write_results(
    rep: Reporter,
    config: MatchConfig,
    result: ChunkResult,
    tables: tuple[Table, Table],
    out_dir: Path,
    written: list[Path],
    percent: float,
) -> tuple[int, int]:
    """Write the result files in the config's output format (appending each to `written`
    before it is opened), reporting progress from `percent` to 100; returns the numbers of
    unmatched rows of both files. An xlsx result that cannot fit a sheet fails before any
    file is written."""
    table1, table2 = tables
    n1, n2 = table1.nrows, table2.nrows
    fmt = config.output_format
    matched_name, unmatched1_name, unmatched2_name = writers.result_names(fmt)
    unmatched1, unmatched2 = _unmatched(result, n1, n2)
    if fmt is OutputFormat.XLSX:
        writers.check_sheet_rows(matched_name, len(result))
        if config.generate_unmatched:
            writers.check_sheet_rows(unmatched1_name, len(unmatched1))
            writers.check_sheet_rows(unmatched2_name, len(unmatched2))
    rep.set(percent, f"Writing {len(result):,} matches")
    out_dir.mkdir(parents=True, exist_ok=True)
    cols1 = list(config.output_cols1 if config.output_cols1 is not None else table1.header)
    cols2 = list(config.output_cols2 if config.output_cols2 is not None else table2.header)
    total_out = len(result) + ((n1 + n2) if config.generate_unmatched else 0)

    def on_written(base: int) -> Callable[[int], None]:
        return lambda n: rep.set(
            percent + (100.0 - percent) * (base + n) / max(1, total_out),
            f"Writing results: {base + n:,} of {total_out:,} records",
        )

    arrays = (result.rows1, result.rows2, result.scores, result.mapping_scores)
    path = out_dir / matched_name
    written.append(path)
    if fmt is OutputFormat.JSON:
        records = writers.matched_records(*arrays, table1, cols1, table2, cols2)
        writers.write_array(path, records, on_written(0))
    else:
        write = writers.write_csv if fmt is OutputFormat.CSV else writers.write_xlsx
        header = writers.matched_header(len(config.mappings), cols1, cols2)
        write(path, header, writers.matched_rows(*arrays, table1, cols1, table2, cols2),
              on_written(0))  # fmt: skip
    if config.generate_unmatched:
        for side, rows, table, cols, name in (
            (1, unmatched1, table1, cols1, unmatched1_name),
            (2, unmatched2, table2, cols2, unmatched2_name),
        ):
            path = out_dir / name
            written.append(path)
            tick = on_written(len(result) + (0 if side == 1 else n1))
            if fmt is OutputFormat.JSON:
                writers.write_array(path, writers.unmatched_records(rows, side, table, cols), tick)
            else:
                write(path, writers.unmatched_header(side, cols),
                      writers.unmatched_rows(rows, table, cols), tick)  # fmt: skip
    return len(unmatched1), len(unmatched2)


def _file_info(table: Table) -> dict[str, str | None]:
    return {"format": table.format, "encoding": table.encoding, "delimiter": table.delimiter}


def job_summary(
    config: MatchConfig,
    result: ChunkResult,
    tables: tuple[Table, Table],
    sample: ScoreSample,
    timings: dict[str, float],
) -> dict[str, Any]:
    """The content of summary.json (docs/matching.md, "The summary")."""
    from matchq.matching.summary_sample import score_histogram, suggest_threshold

    n1, n2 = tables[0].nrows, tables[1].nrows
    matched1 = int(np.unique(result.rows1).size)
    matched2 = int(np.unique(result.rows2).size)
    return {
        "rows1": n1,
        "rows2": n2,
        "pairs": len(result),
        "matched_rows1": matched1,
        "matched_rows2": matched2,
        "unmatched1": n1 - matched1,
        "unmatched2": n2 - matched2,
        "threshold": config.threshold,
        "match_mode": config.match_mode.value,
        "score_histogram": score_histogram(sample.best),
        "suggested_threshold": suggest_threshold(sample),
        "sample_rows": len(sample.rows),
        "files": {"file1": _file_info(tables[0]), "file2": _file_info(tables[1])},
        "timings": {phase: round(seconds, 3) for phase, seconds in timings.items()},
    }


def write_results(
    rep: Reporter,
    config: MatchConfig,
    job: PreparedJob,
    result: ChunkResult,
    tables: tuple[Table, Table],
    out_dir: Path,
    written: list[Path],
    *,
    started: float,
    percent: float,
) -> MatchSummary:
    """Score the histogram's sample, then write the result files of the selected pairs
    `result` and summary.json into `out_dir` (run_match and the merge of shards both end
    here, so their files are the same byte for byte, timings aside)."""
    from matchq.matching.summary_sample import sample_scores

    rep.phase("sample")
    rep.set(percent, "Scoring a sample of rows for the score histogram")
    sample = sample_scores(job, tick=rep.tick)
    rep.phase("write")
    unmatched1, unmatched2 = _write_results(
        rep, config, result, tables, Path(out_dir), written, percent
    )
    rep.phase(None)
    summary = job_summary(config, result, tables, sample, rep.timings)
    path = Path(out_dir) / writers.SUMMARY_FILE
    written.append(path)
    path.write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    rep.set(100.0, f"Done: {len(result):,} matches", force=True)
    return MatchSummary(
        rows1=tables[0].nrows,
        rows2=tables[1].nrows,
        matched=len(result),
        unmatched1=unmatched1,
        unmatched2=unmatched2,
        files=[p.name for p in written],
        elapsed=time.perf_counter() - started,
        summary=summary,
    )


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
    texts the files hold (docs/matching.md, "File formats"), missing ones null; scores are
    rounded to 4 decimals in the files only. `progress(percent, message)` and
    `should_cancel()` are called about twice a second while working.

    Raises InputFileError (bad input, naming the file and row or column), TooManyMatches
    (an InputFileError) when modes all/one_to_one would exceed MAX_PAIRS, JobCancelled when
    `should_cancel()` turns true; nothing is left in `out_dir` in those cases.
    """
    # The worker's first step, never splitting: one place reads, prepares and matches.
    from matchq.matching.coordinate import begin_match

    summary = begin_match(
        config, file1, file2, out_dir,
        file1_name=file1_name, file2_name=file2_name, progress=progress,
        should_cancel=should_cancel, max_rows=max_rows, chunk_rows=chunk_rows,
    )  # fmt: skip
    assert isinstance(summary, MatchSummary)  # no prepared_path: always one piece
    return summary


def match_and_write(
    rep: Reporter,
    config: MatchConfig,
    job: PreparedJob,
    tables: tuple[Table, Table],
    out_dir: Path,
    written: list[Path],
    *,
    started: float,
    chunk_rows: int | None,
) -> MatchSummary:
    """The rest of a one-piece run once the job is prepared: match every row (10..90 %),
    then write the results (90..100 %)."""
    n1 = job.rows1
    rep.set(10.0, f"Matched 0 of {n1:,} rows")

    def on_chunk(done: int) -> None:
        rep.set(10.0 + 80.0 * done / max(1, n1), f"Matched {done:,} of {n1:,} rows")

    rep.phase("match")
    result = match_prepared(job, chunk_rows=chunk_rows, tick=rep.tick, on_chunk=on_chunk)
    return write_results(
        rep, config, job, result, tables, out_dir, written, started=started, percent=90.0
    )
