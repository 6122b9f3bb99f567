"""Text forms of what the API returns: aligned tables, a job's details, durations, a job's
summary with its score histogram, an upload's description with its sample rows."""

from __future__ import annotations

import json
import sys
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any, TextIO

from matchq_client import FileInfo, HistogramBin, Job, JobSummary, JobSummaryCounts

PRIORITY_NAMES = {1: "low", 2: "normal", 3: "high", 4: "urgent"}
STATUS_ORDER = ("pending", "running", "completed", "failed", "cancelled")
JOB_COLUMNS = ("ID", "NAME", "STATUS", "PRIORITY", "PROGRESS", "CREATED (UTC)", "DURATION")
RIGHT_ALIGNED = frozenset({"PROGRESS", "DURATION", "JOBS"})
NAME_WIDTH = 32


def to_json(data: Any) -> str:
    """`data` as indented JSON, non-ASCII text as is."""
    return json.dumps(data, indent=2, ensure_ascii=False)


def print_json(data: Any, stream: TextIO | None = None) -> None:
    """`data` as indented JSON on stdout (or `stream`)."""
    print(to_json(data), file=stream or sys.stdout)


def duration(seconds: float | None) -> str:
    """`42s`, `3m05s`, `2h07m`; `-` when unknown."""
    if seconds is None:
        return "-"
    total = max(0, round(seconds))
    if total < 60:
        return f"{total}s"
    if total < 3600:
        return f"{total // 60}m{total % 60:02d}s"
    return f"{total // 3600}h{total % 3600 // 60:02d}m"


def timestamp(value: datetime | None) -> str:
    """`2025-01-27 10:00:05` (UTC, as the API gives it); `-` when absent."""
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def priority(value: int) -> str:
    """`3 high`."""
    name = PRIORITY_NAMES.get(value)
    return f"{value} {name}" if name else str(value)


def truncate(text: str, width: int) -> str:
    """`text` cut to `width` characters, ending in '…' when cut."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    right_aligned: Collection[str] = RIGHT_ALIGNED,
) -> str:
    """Aligned columns two spaces apart; the `right_aligned` columns (numbers) to the right."""
    body = [list(row) for row in rows]
    widths = [len(h) for h in headers]
    for row in body:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(widths[i]) if headers[i] in right_aligned else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(row) for row in body)])


def job_row(job: Job) -> list[str]:
    return [
        job.id,
        truncate(job.name, NAME_WIDTH),
        job.status,
        priority(job.priority),
        f"{job.progress}%",
        timestamp(job.created_at),
        duration(job.duration),
    ]


def jobs_table(jobs: Sequence[Job]) -> str:
    """The `matchq list` table; `(no jobs)` when empty."""
    if not jobs:
        return "(no jobs)"
    return table(JOB_COLUMNS, [job_row(job) for job in jobs])


def job_details(job: Job) -> str:
    """The `matchq get` text: one `field: value` line each."""
    eta = None if job.finished else job.estimated_remaining
    fields: list[tuple[str, str]] = [
        ("id", job.id),
        ("name", job.name),
        ("status", job.status),
        ("priority", priority(job.priority)),
        ("progress", f"{job.progress}%"),
    ]
    if job.status == "pending" and job.queue_position is not None:
        fields.append(("queue position", str(job.queue_position)))
    fields += [
        ("message", job.message or "-"),
        ("created", timestamp(job.created_at)),
        ("started", timestamp(job.started_at)),
        ("completed", timestamp(job.completed_at)),
        ("duration", duration(job.duration)),
    ]
    if not job.finished:
        fields.append(("eta", duration(eta)))
    if job.error_message:
        fields.append(("error", job.error_message))
    names = [PurePosixPath(path).name for path in job.result_files]
    fields.append(("result files", ", ".join(names) or "-"))
    if job.summary is not None:
        fields.append(("summary", summary_counts(job.summary)))
    if job.user_id:
        fields.append(("user", job.user_id))
    return field_lines(fields)


def field_lines(fields: Sequence[tuple[str, str]]) -> str:
    """`name: value` lines, the values aligned."""
    width = max(len(name) for name, _ in fields) + 1
    return "\n".join(f"{name + ':':<{width}} {value}" for name, value in fields)


def stats_table(stats: Mapping[str, Any]) -> str:
    """The `matchq stats` text: jobs per status, the total, then worker usage."""
    rows = [[status, str(stats.get(status, 0))] for status in STATUS_ORDER]
    total = stats.get("total_jobs")
    if total is None:
        total = sum(int(stats.get(status) or 0) for status in STATUS_ORDER)
    rows.append(["total", str(total)])
    lines = [table(("STATUS", "JOBS"), rows)]
    if "active_workers" in stats or "total_workers" in stats:
        active = stats.get("active_workers", "-")
        capacity = stats.get("total_workers", "-")
        lines.append(f"\nworkers: {active} busy of {capacity}")
    return "\n".join(lines)


# --- summaries -------------------------------------------------------------------------

HISTOGRAM_WIDTH = 40  # characters of the longest bar
#: Partial blocks: a bar is drawn in eighths of a character.
BLOCKS = " ▏▎▍▌▋▊▉█"


def number(value: float | None) -> str:
    """`80`, `83.5`; `-` when absent."""
    return "-" if value is None else f"{value:g}"


def count(value: int) -> str:
    """`1,234`."""
    return f"{value:,}"


def summary_counts(counts: JobSummaryCounts) -> str:
    """The one line of a job's `summary`: pairs, unmatched rows, suggested threshold."""
    suggested = counts.suggested_threshold
    return (
        f"{count(counts.pairs)} pairs; unmatched {count(counts.unmatched1)} of "
        f"{count(counts.rows1)} file1 rows, {count(counts.unmatched2)} of "
        f"{count(counts.rows2)} file2 rows; suggested threshold "
        f"{number(suggested) if suggested is not None else 'none'}"
    )


