"""`matchq`: the command line of the matchq job API (docs/api.md) and its local stack.

The client commands (`matchq_cli.commands`) call the SDK and nothing else; `serve`,
`token` and `invoke` (`matchq_cli.local`) import the `local` extra only when run. Exit
status: 0 success, 1 an error from the API, the network or a file (one line on stderr),
2 a usage error, 130 interrupted.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from matchq_cli import commands, local, webhooks
from matchq_cli.app import CONTEXT_SETTINGS, Globals, Group, global_options
from matchq_cli.errors import PREFIX, CliError, error_line

__all__ = ["CliError", "Globals", "cli", "error_line", "main"]

EPILOG = """
examples:
  make run                                   # or: matchq serve (in another terminal)
  export MATCHQ_TOKEN=$(matchq token --user alice)
  matchq submit --file1 crm.csv --file2 billing.csv --map customer_name=full_name --wait
  matchq list
  matchq get JOB_ID --json

`matchq COMMAND --help` shows a command's options and examples.
"""


cli = Group(
    "matchq",
    help="Record-matching jobs: client of the matchq API and its local stack.",
    epilog=EPILOG,
    params=global_options(),
    context_settings=CONTEXT_SETTINGS,
    no_args_is_help=False,  # `matchq` alone is a usage error (exit 2), as in scripts
    commands=[*local.COMMANDS, *commands.COMMANDS, *webhooks.COMMANDS],
)


def report(message: str) -> None:
    print(f"{PREFIX}{message}", file=sys.stderr)


def usage_line(exc: click.UsageError) -> str:
    where = exc.ctx.command_path if exc.ctx is not None else "matchq"
    return f"{exc.format_message()} (see: {where} --help)"


def main(argv: Sequence[str] | None = None, **extra: Any) -> int:
    """Run `matchq` with `argv` (default: the command line); returns the exit status.

    `extra` goes to click's context, e.g. `obj=Globals(transport=...)`.
    """
    args = list(argv) if argv is not None else None
    try:
        status = cli.main(args, prog_name="matchq", standalone_mode=False, **extra)
    except click.UsageError as exc:
        report(usage_line(exc))
        return exc.exit_code
    except click.ClickException as exc:
        report(exc.format_message())
        return exc.exit_code
    except click.Abort:  # Ctrl-C
        return 130
    except CliError as exc:
        report(str(exc))
        return exc.exit_code
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    sys.exit(main())
