"""What every `matchq` command shares: the global options, the help layout, the SDK client
and the turning of failures into one line.

Importing this stays cheap (click and the CLI's own modules): the SDK client, and with it
httpx, is imported when a command opens it.
"""

from __future__ import annotations

import functools
import inspect
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from matchq_cli.errors import CliError, error_line
from matchq_client import DEFAULT_URL

if TYPE_CHECKING:
    import httpx

    from matchq_client import MatchqClient

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@dataclass
class Globals:
    """`--url`, `--token` and `--json`, from before or after the command name.

    `transport` replaces the network under the SDK client (tests pass an
    `httpx.MockTransport` as `main(argv, obj=Globals(transport=...))`), `sleep` the
    client's sleep between polls and retries.
    """

    url: str | None = None
    token: str | None = None
    json: bool = False
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], object] | None = None
    #: The API base URL the client uses ($MATCHQ_URL and the default applied), once open.
    base_url: str | None = None


pass_globals = click.make_pass_decorator(Globals, ensure=True)


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    # A global option given after the command name overrides one given before it.
    if value is not None and value is not False:
        setattr(ctx.ensure_object(Globals), str(param.name), value)


def global_options() -> list[click.Parameter]:
    """`--url`, `--token` and `--json`, for the group and for each command that uses them."""
    return [
        click.Option(
            ["--url"],
            metavar="URL",
            expose_value=False,
            callback=_remember,
            help=f"API base URL (default: $MATCHQ_URL, else {DEFAULT_URL})",
        ),
        click.Option(
            ["--token"],
            metavar="JWT",
            expose_value=False,
            callback=_remember,
            help="bearer token (default: $MATCHQ_TOKEN)",
        ),
        click.Option(
            ["--json"],
            is_flag=True,
            expose_value=False,
            callback=_remember,
            help="print machine-readable JSON",
        ),
    ]


class _VerbatimEpilog:
    """The epilog (examples) printed as written, not re-wrapped."""

    epilog: str | None

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if self.epilog:
            formatter.write_paragraph()
            formatter.write(inspect.cleandoc(self.epilog) + "\n")


class Command(_VerbatimEpilog, click.Command):
    """A `matchq` command."""


class Group(_VerbatimEpilog, click.Group):
    """The `matchq` group: commands listed in the order they were added."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


def command(
    name: str,
    summary: str,
    examples: str,
    *,
    takes_global_options: bool = True,
    one_line_errors: bool = True,
) -> Callable[[Callable[..., Any]], click.Command]:
    """A `matchq NAME` command: `summary` for the help, `examples` below the options.

    With `one_line_errors` any failure the command meets (the API's error, a network or
    file problem) becomes one line on stderr and exit status 1; MATCHQ_DEBUG=1 adds the
    traceback. Without, unexpected failures keep their traceback.
    """

    def decorate(func: Callable[..., Any]) -> click.Command:
        cmd = click.command(
            name,
            cls=Command,
            help=summary[0].upper() + summary[1:] + ".",
            short_help=summary,
            epilog="examples:\n" + inspect.cleandoc(examples),
        )(_one_line_errors(func) if one_line_errors else func)
        if takes_global_options:
            cmd.params.extend(global_options())
        return cmd

    return decorate


def _one_line_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (CliError, click.ClickException, BrokenPipeError):
            raise
        except Exception as exc:
            if os.environ.get("MATCHQ_DEBUG"):
                traceback.print_exc()
            url = click.get_current_context().ensure_object(Globals).base_url or ""
            raise CliError(error_line(exc, url)) from exc

    return run


def open_client(state: Globals) -> MatchqClient:
    """The SDK client of `--url` and `--token` (or $MATCHQ_URL, $MATCHQ_TOKEN)."""
    from matchq_client import MatchqClient

    extra: dict[str, Any] = {} if state.sleep is None else {"sleep": state.sleep}
    api = MatchqClient(state.url, state.token, transport=state.transport, **extra)
    state.base_url = api.base_url
    if api.token is None:
        api.close()
        raise CliError(
            "no token: pass --token or set MATCHQ_TOKEN "
            "(for the local stack, `matchq token --user NAME` prints one)"
        )
    return api