def can_draw_blocks(stream: TextIO) -> bool:
    """True when `stream` can encode the histogram's block characters."""
    try:
        BLOCKS.encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def histogram_bar(value: int, most: int, width: int = HISTOGRAM_WIDTH, blocks: bool = True) -> str:
    """A bar `width * value / most` characters long; at least a sliver when `value` > 0."""
    if value <= 0 or most <= 0:
        return ""
    if not blocks:
        return "#" * max(1, round(width * value / most))
    eighths = max(1, round(width * 8 * value / most))
    full, part = divmod(eighths, 8)
    return BLOCKS[-1] * full + (BLOCKS[part] if part else "")


def bin_index(bins: Sequence[HistogramBin], value: float | None) -> int | None:
    """The bin holding `value` (`lower <= value < upper`; the last bin holds its upper end)."""
    if value is None or not bins:
        return None
    for index, item in enumerate(bins):
        if item.lower <= value < item.upper:
            return index
    return len(bins) - 1 if value == bins[-1].upper else None


def histogram(
    bins: Sequence[HistogramBin],
    threshold: float | None = None,
    suggested: float | None = None,
    *,
    width: int = HISTOGRAM_WIDTH,
    blocks: bool = True,
) -> str:
    """One line per bin, `  80- 85 | ████████ 123`, lowest scores first; the bins of
    `threshold` and `suggested` end in `<- threshold 80` and `<- suggested 83.5`."""
    if not bins:
        return "(no score histogram)"
    most = max(item.count for item in bins)
    marks: dict[int, list[str]] = {}
    for label, value in (("threshold", threshold), ("suggested", suggested)):
        index = bin_index(bins, value)
        if index is not None:
            marks.setdefault(index, []).append(f"{label} {number(value)}")
    lines = []
    for index, item in enumerate(bins):
        bar_text = histogram_bar(item.count, most, width, blocks)
        line = f"{number(item.lower):>4}-{number(item.upper):>3} | "
        line += f"{bar_text} {count(item.count)}" if bar_text else count(item.count)
        if index in marks:
            line += "  <- " + ", ".join(marks[index])
        lines.append(line)
    return "\n".join(lines)


def seconds(value: float) -> str:
    """`0.42s`, `12.3s`, `3m05s`."""
    if value < 10:
        return f"{value:.2f}s"
    if value < 60:
        return f"{value:.1f}s"
    return duration(value)


def delimiter(value: str | None) -> str:
    """A delimiter as words: `tab`, `comma (,)`; `-` for none (e.g. xlsx)."""
    if not value:
        return "-"
    names = {"\t": "tab", " ": "space", ",": "comma (,)", ";": "semicolon (;)", "|": "pipe (|)"}
    if value in names:
        return names[value]
    return value if value.isprintable() else value.encode("unicode_escape").decode("ascii")


