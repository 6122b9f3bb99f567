"""`matchq serve`, `token`, `console` and `invoke`: the local stack, which needs the `local` extra.

The extra (`matchq_local`, moto, pydantic, boto3, pyjwt, ...) is imported inside each
command, so the client install runs every other command and `matchq --help` stays quick;
without it these commands say so in one line and exit with status 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from matchq_cli import render
from matchq_cli.app import Globals, command, pass_globals
from matchq_cli.errors import CliError, MissingExtra

if TYPE_CHECKING:
    from matchq_local.settings import LocalSettings


@contextmanager
def local_extra(name: str) -> Iterator[None]:
    """Around the imports of a command of the `local` extra: a missing one is `MissingExtra`."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] in {"matchq", "matchq_local"}:
            raise  # part of this project: a bug, not a missing extra
        raise MissingExtra(
            f"matchq {name} needs the local extra (no module {exc.name!r}): "
            "pip install 'matchq[local]'"
        ) from exc


def settings_from_env() -> LocalSettings:
    """The local stack's settings; a bad MATCHQ_* value is one line (`CliError`)."""
    from matchq_local.settings import LocalSettings

    try:
        return LocalSettings.from_env()
    except SystemExit as exc:
        raise CliError(str(exc.code)) from None


def local_token(name: str, user: str, **claims: Any) -> str:
    """A token the local stack accepts, signed with its secret (for `matchq NAME`)."""
    # Imported only when a token is wanted: `matchq.auth` loads the service's settings,
    # which `invoke` must not have read before it sets the function's environment.
    with local_extra(name):
        from matchq.auth import issue_token
        from matchq_local.secret import local_jwt_secret

    return issue_token(local_jwt_secret(), user, **claims)


# ---------------------------------------------------------------- serve


@command(
    "serve",
    "run the local stack (AWS endpoint, API gateway, workers, maintenance)",
    """
  matchq serve                      # same as `make run`
  matchq serve --port 8000 --workers 4

Runs in the foreground until Ctrl-C. Settings (environment): MATCHQ_PORT (5000),
MATCHQ_AWS_PORT (5001), MATCHQ_WORKERS (2), MATCHQ_HOST (127.0.0.1), MATCHQ_JWT_SECRET,
MATCHQ_LOG_LEVEL (WARNING), MATCHQ_MAINTENANCE_SECONDS, MATCHQ_PARAMETER_OVERRIDES
('Key=Value ...' for template parameters); see docs/local-stack.md.
""",
    takes_global_options=False,
    one_line_errors=False,
)
@click.option(
    "--port", type=click.IntRange(0, 65535), help="HTTP port (default: MATCHQ_PORT or 5000)"
)
@click.option(
    "--aws-port",
    type=click.IntRange(0, 65535),
    help="AWS endpoint port (default: MATCHQ_AWS_PORT or 5001)",
)
@click.option(
    "--workers", type=click.IntRange(min=1), help="worker slots (default: MATCHQ_WORKERS or 2)"
)
def serve(port: int | None, aws_port: int | None, workers: int | None) -> int:
    with local_extra("serve"):
        from matchq_local.stack import serve as serve_stack

    settings = settings_from_env()
    options = {"port": port, "aws_port": aws_port, "workers": workers}
    settings = settings.model_copy(update={k: v for k, v in options.items() if v is not None})
    return serve_stack(settings)


# ---------------------------------------------------------------- token


@command(
    "token",
    "print a JWT the local stack accepts",
    """
  export MATCHQ_TOKEN=$(matchq token --user alice)
  matchq token --user ops --admin --ttl 600
""",
    one_line_errors=False,
)
@click.option("--user", required=True, help="user id (the token's sub)")
@click.option("--admin", is_flag=True, help="add the admin role")
@click.option(
    "--ttl", type=click.IntRange(min=1), default=3600, show_default=True, help="lifetime in seconds"
)
@pass_globals
def token(state: Globals, user: str, admin: bool, ttl: int) -> int:
    if not user.strip():
        raise click.BadParameter("must not be empty", param_hint="'--user'")
    jwt = local_token("token", user, admin=admin, ttl_seconds=ttl)
    if state.json:
        print(render.to_json({"token": jwt, "user": user, "admin": admin, "ttl": ttl}))
    else:
        print(jwt)
    return 0


