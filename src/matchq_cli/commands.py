"""The client subcommands of `matchq`, on the SDK (`matchq_client.MatchqClient`).

Each `add_<name>(subparsers, common)` registers one parser and sets `func`; `func(args)`
returns the exit status. Failures are raised (`CliError`, the SDK's `MatchqError`, ...)
and turned into one line on stderr by `matchq_cli.main.main`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from matchq_cli import render
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
from matchq_client import Job, MatchqClient, NotFound, PayloadTooLarge, UploadError

STATUSES = ("pending", "running", "completed", "failed", "cancelled")
#: Names under /jobs/ that are routes, never job ids.
RESERVED_JOB_IDS = frozenset({"list", "stats", "submit", "cleanup"})


def add_parser(
    subparsers: Any, common: argparse.ArgumentParser, name: str, help_text: str, epilog: str
) -> argparse.ArgumentParser:
    """A client subcommand's parser: the shared options and an `Examples:` epilog."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        parents=[common],
        help=help_text,
        description=help_text[0].upper() + help_text[1:] + ".",
        epilog="examples:\n" + epilog.strip("\n"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(client_command=True)
    return parser


def client(args: argparse.Namespace) -> MatchqClient:
    """The SDK client of `--url` and `--token` (or MATCHQ_URL, MATCHQ_TOKEN)."""
    if not args.token:
        raise CliError(
            "no token: pass --token or set MATCHQ_TOKEN "
            "(for the local stack, `matchq token --user NAME` prints one)"
        )
    return MatchqClient(args.url, args.token)


def job_route(job_id: str, suffix: str = "") -> str:
    """`jobs/<id>[/suffix]` with the id quoted (no id can reach another route)."""
    if not job_id.strip():
        raise CliError("JOB_ID must not be empty")
    if job_id in RESERVED_JOB_IDS:
        raise NotFound(404, "Not Found", f"Job not found: {job_id}")
    path = f"jobs/{quote(job_id, safe='')}"
    return f"{path}/{suffix}" if suffix else path


def json_body(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"success": True}


# ---------------------------------------------------------------- submit

SUBMIT_EPILOG = f"""
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
job ends failed or cancelled, 130 when interrupted while waiting (the job keeps running).
"""


def add_submit(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = add_parser(
        subparsers, common, "submit", "upload two files and submit a matching job", SUBMIT_EPILOG
    )
    parser.add_argument("--file1", required=True, type=Path, metavar="PATH", help="first file")
    parser.add_argument("--file2", required=True, type=Path, metavar="PATH", help="second file")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--config", type=Path, metavar="CONFIG.json", help="matching config (JSON object)"
    )
    source.add_argument(
        "--map",
        action="append",
        metavar="COL1=COL2",
        help="compare FILE1_COL with FILE2_COL (repeatable; see below), instead of --config",
    )
    parser.add_argument(
        "--threshold", type=float, metavar="N", help="minimum score 0-100 (server default 80)"
    )
    parser.add_argument("--mode", choices=MATCH_MODES, help="match mode (server default best)")
    parser.add_argument("--name", help="job name (default: 'FILE1 vs FILE2')")
    parser.add_argument(
        "--priority",
        type=int,
        default=2,
        choices=range(1, 5),
        metavar="1-4",
        help="1 low, 2 normal (default), 3 high, 4 urgent",
    )
    parser.add_argument(
        "--wait", action="store_true", help="wait for the job, showing progress on stderr"
    )
    parser.add_argument(
        "--download", type=Path, metavar="DIR", help="download the results here (implies --wait)"
    )
    parser.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="give up waiting after this long"
    )
    parser.set_defaults(func=cmd_submit)


def submit_config(args: argparse.Namespace) -> dict[str, Any]:
    """The job config of `submit`, without its file ids."""
    config = load_config(args.config) if args.config else quick_config(args.map)
    return apply_options(config, args.threshold, args.mode)


def upload(api: MatchqClient, path: Path) -> str:
    try:
        return api.upload_file(path)
    except (UploadError, PayloadTooLarge) as exc:
        raise CliError(f"upload of {path} failed: {exc}") from exc


def cmd_submit(args: argparse.Namespace) -> int:
    config = submit_config(args)
    for path in (args.file1, args.file2):
        if not path.is_file():
            raise CliError(f"no such file: {path}")
    if args.timeout is not None and args.timeout <= 0:
        raise CliError("--timeout must be positive")
    wait = args.wait or args.download is not None
    with client(args) as api:
        config = {**config, "file1": upload(api, args.file1), "file2": upload(api, args.file2)}
        name = args.name or f"{args.file1.name} vs {args.file2.name}"
        job_id = api.submit_job(name, config, priority=args.priority)
        if args.json and not wait:
            render.print_json({"job_id": job_id})
            return 0
        if not args.json:
            print(job_id, flush=True)
        if not wait:
            return 0
        job = wait_for(api, job_id, args.timeout)
        if job is None:
            return 130
        downloaded: list[Path] = []
        if job.succeeded and args.download is not None:
            downloaded = api.download_results(job_id, args.download)
    if args.json:
        result: dict[str, Any] = {"job_id": job_id, "job": job.to_dict()}
        if args.download is not None:
            result["downloaded"] = [str(path) for path in downloaded]
        render.print_json(result)
    else:
        for path in downloaded:
            print(path)
    if not job.succeeded:
        reason = job.error_message or job.message or "no reason given"
        raise CliError(f"job {job_id} {job.status}: {reason}")
    return 0


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


