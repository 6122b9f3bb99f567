"""`matchq`: the command-line tool (CONTRACT section 2).

Each subcommand is one `add_<name>(subparsers)` function that registers its parser and
sets `func`; `func(args)` returns the exit status. Client subcommands share the global
`--url`, `--token` and `--json` options.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

DEFAULT_URL = "http://localhost:5000/api/v1"

Command = Callable[[argparse.Namespace], int]


class CliError(Exception):
    """A failure reported as one line on stderr with exit status 1."""


def emit(args: argparse.Namespace, data: Any, text: str | None = None) -> None:
    """Print `data` as JSON with --json (or when there is no text form), else `text`."""
    if getattr(args, "json", False) or text is None:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(text)


# ---------------------------------------------------------------- serve


def add_serve(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the local stack (AWS endpoint, API gateway, workers, maintenance)",
        description=(
            "Runs the local stack in the foreground until Ctrl-C. Settings: MATCHQ_PORT (5000), "
            "MATCHQ_AWS_PORT (5001), MATCHQ_WORKERS (2), MATCHQ_HOST (127.0.0.1), "
            "MATCHQ_JWT_SECRET, MATCHQ_LOG_LEVEL (WARNING), MATCHQ_MAINTENANCE_SECONDS, "
            "MATCHQ_PARAMETER_OVERRIDES ('Key=Value ...' for template parameters)."
        ),
    )
    parser.add_argument("--port", type=int, help="HTTP port (default: MATCHQ_PORT or 5000)")
    parser.add_argument(
        "--aws-port", type=int, help="AWS endpoint port (default: MATCHQ_AWS_PORT or 5001)"
    )
    parser.add_argument("--workers", type=int, help="worker slots (default: MATCHQ_WORKERS or 2)")
    parser.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from matchq_local.stack import StackConfig, serve

    config = StackConfig.from_env()
    if args.port is not None:
        config.port = args.port
    if args.aws_port is not None:
        config.aws_port = args.aws_port
    if args.workers is not None:
        if args.workers < 1:
            raise CliError("--workers must be at least 1")
        config.workers = args.workers
    return serve(config)


# ---------------------------------------------------------------- token


def add_token(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "token", parents=[common], help="print a JWT the local stack accepts"
    )
    parser.add_argument("--user", required=True, help="user id (the token's sub)")
    parser.add_argument("--admin", action="store_true", help="add the admin role")
    parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    parser.set_defaults(func=cmd_token)


def cmd_token(args: argparse.Namespace) -> int:
    from matchq.auth import issue_token

    from matchq_local.secret import local_jwt_secret

    if not args.user.strip():
        raise CliError("--user must not be empty")
    if args.ttl < 1:
        raise CliError("--ttl must be at least 1 second")
    token = issue_token(local_jwt_secret(), args.user, admin=args.admin, ttl_seconds=args.ttl)
    emit(args, {"token": token, "user": args.user, "admin": args.admin, "ttl": args.ttl}, token)
    return 0


# ---------------------------------------------------------------- invoke


def add_invoke(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "invoke",
        help="run one Lambda function of template.yaml locally with an event",
        description=(
            "FUNCTION is a logical id (GetJobFunction) or a folder under functions/ (get_job). "
            "Uses the AWS endpoint on MATCHQ_AWS_PORT when one answers, else a temporary one."
        ),
    )
    parser.add_argument("function", metavar="FUNCTION")
    parser.add_argument("--event", "-e", required=True, help="event JSON file ('-' for stdin)")
    parser.add_argument(
        "--user",
        help="replace the placeholder <token> in the event with a fresh token of this user",
    )
    parser.set_defaults(func=cmd_invoke)


def cmd_invoke(args: argparse.Namespace) -> int:
    from matchq_local.stack import configure_logging, invoke

    try:
        raw = sys.stdin.read() if args.event == "-" else Path(args.event).read_text()
        if args.user:
            from matchq.auth import issue_token

            from matchq_local.secret import local_jwt_secret

            raw = raw.replace("<token>", issue_token(local_jwt_secret(), args.user))
        event = json.loads(raw)
    except OSError as exc:
        raise CliError(f"cannot read {args.event}: {exc.strerror}") from exc
    except ValueError as exc:
        raise CliError(f"{args.event} is not JSON: {exc}") from exc
    configure_logging(os.environ.get("MATCHQ_LOG_LEVEL", "WARNING").upper())
    try:
        result = invoke(args.function, event)
    except KeyError as exc:
        raise CliError(str(exc.args[0])) from exc
    print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    return 0


# ---------------------------------------------------------------- client subcommands


def api_client(args: argparse.Namespace) -> Any:
    from matchq_local.client import ApiClient

    if not args.token:
        raise CliError(
            "no token: pass --token or set MATCHQ_TOKEN (`matchq token --user U` prints one)"
        )
    return ApiClient(args.url, args.token)


def _job_line(job: dict[str, Any]) -> str:
    return (
        f"{job['id']}  {job['status']:<9} p{job['priority']} {job['progress']:3d}%  "
        f"{job['created_at']}  {job['name']}"
    )


def add_submit(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "submit", parents=[common], help="upload two files and submit a job"
    )
    parser.add_argument("--file1", required=True, type=Path)
    parser.add_argument("--file2", required=True, type=Path)
    parser.add_argument("--config", required=True, type=Path, help="matching config JSON")
    parser.add_argument("--name", help="job name (default: the two file names)")
    parser.add_argument("--priority", type=int, default=2, help="1 low .. 4 urgent (default 2)")
    parser.add_argument("--wait", action="store_true", help="wait for the job, showing progress")
    parser.add_argument(
        "--download", type=Path, metavar="DIR", help="download the results (implies --wait)"
    )
    parser.set_defaults(func=cmd_submit)


def cmd_submit(args: argparse.Namespace) -> int:
    try:
        config = json.loads(args.config.read_text())
    except OSError as exc:
        raise CliError(f"cannot read {args.config}: {exc.strerror}") from exc
    except ValueError as exc:
        raise CliError(f"{args.config} is not JSON: {exc}") from exc
    for path in (args.file1, args.file2):
        if not path.is_file():
            raise CliError(f"no such file: {path}")
    with api_client(args) as api:
        config = {**config, "file1": api.upload(args.file1), "file2": api.upload(args.file2)}
        name = args.name or f"{args.file1.name} vs {args.file2.name}"
        job_id = api.submit(name, config, priority=args.priority)
        if not (args.wait or args.download):
            emit(args, {"job_id": job_id}, job_id)
            return 0

        def show(job: dict[str, Any]) -> None:
            if not args.json:
                print(
                    f"\r{job['status']:<9} {job['progress']:3d}% {job['message'][:60]:<60}",
                    end="",
                    flush=True,
                )

        job = api.wait(job_id, timeout=24 * 3600, interval=0.5, on_update=show)
        if not args.json:
            print()
        if job["status"] != "completed":
            raise CliError(
                f"job {job_id} {job['status']}: {job.get('error_message') or job['message']}"
            )
        files = [str(p) for p in api.download(job_id, args.download)] if args.download else []
        emit(args, {**job, "downloaded": files}, "\n".join([job_id, *files]))
    return 0


def add_list(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("list", parents=[common], help="list jobs, newest first")
    parser.add_argument(
        "--status", choices=["pending", "running", "completed", "failed", "cancelled"]
    )
    parser.add_argument("--limit", type=int)
    parser.add_argument("--next-token", help="X-Next-Token of the previous page")
    parser.set_defaults(func=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    params = {
        k: v
        for k, v in (
            ("status", args.status),
            ("limit", args.limit),
            ("next_token", args.next_token),
        )
        if v
    }
    with api_client(args) as api:
        response = api.request("GET", "/jobs/list", params=params)
    jobs = response.json()
    text = "\n".join(_job_line(job) for job in jobs) or "(no jobs)"
    if token := response.headers.get("X-Next-Token"):
        text += f"\nmore: --next-token {token}"
    emit(args, jobs, text)
    return 0


def _job_command(name: str, help_text: str, call: Callable[[Any, str], Any]) -> Callable[..., None]:
    def add(subparsers: Any, common: argparse.ArgumentParser) -> None:
        parser = subparsers.add_parser(name, parents=[common], help=help_text)
        parser.add_argument("job_id", metavar="JOB_ID")

        def run(args: argparse.Namespace) -> int:
            with api_client(args) as api:
                emit(args, call(api, args.job_id))
            return 0

        parser.set_defaults(func=run)

    return add


add_get = _job_command("get", "show one job", lambda api, job_id: api.get(job_id))
add_cancel = _job_command(
    "cancel", "cancel a pending or running job", lambda api, job_id: api.cancel(job_id)
)
add_delete = _job_command(
    "delete", "delete a finished job and its files", lambda api, job_id: api.delete(job_id)
)


def add_stats(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("stats", parents=[common], help="job counts and worker capacity")
    parser.set_defaults(func=cmd_stats)


def cmd_stats(args: argparse.Namespace) -> int:
    with api_client(args) as api:
        emit(args, api.stats())
    return 0


def add_cleanup(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("cleanup", parents=[common], help="remove old finished jobs")
    parser.add_argument("--max-age-hours", type=int, help="1..168 (default 24)")
    parser.set_defaults(func=cmd_cleanup)


def cmd_cleanup(args: argparse.Namespace) -> int:
    with api_client(args) as api:
        emit(args, api.cleanup(args.max_age_hours))
    return 0


def add_download(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "download", parents=[common], help="download a completed job's result files"
    )
    parser.add_argument("job_id", metavar="JOB_ID")
    parser.add_argument("directory", metavar="DIR", type=Path)
    parser.set_defaults(func=cmd_download)


def cmd_download(args: argparse.Namespace) -> int:
    with api_client(args) as api:
        paths = [str(p) for p in api.download(args.job_id, args.directory)]
    emit(args, paths, "\n".join(paths))
    return 0


# ---------------------------------------------------------------- the parser


SUBCOMMANDS: list[Callable[[Any, argparse.ArgumentParser], None]] = [
    add_serve,
    add_token,
    add_invoke,
    add_submit,
    add_list,
    add_get,
    add_cancel,
    add_delete,
    add_stats,
    add_cleanup,
    add_download,
]


def build_parser() -> argparse.ArgumentParser:
    # The global options also work after the subcommand (`matchq list --json`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--token", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    parser = argparse.ArgumentParser(
        prog="matchq",
        description="Record-matching jobs: client of the matchq API and its local stack.",
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("MATCHQ_URL", DEFAULT_URL),
        help=f"API base URL (env MATCHQ_URL, default {DEFAULT_URL})",
    )
    parser.add_argument(
        "--token", default=os.environ.get("MATCHQ_TOKEN"), help="bearer token (env MATCHQ_TOKEN)"
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in SUBCOMMANDS:
        add(subparsers, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command = args.func
    try:
        return func(args)
    except CliError as exc:
        print(f"matchq {args.command}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        from matchq_local.client import ApiError

        if isinstance(exc, ApiError | httpx.HTTPError):
            print(f"matchq {args.command}: {exc}", file=sys.stderr)
            return 1
        raise
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
