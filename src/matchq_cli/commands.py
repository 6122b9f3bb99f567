"""The client commands of `matchq`: each one a few calls of the SDK (`MatchqClient`).

Failures are raised (`CliError`, the SDK's `MatchqError`, ...) and become one line on
stderr (`matchq_cli.app.command`). The routes and answers are described in docs/api.md.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from matchq_cli import render
from matchq_cli.app import Globals, command, open_client, pass_globals
from matchq_cli.configs import (
    MAP_SYNTAX,
    MATCH_MODES,
    SCORERS,
    apply_options,
    load_config,
    quick_config,
)
from matchq_cli.errors import CliError
from matchq_cli.progress import ProgressReporter
from matchq_client import Job, PayloadTooLarge, UploadError

if TYPE_CHECKING:
    from matchq_client import MatchqClient

STATUSES = ("pending", "running", "completed", "failed", "cancelled")
PATH = click.Path(path_type=Path)


def _job_id(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value.strip():
        raise click.BadParameter("must not be empty")
    return value


job_id_argument = click.argument("job_id", metavar="JOB_ID", callback=_job_id)


# ---------------------------------------------------------------- submit


@command(
    "submit",
    "upload two files and submit a matching job",
    f"""
  # with a config file (its file1/file2 are filled in with the uploads)
  matchq submit --file1 crm.csv --file2 billing.csv --config match.json

  # a quick job without a config file, waiting with a progress bar, then downloading
  matchq submit --file1 crm.csv --file2 billing.csv \\
      --map customer_name=full_name --map email=email_address:exact@2 \\
      --threshold 85 --mode one_to_one --wait --download results/

  # scripts: the job id as JSON
  JOB=$(matchq submit --file1 a.csv --file2 b.csv --config c.json --json | jq -r .job_id)

--map {MAP_SYNTAX}
  repeatable; match type fuzzy (default) or exact; SCORER for fuzzy mappings:
  {", ".join(SCORERS)}
  (default token_sort_ratio); WEIGHT > 0 (default 1). Examples:
  name=full_name, email=email_address:exact, name=full_name:fuzzy:token_set_ratio@2

exit status: 0 submitted (with --wait: completed), 1 on any error or when the
job ends failed or cancelled, 2 on a usage error, 130 when interrupted while waiting
(the job keeps running).
""",
)
@click.option("--file1", required=True, type=PATH, metavar="PATH", help="first file")
@click.option("--file2", required=True, type=PATH, metavar="PATH", help="second file")
@click.option(
    "--config",
    type=PATH,
    metavar="CONFIG.json",
    help="matching config (JSON object)",
)
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="COL1=COL2",
    help="compare FILE1_COL with FILE2_COL (repeatable; see below), instead of --config",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 100),
    metavar="N",
    help="minimum score 0-100 (server default 80)",
)
@click.option("--mode", type=click.Choice(MATCH_MODES), help="match mode (server default best)")
@click.option("--name", help="job name (default: 'FILE1 vs FILE2')")
@click.option(
    "--priority",
    type=click.IntRange(1, 4),
    default=2,
    show_default=True,
    metavar="1-4",
    help="1 low, 2 normal, 3 high, 4 urgent",
)
@click.option(
    "--idempotency-key",
    metavar="KEY",
    help="resubmitting with the same KEY within 24 h returns the first job (default: a fresh key)",
)
@click.option("--wait", is_flag=True, help="wait for the job, showing progress on stderr")
@click.option(
    "--download",
    type=PATH,
    metavar="DIR",
    help="download the results here (implies --wait)",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="give up waiting after this long",
)
@pass_globals
def submit(
    state: Globals,
    file1: Path,
    file2: Path,
    config: Path | None,
    maps: tuple[str, ...],
    threshold: float | None,
    mode: str | None,
    name: str | None,
    priority: int,
    idempotency_key: str | None,
    wait: bool,
    download: Path | None,
    timeout: float | None,
) -> int:
    if (config is None) == (not maps):
        raise click.UsageError("pass either --config CONFIG.json or --map COL1=COL2 (not both)")
    job_config = load_config(config) if config else quick_config(maps)
    job_config = apply_options(job_config, threshold, mode)
    for path in (file1, file2):
        if not path.is_file():
            raise CliError(f"no such file: {path}")
    wait = wait or download is not None
    with open_client(state) as api:
        job_config = {**job_config, "file1": upload(api, file1), "file2": upload(api, file2)}
        job_id = api.submit_job(
            name or f"{file1.name} vs {file2.name}", job_config, priority, idempotency_key
        )
        if not wait:
            print(render.to_json({"job_id": job_id}) if state.json else job_id)
            return 0
        if not state.json:
            print(job_id, flush=True)
        job = wait_for(api, job_id, timeout)
        if job is None:
            return 130
        downloaded: list[Path] = []
        if download is not None and job.succeeded:
            downloaded = api.download_results(job_id, download)
    if state.json:
        result: dict[str, Any] = {"job_id": job_id, "job": job.to_dict()}
        if download is not None:
            result["downloaded"] = [str(path) for path in downloaded]
        render.print_json(result)
    else:
        for path in downloaded:
            print(path)
    if not job.succeeded:
        reason = job.error_message or job.message or "no reason given"
        raise CliError(f"job {job_id} {job.status}: {reason}")
    return 0


def upload(api: MatchqClient, path: Path) -> str:
    try:
        return api.upload_file(path)
    except (UploadError, PayloadTooLarge) as exc:
        raise CliError(f"upload of {path} failed: {exc}") from exc


def wait_for(api: MatchqClient, job_id: str, timeout: float | None) -> Job | None:
    """Wait with progress on stderr; None when interrupted (the job keeps running)."""
    reporter = ProgressReporter(sys.stderr)
    try:
        job = api.wait(
            job_id, timeout=timeout, poll_interval=0.5, max_interval=2.0, on_progress=reporter
        )
    except KeyboardInterrupt:
        reporter.finish()
        print(
            f"matchq: interrupted; job {job_id} keeps running (matchq cancel {job_id} stops it)",
            file=sys.stderr,
        )
        return None
    except BaseException:
        reporter.finish()
        raise
    reporter.finish(job)
    return job


# ---------------------------------------------------------------- list, get


@command(
    "list",
    "list jobs, newest first",
    """
  matchq list                       # the newest jobs (one page)
  matchq list --status running
  matchq list --all --json          # every job as a JSON array, following pages
  matchq list --limit 10 --next-token TOKEN