# ---------------------------------------------------------------- list

LIST_EPILOG = """
  matchq list                       # the newest jobs (one page)
  matchq list --status running
  matchq list --all --json          # every job as a JSON array, following pages
  matchq list --limit 10 --next-token TOKEN
"""


def add_list(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = add_parser(subparsers, common, "list", "list jobs, newest first", LIST_EPILOG)
    parser.add_argument("--status", choices=STATUSES, help="only jobs in this state")
    parser.add_argument("--limit", type=int, metavar="N", help="jobs per page")
    parser.add_argument("--all", action="store_true", help="follow every page")
    parser.add_argument("--next-token", metavar="TOKEN", help="continue after a previous page")
    parser.set_defaults(func=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        raise CliError("--limit must be at least 1")
    next_token: str | None = None
    with client(args) as api:
        if args.all:
            jobs = list(api.iter_jobs(status=args.status, page_size=args.limit or 100))
        else:
            page = api.list_jobs(status=args.status, limit=args.limit, next_token=args.next_token)
            jobs, next_token = list(page.jobs), page.next_token
    if args.json:
        render.print_json([job.to_dict() for job in jobs])
    else:
        print(render.jobs_table(jobs))
    if next_token:
        print(f"more jobs: --all, or --next-token {next_token}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- get, cancel, delete


def add_get(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = add_parser(
        subparsers,
        common,
        "get",
        "show one job",
        """
  matchq get job_0f8c...            # readable
  matchq get job_0f8c... --json     # the API's job object
""",
    )
    parser.add_argument("job_id", metavar="JOB_ID")
    parser.set_defaults(func=cmd_get)


def cmd_get(args: argparse.Namespace) -> int:
    job_route(args.job_id)
    with client(args) as api:
        job = api.get_job(args.job_id)
    if args.json:
        render.print_json(job.to_dict())
    else:
        print(render.job_details(job))
    return 0


def add_cancel(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = add_parser(
        subparsers,
        common,
        "cancel",
        "cancel a pending or running job",
        """
  matchq cancel job_0f8c...         # a finished job gives a 409 Conflict error
""",
    )
    parser.add_argument("job_id", metavar="JOB_ID")
    parser.set_defaults(func=cmd_cancel)


def cmd_cancel(args: argparse.Namespace) -> int:
    with client(args) as api:
        body = json_body(api.request("POST", job_route(args.job_id, "cancel")))
    if args.json:
        render.print_json(body)
    else:
        print(f"cancelled {args.job_id}")
    return 0


def add_delete(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = add_parser(
        subparsers,
        common,
        "delete",
        "delete a finished job and its files",
        """
  matchq delete job_0f8c...         # a pending or running job gives a 409 Conflict error
""",
    )
    parser.add_argument("job_id", metavar="JOB_ID")
    parser.set_defaults(func=cmd_delete)


def cmd_delete(args: argparse.Namespace) -> int:
    with client(args) as api:
        body = json_body(api.request("DELETE", job_route(args.job_id)))
    if args.json:
        render.print_json(body)
    else:
        print(f"deleted {args.job_id}")
    return 0


# ---------------------------------------------------------------- stats, cleanup


def add_stats(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = add_parser(
        subparsers,
        common,
        "stats",
        "job counts by status and worker usage",
        """
  matchq stats
  matchq stats --json | jq .running
""",
    )
    parser.set_defaults(func=cmd_stats)


def cmd_stats(args: argparse.Namespace) -> int:
    with client(args) as api:
        stats = api.stats()
    if args.json:
        render.print_json(stats)
    else:
        print(render.stats_table(stats))
    return 0


def add_cleanup(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = add_parser(
        subparsers,
        common,
        "cleanup",
        "remove finished jobs older than a given age, with their files",
        """
  matchq cleanup                    # finished more than 24 hours ago
  matchq cleanup --max-age-hours 1
""",
    )
    parser.add_argument(
        "--max-age-hours", type=int, default=24, metavar="H", help="1..168 (default 24)"
    )
    parser.set_defaults(func=cmd_cleanup)


def cmd_cleanup(args: argparse.Namespace) -> int:
    with client(args) as api:
        result = api.cleanup(args.max_age_hours)
    if args.json:
        render.print_json(result)
    else:
        print(
            result.get("message")
            or f"cleaned {result.get('cleaned_jobs', 0)} jobs, "
            f"freed {result.get('freed_space_mb', 0)} MB"
        )
    return 0


# ---------------------------------------------------------------- download


def add_download(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = add_parser(
        subparsers,
        common,
        "download",
        "download every result file of a completed job",
        """
  matchq download job_0f8c... results/
  # -> results/matched_results.json, results/unmatched_1.json, results/unmatched_2.json
""",
    )
    parser.add_argument("job_id", metavar="JOB_ID")
    parser.add_argument("directory", metavar="DIR", type=Path, help="created if needed")
    parser.set_defaults(func=cmd_download)


def cmd_download(args: argparse.Namespace) -> int:
    job_route(args.job_id)
    with client(args) as api:
        paths = api.download_results(args.job_id, args.directory)
    if args.json:
        files = [
            {"name": path.name, "path": str(path), "size_bytes": path.stat().st_size}
            for path in paths
        ]
        render.print_json({"job_id": args.job_id, "files": files})
    else:
        for path in paths:
            print(path)
    return 0


SUBCOMMANDS = [
    add_submit,
    add_list,
    add_get,
    add_cancel,
    add_delete,
    add_stats,
    add_cleanup,
    add_download,
]