# ---------------------------------------------------------------- console


def console_address(api_url: str, jwt: str) -> str:
    """The console of the API at `api_url`, signing in with `jwt` (the fragment never
    reaches a server: browsers do not send it)."""
    root = api_url.rstrip("/").removesuffix("/api/v1")
    return f"{root}/#token={jwt}"


@command(
    "console",
    "print the web console's address with a fresh local token that signs in",
    """
  matchq console                    # as $MATCHQ_USER, else your login name
  matchq console --user ops --admin --open
  matchq --url http://localhost:8000/api/v1 console --user alice

The address is the local stack's (MATCHQ_URL, else http://localhost:5000) followed by
#token=<jwt>; the page keeps the token for this browser tab only. See docs/console.md.
""",
    one_line_errors=False,
)
@click.option("--user", help="user id (the token's sub; default: $MATCHQ_USER, else login name)")
@click.option("--admin", is_flag=True, help="add the admin role (see every user's jobs)")
@click.option(
    "--ttl",
    type=click.IntRange(min=1),
    default=8 * 3600,
    show_default=True,
    help="token lifetime in seconds",
)
@click.option("--open", "open_browser", is_flag=True, help="also open it in the default browser")
@pass_globals
def console(state: Globals, user: str | None, admin: bool, ttl: int, open_browser: bool) -> int:
    from matchq_client._settings import resolve_base_url

    user = (user if user is not None else _login_user()).strip()
    if not user:
        raise click.BadParameter("must not be empty", param_hint="'--user'")
    address = console_address(
        resolve_base_url(state.url),
        local_token("console", user, admin=admin, ttl_seconds=ttl),
    )
    if state.json:
        print(render.to_json({"url": address, "user": user, "admin": admin, "ttl": ttl}))
    else:
        print(address)
    if open_browser:
        import webbrowser

        webbrowser.open(address)
    return 0


def _login_user() -> str:
    """$MATCHQ_USER, else the login name (as `make demo` runs)."""
    import getpass
    import os

    if value := os.environ.get("MATCHQ_USER", "").strip():
        return value
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "console-user"


# ---------------------------------------------------------------- invoke


@command(
    "invoke",
    "run one Lambda function of template.yaml locally with an event",
    """
  matchq invoke JobStatsFunction --event events/job_stats.json --user alice
  matchq invoke maintenance --event events/maintenance.json

FUNCTION is a logical id (GetJobFunction) or a folder under functions/ (get_job). Uses the
AWS endpoint on MATCHQ_AWS_PORT when one answers, else a temporary one.
""",
    takes_global_options=False,
    one_line_errors=False,
)
@click.argument("function", metavar="FUNCTION")
@click.option("--event", "-e", required=True, help="event JSON file ('-' for stdin)")
@click.option(
    "--user", help="replace the placeholder <token> in the event with a fresh token of this user"
)
def invoke(function: str, event: str, user: str | None) -> int:
    with local_extra("invoke"):
        from matchq_local.stack import configure_logging
        from matchq_local.stack import invoke as invoke_function

    try:
        raw = sys.stdin.read() if event == "-" else Path(event).read_text()
        if user:
            raw = raw.replace("<token>", local_token("invoke", user))
        payload = json.loads(raw)
    except OSError as exc:
        raise CliError(f"cannot read {event}: {exc.strerror}") from exc
    except ValueError as exc:
        raise CliError(f"{event} is not JSON: {exc}") from exc
    settings = settings_from_env()
    configure_logging(settings.log_level)
    try:
        result = invoke_function(function, payload, settings=settings)
    except KeyError as exc:
        raise CliError(str(exc.args[0])) from exc
    print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    return 0


COMMANDS = [serve, token, console, invoke]