""",
)
@click.option("--status", type=click.Choice(STATUSES), help="only jobs in this state")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="jobs per page")
@click.option("--all", "every", is_flag=True, help="follow every page")
@click.option("--next-token", metavar="TOKEN", help="continue after a previous page")
@pass_globals
def list_(
    state: Globals, status: str | None, limit: int | None, every: bool, next_token: str | None
) -> int:
    with open_client(state) as api:
        if every:
            jobs = list(api.iter_jobs(status=status, page_size=limit or 100))
            next_token = None
        else:
            page = api.list_jobs(status=status, limit=limit, next_token=next_token)
            jobs, next_token = list(page.jobs), page.next_token
    if state.json:
        render.print_json([job.to_dict() for job in jobs])
    else:
        print(render.jobs_table(jobs))
    if next_token:
        print(f"more jobs: --all, or --next-token {next_token}", file=sys.stderr)
    return 0


@command(
    "get",
    "show one job",
    """
  matchq get job_0f8c...            # readable
  matchq get job_0f8c... --json     # the API's job object
""",
)
@job_id_argument
@pass_globals
def get(state: Globals, job_id: str) -> int:
    with open_client(state) as api:
        job = api.get_job(job_id)
    if state.json:
        render.print_json(job.to_dict())
    else:
        print(render.job_details(job))
    return 0


# ---------------------------------------------------------------- cancel, delete


@command(
    "cancel",
    "cancel a pending or running job",
    """
  matchq cancel job_0f8c...         # a finished job gives a 409 Conflict error
""",
)
@job_id_argument
@pass_globals
def cancel(state: Globals, job_id: str) -> int:
    with open_client(state) as api:
        answer = api.cancel(job_id)
    print(render.to_json(answer) if state.json else f"cancelled {job_id}")
    return 0


@command(
    "delete",
    "delete a finished job and its files",
    """
  matchq delete job_0f8c...         # a pending or running job gives a 409 Conflict error
""",
)
@job_id_argument
@pass_globals
def delete(state: Globals, job_id: str) -> int:
    with open_client(state) as api:
        answer = api.delete(job_id)
    print(render.to_json(answer) if state.json else f"deleted {job_id}")
    return 0


# ---------------------------------------------------------------- stats, cleanup


@command(
    "stats",
    "job counts by status and worker usage",
    """
  matchq stats
  matchq stats --json | jq .running
""",
)
@pass_globals
def stats(state: Globals) -> int:
    with open_client(state) as api:
        counts = api.stats()
    print(render.to_json(counts) if state.json else render.stats_table(counts))
    return 0


@command(
    "cleanup",
    "remove finished jobs older than a given age, with their files",
    """
  matchq cleanup                    # finished more than 24 hours ago
  matchq cleanup --max-age-hours 1
""",
)
@click.option("--max-age-hours", type=int, default=24, metavar="H", help="1..168 (default 24)")
@pass_globals
def cleanup(state: Globals, max_age_hours: int) -> int:
    with open_client(state) as api:
        result = api.cleanup(max_age_hours)
    if state.json:
        render.print_json(result)
    else:
        print(
            result.get("message")
            or f"cleaned {result.get('cleaned_jobs', 0)} jobs, "
            f"freed {result.get('freed_space_mb', 0)} MB"
        )
    return 0


# ---------------------------------------------------------------- download


@command(
    "download",
    "download every result file of a completed job",
    """
  matchq download job_0f8c... results/
  # -> results/matched_results.json, results/unmatched_1.json, results/unmatched_2.json
""",
)
@job_id_argument
@click.argument("directory", metavar="DIR", type=PATH)
@pass_globals
def download(state: Globals, job_id: str, directory: Path) -> int:
    with open_client(state) as api:
        paths = api.download_results(job_id, directory)
    if state.json:
        files = [
            {"name": path.name, "path": str(path), "size_bytes": path.stat().st_size}
            for path in paths
        ]
        render.print_json({"job_id": job_id, "files": files})
    else:
        for path in paths:
            print(path)
    return 0


COMMANDS = [submit, list_, get, cancel, delete, stats, cleanup, download]
