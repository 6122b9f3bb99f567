"""Text forms of what the API returns: aligned tables, a job's details, durations."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any, TextIO

from matchq_client import Job

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


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Aligned columns two spaces apart; numeric-looking columns are right-aligned."""
    body = [list(row) for row in rows]
    widths = [len(h) for h in headers]
    for row in body:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(widths[i]) if headers[i] in RIGHT_ALIGNED else cell.ljust(widths[i])
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
    if job.user_id:
        fields.append(("user", job.user_id))
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
