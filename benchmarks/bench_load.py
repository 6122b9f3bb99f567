"""Load on the local stack: N concurrent submissions, all accepted and completed; stats, paging.

Starts `matchq serve` on free ports with --workers slots (unless --url is given), uploads two
5-row CSVs once as a fresh user, submits --jobs jobs on them at once (one `AsyncMatchqClient`,
`asyncio.gather`, priorities 1-4 in turn, one fuzzy mapping), polls until every job is
finished (at most --deadline seconds), then checks that the stats equal what happened and
that paging the list with `next_token` returns every job exactly once, newest first.
Prints a table (medians over --repeats runs, each as a fresh user) and PASS/FAIL lines;
exits non-zero when a check fails.

Usage: python benchmarks/bench_load.py [--jobs 200] [--workers 4] [--repeats 1] [--url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "shared"), str(ROOT / "src")]

from matchq.auth import issue_token  # noqa: E402
from matchq_client import AsyncMatchqClient, Job, MatchqError  # noqa: E402
from matchq_local.launch import StackFailed, background_stack  # noqa: E402

PRIORITIES = (1, 2, 3, 4)
PAGE_LIMIT = 7
POLL_SECONDS = 0.25
FETCH_CONCURRENCY = 16
LOAD_CONFIG: dict[str, Any] = {
    "mappings": [
        {
            "file1_col": "name",
            "file2_col": "full_name",
            "match_type": "fuzzy",
            "scorer": "token_sort_ratio",
            "use_normalization": True,
        }
    ],
    "threshold": 80,
}
STATUSES = ("pending", "running", "completed", "failed", "cancelled")


# --------------------------------------------------------------------------- the scenario


def tiny_inputs(directory: Path, rows: int = 5) -> tuple[Path, Path]:
    """Two CSVs of `rows` rows whose names pair up one to one (the right side upper-cased)."""
    names = ["Anna Schmidt", "José García", "Peter Novák", "Zoë Müller", "Liam Walsh", "Mia Chen"]
    directory.mkdir(parents=True, exist_ok=True)
    left, right = directory / "load_left.csv", directory / "load_right.csv"
    for path, header, upper in (
        (left, ["name", "city"], False),
        (right, ["full_name", "town"], True),
    ):
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for i in range(rows):
                name = names[i % len(names)]
                writer.writerow([name.upper() if upper else name, f"city{i}"])
    return left, right


@dataclass
class Submission:
    """One `POST /jobs/submit` of the burst: its id or error, and when it ran (perf_counter)."""

    index: int
    priority: int
    started: float
    ended: float = 0.0
    job_id: str | None = None
    error: str | None = None

    @property
    def latency_ms(self) -> float:
        return (self.ended - self.started) * 1000


@dataclass
class LoadRun:
    """What one run of the scenario saw."""

    jobs: int
    submissions: list[Submission]
    first_submit: float
    all_accepted: float
    all_finished: float | None  # when polling saw the last job finished; None: deadline passed
    deadline: float
    final: dict[str, Job]  # every accepted job as GET /jobs/{id} returned it at the end
    fetch_errors: dict[str, str]
    stats: dict[str, Any]
    pages: list[list[Job]] = field(default_factory=list)
    page_tokens: list[str | None] = field(default_factory=list)
    page_error: str | None = None
    page_limit: int = PAGE_LIMIT

    @property
    def ids(self) -> list[str]:
        return [s.job_id for s in self.submissions if s.job_id is not None]

    @property
    def errors(self) -> list[Submission]:
        return [s for s in self.submissions if s.error is not None]

    @property
    def latencies_ms(self) -> list[float]:
        return [s.latency_ms for s in self.submissions]

    @property
    def accept_seconds(self) -> float:
        return self.all_accepted - self.first_submit

    @property
    def completion_seconds(self) -> float | None:
        return None if self.all_finished is None else self.all_finished - self.first_submit

    @property
    def listed(self) -> list[Job]:
        return [job for page in self.pages for job in page]


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


async def submit_burst(
    client: AsyncMatchqClient, config: dict[str, Any], jobs: int
) -> list[Submission]:
    """`jobs` submissions at once; none raises, each records its id or its error."""

    async def one(index: int) -> Submission:
        priority = PRIORITIES[index % len(PRIORITIES)]
        submission = Submission(index, priority, time.perf_counter())
        try:
            submission.job_id = await client.submit_job(f"load-{index:04d}", config, priority)
        except (MatchqError, httpx.HTTPError) as exc:
            submission.error = _error_text(exc)
        submission.ended = time.perf_counter()
        return submission

    return list(await asyncio.gather(*(one(i) for i in range(jobs))))


async def fetch_jobs(
    client: AsyncMatchqClient, ids: list[str]
) -> tuple[dict[str, Job], dict[str, str]]:
    """GET every job (a few at a time): the jobs, and the errors of those that failed."""
    gate = asyncio.Semaphore(FETCH_CONCURRENCY)
    jobs: dict[str, Job] = {}
    errors: dict[str, str] = {}

    async def one(job_id: str) -> None:
        async with gate:
            try:
                jobs[job_id] = await client.get_job(job_id)
            except (MatchqError, httpx.HTTPError) as exc:
                errors[job_id] = _error_text(exc)

    await asyncio.gather(*(one(job_id) for job_id in ids))
    return jobs, errors


async def wait_finished(
    client: AsyncMatchqClient, ids: list[str], deadline: float
) -> tuple[float | None, dict[str, Job], dict[str, str]]:
    """Poll until every job is finished or `deadline` (perf_counter) passes.

    Cheap polling first (GET /jobs/stats, one request), then GET of each job to confirm;
    jobs not finished yet are polled one by one. Returns when the last one was seen
    finished (None after the deadline) and each job as last seen.
    """
    expected = len(ids)
    while time.perf_counter() < deadline:
        try:
            stats = await client.stats()
        except (MatchqError, httpx.HTTPError):
            stats = {}
        if (
            stats
            and stats.get("pending", 1) + stats.get("running", 1) == 0
            and stats.get("total_jobs", 0) >= expected
        ):
            break
        await asyncio.sleep(POLL_SECONDS)
    seen_all = time.perf_counter()
    jobs, errors = await fetch_jobs(client, ids)
    open_ids = [i for i in ids if i in errors or not jobs[i].finished]
    while open_ids and time.perf_counter() < deadline:
        await asyncio.sleep(POLL_SECONDS)
        fresh, errors_now = await fetch_jobs(client, open_ids)
        jobs.update(fresh)
        for job_id in fresh:
            errors.pop(job_id, None)
        errors.update(errors_now)
        open_ids = [i for i in open_ids if i in errors or not jobs[i].finished]
        seen_all = time.perf_counter()
    return (None if open_ids else seen_all), jobs, errors


async def page_all(run: LoadRun, client: AsyncMatchqClient, max_pages: int) -> None:
    """Follow X-Next-Token with `limit=run.page_limit` to the end (at most `max_pages`)."""
    token: str | None = None
    seen_tokens: set[str] = set()
    for _ in range(max_pages):
        try:
            page = await client.list_jobs(limit=run.page_limit, next_token=token)
        except (MatchqError, httpx.HTTPError) as exc:
            run.page_error = f"page {len(run.pages) + 1}: {_error_text(exc)}"
            return
        run.pages.append(list(page.jobs))
        run.page_tokens.append(page.next_token)
        if page.next_token is None:
            return
        if page.next_token in seen_tokens:
            run.page_error = f"page {len(run.pages)}: the server repeated a next_token"
            return
        seen_tokens.add(page.next_token)
        token = page.next_token
    run.page_error = f"still a next_token after {max_pages} pages"


async def run_load(
    base_url: str,
    token: str,
    *,
    jobs: int,
    workdir: Path,
    deadline_seconds: float = 120.0,
    page_limit: int = PAGE_LIMIT,
) -> LoadRun:
    """The scenario for the user of `token` (who should have no jobs yet)."""
    # Every submission gets its own connection at once: the burst is really concurrent.
    transport = httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=jobs + 8, max_keepalive_connections=jobs + 8)
    )
    async with AsyncMatchqClient(base_url, token, timeout=60.0, transport=transport) as client:
        left, right = tiny_inputs(workdir)
        file1, file2 = await asyncio.gather(client.upload_file(left), client.upload_file(right))
        config = {**LOAD_CONFIG, "file1": file1, "file2": file2}
        first = time.perf_counter()
        submissions = await submit_burst(client, config, jobs)
        accepted = max(s.ended for s in submissions)
        deadline = first + deadline_seconds
        ids = [s.job_id for s in submissions if s.job_id is not None]
        finished, final, fetch_errors = await wait_finished(client, ids, deadline)
        stats = await client.stats()
        run = LoadRun(
            jobs=jobs,
            submissions=submissions,
            first_submit=first,
            all_accepted=accepted,
            all_finished=finished,
            deadline=deadline_seconds,
            final=final,
            fetch_errors=fetch_errors,
            stats=stats,
            page_limit=page_limit,
        )
        await page_all(run, client, max_pages=jobs // page_limit + 10)
    return run


# --------------------------------------------------------------------------- the checks


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


def _few(items: list[str], limit: int = 10) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def check_accepted(run: LoadRun) -> Check:
    ids = run.ids
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    problems = [f"#{s.index} (priority {s.priority}): {s.error}" for s in run.errors]
    if duplicates:
        problems.append(f"duplicate job ids: {_few(duplicates)}")
    name = f"all {run.jobs} submissions accepted ({len(set(ids))} distinct job ids)"
    ok = not problems and len(ids) == run.jobs and len(set(ids)) == run.jobs
    return Check(name, ok, "\n".join(problems[:10]))


def stragglers(run: LoadRun) -> list[str]:
    """Each accepted job that did not complete: id, priority, status, progress and message."""
    lines = []
    for job_id in run.ids:
        if job_id in run.fetch_errors:
            lines.append(f"{job_id}: GET failed: {run.fetch_errors[job_id]}")
            continue
        job = run.final[job_id]
        if job.status != "completed":
            lines.append(
                f"{job_id} (priority {job.priority}): {job.status}, {job.progress}%, "
                f"{job.message!r}" + (f", error {job.error_message!r}" if job.error_message else "")
            )
    return lines


def check_completed(run: LoadRun) -> Check:
    late = stragglers(run)
    where = (
        f"within {run.deadline:g} s"
        if run.all_finished is not None
        else f"after the {run.deadline:g} s deadline"
    )
    counts = Counter(run.final[i].status for i in run.ids if i in run.final)
    detail = ""
    if late:
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        detail = "\n".join([f"{len(late)} not completed {where} ({summary}):", *late[:20]])
        if len(late) > 20:
            detail += f"\n... ({len(late) - 20} more)"
    return Check(f"all {len(run.ids)} accepted jobs completed {where}", not late, detail)


def expected_stats(jobs: int) -> dict[str, int]:
    return {"total_jobs": jobs, "completed": jobs, "pending": 0, "running": 0, "failed": 0,
            "cancelled": 0}  # fmt: skip


def check_stats(run: LoadRun) -> Check:
    want = expected_stats(run.jobs)
    wrong = [
        f"{k}={run.stats.get(k)!r} (want {v})" for k, v in want.items() if run.stats.get(k) != v
    ]
    shown = " ".join(f"{k}={run.stats.get(k)}" for k in want)
    return Check(f"stats equal what happened ({shown})", not wrong, "; ".join(wrong))


def check_paging(run: LoadRun) -> Check:
    listed = [job.id for job in run.listed]
    counts = Counter(listed)
    duplicates = sorted(i for i, n in counts.items() if n > 1)
    submitted = set(run.ids)
    missing = sorted(submitted - counts.keys())
    extra = sorted(counts.keys() - submitted)
    oversized = [i + 1 for i, page in enumerate(run.pages) if len(page) > run.page_limit]
    empty = [i + 1 for i, page in enumerate(run.pages) if not page]
    problems = []
    if run.page_error:
        problems.append(run.page_error)
    if duplicates:
        problems.append(f"{len(duplicates)} listed more than once: {_few(duplicates)}")
    if missing:
        problems.append(f"{len(missing)} never listed: {_few(missing)}")
    if extra:
        problems.append(f"{len(extra)} listed but not submitted: {_few(extra)}")
    if oversized:
        problems.append(f"pages over the limit: {oversized}")
    if empty:
        problems.append(f"empty pages: {empty}")
    name = (
        f"paging (limit {run.page_limit}, X-Next-Token) lists every job exactly once"
        f" ({len(listed)} jobs on {len(run.pages)} pages)"
    )
    return Check(name, not problems, "\n".join(problems))


def check_newest_first(run: LoadRun) -> Check:
    """created_at (whole seconds in the API) never increases along the listing."""
    listed = run.listed
    bad = [
        f"{a.id} ({a.raw.get('created_at')}) before {b.id} ({b.raw.get('created_at')})"
        for a, b in itertools.pairwise(listed)
        if a.created_at is None or b.created_at is None or a.created_at < b.created_at
    ]
    return Check("the list is newest first (created_at never increases)", not bad, _few(bad, 5))


def checks(run: LoadRun) -> list[Check]:
    return [
        check_accepted(run),
        check_completed(run),
        check_stats(run),
        check_paging(run),
        check_newest_first(run),
    ]


# --------------------------------------------------------------------------- the table


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def report(runs: list[LoadRun], workers: object) -> bool:
    """Print the table and the checks of every run; True when every check passed.

    With several runs the table has a column per run (run 1 pays the cold starts of the
    function environments, as a first burst on Lambda would) and their median.
    """
    n = runs[0].jobs

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    def row(name: str, values: list[float | None]) -> str:
        cells = [cell(v) for v in values] if len(values) > 1 else []
        known = [v for v in values if v is not None]
        middle = statistics.median(known) if len(known) == len(values) else None
        return f"{name:<38}" + "".join(f"{c:>10}" for c in [*cells, cell(middle)])

    completion = [r.completion_seconds for r in runs]
    rows: list[tuple[str, list[float | None]]] = [
        ("submit throughput (jobs/s)", [n / r.accept_seconds for r in runs]),
        ("submit latency p50 (ms)", [percentile(r.latencies_ms, 50) for r in runs]),
        ("submit latency p99 (ms)", [percentile(r.latencies_ms, 99) for r in runs]),
        ("time until all accepted (s)", [r.accept_seconds for r in runs]),
        ("first submit -> last completed (s)", completion),
        ("completed jobs/s (end to end)", [None if c is None else n / c for c in completion]),
    ]
    print(
        f"\nLoad, local stack: {n} concurrent submissions, {workers} worker slot(s),"
        f" 5-row CSVs, 1 fuzzy mapping (completion seen by polling every {POLL_SECONDS:g} s)"
    )
    heads = [f"run {i}" for i in range(1, len(runs) + 1)] if len(runs) > 1 else []
    heads.append("median" if len(runs) > 1 else "value")
    print(f"{'metric':<38}" + "".join(f"{h:>10}" for h in heads))
    for name, values in rows:
        print(row(name, values))
    passed = True
    for i, run in enumerate(runs, 1):
        prefix = f"run {i}: " if len(runs) > 1 else ""
        for check in checks(run):
            passed &= check.ok
            line = f"{'PASS' if check.ok else 'FAIL'} {prefix}{check.name}"
            print("\n     ".join([line, *check.detail.splitlines()]))
    return passed


# --------------------------------------------------------------------------- the stack


@contextmanager
def started_stack(workers: int) -> Iterator[tuple[str, str]]:
    """(base URL, JWT secret) of a fresh local stack with `workers` slots."""
    try:
        with background_stack(workers=workers) as stack:
            yield stack.base_url, stack.secret
    except StackFailed as exc:
        raise SystemExit(str(exc)) from None


def run_all(
    base_url: str, token_for: Callable[[str], str], args: argparse.Namespace
) -> list[LoadRun]:
    runs = []
    for _ in range(args.repeats):
        user = f"load-{uuid.uuid4().hex[:8]}"
        with tempfile.TemporaryDirectory(prefix="matchq-bench-load-") as work:
            runs.append(
                asyncio.run(
                    run_load(
                        base_url,
                        token_for(user),
                        jobs=args.jobs,
                        workdir=Path(work),
                        deadline_seconds=args.deadline,
                    )
                )
            )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="concurrent submissions")
    parser.add_argument("--workers", type=int, default=4, help="worker slots of the stack")
    parser.add_argument("--repeats", type=int, default=1, help="runs (fresh user each)")
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds for completion")
    parser.add_argument(
        "--url", help="use a running stack (admin secret from MATCHQ_JWT_SECRET or the local one)"
    )
    args = parser.parse_args()
    if args.jobs < 1 or args.workers < 1 or args.repeats < 1:
        parser.error("--jobs, --workers and --repeats must be at least 1")
    if args.url:
        from matchq_local.secret import local_jwt_secret

        secret = os.environ.get("MATCHQ_JWT_SECRET") or local_jwt_secret()
        runs = run_all(args.url.rstrip("/"), lambda user: issue_token(secret, user), args)
    else:
        with started_stack(args.workers) as (url, secret):
            runs = run_all(url, lambda user: issue_token(secret, user), args)
    if not report(runs, runs[0].stats.get("total_workers", "?")):
        sys.exit(1)


if __name__ == "__main__":
    main()
