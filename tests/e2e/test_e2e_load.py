"""Load (issue 6): 200 concurrent submissions on a stack of its own, bounded in time.

All are accepted (200 distinct ids, no errors) and all complete before a deadline; then
the stats equal what happened and paging the list with `next_token` returns every job
exactly once, newest first. The scenario is the one of `benchmarks/bench_load.py`: two
5-row CSVs uploaded once by a fresh user, 200 jobs with one fuzzy mapping and priorities
1-4, submitted at once through `AsyncMatchqClient` with `asyncio.gather`.

The stack is this module's own (`matchq serve` with 4 worker slots; the session stack has
one), so other tests' jobs neither queue in front of these nor count in their stats.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest

from benchmarks.bench_load import (
    PRIORITIES,
    Check,
    LoadRun,
    check_accepted,
    check_completed,
    check_newest_first,
    check_paging,
    check_stats,
    run_load,
)
from tests.e2e.e2e_support import Stack, own_stack

pytestmark = pytest.mark.e2e

JOBS = int(os.environ.get("MATCHQ_LOAD_JOBS", "200"))  # smaller while developing
WORKERS = 4
DEADLINE_SECONDS = 120.0
PAGE_LIMIT = 7


@pytest.fixture(scope="module")
def load_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    try:
        from matchq.matching import run_match  # noqa: F401
    except ImportError:
        pytest.skip("the matching engine (matchq.matching.run_match) is not there yet")
    with own_stack(tmp_path_factory.mktemp("load-stack") / "serve.log", workers=WORKERS) as stack:
        yield stack


@pytest.fixture(scope="module")
def load_user() -> str:
    return f"load-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def load_run(
    load_stack: Stack, load_user: str, tmp_path_factory: pytest.TempPathFactory
) -> LoadRun:
    """The burst, run once for the tests of this module."""
    return asyncio.run(
        run_load(
            load_stack.base_url,
            load_stack.token(load_user),
            jobs=JOBS,
            workdir=tmp_path_factory.mktemp("load-inputs"),
            deadline_seconds=DEADLINE_SECONDS,
            page_limit=PAGE_LIMIT,
        )
    )


def _passes(check: Check, stack: Stack) -> None:
    if not check.ok:
        tail = stack.log.read_text(errors="replace")[-2000:]
        pytest.fail(f"{check.name}: {check.detail}\n--- stack log (tail) ---\n{tail}")


def test_every_submission_is_accepted(load_run: LoadRun, load_stack: Stack) -> None:
    _passes(check_accepted(load_run), load_stack)
    assert all(job_id.startswith("job_") for job_id in load_run.ids)


def test_every_job_completes_before_the_deadline(load_run: LoadRun, load_stack: Stack) -> None:
    _passes(check_completed(load_run), load_stack)
    assert load_run.completion_seconds is not None
    assert load_run.completion_seconds < DEADLINE_SECONDS


def test_jobs_keep_their_mixed_priorities(load_run: LoadRun) -> None:
    submitted = {s.job_id: s.priority for s in load_run.submissions if s.job_id}
    assert set(submitted.values()) == set(PRIORITIES)
    shown = {job_id: load_run.final[job_id].priority for job_id in submitted}
    assert shown == submitted


def test_stats_equal_what_happened(load_run: LoadRun, load_stack: Stack) -> None:
    _passes(check_stats(load_run), load_stack)
    assert load_run.stats["total_workers"] == WORKERS
    assert load_run.stats["active_workers"] == 0


def test_paging_returns_every_job_exactly_once(load_run: LoadRun, load_stack: Stack) -> None:
    _passes(check_paging(load_run), load_stack)
    assert set(load_run.ids) == {job.id for job in load_run.listed}
    full_pages, rest = divmod(JOBS, PAGE_LIMIT)
    sizes = [len(page) for page in load_run.pages]
    assert sizes == [PAGE_LIMIT] * full_pages + ([rest] if rest else []), sizes
    assert load_run.page_tokens[-1] is None
    assert all(load_run.page_tokens[:-1]), "every page but the last carries X-Next-Token"


def test_list_is_newest_first_to_the_microsecond(
    load_run: LoadRun, load_stack: Stack, load_user: str
) -> None:
    """The API shows whole seconds; the table keeps microseconds, so check the order there."""
    _passes(check_newest_first(load_run), load_stack)
    table = load_stack.table()
    created: dict[str, str] = {}
    scan: dict[str, object] = {}
    while True:
        page = table.scan(**scan)
        for item in page.get("Items", []):
            if item.get("user_id") == load_user:
                created[str(item["job_id"])] = str(item["created_key"])
        if "LastEvaluatedKey" not in page:
            break
        scan = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    assert set(created) == set(load_run.ids)
    expected = sorted(created, key=created.__getitem__, reverse=True)
    assert [job.id for job in load_run.listed] == expected


def test_runs_in_bounded_time(load_run: LoadRun) -> None:
    """The burst is accepted well before the deadline (the whole module stays under ~90 s)."""
    assert load_run.accept_seconds < DEADLINE_SECONDS / 2, load_run.accept_seconds
