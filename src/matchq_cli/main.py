"""`matchq`: the command-line tool (CONTRACT section 2).

Each subcommand is one `add_<name>(subparsers, common)` function that registers its parser
and sets `func`; `func(args)` returns the exit status. `serve`, `token` and `invoke` are
here; the client subcommands (submit, list, get, cancel, delete, stats, cleanup,
download) are in `matchq_cli.commands`, on the SDK. All share the global `--url`,
`--token` and `--json` options, which also work after the subcommand.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from matchq_cli import commands
from matchq_cli.errors import PREFIX, CliError, error_line
from matchq_client import DEFAULT_URL

__all__ = ["CliError", "build_parser", "main"]

Command = Callable[[argparse.Namespace], int]


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
        epilog=(
            "examples:\n"
            "  matchq serve                      # same as `make run`\n"
            "  matchq serve --port 8000 --workers 4"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        "token",
        parents=[common],
        help="print a JWT the local stack accepts",
        epilog=(
            "examples:\n"
            "  export MATCHQ_TOKEN=$(matchq token --user alice)\n"
            "  matchq token --user ops --admin --ttl 600"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        epilog=(
            "examples:\n"
            "  matchq invoke JobStatsFunction --event events/job_stats.json --user alice\n"
            "  matchq invoke maintenance --event events/maintenance.json"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
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


# ---------------------------------------------------------------- the parser

MAIN_EPILOG = """
examples:
  make run                                   # or: matchq serve (in another terminal)
  export MATCHQ_TOKEN=$(matchq token --user alice)
  matchq submit --file1 crm.csv --file2 billing.csv --map customer_name=full_name --wait
  matchq list
  matchq get JOB_ID --json

`matchq COMMAND --help` shows a command's options and examples.
"""

SUBCOMMANDS: list[Callable[[Any, argparse.ArgumentParser], None]] = [
    add_serve,
    add_token,
    add_invoke,
    *commands.SUBCOMMANDS,
]


def build_parser() -> argparse.ArgumentParser:
    # The global options also work after the subcommand (`matchq list --json`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS, help="API base URL (env MATCHQ_URL)")
    common.add_argument(
        "--token", default=argparse.SUPPRESS, help="bearer token (env MATCHQ_TOKEN)"
    )
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    parser = argparse.ArgumentParser(
        prog="matchq",
        description="Record-matching jobs: client of the matchq API and its local stack.",
        epilog=MAIN_EPILOG.strip("\n"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("MATCHQ_URL") or DEFAULT_URL,
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


def report(message: str) -> None:
    print(f"{PREFIX}{message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `matchq` with `argv` (default: the command line); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
    except CliError as exc:
        report(str(exc))
        return 1
    except BrokenPipeError:
        # The reader went away (`matchq list | head`): stop quietly, like other tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:
        # serve, token and invoke keep their tracebacks for unexpected failures; the
        # client commands never show one.
        if not getattr(args, "client_command", False):
            raise
        if os.environ.get("MATCHQ_DEBUG"):
            traceback.print_exc()
        report(error_line(exc, args.url))
        return 1


if __name__ == "__main__":
    sys.exit(main())