def file_format(format_: str, encoding: str | None, delimiter_: str | None) -> str:
    """`csv, utf-8, delimiter tab`; `xlsx` when it has neither encoding nor delimiter."""
    parts = [format_ or "-"]
    if encoding:
        parts.append(encoding)
    if delimiter_:
        parts.append(f"delimiter {delimiter(delimiter_)}")
    return ", ".join(parts)


def summary_text(summary: JobSummary, *, blocks: bool = True) -> str:
    """The `matchq summary` text: counts, files, timings, then the score histogram."""
    fields: list[tuple[str, str]] = [
        ("rows", f"{count(summary.rows1)} in file1, {count(summary.rows2)} in file2"),
        ("pairs", count(summary.pairs)),
        (
            "matched rows",
            f"{count(summary.matched_rows1)} of file1, {count(summary.matched_rows2)} of file2",
        ),
        (
            "unmatched",
            f"{count(summary.unmatched1)} of file1, {count(summary.unmatched2)} of file2",
        ),
        ("threshold", number(summary.threshold)),
        ("match mode", summary.match_mode or "-"),
        (
            "suggested",
            number(summary.suggested_threshold)
            if summary.suggested_threshold is not None
            else "none (no clear separation in the scores)",
        ),
    ]
    for name in sorted(summary.files):
        info = summary.files[name]
        fields.append((name, file_format(info.format, info.encoding, info.delimiter)))
    if summary.timings:
        phases = ", ".join(f"{phase} {seconds(value)}" for phase, value in summary.timings.items())
        fields.append(("timings", phases))
    chart = histogram(
        summary.score_histogram, summary.threshold, summary.suggested_threshold, blocks=blocks
    )
    sampled = f"{count(summary.sample_rows)} " if summary.sample_rows is not None else ""
    head = f"score histogram (best score of each of the {sampled}sampled file1 rows):"
    return f"{field_lines(fields)}\n\n{head}\n{chart}"


# --- uploads ---------------------------------------------------------------------------

MIN_CELL = 6  # sample cells are never cut shorter than this
MAX_CELL = 40  # nor left longer


def size(value: int) -> str:
    """`532 bytes`, `12,345 bytes (12.1 KiB)`, `3,145,728 bytes (3.0 MiB)`."""
    text = f"{value:,} bytes"
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value >= scale:
            return f"{text} ({value / scale:.1f} {unit})"
    return text


def cell(value: Any) -> str:
    """A sample value as one line of text: missing values empty, white space collapsed."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return " ".join(text.split())


def fit_widths(natural: Sequence[int], available: int) -> list[int]:
    """Column widths: `natural` (at most `MAX_CELL`), the widest cut down to fit `available`
    characters in all, never below `MIN_CELL`."""
    widths = [min(w, MAX_CELL) for w in natural]
    cap = max(widths, default=0)
    while cap > MIN_CELL and sum(min(w, cap) for w in widths) > available:
        cap -= 1
    return [min(w, cap) for w in widths]


def sample_table(columns: Sequence[str], rows: Sequence[Mapping[str, Any]], width: int) -> str:
    """The sample rows as a table of `columns` fitted to `width` characters (cells cut
    with '…'); `(no sample rows)` when there are none."""
    if not rows:
        return "(no sample rows)"
    names = list(columns) or list(rows[0])
    body = [[cell(row.get(name)) for name in names] for row in rows]
    natural = [max([len(name), *(len(r[i]) for r in body)]) for i, name in enumerate(names)]
    widths = fit_widths(natural, width - 2 * (len(names) - 1))
    headers = [truncate(name, w) for name, w in zip(names, widths, strict=True)]
    cut = [[truncate(c, w) for c, w in zip(r, widths, strict=True)] for r in body]
    return table(headers, cut, right_aligned=())


def file_details(info: FileInfo, width: int = 100) -> str:
    """The `matchq file` text: the upload's fields, its columns, its sample rows."""
    columns = ", ".join(info.columns) if info.columns else "-"
    fields = [
        ("file id", info.file_id),
        ("filename", info.filename or "-"),
        ("size", size(info.size_bytes)),
        ("format", info.format or "-"),
        ("encoding", info.encoding or "-"),
        ("delimiter", delimiter(info.delimiter)),
        (f"columns ({len(info.columns)})", columns),
    ]
    shown = len(info.sample_rows)
    head = f"sample rows ({shown}):" if shown else "sample rows:"
    table_text = sample_table(info.columns, info.sample_rows, width)
    return f"{field_lines(fields)}\n\n{head}\n{table_text}"
