"""The client commands of `matchq`: each one a few calls of the SDK (`MatchqClient`).

Failures are raised (`CliError`, the SDK's `MatchqError`, ...) and become one line on
stderr (`matchq_cli.app.command`). The routes and answers are described in docs/api.md.
"""

from __future__ import annotations

import shutil
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
from matchq_client import OUTPUT_FORMATS, Job, PayloadTooLarge, UploadError

if TYPE_CHECKING:
    from matchq_client import MatchqClient, OutputFormat

STATUSES = ("pending", "running", "completed", "failed", "cancelled")
PATH = click.Path(path_type=Path)


def _an_id(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value.strip():
        raise click.BadParameter("must not be empty")
    if value.strip() in {".", ".."}:
        raise click.BadParameter(f"{value!r} is no id")
    return value


def _columns(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    """`A,B` as `["A", "B"]` (white space around each name dropped)."""
    if value is None:
        return None
    names = [name.strip() for name in value.split(",")]
    if not all(names):
        raise click.BadParameter(f"empty column name in {value!r} (expected NAME,NAME,...)")
    return names


job_id_argument = click.argument("job_id", metavar="JOB_ID", callback=_an_id)


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

  # results as CSV with chosen columns, without the unmatched files
  matchq submit --file1 crm.csv --file2 billing.csv --map customer_name=full_name \\
      --format csv --output-cols1 customer_name,email --output-cols2 full_name,city \\
      --no-unmatched --wait --download results/

  # scripts: the job id (and the uploads' file ids) as JSON; a retried submit with
  # the same key gives the same job
  JOB=$(matchq submit --file1 a.csv --file2 b.csv --config c.json --json \\
      --idempotency-key nightly-2026-01-31 | jq -r .job_id)

--map {MAP_SYNTAX}
  repeatable; match type fuzzy (default) or exact; SCORER for fuzzy mappings:
  {", ".join(SCORERS)}
  (default token_sort_ratio); WEIGHT > 0 (default 1). Examples:
  name=full_name, email=email_address:exact, name=full_name:fuzzy:token_set_ratio@2

--format, --output-cols1, --output-cols2 and --no-unmatched override the config
file's output_format, output_cols1, output_cols2 and generate_unmatched. --wait
shows progress on stderr (a bar on a terminal, plain lines otherwise) and ends
with the job's summary there (pairs, unmatched rows, suggested threshold); stdout
keeps the job id and the downloaded paths.

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
@click.option(
    "--format",
    "output_format",
    type=click.Choice(OUTPUT_FORMATS),
    help="result files' format (server default json); summary.json is always JSON",
)
@click.option(
    "--output-cols1",
    metavar="A,B",
    callback=_columns,
    help="file1 columns copied into the results, comma-separated (default: all)",
)
@click.option(
    "--output-cols2",
    metavar="C,D",
    callback=_columns,
    help="file2 columns copied into the results, comma-separated (default: all)",
)
@click.option(
    "--no-unmatched",
    is_flag=True,
    help="write no unmatched_1 / unmatched_2 files (generate_unmatched false)",
)
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
    output_format: OutputFormat | None,
    output_cols1: list[str] | None,
    output_cols2: list[str] | None,
    no_unmatched: bool,
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
            name or f"{file1.name} vs {file2.name}",
            job_config,
            priority,
            idempotency_key,
            output_format=output_format,
            output_cols1=output_cols1,
            output_cols2=output_cols2,
            generate_unmatched=False if no_unmatched else None,
        )
        submitted = {"job_id": job_id, "file1": job_config["file1"], "file2": job_config["file2"]}
        if not wait:
            print(render.to_json(submitted) if state.json else job_id)
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
        result: dict[str, Any] = {**submitted, "job": job.to_dict()}
        if download is not None:
            result["downloaded"] = [str(path) for path in downloaded]
        render.print_json(result)
    else:
        for path in downloaded:
            print(path)
        if job.succeeded and job.summary is not None:
            print(f"summary: {render.summary_counts(job.summary)}", file=sys.stderr)
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
  # -> results/matched_results.json, results/unmatched_1.json, results/unmatched_2.json,
  #    results/summary.json (.csv or .xlsx for jobs submitted with --format csv|xlsx)
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


# ---------------------------------------------------------------- summary, file


@command(
    "summary",
    "show a completed job's summary: counts and score histogram",
    """
  matchq summary job_0f8c...        # counts, files, timings, the score histogram
  matchq summary job_0f8c... --json # summary.json as the job stored it

The histogram counts, for a sample of file1 rows, each row's best score, in 20 bins
of 5 points; '<- threshold' marks the bin of the job's threshold, '<- suggested' the
bin of the threshold the server suggests. A job that is not completed gives a 409
Conflict error.
""",
)
@job_id_argument
@pass_globals
def summary_(state: Globals, job_id: str) -> int:
    with open_client(state) as api:
        summary = api.summary(job_id)
    if state.json:
        render.print_json(summary.to_dict())
    else:
        print(render.summary_text(summary, blocks=render.can_draw_blocks(sys.stdout)))
    return 0


@command(
    "file",
    "describe an upload: format, encoding, columns and sample rows",
    """
  matchq file file_3c9d...          # name, size, format, encoding, delimiter, columns, rows
  matchq file file_3c9d... --json   # the API's answer
  matchq file "$(matchq submit --file1 a.csv --file2 b.csv --map a=b --json | jq -r .file1)"

FILE_ID is a file id of an upload: `matchq submit --json` prints both (file1, file2).

Sample cells are cut to fit the terminal ($COLUMNS). Another user's file gives 403
Forbidden; an unknown file, or one not uploaded yet, 404 Not Found.
""",
)
@click.argument("file_id", metavar="FILE_ID", callback=_an_id)
@pass_globals
def file_(state: Globals, file_id: str) -> int:
    with open_client(state) as api:
        info = api.get_file(file_id)
    if state.json:
        render.print_json(info.to_dict())
    else:
        width = shutil.get_terminal_size((100, 24)).columns
        print(render.file_details(info, width=max(40, width - 1)))
    return 0


COMMANDS = [submit, list_, get, summary_, file_, cancel, delete, stats, cleanup, download]
